//! Deployments: preflight, deploy a version to two registered hosts, list and read them with
//! their steps, the pair's live protection status, and the actions on a deployed pair
//! (failover either way, re-protect, teardown). Deployers and admins act; viewers read. The
//! deploy itself is a job the servers' workers claim (`crate::jobs`); an action runs while its
//! request waits, one at a time per deployment (its action lock), in a task of its own.

use super::errors::AppError;
use super::openapi::schema;
use super::{AppState, RequestCtx};
use crate::audit::NewEvent;
use crate::auth::{Identity, Role};
use crate::db::configs;
use crate::db::deployments::{self, ActionLock, DeploymentRow, NewDeployment};
use crate::db::hosts::{self, HostRow};
use crate::deploy::{self, Pair};
use crate::jobs;
use actix_web::{get, post, web, HttpResponse};
use lockstep_shared::api;
use lockstep_shared::api::{AuditResult, AuditTarget};
use lockstep_shared::model::Side;
use lockstep_shared::render::Validated;
use serde_json::{json, Value};

async fn host(state: &AppState, team_id: i64, hid: i64) -> Result<HostRow, AppError> {
    match state.db.host(hid).await? {
        Some(h) if h.team_id == team_id => Ok(h),
        _ => Err(no_host(hid)),
    }
}

fn no_host(hid: i64) -> AppError {
    AppError::BadRequest {
        code: "bad_host",
        message: format!("the team has no host {hid}; register the host first"),
        details: json!({ "host_id": hid }),
    }
}

fn archived(cid: i64) -> AppError {
    AppError::Conflict {
        message: format!("configuration {cid} is archived; it cannot be deployed"),
        details: Value::Null,
    }
}

/// The configuration (caller has `role` in its team), the version's validated document and
/// the two hosts.
async fn target(
    state: &AppState,
    id: &Identity,
    cid: i64,
    body: &api::DeployRequest,
    role: Role,
) -> Result<(crate::db::configs::ConfigRow, Validated, HostRow, HostRow), AppError> {
    let cfg = super::configs::owned(state, id, cid, role).await?;
    if cfg.archived_at.is_some() {
        return Err(archived(cid));
    }
    let v = state.db.version(cid, body.version).await?.ok_or_else(|| {
        AppError::NotFound(format!("version {} of configuration {cid}", body.version))
    })?;
    let validated = jobs::deployable(v.document.get()).map_err(|e| AppError::BadRequest {
        code: "not_deployable",
        message: format!("version {} {e}", body.version),
        details: match &e {
            jobs::NotDeployable::Errors(findings) => json!({ "findings": findings }),
            jobs::NotDeployable::Unreadable(_) => Value::Null,
        },
    })?;
    if body.primary_host_id == body.secondary_host_id {
        return Err(AppError::BadRequest {
            code: "bad_host",
            message: "the primary and the secondary must be two different hosts".to_owned(),
            details: json!({ "host_id": body.primary_host_id }),
        });
    }
    let p = host(state, cfg.team_id, body.primary_host_id).await?;
    let s = host(state, cfg.team_id, body.secondary_host_id).await?;
    for (side, h) in [(Side::Primary, &p), (Side::Secondary, &s)] {
        same_address(&validated, side, h, body.version)?;
    }
    Ok((cfg, validated, p, s))
}

/// Refuses a host whose registered replication address is not the one the version's document
/// gives that side: QEMU would replicate to the document's address, not to the host picked.
fn same_address(v: &Validated, side: Side, h: &HostRow, version: i32) -> Result<(), AppError> {
    let named = match side {
        Side::Primary => &v.doc().hosts.primary,
        Side::Secondary => &v.doc().hosts.secondary,
    };
    if lockstep_shared::validate::hosts::same_address(&named.address, &h.address) {
        return Ok(());
    }
    Err(AppError::BadRequest {
        code: "bad_host",
        message: format!(
            "version {version} gives the {side} replication address {}, host {} is registered \
             at {}; pick the host registered at {}, or set the {side} host to {} in the \
             configuration and save",
            named.address,
            h.name,
            h.address,
            named.address,
            h.name,
            side = side.as_str(),
        ),
        details: json!({ "host_id": h.id, "side": side.as_str(), "version": version,
            "document_address": named.address, "registered_address": h.address }),
    })
}

