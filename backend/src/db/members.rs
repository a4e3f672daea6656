//! Teams and their members' roles.

use super::{Db, Tx};
use anyhow::Result;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
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
