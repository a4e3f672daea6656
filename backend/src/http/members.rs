//! Teams and members: create a team (its creator becomes admin), list members, add a member
//! or change their role, remove a member. Admins manage members; a team always keeps at least
//! one admin. Every change is audited with the role before and after.

use super::errors::AppError;
use super::{event, AppState, RequestCtx};
use crate::auth::{Identity, Role};
use crate::db::accounts::Membership;
use crate::db::members;
use crate::db::members::MemberRow;
use actix_web::{delete, get, post, put, web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct TeamList {
    teams: Vec<Membership>,
}

#[derive(Serialize, ToSchema)]
pub struct NewTeamCreated {
    id: i64,
    name: String,
    role: String,
}

#[derive(Serialize, ToSchema)]
pub struct MemberList {
    members: Vec<MemberRow>,
}

#[derive(Serialize, ToSchema)]
pub struct RoleSet {
    team: String,
    user: String,
    role: String,
    /// The role before (absent: newly added).
    previous_role: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MemberRemoved {
    team: String,
    user: String,
    removed: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTeam {
    name: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRole {
    /// viewer, editor, deployer or admin.
    role: String,
}

/// Teams the caller is in, with the caller's role.
/// The caller's teams and roles.
#[utoipa::path(tag = "teams", responses((status = 200, body = TeamList)))]
#[get("/teams")]
pub async fn list_teams(id: Identity) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(TeamList {
        teams: id.memberships,
    }))
}

/// Creates a team; the caller becomes its admin (log in; not with a token).
#[utoipa::path(tag = "teams", responses((status = 201, body = NewTeamCreated), (status = 409, description = "the name is taken")))]
#[post("/teams")]
pub async fn create_team(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    id: Identity,
    body: web::Json<NewTeam>,
) -> Result<HttpResponse, AppError> {
    id.require_session("create teams")?;
    let name = body.name.trim();
    if let Some(problem) = lockstep_shared::text::name_problem("team", &body.name, 64) {
        return Err(AppError::bad("bad_name", problem));
    }
    if name != body.name || name.contains('/') {
        return Err(AppError::bad(
            "bad_name",
            format!(
                "team name {:?} must not contain / or start or end with spaces",
                body.name
            ),
        ));
    }
    let mut tx = state.db.begin().await?;
    let Some(team_id) = members::create_team(&mut tx, name, id.user_id).await? else {
        return Err(AppError::Conflict {
            message: format!("a team named {name:?} already exists"),
            details: Value::Null,
        });
    };
    let mut e = event(
        &ctx,
        Some(id.user_id),
        &id.user_name,
        Some(team_id),
        "team.create",
        "team",
        Some(team_id.to_string()),
    );
    e.target_name = Some(name.to_owned());
    e.after = Some(json!({"admin": id.user_name}));
    super::commit_with_event(tx, &e).await?;
    // Other servers hear of it from Postgres; this one forgets at once.
    state.auth.invalidate();
    Ok(HttpResponse::Created().json(NewTeamCreated {
        id: team_id,
        name: name.to_owned(),
        role: "admin".to_owned(),
    }))
}

/// The team's members and roles (viewer).
#[utoipa::path(tag = "teams", responses((status = 200, body = MemberList)))]
#[get("/teams/{team}/members")]
pub async fn list_members(
    state: web::Data<AppState>,
    id: Identity,
    team: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let m = id.team(&team)?;
    id.require(m.team_id, Role::Viewer)?;
    Ok(HttpResponse::Ok().json(MemberList {
        members: state.db.members(m.team_id).await?,
    }))
}

fn would_orphan(admins: i64, team: &str) -> Result<(), AppError> {
    if admins == 0 {
        return Err(AppError::Conflict {
            message: format!(
                "team '{team}' would have no admin left; make someone else admin first"
            ),
            details: Value::Null,
        });
    }
    Ok(())
}

/// Adds an existing user to the team or changes their role (admin).
#[utoipa::path(tag = "teams", responses((status = 200, body = RoleSet), (status = 409, description = "the team would have no admin left")))]
#[put("/teams/{team}/members/{user}")]
pub async fn set_member_role(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    id: Identity,
    path: web::Path<(String, String)>,
    body: web::Json<SetRole>,
) -> Result<HttpResponse, AppError> {
    let (team, user) = path.into_inner();
    id.require_session("change members")?;
    let m = id.team(&team)?.clone();
    id.require(m.team_id, Role::Admin)?;
    if Role::parse(&body.role).is_none() {
        return Err(AppError::bad(
            "bad_role",
            format!(
                "role {:?} is not viewer, editor, deployer or admin",
                body.role
            ),
        ));
    }
    let target = state.db.user_by_name(&user).await?.ok_or_else(|| {
        AppError::NotFound(format!(
            "user '{user}' (accounts are created with `lockstep admin create-user`)"
        ))
    })?;
    let mut tx = state.db.begin().await?;
    members::lock_team(&mut tx, m.team_id).await?;
    let before = members::set_role(&mut tx, m.team_id, target.id, &body.role).await?;
    would_orphan(members::admins(&mut tx, m.team_id).await?, &m.team)?;
    let action = if before.is_some() {
        "member.update"
    } else {
        "member.add"
    };
    let mut e = event(
        &ctx,
        Some(id.user_id),
        &id.user_name,
        Some(m.team_id),
        action,
        "member",
        Some(target.id.to_string()),
    );
    e.target_name = Some(target.name.clone());
    e.before = before.as_ref().map(|r| json!({ "role": r }));
    e.after = Some(json!({ "role": body.role }));
    super::commit_with_event(tx, &e).await?;
    // Other servers hear of it from Postgres; this one forgets at once.
    state.auth.invalidate();
    Ok(HttpResponse::Ok().json(RoleSet {
        team: m.team,
        user: target.name,
        role: body.role.clone(),
        previous_role: before,
    }))
}

/// Removes a member (admin); their sessions and tokens lose the team at once.
#[utoipa::path(tag = "teams", responses((status = 200, body = MemberRemoved), (status = 409, description = "the team would have no admin left")))]
#[delete("/teams/{team}/members/{user}")]
pub async fn remove_member(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    id: Identity,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (team, user) = path.into_inner();
    id.require_session("change members")?;
    let m = id.team(&team)?.clone();
    id.require(m.team_id, Role::Admin)?;
    let not_member = || AppError::NotFound(format!("member '{user}' of team '{team}'"));
    let target = state.db.user_by_name(&user).await?.ok_or_else(not_member)?;
    let mut tx = state.db.begin().await?;
    members::lock_team(&mut tx, m.team_id).await?;
    let Some(before) = members::remove(&mut tx, m.team_id, target.id).await? else {
        return Err(not_member());
    };
    would_orphan(members::admins(&mut tx, m.team_id).await?, &m.team)?;
    let mut e = event(
        &ctx,
        Some(id.user_id),
        &id.user_name,
        Some(m.team_id),
        "member.remove",
        "member",
        Some(target.id.to_string()),
    );
    e.target_name = Some(target.name.clone());
    e.before = Some(json!({ "role": before }));
    super::commit_with_event(tx, &e).await?;
    // Other servers hear of it from Postgres; this one forgets at once.
    state.auth.invalidate();
    Ok(HttpResponse::Ok().json(MemberRemoved {
        team: m.team,
        user: target.name,
        removed: true,
    }))
}