fn checks(list: Vec<deploy::Check>) -> api::Preflight {
    let checks: Vec<api::PreflightCheck> = list
        .into_iter()
        .map(|c| api::PreflightCheck {
            side: c.side.map(|s| s.as_str().to_owned()),
            host: c.host,
            what: c.what,
            ok: c.ok,
            detail: c.detail,
        })
        .collect();
    api::Preflight {
        ok: checks.iter().all(|c| c.ok),
        checks,
    }
}

/// A re-protect onto another registered host: the side (as the document names it) whose host
/// is replaced, the host, and the version whose document names it.
struct Replacement {
    side: Side,
    host: HostRow,
    version: i32,
    v: Validated,
}

/// The document without one side's host and without the layout: what must stay the same when a
/// lost host is replaced.
fn without_host(doc: &lockstep_shared::Document, side: Side) -> Value {
    let mut v = json!(doc);
    if let Some(hosts) = v.get_mut("hosts").and_then(Value::as_object_mut) {
        hosts.remove(side.as_str());
    }
    if let Some(o) = v.as_object_mut() {
        o.remove("layout");
    }
    v
}

/// Checks a `reprotect` onto another host (`host_id`, `version`) against the deployment.
async fn replacement(
    state: &AppState,
    lock: &mut ActionLock,
    d: &DeploymentRow,
    deployed: &Validated,
    body: &api::DeploymentAction,
) -> Result<Option<Replacement>, AppError> {
    let Some(hid) = body.host_id else {
        return Ok(None);
    };
    let bad = |message: String, details: Value| AppError::BadRequest {
        code: "bad_host",
        message,
        details,
    };
    if body.action != "reprotect" {
        return Err(bad(
            "host_id is for reprotect: the host that replaces a lost one".to_owned(),
            json!({ "action": body.action }),
        ));
    }
    // The survivor, as the document names the sides (the roles may be swapped).
    let running = match d.active_side.as_deref() {
        Some("secondary") => Side::Secondary,
        _ => Side::Primary,
    };
    let survivor = if d.roles_swapped {
        running.other()
    } else {
        running
    };
    let side = survivor.other();
    // Share-locked until the action ends: the new host is not deleted or edited meanwhile.
    let host = match lock.share_host(hid).await? {
        Some(h) if h.team_id == d.team_id => h,
        _ => return Err(no_host(hid)),
    };
    let survivor_uri = match survivor {
        Side::Primary => &d.primary_uri,
        Side::Secondary => &d.secondary_uri,
    };
    if &host.libvirt_uri == survivor_uri {
        return Err(bad(
            format!(
                "host {} runs the survivor; the fresh secondary needs another host",
                host.name
            ),
            json!({ "host_id": hid }),
        ));
    }
    let version = body.version.unwrap_or(d.version);
    let row = state
        .db
        .version(d.configuration_id, version)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("version {version} of the configuration")))?;
    let v = jobs::deployable(row.document.get()).map_err(|e| AppError::BadRequest {
        code: "not_deployable",
        message: format!("version {version} {e}"),
        details: Value::Null,
    })?;
    if without_host(v.doc(), side) != without_host(deployed.doc(), side) {
        return Err(AppError::Conflict {
            message: format!(
                "version {version} changes more than the {} host of the deployed version {}; the \
                 survivor runs version {}'s disks and devices, so only the lost host may change",
                side.as_str(),
                d.version,
                d.version
            ),
            details: json!({ "version": version }),
        });
    }
    same_address(&v, side, &host, version)?;
    Ok(Some(Replacement {
        side,
        host,
        version,
        v,
    }))
}

