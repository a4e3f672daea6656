//! A cache of live sessions' identities, so most requests skip the session query.
//!
//! Correct across several server instances because every change that can make an entry wrong
//! (a logout, a membership or role change, a new team) sends a Postgres notification in the
//! same transaction, and every server listens: any notification clears the whole cache (they
//! are rare). Entries also carry their session's expiry. While the listener is not connected
//! (start-up, a lost connection), nothing is cached or served from the cache, and the cache is
//! cleared when listening starts again, so a missed notification cannot leave a stale entry.
//! An entry loaded from the database is stored only if no notification arrived while it was
//! being loaded. What remains is the delivery delay of a notification to other instances
//! (milliseconds); the instance that made the change clears its own cache before answering.

use crate::db::accounts::SessionIdentity;
use chrono::Utc;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// Entries kept at most; past this the cache is cleared (a crude but bounded policy).
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
pub struct AuthCache {
    entries: Mutex<HashMap<Vec<u8>, SessionIdentity>>,
    /// Bumped by every invalidation.
    generation: AtomicU64,
    /// Whether the listener is subscribed (only then may entries be used or stored).
    live: AtomicBool,
}

impl AuthCache {
    /// The cached identity of a live session.
    pub fn get(&self, session_hash: &[u8]) -> Option<SessionIdentity> {
        if !self.live.load(Ordering::Acquire) {
            return None;
        }
        let entries = self.entries.lock().ok()?;
        entries
            .get(session_hash)
            .filter(|s| s.expires_at > Utc::now())
            .cloned()
    }

    /// The generation to pass to [`store`](Self::store) for an entry about to be loaded.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Stores an entry loaded since `generation`, unless something changed meanwhile.
    pub fn store(&self, generation: u64, session_hash: Vec<u8>, identity: SessionIdentity) {
        if !self.live.load(Ordering::Acquire) {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            // Checked under the lock that `invalidate` takes too.
            if self.generation.load(Ordering::Acquire) != generation {
                return;
            }
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(session_hash, identity);
        }
    }

    /// Forgets every entry (a session ended, or someone's teams or roles changed).
    pub fn invalidate(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            entries.clear();
        }
    }

    /// The listener subscribed (`true`) or lost its connection (`false`); either way,
    /// everything cached so far is forgotten.
    pub fn set_live(&self, live: bool) {
        self.live.store(live, Ordering::Release);
        // After the flag: loads begun before it cannot store, and nothing older is served.
        self.invalidate();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(expires_in_secs: i64) -> SessionIdentity {
        SessionIdentity {
            user_id: 1,
            user_name: "alice".into(),
            csrf_token: "x".into(),
            memberships: Vec::new(),
            expires_at: Utc::now() + chrono::Duration::seconds(expires_in_secs),
        }
    }

    #[test]
    fn nothing_is_cached_unless_listening() {
        let c = AuthCache::default();
        c.store(c.generation(), vec![1], who(60));
        assert!(c.get(&[1]).is_none());
        c.set_live(true);
        c.store(c.generation(), vec![1], who(60));
        assert_eq!(c.get(&[1]).map(|s| s.user_id), Some(1));
        c.set_live(false);
        assert!(c.get(&[1]).is_none());
        c.set_live(true);
        assert!(c.get(&[1]).is_none(), "a reconnect starts empty");
    }

    #[test]
    fn an_invalidation_during_a_load_wins_and_expiry_is_kept() {
        let c = AuthCache::default();
        c.set_live(true);
        let g = c.generation();
        c.invalidate();
        c.store(g, vec![1], who(60));
        assert!(c.get(&[1]).is_none());
        c.store(c.generation(), vec![2], who(-1));
        assert!(c.get(&[2]).is_none(), "expired sessions are not served");
    }
}
