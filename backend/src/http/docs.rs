//! Stateless document endpoints: schema, validate, render. No account needed: they only run
//! the shared core on the posted document.

use super::errors::AppError;
use actix_web::HttpResponse;
use lockstep_shared::render::{render_all, Validated};
use lockstep_shared::validate::validate;
use lockstep_shared::Document;
use serde_json::json;

/// Parses a posted document, naming the line and column of a parse error.
pub fn parse(body: &str) -> Result<Document, AppError> {
    Document::from_json(body).map_err(|e| AppError::BadRequest {
        code: "bad_document",
        message: format!(
            "the body is not a valid configuration document: {}",
            e.message
        ),
        details: json!({"line": e.line, "column": e.column}),
    })
}

/// The rendered artifacts as a JSON object.
pub fn artifacts_json(v: &Validated) -> serde_json::Value {
    let a = render_all(v);
    json!({
        "primary_xml": a.primary_xml,
        "secondary_xml": a.secondary_xml,
        "plan": serde_json::from_str::<serde_json::Value>(&a.plan_json).unwrap_or_default(),
        "primary_cmdline": a.primary_cmdline,
        "secondary_cmdline": a.secondary_cmdline,
        "warnings": v.warnings(),
    })
}

pub async fn schema() -> HttpResponse {
    HttpResponse::Ok().json(lockstep_shared::model::json_schema())
}

pub async fn validate_doc(body: String) -> Result<HttpResponse, AppError> {
    let doc = parse(&body)?;
    let findings = validate(&doc);
    let errors = findings.iter().filter(|f| f.is_error()).count();
    Ok(HttpResponse::Ok().json(json!({
        "errors": errors,
        "warnings": findings.len() - errors,
        "findings": findings,
    })))
}

pub async fn render_doc(body: String) -> Result<HttpResponse, AppError> {
    let doc = parse(&body)?;
    let v = Validated::new(doc).map_err(|f| AppError::Invalid(json!(f)))?;
    Ok(HttpResponse::Ok().json(artifacts_json(&v)))
}
