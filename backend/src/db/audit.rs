//! Appending to and reading the hash-chained audit log.

use super::{Db, Tx};
use crate::audit::{event_text, NewEvent, StoredEvent};
use anyhow::Result;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

/// Appends one event: updates the chain head (whose row lock orders appenders until commit)
/// and inserts the event with `hash = SHA-256(prev_hash || canonical JSON)`, computed by
/// Postgres from the canonical text computed here, exactly as `audit::event_hash` does.
/// (Configuration saves append theirs in batches: migration 0008 `save_batch`.)
const APPEND: &str = "\
    WITH head AS ( \
        UPDATE audit_head SET prev = last_hash, \
            last_hash = sha256(last_hash || convert_to($15, 'UTF8')), \
            last_id = nextval('audit_events_id_seq') \
        WHERE id = 1 RETURNING prev, last_hash, last_id) \
    INSERT INTO audit_events (id, at, actor_id, actor_name, team_id, action, target_type, \
    target_id, target_name, before, after, request_id, source, user_agent, result, prev_hash, \
    hash) \
    SELECT head.last_id, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, head.prev, \
    head.last_hash FROM head RETURNING id";

/// The event's time (RFC 3339 text in the event) as a timestamp to store.
pub(super) fn event_time(e: &NewEvent) -> Result<DateTime<Utc>> {
    Ok(DateTime::parse_from_rfc3339(&e.at)?.with_timezone(&Utc))
}

/// Appends one event inside `tx`; the event and the change it records commit together.
pub async fn append(tx: &mut Tx<'_>, e: &NewEvent) -> Result<i64> {
    Ok(sqlx::query_scalar(APPEND)
        .bind(event_time(e)?)
        .bind(e.actor_id)
        .bind(&e.actor_name)
        .bind(e.team_id)
        .bind(&e.action)
        .bind(&e.target_type)
        .bind(&e.target_id)
        .bind(&e.target_name)
        .bind(&e.before)
        .bind(&e.after)
        .bind(&e.request_id)
        .bind(&e.source)
        .bind(&e.user_agent)
        .bind(&e.result)
        .bind(event_text(e))
        .fetch_one(&mut **tx)
        .await?)
}

/// Filters of `GET /api/v1/audit`.
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    /// Events of these teams...
    pub team_ids: Vec<i64>,
    /// ...and team-less events (logins) of this user.
    pub own_user: Option<i64>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub result: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Return events with an id below this (newest first).
    pub before_id: Option<i64>,
    pub limit: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    at: DateTime<Utc>,
    actor_id: Option<i64>,
    actor_name: String,
    team_id: Option<i64>,
    action: String,
    target_type: String,
    target_id: Option<String>,
    target_name: Option<String>,
    before: Option<Value>,
    after: Option<Value>,
    request_id: Option<String>,
    source: Option<String>,
    user_agent: Option<String>,
    result: String,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

const COLUMNS: &str = "id, at, actor_id, actor_name, team_id, action, target_type, target_id, \
     target_name, before, after, request_id, source, user_agent, result, prev_hash, hash";

fn to_stored(r: Row) -> StoredEvent {
    StoredEvent {
        id: r.id,
        event: NewEvent {
            at: r.at.to_rfc3339_opts(SecondsFormat::Micros, true),
            actor_id: r.actor_id,
            actor_name: r.actor_name,
            team_id: r.team_id,
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            target_name: r.target_name,
            before: r.before,
            after: r.after,
            request_id: r.request_id,
            source: r.source,
            user_agent: r.user_agent,
            result: r.result,
        },
        prev_hash: r.prev_hash,
        hash: r.hash,
    }
}

impl Db {
    /// One page of a team's events, newest first.
    pub async fn audit_page(&self, f: &AuditFilter) -> Result<Vec<StoredEvent>> {
        let q = format!(
            "SELECT {COLUMNS} FROM audit_events \
             WHERE (team_id = ANY($1) OR (team_id IS NULL AND actor_id = $10)) \
             AND ($2::text IS NULL OR actor_name = $2) \
             AND ($3::text IS NULL OR action = $3) \
             AND ($4::text IS NULL OR target_type = $4) \
             AND ($5::text IS NULL OR target_id = $5) \
             AND ($6::timestamptz IS NULL OR at >= $6) \
             AND ($7::timestamptz IS NULL OR at < $7) \
             AND ($8::bigint IS NULL OR id < $8) \
             AND ($11::text IS NULL OR result = $11) \
             ORDER BY id DESC LIMIT $9"
        );
        // Not prepared: planned for the filters given (`plan_cache_mode`, see `Db::connect`).
        let rows: Vec<Row> = sqlx::query_as(&q)
            .persistent(false)
            .bind(&f.team_ids)
            .bind(&f.actor)
            .bind(&f.action)
            .bind(&f.target_type)
            .bind(&f.target_id)
            .bind(f.since)
            .bind(f.until)
            .bind(f.before_id)
            .bind(f.limit)
            .bind(f.own_user)
            .bind(&f.result)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(to_stored).collect())
    }

    /// The recorded head of the chain (hash and id of the newest event).
    pub async fn audit_head(&self) -> Result<(Vec<u8>, Option<i64>)> {
        Ok(
            sqlx::query_as("SELECT last_hash, last_id FROM audit_head WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Every event in chain order, for `lockstep audit verify`.
    pub async fn audit_all(&self) -> Result<Vec<StoredEvent>> {
        let q = format!("SELECT {COLUMNS} FROM audit_events ORDER BY id");
        let rows: Vec<Row> = sqlx::query_as(&q).fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(to_stored).collect())
    }
}
