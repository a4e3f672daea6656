//! Who is calling: password hashing (argon2id), session ids, the [`Identity`] of a caller and
//! its role checks. Nothing here knows HTTP: `http::session` extracts the identity from a
//! request (cookie and CSRF, or bearer token), and `http::errors` answers a [`Denied`].
//!
//! A browser authenticates with the `lockstep_session` cookie (HttpOnly, SameSite=Strict);
//! every cookie-authenticated change must also carry the session's CSRF token in the
//! `X-CSRF-Token` header. Automation uses `Authorization: Bearer <token>` with an API token that
//! acts in one team. Only SHA-256 digests of session ids and tokens are stored.

pub mod cache;

use crate::db::accounts::Membership;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;

pub const SESSION_COOKIE: &str = "lockstep_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Session lifetime.
pub const SESSION_HOURS: i64 = 12;

/// An argon2id PHC string for `password`.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hash password: {e}"))
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash to verify against when the user does not exist, so both paths cost the same.
pub fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| hash_password("not a password").unwrap_or_default())
}

/// `n` random bytes as hex.
pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

pub fn sha256(s: &str) -> Vec<u8> {
    crate::digest::sha256(s.as_bytes()).to_vec()
}

/// Roles in increasing power.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Editor,
    Deployer,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "editor" => Some(Role::Editor),
            "deployer" => Some(Role::Deployer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// Why the caller may not do something.
#[derive(Debug, thiserror::Error)]
pub enum Denied {
    /// The object is not the caller's to see (its existence does not leak).
    #[error("{0} not found")]
    NotFound(String),
    /// The caller sees it but lacks the role, or used a token where a person must act.
    #[error("{0}")]
    Forbidden(String),
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user_id: i64,
    pub user_name: String,
    pub memberships: Vec<Membership>,
    pub csrf_token: String,
    pub session_hash: Vec<u8>,
    /// Set when the caller authenticated with an API token (then only its team is visible).
    pub token_id: Option<i64>,
}

impl Identity {
    /// The caller's role in a team, if a member.
    pub fn role_in(&self, team_id: i64) -> Option<Role> {
        self.membership(team_id).and_then(|m| Role::parse(&m.role))
    }

    /// The team by name, if the caller is a member; otherwise "not found" (no other team's
    /// existence leaks).
    pub fn team(&self, name: &str) -> Result<&Membership, Denied> {
        self.memberships
            .iter()
            .find(|m| m.team == name)
            .ok_or_else(|| Denied::NotFound(format!("team '{name}'")))
    }

    /// Fails with 403 when the caller used an API token: `what` needs a logged-in person.
    pub fn require_session(&self, what: &str) -> Result<(), Denied> {
        if self.token_id.is_some() {
            return Err(Denied::Forbidden(format!(
                "an API token cannot {what}; log in"
            )));
        }
        Ok(())
    }

    /// Fails with 403 unless the caller has at least `role` in the team.
    pub fn require(&self, team_id: i64, role: Role) -> Result<(), Denied> {
        self.require_in(team_id, role, || "team".to_owned())
    }

    /// For an object of team `team_id` (`what` names it): "not found" when the caller is not
    /// in that team (its existence does not leak), 403 when the caller's role is below `role`.
    pub fn require_in(
        &self,
        team_id: i64,
        role: Role,
        what: impl FnOnce() -> String,
    ) -> Result<(), Denied> {
        match self.role_in(team_id) {
            Some(r) if r >= role => Ok(()),
            Some(r) => Err(Denied::Forbidden(format!(
                "this needs the {role:?} role; you are {r:?} in this team"
            ))),
            None => Err(Denied::NotFound(what())),
        }
    }

    /// The caller's membership of a team.
    pub fn membership(&self, team_id: i64) -> Option<&Membership> {
        self.memberships.iter().find(|m| m.team_id == team_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_with_argon2id() {
        let h = hash_password("correct horse").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a phc string"));
    }

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Admin > Role::Deployer && Role::Deployer > Role::Editor);
        assert!(Role::Editor > Role::Viewer);
        assert_eq!(Role::parse("owner"), None);
    }
}
