//! Teams and their members' roles.

use super::{Db, Tx};
use anyhow::Result;
use lockstep_shared::api;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRow {
    pub user_id: i64,
    pub user: String,
    pub role: String,
}

/// Creates a team with `user_id` as its admin; `Ok(None)` when the name is taken.
pub async fn create_team(tx: &mut Tx<'_>, name: &str, user_id: i64) -> Result<Option<i64>> {
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO teams (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id",
    )
    .bind(name)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(id) = id else { return Ok(None) };
    sqlx::query("INSERT INTO memberships (team_id, user_id, role) VALUES ($1, $2, 'admin')")
        .bind(id)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    super::accounts::notify_auth_change(tx).await?;
    Ok(Some(id))
}

/// Locks the team's memberships for a change (concurrent changes cannot both remove the last
/// admin).
pub async fn lock_team(tx: &mut Tx<'_>, team_id: i64) -> Result<()> {
    sqlx::query("SELECT id FROM teams WHERE id = $1 FOR UPDATE")
        .bind(team_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Gives `user_id` `role` in the team; returns the role they had (`None`: newly added).
pub async fn set_role(
    tx: &mut Tx<'_>,
    team_id: i64,
    user_id: i64,
    role: &str,
) -> Result<Option<String>> {
    let before: Option<String> = sqlx::query_scalar(
        "SELECT role FROM memberships WHERE team_id = $1 AND user_id = $2 FOR UPDATE",
    )
    .bind(team_id)
    .bind(user_id)
    .fetch_optional(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO memberships (team_id, user_id, role) VALUES ($1, $2, $3) \
         ON CONFLICT (team_id, user_id) DO UPDATE SET role = EXCLUDED.role",
    )
    .bind(team_id)
    .bind(user_id)
    .bind(role)
    .execute(&mut **tx)
    .await?;
    super::accounts::notify_auth_change(tx).await?;
    Ok(before)
}

/// The role of `user_id` in the team, locked (`None`: not a member).
pub async fn role_of(tx: &mut Tx<'_>, team_id: i64, user_id: i64) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT role FROM memberships WHERE team_id = $1 AND user_id = $2 FOR UPDATE",
    )
    .bind(team_id)
    .bind(user_id)
    .fetch_optional(&mut **tx)
    .await?)
}

/// Removes `user_id` from the team; returns the role they had (`None`: not a member).
pub async fn remove(tx: &mut Tx<'_>, team_id: i64, user_id: i64) -> Result<Option<String>> {
    let role = sqlx::query_scalar(
        "DELETE FROM memberships WHERE team_id = $1 AND user_id = $2 RETURNING role",
    )
    .bind(team_id)
    .bind(user_id)
    .fetch_optional(&mut **tx)
    .await?;
    super::accounts::notify_auth_change(tx).await?;
    Ok(role)
}

/// How many admins the team has (inside the change's transaction).
pub async fn admins(tx: &mut Tx<'_>, team_id: i64) -> Result<i64> {
    Ok(
        sqlx::query_scalar(
            "SELECT count(*) FROM memberships WHERE team_id = $1 AND role = 'admin'",
        )
        .bind(team_id)
        .fetch_one(&mut **tx)
        .await?,
    )
}

impl Db {
    pub async fn members(&self, team_id: i64) -> Result<Vec<MemberRow>> {
        Ok(sqlx::query_as(
            "SELECT u.id AS user_id, u.name AS user, m.role FROM memberships m \
             JOIN users u ON u.id = m.user_id WHERE m.team_id = $1 ORDER BY u.name",
        )
        .bind(team_id)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// A pending invitation to a team.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InvitationRow {
    pub team: String,
    pub user: String,
    pub role: String,
    pub invited_by: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<MemberRow> for api::Member {
    fn from(m: MemberRow) -> api::Member {
        api::Member {
            user_id: m.user_id,
            user: m.user,
            role: m.role,
        }
    }
}

impl From<InvitationRow> for api::Invitation {
    fn from(i: InvitationRow) -> api::Invitation {
        api::Invitation {
            team: i.team,
            user: i.user,
            role: i.role,
            invited_by: i.invited_by,
            created_at: i.created_at.into(),
        }
    }
}

const INVITATION: &str = "SELECT t.name AS team, i.user_name AS user, i.role, i.invited_by, \
                          i.created_at FROM team_invitations i JOIN teams t ON t.id = i.team_id";

/// Invites `user` (by name, whether or not the account exists yet) with `role`, replacing an
/// earlier invitation; returns the role it had (`None`: new).
pub async fn invite(
    tx: &mut Tx<'_>,
    team_id: i64,
    user: &str,
    role: &str,
    by: &str,
) -> Result<Option<String>> {
    let before: Option<String> = sqlx::query_scalar(
        "SELECT role FROM team_invitations WHERE team_id = $1 AND user_name = $2 FOR UPDATE",
    )
    .bind(team_id)
    .bind(user)
    .fetch_optional(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO team_invitations (team_id, user_name, role, invited_by) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (team_id, user_name) \
         DO UPDATE SET role = EXCLUDED.role, invited_by = EXCLUDED.invited_by, created_at = now()",
    )
    .bind(team_id)
    .bind(user)
    .bind(role)
    .bind(by)
    .execute(&mut **tx)
    .await?;
    Ok(before)
}

/// Removes the invitation of `user` to the team; returns its role (`None`: there was none).
pub async fn withdraw(tx: &mut Tx<'_>, team_id: i64, user: &str) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "DELETE FROM team_invitations WHERE team_id = $1 AND user_name = $2 RETURNING role",
    )
    .bind(team_id)
    .bind(user)
    .fetch_optional(&mut **tx)
    .await?)
}

/// The team id of `team` and the role `user` is invited with there, locked for accepting or
/// declining.
pub async fn invitation_for(
    tx: &mut Tx<'_>,
    team: &str,
    user: &str,
) -> Result<Option<(i64, String)>> {
    Ok(sqlx::query_as(
        "SELECT i.team_id, i.role FROM team_invitations i JOIN teams t ON t.id = i.team_id \
         WHERE t.name = $1 AND i.user_name = $2 FOR UPDATE OF i",
    )
    .bind(team)
    .bind(user)
    .fetch_optional(&mut **tx)
    .await?)
}

/// Records an answer that told `user_id` a name was taken (see [`Db::recent_name_probes`]).
pub async fn record_name_probe(tx: &mut Tx<'_>, user_id: i64) -> Result<()> {
    sqlx::query("INSERT INTO name_probes (user_id) VALUES ($1)")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Db {
    /// Pending invitations to the team.
    pub async fn team_invitations(&self, team_id: i64) -> Result<Vec<InvitationRow>> {
        Ok(sqlx::query_as(&format!(
            "{INVITATION} WHERE i.team_id = $1 ORDER BY i.user_name"
        ))
        .bind(team_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Pending invitations of a user, by name.
    pub async fn invitations_of(&self, user: &str) -> Result<Vec<InvitationRow>> {
        Ok(sqlx::query_as(&format!(
            "{INVITATION} WHERE i.user_name = $1 ORDER BY t.name"
        ))
        .bind(user)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Name-probing answers `user_id` got in the last `window_secs` seconds.
    pub async fn recent_name_probes(&self, user_id: i64, window_secs: u64) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM name_probes WHERE user_id = $1 \
             AND at > now() - make_interval(secs => $2)",
        )
        .bind(user_id)
        .bind(window_secs as f64)
        .fetch_one(&self.pool)
        .await?)
    }
}
