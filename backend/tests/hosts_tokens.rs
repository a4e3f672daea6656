//! API tokens (shown once, hashed, one team, revocable) and host records, through the real
//! server on a fresh Postgres database.

#[macro_use]
mod common;

use common::{actions, corpus, create_configuration, lines, register_host, Server};
use lockstep_tests::http::Client;
use serde_json::json;

#[test]
fn api_tokens_act_in_one_team_and_can_be_revoked() {
    need_postgres!("hosts_tokens::api_tokens_act_in_one_team_and_can_be_revoked");
    let s = Server::start();
    s.create_user("ops", "editor", "alice");
    // alice is also a viewer in a second team.
    let o = s.lockstep(
        &[
            "admin",
            "create-user",
            "--team",
            "lab",
            "--role",
            "admin",
            "lab-admin",
        ],
        Some(common::PASSWORD),
    );
    assert!(o.status.success());
    let o = s.sql("INSERT INTO memberships (team_id, user_id, role) SELECT t.id, u.id, 'viewer' FROM teams t, users u WHERE t.name = 'lab' AND u.name = 'alice'");
    assert!(o.status.success());
    let mut alice = s.as_user("alice");
    let r = alice
        .send(
            "POST",
            "/api/v1/tokens",
            &json!({"name": "ci", "team": "ops"}),
        )
        .expect("token");
    assert_eq!(r.status, 201, "{}", r.body);
    let token = r.json()["token"].as_str().expect("token").to_owned();
    let tid = r.json()["id"].as_i64().expect("id");
    // Stored hashed: the token text is nowhere in the database.
    let o = s.sql(&format!(
        "SELECT count(*) FROM api_tokens WHERE encode(token_hash, 'escape') LIKE '%{}%'",
        &token[4..20]
    ));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "0");
    let listed = alice.get("/api/v1/tokens").expect("list").json();
    assert!(
        !listed.to_string().contains(&token),
        "listing never shows the token"
    );

    let bearer = |path: &str, method: &str, body: Option<serde_json::Value>| {
        let mut c = Client::new(&s.addr);
        c.bearer = Some(token.clone());
        match body {
            Some(b) => c.send(method, path, &b),
            None => c.raw(method, path, None, b""),
        }
        .expect("request")
        .status
    };
    // No CSRF header needed with a token; the token only sees its own team.
    assert_eq!(
        bearer(
            "/api/v1/teams/ops/configurations",
            "POST",
            Some(json!({"name": "vm1", "document": corpus("one-disk-raw")}))
        ),
        201
    );
    assert_eq!(bearer("/api/v1/teams/ops/configurations", "GET", None), 200);
    assert_eq!(bearer("/api/v1/teams/lab/configurations", "GET", None), 404);
    assert_eq!(
        bearer(
            "/api/v1/tokens",
            "POST",
            Some(json!({"name": "x", "team": "ops"}))
        ),
        403
    );

    // Using it is recorded (at most once a minute).
    let listed = alice.get("/api/v1/tokens").expect("list").json();
    assert!(listed["tokens"][0]["last_used_at"].is_string(), "{listed}");

    assert_eq!(
        alice
            .raw("DELETE", &format!("/api/v1/tokens/{tid}"), None, b"")
            .expect("revoke")
            .status,
        200
    );
    assert_eq!(bearer("/api/v1/teams/ops/configurations", "GET", None), 401);
    assert_eq!(
        alice
            .raw("DELETE", &format!("/api/v1/tokens/{tid}"), None, b"")
            .expect("again")
            .status,
        404
    );
    let ev = alice
        .get("/api/v1/audit?target_type=token")
        .expect("audit")
        .json();
    let actions = actions(&ev);
    // The second revoke was refused (404), and is audited as such.
    assert_eq!(
        actions,
        vec!["revoke_token", "token.revoke", "token.create"]
    );
}

