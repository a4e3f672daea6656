//! Who is calling: password hashing (argon2id), session ids, the [`Identity`] extractor, CSRF
//! and role checks.
//!
//! A browser authenticates with the `lockstep_session` cookie (HttpOnly, SameSite=Strict);
//! every cookie-authenticated change must also carry the session's CSRF token in the
//! `X-CSRF-Token` header. Automation uses `Authorization: Bearer <token>` with an API token that
//! acts in one team. Only SHA-256 digests of session ids and tokens are stored.

pub mod cache;

use crate::db::accounts::{Membership, SessionIdentity};
use crate::http::errors::AppError;
use crate::http::AppState;
use actix_web::{dev::Payload, web, FromRequest, HttpMessage, HttpRequest};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use std::future::Future;
use std::pin::Pin;

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
    pub fn team(&self, name: &str) -> Result<&Membership, AppError> {
        self.memberships
            .iter()
            .find(|m| m.team == name)
            .ok_or_else(|| AppError::NotFound(format!("team '{name}'")))
    }

    /// Fails with 403 when the caller used an API token: `what` needs a logged-in person.
    pub fn require_session(&self, what: &str) -> Result<(), AppError> {
        if self.token_id.is_some() {
            return Err(AppError::Forbidden(format!(
                "an API token cannot {what}; log in"
            )));
        }
        Ok(())
    }

    /// Fails with 403 unless the caller has at least `role` in the team.
    pub fn require(&self, team_id: i64, role: Role) -> Result<(), AppError> {
        self.require_in(team_id, role, || "team".to_owned())
    }

    /// For an object of team `team_id` (`what` names it): "not found" when the caller is not
    /// in that team (its existence does not leak), 403 when the caller's role is below `role`.
    pub fn require_in(
        &self,
        team_id: i64,
        role: Role,
        what: impl FnOnce() -> String,
    ) -> Result<(), AppError> {
        match self.role_in(team_id) {
            Some(r) if r >= role => Ok(()),
            Some(r) => Err(AppError::Forbidden(format!(
                "this needs the {role:?} role; you are {r:?} in this team"
            ))),
            None => Err(AppError::NotFound(what())),
        }
    }

    /// The caller's membership of a team.
    pub fn membership(&self, team_id: i64) -> Option<&Membership> {
        self.memberships.iter().find(|m| m.team_id == team_id)
    }
}

fn is_safe_method(req: &HttpRequest) -> bool {
    matches!(req.method().as_str(), "GET" | "HEAD" | "OPTIONS")
}

async fn identify(req: HttpRequest) -> Result<Identity, AppError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no app state")))?;
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    if let Some(token) = bearer {
        // API tokens act in one team with the owner's role there; no cookie, so no CSRF.
        let Some(owner) = state.db.token_owner(&sha256(&token)).await? else {
            return Err(AppError::Unauthorized);
        };
        let id = Identity {
            user_id: owner.user_id,
            user_name: owner.user_name,
            memberships: owner.membership.into_iter().collect(),
            csrf_token: String::new(),
            session_hash: Vec::new(),
            token_id: Some(owner.token_id),
        };
        req.extensions_mut().insert(id.clone());
        return Ok(id);
    }
    let Some(cookie) = req.cookie(SESSION_COOKIE) else {
        return Err(AppError::Unauthorized);
    };
    let session_hash = sha256(cookie.value());
    let found = match state.auth.get(&session_hash) {
        Some(cached) => Some(cached),
        None => {
            let generation = state.auth.generation();
            let loaded = state.db.session_identity(&session_hash).await?;
            if let Some(s) = &loaded {
                state
                    .auth
                    .store(generation, session_hash.clone(), s.clone());
            }
            loaded
        }
    };
    let Some(SessionIdentity {
        user_id,
        user_name,
        csrf_token,
        memberships,
        ..
    }) = found
    else {
        return Err(AppError::Unauthorized);
    };
    if !is_safe_method(&req) {
        let sent = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if sent != csrf_token {
            return Err(AppError::Forbidden(
                "missing or wrong X-CSRF-Token header for a cookie-authenticated change".into(),
            ));
        }
    }
    let id = Identity {
        user_id,
        user_name,
        memberships,
        csrf_token,
        session_hash,
        token_id: None,
    };
    req.extensions_mut().insert(id.clone());
    Ok(id)
}

impl FromRequest for Identity {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Identity, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(identify(req.clone()))
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
