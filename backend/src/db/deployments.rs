//! Deployments (jobs claimed by servers) and the steps they ran (migration 0013).

use super::{Db, Tx};
use anyhow::Result;
use chrono::{DateTime, Utc};
use lockstep_shared::api;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeploymentRow {
    pub id: i64,
    pub team_id: i64,
    pub configuration_id: i64,
    pub version: i32,
    pub primary_host_id: Option<i64>,
    pub secondary_host_id: Option<i64>,
    pub primary_uri: String,
    pub secondary_uri: String,
    pub state: String,
    pub active_side: Option<String>,
    pub roles_swapped: bool,
    pub error: Option<String>,
    pub created_by: Option<i64>,
    pub created_by_name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<DeploymentRow> for api::Deployment {
    fn from(d: DeploymentRow) -> api::Deployment {
        api::Deployment {
            id: d.id,
            configuration_id: d.configuration_id,
            version: d.version,
            primary_host_id: d.primary_host_id,
            secondary_host_id: d.secondary_host_id,
            primary_uri: d.primary_uri,
            secondary_uri: d.secondary_uri,
            state: d.state,
            active_side: d.active_side,
            roles_swapped: d.roles_swapped,
            error: d.error,
            created_by: d.created_by_name,
            created_at: d.created_at.into(),
            updated_at: d.updated_at.into(),
            finished_at: d.finished_at.map(Into::into),
            steps: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StepRow {
    pub seq: i32,
    pub run: String,
    pub n: i32,
    pub phase: String,
    pub side: String,
    pub host: String,
    pub command: String,
    pub reply: String,
    pub micros: i64,
    pub error: Option<String>,
    pub skipped: bool,
    pub at: DateTime<Utc>,
}

impl From<StepRow> for api::DeploymentStep {
    fn from(s: StepRow) -> api::DeploymentStep {
        api::DeploymentStep {
            seq: s.seq,
            run: s.run,
            n: s.n,
            phase: s.phase,
            side: s.side,
            host: s.host,
            command: s.command,
            reply: s.reply,
            micros: s.micros,
            error: s.error,
            skipped: s.skipped,
            at: s.at.into(),
        }
    }
}

/// A step to record (from `deploy::StepRecord`).
pub struct NewStep<'a> {
    pub run: &'a str,
    pub n: i32,
    pub phase: &'a str,
    pub side: &'a str,
    pub host: &'a str,
    pub command: &'a str,
    pub reply: &'a str,
    pub micros: i64,
    pub error: Option<&'a str>,
    pub skipped: bool,
}

pub struct NewDeployment<'a> {
    pub team_id: i64,
    pub configuration_id: i64,
    pub version: i32,
    pub primary_host_id: i64,
    pub secondary_host_id: i64,
    pub primary_uri: &'a str,
    pub secondary_uri: &'a str,
    pub created_by: i64,
    pub created_by_name: &'a str,
}

const COLUMNS: &str = "id, team_id, configuration_id, version, primary_host_id, \
    secondary_host_id, primary_uri, secondary_uri, state, active_side, roles_swapped, error, \
    created_by, created_by_name, created_at, updated_at, finished_at";

/// States in which a deployment is the configuration's active one (migration 0013's index).
pub const ACTIVE: [&str; 4] = ["queued", "running", "protected", "failed-over"];

/// Queues a deployment; `Ok(None)` when the configuration already has an active one.
pub async fn create(tx: &mut Tx<'_>, d: &NewDeployment<'_>) -> Result<Option<DeploymentRow>> {
    Ok(sqlx::query_as(&format!(
        "INSERT INTO deployments (team_id, configuration_id, version, primary_host_id, \
         secondary_host_id, primary_uri, secondary_uri, state, created_by, created_by_name) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', $8, $9) \
         ON CONFLICT (configuration_id) \
         WHERE state IN ('queued', 'running', 'protected', 'failed-over') DO NOTHING \
         RETURNING {COLUMNS}"
    ))
    .bind(d.team_id)
    .bind(d.configuration_id)
    .bind(d.version)
    .bind(d.primary_host_id)
    .bind(d.secondary_host_id)
    .bind(d.primary_uri)
    .bind(d.secondary_uri)
    .bind(d.created_by)
    .bind(d.created_by_name)
    .fetch_optional(&mut **tx)
    .await?)
}

/// Sets a deployment's state, the side running the guest alone (none while protected) and the
/// error; `finished_at` is set when the state ends the deployment.
pub async fn set_state(
    tx: &mut Tx<'_>,
    id: i64,
    state: &str,
    active_side: Option<&str>,
    error: Option<&str>,
) -> Result<DeploymentRow> {
    Ok(sqlx::query_as(&format!(
        "UPDATE deployments SET state = $2, active_side = $3, \
         error = $4, updated_at = now(), \
         finished_at = CASE WHEN $2 IN ('failed', 'torn-down') THEN now() ELSE finished_at END \
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(state)
    .bind(active_side)
    .bind(error)
    .fetch_one(&mut **tx)
    .await?)
}

/// Moves one side of a deployment (`primary` or `secondary` as the document names them) to
/// another registered host, with the version whose document names it.
pub async fn replace_host(
    tx: &mut Tx<'_>,
    id: i64,
    side: &str,
    host_id: i64,
    uri: &str,
    version: i32,
) -> Result<()> {
    let sql = if side == "primary" {
        "UPDATE deployments SET primary_host_id = $2, primary_uri = $3, version = $4 WHERE id = $1"
    } else {
        "UPDATE deployments SET secondary_host_id = $2, secondary_uri = $3, version = $4 \
         WHERE id = $1"
    };
    sqlx::query(sql)
        .bind(id)
        .bind(host_id)
        .bind(uri)
        .bind(version)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Records that the pair's roles swapped (a re-protect after a failover to the secondary).
pub async fn swap_roles(tx: &mut Tx<'_>, id: i64) -> Result<()> {
    sqlx::query("UPDATE deployments SET roles_swapped = NOT roles_swapped WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The configuration's active deployment, if it has one.
pub async fn active(tx: &mut Tx<'_>, configuration_id: i64) -> Result<Option<DeploymentRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM deployments WHERE configuration_id = $1 AND state = ANY($2)"
    ))
    .bind(configuration_id)
    .bind(&ACTIVE[..])
    .fetch_optional(&mut **tx)
    .await?)
}

/// The ids of the configuration's failed deployments (what they left on the hosts may be
/// being removed).
pub async fn failed(tx: &mut Tx<'_>, configuration_id: i64) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM deployments WHERE configuration_id = $1 AND state = 'failed' ORDER BY id",
    )
    .bind(configuration_id)
    .fetch_all(&mut **tx)
    .await?)
}

/// An active deployment that runs on the host, if there is one.
pub async fn active_on_host(tx: &mut Tx<'_>, host_id: i64) -> Result<Option<DeploymentRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM deployments WHERE $1 IN (primary_host_id, secondary_host_id) \
         AND state = ANY($2) ORDER BY id LIMIT 1"
    ))
    .bind(host_id)
    .bind(&ACTIVE[..])
    .fetch_optional(&mut **tx)
    .await?)
}

