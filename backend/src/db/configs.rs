//! Configurations and their immutable versions.

use super::{Db, Tx};
use anyhow::Result;
use chrono::{DateTime, Utc};
use lockstep_shared::api;
use lockstep_shared::validate::cross::Claim;
use serde_json::value::RawValue;
use serde_json::Value;
use sqlx::types::Json;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConfigRow {
    pub id: i64,
    pub team_id: i64,
    pub name: String,
    pub current_version: i32,
    pub created_at: DateTime<Utc>,
    pub archived_at: Option<DateTime<Utc>>,
    /// The template version it was instantiated from.
    pub template_id: Option<i64>,
    pub template_version: Option<i32>,
    /// Digest of the stored host claims (see [`claims_digest`]).
    pub claims_digest: Option<Vec<u8>>,
}

/// A configuration in a list, with the state of its current version.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConfigSummary {
    pub id: i64,
    pub name: String,
    /// The current version's host names (`hosts.primary.name`, `hosts.secondary.name`).
    pub primary_host: String,
    pub secondary_host: String,
    pub current_version: i32,
    pub errors: i32,
    pub warnings: i32,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
    pub archived_at: Option<DateTime<Utc>>,
    pub deployment_id: Option<i64>,
    pub deployment_state: Option<String>,
}

/// JSON text stored in a text column (documents, see migration 0010), checked when read.
#[derive(Debug, Clone)]
pub struct StoredJson(Box<RawValue>);

impl TryFrom<String> for StoredJson {
    type Error = serde_json::Error;

    fn try_from(text: String) -> Result<StoredJson, serde_json::Error> {
        RawValue::from_string(text).map(StoredJson)
    }
}

impl std::ops::Deref for StoredJson {
    type Target = RawValue;

