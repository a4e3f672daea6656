//! The route table and handlers. Handlers are thin: parse, call `shared`, answer. Every error
//! is an [`AppError`], answered as `{code, message, details}`; nothing is ever a bare 500 page.

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpResponse, HttpServer, ResponseError};
use lockstep_shared::render::{render_all, Validated};
use lockstep_shared::validate::validate;
use lockstep_shared::Document;
use serde_json::json;
use std::path::PathBuf;

/// Largest request body accepted (a 32-disk document is about 60 KiB).
pub const MAX_BODY: usize = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("the body is not a valid configuration document: {message}")]
    BadDocument {
        message: String,
        line: usize,
        column: usize,
    },
    #[error("the document has errors and cannot be rendered")]
    Invalid(serde_json::Value),
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::BadDocument { .. } => StatusCode::BAD_REQUEST,
            AppError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (code, details) = match self {
            AppError::BadDocument { line, column, .. } => {
                ("bad_document", json!({"line": line, "column": column}))
            }
            AppError::Invalid(findings) => ("invalid_document", json!({"findings": findings})),
        };
        HttpResponse::build(self.status_code()).json(json!({
            "code": code,
            "message": self.to_string(),
            "details": details,
        }))
    }
}

fn parse(body: &str) -> Result<Document, AppError> {
    Document::from_json(body).map_err(|e| AppError::BadDocument {
        message: e.message,
        line: e.line,
        column: e.column,
    })
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn schema() -> HttpResponse {
    HttpResponse::Ok().json(lockstep_shared::model::json_schema())
}

async fn validate_doc(body: String) -> Result<HttpResponse, AppError> {
    let doc = parse(&body)?;
    let findings = validate(&doc);
    let errors = findings.iter().filter(|f| f.is_error()).count();
    Ok(HttpResponse::Ok().json(json!({
        "errors": errors,
        "warnings": findings.len() - errors,
        "findings": findings,
    })))
}

async fn render_doc(body: String) -> Result<HttpResponse, AppError> {
    let doc = parse(&body)?;
    let v = Validated::new(doc).map_err(|f| AppError::Invalid(json!(f)))?;
    let a = render_all(&v);
    Ok(HttpResponse::Ok().json(json!({
        "primary_xml": a.primary_xml,
        "secondary_xml": a.secondary_xml,
        "plan": serde_json::from_str::<serde_json::Value>(&a.plan_json).unwrap_or_default(),
        "primary_cmdline": a.primary_cmdline,
        "secondary_cmdline": a.secondary_cmdline,
        "warnings": v.warnings(),
    })))
}

/// The application: API routes, then the static frontend.
pub fn configure(cfg: &mut web::ServiceConfig, static_dir: PathBuf) {
    cfg.app_data(web::PayloadConfig::new(MAX_BODY))
        .route("/healthz", web::get().to(healthz))
        .service(
            web::scope("/api/v1")
                .route("/schema", web::get().to(schema))
                .route("/validate", web::post().to(validate_doc))
                .route("/render", web::post().to(render_doc)),
        )
        .service(actix_files::Files::new("/", static_dir).index_file("index.html"));
}

pub async fn serve(bind: &str, static_dir: PathBuf) -> std::io::Result<()> {
    let server = HttpServer::new(move || {
        let dir = static_dir.clone();
        App::new().configure(move |cfg| configure(cfg, dir))
    })
    .bind(bind)?;
    for addr in server.addrs() {
        println!("lockstep: listening on http://{addr}/");
    }
    server.run().await
}