/// The deployments that keep host `host_id`'s libvirt URI (all but torn-down ones).
pub async fn on_host(tx: &mut Tx<'_>, host_id: i64) -> Result<Vec<DeploymentRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM deployments WHERE $1 IN (primary_host_id, secondary_host_id) \
         AND state <> 'torn-down' ORDER BY id"
    ))
    .bind(host_id)
    .fetch_all(&mut **tx)
    .await?)
}

/// Gives host `host_id`'s new libvirt URI to the sides it runs in deployments that are not
/// torn down; the ids of those deployments.
pub async fn follow_host_uri(tx: &mut Tx<'_>, host_id: i64, uri: &str) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "UPDATE deployments SET \
         primary_uri = CASE WHEN primary_host_id = $1 THEN $2 ELSE primary_uri END, \
         secondary_uri = CASE WHEN secondary_host_id = $1 THEN $2 ELSE secondary_uri END, \
         updated_at = now() \
         WHERE $1 IN (primary_host_id, secondary_host_id) AND state <> 'torn-down' \
         RETURNING id",
    )
    .bind(host_id)
    .bind(uri)
    .fetch_all(&mut **tx)
    .await?)
}

/// The advisory-lock keys of actions on deployments: this prefix in the top 16 bits, the
/// deployment's id below (sqlx's migration lock and any other user of advisory locks keep
/// clear of it).
const ACTION_LOCK_PREFIX: i64 = 0x4c53 << 48;

