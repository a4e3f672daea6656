//! The audit log's hash chain: what an event is, how its hash is computed, and how a chain is
//! verified. Pure functions; `db::audit` stores and reads the events.
//!
//! `hash = SHA-256(prev_hash || canonical JSON of the event)`, where canonical JSON has object
//! keys sorted at every level, so a value read back from JSONB hashes like the value written.
//! The first event's `prev_hash` is 32 zero bytes.

use lockstep_shared::api::{AuditResult, AuditTarget};
use serde::Serialize;
use serde_json::Value;

/// An event before it is chained.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewEvent {
    /// RFC 3339 with microseconds, UTC (the precision Postgres keeps).
    pub at: String,
    pub actor_id: Option<i64>,
    pub actor_name: String,
    pub team_id: Option<i64>,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub target_name: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub request_id: Option<String>,
    pub source: Option<String>,
    pub user_agent: Option<String>,
    pub result: String,
}

impl NewEvent {
    /// An event of `action` on `target` by the actor, now, done (`ok`); the caller fills in
    /// the rest.
    pub fn new(
        actor_id: Option<i64>,
        actor_name: &str,
        team_id: Option<i64>,
        action: &str,
        target: AuditTarget,
        target_id: Option<String>,
    ) -> NewEvent {
        NewEvent {
            at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            actor_id,
            actor_name: actor_name.to_owned(),
            team_id,
            action: action.to_owned(),
            target_type: target.as_str().to_owned(),
            target_id,
            target_name: None,
            before: None,
            after: None,
            request_id: None,
            source: None,
            user_agent: None,
            result: AuditResult::Ok.as_str().to_owned(),
        }
    }

    /// What came of it.
    pub fn set_result(&mut self, r: AuditResult) {
        self.result = r.as_str().to_owned();
    }
}

pub const GENESIS: [u8; 32] = [0; 32];

/// JSON text with object keys sorted at every level.
pub fn canonical_json(v: &Value) -> String {
    let mut out = Vec::with_capacity(1024);
    write_canonical(v, &mut out);
    // Only JSON text was written: valid UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// Writes `v` as canonical JSON: scalars and strings as serde_json writes them, keys sorted.
fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, x)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                // Writing a string into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, k);
                out.push(b':');
                write_canonical(x, out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(x, out);
            }
            out.push(b']');
        }
        other => {
            let _ = serde_json::to_writer(&mut *out, other);
        }
    }
}

/// The hash of `event` chained after `prev`.
pub fn event_hash(prev: &[u8], event: &NewEvent) -> Vec<u8> {
    crate::digest::sha256_of([prev, event_text(event).as_bytes()]).to_vec()
}

/// The canonical JSON text of an event: what its hash covers after the previous hash.
///
/// The canonical JSON of the event's serialized form, written field by field in key order
/// (each save computes one; building the whole event as a `Value` first cost twice as much).
/// A test keeps it byte for byte equal to `canonical_json` of the serialized event.
pub fn event_text(e: &NewEvent) -> String {
    fn key(out: &mut Vec<u8>, k: &str) {
        // After the opening brace, no comma.
        if out.len() > 1 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b"\":");
    }
    fn text(out: &mut Vec<u8>, s: Option<&str>) {
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &s);
    }
    fn number(out: &mut Vec<u8>, n: Option<i64>) {
        let _ = serde_json::to_writer(&mut *out, &n);
    }
    fn value(out: &mut Vec<u8>, v: Option<&Value>) {
        match v {
            Some(v) => write_canonical(v, out),
            None => out.extend_from_slice(b"null"),
        }
    }
    let mut out = Vec::with_capacity(512);
    out.push(b'{');
    // Keys in byte order, as canonical_json sorts them.
    key(&mut out, "action");
    text(&mut out, Some(&e.action));
    key(&mut out, "actor_id");
    number(&mut out, e.actor_id);
    key(&mut out, "actor_name");
    text(&mut out, Some(&e.actor_name));
    key(&mut out, "after");
    value(&mut out, e.after.as_ref());
    key(&mut out, "at");
    text(&mut out, Some(&e.at));
    key(&mut out, "before");
    value(&mut out, e.before.as_ref());
    key(&mut out, "request_id");
    text(&mut out, e.request_id.as_deref());
    key(&mut out, "result");
    text(&mut out, Some(&e.result));
    key(&mut out, "source");
    text(&mut out, e.source.as_deref());
    key(&mut out, "target_id");
    text(&mut out, e.target_id.as_deref());
    key(&mut out, "target_name");
    text(&mut out, e.target_name.as_deref());
    key(&mut out, "target_type");
    text(&mut out, Some(&e.target_type));
    key(&mut out, "team_id");
    number(&mut out, e.team_id);
    key(&mut out, "user_agent");
    text(&mut out, e.user_agent.as_deref());
    out.push(b'}');
    // Only JSON text was written: valid UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// A stored event as the verifier sees it.
