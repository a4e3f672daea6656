//! The route table. Handlers are thin (one file per resource): parse, check who may do it, call
//! `shared` or `db`, answer. Every error is an [`errors::AppError`] answered as
//! `{code, message, details}`; every response carries the request id in `X-Request-Id`, and
//! each request is logged once as a JSON line with that id.

mod app;
pub mod audit;
pub mod configs;
pub mod deployments;
pub mod docs;
pub mod errors;
mod guard;
pub mod hosts;
pub mod members;
pub mod openapi;
mod save_body;
pub mod session;
pub mod templates;
pub mod tokens;
pub mod versions;

use crate::audit::NewEvent;
use crate::db::Db;
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{get, web, App, FromRequest, HttpMessage, HttpRequest, HttpResponse, HttpServer};
use errors::AppError;
use lockstep_shared::api::{AuditResult, AuditTarget};
use serde_json::json;
use std::future::{ready, Ready};
use std::sync::OnceLock;
use std::time::Instant;
use utoipa_actix_web::AppExt;

/// Largest request body accepted (a 32-disk document is about 60 KiB).
pub const MAX_BODY: usize = lockstep_shared::model::MAX_DOCUMENT_BYTES;

pub struct AppState {
    pub db: Db,
    /// Configuration versions as answers (see `versions`).
    pub versions: std::sync::Arc<versions::VersionCache>,
    /// Looks up and writes configuration saves in batches (see `db::batch`).
    pub saves: crate::db::batch::Saves,
    /// Identities of live sessions (see `auth::cache`).
    pub auth: std::sync::Arc<crate::auth::cache::AuthCache>,
    /// Mark cookies `Secure` (behind HTTPS).
    pub secure_cookies: bool,
}

/// Why a configuration, template or host name is refused (1 to 128 printable characters, not
/// all blank, no control or format characters: `shared::text`), if it is.
pub fn name_problem(kind: &str, name: &str) -> Option<String> {
    lockstep_shared::text::name_problem(kind, name, 128)
}

/// [`name_problem`] as a 400.
pub fn check_name(kind: &str, name: &str) -> Result<(), AppError> {
    match name_problem(kind, name) {
        None => Ok(()),
        Some(problem) => Err(AppError::bad("bad_name", problem)),
    }
}

/// The version a save on top of `base` creates. A client's number is checked before any
/// arithmetic: `base` must be a version that can have a successor.
pub fn next_version(base: i32) -> Result<i32, AppError> {
    base.checked_add(1).filter(|_| base >= 1).ok_or_else(|| {
        AppError::bad(
            "bad_base_version",
            format!(
                "base_version {base} is not a version a save can follow (1 to {})",
                i32::MAX - 1
            ),
        )
    })
}

/// `?archived=true`: lists include archived objects too.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Include archived ones.
    #[serde(default)]
    pub archived: bool,
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
        ready(Ok(RequestCtx::of(req)))
    }
}

impl RequestCtx {
    fn of(req: &HttpRequest) -> RequestCtx {
        RequestCtx {
            request_id: req
                .extensions()
                .get::<RequestId>()
                .map(|r| r.0.clone())
                .unwrap_or_default(),
            source: req.peer_addr().map(|a| a.ip().to_string()),
            user_agent: req
                .headers()
                .get("user-agent")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        }
    }

    /// Audit event `e` as made by this request: its id, source and user agent.
    pub fn stamp(&self, mut e: NewEvent) -> NewEvent {
        e.request_id = Some(self.request_id.clone());
        e.source = self.source.clone();
        e.user_agent = self.user_agent.clone();
        e
    }
}

/// Appends the change's audit event and commits: the change and its event land together or
/// not at all.
pub async fn commit_with_event(mut tx: crate::db::Tx<'_>, e: &NewEvent) -> Result<(), AppError> {
    crate::db::audit::append(&mut tx, e).await?;
    tx.commit().await.map_err(anyhow::Error::from)?;
    Ok(())
}

