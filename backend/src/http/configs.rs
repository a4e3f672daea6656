//! Configurations: create, list, get, save a new version (optimistic concurrency), archive,
//! versions, and the rendered artifacts of any version.
//!
//! Every save validates with the shared validator and stores the findings with the version;
//! a version with errors is a draft (it saves, but can never be deployed). Each save is one
//! transaction with its audit event.

use super::docs::{artifacts, parse};
use super::errors::AppError;
use super::openapi::schema;
use super::{AppState, RequestCtx};
use crate::audit::NewEvent;
use crate::auth::{Identity, Role};
use crate::db::batch::PendingSave;
use crate::db::configs::{self, ConfigRow, NewVersion};
use crate::db::deployments;
use crate::db::Saved;
use actix_web::{get, post, put, web, HttpResponse};
use lockstep_shared::api::{self, AuditTarget, CreatedConfiguration, SavedVersion, TemplateRef};
use lockstep_shared::render::Validated;
use lockstep_shared::validate::{cross, sort_findings, validate};
use lockstep_shared::Document;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;

/// A validated document: the version a save stores.
struct Checked(NewVersion);

/// Validates `doc` alone and against the claims of the team's other active configurations
/// (`validate::cross`: ports, image files and domain names on shared hosts).
async fn check(
    state: &AppState,
    team_id: i64,
    doc: Document,
    author: &Identity,
    message: &str,
) -> Result<Checked, AppError> {
    let claims = cross::claims(&doc);
    let found = state.db.colliding_claims(team_id, &claims).await?;
    Ok(Checked::new(doc, claims, &found, author, message))
}

impl Checked {
    /// The version `author` saves: `doc` with its findings alone and against `found`, the
    /// colliding claims of other configurations.
    fn new(
        doc: Document,
        claims: Vec<cross::Claim>,
        found: &[(String, cross::Claim)],
        author: &Identity,
        message: &str,
    ) -> Checked {
        let mut findings = validate(&doc);
        let refs: Vec<cross::OtherClaim> = found
            .iter()
            .map(|(configuration, claim)| cross::OtherClaim {
                configuration,
                claim,
            })
            .collect();
        findings.extend(cross::findings(&claims, &refs));
        sort_findings(&mut findings);
        let errors = findings.iter().filter(|f| f.is_error()).count() as i32;
        Checked(NewVersion {
            // The digest its event records covers this exact text (stored as is).
            document: serde_json::to_string(&doc).unwrap_or_default(),
            findings: json!(findings),
            errors,
            warnings: findings.len() as i32 - errors,
            claims,
            author_id: author.user_id,
            author_name: author.user_name.clone(),
            message: message.to_owned(),
            at: chrono::Utc::now(),
        })
    }

    /// What the audit event records of version `version`: the document's digest, not the
    /// document (the immutable version row holds it; `lockstep audit verify` compares the two).
    fn recorded(&self, version: i32) -> Value {
        let v = &self.0;
        json!({
            "version": version,
            "document_sha256": crate::audit::text_digest(&v.document),
            "errors": v.errors,
            "warnings": v.warnings,
            "message": v.message,
        })
    }

    /// The answer to a save that stored `version`.
    fn saved(&self, id: i64, version: i32) -> SavedVersion {
        SavedVersion {
            id,
            version,
            errors: self.0.errors,
            warnings: self.0.warnings,
            findings: self.0.findings.clone(),
        }
    }
}

/// The configuration if the caller's team owns it and the caller has `role` there.
pub(super) async fn owned(
    state: &AppState,
    id: &Identity,
    cid: i64,
    role: Role,
) -> Result<ConfigRow, AppError> {
    let what = || format!("configuration {cid}");
    let c = state
        .db
        .configuration(cid)
        .await?
        .ok_or_else(|| AppError::NotFound(what()))?;
    id.require_in(c.team_id, role, what)?;
    Ok(c)
}

/// The team's configurations with the state of their current version (viewer).
#[utoipa::path(tag = "configurations", params(super::ListQuery), responses((status = 200, body = schema::ConfigurationList)))]
#[get("/teams/{team}/configurations")]
pub async fn list_configurations(
    state: web::Data<AppState>,
    id: Identity,
    team: web::Path<String>,
    q: web::Query<super::ListQuery>,
) -> Result<HttpResponse, AppError> {
    let m = id.team(&team)?;
    id.require(m.team_id, Role::Viewer)?;
    let list = state.db.configurations(m.team_id, q.archived).await?;
    Ok(HttpResponse::Ok().json(api::ConfigurationList {
        configurations: list.into_iter().map(Into::into).collect(),
    }))
}

/// Creates a configuration (version 1), validated and cross-checked (editor).
#[utoipa::path(tag = "configurations", request_body = schema::CreateConfiguration, responses((status = 201, body = schema::CreatedConfiguration), (status = 409, description = "the name is taken in the team")))]
#[post("/teams/{team}/configurations")]
pub async fn create_configuration(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    id: Identity,
    team: web::Path<String>,
    body: web::Json<api::CreateConfiguration>,
) -> Result<HttpResponse, AppError> {
    let m = id.team(&team)?.clone();
    let new = NewConfiguration {
        name: &body.name,
        document: parse(body.document.get())?,
        message: &body.message,
        template: None,
    };
    create_in_team(&state, &ctx, &id, &m, new).await
}

