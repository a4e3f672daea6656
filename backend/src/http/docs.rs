//! Stateless document endpoints: schema, validate, render. No account needed: they only run
//! the shared core on the posted document.

use super::errors::AppError;
use super::openapi::schema;
use actix_web::{get, post, web, HttpResponse};
use lockstep_shared::api::{Artifacts, Validation};
use lockstep_shared::render::{render_all, Validated};
use lockstep_shared::validate::validate;
use lockstep_shared::Document;
use serde_json::json;
use serde_json::value::RawValue;

/// Parses a document from its JSON text (a posted body, a document inside one, or a stored
/// version), naming the line and column of a problem within the document.
pub fn parse(text: &str) -> Result<Document, AppError> {
    Document::from_json(text).map_err(|e| AppError::BadRequest {
        code: "bad_document",
        message: format!(
            "the document is not a valid configuration document: {}",
            e.message
        ),
        details: json!({"line": e.line, "column": e.column}),
    })
}

/// A posted document's text: UTF-8, or a `bad_encoding` 400 that says what it is instead.
fn text(body: &[u8]) -> Result<&str, AppError> {
    std::str::from_utf8(body).map_err(|e| {
        let utf16 = body.starts_with(&[0xFF, 0xFE])
            || body.starts_with(&[0xFE, 0xFF])
            || (body.len() >= 2 && (body[0] == 0 || body[1] == 0));
        let message = if utf16 {
            "the body looks like UTF-16; send the document as UTF-8 JSON".to_owned()
        } else {
            format!(
                "the body is not UTF-8: the bytes at offset {} are not a UTF-8 character; send \
                 the document as UTF-8 JSON",
                e.valid_up_to()
            )
        };
        AppError::BadRequest {
            code: "bad_encoding",
            message,
            details: json!({ "offset": e.valid_up_to() }),
        }
    })
}

/// The rendered artifacts.
pub fn artifacts(v: &Validated) -> Artifacts {
    let a = render_all(v);
    Artifacts {
        primary_xml: a.primary_xml,
        secondary_xml: a.secondary_xml,
        // Already JSON: copied into the answer as it is.
        plan: RawValue::from_string(a.plan_json).unwrap_or_default(),
        primary_cmdline: a.primary_cmdline,
        secondary_cmdline: a.secondary_cmdline,
        warnings: json!(v.warnings()),
    }
}

/// The JSON Schema of the configuration document.
#[utoipa::path(tag = "documents", responses((status = 200, description = "JSON Schema of the configuration document", body = Object)))]
#[get("/schema")]
pub async fn document_schema() -> HttpResponse {
    HttpResponse::Ok().json(lockstep_shared::model::json_schema())
}

/// Validates a document (no account needed): every finding with its stable code.
#[utoipa::path(tag = "documents", request_body(content = schema::Document, content_type = "application/json"), responses((status = 200, body = schema::Validation)))]
#[post("/validate")]
pub async fn validate_document(body: web::Bytes) -> Result<HttpResponse, AppError> {
    let doc = parse(text(&body)?)?;
    let findings = validate(&doc);
    let errors = findings.iter().filter(|f| f.is_error()).count();
    Ok(HttpResponse::Ok().json(Validation {
        errors,
        warnings: findings.len() - errors,
        findings: json!(findings),
    }))
}

/// Renders a valid document (no account needed): XML, QMP plan, command lines.
#[utoipa::path(tag = "documents", request_body(content = schema::Document, content_type = "application/json"), responses((status = 200, body = schema::Artifacts), (status = 422, description = "the document has errors (details.findings)")))]
#[post("/render")]
pub async fn render_document(body: web::Bytes) -> Result<HttpResponse, AppError> {
    let doc = parse(text(&body)?)?;
    let v = Validated::new(doc).map_err(|f| AppError::Invalid(json!(f)))?;
    Ok(HttpResponse::Ok().json(artifacts(&v)))
}
