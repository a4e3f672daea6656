//! Hosts registered per team: name, libvirt URI, replication address, notes. Editors register
//! and change them, admins delete them; every change is audited with before and after.

use super::errors::AppError;
use super::openapi::schema;
use super::{AppState, RequestCtx};
use crate::audit::NewEvent;
use crate::auth::{Identity, Role};
use crate::db::configs::is_unique_violation;
use crate::db::deployments;
use crate::db::hosts::{self, HostFields, HostRow};
use actix_web::{delete, get, post, put, web, HttpResponse};
use lockstep_shared::api;
use lockstep_shared::api::AuditTarget;
use lockstep_shared::validate::hosts::{address_problem, same_host_reason};
use serde_json::{json, Value};

/// A host's fields as the API takes them: read for the database, and checked.
trait HostBody {
    fn fields(&self) -> HostFields<'_>;
    fn check(&self) -> Result<(), AppError>;
}

impl HostBody for api::HostFields {
    fn fields(&self) -> HostFields<'_> {
        HostFields {
            name: &self.name,
            libvirt_uri: &self.libvirt_uri,
            address: &self.address,
            notes: &self.notes,
        }
    }

    /// Every problem at once, as `details.fields`.
    fn check(&self) -> Result<(), AppError> {
        let mut problems = Vec::new();
        if let Some(problem) = super::name_problem("host", &self.name) {
            problems.push(json!({"field": "name", "message": problem}));
        }
        // A local libvirtd at a socket of its own (one per network namespace, say).
        let unix_ok = self
            .libvirt_uri
            .strip_prefix("qemu+unix:///system?socket=/")
            .is_some_and(|rest| !rest.is_empty() && !rest.contains(['&', '?', '#']));
        let uri_ok = unix_ok
            || ["qemu:///system", "qemu:///session"].contains(&self.libvirt_uri.as_str())
            || [
                "qemu+ssh://",
                "qemu+tls://",
                "qemu+tcp://",
                "qemu+libssh2://",
            ]
            .iter()
            .any(|p| {
                self.libvirt_uri
                    .strip_prefix(p)
                    .is_some_and(|rest| rest.ends_with("/system") && rest.len() > "/system".len())
            });
        if !uri_ok
            || self
                .libvirt_uri
                .chars()
                .any(|c| c.is_control() || c.is_whitespace())
        {
            problems.push(json!({"field": "libvirt_uri", "message": format!(
                "libvirt URI {:?} is not qemu:///system, qemu+ssh|tls|tcp://HOST/system or qemu+unix:///system?socket=/PATH", self.libvirt_uri)}));
        }
        if let Some(problem) = address_problem(&self.address) {
            problems.push(json!({"field": "address", "message": format!(
                "replication address {:?} {problem}", self.address)}));
        }
        if self.notes.len() > 4096 {
            problems.push(json!({"field": "notes", "message": "notes are longer than 4096 bytes"}));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(AppError::BadRequest {
                code: "bad_host",
                message: format!("the host has {} problem(s)", problems.len()),
                details: json!({ "fields": problems }),
            })
        }
    }
}

async fn owned(state: &AppState, id: &Identity, hid: i64, role: Role) -> Result<HostRow, AppError> {
    let what = || format!("host {hid}");
    let h = state
        .db
        .host(hid)
        .await?
        .ok_or_else(|| AppError::NotFound(what()))?;
    id.require_in(h.team_id, role, what)?;
    Ok(h)
}

fn taken(name: &str) -> AppError {
    AppError::Conflict {
        message: format!("the team already has a host named {name:?}"),
        details: Value::Null,
    }
}

/// Refuses a host that is one the team already registered under another spelling (names
/// without case or a trailing dot, addresses as parsed IP addresses): registered hosts are how
/// Lockstep tells machines apart, so one machine must not be two of them.
fn check_distinct(
    body: &api::HostFields,
    others: &[HostRow],
    except: Option<i64>,
) -> Result<(), AppError> {
    for h in others.iter().filter(|h| Some(h.id) != except) {
        if let Some(why) = same_host_reason(&body.name, &body.address, &h.name, &h.address) {
            return Err(AppError::Conflict {
                message: format!(
                    "host {:?} ({}) is host {:?} ({}) that the team already registered: {why}",
                    body.name, body.address, h.name, h.address
                ),
                details: json!({"existing_host_id": h.id}),
            });
        }
    }
    Ok(())
}

