//! Configuration versions as their JSON answers, kept by (configuration, version).
//!
//! A stored version never changes (its table refuses updates), so an entry cannot go stale. A
//! read still asks Postgres for the configuration row on every request: its current version,
//! its team (for the access check) and whether it is archived are always fresh, and a save made
//! through any server is seen by the next read everywhere. Only the version itself (document,
//! findings, author, message) comes from here, which spares Postgres decompressing and printing
//! the document for every read. Bounded by size: past [`BUDGET`] bytes the cache is cleared (a
//! crude but bounded policy).

use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::Mutex;

/// Bytes of JSON kept at most.
pub const BUDGET: usize = 64 << 20;

#[derive(Default)]
pub struct VersionCache {
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    map: HashMap<(i64, i32), Box<RawValue>>,
    bytes: usize,
}

impl VersionCache {
    /// The answer for version `version` of configuration `id`, if kept (a copy of its text).
    pub fn get(&self, id: i64, version: i32) -> Option<Box<RawValue>> {
        self.entries.lock().ok()?.map.get(&(id, version)).cloned()
    }

    /// Keeps the answer for a version (`json`: its serialized `VersionRow`).
    pub fn put(&self, id: i64, version: i32, json: Box<RawValue>) {
        let Ok(mut e) = self.entries.lock() else {
            return;
        };
        let len = json.get().len();
        if e.bytes + len > BUDGET {
            e.map.clear();
            e.bytes = 0;
        }
        if e.map.insert((id, version), json).is_none() {
            e.bytes += len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_versions_apart_and_stays_within_its_budget() {
        let c = VersionCache::default();
        let raw = |s: &str| RawValue::from_string(s.to_owned()).expect("json");
        c.put(1, 1, raw(r#"{"version":1}"#));
        c.put(1, 2, raw(r#"{"version":2}"#));
        assert_eq!(
            c.get(1, 1).map(|v| v.get().to_owned()).as_deref(),
            Some(r#"{"version":1}"#)
        );
        assert_eq!(
            c.get(1, 2).map(|v| v.get().to_owned()).as_deref(),
            Some(r#"{"version":2}"#)
        );
        assert!(c.get(2, 1).is_none());
        let big = format!("\"{}\"", "x".repeat(BUDGET / 2));
        c.put(2, 1, raw(&big));
        c.put(3, 1, raw(&big));
        let e = c.entries.lock().expect("lock");
        assert!(e.bytes <= BUDGET, "{} bytes kept", e.bytes);
        assert_eq!(
            e.bytes,
            e.map.values().map(|v| v.get().len()).sum::<usize>()
        );
    }
}
