//! Saves in batches: their lookups, and their writes (group commit).
//!
//! Each server runs two batching tasks ([`super::queue::Batcher`]) for saves:
//! - Lookups: a save needs its configuration row, and its team's claims epoch to check its
//!   claims against those held in memory (`claims`, done in the request). One statement
//!   reads the rows of every lookup waiting. Measured with `bench/load.sh`, either half alone
//!   (a statement per save with the held claims, or one statement with an index probe per
//!   claim) was no faster than a statement per save with probes; together they made saves
//!   about a quarter faster.
//! - Writes: the writer takes every save waiting (at most [`MAX_BATCH`]) and writes them with
//!   one call of the `save_batch` function (migration 0008; documents as text since 0010):
//!   one statement, one round trip and one commit however many saves it holds. The chain head
//!   is locked once per batch instead of once per save, so saves under load no longer queue on
//!   that lock one commit at a time. Two saves of one configuration in a batch go in
//!   successive statements, the second on top of the first.
//!
//! Every save keeps its own outcome: a base that is not current (or an archived
//! configuration) fails that save alone. When the batch fails with a database error (a
//! deadlock with another server, say, or a value Postgres refuses), nothing of it was written,
//! and each save is written alone (a batch of one), so one bad save cannot fail the others.
//! When the connection fails, every save of the batch gets the error: whether it was stored is
//! unknown, as it is for any single write.

use super::configs::{claim_columns, claims_digest, ConfigRow, NewVersion};
use super::queue::Batcher;
use super::{audit::event_time, Db, Saved};
use crate::audit::NewEvent;
use anyhow::{anyhow, Result};
use chrono::{DateTime, Utc};
use lockstep_shared::validate::cross::Claim;
use serde_json::Value;
use sqlx::types::Json;
use std::collections::{HashMap, HashSet};

/// The most saves one transaction writes, and the most lookups one statement answers.
pub const MAX_BATCH: usize = 64;

/// Lookup statements running at once: the next batch of lookups need not wait for the
/// answer to the last one. (One measured the same, within this machine's noise.)
const LOOKUPS_AT_ONCE: usize = 2;

/// A save of version `base + 1` of configuration `id`, with its audit event.
pub struct PendingSave {
    id: i64,
    base: i32,
    version: NewVersion,
    /// The digest of the new claims when it differs from the one stored with the
    /// configuration when it was read (`None`: unchanged, not rewritten).
    new_claims: Option<Vec<u8>>,
    event: NewEvent,
    /// The event's canonical text, which its hash covers.
    event_text: String,
    /// The event's time, as stored.
    event_at: DateTime<Utc>,
}

impl PendingSave {
    /// Computes the claims' digest and the event's canonical text and time here, in the
    /// request, so the single writer does not have to.
    pub fn new(
        id: i64,
        base: i32,
        version: NewVersion,
        stored_claims: Option<Vec<u8>>,
        event: NewEvent,
    ) -> Result<PendingSave> {
        let digest = claims_digest(&version.claims);
        Ok(PendingSave {
            id,
            base,
            new_claims: (stored_claims.as_deref() != Some(&digest[..])).then_some(digest),
            version,
            event_text: crate::audit::event_text(&event),
            event_at: event_time(&event)?,
            event,
        })
    }
}

/// A server's save tasks (lookups and writes); cloned into each worker.
#[derive(Clone)]
pub struct Saves {
    lookups: Batcher<i64, Option<(ConfigRow, i64)>>,
    writer: Batcher<PendingSave, Saved>,
}

impl Saves {
    /// Starts both tasks on the current runtime; they end when every handle is dropped.
    pub fn spawn(db: Db) -> Saves {
        let d = db.clone();
        let lookups = Batcher::spawn("save lookup", MAX_BATCH, LOOKUPS_AT_ONCE, move |asks| {
            let db = d.clone();
            async move { look_up(&db, asks).await }
        });
        let writer = Batcher::spawn("save writer", MAX_BATCH, 1, move |saves| {
            let db = db.clone();
            async move { write(&db, saves).await }
        });
        Saves { lookups, writer }
    }