pub struct StoredEvent {
    pub id: i64,
    pub event: NewEvent,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// Why a chain is broken, naming the first bad event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainError {
    /// The row's content no longer matches its hash: it was altered.
    Altered { id: i64 },
    /// The row does not follow the one before it: rows were removed or reordered before it.
    Broken { id: i64, after: Option<i64> },
}

impl std::fmt::Display for ChainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainError::Altered { id } => {
                write!(f, "audit event {id} was altered: its content does not match its hash")
            }
            ChainError::Broken { id, after: Some(prev) } => write!(
                f,
                "audit event {id} does not follow event {prev}: events between them were removed"
            ),
            ChainError::Broken { id, after: None } => write!(
                f,
                "audit event {id} is the first event but does not start the chain: earlier events were removed"
            ),
        }
    }
}

/// Walks events in id order; returns how many were checked, or the first bad one.
pub fn verify<'a, I: IntoIterator<Item = &'a StoredEvent>>(events: I) -> Result<u64, ChainError> {
    let mut prev_hash = GENESIS.to_vec();
    let mut prev_id = None;
    let mut n = 0;
    for e in events {
        if e.prev_hash != prev_hash {
            return Err(ChainError::Broken {
                id: e.id,
                after: prev_id,
            });
        }
        if event_hash(&prev_hash, &e.event) != e.hash {
            return Err(ChainError::Altered { id: e.id });
        }
        prev_hash = e.hash.clone();
        prev_id = Some(e.id);
        n += 1;
    }
    Ok(n)
}

/// The SHA-256 (hex) of a document's canonical JSON. Configuration events record it instead of
/// the document: the immutable version row holds the document, the chained event pins it.
pub fn document_digest(document: &Value) -> String {
    text_digest(&canonical_json(document))
}

/// The SHA-256 (hex) of a document's JSON text as stored: what configuration events record.
pub fn text_digest(text: &str) -> String {
    hex::encode(crate::digest::sha256(text.as_bytes()))
}

/// What `verify_versions` found wrong with a stored configuration version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionError {
    /// The document differs from the digest its audit event recorded.
    Altered {
        configuration: i64,
        version: i32,
        event: i64,
    },
    /// No audit event records this version: it was written behind the server's back.
    Unrecorded { configuration: i64, version: i32 },
}

impl std::fmt::Display for VersionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VersionError::Altered {
                configuration,
                version,
                event,
            } => write!(
                f,
                "configuration {configuration} version {version} was altered: its document does \
                 not match the digest recorded by audit event {event}"
            ),
            VersionError::Unrecorded {
                configuration,
                version,
            } => write!(
                f,
                "configuration {configuration} version {version} has no audit event: it was \
                 written behind the server's back"
            ),
        }
    }
}

