//! The route table. Handlers are thin (one file per resource): parse, check who may do it, call
//! `shared` or `db`, answer. Every error is an [`errors::AppError`] answered as
//! `{code, message, details}`; every response carries the request id in `X-Request-Id`, and
//! each request is logged once as a JSON line with that id.

pub mod audit;
pub mod configs;
pub mod docs;
pub mod errors;
pub mod hosts;
pub mod members;
pub mod session;
pub mod templates;
pub mod tokens;

use crate::audit::NewEvent;
use crate::db::Db;
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, App, FromRequest, HttpMessage, HttpRequest, HttpResponse, HttpServer};
use errors::AppError;
use serde_json::json;
use std::future::{ready, Ready};
use std::path::PathBuf;
use std::time::Instant;

/// Largest request body accepted (a 32-disk document is about 60 KiB).
pub const MAX_BODY: usize = 4 << 20;

pub struct AppState {
    pub db: Db,
    /// Mark cookies `Secure` (behind HTTPS).
    pub secure_cookies: bool,
}

/// Request facts the audit log records.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    pub request_id: String,
    pub source: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Clone)]
struct RequestId(String);

impl FromRequest for RequestCtx {
    type Error = AppError;
    type Future = Ready<Result<RequestCtx, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request_id = req
            .extensions()
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        ready(Ok(RequestCtx {
            request_id,
            source: req.peer_addr().map(|a| a.ip().to_string()),
            user_agent: req
                .headers()
                .get("user-agent")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        }))
    }
}

/// An audit event for this request with the common fields filled in.
pub fn event(
    ctx: &RequestCtx,
    actor_id: Option<i64>,
    actor_name: &str,
    team_id: Option<i64>,
    action: &str,
    target_type: &str,
    target_id: Option<String>,
) -> NewEvent {
    NewEvent {
        at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        actor_id,
        actor_name: actor_name.to_owned(),
        team_id,
        action: action.to_owned(),
        target_type: target_type.to_owned(),
        target_id,
        target_name: None,
        before: None,
        after: None,
        request_id: Some(ctx.request_id.clone()),
        source: ctx.source.clone(),
        user_agent: ctx.user_agent.clone(),
        result: "ok".to_owned(),
    }
}

/// Appends the change's audit event and commits: the change and its event land together or
/// not at all.
pub async fn commit_with_event(mut tx: crate::db::Tx<'_>, e: &NewEvent) -> Result<(), AppError> {
    crate::db::audit::append(&mut tx, e).await?;
    tx.commit().await.map_err(anyhow::Error::from)?;
    Ok(())
}

/// Gives each request an id, returns it in `X-Request-Id`, logs one line per request.
async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = crate::auth::random_hex(8);
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().to_string();
    let path = req.path().to_owned();
    let start = Instant::now();
    let mut res = next.call(req).await?;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), v);
    }
    tracing::info!(
        request_id = %id,
        method = %method,
        path = %path,
        status = res.status().as_u16(),
        ms = start.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    Ok(res)
}

fn json_error(e: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    let (code, message) = match &e {
        JsonPayloadError::OverflowKnownLength { length, limit } => (
            "too_large",
            format!("the body is {length} bytes; the limit is {limit}"),
        ),
        JsonPayloadError::Overflow { limit } => (
            "too_large",
            format!("the body is larger than the limit of {limit} bytes"),
        ),
        JsonPayloadError::ContentType => (
            "bad_content_type",
            "send the body as application/json".to_owned(),
        ),
        JsonPayloadError::Deserialize(d) => ("bad_json", format!("the body is not valid: {d}")),
        other => ("bad_json", format!("the body could not be read: {other}")),
    };
    let details = match &e {
        JsonPayloadError::Deserialize(d) => json!({"line": d.line(), "column": d.column()}),
        _ => serde_json::Value::Null,
    };
    AppError::BadRequest {
        code,
        message,
        details,
    }
    .into()
}

fn query_error(e: QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    AppError::bad("bad_query", format!("the query string is not valid: {e}")).into()
}

fn path_error(e: actix_web::error::PathError, _: &HttpRequest) -> actix_web::Error {
    AppError::bad("bad_path", format!("the path is not valid: {e}")).into()
}

