//! Group commit of configuration saves.
//!
//! Each server runs one writer task. Saves queue for it; it takes every save waiting (at most
//! [`MAX_BATCH`], one per configuration) and writes them in one transaction: the versions, the
//! claims that changed, and their audit events chained in queue order. A batch costs four
//! round trips and one commit however many saves it holds, and the chain head is locked once
//! per batch instead of once per save, so saves under load no longer queue on that lock one
//! commit at a time.
//!
//! Every save keeps its own outcome: a base that is not current (or an archived
//! configuration) fails that save alone. When a statement of the batch fails with a database
//! error (a deadlock with another server, say), the batch is rolled back and each save is
//! written alone, so one bad save cannot fail the others. When the connection fails, or the
//! commit does, every save of the batch gets the error: whether it was stored is unknown, as
//! it was for any single write.

use super::configs::{claim_columns, claims_digest, save_with_event, NewVersion};
use super::{audit::event_time, Db, Saved};
use crate::audit::{event_hash, NewEvent};
use anyhow::{anyhow, Result};
use chrono::{DateTime, Utc};
use lockstep_shared::validate::cross::Claim;
use serde_json::Value;
use std::collections::{HashMap, HashSet, VecDeque};
use tokio::sync::{mpsc, oneshot};

/// The most saves one transaction writes.
pub const MAX_BATCH: usize = 64;

/// Saves waiting for the writer before senders wait too.
const QUEUE: usize = 1024;

/// A save of version `base + 1` of configuration `id`, with its audit event.
pub struct PendingSave {
    pub id: i64,
    pub base: i32,
    pub document: Value,
    pub findings: Value,
    pub errors: i32,
    pub warnings: i32,
    /// What the document occupies on its hosts (`validate::cross::claims`).
    pub claims: Vec<Claim>,
    /// The claims digest stored with the configuration when it was read.
    pub stored_claims: Option<Vec<u8>>,
    pub author_id: i64,
    pub author_name: String,
    pub message: String,
    pub at: DateTime<Utc>,
    pub event: NewEvent,
}

impl PendingSave {
    fn version(&self) -> NewVersion<'_> {
        NewVersion {
            document: &self.document,
            findings: &self.findings,
            errors: self.errors,
            warnings: self.warnings,
            claims: &self.claims,
            author_id: self.author_id,
            author_name: &self.author_name,
            message: &self.message,
            at: self.at,
        }
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
    /// A statement failed with a database error: nothing was written; write each save alone.
    Statement(anyhow::Error),
    /// The connection or the commit failed: the outcome is unknown.
    Unknown(anyhow::Error),
}

fn statement(e: sqlx::Error) -> BatchError {
    match e {
        sqlx::Error::Database(_) => BatchError::Statement(e.into()),
        e => BatchError::Unknown(e.into()),
    }
}

fn unknown(e: impl Into<anyhow::Error>) -> BatchError {
    BatchError::Unknown(e.into())
}