/// A change an identified caller asked for and was refused (no right, no such object, a
/// conflict, invalid input) is audited too, with the refusal as its result: the action is the
/// operation's id (e.g. `save_configuration`), the target the object the path names.
async fn record_refusal(req: &HttpRequest, status: actix_web::http::StatusCode) {
    let result = match status.as_u16() {
        403 => AuditResult::Forbidden,
        404 => AuditResult::NotFound,
        409 => AuditResult::Conflict,
        422 => AuditResult::Invalid,
        _ => return,
    };
    if !matches!(req.method().as_str(), "POST" | "PUT" | "DELETE") {
        return;
    }
    let (Some(pattern), Some(id), Some(state)) = (
        req.match_pattern(),
        req.extensions().get::<crate::auth::Identity>().cloned(),
        req.app_data::<web::Data<AppState>>().cloned(),
    ) else {
        return;
    };
    let method = req.method().as_str().to_lowercase();
    let Some(operation) = api_description()["paths"][&pattern][&method]["operationId"].as_str()
    else {
        return;
    };
    let info = req.match_info();
    let team = info
        .get("team")
        .and_then(|t| id.memberships.iter().find(|m| m.team == t))
        .map(|m| m.team_id);
    // The object the path names: /api/v1/<kind>s/{id}, or a member of a team.
    let (target, target_id) = match (info.get("user"), info.get("id")) {
        (Some(user), _) => (AuditTarget::Member, Some(user.to_owned())),
        (None, Some(object)) => (
            pattern
                .trim_start_matches("/api/v1/")
                .split('/')
                .next()
                .and_then(AuditTarget::of_collection)
                .unwrap_or(AuditTarget::Request),
            Some(object.to_owned()),
        ),
        (None, None) => (AuditTarget::Request, None),
    };
    // A refused change of an object is shown to its team, if the caller is in it.
    let team = match (
        team,
        target_id.as_deref().and_then(|t| t.parse::<i64>().ok()),
    ) {
        (Some(t), _) => Some(t),
        (None, Some(object)) => state
            .db
            .team_of(target, object)
            .await
            .ok()
            .flatten()
            .filter(|t| id.role_in(*t).is_some()),
        (None, None) => None,
    };
    let mut e = RequestCtx::of(req).stamp(NewEvent::new(
        Some(id.user_id),
        &id.user_name,
        team,
        operation,
        target,
        target_id,
    ));
    e.set_result(result);
    e.after = Some(json!({ "status": status.as_u16(), "path": req.path() }));
    let appended = async {
        let tx = state.db.begin().await?;
        commit_with_event(tx, &e).await
    };
    if let Err(err) = appended.await {
        tracing::warn!(error = %err, "could not audit a refused request");
    }
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
    record_refusal(res.request(), res.status()).await;
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

/// Liveness with one trivial Postgres query (503 when Postgres does not answer).
#[utoipa::path(tag = "health", responses((status = 200, body = openapi::schema::Health), (status = 503, body = openapi::schema::Health)))]
#[get("/healthz")]
async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    match state.db.ping().await {
        Ok(_) => HttpResponse::Ok().json(lockstep_shared::api::Health {
            status: "ok".into(),
            database: "ok".into(),
        }),
        Err(e) => HttpResponse::ServiceUnavailable().json(lockstep_shared::api::Health {
            status: "degraded".into(),
            database: format!("{e:#}"),
        }),
    }
}

/// This description of the API (OpenAPI 3.1).
#[utoipa::path(tag = "documents", responses((status = 200, description = "the OpenAPI description", body = Object)))]
#[get("/openapi.json")]
async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(api_description())
}

/// The OpenAPI description, built once from [`api_routes`].
pub fn api_description() -> &'static serde_json::Value {
    static DESCRIPTION: OnceLock<serde_json::Value> = OnceLock::new();
    DESCRIPTION.get_or_init(|| {
        let (_, api) = App::new()
            .into_utoipa_app()
            .configure(api_routes)
            .split_for_parts();
        openapi::finish(api)
    })
}

/// Whether a request path matches a path template such as `/api/v1/hosts/{id}`.
fn matches_template(path: &str, template: &str) -> bool {
    let (p, t): (Vec<&str>, Vec<&str>) = (path.split('/').collect(), template.split('/').collect());
    p.len() == t.len()
        && p.iter()
            .zip(&t)
            .all(|(a, b)| (b.starts_with('{') && !a.is_empty()) || a == b)
}