/// Checks both hosts for deploying this version there, changing nothing (deployer).
#[utoipa::path(tag = "deployments", request_body = schema::DeployRequest, responses((status = 200, body = schema::Preflight)))]
#[post("/configurations/{id}/preflight")]
pub async fn preflight_deployment(
    state: web::Data<AppState>,
    id: Identity,
    cid: web::Path<i64>,
    body: web::Json<api::DeployRequest>,
) -> Result<HttpResponse, AppError> {
    let (_, v, p, s) = target(&state, &id, *cid, &body, Role::Deployer).await?;
    let list = web::block(move || match Pair::open(&p.libvirt_uri, &s.libvirt_uri) {
        Ok(mut pair) => deploy::preflight(&v, &mut pair),
        Err(e) => vec![deploy::Check {
            side: None,
            host: format!("{} / {}", p.libvirt_uri, s.libvirt_uri),
            what: "reachable".to_owned(),
            ok: false,
            detail: format!("{e}; check that libvirtd runs there and the URI is right"),
        }],
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(HttpResponse::Ok().json(checks(list)))
}

/// Deploys an error-free version to two of the team's hosts (deployer): answers at once with
/// the queued deployment; a server's worker carries it out (follow it with the deployment's
/// steps and status). One active deployment per configuration.
#[utoipa::path(tag = "deployments", request_body = schema::DeployRequest, responses((status = 202, body = schema::Deployment), (status = 409, description = "the configuration already has an active deployment, is archived, or a teardown of its failed deployment is running")))]
#[post("/configurations/{id}/deployments")]
pub async fn create_deployment(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    id: Identity,
    cid: web::Path<i64>,
    body: web::Json<api::DeployRequest>,
) -> Result<HttpResponse, AppError> {
    let (cfg, v, p, s) = target(&state, &id, *cid, &body, Role::Deployer).await?;
    let mut tx = state.db.begin().await?;
    // Archived since `target` read it? (Archiving takes the same lock.)
    if configs::lock(&mut tx, cfg.id).await? != Some(false) {
        return Err(archived(cfg.id));
    }
    // Not while a teardown removes what a failed deployment of this configuration left on
    // the hosts: it would remove this one's guest too (same name, same hosts). Its action
    // lock is taken until this commits, so a cleanup asked meanwhile sees this deployment.
    for f in deployments::failed(&mut tx, cfg.id).await? {
        if !deployments::try_action_lock_in(&mut tx, f).await? {
            return Err(AppError::Conflict {
                message: format!(
                    "a teardown of failed deployment {f} of configuration {} is removing what \
                     it left on the hosts; deploy once it has ended",
                    cfg.id
                ),
                details: json!({ "deployment_id": f }),
            });
        }
    }
    // The hosts as they are now, share-locked: an edit of one waits for this deployment (and
    // then gives it the new URI), one made since `target` read them is what is used here.
    let now = hosts::share(&mut tx, &[p.id, s.id]).await?;
    let fresh = |h: HostRow| {
        now.iter()
            .find(|n| n.id == h.id)
            .cloned()
            .ok_or_else(|| no_host(h.id))
    };
    let (p, s) = (fresh(p)?, fresh(s)?);
    for (side, h) in [(Side::Primary, &p), (Side::Secondary, &s)] {
        same_address(&v, side, h, body.version)?;
    }
    let created = deployments::create(
        &mut tx,
        &NewDeployment {
            team_id: cfg.team_id,
            configuration_id: cfg.id,
            version: body.version,
            primary_host_id: p.id,
            secondary_host_id: s.id,
            primary_uri: &p.libvirt_uri,
            secondary_uri: &s.libvirt_uri,
            created_by: id.user_id,
            created_by_name: &id.user_name,
        },
    )
    .await?;
    let Some(d) = created else {
        let active = deployments::active(&mut tx, cfg.id).await?;
        return Err(AppError::Conflict {
            message: format!(
                "configuration {} already has an active deployment{}; tear it down first",
                cfg.id,
                active
                    .as_ref()
                    .map(|d| format!(" ({}, {})", d.id, d.state))
                    .unwrap_or_default()
            ),
            details: json!({ "deployment_id": active.map(|d| d.id) }),
        });
    };
    let mut e = ctx.stamp(NewEvent::new(
        Some(id.user_id),
        &id.user_name,
        Some(cfg.team_id),
        "deployment.create",
        AuditTarget::Deployment,
        Some(d.id.to_string()),
    ));
    e.target_name = Some(cfg.name.clone());
    let d = api::Deployment::from(d);
    e.after = Some(json!(d));
    super::commit_with_event(tx, &e).await?;
    Ok(HttpResponse::Accepted().json(d))
}

/// A configuration's deployments, newest first (viewer).
#[utoipa::path(tag = "deployments", responses((status = 200, body = schema::DeploymentList)))]
#[get("/configurations/{id}/deployments")]
pub async fn list_deployments(
    state: web::Data<AppState>,
    id: Identity,
    cid: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let cfg = super::configs::owned(&state, &id, *cid, Role::Viewer).await?;
    Ok(HttpResponse::Ok().json(api::DeploymentList {
        deployments: state
            .db
            .deployments(cfg.id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    }))
}

async fn owned(
    state: &AppState,
    id: &Identity,
    did: i64,
    role: Role,
) -> Result<DeploymentRow, AppError> {
    let what = || format!("deployment {did}");
    let d = state
        .db
        .deployment(did)
        .await?
        .ok_or_else(|| AppError::NotFound(what()))?;
    id.require_in(d.team_id, role, what)?;
    Ok(d)
}

/// One deployment with every step it and its actions ran (viewer).
#[utoipa::path(tag = "deployments", responses((status = 200, body = schema::Deployment)))]
#[get("/deployments/{id}")]
pub async fn get_deployment(
    state: web::Data<AppState>,
    id: Identity,
    did: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let d = owned(&state, &id, *did, Role::Viewer).await?;
    let steps = state.db.deployment_steps(d.id, 0).await?;
    let mut d = api::Deployment::from(d);
    d.steps = steps.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(d))
}

/// The pair's protection, read from both hosts now (viewer).
#[utoipa::path(tag = "deployments", responses((status = 200, body = schema::ProtectionStatus)))]
#[get("/deployments/{id}/status")]
pub async fn deployment_status(
    state: web::Data<AppState>,
    id: Identity,
    did: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let d = owned(&state, &id, *did, Role::Viewer).await?;
    let v = jobs::validated(&state.db, &d).await?;
    let (p, s) = (d.primary_uri.clone(), d.secondary_uri.clone());
    let st = web::block(move || {
        let mut pair = Pair::open(&p, &s)?;
        Ok::<_, deploy::host::HostError>(deploy::status(&v, &mut pair))
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let st = match st {
        Ok(st) => st,
        Err(e) => deploy::Status {
            protected: false,
            reason: Some(deploy::Reason::LostConnection),
            primary: api::SideStatus {
                domain: format!("unreachable: {e}"),
                ..Default::default()
            },
            secondary: api::SideStatus {
                domain: format!("unreachable: {e}"),
                ..Default::default()
            },
            swapped: d.roles_swapped,
            detail: None,
        },
    };
    let since = state.db.observe_status(d.id, &st.line()).await?;
    Ok(HttpResponse::Ok().json(api::ProtectionStatus {
        deployment_id: d.id,
        protected: st.protected,
        reason: st.reason.map(|r| r.words().to_owned()),
        summary: st.line(),
        primary: st.primary,
        secondary: st.secondary,
        roles_swapped: st.swapped,
        detail: st.detail,
        checked_at: chrono::Utc::now().into(),
        since: Some(since.into()),
    }))
}

/// Runs an action on a deployed pair (deployer): `failover-to-secondary`,
/// `failover-to-primary` (refused while the side being left still answers, unless `force`)
/// `reprotect` (after a failover: a fresh secondary on the lost host, or with `host_id` and
/// `version` on another registered host, protected again; after a failover to the secondary the
/// roles swap), or
/// `teardown` (also of a failed deployment, to remove what its undo could not reach, while
/// no newer deployment of the configuration is active). Every step is recorded; the action and
/// its outcome are audited.
#[utoipa::path(tag = "deployments", request_body = schema::DeploymentAction, responses((status = 200, body = schema::Deployment), (status = 409, description = "the action is not possible now: the side being left still answers, the pair is not deployed, or another action on it is running")))]
#[post("/deployments/{id}/actions")]
pub async fn deployment_action(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    id: Identity,
    did: web::Path<i64>,
    body: web::Json<api::DeploymentAction>,
) -> Result<HttpResponse, AppError> {
    let d = owned(&state, &id, *did, Role::Deployer).await?;
    let action = body.action.clone();
    let run: &'static str = match action.as_str() {
        "failover-to-secondary" => "failover-to-secondary",
        "failover-to-primary" => "failover-to-primary",
        "teardown" => "teardown",
        "reprotect" => "reprotect",
        other => {
            return Err(AppError::BadRequest {
                code: "bad_action",
                message: format!(
                "unknown action {other:?}: failover-to-secondary, failover-to-primary, reprotect or teardown"
            ),
                details: Value::Null,
            })
        }
    };
    // One action on a pair at a time, across servers: two operators failing over to opposite
    // sides at once would leave two guests running.
    let Some(mut lock) = state.db.try_action_lock(d.id).await? else {
        return Err(AppError::Conflict {
            message: format!(
                "another action on deployment {} is running; wait for it to end and reload \
                 the deployment before acting (its state may have changed)",
                d.id
            ),
            details: json!({ "deployment_id": d.id, "busy": true }),
        });
    };
    // The action runs to its end, and is recorded, even if the caller goes away meanwhile:
    // the hosts change either way.
    let (did, body) = (d.id, body.into_inner());
    actix_web::rt::spawn(async move {
        let out = act(&state, &ctx, &id, did, &body, run, &mut lock).await;
        let _ = lock.release().await;
        out
    })
    .await
    .map_err(|e| anyhow::anyhow!("the action's task: {e}"))?
}

/// Runs action `run` on deployment `did` (its lock held).
async fn act(
    state: &AppState,
    ctx: &RequestCtx,
    id: &Identity,
    did: i64,
    body: &api::DeploymentAction,
    run: &'static str,
    lock: &mut ActionLock,
) -> Result<HttpResponse, AppError> {
    // The state now that no other action runs.
    let d = owned(state, id, did, Role::Deployer).await?;
    // A failed deploy whose undo could not reach a host may have left something there; a
    // teardown removes it once the host answers again, unless a newer deployment of the
    // configuration is active (it would be removed too: same guest, same hosts).
    let cleanup = run == "teardown" && d.state == "failed";
    if cleanup {
        // Under the configuration's lock, which creating a deployment takes before it checks
        // that no cleanup holds a failed deployment's action lock: either the new deployment
        // is seen here, or it is refused while this cleanup runs.
        let mut tx = state.db.begin().await?;
        configs::lock(&mut tx, d.configuration_id).await?;
        let active = deployments::active(&mut tx, d.configuration_id).await?;
        tx.commit().await.map_err(anyhow::Error::from)?;
        if let Some(a) = active {
            return Err(AppError::Conflict {
                message: format!(
                    "deployment {} of this configuration is active ({}); tear that one down instead",
                    a.id, a.state
                ),
                details: json!({ "deployment_id": a.id }),
            });
        }
    } else if !["protected", "failed-over"].contains(&d.state.as_str()) {
        return Err(AppError::Conflict {
            message: format!(
                "deployment {} is {}; {run} needs a deployed pair",
                d.id, d.state
            ),
            details: json!({ "state": d.state }),
        });
    }
    if run == "reprotect" && d.state != "failed-over" {
        return Err(AppError::Conflict {
            message: format!(
                "deployment {} is {}; re-protect follows a failover (to either side)",
                d.id, d.state
            ),
            details: json!({ "state": d.state, "active_side": d.active_side }),
        });
    }
    let v = jobs::validated(&state.db, &d).await?;
    let moved = replacement(state, lock, &d, &v, body).await?;
    let (mut p, mut s) = (d.primary_uri.clone(), d.secondary_uri.clone());
    let v = match &moved {
        Some(m) => {
            match m.side {
                Side::Primary => p = m.host.libvirt_uri.clone(),
                Side::Secondary => s = m.host.libvirt_uri.clone(),
            }
            m.v.clone()
        }
        None => v,
    };
    let force = body.force;
    let to = jobs::failover_target(run);
    let out = jobs::with_steps(&state.db, d.id, run, None, move |progress| {
        let mut pair = Pair::open(&p, &s).map_err(|e| (false, e.to_string()))?;
        let refused = |e: deploy::FailoverError| {
            (
                matches!(
                    e,
                    deploy::FailoverError::PeerAlive(_) | deploy::FailoverError::Refused(_)
                ),
                e.to_string(),
            )
        };
        match to {
            Some(side) => deploy::failover(&v, &mut pair, side, force, progress).map_err(refused),
            None if run == "reprotect" => {
                deploy::reprotect(&v, &mut pair, progress).map_err(refused)
            }
            None => {
                let failed: Vec<String> = deploy::teardown(&v, &mut pair)
                    .into_iter()
                    .filter_map(|r| r.err())
                    .collect();
                if failed.is_empty() {
                    Ok(())
                } else {
                    Err((false, failed.join("; ")))
                }
            }
        }
    })
    .await?;
    let audit = |result: AuditResult, after: Option<Value>| {
        let mut e = ctx.stamp(NewEvent::new(
            Some(id.user_id),
            &id.user_name,
            Some(d.team_id),
            &format!("deployment.{run}"),
            AuditTarget::Deployment,
            Some(d.id.to_string()),
        ));
        e.set_result(result);
        e.before = Some(json!({ "state": d.state, "force": force }));
        e.after = after;
        e
    };
    match out {
        Ok(()) => {
            let (state_after, side) = match to {
                Some(Side::Secondary) => ("failed-over", Some("secondary")),
                Some(Side::Primary) => ("failed-over", Some("primary")),
                None if run == "reprotect" => ("protected", None),
                None => ("torn-down", None),
            };
            let mut tx = state.db.begin().await?;
            // A re-protect after a failover to the secondary swaps the roles.
            if run == "reprotect" && d.active_side.as_deref() == Some("secondary") {
                deployments::swap_roles(&mut tx, d.id).await?;
            }
            if let Some(m) = &moved {
                deployments::replace_host(
                    &mut tx,
                    d.id,
                    m.side.as_str(),
                    m.host.id,
                    &m.host.libvirt_uri,
                    m.version,
                )
                .await?;
            }
            let row = deployments::set_state(&mut tx, d.id, state_after, side, None).await?;
            let after = api::Deployment::from(row);
            super::commit_with_event(tx, &audit(AuditResult::Ok, Some(json!(after)))).await?;
            if let Some(m) = &moved {
                // The replaced host: remove what the guest left there, if it answers (after
                // the commit: a lost host may take long to refuse).
                let old = match m.side {
                    Side::Primary => d.primary_uri.clone(),
                    Side::Secondary => d.secondary_uri.clone(),
                };
                let v = m.v.clone();
                let said = web::block(move || deploy::forget_host(&v, &old))
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let mut e = ctx.stamp(NewEvent::new(
                    Some(id.user_id),
                    &id.user_name,
                    Some(d.team_id),
                    "deployment.forget-host",
                    AuditTarget::Deployment,
                    Some(d.id.to_string()),
                ));
                e.set_result(if said.iter().all(Result::is_ok) {
                    AuditResult::Ok
                } else {
                    AuditResult::Partial
                });
                e.after = Some(json!(said
                    .into_iter()
                    .map(|r| r.unwrap_or_else(|e| format!("not removed: {e}")))
                    .collect::<Vec<_>>()));
                let tx = state.db.begin().await?;
                super::commit_with_event(tx, &e).await?;
            }
            Ok(HttpResponse::Ok().json(after))
        }
        Err((refused, why)) => {
            let tx = state.db.begin().await?;
            let result = if refused {
                AuditResult::Refused
            } else {
                AuditResult::Failed
            };
            super::commit_with_event(tx, &audit(result, Some(json!({ "error": why })))).await?;
            Err(AppError::Conflict {
                message: why,
                details: json!({ "action": run, "refused": refused }),
            })
        }
    }
}

/// An event stream fed by a channel.
struct Events(tokio::sync::mpsc::Receiver<web::Bytes>);

impl futures_core::Stream for Events {
    type Item = Result<web::Bytes, actix_web::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|b| b.map(Ok))
    }
}

fn sse(event: &str, data: &impl serde::Serialize) -> web::Bytes {
    web::Bytes::from(format!(
        "event: {event}\ndata: {}\n\n",
        serde_json::to_string(data).unwrap_or_default()
    ))
}

/// Follows a deployment as server-sent events (viewer): a `step` event per recorded step (the
/// steps so far first), a `state` event with the deployment whenever its state changes; the
/// stream ends once the deployment is no longer queued or running.
#[utoipa::path(tag = "deployments", responses((status = 200, content_type = "text/event-stream", description = "`step` events (DeploymentStep) and `state` events (Deployment)")))]
#[get("/deployments/{id}/events")]
pub async fn deployment_events(
    state: web::Data<AppState>,
    id: Identity,
    did: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let d = owned(&state, &id, *did, Role::Viewer).await?;
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let db = state.db.clone();
    actix_web::rt::spawn(async move {
        let (mut seq, mut last) = (0, String::new());
        loop {
            let Ok(steps) = db.deployment_steps(d.id, seq).await else {
                return;
            };
            for s in steps {
                seq = s.seq;
                if tx
                    .send(sse("step", &api::DeploymentStep::from(s)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            let Ok(Some(now)) = db.deployment(d.id).await else {
                return;
            };
            let running = ["queued", "running"].contains(&now.state.as_str());
            if now.state != last {
                last = now.state.clone();
                if tx
                    .send(sse("state", &api::Deployment::from(now)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            if !running {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(Events(rx)))
}
