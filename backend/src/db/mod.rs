//! Every SQL query of Lockstep lives under this module. Callers get typed rows and plain
//! errors; transactions are opened here and passed back in as `&mut Tx`.

pub mod accounts;
pub mod audit;
pub mod batch;
pub mod claims;
pub mod configs;
pub mod deployments;
pub mod hosts;
pub mod lean;
pub mod members;
pub mod queue;
pub mod templates;

use anyhow::{Context, Result};
use lockstep_shared::api::AuditTarget;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};
use std::str::FromStr;
use std::time::Duration;

/// A pooled connection idle this long is pinged before it is handed out.
pub(crate) const IDLE_PING_AFTER: Duration = Duration::from_millis(500);

pub type Tx<'a> = Transaction<'a, Postgres>;

/// The outcome of saving a configuration or template on top of a base version.
pub enum Saved {
    Version(i32),
    /// Someone saved first; this is the current version.
    Conflict(i32),
    Archived,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

#[derive(Clone)]
pub struct Db {
    pub pool: PgPool,
    /// Connections for the hottest one-statement queries (see `lean`).
    lean: std::sync::Arc<lean::Lean>,
    /// Teams' host claims held in memory (see `claims`).
    claims: std::sync::Arc<claims::ClaimsCache>,
}

/// Connections in [`Db::lean`] at most.
const LEAN_CONNECTIONS: usize = 8;

impl Db {
    /// Connects lazily: a pool that reconnects by itself when Postgres restarts.
    pub async fn connect(options: PgConnectOptions) -> Result<Db> {
        // Every statement is prepared once per connection and planned once: the hot
        // queries have a fixed shape, and re-planning them for each call cost more than
        // running them (a save's lookup: 0.27 ms planning, 0.07 ms execution). Queries whose
        // best plan depends on the values (the audit filters) are not prepared.
        let options = options.options([("plan_cache_mode", "force_generic_plan")]);
        let pool = PgPoolOptions::new()
            .max_connections(20)
            .acquire_timeout(Duration::from_secs(10))
            // sqlx pings every connection when it goes back to the pool (closing broken
            // ones); a connection that sat idle is pinged again before use, so one that Postgres
            // dropped meanwhile (a restart) is replaced instead of failing a request. Busy
            // connections skip that second round trip.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= IDLE_PING_AFTER {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options.clone())
            .await
            .context("connect to Postgres")?;
        Ok(Db {
            pool,
            lean: std::sync::Arc::new(lean::Lean::new(options, LEAN_CONNECTIONS)),
            claims: Default::default(),
        })
    }

    pub fn options_from_url(url: &str) -> Result<PgConnectOptions> {
        PgConnectOptions::from_str(url).context("DATABASE_URL is not a Postgres URL")
    }

    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await.context("run migrations")
    }

    pub async fn begin(&self) -> Result<Tx<'static>> {
        Ok(self.pool.begin().await?)
    }

    /// Creates a database if it does not exist (used for the private cluster).
    pub async fn ensure_database(admin: &PgPool, name: &str) -> Result<()> {
        let exists: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                .bind(name)
                .fetch_optional(admin)
                .await?;
        if exists.is_none() {
            // Identifiers cannot be bound; the name is quoted and doubled quotes are escaped.
            let q = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
            sqlx::query(&q).execute(admin).await?;
        }
        Ok(())
    }

    /// The team owning a configuration, deployment, host or template (for auditing refused
    /// requests).
    pub async fn team_of(&self, kind: AuditTarget, id: i64) -> Result<Option<i64>> {
        let sql = match kind {
            AuditTarget::Configuration => "SELECT team_id FROM configurations WHERE id = $1",
            AuditTarget::Deployment => "SELECT team_id FROM deployments WHERE id = $1",
            AuditTarget::Host => "SELECT team_id FROM hosts WHERE id = $1",
            AuditTarget::Template => "SELECT team_id FROM templates WHERE id = $1",
            _ => return Ok(None),
        };
        let team: Option<Option<i64>> = sqlx::query_scalar(sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(team.flatten())
    }

    /// Listens on [`accounts::AUTH_CHANNEL`] for as long as the process runs: `live(true)` once
    /// subscribed, `changed()` for every notification, `live(false)` when the connection is
    /// lost (then it subscribes again, after a pause when that fails).
    pub async fn watch_auth_changes(&self, live: impl Fn(bool), changed: impl Fn()) {
        loop {
            let listener = async {
                let mut l = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
                l.listen(accounts::AUTH_CHANNEL).await?;
                Ok::<_, sqlx::Error>(l)
            };
            match listener.await {
                Ok(mut l) => {
                    live(true);
                    // `Ok(None)`: the connection was lost; a fresh listener starts over.
                    while let Ok(Some(_)) = l.try_recv().await {
                        changed();
                    }
                    live(false);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for identity changes; not caching");
                    live(false);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// A trivial round trip, for health checks and the load baseline (through the same
    /// connections as the hottest reads).
    pub async fn ping(&self) -> Result<i32> {
        self.lean
            .run(|c| Box::pin(sqlx::query_scalar("SELECT 1").fetch_one(c)))
            .await
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use lockstep_shared::api::Timestamp;

    /// Rows' times become wire times exactly as chrono's own JSON writes them, at every
    /// precision Postgres gives (microseconds) and beyond.
    #[test]
    fn row_times_reach_the_wire_as_chrono_writes_them() {
        for (secs, nanos) in [
            (1_764_584_105, 0),
            (1_764_584_105, 120_000_000),
            (1_764_584_105, 123_456_000),
            (1_764_584_105, 123_456_789),
            (-62_135_596_800, 0),
        ] {
            let at: DateTime<Utc> = DateTime::from_timestamp(secs, nanos).expect("a time");
            let wire = serde_json::to_string(&Timestamp::from(at)).expect("json");
            assert_eq!(wire, serde_json::to_string(&at).expect("json"));
        }
    }
}