/// Unknown API routes: 405 with `Allow` when the path exists with other methods, else 404.
async fn not_found(req: HttpRequest) -> Result<HttpResponse, AppError> {
    let paths = api_description()["paths"].as_object();
    let allowed: Vec<String> = paths
        .into_iter()
        .flatten()
        .filter(|(t, _)| matches_template(req.path(), t))
        .flat_map(|(_, ops)| ops.as_object().into_iter().flatten())
        .map(|(m, _)| m.to_uppercase())
        .collect();
    if allowed.is_empty() {
        return Err(AppError::NotFound("API route".into()));
    }
    Ok(HttpResponse::MethodNotAllowed()
        .insert_header(("Allow", allowed.join(", ")))
        .json(json!({
            "code": "method_not_allowed",
            "message": format!("{} is not allowed here; use {}", req.method(), allowed.join(" or ")),
            "details": {"allow": allowed},
        })))
}

/// Every route, registered and described for OpenAPI by the same calls.
fn api_routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(healthz).service(
        // Routes are tried in this order, each path with parameters by a regex match: the
        // busiest (reading and saving a configuration) first.
        utoipa_actix_web::scope("/api/v1")
            .service(configs::get_configuration)
            .service(configs::save_configuration)
            .service(configs::list_configurations)
            .service(configs::create_configuration)
            .service(templates::create_configuration_from_template)
            .service(configs::archive_configuration)
            .service(configs::list_configuration_versions)
            .service(configs::get_configuration_version)
            .service(configs::render_configuration_version)
            .service(configs::diff_configuration_versions)
            .service(openapi_json)
            .service(docs::document_schema)
            .service(docs::validate_document)
            .service(docs::render_document)
            .service(session::login)
            .service(session::logout)
            .service(session::me)
            .service(audit::list_audit_events)
            .service(tokens::list_tokens)
            .service(tokens::create_token)
            .service(tokens::revoke_token)
            .service(members::list_teams)
            .service(members::create_team)
            .service(members::list_members)
            .service(members::set_member_role)
            .service(members::remove_member)
            .service(members::list_invitations)
            .service(members::accept_invitation)
            .service(members::decline_invitation)
            .service(hosts::list_hosts)
            .service(hosts::create_host)
            .service(hosts::get_host)
            .service(hosts::update_host)
            .service(hosts::delete_host)
            .service(deployments::preflight_deployment)
            .service(deployments::create_deployment)
            .service(deployments::list_deployments)
            .service(deployments::get_deployment)
            .service(deployments::deployment_status)
            .service(deployments::deployment_action)
            .service(deployments::deployment_events)
            .service(templates::template_from_configuration)
            .service(templates::list_templates)
            .service(templates::create_template)
            .service(templates::get_template)
            .service(templates::save_template)
            .service(templates::archive_template)
            .service(templates::list_template_versions)
            .service(templates::get_template_version)
            .default_service(web::to(not_found)),
    );
}

pub use app::AppSource;

/// The application: API routes, then the browser app for every other path.
pub fn configure(cfg: &mut web::ServiceConfig, source: AppSource) {
    cfg.app_data(web::PayloadConfig::new(MAX_BODY))
        .app_data(
            web::JsonConfig::default()
                .limit(MAX_BODY)
                .error_handler(json_error),
        )
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .app_data(web::PathConfig::default().error_handler(path_error));
    api_routes(&mut utoipa_actix_web::service_config::ServiceConfig::new(
        cfg,
    ));
    cfg.app_data(web::Data::new(source))
        .service(web::resource("/{tail:.*}").to(app::serve_app));
}

/// Serves until interrupted; prints the bound address (tests bind port 0 and read it).
pub async fn serve(bind: &str, source: AppSource, state: AppState) -> std::io::Result<()> {
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        let dir = source.clone();
        App::new()
            .app_data(state.clone())
            // The guard runs inside the request id, so its refusals carry one too.
            .wrap(actix_web::middleware::from_fn(guard::guard))
            .wrap(actix_web::middleware::from_fn(request_id))
            .configure(move |cfg| configure(cfg, dir))
    })
    .bind(bind)?;
    for addr in server.addrs() {
        println!("lockstep: listening on http://{addr}/");
    }
    server.run().await
}
