//! The host claims of each team's configurations, kept in memory and checked against the
//! team's claims epoch (migration 0009).
//!
//! A save is checked against the claims of its team's other active configurations (the same
//! port, image file or domain name on one host). Asking Postgres meant one index probe per
//! claim of the document, on every save, though claims rarely change: a save usually edits
//! neither ports nor files. Instead, the epoch comes with the configuration row the save reads
//! anyway; when it is the epoch of the claims held here, they are current, and the check is a
//! few hash lookups. Otherwise the team's claims are read again, with their epoch, in one
//! statement. Triggers bump the epoch in every transaction that changes claims, so no writer
//! (another server, SQL by hand) can change them unseen.
//!
//! A check is as current as the configuration row it was read with, which is what the index
//! probes gave too: a claim committed after that read is not seen by this save.

use super::Db;
use anyhow::Result;
use lockstep_shared::validate::cross::Claim;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Claims held in memory, all teams together, before they are dropped and read again.
const MAX_CLAIMS: usize = 1_000_000;

/// Every team's claims this server has read.
#[derive(Default)]
pub struct ClaimsCache {
    teams: Mutex<HashMap<i64, Arc<TeamClaims>>>,
}

/// One team's claims at one epoch, by value (a port, a path, a name).
struct TeamClaims {
    epoch: i64,
    by_value: HashMap<String, Vec<Owned>>,
}

/// A claim and the configuration (id and name) that holds it.
struct Owned {
    configuration_id: i64,
    configuration: String,
    claim: Claim,
}

impl TeamClaims {
    fn count(&self) -> usize {
        self.by_value.values().map(Vec::len).sum()
    }
}

impl ClaimsCache {
    fn get(&self, team_id: i64, epoch: i64) -> Option<Arc<TeamClaims>> {
        let teams = self.teams.lock().unwrap_or_else(|e| e.into_inner());
        // A newer epoch than the caller read is as good: its claims are later still.
        teams.get(&team_id).filter(|t| t.epoch >= epoch).cloned()
    }

    fn put(&self, team_id: i64, claims: Arc<TeamClaims>) {
        let mut teams = self.teams.lock().unwrap_or_else(|e| e.into_inner());
        if teams.get(&team_id).is_some_and(|t| t.epoch > claims.epoch) {
            return;
        }
        let held: usize = teams.values().map(|t| t.count()).sum();
        if held + claims.count() > MAX_CLAIMS {
            teams.clear();
        }
        teams.insert(team_id, claims);
    }
}

impl Db {
    /// The claims of team `team_id`'s active configurations other than `except` that have
    /// the same kind and value as one of `claims` (whether the host is the same is for
    /// `validate::cross` to decide), as of claims epoch `epoch` or later.
    pub async fn collisions(
        &self,
        team_id: i64,
        epoch: i64,
        claims: &[Claim],
        except: Option<i64>,
    ) -> Result<Vec<(String, Claim)>> {
        let team = match self.claims.get(team_id, epoch) {
            Some(team) => team,
            None => {
                let team = Arc::new(self.team_claims(team_id).await?);
                self.claims.put(team_id, team.clone());
                team
            }
        };
        let mut keys: Vec<(&str, &str)> = claims
            .iter()
            .map(|c| (c.kind.as_str(), c.value.as_str()))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let mut found = Vec::new();
        for (kind, value) in keys {
            let Some(owners) = team.by_value.get(value) else {
                continue;
            };
            found.extend(
                owners
                    .iter()
                    .filter(|o| o.claim.kind == kind && Some(o.configuration_id) != except)
                    .map(|o| (o.configuration.clone(), o.claim.clone())),
            );
        }
        Ok(found)
    }

    /// A team's claims with their epoch, read in one statement (one snapshot).
    async fn team_claims(&self, team_id: i64) -> Result<TeamClaims> {
        #[derive(sqlx::FromRow)]
        struct Row {
            epoch: i64,
            configuration_id: Option<i64>,
            configuration: Option<String>,
            kind: Option<String>,
            value: Option<String>,
            host_name: Option<String>,
            host_address: Option<String>,
            field: Option<String>,
        }
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT t.claims_epoch AS epoch, k.configuration_id, c.name AS configuration, \
             k.kind, k.value, k.host_name, k.host_address, k.field \
             FROM teams t LEFT JOIN configuration_claims k ON k.team_id = t.id \
             LEFT JOIN configurations c ON c.id = k.configuration_id WHERE t.id = $1",
        )
        .bind(team_id)
        .fetch_all(&self.pool)
        .await?;
        let mut team = TeamClaims {
            epoch: rows.first().map_or(0, |r| r.epoch),
            by_value: HashMap::new(),
        };
        for r in rows {
            let (Some(configuration_id), Some(configuration), Some(kind), Some(value)) =
                (r.configuration_id, r.configuration, r.kind, r.value)
            else {
                continue;
            };
            let claim = Claim {
                host_name: r.host_name.unwrap_or_default(),
                host_address: r.host_address.unwrap_or_default(),
                kind,
                value,
                field: r.field.unwrap_or_default(),
            };
            team.by_value
                .entry(claim.value.clone())
                .or_default()
                .push(Owned {
                    configuration_id,
                    configuration,
                    claim,
                });
        }
        Ok(team)
    }
}
