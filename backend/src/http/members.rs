//! Teams and members: create a team (its creator becomes admin), list members, invite a user
//! or change a member's role, remove a member. Admins manage members; a team always keeps at
//! least one admin. Every change is audited with the role before and after.
//!
//! Nobody is put into a team without consent: an admin's `PUT` for someone who is not a
//! member records an invitation by user name, which that user accepts or declines. The answer
//! is the same whether or not an account by that name exists, so inviting cannot be used to
//! find out which user names exist. Creating a team under a taken name says so (team names
//! are global), and such answers are rate limited per user like failed logins.

use super::errors::AppError;
use super::openapi::schema;
use super::{AppState, RequestCtx};
use crate::audit::NewEvent;
use crate::auth::{Identity, Role};
use crate::db::members;
use actix_web::{delete, get, post, put, web, HttpResponse};
use lockstep_shared::api::{self, AuditTarget, InvitationAnswered, MemberRemoved, RoleSet};
use serde_json::{json, Value};

const MAX_NAME_PROBES: i64 = 10;
const PROBE_WINDOW_SECS: u64 = 300;

/// Teams the caller is in, with the caller's role.
/// The caller's teams and roles.
#[utoipa::path(tag = "teams", responses((status = 200, body = schema::TeamList)))]
#[get("/teams")]
pub async fn list_teams(id: Identity) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(api::TeamList {
        teams: id.memberships.iter().map(Into::into).collect(),
    }))
}

/// Creates a team; the caller becomes its admin (log in; not with a token).
#[utoipa::path(tag = "teams", request_body = schema::NewTeam, responses((status = 201, body = schema::TeamCreated), (status = 409, description = "the name is taken")))]
#[post("/teams")]
pub async fn create_team(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    id: Identity,
    body: web::Json<api::NewTeam>,
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
    let probes = state
        .db
        .recent_name_probes(id.user_id, PROBE_WINDOW_SECS)
        .await?;
    if probes >= MAX_NAME_PROBES {
        return Err(AppError::TooManyRequests {
            retry_after: PROBE_WINDOW_SECS,
        });
    }
    let mut tx = state.db.begin().await?;
    let Some(team_id) = members::create_team(&mut tx, name, id.user_id).await? else {
        drop(tx);
        let mut probe = state.db.begin().await?;
        members::record_name_probe(&mut probe, id.user_id).await?;
        probe.commit().await.map_err(anyhow::Error::from)?;
        return Err(AppError::Conflict {
            message: format!(
                "a team named {name:?} already exists; pick another name (after \
                 {MAX_NAME_PROBES} taken names in {} minutes, creating teams waits)",
                PROBE_WINDOW_SECS / 60
            ),
            details: Value::Null,
        });
    };
    let mut e = ctx.stamp(NewEvent::new(
        Some(id.user_id),
        &id.user_name,
        Some(team_id),
        "team.create",
        AuditTarget::Team,
        Some(team_id.to_string()),
    ));
    e.target_name = Some(name.to_owned());
    e.after = Some(json!({"admin": id.user_name}));
    super::commit_with_event(tx, &e).await?;
    // Other servers hear of it from Postgres; this one forgets at once.
    state.auth.invalidate();
    Ok(HttpResponse::Created().json(api::TeamCreated {
        id: team_id,
        name: name.to_owned(),
        role: "admin".to_owned(),
    }))
}

