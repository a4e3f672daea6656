//! Templates and their immutable versions. `team_id` NULL is a built-in template.

use super::{Db, Saved, Tx};
use anyhow::Result;
use chrono::{DateTime, Utc};
use lockstep_shared::api;
use serde_json::Value;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TemplateRow {
    pub id: i64,
    pub team_id: Option<i64>,
    pub name: String,
    pub current_version: i32,
    pub created_at: DateTime<Utc>,
    pub archived_at: Option<DateTime<Utc>>,
}

impl TemplateRow {
    pub fn builtin(&self) -> bool {
        self.team_id.is_none()
    }
}

/// A template in a list, with its current version's description.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TemplateSummary {
    pub id: i64,
    pub name: String,
    pub builtin: bool,
    pub current_version: i32,
    pub description: String,
    pub parameters: i32,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
    pub archived_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TemplateVersionRow {
    pub version: i32,
    pub description: String,
    pub parameters: Value,
    /// A configuration document with `${name}` placeholders.
    pub body: Value,
    pub author_name: String,
    pub message: String,
    pub created_at: DateTime<Utc>,
}

/// Template version metadata without parameters and body.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TemplateVersionMeta {
    pub version: i32,
    pub description: String,
    pub author_name: String,
    pub message: String,
    pub created_at: DateTime<Utc>,
}

/// What a template save writes.
pub struct NewTemplateVersion<'a> {
    pub description: &'a str,
    pub parameters: &'a Value,
    pub body: &'a Value,
    pub author_id: i64,
    pub author_name: &'a str,
    pub message: &'a str,
}

async fn insert_version(
    tx: &mut Tx<'_>,
    id: i64,
    version: i32,
    v: &NewTemplateVersion<'_>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO template_versions (template_id, version, description, parameters, body, \
         author_id, author_name, message, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,now())",
    )
    .bind(id)
    .bind(version)
    .bind(v.description)
    .bind(v.parameters)
    .bind(v.body)
    .bind(v.author_id)
    .bind(v.author_name)
    .bind(v.message)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Creates a team template with version 1; `Ok(None)` when the name is taken in the team.
pub async fn create(
    tx: &mut Tx<'_>,
    team_id: i64,
    name: &str,
    v: &NewTemplateVersion<'_>,
) -> Result<Option<i64>> {
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO templates (team_id, name, current_version) VALUES ($1, $2, 1) \
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(team_id)
    .bind(name)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(id) = id else { return Ok(None) };
    insert_version(tx, id, 1, v).await?;
    Ok(Some(id))
}

/// Saves a new version on top of `base`, refused when `base` is not current or the template
/// is archived.
pub async fn save(
    tx: &mut Tx<'_>,
    id: i64,
    base: i32,
    v: &NewTemplateVersion<'_>,
) -> Result<Saved> {
    let row: Option<(i32, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT current_version, archived_at FROM templates WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((current, archived)) = row else {
        anyhow::bail!("template {id} disappeared");
    };
    if archived.is_some() {
        return Ok(Saved::Archived);
    }
    if current != base {
        return Ok(Saved::Conflict(current));
    }
    let Some(next) = current.checked_add(1) else {
        anyhow::bail!("template {id} has used every version number");
    };
    sqlx::query("UPDATE templates SET current_version = $2 WHERE id = $1")
        .bind(id)
        .bind(next)
        .execute(&mut **tx)
        .await?;
    insert_version(tx, id, next, v).await?;
    Ok(Saved::Version(next))
}

pub async fn archive(tx: &mut Tx<'_>, id: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE templates SET archived_at = now() WHERE id = $1 AND archived_at IS NULL",
    )
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(r.rows_affected() == 1)
}

impl Db {
    /// The built-ins (in the order they were seeded), then the team's templates by name.
    pub async fn templates(&self, team_id: i64, archived: bool) -> Result<Vec<TemplateSummary>> {
        Ok(sqlx::query_as(
            "SELECT t.id, t.name, t.team_id IS NULL AS builtin, t.current_version, v.description, \
             jsonb_array_length(v.parameters) AS parameters, v.created_at AS updated_at, \
             v.author_name AS updated_by, t.archived_at \
             FROM templates t JOIN template_versions v \
             ON v.template_id = t.id AND v.version = t.current_version \
             WHERE (t.team_id = $1 OR t.team_id IS NULL) AND ($2 OR t.archived_at IS NULL) \
             ORDER BY t.team_id IS NOT NULL, CASE WHEN t.team_id IS NULL THEN t.id END, t.name",
        )
        .bind(team_id)
        .bind(archived)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn template(&self, id: i64) -> Result<Option<TemplateRow>> {
        Ok(sqlx::query_as(
            "SELECT id, team_id, name, current_version, created_at, archived_at \
             FROM templates WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn template_version(
        &self,
        id: i64,
        version: i32,
    ) -> Result<Option<TemplateVersionRow>> {
        Ok(sqlx::query_as(
            "SELECT version, description, parameters, body, author_name, message, created_at \
             FROM template_versions WHERE template_id = $1 AND version = $2",
        )
        .bind(id)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Version metadata, newest first.
    pub async fn template_versions(&self, id: i64) -> Result<Vec<TemplateVersionMeta>> {
        Ok(sqlx::query_as(
            "SELECT version, description, author_name, message, created_at \
             FROM template_versions WHERE template_id = $1 ORDER BY version DESC",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?)
    }
}

impl From<&TemplateRow> for api::Template {
    fn from(t: &TemplateRow) -> api::Template {
        api::Template {
            id: t.id,
            team_id: t.team_id,
            name: t.name.clone(),
            current_version: t.current_version,
            created_at: t.created_at.into(),
            archived_at: t.archived_at.map(Into::into),
        }
    }
}

impl From<TemplateSummary> for api::TemplateSummary {
    fn from(t: TemplateSummary) -> api::TemplateSummary {
        api::TemplateSummary {
            id: t.id,
            name: t.name,
            builtin: t.builtin,
            current_version: t.current_version,
            description: t.description,
            parameters: t.parameters,
            updated_at: t.updated_at.into(),
            updated_by: t.updated_by,
            archived_at: t.archived_at.map(Into::into),
        }
    }
}

impl From<TemplateVersionRow> for api::TemplateVersion {
    fn from(t: TemplateVersionRow) -> api::TemplateVersion {
        api::TemplateVersion {
            version: t.version,
            description: t.description,
            parameters: t.parameters,
            body: t.body,
            author_name: t.author_name,
            message: t.message,
            created_at: t.created_at.into(),
        }
    }
}

impl From<TemplateVersionMeta> for api::TemplateVersionMeta {
    fn from(t: TemplateVersionMeta) -> api::TemplateVersionMeta {
        api::TemplateVersionMeta {
            version: t.version,
            description: t.description,
            author_name: t.author_name,
            message: t.message,
            created_at: t.created_at.into(),
        }
    }
}
