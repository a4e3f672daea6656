//! API tokens for automation: created for one team, shown once, stored hashed, revocable.

use super::errors::AppError;
use super::{event, AppState, RequestCtx};
use crate::auth::{self, Identity, Role};
use crate::db::accounts;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Create {
    name: String,
    team: String,
}

pub async fn create(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    id: Identity,
    body: web::Json<Create>,
) -> Result<HttpResponse, AppError> {
    if id.token_id.is_some() {
        return Err(AppError::Forbidden(
            "an API token cannot create tokens; log in".into(),
        ));
    }
    let m = id.team(&body.team)?.clone();
    id.require(m.team_id, Role::Viewer)?;
    if body.name.trim().is_empty() || body.name.len() > 64 {
        return Err(AppError::bad(
            "bad_name",
            "token name must be 1 to 64 characters",
        ));
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
    let mut e = event(
        &ctx,
        Some(id.user_id),
        &id.user_name,
        Some(m.team_id),
        "token.create",
        "token",
        Some(tid.to_string()),
    );
    e.target_name = Some(body.name.clone());
    super::commit_with_event(tx, &e).await?;
    Ok(HttpResponse::Created().json(json!({
        "id": tid,
        "name": body.name,
        "team": m.team,
        "role": m.role,
        "token": token,
        "note": "this is the only time the token is shown",
    })))
}

pub async fn list(state: web::Data<AppState>, id: Identity) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(json!({ "tokens": state.db.tokens(id.user_id).await? })))
}

pub async fn revoke(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    id: Identity,
    tid: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let mut tx = state.db.begin().await?;
    let Some((name, team_id)) = accounts::revoke_token(&mut tx, id.user_id, *tid).await? else {
        return Err(AppError::NotFound(format!("live token {tid}")));
    };
    let mut e = event(
        &ctx,
        Some(id.user_id),
        &id.user_name,
        Some(team_id),
        "token.revoke",
        "token",
        Some(tid.to_string()),
    );
    e.target_name = Some(name);
    super::commit_with_event(tx, &e).await?;
    Ok(HttpResponse::Ok().json(json!({"id": *tid, "revoked": true})))
}