    /// Configuration `id` with its team's claims epoch (`None`: there is no configuration
    /// `id`).
    pub async fn look_up(&self, id: i64) -> Result<Option<(ConfigRow, i64)>> {
        self.lookups.call(id).await
    }

    /// Saves and waits until the save is committed (or refused, or failed).
    pub async fn save(&self, save: PendingSave) -> Result<Saved> {
        self.writer.call(save).await
    }
}

/// Answers lookups with one statement. It binds only configuration ids, so no request can
/// make Postgres refuse it; when it fails, every lookup of the batch gets the error.
async fn look_up(db: &Db, ids: Vec<i64>) -> Vec<Result<Option<(ConfigRow, i64)>>> {
    let n = ids.len();
    match db.configurations_with_epochs(ids).await {
        Ok(found) => found.into_iter().map(Ok).collect(),
        Err(e) => each_fails(n, &e),
    }
}

/// The same error for each of `n` requests.
fn each_fails<T>(n: usize, e: &anyhow::Error) -> Vec<Result<T>> {
    let message = format!("{e:#}");
    (0..n).map(|_| Err(anyhow!("{message}"))).collect()
}

/// Writes `saves` in queue order: in rounds of one save per configuration, each round one
/// batch.
async fn write(db: &Db, saves: Vec<PendingSave>) -> Vec<Result<Saved>> {
    let mut outcomes: Vec<Option<Result<Saved>>> = saves.iter().map(|_| None).collect();
    let mut left: Vec<usize> = (0..saves.len()).collect();
    while !left.is_empty() {
        let mut ids = HashSet::new();
        let (round, later): (Vec<usize>, Vec<usize>) =
            left.iter().partition(|&&i| ids.insert(saves[i].id));
        let batch: Vec<&PendingSave> = round.iter().map(|&i| &saves[i]).collect();
        for (i, outcome) in round.into_iter().zip(write_round(db, &batch).await) {
            outcomes[i] = Some(outcome);
        }
        left = later;
    }
    outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|| Err(anyhow!("save not written"))))
        .collect()
}

/// Why a batch was not written.
enum BatchError {
    /// The database refused it: nothing was written; write each save alone.
    Refused(anyhow::Error),
    /// The connection failed: the outcome is unknown.
    Unknown(anyhow::Error),
}

/// Writes saves of distinct configurations in one batch; when Postgres refuses it, each alone.
async fn write_round(db: &Db, saves: &[&PendingSave]) -> Vec<Result<Saved>> {
    match write_batch(db, saves).await {
        Ok(outcomes) => outcomes,
        Err(BatchError::Refused(e)) => {
            tracing::warn!(
                error = format!("{e:#}"),
                saves = saves.len(),
                "batch refused; writing its saves one by one"
            );
            let mut outcomes = Vec::with_capacity(saves.len());
            for s in saves {
                outcomes.push(match write_batch(db, &[s]).await {
                    Ok(mut one) => one.pop().unwrap_or_else(|| Err(anyhow!("no outcome"))),
                    Err(BatchError::Refused(e) | BatchError::Unknown(e)) => Err(e),
                });
            }
            outcomes
        }
        Err(BatchError::Unknown(e)) => each_fails(saves.len(), &e),
    }
}

/// Documents go as text and are stored as text (migration 0010).
const SAVE_BATCH: &str = "SELECT save_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
     $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, \
     $31, $32)";

