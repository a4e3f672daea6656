//! `GET /api/v1/audit`: events of the caller's teams (and the caller's own logins), newest
//! first, with filters and a cursor.

use super::errors::AppError;
use super::openapi::schema;
use super::AppState;
use crate::audit::{NewEvent, StoredEvent};
use crate::auth::{Identity, Role};
use crate::db::audit::AuditFilter;
use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Utc};
use lockstep_shared::api::{AuditPage, AuditResult, AuditTarget};
use lockstep_shared::Document;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use utoipa::IntoParams;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Query {
    /// Only this team (by name); default: all of the caller's teams.
    team: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    #[param(value_type = Option<schema::AuditTarget>)]
    target_type: Option<AuditTarget>,
    target_id: Option<String>,
    /// `ok`, or what else came of it.
    #[param(value_type = Option<schema::AuditResult>)]
    result: Option<AuditResult>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    /// The `next_cursor` of the previous page.
    cursor: Option<i64>,
    limit: Option<i64>,
}

/// The versions a `configuration.update` event moved between, from its before and after.
fn update_versions(e: &NewEvent) -> Option<(i64, i32, i32)> {
    if e.action != "configuration.update" {
        return None;
    }
    let id = e.target_id.as_deref()?.parse().ok()?;
    let from = e.before.as_ref()?["version"].as_i64()?;
    let to = e.after.as_ref()?["version"].as_i64()?;
    Some((id, i32::try_from(from).ok()?, i32::try_from(to).ok()?))
}

/// What each `configuration.update` event on the page changed: the structural diff between
/// the versions it records (pinned by their digests; `lockstep audit verify` checks them).
async fn update_diffs(
    state: &AppState,
    events: &[StoredEvent],
) -> Result<HashMap<i64, Value>, AppError> {
    let wanted: Vec<(i64, i32)> = events
        .iter()
        .filter_map(|e| update_versions(&e.event))
        .flat_map(|(id, a, b)| [(id, a), (id, b)])
        .collect();
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    let docs: HashMap<(i64, i32), Document> = state
        .db
        .version_documents(&wanted)
        .await?
        .into_iter()
        .filter_map(|(id, v, doc)| Some(((id, v), Document::from_json(&doc).ok()?)))
        .collect();
    Ok(events
        .iter()
        .filter_map(|e| {
            let (id, a, b) = update_versions(&e.event)?;
            let d = lockstep_shared::diff::diff(docs.get(&(id, a))?, docs.get(&(id, b))?);
            Some((e.id, serde_json::to_value(d).ok()?))
        })
        .collect())
}

/// Audit events of the caller's teams (and the caller's own logins), with filters and a cursor.
#[utoipa::path(tag = "audit", params(Query), responses((status = 200, body = schema::AuditPage)))]
#[get("/audit")]
pub async fn list_audit_events(
    state: web::Data<AppState>,
    id: Identity,
    q: web::Query<Query>,
) -> Result<HttpResponse, AppError> {
    let team_ids: Vec<i64> = match &q.team {
        Some(t) => {
            let m = id.team(t)?;
            id.require(m.team_id, Role::Viewer)?;
            vec![m.team_id]
        }
        None => id.memberships.iter().map(|m| m.team_id).collect(),
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(AppError::bad(
            "bad_limit",
            format!("limit {limit} is not between 1 and 500"),
        ));
    }
    let q = q.into_inner();
    let own = q.team.is_none().then_some(id.user_id);
    let f = AuditFilter {
        team_ids,
        own_user: own,
        actor: q.actor,
        action: q.action,
        target_type: q.target_type.map(|t| t.as_str().to_owned()),
        target_id: q.target_id,
        result: q.result.map(|r| r.as_str().to_owned()),
        since: q.since,
        until: q.until,
        before_id: q.cursor,
        limit,
    };
    let events = state.db.audit_page(&f).await?;
    let next = if events.len() as i64 == limit {
        events.last().map(|e| e.id)
    } else {
        None
    };
    let diffs = update_diffs(&state, &events).await?;
    let items: Vec<_> = events
        .into_iter()
        .map(|e| {
            let mut v = serde_json::to_value(&e.event).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.insert("id".into(), e.id.into());
                o.insert("hash".into(), hex::encode(&e.hash).into());
                if let Some(d) = diffs.get(&e.id) {
                    o.insert("diff".into(), d.clone());
                }
            }
            v
        })
        .collect();
    Ok(HttpResponse::Ok().json(AuditPage {
        events: items,
        next_cursor: next,
    }))
}