#[test]
fn hosts_are_team_records_with_checked_fields() {
    need_postgres!("hosts_tokens::hosts_are_team_records_with_checked_fields");
    let s = Server::start();
    s.create_user("ops", "editor", "alice");
    s.create_user("ops", "admin", "root");
    s.create_user("other", "admin", "mallory");
    let mut alice = s.as_user("alice");
    let host = json!({"name": "colo-a", "libvirt_uri": "qemu+ssh://root@colo-a.example.net/system", "address": "10.0.0.1", "notes": "rack 4"});
    let r = alice
        .send("POST", "/api/v1/teams/ops/hosts", &host)
        .expect("create");
    assert_eq!(r.status, 201, "{}", r.body);
    let hid = r.json()["id"].as_i64().expect("id");
    assert_eq!(
        alice
            .send("POST", "/api/v1/teams/ops/hosts", &host)
            .expect("dup")
            .status,
        409
    );

    let bad =
        json!({"name": "", "libvirt_uri": "http://x", "address": "10.0.0.1; reboot", "notes": ""});
    let r = alice
        .send("POST", "/api/v1/teams/ops/hosts", &bad)
        .expect("bad");
    assert_eq!(r.status, 400);
    assert_eq!(
        lines(&r.json()["details"]["fields"], &["/field"]),
        vec!["name", "libvirt_uri", "address"]
    );

    let mut changed = host.clone();
    changed["address"] = json!("10.0.0.11");
    let r = alice
        .send("PUT", &format!("/api/v1/hosts/{hid}"), &changed)
        .expect("update");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["address"], "10.0.0.11");

    let mut mallory = s.as_user("mallory");
    assert_eq!(
        mallory
            .get(&format!("/api/v1/hosts/{hid}"))
            .expect("get")
            .status,
        404
    );
    assert_eq!(
        mallory.get("/api/v1/teams/ops/hosts").expect("list").status,
        404
    );
    assert_eq!(
        alice
            .raw("DELETE", &format!("/api/v1/hosts/{hid}"), None, b"")
            .expect("del")
            .status,
        403
    );
    let mut root = s.as_user("root");
    assert_eq!(
        root.raw("DELETE", &format!("/api/v1/hosts/{hid}"), None, b"")
            .expect("del")
            .status,
        200
    );

    let ev = root
        .get("/api/v1/audit?target_type=host")
        .expect("audit")
        .json();
    let events = ev["events"].as_array().expect("events");
    let actions = actions(&ev);
    // The editor's refused delete (403) is in between.
    assert_eq!(
        actions,
        vec!["host.delete", "delete_host", "host.update", "host.create"]
    );
    assert_eq!(events[1]["result"], "forbidden");
    assert_eq!(events[2]["before"]["address"], "10.0.0.1");
    assert_eq!(events[2]["after"]["address"], "10.0.0.11");
}

/// A server whose team "ops" has admin root (logged in), host colo-b (`qemu:///system`) and
/// configuration vm1: `(server, root, host id, configuration id)`.
fn host_and_configuration() -> (Server, Client, i64, i64) {
    let s = Server::start();
    s.create_user("ops", "admin", "root");
    let mut root = s.as_user("root");
    let hid = register_host(&mut root, "ops", "colo-b", "qemu:///system", "10.0.0.2");
    let r = create_configuration(&mut root, "ops", "vm1", &corpus("one-disk-qcow2"));
    assert_eq!(r.status, 201, "{}", r.body);
    let cid = r.json()["id"].as_i64().expect("id");
    (s, root, hid, cid)
}

/// A deployment row of configuration `cid` in `state` whose secondary runs on host `hid` at
/// `qemu:///system` (its primary on no registered host); its id.
fn deployment_on(s: &Server, cid: i64, hid: i64, state: &str) -> i64 {
    let out = s.sql(&format!(
        "INSERT INTO deployments (team_id, configuration_id, version, secondary_host_id, \
         primary_uri, secondary_uri, state, created_by_name) SELECT team_id, id, 1, {hid}, \
         'test:///default', 'qemu:///system', '{state}', 'root' FROM configurations \
         WHERE id = {cid} RETURNING id"
    ));
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("deployment id")
}

