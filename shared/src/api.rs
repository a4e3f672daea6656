//! The JSON the HTTP API sends and accepts, defined once: the server's handlers build and read
//! these types, the OpenAPI description is made from their JSON Schemas, and the browser app
//! reads the same types. Plain serde data; database rows stay private to the server and are
//! converted into these.
//!
//! Documents and findings the server passes through as stored text are [`RawValue`]s (described
//! in the schema as what they hold); readers parse them with [`Document::from_json`] for its
//! line and column on errors.

use crate::diff::Diff;
use crate::model::Document;
use crate::template::{Binding, Parameter};
use crate::validate::Finding;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// A point in time as the server writes it: RFC 3339 in UTC, e.g. `2026-12-02T05:13:51.123456Z`.
/// Every time in these types is one the server sets; readers show it. It stays text so the
/// browser app carries no date library; the server makes it from a `chrono` time (feature
/// `chrono`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(String);

impl Timestamp {
    /// The date and the time to the minute, as pages show it: `2026-12-02 05:13`. A text
    /// that is not RFC 3339 is shown as it is.
    pub fn minute(&self) -> String {
        self.split(16).unwrap_or_else(|| self.0.clone())
    }

    /// To the second, with the zone: `2026-12-02 05:13:51 UTC`.
    pub fn second(&self) -> String {
        self.split(19)
            .map(|t| t + " UTC")
            .unwrap_or_else(|| self.0.clone())
    }

    /// `YYYY-MM-DD hh:mm[:ss]`, up to byte `end` of the RFC 3339 text.
    fn split(&self, end: usize) -> Option<String> {
        let t = &self.0;
        let shaped = t.len() > end
            && t.is_char_boundary(end)
            && t.as_bytes()[10].eq_ignore_ascii_case(&b'T')
            && t.bytes().take(end).enumerate().all(|(i, b)| match i {
                4 | 7 => b == b'-',
                10 => true,
                13 | 16 => b == b':',
                _ => b.is_ascii_digit(),
            });
        shaped.then(|| format!("{} {}", &t[..10], &t[11..end]))
    }
}

/// Exactly chrono's own JSON form of the time (`serde`), so answers read as before.
#[cfg(feature = "chrono")]
impl From<chrono::DateTime<chrono::Utc>> for Timestamp {
    fn from(t: chrono::DateTime<chrono::Utc>) -> Timestamp {
        Timestamp(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    }
}

impl JsonSchema for Timestamp {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "format": "date-time" })
    }
}

/// Every error answer: `{code, message, details}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `bad_json`, `not_found`, `conflict`.
    pub code: String,
    /// What is wrong, for people.
    pub message: String,
    /// Code-specific details (line and column, findings, the current version, ...).
    #[serde(default)]
    pub details: Value,
}

/// `GET /healthz`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    /// `ok`, or `degraded` when Postgres does not answer.
    pub status: String,
    /// `ok`, or why Postgres did not answer.
    pub database: String,
}

// ---- Session

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub user: String,
    pub password: String,
}

/// A team the user is in, with the user's role there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Membership {
    pub team_id: i64,
    pub team: String,
    /// viewer, editor, deployer or admin.
    pub role: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SessionInfo {
    pub user: String,
    pub teams: Vec<Membership>,
    /// Send it as X-CSRF-Token with every change made with the session cookie.
    pub csrf_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct LoggedOut {
    pub logged_out: bool,
}

// ---- Configurations

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConfiguration {
    pub name: String,
    #[schemars(with = "Document")]
    pub document: Box<RawValue>,
    #[serde(default)]
    pub message: String,
}

/// A save: a new version on top of `base_version`. The server reads the document typed
/// (`D` = [`Document`]) in the same pass as the body, or as text to report its errors.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "SaveConfiguration")]
pub struct SaveConfiguration<D = Box<RawValue>> {
    /// The version this edit started from.
    pub base_version: i32,
    #[schemars(with = "Document")]
    pub document: D,
    #[serde(default)]
    pub message: String,
}

/// A configuration (without its versions).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Configuration {
    pub id: i64,
    pub team_id: i64,
    pub name: String,
    pub current_version: i32,
    pub created_at: Timestamp,
    pub archived_at: Option<Timestamp>,
    /// The template version it was instantiated from.
    pub template_id: Option<i64>,
    pub template_version: Option<i32>,
}