/// A configuration to create.
pub struct NewConfiguration<'a> {
    pub name: &'a str,
    pub document: Document,
    pub message: &'a str,
    pub template: Option<FromTemplate>,
}

/// Where a new configuration came from, for its row and its audit event.
pub struct FromTemplate {
    pub id: i64,
    pub version: i32,
    pub values: Value,
}

/// Creates a configuration (version 1) in the caller's team `m`: validated and cross-checked,
/// one transaction with its audit event.
pub async fn create_in_team(
    state: &AppState,
    ctx: &RequestCtx,
    id: &Identity,
    m: &crate::db::accounts::Membership,
    new: NewConfiguration<'_>,
) -> Result<HttpResponse, AppError> {
    let NewConfiguration {
        name,
        document,
        message,
        template,
    } = new;
    id.require(m.team_id, Role::Editor)?;
    super::check_name("configuration", name)?;
    let c = check(state, m.team_id, document, id, message).await?;
    let mut tx = state.db.begin().await?;
    let source = template.as_ref().map(|t| (t.id, t.version));
    let Some(cid) = configs::create(&mut tx, m.team_id, name, source, &c.0).await? else {
        return Err(AppError::Conflict {
            message: format!(
                "team '{}' already has a configuration named {name:?}",
                m.team
            ),
            details: Value::Null,
        });
    };
    let mut e = ctx.stamp(NewEvent::new(
        Some(id.user_id),
        &id.user_name,
        Some(m.team_id),
        "configuration.create",
        AuditTarget::Configuration,
        Some(cid.to_string()),
    ));
    e.target_name = Some(name.to_owned());
    let mut after = c.recorded(1);
    if let Some(t) = &template {
        after["template"] = json!({"id": t.id, "version": t.version, "values": t.values});
    }
    e.after = Some(after);
    super::commit_with_event(tx, &e).await?;
    Ok(HttpResponse::Created().json(CreatedConfiguration {
        name: name.to_owned(),
        saved: c.saved(cid, 1),
        template: template.map(|t| TemplateRef {
            id: t.id,
            version: t.version,
        }),
    }))
}

/// A configuration with its current version (viewer).
#[utoipa::path(tag = "configurations", responses((status = 200, body = schema::ConfigurationWithCurrent)))]
#[get("/configurations/{id}")]
pub async fn get_configuration(
    state: web::Data<AppState>,
    id: Identity,
    cid: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let c = owned(&state, &id, *cid, Role::Viewer).await?;
    let current = match state.versions.get(c.id, c.current_version) {
        Some(v) => v,
        None => {
            let v = state
                .db
                .version(c.id, c.current_version)
                .await?
                .ok_or_else(|| anyhow::anyhow!("configuration {} has no current version", c.id))?;
            let v = api::Version::from(v);
            let json = serde_json::value::to_raw_value(&v).map_err(anyhow::Error::from)?;
            state.versions.put(c.id, c.current_version, json.clone());
            json
        }
    };
    Ok(HttpResponse::Ok().json(api::ConfigurationWithCurrent {
        configuration: (&c).into(),
        current,
    }))
}

/// Saves a new version on top of `base_version` (editor).
#[utoipa::path(tag = "configurations", request_body = schema::SaveConfiguration, responses((status = 200, body = schema::SavedVersion), (status = 409, description = "base_version is not current (details.current holds it), or archived")))]
#[put("/configurations/{id}")]
pub async fn save_configuration(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    id: Identity,
    cid: web::Path<i64>,
    super::save_body::SaveBody(body): super::save_body::SaveBody,
) -> Result<HttpResponse, AppError> {
    // The configuration (one statement for the saves waiting together), then the claims of
    // other configurations that collide with the document's (held in memory, see `db::claims`).
    let what = || format!("configuration {cid}");
    let (cfg, claims_epoch) = state
        .saves
        .look_up(*cid)
        .await?
        .ok_or_else(|| AppError::NotFound(what()))?;
    id.require_in(cfg.team_id, Role::Editor, what)?;
    let doc = body.document.parse()?;
    let claims = cross::claims(&doc);
    let found = state
        .db
        .collisions(cfg.team_id, claims_epoch, &claims, Some(cfg.id))
        .await?;
    let c = Checked::new(doc, claims, &found, &id, &body.message);
    let v = super::next_version(body.base_version)?;
    let mut e = ctx.stamp(NewEvent::new(
        Some(id.user_id),
        &id.user_name,
        Some(cfg.team_id),
        "configuration.update",
        AuditTarget::Configuration,
        Some(cfg.id.to_string()),
    ));
    e.target_name = Some(cfg.name.clone());
    e.before = Some(json!({"version": body.base_version}));
    e.after = Some(c.recorded(v));
    let answer = c.saved(cfg.id, v);
    let save = PendingSave::new(cfg.id, body.base_version, c.0, cfg.claims_digest, e)?;
    match state.saves.save(save).await? {
        Saved::Version(_) => Ok(HttpResponse::Ok().json(answer)),
        Saved::Conflict(current) => {
            let cur = state
                .db
                .version(cfg.id, current)
                .await?
                .map(api::Version::from);
            Err(AppError::stale("document", body.base_version, current, cur))
        }
        Saved::Archived => Err(AppError::archived(format!("configuration {}", cfg.id))),
    }
}