/// The team's hosts (viewer).
#[utoipa::path(tag = "hosts", responses((status = 200, body = schema::HostList)))]
#[get("/teams/{team}/hosts")]
pub async fn list_hosts(
    state: web::Data<AppState>,
    id: Identity,
    team: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let m = id.team(&team)?;
    id.require(m.team_id, Role::Viewer)?;
    let hosts = state.db.hosts(m.team_id).await?;
    Ok(HttpResponse::Ok().json(api::HostList {
        hosts: with_uses(&state, m.team_id, None, hosts).await?,
    }))
}

/// Hosts as the API gives them: each with the active deployments on it.
async fn with_uses(
    state: &AppState,
    team_id: i64,
    only: Option<i64>,
    hosts: Vec<HostRow>,
) -> Result<Vec<api::Host>, AppError> {
    let uses = state.db.host_uses(team_id, only).await?;
    Ok(hosts
        .into_iter()
        .map(|h| {
            let id = h.id;
            let mut h = api::Host::from(h);
            h.deployments = uses
                .iter()
                .filter(|(host, _)| *host == id)
                .map(|(_, u)| u.clone())
                .collect();
            h
        })
        .collect())
}

/// One host as the API gives it, with the active deployments on it.
async fn with_uses_one(state: &AppState, h: HostRow) -> Result<api::Host, AppError> {
    let (team, only) = (h.team_id, Some(h.id));
    let mut one = with_uses(state, team, only, vec![h]).await?;
    Ok(one.remove(0))
}

/// Registers a host (editor); every field problem at once in details.fields.
#[utoipa::path(tag = "hosts", request_body = schema::HostFields, responses((status = 201, body = schema::Host), (status = 409, description = "the team already has this host, by name or under another spelling of its name or address")))]
#[post("/teams/{team}/hosts")]
pub async fn create_host(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    id: Identity,
    team: web::Path<String>,
    body: web::Json<api::HostFields>,
) -> Result<HttpResponse, AppError> {
    let m = id.team(&team)?.clone();
    id.require(m.team_id, Role::Editor)?;
    body.check()?;
    let mut tx = state.db.begin().await?;
    check_distinct(
        &body,
        &hosts::lock_team_hosts(&mut tx, m.team_id).await?,
        None,
    )?;
    let Some(h) = hosts::create(&mut tx, m.team_id, &body.fields()).await? else {
        return Err(taken(&body.name));
    };
    let mut e = ctx.stamp(NewEvent::new(
        Some(id.user_id),
        &id.user_name,
        Some(m.team_id),
        "host.create",
        AuditTarget::Host,
        Some(h.id.to_string()),
    ));
    e.target_name = Some(h.name.clone());
    let h = api::Host::from(h);
    e.after = Some(json!(h));
    super::commit_with_event(tx, &e).await?;
    Ok(HttpResponse::Created().json(h))
}

/// One host (viewer).
#[utoipa::path(tag = "hosts", responses((status = 200, body = schema::Host)))]
#[get("/hosts/{id}")]
pub async fn get_host(
    state: web::Data<AppState>,
    id: Identity,
    hid: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let h = owned(&state, &id, *hid, Role::Viewer).await?;
    Ok(HttpResponse::Ok().json(with_uses_one(&state, h).await?))
}

