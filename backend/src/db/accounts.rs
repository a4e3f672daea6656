//! Users, teams, memberships, sessions and failed logins.

use super::{Db, Tx};
use anyhow::Result;
use chrono::{DateTime, Utc};
use lockstep_shared::api;

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: i64,
    pub name: String,
    pub password_hash: String,
}

/// Notified (in the changing transaction) whenever a session ends or someone's teams or roles
/// change: servers caching identities listen on it (`auth::cache`).
pub const AUTH_CHANNEL: &str = "lockstep_auth";

/// Tells every server that identities changed; delivered when `tx` commits.
pub async fn notify_auth_change(tx: &mut Tx<'_>) -> Result<()> {
    sqlx::query("SELECT pg_notify($1, 'memberships')")
        .bind(AUTH_CHANNEL)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Who a live session belongs to.
#[derive(Debug, Clone)]
pub struct SessionIdentity {
    pub user_id: i64,
    pub user_name: String,
    pub csrf_token: String,
    pub memberships: Vec<Membership>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Membership {
    pub team_id: i64,
    pub team: String,
    pub role: String,
}

impl From<&Membership> for api::Membership {
    fn from(m: &Membership) -> api::Membership {
        api::Membership {
            team_id: m.team_id,
            team: m.team.clone(),
            role: m.role.clone(),
        }
    }
}

impl From<TokenRow> for api::Token {
    fn from(t: TokenRow) -> api::Token {
        api::Token {
            id: t.id,
            name: t.name,
            team: t.team,
            created_at: t.created_at.into(),
            last_used_at: t.last_used_at.map(Into::into),
            revoked_at: t.revoked_at.map(Into::into),
        }
    }
}

impl Db {
    pub async fn count_users(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM users")
            .fetch_one(&self.pool)
            .await?)
    }

    pub async fn user_by_name(&self, name: &str) -> Result<Option<UserRow>> {
        let row: Option<(i64, String, String)> =
            sqlx::query_as("SELECT id, name, password_hash FROM users WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(id, name, password_hash)| UserRow {
            id,
            name,
            password_hash,
        }))
    }

    pub async fn memberships(&self, user_id: i64) -> Result<Vec<Membership>> {
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT t.id, t.name, m.role FROM memberships m JOIN teams t ON t.id = m.team_id \
             WHERE m.user_id = $1 ORDER BY t.name",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(team_id, team, role)| Membership {
                team_id,
                team,
                role,
            })
            .collect())
    }

    pub async fn create_session(
        &self,
        id_hash: &[u8],
        user_id: i64,
        csrf: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query("INSERT INTO sessions (id_hash, user_id, csrf_token, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(id_hash)
            .bind(user_id)
            .bind(csrf)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The user, CSRF token, memberships and expiry of a live session, in one round trip.
    pub async fn session_identity(&self, id_hash: &[u8]) -> Result<Option<SessionIdentity>> {
        let row: Option<(i64, String, String, serde_json::Value, DateTime<Utc>)> = sqlx::query_as(
            "SELECT u.id, u.name, s.csrf_token, \
             coalesce(json_agg(json_build_object('team_id', t.id, 'team', t.name, 'role', m.role) \
             ORDER BY t.name) FILTER (WHERE t.id IS NOT NULL), '[]'::json), s.expires_at \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             LEFT JOIN memberships m ON m.user_id = u.id LEFT JOIN teams t ON t.id = m.team_id \
             WHERE s.id_hash = $1 AND s.expires_at > now() \
             GROUP BY u.id, u.name, s.csrf_token, s.expires_at",
        )
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(id, name, csrf, m, expires_at)| {
            let memberships = m
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| {
                    Some(Membership {
                        team_id: x["team_id"].as_i64()?,
                        team: x["team"].as_str()?.to_owned(),
                        role: x["role"].as_str()?.to_owned(),
                    })
                })
                .collect();
            SessionIdentity {
                user_id: id,
                user_name: name,
                csrf_token: csrf,
                memberships,
                expires_at,
            }
        }))
    }

    /// Ends a session, telling every server (`AUTH_CHANNEL`). Expired sessions are removed by
    /// [`Db::prune`].
    pub async fn delete_session(&self, id_hash: &[u8]) -> Result<()> {
        sqlx::query(
            "WITH gone AS (DELETE FROM sessions WHERE id_hash = $1 RETURNING 1) \
             SELECT pg_notify($2, 'session') WHERE EXISTS (SELECT 1 FROM gone)",
        )
        .bind(id_hash)
        .bind(AUTH_CHANNEL)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn record_failed_login(&self, user: &str, source: &str) -> Result<()> {
        sqlx::query("INSERT INTO failed_logins (user_name, source) VALUES ($1, $2)")
            .bind(user)
            .bind(source)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Failed logins for this user name, and from this source, in the last `window_secs`.
    /// Deletes expired sessions and failed logins older than `keep_secs`; returns how many of
    /// each.
    pub async fn prune(&self, keep_secs: i64) -> Result<(u64, u64)> {
        let sessions = sqlx::query("DELETE FROM sessions WHERE expires_at <= now()")
            .execute(&self.pool)
            .await?
            .rows_affected();
        let failed =
            sqlx::query("DELETE FROM failed_logins WHERE at < now() - make_interval(secs => $1)")
                .bind(keep_secs as f64)
                .execute(&self.pool)
                .await?
                .rows_affected();
        sqlx::query("DELETE FROM name_probes WHERE at < now() - make_interval(secs => $1)")
            .bind(keep_secs as f64)
            .execute(&self.pool)
            .await?;
        Ok((sessions, failed))
    }

    pub async fn recent_failed_logins(
        &self,
        user: &str,
        source: &str,
        window_secs: i64,
    ) -> Result<(i64, i64)> {
        Ok(sqlx::query_as(
            "SELECT count(*) FILTER (WHERE user_name = $1), count(*) FILTER (WHERE source = $2) \
             FROM failed_logins WHERE at > now() - make_interval(secs => $3)",
        )
        .bind(user)
        .bind(source)
        .bind(window_secs as f64)
        .fetch_one(&self.pool)
        .await?)
    }
}

/// Creates a user in a team (the team is created when missing). Fails when the user exists.
pub async fn create_user(
    tx: &mut Tx<'_>,
    team: &str,
    role: &str,
    user: &str,
    password_hash: &str,
) -> Result<(i64, i64)> {
    sqlx::query("INSERT INTO teams (name) VALUES ($1) ON CONFLICT (name) DO NOTHING")
        .bind(team)
        .execute(&mut **tx)
        .await?;
    let team_id: i64 = sqlx::query_scalar("SELECT id FROM teams WHERE name = $1")
        .bind(team)
        .fetch_one(&mut **tx)
        .await?;
    let user_id: i64 =
        sqlx::query_scalar("INSERT INTO users (name, password_hash) VALUES ($1, $2) RETURNING id")
            .bind(user)
            .bind(password_hash)
            .fetch_one(&mut **tx)
            .await?;
    sqlx::query("INSERT INTO memberships (team_id, user_id, role) VALUES ($1, $2, $3)")
        .bind(team_id)
        .bind(user_id)
        .bind(role)
        .execute(&mut **tx)
        .await?;
    Ok((user_id, team_id))
}

/// A live API token: its owner and the one team it acts in.
#[derive(Debug, Clone)]
pub struct TokenOwner {
    pub token_id: i64,
    pub user_id: i64,
    pub user_name: String,
    /// The owner's membership of the token's team.
    pub membership: Option<Membership>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    pub id: i64,
    pub name: String,
    pub team: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Db {
    /// The owner of a live token and the owner's membership of the token's team (none when
    /// they left it), in one round trip. `last_used_at` is brought up to date at most once a
    /// minute, so automation does not write a row on every request.
    pub async fn token_owner(&self, token_hash: &[u8]) -> Result<Option<TokenOwner>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            token_id: i64,
            user_id: i64,
            user_name: String,
            team_id: i64,
            team: Option<String>,
            role: Option<String>,
        }
        let row: Option<Row> = sqlx::query_as(
            "WITH t AS (SELECT id, user_id, team_id, last_used_at FROM api_tokens \
                 WHERE token_hash = $1 AND revoked_at IS NULL), \
             used AS (UPDATE api_tokens SET last_used_at = now() \
                 WHERE id IN (SELECT id FROM t WHERE last_used_at IS NULL \
                 OR last_used_at < now() - interval '1 minute')) \
             SELECT t.id AS token_id, u.id AS user_id, u.name AS user_name, t.team_id, \
             tm.name AS team, m.role FROM t JOIN users u ON u.id = t.user_id \
             LEFT JOIN memberships m ON m.team_id = t.team_id AND m.user_id = t.user_id \
             LEFT JOIN teams tm ON tm.id = m.team_id",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| TokenOwner {
            token_id: r.token_id,
            user_id: r.user_id,
            user_name: r.user_name,
            membership: r.team.zip(r.role).map(|(team, role)| Membership {
                team_id: r.team_id,
                team,
                role,
            }),
        }))
    }

    pub async fn tokens(&self, user_id: i64) -> Result<Vec<TokenRow>> {
        Ok(sqlx::query_as(
            "SELECT t.id, t.name, tm.name AS team, t.created_at, t.last_used_at, t.revoked_at \
             FROM api_tokens t JOIN teams tm ON tm.id = t.team_id WHERE t.user_id = $1 \
             ORDER BY t.id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }
}

pub async fn create_token(
    tx: &mut Tx<'_>,
    user_id: i64,
    team_id: i64,
    name: &str,
    token_hash: &[u8],
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO api_tokens (user_id, team_id, name, token_hash) VALUES ($1, $2, $3, $4) \
         RETURNING id",
    )
    .bind(user_id)
    .bind(team_id)
    .bind(name)
    .bind(token_hash)
    .fetch_one(&mut **tx)
    .await?)
}

/// Revokes one of the user's tokens; the team it acted in, if it was live.
pub async fn revoke_token(tx: &mut Tx<'_>, user_id: i64, id: i64) -> Result<Option<(String, i64)>> {
    Ok(sqlx::query_as(
        "UPDATE api_tokens SET revoked_at = now() \
         WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL RETURNING name, team_id",
    )
    .bind(id)
    .bind(user_id)
    .fetch_optional(&mut **tx)
    .await?)
}
