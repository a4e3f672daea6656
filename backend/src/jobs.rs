//! Deployment jobs: every server runs one worker that claims queued deployments from Postgres
//! (`FOR UPDATE SKIP LOCKED`, so several servers on one database share the work), carries each
//! out with the deploy engine in a blocking task, records every step as it happens, and
//! refreshes the job's heartbeat. A job whose server stopped answering (no heartbeat for
//! [`STALE_SECS`]) is claimed by any worker, which removes what it had created on both hosts and
//! ends it failed: a job is never left "running".
//!
//! Also here: the actions on a deployed pair (failover, re-protect, teardown), which run while
//! their request waits and are recorded the same way. This module joins `db` and `deploy`; neither knows the other.

use crate::audit::NewEvent;
use crate::db::deployments::{self, DeploymentRow, NewStep};
use crate::db::Db;
use crate::deploy::{self, Pair, StepRecord};
use anyhow::{anyhow, Context, Result};
use lockstep_shared::api::{AuditResult, AuditTarget};
use lockstep_shared::model::{Document, Side};
use lockstep_shared::render::Validated;
use std::time::Duration;
use tokio::sync::mpsc;

/// A running job's server refreshes its heartbeat this often.
const HEARTBEAT: Duration = Duration::from_secs(2);
/// A running job without a heartbeat for this long belongs to a server that stopped.
pub const STALE_SECS: f64 = 15.0;
/// How long an idle worker waits before asking for work again.
const IDLE: Duration = Duration::from_millis(250);

/// This server's name in `claimed_by`.
pub fn server_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{}:{}", host.trim(), std::process::id())
}

/// The worker: claims and runs jobs until the task is aborted.
pub async fn worker(db: Db) {
    let me = server_id();
    loop {
        match db.claim_deployment(&me, STALE_SECS).await {
            Ok(Some((d, stale))) => {
                let id = d.id;
                let out = if stale {
                    recover(&db, d).await
                } else {
                    run(&db, &me, d).await
                };
                if let Err(e) = out {
                    tracing::error!(deployment = id, error = %e, "deployment job");
                    let _ = end(
                        &db,
                        id,
                        "failed",
                        None,
                        Some(&format!("{e:#}")),
                        "deployment.failed",
                    )
                    .await;
                }
            }
            Ok(None) => tokio::time::sleep(IDLE).await,
            Err(e) => {
                tracing::warn!(error = %e, "claiming a deployment");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// The version's document, validated (only error-free versions are deployed).
pub async fn validated(db: &Db, d: &DeploymentRow) -> Result<Validated> {
    let v = db
        .version(d.configuration_id, d.version)
        .await?
        .ok_or_else(|| anyhow!("version {} is gone", d.version))?;
    deployable(v.document.get()).map_err(|e| anyhow!("version {}: {e}", d.version))
}

/// Why a stored version cannot be deployed.
#[derive(Debug)]
pub enum NotDeployable {
    /// This server cannot read the document (a newer schema, say).
    Unreadable(String),
    /// The document has errors: every finding.
    Errors(Vec<lockstep_shared::Finding>),
}

impl std::fmt::Display for NotDeployable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotDeployable::Unreadable(e) => write!(f, "cannot be read by this server: {e}"),
            NotDeployable::Errors(findings) => write!(
                f,
                "has {} error(s); fix them and save a version without errors to deploy",
                findings.iter().filter(|f| f.is_error()).count()
            ),
        }
    }
}

/// A stored document as the engine takes it: read and free of errors.
pub fn deployable(document: &str) -> std::result::Result<Validated, NotDeployable> {
    let doc =
        Document::from_json(document).map_err(|e| NotDeployable::Unreadable(e.to_string()))?;
    Validated::new(doc).map_err(NotDeployable::Errors)
}

fn new_step<'a>(run: &'a str, r: &'a StepRecord) -> NewStep<'a> {
    NewStep {
        run,
        n: r.n as i32,
        phase: &r.phase,
        side: r.side.as_str(),
        host: &r.host,
        command: &r.command,
        reply: &r.reply,
        micros: r.micros as i64,
        error: r.error.as_deref(),
        skipped: r.skipped,
    }
}

/// Runs blocking engine work with a step recorder: each step is written to Postgres as it
/// finishes (and the job's heartbeat kept while it runs, when `heartbeat` names the server).
pub async fn with_steps<T: Send + 'static>(
    db: &Db,
    id: i64,
    run: &'static str,
    heartbeat: Option<&str>,
    work: impl FnOnce(&mut dyn FnMut(&StepRecord)) -> T + Send + 'static,
) -> Result<T> {
    let (tx, mut rx) = mpsc::unbounded_channel::<StepRecord>();
    let task = tokio::task::spawn_blocking(move || {
        let mut send = |r: &StepRecord| {
            let _ = tx.send(r.clone());
        };
        work(&mut send)
    });
    let mut beat = tokio::time::interval(HEARTBEAT);
    loop {
        tokio::select! {
            r = rx.recv() => match r {
                Some(r) => db.add_deployment_step(id, &new_step(run, &r)).await?,
                None => break,
            },
            _ = beat.tick() => {
                if let Some(me) = heartbeat {
                    db.deployment_heartbeat(id, me).await?;
                }
            }
        }
    }
    task.await.context("the engine's task")
}

