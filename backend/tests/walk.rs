//! Walks every endpoint of the API, as listed by the server's own `/api/v1/openapi.json`, as
//! each role of a team (viewer, editor, deployer, admin) logged in and through an API token, as
//! an admin of another team, and anonymously, and checks each answer: 2xx when the role
//! suffices, 403 when it does not (or when a token tries what needs a person), 404 for another
//! team (nothing of the team leaks into any answer), 401 without a login. Each call gets fresh
//! objects, so changes (archive, delete, remove) do not spoil later calls.
//!
//! It also holds the description to the handlers: an endpoint without an expectation here
//! fails the walk; every JSON body sent empty gets a 400 naming a field the description
//! lists as required; every 2xx answer has the fields its described schema requires.

#[macro_use]
mod common;

use common::{corpus, Server, PASSWORD};
use lockstep_tests::http::{Client, Response};
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    Viewer,
    Editor,
    Deployer,
    Admin,
}

/// Who may call an operation.
#[derive(Debug, Clone, Copy)]
enum Access {
    /// Anyone, without logging in.
    Public,
    /// Anyone logged in or with a token; it reads the caller's own things.
    LoggedIn,
    /// A logged-in person, not an API token (sessions, tokens, teams).
    Session,
    /// Members of the team owning the object with at least this role.
    Team(Role),
    /// Like `Team`, and not through an API token (managing members, making tokens).
    TeamSession(Role),
}

/// Every operation of the API and who may call it. The walk fails when the description has an
/// operation missing here (or the other way round).
fn access() -> BTreeMap<&'static str, Access> {
    use Access::*;
    use Role::*;
    BTreeMap::from([
        ("healthz", Public),
        ("openapi_json", Public),
        ("document_schema", Public),
        ("validate_document", Public),
        ("render_document", Public),
        ("login", Public),
        ("logout", Session),
        ("me", LoggedIn),
        ("list_audit_events", LoggedIn),
        ("list_tokens", LoggedIn),
        ("create_token", TeamSession(Viewer)),
        ("revoke_token", Session),
        ("list_teams", LoggedIn),
        ("create_team", Session),
        ("list_members", Team(Viewer)),
        ("set_member_role", TeamSession(Admin)),
        ("remove_member", TeamSession(Admin)),
        ("list_invitations", LoggedIn),
        ("accept_invitation", Session),
        ("decline_invitation", Session),
        ("list_hosts", Team(Viewer)),
        ("create_host", Team(Editor)),
        ("get_host", Team(Viewer)),
        ("update_host", Team(Editor)),
        ("delete_host", Team(Admin)),
        ("list_configurations", Team(Viewer)),
        ("create_configuration", Team(Editor)),
        ("create_configuration_from_template", Team(Editor)),
        ("get_configuration", Team(Viewer)),
        ("save_configuration", Team(Editor)),
        ("archive_configuration", Team(Editor)),
        ("list_configuration_versions", Team(Viewer)),
        ("get_configuration_version", Team(Viewer)),
        ("render_configuration_version", Team(Viewer)),
        ("diff_configuration_versions", Team(Viewer)),
        ("template_from_configuration", Team(Editor)),
        ("list_templates", Team(Viewer)),
        ("create_template", Team(Editor)),
        ("get_template", Team(Viewer)),
        ("save_template", Team(Editor)),
        ("archive_template", Team(Editor)),
        ("list_template_versions", Team(Viewer)),
        ("get_template_version", Team(Viewer)),
        ("preflight_deployment", Team(Deployer)),
        ("create_deployment", Team(Deployer)),
        ("list_deployments", Team(Viewer)),
        ("get_deployment", Team(Viewer)),
        ("deployment_status", Team(Viewer)),
        ("deployment_action", Team(Deployer)),
        ("deployment_events", Team(Viewer)),
    ])
}

/// The callers: a member of the team in each role (logged in, or with an API token for the
/// team), an admin of another team, nobody.
#[derive(Debug, Clone, Copy)]
enum Who {
    Member(Role, &'static str),
    Token(Role, &'static str),
    OtherTeamAdmin,
    Anonymous,
}

const SECRET: &str = "opsonly";

#[derive(Clone)]
struct Operation {
    id: String,
    method: String,
    path: String,
    has_body: bool,
    /// Top-level fields the description requires of the request body.
    body_required: Vec<String>,
    /// Every top-level field the description lists for the request body.
    body_properties: Vec<String>,
    /// Status code -> top-level fields its described answer requires.
    answers: BTreeMap<u16, Vec<String>>,
}

/// A schema, or the component it references.
fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => &spec["components"]["schemas"][r.trim_start_matches("#/components/schemas/")],
        None => schema,
    }
}