#[test]
fn the_deployments_on_a_host_follow_its_new_libvirt_uri() {
    need_postgres!("hosts_tokens::the_deployments_on_a_host_follow_its_new_libvirt_uri");
    let (s, mut root, hid, cid) = host_and_configuration();
    let old = deployment_on(&s, cid, hid, "torn-down");
    let live = deployment_on(&s, cid, hid, "protected");
    let edit = |c: &mut Client, uri: &str| {
        c.send(
            "PUT",
            &format!("/api/v1/hosts/{hid}"),
            &json!({"name": "colo-b", "libvirt_uri": uri, "address": "10.0.0.2"}),
        )
        .expect("edit")
    };
    let uris = |c: &mut Client, did: i64| {
        let d = c
            .get(&format!("/api/v1/deployments/{did}"))
            .expect("get")
            .json();
        (d["primary_uri"].clone(), d["secondary_uri"].clone())
    };
    let r = edit(&mut root, "qemu+ssh://colo-b.lab/system");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        uris(&mut root, live),
        (
            json!("test:///default"),
            json!("qemu+ssh://colo-b.lab/system")
        ),
        "the protected pair's secondary is reached at the new URI; its primary is not this host"
    );
    assert_eq!(
        uris(&mut root, old).1,
        "qemu:///system",
        "a torn-down deployment keeps the record of where it ran"
    );
    let audit = root.get("/api/v1/audit?team=ops").expect("audit").json();
    let update = audit["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["action"] == "host.update")
        .cloned()
        .expect("a host.update event");
    assert_eq!(
        update["after"]["deployments_following"],
        json!([live]),
        "{update:#}"
    );

    // While the pair is being deployed, the URI it was given stays, and the edit is refused.
    s.sql(&format!(
        "UPDATE deployments SET state = 'running' WHERE id = {live}"
    ));
    let r = edit(&mut root, "qemu+tls://colo-b.lab/system");
    assert_eq!(r.status, 409, "{}", r.body);
    let message = r.json()["message"].as_str().unwrap_or_default().to_owned();
    assert!(
        message.contains(&format!(
            "deployment {live} of configuration {cid} on host colo-b is being deployed"
        )),
        "{message}"
    );
    assert_eq!(uris(&mut root, live).1, "qemu+ssh://colo-b.lab/system");
    assert_eq!(
        root.get(&format!("/api/v1/hosts/{hid}"))
            .expect("get")
            .json()["libvirt_uri"],
        "qemu+ssh://colo-b.lab/system",
        "the host is unchanged"
    );
    // Editing what does not change the URI is allowed meanwhile.
    let r = root
        .send(
            "PUT",
            &format!("/api/v1/hosts/{hid}"),
            &json!({"name": "colo-b", "libvirt_uri": "qemu+ssh://colo-b.lab/system", "address": "10.0.0.2", "notes": "rack 4"}),
        )
        .expect("edit");
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn a_host_a_deployment_runs_on_is_not_deleted_until_torn_down() {
    need_postgres!("hosts_tokens::a_host_a_deployment_runs_on_is_not_deleted_until_torn_down");
    let (s, mut root, hid, cid) = host_and_configuration();
    let did = deployment_on(&s, cid, hid, "failed-over");
    let delete = |c: &mut Client| {
        c.raw("DELETE", &format!("/api/v1/hosts/{hid}"), None, b"")
            .expect("delete")
    };
    let r = delete(&mut root);
    assert_eq!(r.status, 409, "{}", r.body);
    let message = r.json()["message"].as_str().unwrap_or_default().to_owned();
    assert!(
        message.contains(&format!("colo-b runs deployment {did} (failed-over)")),
        "{message}"
    );
    assert_eq!(r.json()["details"]["deployment_id"], did, "{}", r.body);
    let host = root.get(&format!("/api/v1/hosts/{hid}")).expect("get");
    assert_eq!(host.status, 200, "the host stays");
    // The host says what runs on it (its list too), and the role it has there.
    let uses = json!([{"deployment_id": did, "configuration_id": cid, "configuration": "vm1",
        "state": "failed-over", "role": "secondary"}]);
    assert_eq!(host.json()["deployments"], uses, "{}", host.body);
    let list = root.get("/api/v1/teams/ops/hosts").expect("list").json();
    assert_eq!(list["hosts"][0]["deployments"], uses, "{list:#}");
    // After a failover to the secondary and a re-protect, the roles are swapped.
    s.sql(&format!(
        "UPDATE deployments SET state = 'protected', roles_swapped = true WHERE id = {did}"
    ));
    let host = root
        .get(&format!("/api/v1/hosts/{hid}"))
        .expect("get")
        .json();
    assert_eq!(host["deployments"][0]["role"], "primary", "{host:#}");
    s.sql(&format!(
        "UPDATE deployments SET state = 'torn-down' WHERE id = {did}"
    ));
    let host = root
        .get(&format!("/api/v1/hosts/{hid}"))
        .expect("get")
        .json();
    assert_eq!(host["deployments"], json!([]), "{host:#}");
    assert_eq!(delete(&mut root).status, 200);
}

#[test]
fn one_machine_cannot_be_registered_twice_under_two_spellings() {
    need_postgres!("hosts_tokens::one_machine_cannot_be_registered_twice_under_two_spellings");
    let s = Server::start();
    s.create_user("ops", "editor", "alice");
    let mut alice = s.as_user("alice");
    let host = |name: &str, address: &str| json!({"name": name, "libvirt_uri": "qemu:///system", "address": address});
    let r = alice
        .send("POST", "/api/v1/teams/ops/hosts", &host("hv-a", "fd00::1"))
        .expect("create");
    assert_eq!(r.status, 201, "{}", r.body);
    let a = r.json()["id"].as_i64().expect("id");
    for (name, address, says) in [
        ("HV-A.", "10.0.0.9", "differ only in case"),
        ("hv-b", "fd00:0::1", "are one address"),
        ("hv-b", "FD00:0:0:0:0:0:0:1", "are one address"),
    ] {
        let r = alice
            .send("POST", "/api/v1/teams/ops/hosts", &host(name, address))
            .expect("create");
        assert_eq!(r.status, 409, "{name} {address}: {}", r.body);
        let msg = r.json()["message"].as_str().unwrap_or_default().to_owned();
        assert!(msg.contains(says) && msg.contains("\"hv-a\""), "{msg}");
        assert_eq!(r.json()["details"]["existing_host_id"], a);
    }
    let r = alice
        .send(
            "POST",
            "/api/v1/teams/ops/hosts",
            &host("hv-b", "010.0.0.1"),
        )
        .expect("create");
    assert_eq!(r.status, 400, "{}", r.body);
    let msg = r.json()["details"]["fields"][0]["message"].to_string();
    assert!(msg.contains("leading zeros"), "{msg}");

    let r = alice
        .send("POST", "/api/v1/teams/ops/hosts", &host("hv-b", "fd00::2"))
        .expect("create");
    assert_eq!(r.status, 201, "{}", r.body);
    let b = r.json()["id"].as_i64().expect("id");
    // Changing hv-b into hv-a's address is refused; hv-a may respell its own name.
    let r = alice
        .send(
            "PUT",
            &format!("/api/v1/hosts/{b}"),
            &host("hv-b", "fd00:0::1"),
        )
        .expect("update");
    assert_eq!(r.status, 409, "{}", r.body);
    let r = alice
        .send(
            "PUT",
            &format!("/api/v1/hosts/{a}"),
            &host("HV-A", "fd00::1"),
        )
        .expect("update");
    assert_eq!(r.status, 200, "{}", r.body);
    let list = alice.get("/api/v1/teams/ops/hosts").expect("list").json();
    assert_eq!(list["hosts"].as_array().map(Vec::len), Some(2), "{list}");
}