    fn deref(&self) -> &RawValue {
        &self.0
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VersionRow {
    pub version: i32,
    /// The document's JSON text as stored (answers copy it; nothing re-encodes it).
    #[sqlx(try_from = "String")]
    pub document: StoredJson,
    pub findings: Json<Box<RawValue>>,
    pub errors: i32,
    pub warnings: i32,
    pub author_name: String,
    pub message: String,
    pub created_at: DateTime<Utc>,
}

/// Version metadata without the document.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VersionMeta {
    pub version: i32,
    pub errors: i32,
    pub warnings: i32,
    pub author_name: String,
    pub message: String,
    pub created_at: DateTime<Utc>,
}

impl From<&ConfigRow> for api::Configuration {
    fn from(c: &ConfigRow) -> api::Configuration {
        api::Configuration {
            id: c.id,
            team_id: c.team_id,
            name: c.name.clone(),
            current_version: c.current_version,
            created_at: c.created_at.into(),
            archived_at: c.archived_at.map(Into::into),
            template_id: c.template_id,
            template_version: c.template_version,
        }
    }
}

impl From<ConfigSummary> for api::ConfigurationSummary {
    fn from(c: ConfigSummary) -> api::ConfigurationSummary {
        api::ConfigurationSummary {
            id: c.id,
            name: c.name,
            primary_host: c.primary_host,
            secondary_host: c.secondary_host,
            current_version: c.current_version,
            errors: c.errors,
            warnings: c.warnings,
            updated_at: c.updated_at.into(),
            updated_by: c.updated_by,
            archived_at: c.archived_at.map(Into::into),
            deployment_id: c.deployment_id,
            deployment_state: c.deployment_state,
        }
    }
}

impl From<VersionRow> for api::Version {
    fn from(v: VersionRow) -> api::Version {
        api::Version {
            version: v.version,
            document: v.document.0,
            findings: v.findings.0,
            errors: v.errors,
            warnings: v.warnings,
            author_name: v.author_name,
            message: v.message,
            created_at: v.created_at.into(),
        }
    }
}

impl From<VersionMeta> for api::VersionMeta {
    fn from(v: VersionMeta) -> api::VersionMeta {
        api::VersionMeta {
            version: v.version,
            errors: v.errors,
            warnings: v.warnings,
            author_name: v.author_name,
            message: v.message,
            created_at: v.created_at.into(),
        }
    }
}

/// What a save writes.
pub struct NewVersion {
    /// The document's JSON text, stored as is: its event's digest covers this text.
    pub document: String,
    pub findings: Value,
    pub errors: i32,
    pub warnings: i32,
    /// What the document occupies on its hosts (`validate::cross::claims`).
    pub claims: Vec<Claim>,
    pub author_id: i64,
    pub author_name: String,
    pub message: String,
    pub at: DateTime<Utc>,
}

/// The digest stored with a configuration's claims, to tell whether they changed.
pub(super) fn claims_digest(claims: &[Claim]) -> Vec<u8> {
    crate::digest::sha256(&serde_json::to_vec(claims).unwrap_or_default()).to_vec()
}

/// Stores the claims of configuration `id` when they differ from the stored ones (most saves
/// change no port, file or name, and rewriting identical rows would only churn the index).
pub async fn replace_claims(tx: &mut Tx<'_>, id: i64, claims: &[Claim]) -> Result<()> {
    let digest = claims_digest(claims);
    let team_id: Option<i64> = sqlx::query_scalar(
        "UPDATE configurations SET claims_digest = $2 \
         WHERE id = $1 AND claims_digest IS DISTINCT FROM $2 RETURNING team_id",
    )
    .bind(id)
    .bind(&digest)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(team_id) = team_id else {
        return Ok(());
    };
    sqlx::query("DELETE FROM configuration_claims WHERE configuration_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    let mut q = sqlx::query(
        "INSERT INTO configuration_claims \
         (configuration_id, team_id, kind, value, host_name, host_address, field) \
         SELECT $1, $2, k.* FROM \
         unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) AS k",
    )
    .bind(id)
    .bind(team_id);
    for column in claim_columns(claims) {
        q = q.bind(column);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

/// The claims as five parallel arrays (kind, value, host name, host address, field), to bind
/// for `unnest`.
pub(super) fn claim_columns(claims: &[Claim]) -> [Vec<&str>; 5] {
    let col = |f: fn(&Claim) -> &str| claims.iter().map(f).collect();
    [
        col(|c| &c.kind),
        col(|c| &c.value),
        col(|c| &c.host_name),
        col(|c| &c.host_address),
        col(|c| &c.field),
    ]
}

type Scalar<'q, O> = sqlx::query::QueryScalar<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>;

/// Binds a version's eight fields after its configuration id and version number, in the
/// column order of `configuration_versions`.
fn bind_version<'q, O>(q: Scalar<'q, O>, v: &'q NewVersion) -> Scalar<'q, O> {
    // Stored as is in the text column (see migration 0010).
    q.bind(&v.document)
        .bind(&v.findings)
        .bind(v.errors)
        .bind(v.warnings)
        .bind(v.author_id)
        .bind(&v.author_name)
        .bind(&v.message)
        .bind(v.at)
}

/// Stores the claims of `version` if it is still the current version of an active
/// configuration (start-up backfill; a save racing with it wins).
pub async fn refresh_claims(
    tx: &mut Tx<'_>,
    id: i64,
    version: i32,
    claims: &[Claim],
) -> Result<bool> {
    let current: Option<i32> = sqlx::query_scalar(
        "SELECT current_version FROM configurations WHERE id = $1 AND archived_at IS NULL \
         FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    if current != Some(version) {
        return Ok(false);
    }
    replace_claims(tx, id, claims).await?;
    Ok(true)
}

async fn insert_version(tx: &mut Tx<'_>, id: i64, version: i32, v: &NewVersion) -> Result<()> {
    let q = sqlx::query_scalar::<_, i32>(
        "INSERT INTO configuration_versions (configuration_id, version, document, findings, \
         errors, warnings, author_id, author_name, message, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) RETURNING version",
    )
    .bind(id)
    .bind(version);
    bind_version(q, v).fetch_one(&mut **tx).await?;
    Ok(())
}

/// Whether an error is a unique-constraint violation (a name already taken).
pub fn is_unique_violation(e: &anyhow::Error) -> bool {
    e.downcast_ref::<sqlx::Error>()
        .and_then(|e| e.as_database_error())
        .and_then(|d| d.code())
        .is_some_and(|c| c == "23505")
}

/// Creates a configuration with version 1; `Ok(None)` when the name is taken in the team.
/// `template` is the template version it was instantiated from, if any.
pub async fn create(
    tx: &mut Tx<'_>,
    team_id: i64,
    name: &str,
    template: Option<(i64, i32)>,
    v: &NewVersion,
) -> Result<Option<i64>> {
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO configurations (team_id, name, current_version, template_id, \
         template_version) VALUES ($1, $2, 1, $3, $4) \
         ON CONFLICT (team_id, name) DO NOTHING RETURNING id",
    )
    .bind(team_id)
    .bind(name)
    .bind(template.map(|t| t.0))
    .bind(template.map(|t| t.1))
    .fetch_optional(&mut **tx)
    .await?;
    let Some(id) = id else { return Ok(None) };
    insert_version(tx, id, 1, v).await?;
    replace_claims(tx, id, &v.claims).await?;
    Ok(Some(id))
}

/// Locks a configuration's row until the transaction ends: archiving and deploying both take
/// it first, so neither misses what the other did. `Some(archived)`, `None` when there is none.
pub async fn lock(tx: &mut Tx<'_>, id: i64) -> Result<Option<bool>> {
    Ok(sqlx::query_scalar(
        "SELECT archived_at IS NOT NULL FROM configurations WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?)
}

/// Archives a configuration; its claims go (an archived configuration occupies nothing).
pub async fn archive(tx: &mut Tx<'_>, id: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE configurations SET archived_at = now(), claims_digest = NULL \
         WHERE id = $1 AND archived_at IS NULL",
    )
    .bind(id)
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM configuration_claims WHERE configuration_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(r.rows_affected() == 1)
}

impl Db {
    pub async fn configurations(&self, team_id: i64, archived: bool) -> Result<Vec<ConfigSummary>> {
        Ok(sqlx::query_as(
            "SELECT c.id, c.name, \
             coalesce(v.document::jsonb #>> '{hosts,primary,name}', '') AS primary_host, \
             coalesce(v.document::jsonb #>> '{hosts,secondary,name}', '') AS secondary_host, \
             c.current_version, v.errors, v.warnings, v.created_at AS updated_at, v.author_name AS updated_by, c.archived_at, \
             d.id AS deployment_id, d.state AS deployment_state \
             FROM configurations c JOIN configuration_versions v \
             ON v.configuration_id = c.id AND v.version = c.current_version \
             LEFT JOIN deployments d ON d.configuration_id = c.id \
             AND d.state IN ('queued', 'running', 'protected', 'failed-over') \
             WHERE c.team_id = $1 AND ($2 OR c.archived_at IS NULL) ORDER BY c.name",
        )
        .bind(team_id)
        .bind(archived)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn configuration(&self, id: i64) -> Result<Option<ConfigRow>> {
        let row = sqlx::query_as(
            "SELECT id, team_id, name, current_version, created_at, archived_at, template_id, \
             template_version, claims_digest FROM configurations WHERE id = $1",
        )
        .bind(id);
        self.lean.run(|c| Box::pin(row.fetch_optional(c))).await
    }

    pub async fn version(&self, id: i64, version: i32) -> Result<Option<VersionRow>> {
        Ok(sqlx::query_as(
            "SELECT version, document, findings, errors, warnings, author_name, message, created_at \
             FROM configuration_versions WHERE configuration_id = $1 AND version = $2",
        )
        .bind(id)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn versions(&self, id: i64) -> Result<Vec<VersionMeta>> {
        Ok(sqlx::query_as(
            "SELECT version, errors, warnings, author_name, message, created_at \
             FROM configuration_versions WHERE configuration_id = $1 ORDER BY version DESC",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?)
    }
}

impl Db {
    /// Claims of the team's active configurations with the same kind and value as one of
    /// `claims`, for a new configuration (whether the host is the same is for
    /// `validate::cross` to decide).
    pub async fn colliding_claims(
        &self,
        team_id: i64,
        claims: &[Claim],
    ) -> Result<Vec<(String, Claim)>> {
        let epoch: i64 = sqlx::query_scalar("SELECT claims_epoch FROM teams WHERE id = $1")
            .bind(team_id)
            .fetch_one(&self.pool)
            .await?;
        self.collisions(team_id, epoch, claims, None).await
    }

    /// For each id, the configuration with its team's claims epoch (`None`: no such
    /// configuration), in one statement: what a save reads before it checks its claims
    /// (`Db::collisions`). Saves waiting together share it (see `batch`).
    pub async fn configurations_with_epochs(
        &self,
        ids: Vec<i64>,
    ) -> Result<Vec<Option<(ConfigRow, i64)>>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            n: i64,
            #[sqlx(flatten)]
            config: ConfigRow,
            claims_epoch: i64,
        }
        let mut found: Vec<Option<(ConfigRow, i64)>> = ids.iter().map(|_| None).collect();
        let rows = sqlx::query_as::<_, Row>(
            "SELECT r.n, c.id, c.team_id, c.name, c.current_version, c.created_at, c.archived_at, \
             c.template_id, c.template_version, c.claims_digest, t.claims_epoch \
             FROM unnest($1::bigint[]) WITH ORDINALITY AS r(id, n) \
             JOIN configurations c ON c.id = r.id JOIN teams t ON t.id = c.team_id",
        )
        .bind(ids);
        for r in self.lean.run(|c| Box::pin(rows.fetch_all(c))).await? {
            if let Some(slot) = usize::try_from(r.n - 1).ok().and_then(|i| found.get_mut(i)) {
                *slot = Some((r.config, r.claims_epoch));
            }
        }
        Ok(found)
    }

    /// Active configurations whose claims were never stored, with their current version's
    /// document (filled in at start; saves keep them current).
    pub async fn configurations_needing_claims(&self) -> Result<Vec<(i64, i32, String)>> {
        Ok(sqlx::query_as(
            "SELECT c.id, c.current_version, v.document FROM configurations c \
             JOIN configuration_versions v ON v.configuration_id = c.id \
             AND v.version = c.current_version \
             WHERE c.archived_at IS NULL AND c.claims_digest IS NULL",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every stored configuration version's document text (as stored), for
    /// `lockstep audit verify`.
    pub async fn all_version_documents(&self) -> Result<Vec<(i64, i32, String)>> {
        Ok(sqlx::query_as(
            "SELECT configuration_id, version, document FROM configuration_versions \
             ORDER BY configuration_id, version",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// The documents (their text as stored) of some configuration versions (those that exist).
    pub async fn version_documents(
        &self,
        wanted: &[(i64, i32)],
    ) -> Result<Vec<(i64, i32, String)>> {
        let ids: Vec<i64> = wanted.iter().map(|w| w.0).collect();
        let versions: Vec<i32> = wanted.iter().map(|w| w.1).collect();
        Ok(sqlx::query_as(
            "SELECT configuration_id, version, document FROM configuration_versions \
             WHERE (configuration_id, version) IN (SELECT * FROM unnest($1::bigint[], $2::int[]))",
        )
        .bind(&ids)
        .bind(&versions)
        .fetch_all(&self.pool)
        .await?)
    }
}
