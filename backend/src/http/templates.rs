//! Templates: list (the team's and the built-ins), create, get, save a new version
//! (optimistic concurrency), archive, versions; save a configuration as a template; create a
//! configuration from a template with parameter values.
//!
//! A template with errors (`shared::template::check`) is refused with every finding; warnings
//! are returned. Built-in templates (seeded by a migration) are read-only and visible to
//! every team. Every change is one transaction with its audit event.

use super::configs::{create_in_team, FromTemplate, NewConfiguration};
use super::errors::AppError;
use super::openapi::schema;
use super::{AppState, RequestCtx};
use crate::audit::NewEvent;
use crate::auth::{random_hex, Identity, Role};
use crate::db::templates::{self, NewTemplateVersion, TemplateRow, TemplateVersionRow};
use crate::db::Saved;
use actix_web::{get, post, put, web, HttpResponse};
use lockstep_shared::api::{self, AuditTarget, SavedTemplate, TemplateView};
use lockstep_shared::template::{self as tpl, ParamType, Parameter, Template};
use lockstep_shared::validate::Finding;
use serde::Deserialize;
use serde_json::{json, Value};

fn check_description(d: &str) -> Result<(), AppError> {
    if d.len() > 4096 {
        return Err(AppError::bad(
            "bad_description",
            "the description is longer than 4096 bytes",
        ));
    }
    Ok(())
}

/// What a template's findings are: its own (errors refuse the save), and those of the document
/// its defaults give (`null` when some parameter has neither a default nor a generator).
struct Checked {
    findings: Vec<Finding>,
    default_findings: Option<Vec<Finding>>,
}

fn checked(t: &Template) -> Result<Checked, AppError> {
    let findings = tpl::check(t);
    if findings.iter().any(Finding::is_error) {
        return Err(AppError::InvalidTemplate(json!(findings)));
    }
    Ok(Checked {
        findings,
        default_findings: tpl::default_findings(t),
    })
}

/// A fresh value for a generated parameter.
fn generate(kind: ParamType) -> Value {
    let h = random_hex(16);
    match kind {
        ParamType::Mac => json!(format!("52:54:00:{}:{}:{}", &h[0..2], &h[2..4], &h[4..6])),
        ParamType::String | ParamType::Integer | ParamType::Boolean | ParamType::Size => {
            Value::Null
        }
        // A version-4 UUID: 4 in the version nibble, 8-b in the variant nibble.
        ParamType::Uuid => {
            let variant = ["8", "9", "a", "b"][usize::from(h.as_bytes()[16] % 4)];
            json!(format!(
                "{}-{}-4{}-{variant}{}-{}",
                &h[0..8],
                &h[8..12],
                &h[13..16],
                &h[17..20],
                &h[20..32]
            ))
        }
    }
}

/// The template if the caller may see it (a built-in, or one of a team the caller is in)
/// and, for changes, has `role` there; built-ins cannot be changed.
async fn visible(
    state: &AppState,
    id: &Identity,
    tid: i64,
    change: Option<Role>,
) -> Result<TemplateRow, AppError> {
    let what = || format!("template {tid}");
    let t = state
        .db
        .template(tid)
        .await?
        .ok_or_else(|| AppError::NotFound(what()))?;
    match (t.team_id, change) {
        (Some(team), role) => id.require_in(team, role.unwrap_or(Role::Viewer), what)?,
        (None, None) => {}
        (None, Some(_)) => {
            return Err(AppError::Forbidden(format!(
                "template {tid} is built in and cannot be changed; save a copy in your team"
            )))
        }
    }
    Ok(t)
}

/// A stored template version as a template.
fn stored(v: &TemplateVersionRow) -> Result<Template, serde_json::Error> {
    Ok(Template {
        parameters: Vec::<Parameter>::deserialize(&v.parameters)?,
        body: v.body.clone(),
    })
}

fn view(t: TemplateRow, v: TemplateVersionRow) -> TemplateView {
    let parsed = stored(&v).ok();
    TemplateView {
        builtin: t.builtin(),
        template: (&t).into(),
        version: v.into(),
        findings: parsed.as_ref().map(tpl::check),
        default_findings: parsed.as_ref().and_then(tpl::default_findings),
    }
}

