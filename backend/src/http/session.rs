//! Log in, log out, who am I. Failed logins are recorded and rate limited per user name and
//! per source address (in Postgres, so every server instance sees them).

use super::errors::AppError;
use super::openapi::schema;
use super::{AppState, RequestCtx};
use crate::audit::NewEvent;
use crate::auth::{self, sha256, Identity, CSRF_HEADER, SESSION_COOKIE, SESSION_HOURS};
use crate::db::accounts::SessionIdentity;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::{dev::Payload, FromRequest, HttpMessage, HttpRequest};
use actix_web::{get, post, web, HttpResponse};
use lockstep_shared::api::{self, AuditResult, AuditTarget, LoggedOut, SessionInfo};
use std::future::Future;
use std::pin::Pin;

/// Failed attempts allowed per user name, and per source, within [`WINDOW_SECS`].
const MAX_PER_USER: i64 = 5;
const MAX_PER_SOURCE: i64 = 20;
const WINDOW_SECS: i64 = 300;

/// Logs in: a session cookie and the CSRF token for changes.
#[utoipa::path(tag = "session", request_body = schema::Login, responses((status = 200, body = schema::SessionInfo, description = "sets the HttpOnly session cookie"), (status = 401, description = "wrong user or password"), (status = 429, description = "too many failed logins (Retry-After)")))]
#[post("/login")]
pub async fn login(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    body: web::Json<api::Login>,
) -> Result<HttpResponse, AppError> {
    let db = &state.db;
    let source = ctx.source.clone().unwrap_or_default();
    let (by_user, by_source) = db
        .recent_failed_logins(&body.user, &source, WINDOW_SECS)
        .await?;
    if by_user >= MAX_PER_USER || by_source >= MAX_PER_SOURCE {
        return Err(AppError::TooManyRequests {
            retry_after: WINDOW_SECS as u64,
        });
    }
    let user = db.user_by_name(&body.user).await?;
    let ok = match &user {
        Some(u) => auth::verify_password(&body.password, &u.password_hash),
        None => {
            // Same cost whether or not the user exists.
            let _ = auth::verify_password(&body.password, auth::dummy_hash());
            false
        }
    };
    let known_id = user.as_ref().map(|u| u.id);
    let Some(user) = user.filter(|_| ok) else {
        db.record_failed_login(&body.user, &source).await?;
        let tx = db.begin().await?;
        let mut e = ctx.stamp(NewEvent::new(
            known_id,
            &body.user,
            None,
            "login",
            AuditTarget::Session,
            None,
        ));
        e.set_result(AuditResult::Denied);
        super::commit_with_event(tx, &e).await?;
        return Err(AppError::Unauthorized);
    };
    let session = auth::random_hex(32);
    let csrf = auth::random_hex(16);
    let expires = chrono::Utc::now() + chrono::Duration::hours(SESSION_HOURS);
    db.create_session(&auth::sha256(&session), user.id, &csrf, expires)
        .await?;
    let memberships = db.memberships(user.id).await?;
    let tx = db.begin().await?;
    let e = ctx.stamp(NewEvent::new(
        Some(user.id),
        &user.name,
        None,
        "login",
        AuditTarget::Session,
        None,
    ));
    super::commit_with_event(tx, &e).await?;
    let cookie = Cookie::build(SESSION_COOKIE, session)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.secure_cookies)
        .max_age(actix_web::cookie::time::Duration::hours(SESSION_HOURS))
        .finish();
    Ok(HttpResponse::Ok().cookie(cookie).json(SessionInfo {
        user: user.name,
        teams: memberships.iter().map(Into::into).collect(),
        csrf_token: csrf,
        expires_at: Some(expires.into()),
    }))
}

/// Ends the session (the cookie stops working, even if replayed).
#[utoipa::path(tag = "session", responses((status = 200, body = schema::LoggedOut)))]
#[post("/logout")]
pub async fn logout(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    id: Identity,
) -> Result<HttpResponse, AppError> {
    id.require_session("log out (it has no session; revoke the token instead)")?;
    state.db.delete_session(&id.session_hash).await?;
    // Other servers hear of it from Postgres; this one forgets at once.
    state.auth.invalidate();
    let tx = state.db.begin().await?;
    let e = ctx.stamp(NewEvent::new(
        Some(id.user_id),
        &id.user_name,
        None,
        "logout",
        AuditTarget::Session,
        None,
    ));
    super::commit_with_event(tx, &e).await?;
    let mut gone = Cookie::build(SESSION_COOKIE, "").path("/").finish();
    gone.make_removal();
    Ok(HttpResponse::Ok()
        .cookie(gone)
        .json(LoggedOut { logged_out: true }))
}

/// Who the caller is, their teams and roles, and the CSRF token.
#[utoipa::path(tag = "session", responses((status = 200, body = schema::SessionInfo)))]
#[get("/me")]
pub async fn me(id: Identity) -> HttpResponse {
    HttpResponse::Ok().json(SessionInfo {
        user: id.user_name,
        teams: id.memberships.iter().map(Into::into).collect(),
        csrf_token: id.csrf_token,
        expires_at: None,
    })
}

/// The caller of a request: an API token (`Authorization: Bearer`), or the session cookie
/// with, for changes, its CSRF token.
fn is_safe_method(req: &HttpRequest) -> bool {
    matches!(req.method().as_str(), "GET" | "HEAD" | "OPTIONS")
}

async fn identify(req: HttpRequest) -> Result<Identity, AppError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no app state")))?;
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    if let Some(token) = bearer {
        // API tokens act in one team with the owner's role there; no cookie, so no CSRF.
        let Some(owner) = state.db.token_owner(&sha256(&token)).await? else {
            return Err(AppError::Unauthorized);
        };
        let id = Identity {
            user_id: owner.user_id,
            user_name: owner.user_name,
            memberships: owner.membership.into_iter().collect(),
            csrf_token: String::new(),
            session_hash: Vec::new(),
            token_id: Some(owner.token_id),
        };
        req.extensions_mut().insert(id.clone());
        return Ok(id);
    }
    let Some(cookie) = req.cookie(SESSION_COOKIE) else {
        return Err(AppError::Unauthorized);
    };
    let session_hash = sha256(cookie.value());
    let found = match state.auth.get(&session_hash) {
        Some(cached) => Some(cached),
        None => {
            let generation = state.auth.generation();
            let loaded = state.db.session_identity(&session_hash).await?;
            if let Some(s) = &loaded {
                state
                    .auth
                    .store(generation, session_hash.clone(), s.clone());
            }
            loaded
        }
    };
    let Some(SessionIdentity {
        user_id,
        user_name,
        csrf_token,
        memberships,
        ..
    }) = found
    else {
        return Err(AppError::Unauthorized);
    };
    if !is_safe_method(&req) {
        let sent = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if sent != csrf_token {
            return Err(AppError::Forbidden(
                "missing or wrong X-CSRF-Token header for a cookie-authenticated change".into(),
            ));
        }
    }
    let id = Identity {
        user_id,
        user_name,
        memberships,
        csrf_token,
        session_hash,
        token_id: None,
    };
    req.extensions_mut().insert(id.clone());
    Ok(id)
}

impl FromRequest for Identity {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Identity, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(identify(req.clone()))
    }
}