async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    match state.db.ping().await {
        Ok(_) => HttpResponse::Ok().json(json!({"status": "ok", "database": "ok"})),
        Err(e) => HttpResponse::ServiceUnavailable()
            .json(json!({"status": "degraded", "database": format!("{e:#}")})),
    }
}

async fn not_found() -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound("API route".into()))
}

/// The application: API routes, then the static frontend.
pub fn configure(cfg: &mut web::ServiceConfig, static_dir: PathBuf) {
    cfg.app_data(web::PayloadConfig::new(MAX_BODY))
        .app_data(
            web::JsonConfig::default()
                .limit(MAX_BODY)
                .error_handler(json_error),
        )
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .app_data(web::PathConfig::default().error_handler(path_error))
        .route("/healthz", web::get().to(healthz))
        .service(
            web::scope("/api/v1")
                .route("/schema", web::get().to(docs::schema))
                .route("/validate", web::post().to(docs::validate_doc))
                .route("/render", web::post().to(docs::render_doc))
                .route("/login", web::post().to(session::login))
                .route("/logout", web::post().to(session::logout))
                .route("/me", web::get().to(session::me))
                .route("/audit", web::get().to(audit::list))
                .route("/tokens", web::get().to(tokens::list))
                .route("/tokens", web::post().to(tokens::create))
                .route("/tokens/{id}", web::delete().to(tokens::revoke))
                .route("/teams", web::get().to(members::teams))
                .route("/teams", web::post().to(members::create_team))
                .route("/teams/{team}/members", web::get().to(members::list))
                .route(
                    "/teams/{team}/members/{user}",
                    web::put().to(members::set_role),
                )
                .route(
                    "/teams/{team}/members/{user}",
                    web::delete().to(members::remove),
                )
                .route("/teams/{team}/hosts", web::get().to(hosts::list))
                .route("/teams/{team}/hosts", web::post().to(hosts::create))
                .route("/hosts/{id}", web::get().to(hosts::get))
                .route("/hosts/{id}", web::put().to(hosts::update))
                .route("/hosts/{id}", web::delete().to(hosts::delete))
                .route("/teams/{team}/configurations", web::get().to(configs::list))
                .route(
                    "/teams/{team}/configurations",
                    web::post().to(configs::create),
                )
                .route(
                    "/teams/{team}/configurations/from-template",
                    web::post().to(templates::instantiate),
                )
                .route("/teams/{team}/templates", web::get().to(templates::list))
                .route("/teams/{team}/templates", web::post().to(templates::create))
                .route("/templates/{id}", web::get().to(templates::get))
                .route("/templates/{id}", web::put().to(templates::save))
                .route(
                    "/templates/{id}/archive",
                    web::post().to(templates::archive),
                )
                .route(
                    "/templates/{id}/versions",
                    web::get().to(templates::versions),
                )
                .route(
                    "/templates/{id}/versions/{version}",
                    web::get().to(templates::version),
                )
                .route(
                    "/configurations/{id}/template",
                    web::post().to(templates::from_configuration),
                )
                .route("/configurations/{id}", web::get().to(configs::get))
                .route("/configurations/{id}", web::put().to(configs::save))
                .route(
                    "/configurations/{id}/archive",
                    web::post().to(configs::archive),
                )
                .route(
                    "/configurations/{id}/versions",
                    web::get().to(configs::versions),
                )
                .route("/configurations/{id}/diff", web::get().to(configs::diff))
                .route(
                    "/configurations/{id}/versions/{version}",
                    web::get().to(configs::version),
                )
                .route(
                    "/configurations/{id}/versions/{version}/rendered",
                    web::get().to(configs::rendered),
                )
                .default_service(web::to(not_found)),
        )
        .service(actix_files::Files::new("/", static_dir).index_file("index.html"));
}

/// Serves until interrupted; prints the bound address (tests bind port 0 and read it).
pub async fn serve(bind: &str, static_dir: PathBuf, state: AppState) -> std::io::Result<()> {
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        let dir = static_dir.clone();
        App::new()
            .app_data(state.clone())
            .wrap(actix_web::middleware::from_fn(request_id))
            .configure(move |cfg| configure(cfg, dir))
    })
    .bind(bind)?;
    for addr in server.addrs() {
        println!("lockstep: listening on http://{addr}/");
    }
    server.run().await
}