/// A configuration in a list, with the state of its current version.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ConfigurationSummary {
    pub id: i64,
    pub name: String,
    /// The current version's host names (`hosts.primary.name`, `hosts.secondary.name`).
    pub primary_host: String,
    pub secondary_host: String,
    pub current_version: i32,
    pub errors: i32,
    pub warnings: i32,
    pub updated_at: Timestamp,
    pub updated_by: String,
    pub archived_at: Option<Timestamp>,
    /// The active deployment (queued, running, protected or failed over), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_state: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ConfigurationList {
    pub configurations: Vec<ConfigurationSummary>,
}

/// A stored version with its document and findings (as stored: nothing re-encodes them).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Version {
    pub version: i32,
    #[schemars(with = "Document")]
    pub document: Box<RawValue>,
    #[schemars(with = "Vec<Finding>")]
    pub findings: Box<RawValue>,
    pub errors: i32,
    pub warnings: i32,
    pub author_name: String,
    pub message: String,
    pub created_at: Timestamp,
}

/// Version metadata without the document.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct VersionMeta {
    pub version: i32,
    pub errors: i32,
    pub warnings: i32,
    pub author_name: String,
    pub message: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct VersionList {
    pub versions: Vec<VersionMeta>,
}

/// A configuration with its current version (`current` is a [`Version`]).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ConfigurationWithCurrent {
    pub configuration: Configuration,
    /// The current version, as the server holds it serialized.
    #[schemars(with = "Version")]
    pub current: Box<RawValue>,
}

/// The template version a configuration was made from.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TemplateRef {
    pub id: i64,
    pub version: i32,
}

/// A stored version: its number and what the validator found.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SavedVersion {
    pub id: i64,
    pub version: i32,
    pub errors: i32,
    pub warnings: i32,
    #[schemars(with = "Vec<Finding>")]
    pub findings: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CreatedConfiguration {
    pub name: String,
    #[serde(flatten)]
    pub saved: SavedVersion,
    pub template: Option<TemplateRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Archived {
    pub id: i64,
    pub archived: bool,
}

/// The structural diff between two versions.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct VersionDiff {
    pub from: i32,
    pub to: i32,
    pub diff: Diff,
}

/// What the validator found in a document.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Validation {
    pub errors: usize,
    pub warnings: usize,
    #[schemars(with = "Vec<Finding>")]
    pub findings: Value,
}

/// The artifacts rendered from a valid document.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Artifacts {
    /// libvirt domain XML of the primary.
    pub primary_xml: String,
    /// libvirt domain XML of the secondary.
    pub secondary_xml: String,
    /// The ordered QMP steps that start replication, and the failover and re-protect runbooks.
    #[schemars(with = "Map<String, Value>")]
    pub plan: Box<RawValue>,
    /// The equivalent QEMU command line of the primary.
    pub primary_cmdline: String,
    pub secondary_cmdline: String,
    #[schemars(with = "Vec<Finding>")]
    pub warnings: Value,
}

// ---- Hosts

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Host {
    pub id: i64,
    pub team_id: i64,
    pub name: String,
    pub libvirt_uri: String,
    pub address: String,
    pub notes: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The active deployments (queued, running, protected, failed over) that run on the
    /// host; it is not deleted while there are any.
    #[serde(default)]
    pub deployments: Vec<HostUse>,
}

