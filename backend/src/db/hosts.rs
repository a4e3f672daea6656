//! Hosts registered per team.

use super::{Db, Tx};
use anyhow::Result;
use chrono::{DateTime, Utc};
use lockstep_shared::api;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HostRow {
    pub id: i64,
    pub team_id: i64,
    pub name: String,
    pub libvirt_uri: String,
    pub address: String,
    pub notes: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<HostRow> for api::Host {
    fn from(h: HostRow) -> api::Host {
        api::Host {
            id: h.id,
            team_id: h.team_id,
            name: h.name,
            libvirt_uri: h.libvirt_uri,
            address: h.address,
            notes: h.notes,
            created_at: h.created_at.into(),
            updated_at: h.updated_at.into(),
            deployments: Vec::new(),
        }
    }
}

pub struct HostFields<'a> {
    pub name: &'a str,
    pub libvirt_uri: &'a str,
    pub address: &'a str,
    pub notes: &'a str,
}

const COLUMNS: &str = "id, team_id, name, libvirt_uri, address, notes, created_at, updated_at";

/// The team's hosts, with the team row locked until the transaction ends, so that two
/// concurrent registrations cannot both pass the same-host check made on this list.
pub async fn lock_team_hosts(tx: &mut Tx<'_>, team_id: i64) -> Result<Vec<HostRow>> {
    sqlx::query("SELECT id FROM teams WHERE id = $1 FOR UPDATE")
        .bind(team_id)
        .execute(&mut **tx)
        .await?;
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM hosts WHERE team_id = $1 ORDER BY id"
    ))
    .bind(team_id)
    .fetch_all(&mut **tx)
    .await?)
}

/// Registers a host; `Ok(None)` when the team already has one by that name.
pub async fn create(tx: &mut Tx<'_>, team_id: i64, h: &HostFields<'_>) -> Result<Option<HostRow>> {
    Ok(sqlx::query_as(&format!(
        "INSERT INTO hosts (team_id, name, libvirt_uri, address, notes) VALUES ($1,$2,$3,$4,$5) \
         ON CONFLICT (team_id, name) DO NOTHING RETURNING {COLUMNS}"
    ))
    .bind(team_id)
    .bind(h.name)
    .bind(h.libvirt_uri)
    .bind(h.address)
    .bind(h.notes)
    .fetch_optional(&mut **tx)
    .await?)
}

/// Updates a host; `Err` with a unique violation when the new name is taken.
pub async fn update(tx: &mut Tx<'_>, id: i64, h: &HostFields<'_>) -> Result<HostRow> {
    Ok(sqlx::query_as(&format!(
        "UPDATE hosts SET name = $2, libvirt_uri = $3, address = $4, notes = $5, \
         updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(h.name)
    .bind(h.libvirt_uri)
    .bind(h.address)
    .bind(h.notes)
    .fetch_one(&mut **tx)
    .await?)
}

/// Hosts read again inside a transaction, share-locked until it ends: an edit of one of
/// them waits, and one made before is what this reads.
pub async fn share(tx: &mut Tx<'_>, ids: &[i64]) -> Result<Vec<HostRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM hosts WHERE id = ANY($1) ORDER BY id FOR SHARE"
    ))
    .bind(ids)
    .fetch_all(&mut **tx)
    .await?)
}

/// Locks a host's row until the transaction ends; a deployment made on it meanwhile (its
/// reference takes a key-share lock) commits first and is then seen.
pub async fn lock(tx: &mut Tx<'_>, id: i64) -> Result<()> {
    sqlx::query("SELECT 1 FROM hosts WHERE id = $1 FOR UPDATE")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn delete(tx: &mut Tx<'_>, id: i64) -> Result<()> {
    sqlx::query("DELETE FROM hosts WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Db {
    pub async fn hosts(&self, team_id: i64) -> Result<Vec<HostRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM hosts WHERE team_id = $1 ORDER BY name"
        ))
        .bind(team_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The active deployments on the team's hosts (on host `only` when given), with the role
    /// each host has in each: `(host id, use)`, by host and deployment.
    pub async fn host_uses(
        &self,
        team_id: i64,
        only: Option<i64>,
    ) -> Result<Vec<(i64, api::HostUse)>> {
        let rows: Vec<(i64, i64, i64, String, String, String)> = sqlx::query_as(
            "SELECT h.id, d.id, d.configuration_id, c.name, d.state, \
             CASE WHEN (d.primary_host_id IS NOT DISTINCT FROM h.id) <> d.roles_swapped THEN 'primary' \
             ELSE 'secondary' END \
             FROM hosts h \
             JOIN deployments d ON h.id IN (d.primary_host_id, d.secondary_host_id) \
             JOIN configurations c ON c.id = d.configuration_id \
             WHERE h.team_id = $1 AND ($2::bigint IS NULL OR h.id = $2) AND d.state = ANY($3) \
             ORDER BY h.id, d.id",
        )
        .bind(team_id)
        .bind(only)
        .bind(&super::deployments::ACTIVE[..])
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(host, deployment_id, configuration_id, configuration, state, role)| {
                    (
                        host,
                        api::HostUse {
                            deployment_id,
                            configuration_id,
                            configuration,
                            state,
                            role,
                        },
                    )
                },
            )
            .collect())
    }

    pub async fn host(&self, id: i64) -> Result<Option<HostRow>> {
        Ok(
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM hosts WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}