/// Archives a configuration (editor).
#[utoipa::path(tag = "configurations", responses((status = 200, body = schema::Archived), (status = 409, description = "already archived, or deployed (details.deployment_id names the active deployment: tear it down first)")))]
#[post("/configurations/{id}/archive")]
pub async fn archive_configuration(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    id: Identity,
    cid: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let cfg = owned(&state, &id, *cid, Role::Editor).await?;
    let mut tx = state.db.begin().await?;
    // Its guests may run: archived, it would leave the list and free its claims on the hosts.
    configs::lock(&mut tx, cfg.id).await?;
    if let Some(d) = deployments::active(&mut tx, cfg.id).await? {
        return Err(AppError::Conflict {
            message: format!(
                "configuration {} is deployed (deployment {}, {}); tear the deployment down before archiving it",
                cfg.id, d.id, d.state
            ),
            details: json!({ "deployment_id": d.id, "state": d.state }),
        });
    }
    if !configs::archive(&mut tx, cfg.id).await? {
        return Err(AppError::Conflict {
            message: format!("configuration {} is already archived", cfg.id),
            details: Value::Null,
        });
    }
    let mut e = ctx.stamp(NewEvent::new(
        Some(id.user_id),
        &id.user_name,
        Some(cfg.team_id),
        "configuration.archive",
        AuditTarget::Configuration,
        Some(cfg.id.to_string()),
    ));
    e.target_name = Some(cfg.name.clone());
    super::commit_with_event(tx, &e).await?;
    Ok(HttpResponse::Ok().json(api::Archived {
        id: cfg.id,
        archived: true,
    }))
}

/// Every version, newest first, without documents (viewer).
#[utoipa::path(tag = "configurations", responses((status = 200, body = schema::VersionList)))]
#[get("/configurations/{id}/versions")]
pub async fn list_configuration_versions(
    state: web::Data<AppState>,
    id: Identity,
    cid: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let cfg = owned(&state, &id, *cid, Role::Viewer).await?;
    Ok(HttpResponse::Ok().json(api::VersionList {
        versions: state
            .db
            .versions(cfg.id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    }))
}

async fn one_version(
    state: &AppState,
    id: &Identity,
    cid: i64,
    v: i32,
) -> Result<crate::db::configs::VersionRow, AppError> {
    let cfg = owned(state, id, cid, Role::Viewer).await?;
    state
        .db
        .version(cfg.id, v)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("version {v} of configuration {cid}")))
}

/// One version with its document and findings (viewer).
#[utoipa::path(tag = "configurations", responses((status = 200, body = schema::Version)))]
#[get("/configurations/{id}/versions/{version}")]
pub async fn get_configuration_version(
    state: web::Data<AppState>,
    id: Identity,
    path: web::Path<(i64, i32)>,
) -> Result<HttpResponse, AppError> {
    let (cid, v) = path.into_inner();
    Ok(HttpResponse::Ok().json(api::Version::from(one_version(&state, &id, cid, v).await?)))
}

/// The libvirt XML, QMP plan and command lines of a version (viewer).
#[utoipa::path(tag = "configurations", responses((status = 200, body = schema::Artifacts), (status = 422, description = "the version has errors")))]
#[get("/configurations/{id}/versions/{version}/rendered")]
pub async fn render_configuration_version(
    state: web::Data<AppState>,
    id: Identity,
    path: web::Path<(i64, i32)>,
) -> Result<HttpResponse, AppError> {
    let (cid, v) = path.into_inner();
    let row = one_version(&state, &id, cid, v).await?;
    let doc = parse(row.document.get())?;
    let valid = Validated::new(doc).map_err(|f| AppError::Invalid(json!(f)))?;
    Ok(HttpResponse::Ok().json(artifacts(&valid)))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    from: i32,
    to: i32,
}

/// Structural diff between two versions (viewer).
#[utoipa::path(tag = "configurations", params(DiffQuery), responses((status = 200, body = schema::VersionDiff)))]
#[get("/configurations/{id}/diff")]
pub async fn diff_configuration_versions(
    state: web::Data<AppState>,
    id: Identity,
    cid: web::Path<i64>,
    q: web::Query<DiffQuery>,
) -> Result<HttpResponse, AppError> {
    let a = one_version(&state, &id, *cid, q.from).await?;
    let b = one_version(&state, &id, *cid, q.to).await?;
    let d = lockstep_shared::diff::diff(&parse(a.document.get())?, &parse(b.document.get())?);
    Ok(HttpResponse::Ok().json(api::VersionDiff {
        from: q.from,
        to: q.to,
        diff: d,
    }))
}