/// The built-in templates and the team's (viewer).
#[utoipa::path(tag = "templates", params(super::ListQuery), responses((status = 200, body = schema::TemplateList)))]
#[get("/teams/{team}/templates")]
pub async fn list_templates(
    state: web::Data<AppState>,
    id: Identity,
    team: web::Path<String>,
    q: web::Query<super::ListQuery>,
) -> Result<HttpResponse, AppError> {
    let m = id.team(&team)?;
    id.require(m.team_id, Role::Viewer)?;
    let list = state.db.templates(m.team_id, q.archived).await?;
    Ok(HttpResponse::Ok().json(api::TemplateList {
        templates: list.into_iter().map(Into::into).collect(),
    }))
}

/// A team template to create.
struct NewTemplate<'a> {
    name: &'a str,
    description: &'a str,
    template: &'a Template,
    message: &'a str,
    /// The configuration version it was saved from.
    from: Option<Value>,
}

/// Stores a new team template (version 1) and its audit event.
async fn store_new(
    state: &AppState,
    ctx: &RequestCtx,
    id: &Identity,
    team: &crate::db::accounts::Membership,
    new: NewTemplate<'_>,
) -> Result<HttpResponse, AppError> {
    let NewTemplate {
        name,
        description,
        template: t,
        message,
        from,
    } = new;
    id.require(team.team_id, Role::Editor)?;
    super::check_name("template", name)?;
    check_description(description)?;
    let c = checked(t)?;
    let parameters = json!(t.parameters);
    let nv = NewTemplateVersion {
        description,
        parameters: &parameters,
        body: &t.body,
        author_id: id.user_id,
        author_name: &id.user_name,
        message,
    };
    let mut tx = state.db.begin().await?;
    let Some(tid) = templates::create(&mut tx, team.team_id, name, &nv).await? else {
        return Err(AppError::Conflict {
            message: format!("team '{}' already has a template named {name:?}", team.team),
            details: Value::Null,
        });
    };
    let mut e = ctx.stamp(NewEvent::new(
        Some(id.user_id),
        &id.user_name,
        Some(team.team_id),
        "template.create",
        AuditTarget::Template,
        Some(tid.to_string()),
    ));
    e.target_name = Some(name.to_owned());
    let mut after = recorded(1, t, message);
    if let Some(from) = from {
        after["from"] = from;
    }
    e.after = Some(after);
    super::commit_with_event(tx, &e).await?;
    Ok(HttpResponse::Created().json(SavedTemplate {
        id: tid,
        name: Some(name.to_owned()),
        version: 1,
        findings: c.findings,
        default_findings: c.default_findings,
    }))
}

/// What the audit event records of a template version: its digest and parameter names.
fn recorded(version: i32, t: &Template, message: &str) -> Value {
    let names: Vec<&str> = t.parameters.iter().map(|p| p.name.as_str()).collect();
    json!({
        "version": version,
        "parameters": names,
        "template_sha256": crate::audit::document_digest(&json!(t)),
        "message": message,
    })
}

/// Creates a team template (editor).
#[utoipa::path(tag = "templates", request_body = schema::CreateTemplate, responses((status = 201, body = schema::SavedTemplate), (status = 409, description = "the name is taken in the team"), (status = 422, description = "the template has errors (details.findings)")))]
#[post("/teams/{team}/templates")]
pub async fn create_template(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    id: Identity,
    team: web::Path<String>,
    body: web::Json<api::CreateTemplate>,
) -> Result<HttpResponse, AppError> {
    let m = id.team(&team)?.clone();
    let b = body.into_inner();
    let t = Template {
        parameters: b.parameters,
        body: b.body,
    };
    let new = NewTemplate {
        name: &b.name,
        description: &b.description,
        template: &t,
        message: &b.message,
        from: None,
    };
    store_new(&state, &ctx, &id, &m, new).await
}

