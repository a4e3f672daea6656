//! API tokens for automation: created for one team, shown once, stored hashed, revocable.

use super::errors::AppError;
use super::openapi::schema;
use super::{AppState, RequestCtx};
use crate::audit::NewEvent;
use crate::auth::{self, Identity, Role};
use crate::db::accounts;
use actix_web::{delete, get, post, web, HttpResponse};
use lockstep_shared::api::{self, AuditTarget, NewToken, Revoked};

/// Creates an API token for one of the caller's teams (log in; a token cannot make tokens).
#[utoipa::path(tag = "tokens", request_body = schema::CreateToken, responses((status = 201, body = schema::NewToken)))]
#[post("/tokens")]
pub async fn create_token(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    id: Identity,
    body: web::Json<api::CreateToken>,
) -> Result<HttpResponse, AppError> {
    id.require_session("create tokens")?;
    let m = id.team(&body.team)?.clone();
    id.require(m.team_id, Role::Viewer)?;
    if let Some(problem) = lockstep_shared::text::name_problem("token", &body.name, 64) {
        return Err(AppError::bad("bad_name", problem));
    }
    let token = format!("lst_{}", auth::random_hex(32));
    let mut tx = state.db.begin().await?;
    let tid = accounts::create_token(
        &mut tx,
        id.user_id,
        m.team_id,
        &body.name,
        &auth::sha256(&token),
    )
    .await?;
    let mut e = ctx.stamp(NewEvent::new(
        Some(id.user_id),
        &id.user_name,
        Some(m.team_id),
        "token.create",
        AuditTarget::Token,
        Some(tid.to_string()),
    ));
    e.target_name = Some(body.name.clone());
    super::commit_with_event(tx, &e).await?;
    Ok(HttpResponse::Created().json(NewToken {
        id: tid,
        name: body.name.clone(),
        team: m.team,
        role: m.role,
        token,
        note: "this is the only time the token is shown".to_owned(),
    }))
}

/// The caller's tokens (never the token text).
#[utoipa::path(tag = "tokens", responses((status = 200, body = schema::TokenList)))]
#[get("/tokens")]
pub async fn list_tokens(
    state: web::Data<AppState>,
    id: Identity,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(api::TokenList {
        tokens: state
            .db
            .tokens(id.user_id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    }))
}

/// Revokes one of the caller's tokens.
#[utoipa::path(tag = "tokens", responses((status = 200, body = schema::Revoked)))]
#[delete("/tokens/{id}")]
pub async fn revoke_token(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    id: Identity,
    tid: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    id.require_session("revoke tokens")?;
    let mut tx = state.db.begin().await?;
    let Some((name, team_id)) = accounts::revoke_token(&mut tx, id.user_id, *tid).await? else {
        return Err(AppError::NotFound(format!("live token {tid}")));
    };
    let mut e = ctx.stamp(NewEvent::new(
        Some(id.user_id),
        &id.user_name,
        Some(team_id),
        "token.revoke",
        AuditTarget::Token,
        Some(tid.to_string()),
    ));
    e.target_name = Some(name);
    super::commit_with_event(tx, &e).await?;
    Ok(HttpResponse::Ok().json(Revoked {
        id: *tid,
        revoked: true,
    }))
}
