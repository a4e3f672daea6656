//! Group commit of configuration saves.
//!
//! Each server runs one writer task. Saves queue for it; it takes every save waiting (at most
//! [`MAX_BATCH`], one per configuration) and writes them with one call of the `save_batch`
//! function (migration 0008): one statement, one round trip and one commit however many saves
//! it holds. The chain head is locked once per batch instead of once per save, so saves under
//! load no longer queue on that lock one commit at a time.
//!
//! Every save keeps its own outcome: a base that is not current (or an archived
//! configuration) fails that save alone. When the batch fails with a database error (a
//! deadlock with another server, say), nothing of it was written, and each save is written
//! alone (a batch of one), so one bad save cannot fail the others. When the connection fails,
//! every save of the batch gets the error: whether it was stored is unknown, as it is for any
//! single write.

use super::configs::{claim_columns, claims_digest, NewVersion};
use super::{audit::event_time, Db, Saved};
use crate::audit::NewEvent;
use anyhow::{anyhow, Result};
use chrono::{DateTime, Utc};
use lockstep_shared::validate::cross::Claim;
use serde_json::Value;
use sqlx::types::Json;
use std::collections::{HashMap, HashSet, VecDeque};
use tokio::sync::{mpsc, oneshot};

/// The most saves one transaction writes.
pub const MAX_BATCH: usize = 64;

/// Saves waiting for the writer before senders wait too.
const QUEUE: usize = 1024;

/// A save of version `base + 1` of configuration `id`, with its audit event.
pub struct PendingSave {
    id: i64,
    base: i32,
    version: NewVersion,
    /// The claims digest stored with the configuration when it was read.
    stored_claims: Option<Vec<u8>>,
    event: NewEvent,
    /// The event's canonical text, which its hash covers.
    event_text: String,
    /// The event's time, as stored.
    event_at: DateTime<Utc>,
}

impl PendingSave {
    /// Computes the event's canonical text and time here, in the request, so the single
    /// writer does not have to.
    pub fn new(
        id: i64,
        base: i32,
        version: NewVersion,
        stored_claims: Option<Vec<u8>>,
        event: NewEvent,
    ) -> Result<PendingSave> {
        Ok(PendingSave {
            id,
            base,
            version,
            stored_claims,
            event_text: crate::audit::event_text(&event),
            event_at: event_time(&event)?,
            event,
        })
    }
}

struct Job {
    save: PendingSave,
    reply: oneshot::Sender<Result<Saved>>,
}

/// The handle of a server's writer task.
#[derive(Clone)]
pub struct SaveWriter {
    jobs: mpsc::Sender<Job>,
}

impl SaveWriter {
    /// Starts the writer on the current runtime; it ends when every handle is dropped.
    pub fn spawn(db: Db) -> SaveWriter {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, queue));
        SaveWriter { jobs }
    }

    /// Saves and waits until the save is committed (or refused, or failed).
    pub async fn save(&self, save: PendingSave) -> Result<Saved> {
        let (reply, answer) = oneshot::channel();
        let stopped = || anyhow!("the save writer has stopped");
        self.jobs
            .send(Job { save, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run(db: Db, mut queue: mpsc::Receiver<Job>) {
    let mut waiting: VecDeque<Job> = VecDeque::new();
    loop {
        if waiting.is_empty() {
            match queue.recv().await {
                Some(job) => waiting.push_back(job),
                None => return,
            }
        }
        while waiting.len() < QUEUE {
            match queue.try_recv() {
                Ok(job) => waiting.push_back(job),
                Err(_) => break,
            }
        }
        // One save per configuration in a batch: a second one is written on top of the first,
        // in the next batch.
        let mut batch = Vec::new();
        let mut later = VecDeque::new();
        let mut ids = HashSet::new();
        for job in waiting.drain(..) {
            if batch.len() < MAX_BATCH && ids.insert(job.save.id) {
                batch.push(job);
            } else {
                later.push_back(job);
            }
        }
        waiting = later;
        write(&db, batch).await;
    }
}

/// Why a batch was not written.
enum BatchError {
    /// The database refused it: nothing was written; write each save alone.
    Refused(anyhow::Error),
    /// The connection failed: the outcome is unknown.
    Unknown(anyhow::Error),
}

async fn write(db: &Db, batch: Vec<Job>) {
    let saves: Vec<&PendingSave> = batch.iter().map(|j| &j.save).collect();
    let outcomes = match write_batch(db, &saves).await {
        Ok(outcomes) => outcomes,
        Err(BatchError::Refused(e)) => {
            tracing::warn!(
                error = format!("{e:#}"),
                saves = saves.len(),
                "batch refused; writing its saves one by one"
            );
            let mut outcomes = Vec::with_capacity(saves.len());
            for s in &saves {
                outcomes.push(match write_batch(db, &[s]).await {
                    Ok(mut one) => one.pop().unwrap_or_else(|| Err(anyhow!("no outcome"))),
                    Err(BatchError::Refused(e) | BatchError::Unknown(e)) => Err(e),
                });
            }
            outcomes
        }
        Err(BatchError::Unknown(e)) => {
            let message = format!("{e:#}");
            saves.iter().map(|_| Err(anyhow!("{message}"))).collect()
        }
    };
    for (job, outcome) in batch.into_iter().zip(outcomes) {
        // The caller may have gone (its client disconnected); the save stands.
        let _ = job.reply.send(outcome);
    }
}

/// Documents go as text and become json (kept as is, see migration 0007) without a parse.
const SAVE_BATCH: &str =
    "SELECT save_batch($1, $2, $3, $4::json[], $5, $6, $7, $8, $9, $10, $11, $12, \
     $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, \
     $31, $32)";

async fn write_batch(db: &Db, saves: &[&PendingSave]) -> Result<Vec<Result<Saved>>, BatchError> {
    // The digest of each save's claims where they changed (NULL: unchanged, not rewritten).
    let digests: Vec<Option<Vec<u8>>> = saves
        .iter()
        .map(|s| {
            let d = claims_digest(&s.version.claims);
            (s.stored_claims.as_deref() != Some(&d[..])).then_some(d)
        })
        .collect();
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
