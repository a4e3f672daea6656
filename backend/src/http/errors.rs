//! The one error type of the HTTP layer. Clients get `{code, message, details}` with a safe
//! message; the full error chain is logged once, with the request id.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{message}")]
    BadRequest {
        code: &'static str,
        message: String,
        details: Value,
    },
    #[error("log in first")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{message}")]
    Conflict { message: String, details: Value },
    #[error("the document has errors and cannot be rendered")]
    Invalid(Value),
    #[error("the template or the values given for it have errors")]
    InvalidTemplate(Value),
    #[error("too many failed logins; try again in {retry_after} seconds")]
    TooManyRequests { retry_after: u64 },
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl From<crate::auth::Denied> for AppError {
    fn from(d: crate::auth::Denied) -> AppError {
        match d {
            crate::auth::Denied::NotFound(what) => AppError::NotFound(what),
            crate::auth::Denied::Forbidden(why) => AppError::Forbidden(why),
        }
    }
}

impl AppError {
    /// 409 for an edit made on top of a version that is no longer the current one. The answer
    /// carries the current version, so the edit can be merged and nothing is lost.
    pub fn stale(
        what: &str,
        base: i32,
        current: i32,
        current_row: impl serde::Serialize,
    ) -> AppError {
        AppError::Conflict {
            message: format!(
                "version {base} is not the current version ({current}): someone saved first; \
                 your {what} was not saved, merge it onto the current version"
            ),
            details: json!({ "current_version": current, "current": current_row }),
        }
    }

    /// 409 for a change to an archived object (`what`, e.g. "configuration 7").
    pub fn archived(what: String) -> AppError {
        AppError::Conflict {
            message: format!("{what} is archived"),
            details: Value::Null,
        }
    }

    pub fn bad(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::BadRequest {
            code,
            message: message.into(),
            details: Value::Null,
        }
    }
}

/// A value Postgres refused to store because of what the client sent (a NUL character in text,
/// a Unicode escape jsonb cannot hold, a number out of range): the last line of defence behind
/// the checks of `guard` and the handlers, so that such input is a 400, never a 500.
fn refused_value(e: &anyhow::Error) -> Option<String> {
    let db = e
        .chain()
        .find_map(|c| match c.downcast_ref::<sqlx::Error>() {
            Some(sqlx::Error::Database(d)) => Some(d),
            _ => None,
        })?;
    // 22021 character_not_in_repertoire, 22P05 untranslatable_character, 22003
    // numeric_value_out_of_range, 22001 string_data_right_truncation.
    match db.code().as_deref() {
        Some("22021" | "22P05" | "22003" | "22001") => Some(db.message().to_owned()),
        _ => None,
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::Internal(e) if refused_value(e).is_some() => StatusCode::BAD_REQUEST,
            AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::Invalid(_) | AppError::InvalidTemplate(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (code, details) = match self {
            AppError::BadRequest { code, details, .. } => (*code, details.clone()),
            AppError::Unauthorized => ("unauthorized", Value::Null),
            AppError::Forbidden(_) => ("forbidden", Value::Null),
            AppError::NotFound(_) => ("not_found", Value::Null),
            AppError::Conflict { details, .. } => ("conflict", details.clone()),
            AppError::Invalid(f) => ("invalid_document", json!({ "findings": f })),
            AppError::InvalidTemplate(f) => ("invalid_template", json!({ "findings": f })),
            AppError::TooManyRequests { retry_after } => {
                ("too_many_requests", json!({ "retry_after": retry_after }))
            }
            AppError::Internal(e) => match refused_value(e) {
                Some(why) => {
                    tracing::warn!(error = format!("{e:#}"), "a value was refused by Postgres");
                    let message = format!("a value in the request cannot be stored: {why}");
                    return HttpResponse::BadRequest().json(lockstep_shared::api::ErrorBody {
                        code: "bad_value".to_owned(),
                        message,
                        details: Value::Null,
                    });
                }
                None => {
                    tracing::error!(error = format!("{e:#}"), "internal error");
                    ("internal", Value::Null)
                }
            },
        };
        let mut b = HttpResponse::build(self.status_code());
        if let AppError::TooManyRequests { retry_after } = self {
            b.insert_header(("Retry-After", retry_after.to_string()));
        }
        b.json(lockstep_shared::api::ErrorBody {
            code: code.to_owned(),
            message: self.to_string(),
            details,
        })
    }
}