/// Ends a job (or an action) in `state`, with its audit event, in one transaction.
pub async fn end(
    db: &Db,
    id: i64,
    state: &str,
    active_side: Option<&str>,
    error: Option<&str>,
    action: &str,
) -> Result<DeploymentRow> {
    let mut tx = db.begin().await?;
    let d = deployments::set_state(&mut tx, id, state, active_side, error).await?;
    let e = job_event(
        &d,
        action,
        error.map_or(AuditResult::Ok, |_| AuditResult::Failed),
    );
    crate::db::audit::append(&mut tx, &e).await?;
    tx.commit().await?;
    Ok(d)
}

/// The audit event of something a job did (the actor is who asked for the deployment).
fn job_event(d: &DeploymentRow, action: &str, result: AuditResult) -> NewEvent {
    let mut e = NewEvent::new(
        d.created_by,
        &d.created_by_name,
        Some(d.team_id),
        action,
        AuditTarget::Deployment,
        Some(d.id.to_string()),
    );
    e.after = Some(serde_json::json!(lockstep_shared::api::Deployment::from(
        d.clone()
    )));
    e.source = Some("deploy worker".to_owned());
    e.set_result(result);
    e
}

async fn run(db: &Db, me: &str, d: DeploymentRow) -> Result<()> {
    let v = validated(db, &d).await?;
    let (p, s) = (d.primary_uri.clone(), d.secondary_uri.clone());
    let out = with_steps(db, d.id, "deploy", Some(me), move |progress| {
        let mut pair = Pair::open(&p, &s).map_err(|e| e.to_string())?;
        deploy::deploy(&v, &mut pair, progress).map_err(|e| e.to_string())
    })
    .await?;
    match out {
        Ok(()) => {
            // The plan ends only once both sides run in COLO.
            db.observe_status(d.id, "Protected").await?;
            end(db, d.id, "protected", None, None, "deployment.protected").await?
        }
        Err(e) => end(db, d.id, "failed", None, Some(&e), "deployment.failed").await?,
    };
    Ok(())
}

/// A job whose server stopped: remove what it created on both hosts, then end it failed.
async fn recover(db: &Db, d: DeploymentRow) -> Result<()> {
    let v = validated(db, &d).await?;
    let (p, s) = (d.primary_uri.clone(), d.secondary_uri.clone());
    let said = tokio::task::spawn_blocking(move || {
        let mut pair = Pair::open(&p, &s).map_err(|e| e.to_string())?;
        Ok::<_, String>(deploy::teardown(&v, &mut pair))
    })
    .await?;
    let mut why = "the server carrying out this deployment stopped before it finished".to_owned();
    match said {
        Ok(results) => {
            let failed: Vec<String> = results.into_iter().filter_map(|r| r.err()).collect();
            if failed.is_empty() {
                why.push_str("; what it had created was removed from both hosts");
            } else {
                why.push_str(&format!(
                    "; removing what it created failed: {}",
                    failed.join("; ")
                ));
            }
        }
        Err(e) => why.push_str(&format!(
            "; the hosts could not be reached to clean up: {e}"
        )),
    }
    end(db, d.id, "failed", None, Some(&why), "deployment.failed").await?;
    Ok(())
}

/// Which side a failover action hands the guest to.
pub fn failover_target(action: &str) -> Option<Side> {
    match action {
        "failover-to-secondary" => Some(Side::Secondary),
        "failover-to-primary" => Some(Side::Primary),
        _ => None,
    }
}