/// The team's members and roles (viewer).
#[utoipa::path(tag = "teams", responses((status = 200, body = schema::MemberList)))]
#[get("/teams/{team}/members")]
pub async fn list_members(
    state: web::Data<AppState>,
    id: Identity,
    team: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let m = id.team(&team)?;
    id.require(m.team_id, Role::Viewer)?;
    Ok(HttpResponse::Ok().json(api::MemberList {
        members: state
            .db
            .members(m.team_id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
        invitations: state
            .db
            .team_invitations(m.team_id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
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

/// Changes a member's role, or invites a user who is not a member (admin). The answer is the
/// same whether or not an account by that name exists.
#[utoipa::path(tag = "teams", request_body = schema::SetRole, responses((status = 200, body = schema::RoleSet, description = "a member's role changed"), (status = 202, body = schema::RoleSet, description = "the user is invited"), (status = 409, description = "the team would have no admin left")))]
#[put("/teams/{team}/members/{user}")]
pub async fn set_member_role(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    id: Identity,
    path: web::Path<(String, String)>,
    body: web::Json<api::SetRole>,
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
    if let Some(problem) = lockstep_shared::text::name_problem("user", &user, 64) {
        return Err(AppError::bad("bad_name", problem));
    }
    let target = state.db.user_by_name(&user).await?;
    let mut tx = state.db.begin().await?;
    members::lock_team(&mut tx, m.team_id).await?;
    let member_role = match &target {
        Some(t) => members::role_of(&mut tx, m.team_id, t.id).await?,
        None => None,
    };
    let (status, before, action) = match (&target, member_role) {
        (Some(t), Some(_)) => {
            let before = members::set_role(&mut tx, m.team_id, t.id, &body.role).await?;
            would_orphan(members::admins(&mut tx, m.team_id).await?, &m.team)?;
            ("member", before, "member.update")
        }
        _ => {
            let before =
                members::invite(&mut tx, m.team_id, &user, &body.role, &id.user_name).await?;
            ("invited", before, "member.invite")
        }
    };
    let mut e = ctx.stamp(NewEvent::new(
        Some(id.user_id),
        &id.user_name,
        Some(m.team_id),
        action,
        AuditTarget::Member,
        // The name, not the account id: an invitation does not say whether one exists.
        Some(user.clone()),
    ));
    e.target_name = Some(user.clone());
    e.before = before.as_ref().map(|r| json!({ "role": r }));
    e.after = Some(json!({ "role": body.role, "status": status }));
    super::commit_with_event(tx, &e).await?;
    // Other servers hear of it from Postgres; this one forgets at once.
    state.auth.invalidate();
    let answer = RoleSet {
        team: m.team,
        user,
        role: body.role.clone(),
        status: status.to_owned(),
        previous_role: before,
    };
    Ok(if status == "member" {
        HttpResponse::Ok().json(answer)
    } else {
        HttpResponse::Accepted().json(answer)
    })
}

/// Removes a member, or withdraws an invitation (admin); a member's sessions and tokens lose
/// the team at once.
#[utoipa::path(tag = "teams", responses((status = 200, body = schema::MemberRemoved), (status = 409, description = "the team would have no admin left")))]
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
    let not_member =
        || AppError::NotFound(format!("member or invitation '{user}' of team '{team}'"));
    let target = state.db.user_by_name(&user).await?;
    let mut tx = state.db.begin().await?;
    members::lock_team(&mut tx, m.team_id).await?;
    let removed = match &target {
        Some(t) => members::remove(&mut tx, m.team_id, t.id).await?,
        None => None,
    };
    let (what, before, action) = match removed {
        Some(role) => {
            would_orphan(members::admins(&mut tx, m.team_id).await?, &m.team)?;
            ("member", role, "member.remove")
        }
        None => match members::withdraw(&mut tx, m.team_id, &user).await? {
            Some(role) => ("invitation", role, "member.uninvite"),
            None => return Err(not_member()),
        },
    };
    let mut e = ctx.stamp(NewEvent::new(
        Some(id.user_id),
        &id.user_name,
        Some(m.team_id),
        action,
        AuditTarget::Member,
        Some(user.clone()),
    ));
    e.target_name = Some(user.clone());
    e.before = Some(json!({ "role": before, "status": what }));
    super::commit_with_event(tx, &e).await?;
    // Other servers hear of it from Postgres; this one forgets at once.
    state.auth.invalidate();
    Ok(HttpResponse::Ok().json(MemberRemoved {
        team: m.team,
        user,
        removed: true,
        what: what.to_owned(),
    }))
}

/// The caller's pending invitations (log in).
#[utoipa::path(tag = "teams", responses((status = 200, body = schema::InvitationList)))]
#[get("/invitations")]
pub async fn list_invitations(
    state: web::Data<AppState>,
    id: Identity,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(api::InvitationList {
        invitations: state
            .db
            .invitations_of(&id.user_name)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    }))
}

/// Accepts or declines the caller's invitation to `team`.
async fn answer_invitation(
    state: &AppState,
    ctx: &RequestCtx,
    id: &Identity,
    team: &str,
    accept: bool,
) -> Result<HttpResponse, AppError> {
    id.require_session("answer invitations")?;
    let mut tx = state.db.begin().await?;
    let Some((team_id, role)) = members::invitation_for(&mut tx, team, &id.user_name).await? else {
        return Err(AppError::NotFound(format!("invitation to team '{team}'")));
    };
    members::lock_team(&mut tx, team_id).await?;
    members::withdraw(&mut tx, team_id, &id.user_name).await?;
    let action = if accept {
        members::set_role(&mut tx, team_id, id.user_id, &role).await?;
        "member.join"
    } else {
        "member.decline"
    };
    let mut e = ctx.stamp(NewEvent::new(
        Some(id.user_id),
        &id.user_name,
        Some(team_id),
        action,
        AuditTarget::Member,
        Some(id.user_name.clone()),
    ));
    e.target_name = Some(id.user_name.clone());
    e.after = Some(json!({ "role": role, "status": if accept { "member" } else { "declined" } }));
    super::commit_with_event(tx, &e).await?;
    state.auth.invalidate();
    Ok(HttpResponse::Ok().json(InvitationAnswered {
        team: team.to_owned(),
        status: if accept { "accepted" } else { "declined" }.to_owned(),
        role,
    }))
}

/// Accepts the caller's invitation to `team`: a member with the invited role from now on
/// (log in; not with a token).
#[utoipa::path(tag = "teams", responses((status = 200, body = schema::InvitationAnswered)))]
#[post("/invitations/{team}/accept")]
pub async fn accept_invitation(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    id: Identity,
    team: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    answer_invitation(&state, &ctx, &id, &team, true).await
}

/// Declines the caller's invitation to `team` (log in; not with a token).
#[utoipa::path(tag = "teams", responses((status = 200, body = schema::InvitationAnswered)))]
#[delete("/invitations/{team}")]
pub async fn decline_invitation(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    id: Identity,
    team: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    answer_invitation(&state, &ctx, &id, &team, false).await
}