/// Held while an action (failover, re-protect, teardown) runs on a deployment: an open
/// transaction holding the deployment's advisory lock. [`ActionLock::release`] ends it; a
/// dropped lock rolls back when its connection goes back to the pool, and a server that dies
/// frees it with its connection, so a lock never outlives its holder.
pub struct ActionLock(Tx<'static>);

impl ActionLock {
    /// Reads host `id` and share-locks it until the action ends: deleting or editing it waits
    /// for the action (and then sees what the action recorded).
    pub async fn share_host(&mut self, id: i64) -> Result<Option<super::hosts::HostRow>> {
        Ok(super::hosts::share(&mut self.0, &[id]).await?.pop())
    }

    pub async fn release(self) -> Result<()> {
        Ok(self.0.rollback().await?)
    }
}

/// Takes deployment `id`'s action lock for transaction `tx` (until it ends): `false` while
/// another transaction holds it (an action, on this server or another).
pub async fn try_action_lock_in(tx: &mut Tx<'_>, id: i64) -> Result<bool> {
    Ok(sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(ACTION_LOCK_PREFIX | (id & ((1 << 48) - 1)))
        .fetch_one(&mut **tx)
        .await?)
}

impl Db {
    /// Takes deployment `id`'s action lock in a transaction of its own; `None` while another
    /// holds it.
    pub async fn try_action_lock(&self, id: i64) -> Result<Option<ActionLock>> {
        let mut tx = self.begin().await?;
        let got = try_action_lock_in(&mut tx, id).await?;
        Ok(got.then_some(ActionLock(tx)))
    }

    /// Claims the oldest queued deployment for server `by`, or a running one whose server has
    /// not been heard from for `stale_secs` (its server died): `(row, was_stale)`. Several
    /// servers can ask at once; each job goes to one (`FOR UPDATE SKIP LOCKED`).
    pub async fn claim_deployment(
        &self,
        by: &str,
        stale_secs: f64,
    ) -> Result<Option<(DeploymentRow, bool)>> {
        let stale: Option<DeploymentRow> = sqlx::query_as(&format!(
            "UPDATE deployments SET claimed_by = $1, heartbeat_at = now() WHERE id = ( \
             SELECT id FROM deployments WHERE state = 'running' \
             AND heartbeat_at < now() - make_interval(secs => $2) \
             ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING {COLUMNS}"
        ))
        .bind(by)
        .bind(stale_secs)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(d) = stale {
            return Ok(Some((d, true)));
        }
        let queued: Option<DeploymentRow> = sqlx::query_as(&format!(
            "UPDATE deployments SET state = 'running', claimed_by = $1, heartbeat_at = now(), \
             updated_at = now() WHERE id = ( \
             SELECT id FROM deployments WHERE state = 'queued' \
             ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING {COLUMNS}"
        ))
        .bind(by)
        .fetch_optional(&self.pool)
        .await?;
        Ok(queued.map(|d| (d, false)))
    }

    /// The claiming server is alive and still on it.
    pub async fn deployment_heartbeat(&self, id: i64, by: &str) -> Result<()> {
        sqlx::query(
            "UPDATE deployments SET heartbeat_at = now() WHERE id = $1 AND claimed_by = $2",
        )
        .bind(id)
        .bind(by)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records one step (numbered after the deployment's last one).
    pub async fn add_deployment_step(&self, id: i64, s: &NewStep<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO deployment_steps (deployment_id, seq, run, n, phase, side, host, \
             command, reply, micros, error, skipped) \
             SELECT $1, coalesce(max(seq), 0) + 1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 \
             FROM deployment_steps WHERE deployment_id = $1",
        )
        .bind(id)
        .bind(s.run)
        .bind(s.n)
        .bind(s.phase)
        .bind(s.side)
        .bind(s.host)
        .bind(s.command)
        .bind(s.reply)
        .bind(s.micros)
        .bind(s.error)
        .bind(s.skipped)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn deployment(&self, id: i64) -> Result<Option<DeploymentRow>> {
        Ok(
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM deployments WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Steps after `after_seq`, in order.
    pub async fn deployment_steps(&self, id: i64, after_seq: i32) -> Result<Vec<StepRow>> {
        Ok(sqlx::query_as(
            "SELECT seq, run, n, phase, side, host, command, reply, micros, error, skipped, at \
             FROM deployment_steps WHERE deployment_id = $1 AND seq > $2 ORDER BY seq",
        )
        .bind(id)
        .bind(after_seq)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Stores a status read's summary; gives when the status last changed to it (now, when it
    /// differs from the stored one).
    pub async fn observe_status(&self, id: i64, summary: &str) -> Result<DateTime<Utc>> {
        let (at,): (Option<DateTime<Utc>>,) = sqlx::query_as(
            "WITH changed AS (UPDATE deployments SET status_summary = $2, \
             status_changed_at = now() WHERE id = $1 \
             AND status_summary IS DISTINCT FROM $2 RETURNING status_changed_at) \
             SELECT coalesce((SELECT status_changed_at FROM changed), \
             (SELECT status_changed_at FROM deployments WHERE id = $1))",
        )
        .bind(id)
        .bind(summary)
        .fetch_one(&self.pool)
        .await?;
        Ok(at.unwrap_or_else(Utc::now))
    }

    /// A configuration's deployments, newest first.
    pub async fn deployments(&self, configuration_id: i64) -> Result<Vec<DeploymentRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM deployments WHERE configuration_id = $1 ORDER BY id DESC"
        ))
        .bind(configuration_id)
        .fetch_all(&self.pool)
        .await?)
    }
}