/// Changes a host (editor); the deployments on it follow a new libvirt URI.
#[utoipa::path(tag = "hosts", request_body = schema::HostFields, responses((status = 200, body = schema::Host), (status = 409, description = "the team already has this host, by name or under another spelling of its name or address; or the libvirt URI changes while a deployment on the host is being deployed or acted on (details.deployment_id)")))]
#[put("/hosts/{id}")]
pub async fn update_host(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    id: Identity,
    hid: web::Path<i64>,
    body: web::Json<api::HostFields>,
) -> Result<HttpResponse, AppError> {
    let before = owned(&state, &id, *hid, Role::Editor).await?;
    body.check()?;
    let mut tx = state.db.begin().await?;
    let team_hosts = hosts::lock_team_hosts(&mut tx, before.team_id).await?;
    check_distinct(&body, &team_hosts, Some(before.id))?;
    let was_uri = team_hosts
        .iter()
        .find(|h| h.id == before.id)
        .map_or(before.libvirt_uri.clone(), |h| h.libvirt_uri.clone());
    let after = match hosts::update(&mut tx, before.id, &body.fields()).await {
        Ok(h) => h,
        Err(e) if is_unique_violation(&e) => return Err(taken(&body.name)),
        Err(e) => return Err(e.into()),
    };
    // The deployments on the host follow its new URI (their status, failover, re-protect and
    // teardown reach it there), but not while one is being deployed or acted on. A deployment
    // made meanwhile reads the host share-locked, so it waits for this and gets the new URI.
    let mut followed = Vec::new();
    if after.libvirt_uri != was_uri {
        for d in deployments::on_host(&mut tx, after.id).await? {
            let doing = if ["queued", "running"].contains(&d.state.as_str()) {
                Some("is being deployed")
            } else if !deployments::try_action_lock_in(&mut tx, d.id).await? {
                Some("is running an action (failover, re-protect or teardown)")
            } else {
                None
            };
            if let Some(doing) = doing {
                return Err(AppError::Conflict {
                    message: format!(
                        "deployment {} of configuration {} on host {} {doing}; change the host's \
                         libvirt URI once it has ended",
                        d.id, d.configuration_id, before.name
                    ),
                    details: json!({ "deployment_id": d.id, "configuration_id": d.configuration_id }),
                });
            }
        }
        followed = deployments::follow_host_uri(&mut tx, after.id, &after.libvirt_uri).await?;
    }
    let mut e = ctx.stamp(NewEvent::new(
        Some(id.user_id),
        &id.user_name,
        Some(before.team_id),
        "host.update",
        AuditTarget::Host,
        Some(before.id.to_string()),
    ));
    e.target_name = Some(after.name.clone());
    e.before = Some(json!(api::Host::from(before)));
    let mut recorded = json!(api::Host::from(after.clone()));
    if !followed.is_empty() {
        recorded["deployments_following"] = json!(followed);
    }
    e.after = Some(recorded);
    super::commit_with_event(tx, &e).await?;
    Ok(HttpResponse::Ok().json(with_uses_one(&state, after).await?))
}

/// Deletes a host (admin); refused while an active deployment runs on it.
#[utoipa::path(tag = "hosts", responses((status = 200, body = schema::Deleted), (status = 409, description = "an active deployment runs on the host (details.deployment_id)")))]
#[delete("/hosts/{id}")]
pub async fn delete_host(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    id: Identity,
    hid: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let before = owned(&state, &id, *hid, Role::Admin).await?;
    let mut tx = state.db.begin().await?;
    // A pair running on it would lose the host its failover and re-protect name.
    hosts::lock(&mut tx, before.id).await?;
    if let Some(d) = deployments::active_on_host(&mut tx, before.id).await? {
        return Err(AppError::Conflict {
            message: format!(
                "host {} runs deployment {} ({}) of configuration {}; tear the deployment down, or re-protect it onto another host, before deleting the host",
                before.name, d.id, d.state, d.configuration_id
            ),
            details: json!({ "deployment_id": d.id, "configuration_id": d.configuration_id }),
        });
    }
    hosts::delete(&mut tx, before.id).await?;
    let mut e = ctx.stamp(NewEvent::new(
        Some(id.user_id),
        &id.user_name,
        Some(before.team_id),
        "host.delete",
        AuditTarget::Host,
        Some(before.id.to_string()),
    ));
    e.target_name = Some(before.name.clone());
    let id = before.id;
    e.before = Some(json!(api::Host::from(before)));
    super::commit_with_event(tx, &e).await?;
    Ok(HttpResponse::Ok().json(api::Deleted { id, deleted: true }))
}