/// A template's current version with its findings.
#[utoipa::path(tag = "templates", responses((status = 200, body = schema::TemplateView)))]
#[get("/templates/{id}")]
pub async fn get_template(
    state: web::Data<AppState>,
    id: Identity,
    tid: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let t = visible(&state, &id, *tid, None).await?;
    let v = state
        .db
        .template_version(t.id, t.current_version)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("template {tid}")))?;
    Ok(HttpResponse::Ok().json(view(t, v)))
}

/// Saves a new template version on top of `base_version` (editor; built-ins are read-only).
#[utoipa::path(tag = "templates", request_body = schema::SaveTemplate, responses((status = 200, body = schema::SavedTemplate), (status = 409, description = "base_version is not current (details.current holds it), or archived"), (status = 422, description = "the template has errors")))]
#[put("/templates/{id}")]
pub async fn save_template(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    id: Identity,
    tid: web::Path<i64>,
    body: web::Json<api::SaveTemplate>,
) -> Result<HttpResponse, AppError> {
    let row = visible(&state, &id, *tid, Some(Role::Editor)).await?;
    let b = body.into_inner();
    check_description(&b.description)?;
    let t = Template {
        parameters: b.parameters,
        body: b.body,
    };
    let c = checked(&t)?;
    let parameters = json!(t.parameters);
    let nv = NewTemplateVersion {
        description: &b.description,
        parameters: &parameters,
        body: &t.body,
        author_id: id.user_id,
        author_name: &id.user_name,
        message: &b.message,
    };
    super::next_version(b.base_version)?;
    let mut tx = state.db.begin().await?;
    match templates::save(&mut tx, row.id, b.base_version, &nv).await? {
        Saved::Version(v) => {
            let mut e = ctx.stamp(NewEvent::new(
                Some(id.user_id),
                &id.user_name,
                row.team_id,
                "template.update",
                AuditTarget::Template,
                Some(row.id.to_string()),
            ));
            e.target_name = Some(row.name.clone());
            e.before = Some(json!({"version": b.base_version}));
            e.after = Some(recorded(v, &t, &b.message));
            super::commit_with_event(tx, &e).await?;
            Ok(HttpResponse::Ok().json(SavedTemplate {
                id: row.id,
                name: None,
                version: v,
                findings: c.findings,
                default_findings: c.default_findings,
            }))
        }
        Saved::Archived => Err(AppError::archived(format!("template {}", row.id))),
        Saved::Conflict(current) => {
            drop(tx);
            let cur =
                (state.db.template_version(row.id, current).await?).map(api::TemplateVersion::from);
            Err(AppError::stale("template", b.base_version, current, cur))
        }
    }
}

/// Archives a team template (editor).
#[utoipa::path(tag = "templates", responses((status = 200, body = schema::Archived)))]
#[post("/templates/{id}/archive")]
pub async fn archive_template(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    id: Identity,
    tid: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let row = visible(&state, &id, *tid, Some(Role::Editor)).await?;
    let mut tx = state.db.begin().await?;
    if !templates::archive(&mut tx, row.id).await? {
        return Err(AppError::Conflict {
            message: format!("template {} is already archived", row.id),
            details: Value::Null,
        });
    }
    let mut e = ctx.stamp(NewEvent::new(
        Some(id.user_id),
        &id.user_name,
        row.team_id,
        "template.archive",
        AuditTarget::Template,
        Some(row.id.to_string()),
    ));
    e.target_name = Some(row.name.clone());
    super::commit_with_event(tx, &e).await?;
    Ok(HttpResponse::Ok().json(api::Archived {
        id: row.id,
        archived: true,
    }))
}

