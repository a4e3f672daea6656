//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 description of the API, generated from the
//! handlers (`#[utoipa::path]` on each, collected by `utoipa-actix-web` from the same calls
//! that register the routes, so every route is described) and their request and response
//! types. Those types are `shared::api`'s (and the document, finding, parameter and diff
//! types), described by their own JSON Schemas (schemars) and merged in as components; the
//! handlers name them through the marker types of [`schema`]. No UI is served.

use lockstep_shared::api;
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use utoipa::openapi::{ObjectBuilder, RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

/// Components defined by shared types' JSON Schemas: a marker type for each, named like the
/// component, for `#[utoipa::path]` (`body = schema::ConfigurationList`), and the schemars
/// schema that replaces the marker's placeholder in [`finish`].
macro_rules! shared_schemas {
    ($($marker:ident => $ty:ty),* $(,)?) => {
        /// Markers for the shared types in the OpenAPI description.
        pub mod schema {
            use super::*;
            $(
                pub struct $marker;
                impl PartialSchema for $marker {
                    fn schema() -> RefOr<Schema> {
                        // Replaced by the schemars definition in `finish`.
                        ObjectBuilder::new().into()
                    }
                }
                impl ToSchema for $marker {
                    fn name() -> Cow<'static, str> {
                        Cow::Borrowed(stringify!($marker))
                    }
                }
            )*
        }

        fn shared_roots(g: &mut schemars::SchemaGenerator) -> Vec<(&'static str, schemars::Schema)> {
            vec![$((stringify!($marker), g.subschema_for::<$ty>())),*]
        }
    };
}

shared_schemas! {
    Document => lockstep_shared::model::Document,
    Finding => lockstep_shared::validate::Finding,
    Parameter => lockstep_shared::template::Parameter,
    Binding => lockstep_shared::template::Binding,
    Diff => lockstep_shared::diff::Diff,
    Error => api::ErrorBody,
    Health => api::Health,
    Login => api::Login,
    Membership => api::Membership,
    SessionInfo => api::SessionInfo,
    LoggedOut => api::LoggedOut,
    CreateConfiguration => api::CreateConfiguration,
    SaveConfiguration => api::SaveConfiguration,
    Configuration => api::Configuration,
    ConfigurationSummary => api::ConfigurationSummary,
    ConfigurationList => api::ConfigurationList,
    Version => api::Version,
    VersionMeta => api::VersionMeta,
    VersionList => api::VersionList,
    ConfigurationWithCurrent => api::ConfigurationWithCurrent,
    SavedVersion => api::SavedVersion,
    CreatedConfiguration => api::CreatedConfiguration,
    Archived => api::Archived,
    VersionDiff => api::VersionDiff,
    Validation => api::Validation,
    Artifacts => api::Artifacts,
    Host => api::Host,
    HostUse => api::HostUse,
    HostList => api::HostList,
    HostFields => api::HostFields,
    Deleted => api::Deleted,
    DeployRequest => api::DeployRequest,
    Preflight => api::Preflight,
    Deployment => api::Deployment,
    DeploymentList => api::DeploymentList,
    ProtectionStatus => api::ProtectionStatus,
    DeploymentAction => api::DeploymentAction,
    TeamList => api::TeamList,
    NewTeam => api::NewTeam,
    TeamCreated => api::TeamCreated,
    MemberList => api::MemberList,
    InvitationList => api::InvitationList,
    SetRole => api::SetRole,
    RoleSet => api::RoleSet,
    MemberRemoved => api::MemberRemoved,
    InvitationAnswered => api::InvitationAnswered,
    CreateToken => api::CreateToken,
    NewToken => api::NewToken,
    TokenList => api::TokenList,
    Revoked => api::Revoked,
    TemplateList => api::TemplateList,
    TemplateView => api::TemplateView,
    TemplateVersion => api::TemplateVersion,
    TemplateVersionList => api::TemplateVersionList,
    SavedTemplate => api::SavedTemplate,
    CreateTemplate => api::CreateTemplate,
    SaveTemplate => api::SaveTemplate,
    TemplateFromConfiguration => api::TemplateFromConfiguration,
    Instantiate => api::Instantiate,
    AuditPage => api::AuditPage,
    AuditResult => api::AuditResult,
    AuditTarget => api::AuditTarget,
}

/// The shared crate's types, as JSON Schema definitions under `#/components/schemas`.
fn shared_definitions() -> Map<String, Value> {
    let mut settings = schemars::generate::SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    let mut g = settings.into_generator();
    let roots = shared_roots(&mut g);
    let mut defs: Map<String, Value> = g.take_definitions(true).into_iter().collect();
    for (name, schema) in roots {
        let v = schema.to_value();
        // A root that is only a reference to its own definition is already in `defs`.
        if v.get("$ref").and_then(Value::as_str) != Some(&format!("#/components/schemas/{name}")) {
            defs.insert(name.to_owned(), v);
        }
    }
    defs
}

/// Paths anyone may call without logging in.
const PUBLIC: [&str; 6] = [
    "/healthz",
    "/api/v1/openapi.json",
    "/api/v1/schema",
    "/api/v1/validate",
    "/api/v1/render",
    "/api/v1/login",
];

/// Completes the generated description: metadata, the shared schemas, the security schemes
/// (session cookie with its CSRF header for changes, or an API token) on every operation
/// that needs them, and the error answers every operation can give.
pub fn finish(description: utoipa::openapi::OpenApi) -> Value {
    let mut v = serde_json::to_value(&description).unwrap_or_default();
    v["info"] = json!({
        "title": "Lockstep API",
        "version": env!("CARGO_PKG_VERSION"),
        "description": "Configure, version, validate, render and audit QEMU COLO fault-tolerant \
            VM pairs. Errors are {code, message, details}. Changes made with the session cookie \
            need the X-CSRF-Token header from /api/v1/login or /api/v1/me; API tokens \
            (Authorization: Bearer) act in one team and need no CSRF header.",
    });
    let schemas = v["components"]["schemas"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut merged = schemas;
    merged.extend(shared_definitions());
    v["components"]["schemas"] = Value::Object(merged);
    v["components"]["securitySchemes"] = json!({
        "session": {"type": "apiKey", "in": "cookie", "name": crate::auth::SESSION_COOKIE,
                    "description": "from POST /api/v1/login; changes also need X-CSRF-Token"},
        "token": {"type": "http", "scheme": "bearer",
                  "description": "an API token from POST /api/v1/tokens"}
    });
    let error = |d: &str| json!({"description": d, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    if let Some(paths) = v["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            let public = PUBLIC.contains(&path.as_str());
            let Some(ops) = item.as_object_mut() else {
                continue;
            };
            for (_, op) in ops.iter_mut() {
                let mut codes = vec![
                    (
                        "400",
                        "bad input: malformed JSON, unknown fields, wrong types, bad values",
                    ),
                    ("500", "internal error (logged with the request id)"),
                ];
                if !public {
                    op["security"] = json!([{"session": []}, {"token": []}]);
                    codes.extend([
                        ("401", "not logged in"),
                        (
                            "403",
                            "the caller's role in the team is too low (or a missing CSRF header)",
                        ),
                        ("404", "no such object in the caller's teams"),
                    ]);
                }
                let responses = &mut op["responses"];
                for (code, what) in codes {
                    if responses.get(code).is_none() {
                        responses[code] = error(what);
                    }
                }
            }
        }
    }
    v
}