/// An active deployment on a host, and the role the host has in it now (roles swap after a
/// failover to the secondary and a re-protect).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HostUse {
    pub deployment_id: i64,
    pub configuration_id: i64,
    pub configuration: String,
    pub state: String,
    /// `primary` or `secondary`.
    pub role: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct HostList {
    pub hosts: Vec<Host>,
}

/// A host to register, or its new fields.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostFields {
    pub name: String,
    pub libvirt_uri: String,
    /// Replication address the peer reaches this host on.
    pub address: String,
    #[serde(default)]
    pub notes: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Deleted {
    pub id: i64,
    pub deleted: bool,
}

// ---- Teams and members

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TeamList {
    pub teams: Vec<Membership>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTeam {
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TeamCreated {
    pub id: i64,
    pub name: String,
    pub role: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Member {
    pub user_id: i64,
    pub user: String,
    pub role: String,
}

/// A pending invitation to a team.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Invitation {
    pub team: String,
    pub user: String,
    pub role: String,
    pub invited_by: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MemberList {
    pub members: Vec<Member>,
    /// Invitations not yet accepted or declined.
    pub invitations: Vec<Invitation>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct InvitationList {
    pub invitations: Vec<Invitation>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRole {
    /// viewer, editor, deployer or admin.
    pub role: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RoleSet {
    pub team: String,
    pub user: String,
    pub role: String,
    /// `member`: the member's role changed; `invited`: the user is invited with this role and
    /// becomes a member on accepting.
    pub status: String,
    /// The role (or invited role) before (absent: new).
    pub previous_role: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MemberRemoved {
    pub team: String,
    pub user: String,
    pub removed: bool,
    /// What was removed: `member`, or `invitation`.
    pub what: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct InvitationAnswered {
    pub team: String,
    /// `accepted` (now a member with `role`) or `declined`.
    pub status: String,
    pub role: String,
}

// ---- Tokens

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    pub team: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct NewToken {
    pub id: i64,
    pub name: String,
    pub team: String,
    pub role: String,
    /// The token: shown only in this answer (only its SHA-256 is stored).
    pub token: String,
    pub note: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Token {
    pub id: i64,
    pub name: String,
    pub team: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TokenList {
    pub tokens: Vec<Token>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Revoked {
    pub id: i64,
    pub revoked: bool,
}

// ---- Templates

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Template {
    pub id: i64,
    /// Absent for built-in templates.
    pub team_id: Option<i64>,
    pub name: String,
    pub current_version: i32,
    pub created_at: Timestamp,
    pub archived_at: Option<Timestamp>,
}

/// A template in a list, with its current version's description.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TemplateSummary {
    pub id: i64,
    pub name: String,
    pub builtin: bool,
    pub current_version: i32,
    pub description: String,
    pub parameters: i32,
    pub updated_at: Timestamp,
    pub updated_by: String,
    pub archived_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TemplateList {
    pub templates: Vec<TemplateSummary>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TemplateVersion {
    pub version: i32,
    pub description: String,
    #[schemars(with = "Vec<Parameter>")]
    pub parameters: Value,
    /// A configuration document with `${name}` placeholders.
    #[schemars(with = "Map<String, Value>")]
    pub body: Value,
    pub author_name: String,
    pub message: String,
    pub created_at: Timestamp,
}

/// Template version metadata without parameters and body.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TemplateVersionMeta {
    pub version: i32,
    pub description: String,
    pub author_name: String,
    pub message: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TemplateVersionList {
    pub versions: Vec<TemplateVersionMeta>,
}

/// A template version with what is wrong with it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TemplateView {
    pub template: Template,
    pub builtin: bool,
    pub version: TemplateVersion,
    /// The template's own findings (T0xx/W0xx).
    pub findings: Option<Vec<Finding>>,
    /// Findings of the document its defaults give; absent when a value is required.
    pub default_findings: Option<Vec<Finding>>,
}

/// A stored template version.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SavedTemplate {
    pub id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub version: i32,
    pub findings: Vec<Finding>,
    pub default_findings: Option<Vec<Finding>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTemplate {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub parameters: Vec<Parameter>,
    /// A configuration document with `${name}` placeholders.
    #[schemars(with = "Map<String, Value>")]
    pub body: Value,
    #[serde(default)]
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveTemplate {
    pub base_version: i32,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub parameters: Vec<Parameter>,
    /// A configuration document with `${name}` placeholders.
    #[schemars(with = "Map<String, Value>")]
    pub body: Value,
    #[serde(default)]
    pub message: String,
}

/// Save a configuration version as a team template.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateFromConfiguration {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Values of the document that become parameters.
    #[serde(default)]
    pub bindings: Vec<Binding>,
    /// The configuration version to start from (default: the current one).
    pub version: Option<i32>,
    #[serde(default)]
    pub message: String,
}

/// Create a configuration from a template version and parameter values.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Instantiate {
    pub template_id: i64,
    /// Default: the template's current version.
    pub template_version: Option<i32>,
    pub name: String,
    /// Parameter values by name; parameters left out take their default.
    #[serde(default)]
    pub values: Map<String, Value>,
    #[serde(default)]
    pub message: String,
}

// ---- Audit

/// What came of an audited action: every audit event's `result`, and the values the audit
/// API's `result` filter takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditResult {
    /// Done.
    Ok,
    /// Done in part (a host that could not be cleaned up).
    Partial,
    /// A deployment action the engine refused before it touched a host.
    Refused,
    /// A deployment action that failed on a host.
    Failed,
    /// A login with a wrong user name or password.
    Denied,
    /// The caller's role may not do this.
    Forbidden,
    /// No such object.
    NotFound,
    /// Somebody else changed it first, or its state does not allow it.
    Conflict,
    /// The request was not valid.
    Invalid,
}

impl AuditResult {
    pub const ALL: [AuditResult; 9] = [
        AuditResult::Ok,
        AuditResult::Partial,
        AuditResult::Refused,
        AuditResult::Failed,
        AuditResult::Denied,
        AuditResult::Forbidden,
        AuditResult::NotFound,
        AuditResult::Conflict,
        AuditResult::Invalid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditResult::Ok => "ok",
            AuditResult::Partial => "partial",
            AuditResult::Refused => "refused",
            AuditResult::Failed => "failed",
            AuditResult::Denied => "denied",
            AuditResult::Forbidden => "forbidden",
            AuditResult::NotFound => "not_found",
            AuditResult::Conflict => "conflict",
            AuditResult::Invalid => "invalid",
        }
    }

    /// In words, for people.
    pub fn meaning(self) -> &'static str {
        match self {
            AuditResult::Ok => "done",
            AuditResult::Partial => "done in part",
            AuditResult::Refused => "refused before it started",
            AuditResult::Failed => "failed on a host",
            AuditResult::Denied => "login denied",
            AuditResult::Forbidden => "not allowed for the role",
            AuditResult::NotFound => "no such object",
            AuditResult::Conflict => "conflict",
            AuditResult::Invalid => "invalid request",
        }
    }
}

/// What an audit event is about: every event's `target_type`, and the values the audit API's
/// `target_type` filter takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditTarget {
    Configuration,
    Template,
    Deployment,
    Host,
    Member,
    Team,
    Token,
    /// A login or logout.
    Session,
    /// A user account (made with the command line).
    User,
    /// A refused request that names no object.
    Request,
}

impl AuditTarget {
    pub const ALL: [AuditTarget; 10] = [
        AuditTarget::Configuration,
        AuditTarget::Template,
        AuditTarget::Deployment,
        AuditTarget::Host,
        AuditTarget::Member,
        AuditTarget::Team,
        AuditTarget::Token,
        AuditTarget::Session,
        AuditTarget::User,
        AuditTarget::Request,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditTarget::Configuration => "configuration",
            AuditTarget::Template => "template",
            AuditTarget::Deployment => "deployment",
            AuditTarget::Host => "host",
            AuditTarget::Member => "member",
            AuditTarget::Team => "team",
            AuditTarget::Token => "token",
            AuditTarget::Session => "session",
            AuditTarget::User => "user",
            AuditTarget::Request => "request",
        }
    }

    /// The kind of object an API path's first segment names (`configurations`, `hosts`…).
    pub fn of_collection(segment: &str) -> Option<AuditTarget> {
        AuditTarget::ALL
            .into_iter()
            .find(|t| segment.strip_suffix('s') == Some(t.as_str()))
    }
}

/// One page of audit events, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AuditPage {
    /// Events: time, actor, team, action, target, before/after, request id, source, user
    /// agent, result, and the event's chain hash; `configuration.update` events also carry
    /// `diff`, the structural diff between the versions they record.
    #[schemars(with = "Vec<Map<String, Value>>")]
    pub events: Vec<Value>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<i64>,
}

// ---- Deployments

/// Deploy a stored, error-free version to two registered hosts of the team.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    pub version: i32,
    pub primary_host_id: i64,
    pub secondary_host_id: i64,
}

/// One preflight check: what, on which host, whether it passed, and what was found (for a
/// failed check, also how to fix it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PreflightCheck {
    /// `primary`, `secondary`, or absent for checks of the pair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub side: Option<String>,
    pub host: String,
    pub what: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Preflight {
    pub ok: bool,
    pub checks: Vec<PreflightCheck>,
}

/// One step a deployment or an action ran, as it was recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeploymentStep {
    pub seq: i32,
    /// `deploy`, or the action (`failover-to-secondary`, `failover-to-primary`, `teardown`).
    pub run: String,
    pub n: i32,
    pub phase: String,
    pub side: String,
    /// The libvirt URI it ran on.
    pub host: String,
    pub command: String,
    pub reply: String,
    pub micros: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub skipped: bool,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Deployment {
    pub id: i64,
    pub configuration_id: i64,
    pub version: i32,
    pub primary_host_id: Option<i64>,
    pub secondary_host_id: Option<i64>,
    pub primary_uri: String,
    pub secondary_uri: String,
    /// `queued`, `running`, `protected`, `failed-over`, `failed`, `torn-down`.
    pub state: String,
    /// The side running the guest after a failover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_side: Option<String>,
    /// The roles are swapped: the secondary host runs the primary (after a failover to the
    /// secondary and a re-protect); `primary`/`secondary` in status and actions then mean the
    /// roles as they run now.
    #[serde(default)]
    pub roles_swapped: bool,
    /// Why it failed: the step, the host and libvirt's or QEMU's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub created_by: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// Every step recorded so far (absent in lists).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<DeploymentStep>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DeploymentList {
    pub deployments: Vec<Deployment>,
}

/// What one side of a deployed pair says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SideStatus {
    /// libvirt's domain state, or why the host could not be reached.
    pub domain: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub colo_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_delay_ms: Option<u64>,
    /// Why QEMU's monitor did not answer although libvirt says the guest runs (its QEMU is
    /// stopped or stuck).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<String>,
}

/// Said where libvirt's state of a side disagrees with QEMU's ([`SideStatus::libvirt_behind`]).
pub const LIBVIRT_BEHIND: &str = "libvirt does not follow COLO's pauses and resumes (at the \
    start and at every checkpoint): it can show a guest paused that QEMU runs. QEMU's state is \
    the one that counts.";

impl SideStatus {
    /// libvirt says the guest is paused while QEMU runs it: libvirt's state is stale (it does
    /// not follow COLO resuming the guest), not a fault.
    pub fn libvirt_behind(&self) -> bool {
        self.domain == "paused" && self.run_state.as_deref() == Some("running")
    }

    /// QEMU's run state as pages and the CLI show it: the state, "not answering" when its
    /// monitor is silent, or nothing when the guest does not run.
    pub fn qemu(&self) -> Option<&str> {
        self.run_state
            .as_deref()
            .or(self.monitor.as_ref().map(|_| "not answering"))
    }
}

/// "Protected", or "Not protected" with a reason (starting, need secondary, lost connection,
/// failed over, stopped, QEMU not answering, unknown state).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProtectionStatus {
    pub deployment_id: i64,
    pub protected: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// "Protected" or "Not protected: reason".
    pub summary: String,
    /// The side running as primary now and the one running as secondary.
    pub primary: SideStatus,
    pub secondary: SideStatus,
    /// The hosts run the pair with its roles swapped: `primary` above is the deployment's
    /// secondary host.
    #[serde(default)]
    pub roles_swapped: bool,
    /// What the verdict rests on beyond the sides' states: a checkpoint seen while reading, or
    /// none for longer than the checkpoint delay (the link between the hosts is down), or a
    /// side whose QEMU does not answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub checked_at: Timestamp,
    /// When the status last changed to this summary, as the servers saw it (status reads and
    /// the deploy's end record it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
}

/// An action on a deployed pair.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentAction {
    /// `failover-to-secondary`, `failover-to-primary`, `reprotect` or `teardown`.
    pub action: String,
    /// Fail over although the side being left still answers (it must be fenced).
    #[serde(default)]
    pub force: bool,
    /// `reprotect` only: build the fresh secondary on this registered host instead of the lost
    /// one. `version` must then be a version whose document differs from the deployed one only
    /// in that side's host (name, address, run directory), naming this host's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
}