/// Every version of a template, newest first.
#[utoipa::path(tag = "templates", responses((status = 200, body = schema::TemplateVersionList)))]
#[get("/templates/{id}/versions")]
pub async fn list_template_versions(
    state: web::Data<AppState>,
    id: Identity,
    tid: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let t = visible(&state, &id, *tid, None).await?;
    Ok(HttpResponse::Ok().json(api::TemplateVersionList {
        versions: state
            .db
            .template_versions(t.id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    }))
}

/// One template version.
#[utoipa::path(tag = "templates", responses((status = 200, body = schema::TemplateView)))]
#[get("/templates/{id}/versions/{version}")]
pub async fn get_template_version(
    state: web::Data<AppState>,
    id: Identity,
    path: web::Path<(i64, i32)>,
) -> Result<HttpResponse, AppError> {
    let (tid, v) = path.into_inner();
    let t = visible(&state, &id, tid, None).await?;
    let row = state
        .db
        .template_version(t.id, v)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("version {v} of template {tid}")))?;
    Ok(HttpResponse::Ok().json(view(t, row)))
}

/// Saves a configuration (a version of it) as a new template of its team.
/// Saves a configuration version as a template of its team; bound values become parameters (editor).
#[utoipa::path(tag = "templates", request_body = schema::TemplateFromConfiguration, responses((status = 201, body = schema::SavedTemplate), (status = 422, description = "a binding points at nothing, or the template has errors")))]
#[post("/configurations/{id}/template")]
pub async fn template_from_configuration(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    id: Identity,
    cid: web::Path<i64>,
    body: web::Json<api::TemplateFromConfiguration>,
) -> Result<HttpResponse, AppError> {
    let cfg = super::configs::owned(&state, &id, *cid, Role::Editor).await?;
    let m = id
        .membership(cfg.team_id)
        .cloned()
        .ok_or_else(|| AppError::NotFound(format!("configuration {cid}")))?;
    let version = body.version.unwrap_or(cfg.current_version);
    let v =
        state.db.version(cfg.id, version).await?.ok_or_else(|| {
            AppError::NotFound(format!("version {version} of configuration {cid}"))
        })?;
    let document: Value = serde_json::from_str(v.document.get())
        .map_err(|e| AppError::Internal(anyhow::anyhow!("stored document: {e}")))?;
    let t = tpl::from_document(&document, &body.bindings)
        .map_err(|f| AppError::InvalidTemplate(json!(f)))?;
    let from = json!({"configuration": cfg.id, "version": version});
    let new = NewTemplate {
        name: &body.name,
        description: &body.description,
        template: &t,
        message: &body.message,
        from: Some(from),
    };
    store_new(&state, &ctx, &id, &m, new).await
}

/// Creates a configuration in the team from a template version and parameter values.
/// Creates a configuration from a template version and parameter values (editor).
#[utoipa::path(tag = "templates", request_body = schema::Instantiate, responses((status = 201, body = schema::CreatedConfiguration), (status = 409, description = "the name is taken, or the template is archived"), (status = 422, description = "values missing, of the wrong type or outside their constraints (details.findings)")))]
#[post("/teams/{team}/configurations/from-template")]
pub async fn create_configuration_from_template(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    id: Identity,
    team: web::Path<String>,
    body: web::Json<api::Instantiate>,
) -> Result<HttpResponse, AppError> {
    let m = id.team(&team)?.clone();
    id.require(m.team_id, Role::Editor)?;
    let t = visible(&state, &id, body.template_id, None).await?;
    if t.team_id.is_some_and(|team| team != m.team_id) {
        return Err(AppError::NotFound(format!("template {}", body.template_id)));
    }
    if t.archived_at.is_some() {
        return Err(AppError::archived(format!("template {}", t.id)));
    }
    let version = body.template_version.unwrap_or(t.current_version);
    let row = state
        .db
        .template_version(t.id, version)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("version {version} of template {}", t.id)))?;
    let template = stored(&row)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("stored template {}: {e}", t.id)))?;
    let mut values = body.values.clone();
    for p in tpl::to_generate(&template, &values) {
        values.insert(p.name.clone(), generate(p.kind));
    }
    let document = tpl::instantiate_document(&template, &values)
        .map_err(|f| AppError::InvalidTemplate(json!(f)))?;
    let new = NewConfiguration {
        name: &body.name,
        document,
        message: &body.message,
        template: Some(FromTemplate {
            id: t.id,
            version,
            values: Value::Object(values),
        }),
    };
    create_in_team(&state, &ctx, &id, &m, new).await
}
