//! What every request is checked for before any handler sees it, so that hostile input gets a
//! `{code, message, details}` 400 naming what is wrong instead of a 500 from deep inside:
//!
//! * a NUL character (`%00`) in the path or query string: Postgres text cannot hold U+0000;
//! * a body over [`MAX_BODY`] (answered here for every route, also those that take the body
//!   as bytes, whose own limit answers in plain text);
//! * a JSON body with a NUL character (`\u0000`) in any string or key, named by its JSON
//!   pointer; or with a `\u` escape of a lone surrogate, which is not text at all.
//!
//! The body check is a byte scan for the backslash-u escapes involved; only a body that has one
//! is parsed (once, here) to say where it is. A request without such an escape costs one pass
//! over its bytes.

use super::errors::AppError;
use super::MAX_BODY;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, ResponseError};
use serde_json::{json, Value};

/// The middleware: refuses what the module comment lists, passes everything else on.
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if let Some(problem) = uri_problem(&req) {
        return Ok(req
            .into_response(problem.error_response())
            .map_into_right_body());
    }
    let (http, mut payload) = req.into_parts();
    let body = web::Payload::from_request(&http, &mut payload).await?;
    let bytes = match body.to_bytes_limited(MAX_BODY).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            let e = AppError::bad("bad_body", format!("the body could not be read: {e}"));
            return Ok(ServiceResponse::new(http, e.error_response()).map_into_right_body());
        }
        Err(_) => {
            let e = AppError::bad(
                "too_large",
                format!("the body is larger than the limit of {MAX_BODY} bytes"),
            );
            return Ok(ServiceResponse::new(http, e.error_response()).map_into_right_body());
        }
    };
    if let Some(problem) = body_problem(&bytes) {
        return Ok(ServiceResponse::new(http, problem.error_response()).map_into_right_body());
    }
    let req = ServiceRequest::from_parts(http, Payload::from(bytes));
    Ok(next.call(req).await?.map_into_left_body())
}

fn uri_problem(req: &ServiceRequest) -> Option<AppError> {
    let (what, text) = if req.uri().path().contains("%00") {
        ("path", req.uri().path())
    } else if req.query_string().contains("%00") {
        ("query string", req.query_string())
    } else {
        return None;
    };
    Some(AppError::BadRequest {
        code: "bad_text",
        message: format!(
            "the {what} contains %00, a NUL character (U+0000), which no name or value may \
             contain"
        ),
        details: json!({ "where": what, "value": text }),
    })
}

/// Whether JSON text has a `\u0000` or `\uD800`..`\uDFFF` escape (a surrogate pair is fine,
/// but only parsing tells a pair from a lone half). A backslash that is itself escaped
/// (`\\u0000`, the six characters) does not count: the run of backslashes before the `u`
/// must be odd.
fn has_escape(b: &[u8]) -> bool {
    for at in memchr::memchr_iter(b'u', b) {
        let mut slashes = 0;
        while at > slashes && b[at - 1 - slashes] == b'\\' {
            slashes += 1;
        }
        if slashes % 2 == 0 {
            continue;
        }
        let Some(hex) = b.get(at + 1..at + 5) else {
            return false;
        };
        if hex == b"0000"
            || (hex[0].eq_ignore_ascii_case(&b'd')
                && matches!(hex[1].to_ascii_lowercase(), b'8'..=b'9' | b'a'..=b'f'))
        {
            return true;
        }
    }
    false
}

fn body_problem(bytes: &[u8]) -> Option<AppError> {
    if !has_escape(bytes) {
        return None;
    }
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) if e.is_syntax() || e.is_data() => {
            // A lone surrogate (or anything else that is not JSON): say where.
            return Some(AppError::BadRequest {
                code: "bad_json",
                message: format!("the body is not valid: {e}"),
                details: json!({"line": e.line(), "column": e.column()}),
            });
        }
        Err(_) => return None,
    };
    let pointer = nul_pointer(&value, &mut String::new())?;
    Some(AppError::BadRequest {
        code: "bad_text",
        message: format!(
            "the text at {} contains a NUL character (U+0000), which no name or value may contain",
            if pointer.is_empty() { "/" } else { &pointer }
        ),
        details: json!({ "pointer": pointer }),
    })
}

/// The JSON pointer (RFC 6901) of the first string or key holding a NUL.
fn nul_pointer(v: &Value, at: &mut String) -> Option<String> {
    let escape = |k: &str| k.replace('~', "~0").replace('/', "~1");
    match v {
        Value::String(s) if s.contains('\0') => Some(at.clone()),
        Value::Array(a) => a.iter().enumerate().find_map(|(i, x)| {
            let len = at.len();
            at.push_str(&format!("/{i}"));
            let found = nul_pointer(x, at);
            at.truncate(len);
            found
        }),
        Value::Object(o) => o.iter().find_map(|(k, x)| {
            let len = at.len();
            at.push('/');
            at.push_str(&escape(k));
            let found = if k.contains('\0') {
                Some(at.clone())
            } else {
                nul_pointer(x, at)
            };
            at.truncate(len);
            found
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &str) -> Option<(String, String)> {
        body_problem(body.as_bytes()).map(|e| match e {
            AppError::BadRequest {
                code,
                message,
                details,
            } => (code.to_owned(), format!("{message} {details}")),
            other => (format!("{other:?}"), String::new()),
        })
    }

    #[test]
    fn a_nul_is_named_by_its_pointer() {
        let (c, m) = code(r#"{"a": {"b/c": ["x", "y\u0000"]}}"#).expect("refused");
        assert_eq!(c, "bad_text");
        assert!(m.contains("/a/b~1c/1"), "{m}");
        let (_, m) = code(r#"{"k\u0000": 1}"#).expect("refused");
        assert!(m.contains("/k\\u0000") || m.contains("/k"), "{m}");
    }

    #[test]
    fn escaped_backslashes_and_surrogate_pairs_pass() {
        assert!(code(r#"{"a": "\\u0000"}"#).is_none());
        assert!(code(r#"{"a": "\ud83d\ude00 u0000"}"#).is_none());
        assert!(code(r#"{"a": "\\\u0000"}"#).is_some());
    }

    #[test]
    fn a_lone_surrogate_is_bad_json_with_its_place() {
        let (c, m) = code(r#"{"a": "\udc00"}"#).expect("refused");
        assert_eq!(c, "bad_json");
        assert!(m.contains("surrogate"), "{m}");
        let (c, _) = code(r#"{"a": "\uD800x"}"#).expect("refused");
        assert_eq!(c, "bad_json");
    }
}