async fn write_batch(db: &Db, saves: &[&PendingSave]) -> Result<Vec<Result<Saved>>, BatchError> {
    // The digest of each save's claims where they changed (NULL: unchanged, not rewritten).
    let digests: Vec<Option<&[u8]>> = saves.iter().map(|s| s.new_claims.as_deref()).collect();
    let reclaimed: Vec<(i64, &[Claim])> = saves
        .iter()
        .zip(&digests)
        .filter(|(_, d)| d.is_some())
        .map(|(s, _)| (s.id, &s.version.claims[..]))
        .collect();
    let claim_owner: Vec<i64> = reclaimed
        .iter()
        .flat_map(|(id, c)| std::iter::repeat_n(*id, c.len()))
        .collect();
    let claims: Vec<Claim> = reclaimed
        .iter()
        .flat_map(|(_, c)| c.iter().cloned())
        .collect();
    let ids: Vec<i64> = saves.iter().map(|s| s.id).collect();
    let str_col = |f: fn(&PendingSave) -> &str| saves.iter().map(|s| f(s)).collect::<Vec<_>>();
    let opt_col =
        |f: fn(&PendingSave) -> Option<&str>| saves.iter().map(|s| f(s)).collect::<Vec<_>>();
    let json_col = |f: fn(&PendingSave) -> Option<&Value>| {
        saves.iter().map(|s| f(s).map(Json)).collect::<Vec<_>>()
    };
    let mut q = sqlx::query_scalar::<_, Vec<i64>>(SAVE_BATCH)
        .bind(&ids)
        .bind(saves.iter().map(|s| s.base).collect::<Vec<i32>>())
        .bind(&digests)
        .bind(str_col(|s| &s.version.document))
        .bind(
            saves
                .iter()
                .map(|s| Json(&s.version.findings))
                .collect::<Vec<_>>(),
        )
        .bind(saves.iter().map(|s| s.version.errors).collect::<Vec<i32>>())
        .bind(
            saves
                .iter()
                .map(|s| s.version.warnings)
                .collect::<Vec<i32>>(),
        )
        .bind(
            saves
                .iter()
                .map(|s| s.version.author_id)
                .collect::<Vec<i64>>(),
        )
        .bind(str_col(|s| &s.version.author_name))
        .bind(str_col(|s| &s.version.message))
        .bind(saves.iter().map(|s| s.version.at).collect::<Vec<_>>())
        .bind(&claim_owner);
    for column in claim_columns(&claims) {
        q = q.bind(column);
    }
    let saved = q
        .bind(saves.iter().map(|s| s.event_at).collect::<Vec<_>>())
        .bind(saves.iter().map(|s| s.event.actor_id).collect::<Vec<_>>())
        .bind(str_col(|s| &s.event.actor_name))
        .bind(saves.iter().map(|s| s.event.team_id).collect::<Vec<_>>())
        .bind(str_col(|s| &s.event.action))
        .bind(str_col(|s| &s.event.target_type))
        .bind(opt_col(|s| s.event.target_id.as_deref()))
        .bind(opt_col(|s| s.event.target_name.as_deref()))
        .bind(json_col(|s| s.event.before.as_ref()))
        .bind(json_col(|s| s.event.after.as_ref()))
        .bind(opt_col(|s| s.event.request_id.as_deref()))
        .bind(opt_col(|s| s.event.source.as_deref()))
        .bind(opt_col(|s| s.event.user_agent.as_deref()))
        .bind(str_col(|s| &s.event.result))
        .bind(str_col(|s| &s.event_text))
        .fetch_one(&db.pool)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(_) => BatchError::Refused(e.into()),
            e => BatchError::Unknown(e.into()),
        })?;
    let saved: HashSet<i64> = saved.into_iter().collect();

    // Why the others were not saved.
    let refused: Vec<i64> = ids
        .iter()
        .copied()
        .filter(|id| !saved.contains(id))
        .collect();
    let states: Result<HashMap<i64, (i32, bool)>> = if refused.is_empty() {
        Ok(HashMap::new())
    } else {
        db.configuration_states(&refused).await
    };
    Ok(saves
        .iter()
        .map(|s| {
            if saved.contains(&s.id) {
                return Ok(Saved::Version(s.base + 1));
            }
            match states.as_ref() {
                Err(e) => Err(anyhow!("{e:#}")),
                Ok(states) => match states.get(&s.id) {
                    None => Err(anyhow!("configuration {} disappeared", s.id)),
                    Some((_, true)) => Ok(Saved::Archived),
                    Some((current, false)) => Ok(Saved::Conflict(*current)),
                },
            }
        })
        .collect())
}

impl Db {
    /// The current version of some configurations, and whether each is archived.
    async fn configuration_states(&self, ids: &[i64]) -> Result<HashMap<i64, (i32, bool)>> {
        let rows: Vec<(i64, i32, bool)> = sqlx::query_as(
            "SELECT id, current_version, archived_at IS NOT NULL FROM configurations \
             WHERE id = ANY($1)",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(id, v, a)| (id, (v, a))).collect())
    }
}