fn required_of(spec: &Value, schema: &Value) -> Vec<String> {
    resolve(spec, schema)["required"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The names of the properties of a (referenced) schema.
fn properties_of(spec: &Value, schema: &Value) -> Vec<String> {
    resolve(spec, schema)["properties"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn operations(spec: &Value) -> Vec<Operation> {
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("operations") {
            let body = &op["requestBody"]["content"]["application/json"]["schema"];
            let answers = op["responses"]
                .as_object()
                .expect("responses")
                .iter()
                .filter_map(|(code, r)| {
                    let schema = &r["content"]["application/json"]["schema"];
                    Some((code.parse().ok()?, required_of(spec, schema)))
                })
                .collect();
            out.push(Operation {
                id: op["operationId"].as_str().expect("operationId").to_owned(),
                method: method.to_uppercase(),
                path: path.clone(),
                has_body: !body.is_null(),
                body_required: required_of(spec, body),
                body_properties: properties_of(spec, body),
                answers,
            });
        }
    }
    out
}

/// Objects of the team, fresh for one call.
struct Fixture {
    configuration: i64,
    host: i64,
    /// Two hosts on libvirt's built-in test driver (`test:///default`, no daemon), and a
    /// deployment of the configuration on them, stored as protected.
    hosts: (i64, i64),
    deployment: i64,
    template: i64,
    token: i64,
    /// The team the path's `{team}` names (`ops` unless the call needs another).
    team: String,
}

struct Walk {
    s: Server,
    ada: Client,
    n: u32,
    doc: Value,
    /// The user name of the caller of the call being prepared.
    caller: String,
    /// Another team's admin, who invites Ada (she cannot invite herself).
    olga: Option<Client>,
}

impl Walk {
    fn next(&mut self) -> u32 {
        self.n += 1;
        self.n
    }

    fn created(r: Response) -> i64 {
        assert!(r.status == 201, "fixture: {} {}", r.status, r.body);
        r.json()["id"].as_i64().expect("id")
    }

    /// Fresh objects of the team for one call of `op`, only those it uses; the token belongs
    /// to `caller` (a client and one of its teams), or to the team's admin.
    fn fixture(&mut self, op: &Operation, caller: Option<(&mut Client, &str)>) -> Fixture {
        let n = self.next();
        let path = op.path.as_str();
        let mut f = Fixture {
            configuration: 0,
            host: 0,
            hosts: (0, 0),
            deployment: 0,
            template: 0,
            token: 0,
            team: "ops".to_owned(),
        };
        if path.starts_with("/api/v1/invitations/") {
            // A new team that invites the caller: Ada's, or Olga's when Ada is the caller.
            f.team = format!("inv{n}");
            let caller = self.caller.clone();
            let inviter = match (caller.as_str(), self.olga.as_mut()) {
                ("ada", Some(olga)) => Some(olga),
                ("ada", None) => None,
                _ => Some(&mut self.ada),
            };
            if let Some(inviter) = inviter {
                let r = inviter
                    .send("POST", "/api/v1/teams", &json!({"name": f.team}))
                    .expect("team");
                assert_eq!(r.status, 201, "{}", r.body);
                let r = inviter
                    .send(
                        "PUT",
                        &format!("/api/v1/teams/{}/members/{caller}", f.team),
                        &json!({"role": "editor"}),
                    )
                    .expect("invite");
                assert_eq!(r.status, 202, "{}", r.body);
            }
        }
        let templated =
            path.starts_with("/api/v1/templates/") || op.id == "create_configuration_from_template";
        let deploys = path.starts_with("/api/v1/deployments/")
            || ["preflight_deployment", "create_deployment"].contains(&op.id.as_str());
        if path.starts_with("/api/v1/configurations/") || templated || deploys {
            let mut doc = self.doc.clone();
            doc["guest"]["name"] = json!(format!("{SECRET}-vm{n}"));
            f.configuration = Self::created(
                self.ada
                    .send(
                        "POST",
                        "/api/v1/teams/ops/configurations",
                        &json!({"name": format!("{SECRET}-c{n}"), "document": doc}),
                    )
                    .expect("configuration"),
            );
        }
        if templated {
            f.template = Self::created(
                self.ada
                    .send(
                        "POST",
                        &format!("/api/v1/configurations/{}/template", f.configuration),
                        &json!({"name": format!("{SECRET}-t{n}")}),
                    )
                    .expect("template"),
            );
        }
        if deploys {
            // Registered by hand: the API takes no test-driver URI.
            let sql = |q: &str| {
                let o = self.s.sql(q);
                assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .parse::<i64>()
                    .expect("id")
            };
            // At the addresses the document gives each side: a deploy refuses others.
            let host = |side: &str, role: &str| {
                let address = self.doc["hosts"][role]["address"]
                    .as_str()
                    .expect("address");
                format!(
                    "INSERT INTO hosts (team_id, name, libvirt_uri, address) SELECT id, \
                     '{SECRET}-{side}{n}', 'test:///default', '{address}' FROM teams \
                     WHERE name = 'ops' RETURNING id"
                )
            };
            let p = sql(&host("p", "primary"));
            let q = sql(&host("s", "secondary"));
            f.hosts = (p, q);
            if path.starts_with("/api/v1/deployments/") {
                f.deployment = sql(&format!(
                    "INSERT INTO deployments (team_id, configuration_id, version, \
                     primary_host_id, secondary_host_id, primary_uri, secondary_uri, state, \
                     created_by_name) SELECT team_id, id, 1, {p}, {q}, 'test:///default', \
                     'test:///default', 'protected', 'ada' FROM configurations WHERE id = {} \
                     RETURNING id",
                    f.configuration
                ));
            }
        }
        if path.starts_with("/api/v1/hosts/") {
            f.host = Self::created(
                self.ada
                    .send(
                        "POST",
                        "/api/v1/teams/ops/hosts",
                        &json!({"name": format!("{SECRET}-h{n}"), "libvirt_uri": "qemu:///system",
                                "address": format!("10.1.{}.{}", n / 250, n % 250 + 1)}),
                    )
                    .expect("host"),
            );
        }
        if op.id == "remove_member" {
            // Zed is a member, for removing.
            let r = self
                .ada
                .send(
                    "PUT",
                    "/api/v1/teams/ops/members/zed",
                    &json!({"role": "viewer"}),
                )
                .expect("zed");
            assert!([200, 202].contains(&r.status), "{}", r.body);
        }
        if path.starts_with("/api/v1/tokens/") {
            let (owner, team) = caller.unwrap_or((&mut self.ada, "ops"));
            f.token = Self::created(
                owner
                    .send(
                        "POST",
                        "/api/v1/tokens",
                        &json!({"name": format!("t{n}"), "team": team}),
                    )
                    .expect("token"),
            );
        }
        f
    }

    fn body(&mut self, op: &str, f: &Fixture, user: &str) -> Value {
        let n = self.next();
        let doc = self.doc.clone();
        match op {
            "validate_document" | "render_document" => doc,
            "login" => json!({"user": user, "password": PASSWORD}),
            "create_token" => json!({"name": format!("t{n}"), "team": "ops"}),
            "create_team" => json!({"name": format!("team{n}")}),
            "set_member_role" => json!({"role": "viewer"}),
            "create_host" | "update_host" => json!({"name": format!("{SECRET}-h{n}"),
                "libvirt_uri": "qemu:///system", "address": format!("10.2.{}.{}", n / 250, n % 250 + 1)}),
            "create_configuration" => json!({"name": format!("{SECRET}-c{n}"), "document": doc}),
            "save_configuration" => json!({"base_version": 1, "document": doc}),
            "create_configuration_from_template" => {
                json!({"template_id": f.template, "name": format!("{SECRET}-i{n}")})
            }
            "template_from_configuration" => json!({"name": format!("{SECRET}-tc{n}")}),
            "create_template" => json!({"name": format!("{SECRET}-tt{n}"), "body": doc}),
            "save_template" => json!({"base_version": 1, "body": doc}),
            "preflight_deployment" | "create_deployment" => json!({"version": 1,
                "primary_host_id": f.hosts.0, "secondary_host_id": f.hosts.1}),
            "deployment_action" => json!({"action": "teardown"}),
            other => panic!("no body for {other}"),
        }
    }
}

fn concrete(op: &Operation, f: &Fixture) -> String {
    let id = if op.path.starts_with("/api/v1/hosts") {
        f.host
    } else if op.path.starts_with("/api/v1/templates") {
        f.template
    } else if op.path.starts_with("/api/v1/tokens") {
        f.token
    } else if op.path.starts_with("/api/v1/deployments") {
        f.deployment
    } else {
        f.configuration
    };
    let mut p = op
        .path
        .replace("{team}", &f.team)
        .replace("{id}", &id.to_string())
        .replace("{version}", "1")
        .replace("{user}", "zed");
    if op.id == "diff_configuration_versions" {
        p.push_str("?from=1&to=1");
    }
    p
}

fn expected(access: Access, who: Who) -> Result<(), u16> {
    use Access::*;
    match (access, who) {
        (Public, _) => Ok(()),
        (_, Who::Anonymous) => Err(401),
        (LoggedIn, _) => Ok(()),
        (Session | TeamSession(_), Who::Token(..)) => Err(403),
        (Session, _) => Ok(()),
        (Team(_) | TeamSession(_), Who::OtherTeamAdmin) => Err(404),
        (Team(min) | TeamSession(min), Who::Member(role, _) | Who::Token(role, _)) => {
            if role >= min {
                Ok(())
            } else {
                Err(403)
            }
        }
    }
}

#[test]
fn every_endpoint_as_every_role_and_as_another_team() {
    need_postgres!("walk::every_endpoint_as_every_role_and_as_another_team");
    let s = Server::start();
    for (team, role, user) in [
        ("ops", "admin", "ada"),
        ("ops", "deployer", "dee"),
        ("ops", "editor", "eve"),
        ("ops", "viewer", "vic"),
        ("other", "admin", "olga"),
        ("elsewhere", "viewer", "zed"),
    ] {
        s.create_user(team, role, user);
    }
    let ada = s.as_user("ada");
    let spec = s.client().get("/api/v1/openapi.json").expect("spec").json();
    // Every reference in the description resolves, and the shared types are there in full.
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                    out.push(r);
                }
                m.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&spec, &mut all);
    assert!(all.len() > 50, "only {} references", all.len());
    for r in all {
        let name = r.trim_start_matches("#/components/schemas/");
        assert!(
            spec["components"]["schemas"].get(name).is_some(),
            "{r} does not resolve"
        );
    }
    for shared in ["Document", "Finding", "Parameter", "Binding", "Diff"] {
        assert!(
            spec["components"]["schemas"][shared]["properties"].is_object(),
            "{shared} is not described in full"
        );
    }
    let ops = operations(&spec);
    let table = access();
    let described: Vec<&str> = ops.iter().map(|o| o.id.as_str()).collect();
    let expected_ids: Vec<&str> = table.keys().copied().collect();
    let mut sorted = described.clone();
    sorted.sort();
    assert_eq!(
        sorted, expected_ids,
        "the description and this walk's table list different operations"
    );

    let mut w = Walk {
        s,
        ada,
        n: 0,
        doc: corpus("one-disk-raw"),
        caller: String::new(),
        olga: None,
    };
    w.olga = Some(w.s.as_user("olga"));
    let callers = [
        Who::Anonymous,
        Who::OtherTeamAdmin,
        Who::Member(Role::Viewer, "vic"),
        Who::Member(Role::Editor, "eve"),
        Who::Member(Role::Deployer, "dee"),
        Who::Member(Role::Admin, "ada"),
        Who::Token(Role::Viewer, "vic"),
        Who::Token(Role::Editor, "eve"),
        Who::Token(Role::Deployer, "dee"),
        Who::Token(Role::Admin, "ada"),
    ];
    let mut checked = 0;
    let mut failures = Vec::new();
    for who in callers {
        let (mut client, user) = match who {
            Who::Anonymous => (w.s.client(), "ada"),
            Who::OtherTeamAdmin => (w.s.as_user("olga"), "olga"),
            Who::Member(_, u) => (w.s.as_user(u), u),
            Who::Token(_, u) => {
                let mut person = w.s.as_user(u);
                let r = person
                    .send(
                        "POST",
                        "/api/v1/tokens",
                        &json!({"name": "walk", "team": "ops"}),
                    )
                    .expect("token");
                assert_eq!(r.status, 201, "{}", r.body);
                let mut c = w.s.client();
                c.bearer = Some(r.json()["token"].as_str().expect("token").to_owned());
                (c, u)
            }
        };
        // Logging out ends the caller's session: walk it last.
        let mut order: Vec<&Operation> = ops.iter().collect();
        order.sort_by_key(|o| o.id == "logout");
        w.caller = user.to_owned();
        for op in order {
            // Tokens are the caller's own: revoking one needs one of the caller's.
            let f = match who {
                Who::Member(..) if op.id == "revoke_token" => {
                    w.fixture(op, Some((&mut client, "ops")))
                }
                Who::OtherTeamAdmin if op.id == "revoke_token" => {
                    w.fixture(op, Some((&mut client, "other")))
                }
                _ => w.fixture(op, None),
            };
            let path = concrete(op, &f);
            let r = if op.id == "login" {
                // A login of its own: it must not replace the caller's session.
                let body = w.body(&op.id, &f, user);
                w.s.client().send(&op.method, &path, &body)
            } else if op.has_body {
                let body = w.body(&op.id, &f, user);
                client.send(&op.method, &path, &body)
            } else {
                client.raw(&op.method, &path, None, b"")
            }
            .expect("request");
            let want = expected(table[op.id.as_str()], who);
            let ok = match want {
                Ok(()) => (200..300).contains(&r.status),
                Err(code) => r.status == code,
            };
            let leaked =
                matches!(who, Who::OtherTeamAdmin | Who::Anonymous) && r.body.contains(SECRET);
            if !ok || leaked {
                failures.push(format!(
                    "{who:?} {} {path} ({}): expected {want:?}, got {}{} {}",
                    op.method,
                    op.id,
                    r.status,
                    if leaked {
                        " and it leaked team data"
                    } else {
                        ""
                    },
                    r.body.chars().take(200).collect::<String>()
                ));
            }
            // The answer has what its description requires.
            if let Some(required) = op.answers.get(&r.status) {
                let v = r.json();
                for field in required {
                    if v.get(field).is_none() {
                        failures.push(format!(
                            "{} answered {} without the described field {field:?}",
                            op.id, r.status
                        ));
                    }
                }
            } else if ok && (200..300).contains(&r.status) {
                failures.push(format!(
                    "{} answered {}, which is not described",
                    op.id, r.status
                ));
            }
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} calls were wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(checked, ops.len() * callers.len());

    // Every JSON body sent empty is refused with a 400 naming a field the description
    // requires (the description and the handler agree on the body's type).
    let mut ada = w.s.as_user("ada");
    for op in ops.iter().filter(|o| o.has_body) {
        let f = w.fixture(op, None);
        let path = concrete(op, &f);
        let r = ada.send(&op.method, &path, &json!({})).expect("request");
        let named = op
            .body_required
            .iter()
            .any(|field| r.body.contains(&format!("missing field `{field}`")));
        assert!(
            r.status == 400 && named,
            "{} with an empty body: {} {} (described as requiring {:?})",
            op.id,
            r.status,
            r.body,
            op.body_required
        );
    }
}

/// Hostile JSON values for one field: NUL, spoofing and control characters, huge and odd
/// numbers, wrong types. `LONE` is replaced by a lone-surrogate escape in the raw body (serde
/// never writes one), `NEST` by arrays nested 4,096 deep, `HUGE` by a number past `f64`.
fn hostile_values() -> Vec<Value> {
    vec![
        json!("\u{0}"),
        json!("a\u{0}b"),
        json!("invoice-\u{202E}txt.exe"),
        json!("\u{200F}\u{FEFF}\u{200B}"),
        json!("line\nbreak\ttab\r"),
        json!("x".repeat(70_000)),
        json!("%00'; DROP TABLE configurations; --"),
        json!("../../../etc/passwd"),
        json!("\u{1F600}"),
        json!(""),
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(2_147_483_648_i64),
        json!(-1),
        json!(1.5),
        json!(1e308),
        json!(null),
        json!(true),
        json!([]),
        json!({}),
        json!("LONE"),
        json!("NEST"),
        json!("HUGE"),
    ]
}

/// A random string of characters that tend to break things.
fn random_string(rng: &mut impl rand::Rng) -> String {
    const POOL: &[char] = &[
        'a',
        'Z',
        '0',
        ' ',
        '\0',
        '\u{1}',
        '\n',
        '\t',
        '\u{7f}',
        '\u{85}',
        '\u{a0}',
        '\u{ad}',
        '\u{200b}',
        '\u{200f}',
        '\u{202e}',
        '\u{2066}',
        '\u{feff}',
        '\u{fffd}',
        '\u{10ffff}',
        '\u{e0041}',
        '"',
        '\\',
        '/',
        '%',
        '$',
        '{',
        '}',
        '<',
        '>',
        '&',
        '\'',
        ';',
        ':',
        '.',
        'é',
        '字',
        '\u{1f600}',
    ];
    let len = rng.gen_range(0..40);
    (0..len)
        .map(|_| POOL[rng.gen_range(0..POOL.len())])
        .collect()
}

/// The raw body: `value` at `pointer` of `base`, with the markers of [`hostile_values`]
/// written out.
fn hostile_body(base: &Value, pointer: &str, value: &Value) -> Vec<u8> {
    let mut b = base.clone();
    if let Some(slot) = b.pointer_mut(pointer) {
        *slot = value.clone();
    }
    let text = b.to_string();
    let text = match value.as_str() {
        Some("LONE") => text.replace("\"LONE\"", "\"\\ud800 and \\udfff\""),
        Some("NEST") => text.replace(
            "\"NEST\"",
            &format!("{}{}", "[".repeat(4096), "]".repeat(4096)),
        ),
        Some("HUGE") => text.replace("\"HUGE\"", "1e99999"),
        _ => text,
    };
    text.into_bytes()
}

/// Every JSON pointer to a leaf (and to each object and array) of `v`.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(x, p, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(x, p, out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_request_field_of_every_endpoint_survives_hostile_values() {
    use rand::{seq::SliceRandom, Rng, SeedableRng};
    need_postgres!("walk::every_request_field_of_every_endpoint_survives_hostile_values");
    let s = Server::start();
    s.create_user("ops", "admin", "ada");
    s.create_user("elsewhere", "viewer", "zed");
    let ada = s.as_user("ada");
    let spec = s.client().get("/api/v1/openapi.json").expect("spec").json();
    let ops = operations(&spec);
    let mut w = Walk {
        s,
        ada,
        n: 0,
        doc: corpus("one-disk-raw"),
        caller: "ada".to_owned(),
        olga: None,
    };
    let seed: u64 = std::env::var("LOCKSTEP_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261130);
    eprintln!("hostile walk seed {seed} (LOCKSTEP_FUZZ_SEED repeats it)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let path_values = [
        "%00",
        "a%00b",
        "%E2%80%AE",
        "-1",
        "0",
        "99999999999999999999",
        "2147483648",
        "%2e%2e%2f%2e%2e",
        "a%0Ab",
        "%FF%FE",
        "%F0%9F%98%80",
    ];
    let mut failures = Vec::new();
    let mut sent = 0;
    let mut fields_walked = 0;
    let mut slowest: Vec<(std::time::Duration, String)> = Vec::new();
    let mut last = std::time::Instant::now();
    let mut check = |what: String, r: Response, failures: &mut Vec<String>| {
        sent += 1;
        slowest.push((last.elapsed(), what.chars().take(120).collect()));
        last = std::time::Instant::now();
        let json: Option<Value> = serde_json::from_str(&r.body).ok();
        let error_shape = json.as_ref().is_some_and(|b| {
            b["code"].is_string() && b["message"].is_string() && b.get("details").is_some()
        });
        if r.status >= 500 || (r.status >= 400 && !error_shape) {
            failures.push(format!(
                "{what}: {} {}",
                r.status,
                r.body.chars().take(300).collect::<String>()
            ));
        }
    };
    // Logging out and logging in change the session the walk uses: last.
    let mut order: Vec<&Operation> = ops.iter().collect();
    order.sort_by_key(|o| (o.id == "login", o.id == "logout"));
    let only = std::env::var("LOCKSTEP_FUZZ_ONLY").unwrap_or_default();
    for op in order {
        if !only.is_empty() && !only.split(',').any(|o| o == op.id) {
            continue;
        }
        eprintln!("hostile walk: {}", op.id);
        let spec_op = &spec["paths"][&op.path][op.method.to_lowercase()];
        // Path parameters, one at a time.
        let names: Vec<String> = op
            .path
            .split('/')
            .filter(|s| s.starts_with('{'))
            .map(str::to_owned)
            .collect();
        // Fixtures are made again only after an answer that may have used them up (2xx).
        let mut f = w.fixture(op, None);
        for name in &names {
            for value in path_values {
                let mut shadow = op.clone();
                shadow.path = op.path.replace(name.as_str(), value);
                let path = concrete(&shadow, &f);
                let r = if op.has_body {
                    let body = w.body(&op.id, &f, "ada");
                    w.ada.send(&op.method, &path, &body)
                } else {
                    w.ada.raw(&op.method, &path, None, b"")
                }
                .expect("answered");
                let used = (200..300).contains(&r.status);
                check(format!("{} {path}", op.id), r, &mut failures);
                if used {
                    f = w.fixture(op, None);
                }
            }
        }
        // Query parameters the description lists.
        let queries: Vec<&str> = spec_op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query")
            .filter_map(|p| p["name"].as_str())
            .collect();
        for q in queries {
            for value in path_values {
                let path = concrete(op, &f);
                let sep = if path.contains('?') { '&' } else { '?' };
                let path = format!("{path}{sep}{q}={value}");
                let r = w.ada.raw(&op.method, &path, None, b"").expect("answered");
                check(format!("{} {path}", op.id), r, &mut failures);
            }
        }
        // Body fields: every top-level field the description lists (present in the sample or
        // not), and up to 8 deeper ones of the sample body (a document has hundreds).
        if !op.has_body {
            continue;
        }
        let base = w.body(&op.id, &f, "ada");
        let mut deep = Vec::new();
        pointers(&base, String::new(), &mut deep);
        let top: Vec<String> = deep
            .iter()
            .filter(|p| p.matches('/').count() == 1)
            .cloned()
            .collect();
        let mut fields = top;
        for f in op.body_properties.iter().chain(&op.body_required) {
            let p = format!("/{f}");
            if !fields.contains(&p) {
                fields.push(p);
            }
        }
        deep.retain(|p| p.matches('/').count() > 1);
        deep.shuffle(&mut rng);
        fields.extend(deep.into_iter().take(8));
        fields_walked += fields.len();
        for pointer in fields {
            let mut values = hostile_values();
            values.extend((0..2).map(|_| json!(random_string(&mut rng))));
            values.push(json!(rng.gen::<i64>()));
            for value in values {
                let path = concrete(op, &f);
                let mut base = w.body(&op.id, &f, "ada");
                if base.pointer(&pointer).is_none() {
                    if let Some(obj) = base.as_object_mut() {
                        obj.insert(pointer.trim_start_matches('/').to_owned(), Value::Null);
                    }
                }
                let body = hostile_body(&base, &pointer, &value);
                let r = if op.id == "login" {
                    w.s.client()
                        .raw(&op.method, &path, Some("application/json"), &body)
                } else {
                    w.ada
                        .raw(&op.method, &path, Some("application/json"), &body)
                }
                .expect("answered");
                let shown: String = value.to_string().chars().take(24).collect();
                check(
                    format!("{} {path} {pointer}={shown}", op.id),
                    r,
                    &mut failures,
                );
            }
        }
        // Whatever happened, the server still answers.
        assert_eq!(
            w.s.client().get("/healthz").expect("healthz").status,
            200,
            "after {}",
            op.id
        );
    }
    eprintln!(
        "hostile walk: {sent} requests, {} wrong, {fields_walked} body fields",
        failures.len()
    );
    slowest.sort();
    for (t, what) in slowest.iter().rev().take(12) {
        eprintln!("slowest (with its fixtures): {t:?} {what}");
    }
    assert!(
        failures.is_empty(),
        "{} of {sent} hostile requests were answered wrongly:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(w.s.client().get("/healthz").expect("healthz").status, 200);
    w.s.assert_audit_intact();
}