/// Checks every stored configuration version against the digest its (already verified) audit
/// event recorded; returns how many were checked.
pub fn verify_versions<I: IntoIterator<Item = (i64, i32, String)>>(
    events: &[StoredEvent],
    versions: I,
) -> Result<u64, VersionError> {
    let mut recorded = std::collections::HashMap::new();
    for e in events {
        let ev = &e.event;
        if ev.target_type != "configuration"
            || !matches!(
                ev.action.as_str(),
                "configuration.create" | "configuration.update"
            )
        {
            continue;
        }
        let (Some(id), Some(after)) = (
            ev.target_id.as_deref().and_then(|t| t.parse::<i64>().ok()),
            &ev.after,
        ) else {
            continue;
        };
        let Some(version) = after["version"].as_i64() else {
            continue;
        };
        // Events written before digests were recorded carry the whole document.
        let digest = match (after["document_sha256"].as_str(), after.get("document")) {
            (Some(d), _) => d.to_owned(),
            (None, Some(doc)) => document_digest(doc),
            (None, None) => continue,
        };
        recorded.insert((id, version as i32), (e.id, digest));
    }
    let mut n = 0;
    for (configuration, version, document) in versions {
        let Some((event, digest)) = recorded.get(&(configuration, version)) else {
            return Err(VersionError::Unrecorded {
                configuration,
                version,
            });
        };
        // The digest covers the stored text. Versions stored as jsonb (before migration 0007)
        // had it computed over their canonical form, which their text no longer has.
        let canonical = || {
            serde_json::from_str::<Value>(&document)
                .map(|v| document_digest(&v))
                .unwrap_or_default()
        };
        if text_digest(&document) != *digest && canonical() != *digest {
            return Err(VersionError::Altered {
                configuration,
                version,
                event: *event,
            });
        }
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(action: &str) -> NewEvent {
        NewEvent {
            at: "2026-11-27T05:00:00.000001Z".into(),
            actor_id: Some(1),
            actor_name: "alice".into(),
            team_id: Some(1),
            action: action.into(),
            target_type: "configuration".into(),
            target_id: Some("7".into()),
            target_name: Some("vm1".into()),
            before: None,
            after: Some(serde_json::json!({"b": 1, "a": [1.5, {"z": null, "y": "x"}]})),
            request_id: None,
            source: None,
            user_agent: None,
            result: "ok".into(),
        }
    }

    #[test]
    fn event_text_is_the_canonical_json_of_the_serialized_event() {
        let generic = |e: &NewEvent| canonical_json(&serde_json::to_value(e).expect("serializes"));
        let mut full = ev("configuration.update");
        full.before =
            Some(serde_json::json!({"version": 3, "x": {"b": "\u{7f}\"\\\n", "a": -1e300}}));
        full.request_id = Some("r-1".into());
        full.source = Some("127.0.0.1".into());
        full.user_agent = Some("curl/8 \u{2028} ünïcødé \u{1}".into());
        full.target_name = Some("vm \"quoted\" </script>".into());
        let mut empty = ev("login.failed");
        empty.actor_id = None;
        empty.team_id = None;
        empty.target_id = None;
        empty.target_name = None;
        empty.after = None;
        empty.actor_name = String::new();
        for e in [ev("configuration.create"), full, empty] {
            assert_eq!(event_text(&e), generic(&e));
        }
    }

    fn chain(actions: &[&str]) -> Vec<StoredEvent> {
        let mut prev = GENESIS.to_vec();
        actions
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let event = ev(a);
                let hash = event_hash(&prev, &event);
                let s = StoredEvent {
                    id: i as i64 + 1,
                    event,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                s
            })
            .collect()
    }

    #[test]
    fn canonical_json_sorts_keys_everywhere() {
        let v = serde_json::json!({"b": 1, "a": {"d": 2, "c": [ {"f": 1, "e": 2} ]}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":[{"e":2,"f":1}],"d":2},"b":1}"#
        );
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify(&chain(&["a", "b", "c"])), Ok(3));
    }

    #[test]
    fn an_altered_event_is_named() {
        let mut c = chain(&["a", "b", "c"]);
        c[1].event.actor_name = "mallory".into();
        assert_eq!(verify(&c), Err(ChainError::Altered { id: 2 }));
    }

    #[test]
    fn a_removed_event_is_found() {
        let mut c = chain(&["a", "b", "c"]);
        c.remove(1);
        assert_eq!(
            verify(&c),
            Err(ChainError::Broken {
                id: 3,
                after: Some(1)
            })
        );
        let mut c = chain(&["a", "b"]);
        c.remove(0);
        assert_eq!(verify(&c), Err(ChainError::Broken { id: 2, after: None }));
    }

    #[test]
    fn versions_are_checked_against_digests_and_legacy_documents() {
        let doc = serde_json::json!({"guest": {"name": "vm1"}, "nodes": [1, 2]});
        let other = serde_json::json!({"guest": {"name": "vm2"}, "nodes": [1, 2]});
        // The text as the server stores it: not canonical (keys in the model's order).
        let text = r#"{"nodes":[1,2],"guest":{"name":"vm1"}}"#.to_owned();
        let other_text = other.to_string();
        let mut events = chain(&[
            "configuration.create",
            "configuration.update",
            "configuration.update",
        ]);
        events[0].event.after = Some(serde_json::json!({"version": 1, "document": doc}));
        events[1].event.after =
            Some(serde_json::json!({"version": 2, "document_sha256": document_digest(&doc)}));
        events[2].event.after =
            Some(serde_json::json!({"version": 3, "document_sha256": text_digest(&text)}));
        // Legacy events (whole document, or a digest of the canonical form) accept any text of
        // the same document; newer ones the stored text itself.
        let ok = verify_versions(
            &events,
            vec![
                (7, 1, text.clone()),
                (7, 2, text.clone()),
                (7, 3, text.clone()),
            ],
        );
        assert_eq!(ok, Ok(3));
        for (version, event) in [(1, 1), (2, 2), (3, 3)] {
            assert_eq!(
                verify_versions(&events, vec![(7, version, other_text.clone())]),
                Err(VersionError::Altered {
                    configuration: 7,
                    version,
                    event
                })
            );
        }
        assert_eq!(
            verify_versions(&events, vec![(7, 4, text)]),
            Err(VersionError::Unrecorded {
                configuration: 7,
                version: 4
            })
        );
    }
}