#[cfg(test)]
mod tests {
    use super::Timestamp;

    fn t(text: &str) -> Timestamp {
        serde_json::from_value(serde_json::Value::from(text)).expect("a JSON string")
    }

    #[test]
    fn libvirt_is_behind_only_when_it_says_paused_and_qemu_runs() {
        let side = |domain: &str, run: Option<&str>| super::SideStatus {
            domain: domain.to_owned(),
            run_state: run.map(str::to_owned),
            ..Default::default()
        };
        assert!(side("paused", Some("running")).libvirt_behind());
        assert!(!side("running", Some("running")).libvirt_behind());
        // Paused inside a checkpoint (a cut link): libvirt is right.
        assert!(!side("paused", Some("colo")).libvirt_behind());
        assert!(!side("paused", None).libvirt_behind());
    }

    #[test]
    fn times_read_to_the_minute_and_the_second() {
        let t1 = t("2025-12-01T10:15:05.123456Z");
        assert_eq!(t1.minute(), "2025-12-01 10:15");
        assert_eq!(t1.second(), "2025-12-01 10:15:05 UTC");
        assert_eq!(t("0001-01-01T00:00:59Z").minute(), "0001-01-01 00:00");
        assert_eq!(
            t("2025-12-01t10:15:05Z").second(),
            "2025-12-01 10:15:05 UTC"
        );
        // The wire form is the text itself.
        assert_eq!(
            serde_json::to_string(&t1).expect("json"),
            "\"2025-12-01T10:15:05.123456Z\""
        );
    }

    #[test]
    fn a_text_that_is_not_such_a_time_is_shown_as_it_is() {
        for odd in [
            "",
            "yesterday",
            "2025-12-01",
            "2025-12-01 10:15:05Z",
            "2025-1a-01T10:15:05Z",
        ] {
            assert_eq!(t(odd).minute(), odd, "{odd:?}");
            assert_eq!(t(odd).second(), odd, "{odd:?}");
        }
        // Only what is shown is read: a bad second does not spoil the minute.
        let cut = t("2025-12-01T10:15:0é");
        assert_eq!(cut.minute(), "2025-12-01 10:15");
        assert_eq!(cut.second(), "2025-12-01T10:15:0é");
    }
}