async fn write(db: &Db, batch: Vec<Job>) {
    let saves: Vec<&PendingSave> = batch.iter().map(|j| &j.save).collect();
    let outcomes = match write_batch(db, &saves).await {
        Ok(outcomes) => outcomes,
        Err(BatchError::Statement(e)) => {
            tracing::warn!(
                error = format!("{e:#}"),
                saves = saves.len(),
                "batch refused; writing its saves one by one"
            );
            let mut outcomes = Vec::with_capacity(saves.len());
            for s in &saves {
                outcomes.push(write_one(db, s).await);
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

async fn write_one(db: &Db, s: &PendingSave) -> Result<Saved> {
    let v = s.version();
    save_with_event(db, s.id, s.base, &v, s.stored_claims.as_deref(), &s.event).await
}

/// Advances every configuration whose base is current and locks them, then locks the chain
/// head (in that order, as every other write does). Returns the ids saved and the head's hash.
const ADVANCE: &str = "\
    WITH s AS (SELECT * FROM unnest($1::bigint[], $2::int[], $3::bool[], $4::bytea[]) \
        AS s(id, base, changed, digest)), \
    cfg AS (UPDATE configurations c SET current_version = s.base + 1, \
        claims_digest = CASE WHEN s.changed THEN s.digest ELSE c.claims_digest END \
        FROM s WHERE c.id = s.id AND c.current_version = s.base AND c.archived_at IS NULL \
        RETURNING c.id), \
    head AS (SELECT last_hash FROM audit_head WHERE id = 1 \
        AND (SELECT count(*) FROM cfg) > 0 FOR UPDATE) \
    SELECT ARRAY(SELECT id FROM cfg), (SELECT last_hash FROM head)";

/// Inserts the versions, the changed claims and the chained events, and moves the head.
/// Event ids are taken in chain order (volatile functions run after the sort).
const INSERT: &str = "\
    WITH ver AS (INSERT INTO configuration_versions (configuration_id, version, document, \
        findings, errors, warnings, author_id, author_name, message, created_at) \
        SELECT * FROM unnest($1::bigint[], $2::int[], $3::jsonb[], $4::jsonb[], $5::int[], \
        $6::int[], $7::bigint[], $8::text[], $9::text[], $10::timestamptz[])), \
    gone AS (DELETE FROM configuration_claims WHERE configuration_id = ANY($11::bigint[])), \
    claimed AS (INSERT INTO configuration_claims \
        (configuration_id, team_id, kind, value, host_name, host_address, field) \
        SELECT k.cid, c.team_id, k.kind, k.value, k.host_name, k.host_address, k.field \
        FROM unnest($12::bigint[], $13::text[], $14::text[], $15::text[], $16::text[], \
        $17::text[]) AS k(cid, kind, value, host_name, host_address, field) \
        JOIN configurations c ON c.id = k.cid), \
    ev AS (INSERT INTO audit_events (id, at, actor_id, actor_name, team_id, action, \
        target_type, target_id, target_name, before, after, request_id, source, user_agent, \
        result, prev_hash, hash) \
        SELECT nextval('audit_events_id_seq'), e.at, e.actor_id, e.actor_name, e.team_id, \
        e.action, e.target_type, e.target_id, e.target_name, e.before, e.after, e.request_id, \
        e.source, e.user_agent, e.result, e.prev_hash, e.hash \
        FROM unnest($18::timestamptz[], $19::bigint[], $20::text[], $21::bigint[], $22::text[], \
        $23::text[], $24::text[], $25::text[], $26::jsonb[], $27::jsonb[], $28::text[], \
        $29::text[], $30::text[], $31::text[], $32::bytea[], $33::bytea[]) WITH ORDINALITY \
        AS e(at, actor_id, actor_name, team_id, action, target_type, target_id, target_name, \
        before, after, request_id, source, user_agent, result, prev_hash, hash, n) \
        ORDER BY e.n RETURNING id) \
    UPDATE audit_head SET prev = $34, last_hash = $35, last_id = (SELECT max(id) FROM ev) \
    WHERE id = 1";

/// The events of the saved configurations, as parallel columns, chained after `head`.
#[derive(Default)]
struct Events<'a> {
    at: Vec<DateTime<Utc>>,
    actor_id: Vec<Option<i64>>,
    actor_name: Vec<&'a str>,
    team_id: Vec<Option<i64>>,
    action: Vec<&'a str>,
    target_type: Vec<&'a str>,
    target_id: Vec<Option<&'a str>>,
    target_name: Vec<Option<&'a str>>,
    before: Vec<Option<&'a Value>>,
    after: Vec<Option<&'a Value>>,
    request_id: Vec<Option<&'a str>>,
    source: Vec<Option<&'a str>>,
    user_agent: Vec<Option<&'a str>>,
    result: Vec<&'a str>,
    prev_hash: Vec<Vec<u8>>,
    hash: Vec<Vec<u8>>,
}

impl<'a> Events<'a> {
    fn push(&mut self, e: &'a NewEvent, prev: Vec<u8>) -> Result<Vec<u8>> {
        let hash = event_hash(&prev, e);
        self.at.push(event_time(e)?);
        self.actor_id.push(e.actor_id);
        self.actor_name.push(&e.actor_name);
        self.team_id.push(e.team_id);
        self.action.push(&e.action);
        self.target_type.push(&e.target_type);
        self.target_id.push(e.target_id.as_deref());
        self.target_name.push(e.target_name.as_deref());
        self.before.push(e.before.as_ref());
        self.after.push(e.after.as_ref());
        self.request_id.push(e.request_id.as_deref());
        self.source.push(e.source.as_deref());
        self.user_agent.push(e.user_agent.as_deref());
        self.result.push(&e.result);
        self.prev_hash.push(prev);
        self.hash.push(hash.clone());
        Ok(hash)
    }
}

async fn write_batch(db: &Db, saves: &[&PendingSave]) -> Result<Vec<Result<Saved>>, BatchError> {
    let digests: Vec<Vec<u8>> = saves.iter().map(|s| claims_digest(&s.claims)).collect();
    let changed: Vec<bool> = saves
        .iter()
        .zip(&digests)
        .map(|(s, d)| s.stored_claims.as_deref() != Some(&d[..]))
        .collect();
    let ids: Vec<i64> = saves.iter().map(|s| s.id).collect();
    let bases: Vec<i32> = saves.iter().map(|s| s.base).collect();

    let mut tx = db.pool.begin().await.map_err(unknown)?;
    let (advanced, head): (Vec<i64>, Option<Vec<u8>>) = sqlx::query_as(ADVANCE)
        .bind(&ids)
        .bind(&bases)
        .bind(&changed)
        .bind(&digests)
        .fetch_one(&mut *tx)
        .await
        .map_err(statement)?;
    let advanced: HashSet<i64> = advanced.into_iter().collect();
    if !advanced.is_empty() {
        let head = head.ok_or_else(|| unknown(anyhow!("the audit chain has no head row")))?;
        let saved: Vec<(usize, &PendingSave)> = saves
            .iter()
            .enumerate()
            .filter(|(_, s)| advanced.contains(&s.id))
            .map(|(i, s)| (i, *s))
            .collect();
        let mut events = Events::default();
        let mut prev = head;
        for (_, s) in &saved {
            prev = events.push(&s.event, prev).map_err(unknown)?;
        }
        let last_prev = events.prev_hash.last().cloned().unwrap_or_default();
        let col = |f: fn(&PendingSave) -> i64| saved.iter().map(|(_, s)| f(s)).collect::<Vec<_>>();
        let reclaimed: Vec<(i64, &[Claim])> = saved
            .iter()
            .filter(|(i, _)| changed[*i])
            .map(|(_, s)| (s.id, &s.claims[..]))
            .collect();
        let claim_owner: Vec<i64> = reclaimed
            .iter()
            .flat_map(|(id, c)| std::iter::repeat_n(*id, c.len()))
            .collect();
        let all_claims: Vec<Claim> = reclaimed
            .iter()
            .flat_map(|(_, c)| c.iter().cloned())
            .collect();
        let mut q = sqlx::query(INSERT)
            .bind(col(|s| s.id))
            .bind(saved.iter().map(|(_, s)| s.base + 1).collect::<Vec<i32>>())
            .bind(saved.iter().map(|(_, s)| &s.document).collect::<Vec<_>>())
            .bind(saved.iter().map(|(_, s)| &s.findings).collect::<Vec<_>>())
            .bind(saved.iter().map(|(_, s)| s.errors).collect::<Vec<i32>>())
            .bind(saved.iter().map(|(_, s)| s.warnings).collect::<Vec<i32>>())
            .bind(col(|s| s.author_id))
            .bind(
                saved
                    .iter()
                    .map(|(_, s)| s.author_name.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                saved
                    .iter()
                    .map(|(_, s)| s.message.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(saved.iter().map(|(_, s)| s.at).collect::<Vec<_>>())
            .bind(reclaimed.iter().map(|(id, _)| *id).collect::<Vec<i64>>())
            .bind(&claim_owner);
        for column in claim_columns(&all_claims) {
            q = q.bind(column);
        }
        q.bind(&events.at)
            .bind(&events.actor_id)
            .bind(&events.actor_name)
            .bind(&events.team_id)
            .bind(&events.action)
            .bind(&events.target_type)
            .bind(&events.target_id)
            .bind(&events.target_name)
            .bind(&events.before)
            .bind(&events.after)
            .bind(&events.request_id)
            .bind(&events.source)
            .bind(&events.user_agent)
            .bind(&events.result)
            .bind(&events.prev_hash)
            .bind(&events.hash)
            .bind(&last_prev)
            .bind(&prev)
            .execute(&mut *tx)
            .await
            .map_err(statement)?;
        tx.commit().await.map_err(unknown)?;
    } else {
        tx.rollback().await.map_err(unknown)?;
    }

    // Why the others were not saved.
    let refused: Vec<i64> = ids
        .iter()
        .copied()
        .filter(|id| !advanced.contains(id))
        .collect();
    let states: Result<HashMap<i64, (i32, bool)>> = if refused.is_empty() {
        Ok(HashMap::new())
    } else {
        db.configuration_states(&refused).await
    };
    Ok(saves
        .iter()
        .map(|s| {
            if advanced.contains(&s.id) {
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
