//! The server's API through the real HTTP server and a real Postgres (a fresh database per
//! test): sessions and CSRF, team isolation and roles, versioned saves with conflicts, bad
//! input, rate limiting, and the audit log with its tamper check.

#[macro_use]
mod common;

use common::{corpus, create_configuration, lines, Server, PASSWORD};
use serde_json::json;

#[test]
fn save_versions_and_conflicts_lose_nothing() {
    need_postgres!("api::save_versions_and_conflicts_lose_nothing");
    let s = Server::start();
    s.create_user("ops", "editor", "alice");
    s.create_user("ops", "editor", "bob");
    let mut alice = s.as_user("alice");
    let mut bob = s.as_user("bob");
    let doc = corpus("one-disk-raw");

    let r = alice
        .send(
            "POST",
            "/api/v1/teams/ops/configurations",
            &json!({"name": "vm1", "document": doc, "message": "first"}),
        )
        .expect("create");
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_i64().expect("id");
    assert!(r.header("x-request-id").is_some_and(|h| h.len() == 16));

    // Both start from version 1; Bob saves first.
    let mut bobs = doc.clone();
    bobs["guest"]["memory_mib"] = json!(2048);
    let r = bob
        .send(
            "PUT",
            &format!("/api/v1/configurations/{id}"),
            &json!({"base_version": 1, "document": bobs, "message": "more memory"}),
        )
        .expect("save");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["version"], 2);

    let mut alices = doc.clone();
    alices["guest"]["vcpus"] = json!(4);
    let r = alice
        .send(
            "PUT",
            &format!("/api/v1/configurations/{id}"),
            &json!({"base_version": 1, "document": alices, "message": "more cpus"}),
        )
        .expect("save");
    assert_eq!(r.status, 409, "{}", r.body);
    let body = r.json();
    assert_eq!(body["code"], "conflict");
    assert_eq!(body["details"]["current_version"], 2);
    assert_eq!(
        body["details"]["current"]["document"]["guest"]["memory_mib"],
        2048
    );

    // Alice merges onto version 2: both changes are kept, every version is still there.
    alices["guest"]["memory_mib"] = json!(2048);
    let r = alice
        .send(
            "PUT",
            &format!("/api/v1/configurations/{id}"),
            &json!({"base_version": 2, "document": alices, "message": "more cpus, merged"}),
        )
        .expect("save");
    assert_eq!(r.status, 200, "{}", r.body);
    let versions = alice
        .get(&format!("/api/v1/configurations/{id}/versions"))
        .expect("versions")
        .json();
    assert_eq!(
        lines(&versions["versions"], &["/version", "/author_name"]),
        vec!["3 alice", "2 bob", "1 alice"]
    );
    let v1 = alice
        .get(&format!("/api/v1/configurations/{id}/versions/1"))
        .expect("v1")
        .json();
    assert_eq!(
        v1["document"]["guest"]["vcpus"], 1,
        "version 1 is unchanged"
    );
    let cur = alice
        .get(&format!("/api/v1/configurations/{id}"))
        .expect("get")
        .json();
    assert_eq!(cur["current"]["document"]["guest"]["vcpus"], 4);
    assert_eq!(cur["current"]["document"]["guest"]["memory_mib"], 2048);

    // Versions are immutable in the database too.
    let o = s.sql("UPDATE configuration_versions SET message = 'x'");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("append-only"));
}

#[test]
fn a_deploy_onto_a_host_the_document_does_not_name_is_refused() {
    need_postgres!("api::a_deploy_onto_a_host_the_document_does_not_name_is_refused");
    let s = Server::start();
    s.create_user("ops", "deployer", "dora");
    let mut dora = s.as_user("dora");
    let r = create_configuration(&mut dora, "ops", "pair", &corpus("one-disk-qcow2"));
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_i64().expect("id");
    // No libvirtd answers at these URIs: a preflight that gets past the checks says so.
    let mut host = |name: &str, address: &str| {
        let uri = format!("qemu+unix:///system?socket=/nonexistent/{name}");
        common::register_host(&mut dora, "ops", name, &uri, address)
    };
    // The document gives colo-a.example.net and colo-b.example.net.
    let a = host("colo-a", "COLO-A.example.net.");
    let b = host("colo-b", "colo-b.example.net");
    let other = host("colo-c", "10.0.0.3");
    for (p, sec, side, named, registered) in [
        (a, other, "secondary", "colo-b.example.net", "10.0.0.3"),
        (other, b, "primary", "colo-a.example.net", "10.0.0.3"),
        (b, a, "primary", "colo-a.example.net", "colo-b.example.net"),
    ] {
        for what in ["preflight", "deployments"] {
            let r = dora
                .send(
                    "POST",
                    &format!("/api/v1/configurations/{id}/{what}"),
                    &json!({"version": 1, "primary_host_id": p, "secondary_host_id": sec}),
                )
                .expect(what);
            assert_eq!(r.status, 400, "{what}: {}", r.body);
            let b = r.json();
            assert_eq!(b["code"], "bad_host", "{b}");
            let msg = b["message"].as_str().unwrap_or_default();
            assert!(
                msg.contains(&format!("the {side} replication address {named}"))
                    && msg.contains(&format!("is registered at {registered}")),
                "{msg}"
            );
            assert_eq!(b["details"]["side"], side, "{b}");
        }
    }
    let r = dora
        .get(&format!("/api/v1/configurations/{id}/deployments"))
        .expect("list");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["deployments"],
        json!([]),
        "nothing was queued: {}",
        r.body
    );
    // The hosts the document names (one spelled differently) pass, up to reaching them.
    let r = dora
        .send(
            "POST",
            &format!("/api/v1/configurations/{id}/preflight"),
            &json!({"version": 1, "primary_host_id": a, "secondary_host_id": b}),
        )
        .expect("preflight");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["ok"], false, "{}", r.body);
    assert_eq!(r.json()["checks"][0]["what"], "reachable", "{}", r.body);
}

#[test]
fn drafts_with_errors_save_but_do_not_render() {
    need_postgres!("api::drafts_with_errors_save_but_do_not_render");
    let s = Server::start();
    s.create_user("ops", "editor", "alice");
    let mut c = s.as_user("alice");
    let bad = corpus("broken-secondary");
    let r = create_configuration(&mut c, "ops", "draft", &bad);
    assert_eq!(r.status, 201, "{}", r.body);
    let b = r.json();
    assert_eq!(b["errors"], 8);
    assert!(b["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .any(|f| f["code"] == "E017"));
    let id = b["id"].as_i64().expect("id");
    let r = c
        .get(&format!("/api/v1/configurations/{id}/versions/1/rendered"))
        .expect("render");
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["code"], "invalid_document");
    // Nor deploy: the refusal counts the errors and carries every finding.
    s.create_user("ops", "deployer", "dora");
    let mut dora = s.as_user("dora");
    for what in ["preflight", "deployments"] {
        let r = dora
            .send(
                "POST",
                &format!("/api/v1/configurations/{id}/{what}"),
                &json!({"version": 1, "primary_host_id": 1, "secondary_host_id": 2}),
            )
            .expect(what);
        assert_eq!(r.status, 400, "{}", r.body);
        let b = r.json();
        assert_eq!(b["code"], "not_deployable", "{b}");
        assert!(
            b["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("version 1 has 8 error(s)"),
            "{b}"
        );
        assert!(b["details"]["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .any(|f| f["code"] == "E017"));
    }

    let r = c
        .send(
            "PUT",
            &format!("/api/v1/configurations/{id}"),
            &json!({"base_version": 1, "document": corpus("one-disk-qcow2")}),
        )
        .expect("fix");
    assert_eq!(r.json()["errors"], 0);
    let r = c
        .get(&format!("/api/v1/configurations/{id}/versions/2/rendered"))
        .expect("render");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["primary_xml"]
        .as_str()
        .unwrap_or("")
        .starts_with("<domain type='kvm'"));
    let list = c
        .get("/api/v1/teams/ops/configurations")
        .expect("list")
        .json();
    assert_eq!(list["configurations"][0]["errors"], 0);
    assert_eq!(list["configurations"][0]["current_version"], 2);
}

#[test]
fn teams_are_isolated_and_roles_are_enforced() {
    need_postgres!("api::teams_are_isolated_and_roles_are_enforced");
    let s = Server::start();
    s.create_user("ops", "editor", "alice");
    s.create_user("ops", "viewer", "vera");
    s.create_user("other", "admin", "mallory");
    let mut alice = s.as_user("alice");
    let mut vera = s.as_user("vera");
    let mut mallory = s.as_user("mallory");
    let mut anon = s.client();
    let doc = corpus("one-disk-raw");
    let r = create_configuration(&mut alice, "ops", "vm1", &doc);
    let id = r.json()["id"].as_i64().expect("id");
    let c = format!("/api/v1/configurations/{id}");

    let reads = [
        "/api/v1/teams/ops/configurations".to_owned(),
        c.clone(),
        format!("{c}/versions"),
        format!("{c}/versions/1"),
        format!("{c}/versions/1/rendered"),
        "/api/v1/audit?team=ops".to_owned(),
    ];
    let save = json!({"base_version": 1, "document": doc});
    let writes: Vec<(&str, String, serde_json::Value)> = vec![
        (
            "POST",
            "/api/v1/teams/ops/configurations".to_owned(),
            json!({"name": "x", "document": doc}),
        ),
        ("PUT", c.clone(), save.clone()),
        ("POST", format!("{c}/archive"), json!({})),
    ];
    for path in &reads {
        assert_eq!(
            vera.get(path).expect("get").status,
            200,
            "viewer reads {path}"
        );
        assert_eq!(
            mallory.get(path).expect("get").status,
            404,
            "other team reads {path}"
        );
        assert_eq!(
            anon.get(path).expect("get").status,
            401,
            "anonymous reads {path}"
        );
    }
    for (m, path, body) in &writes {
        assert_eq!(
            vera.send(m, path, body).expect("send").status,
            403,
            "viewer {m} {path}"
        );
        assert_eq!(
            mallory.send(m, path, body).expect("send").status,
            404,
            "other team {m} {path}"
        );
        assert_eq!(
            anon.send(m, path, body).expect("send").status,
            401,
            "anonymous {m} {path}"
        );
    }
    // Mallory's audit view holds nothing of team ops.
    let events = mallory.get("/api/v1/audit").expect("audit").json();
    assert!(events["events"]
        .as_array()
        .expect("events")
        .iter()
        .all(|e| e["team_id"] != 1));
    // The editor can do all of it.
    for (m, path, body) in &writes {
        let st = alice.send(m, path, body).expect("send").status;
        assert!(st == 200 || st == 201, "editor {m} {path}: {st}");
    }
}

#[test]
fn sessions_need_csrf_for_changes_and_end_at_logout() {
    need_postgres!("api::sessions_need_csrf_for_changes_and_end_at_logout");
    let s = Server::start();
    s.create_user("ops", "admin", "alice");
    let mut c = s.client();
    let r = c.login("alice", PASSWORD).expect("login");
    let set_cookie = r.header("set-cookie").expect("cookie").to_ascii_lowercase();
    assert!(
        set_cookie.contains("httponly") && set_cookie.contains("samesite=strict"),
        "{set_cookie}"
    );
    c.send_csrf = false;
    let r = create_configuration(&mut c, "ops", "vm1", &corpus("one-disk-raw"));
    assert_eq!(r.status, 403);
    assert!(r.json()["message"]
        .as_str()
        .unwrap_or("")
        .contains("X-CSRF-Token"));
    c.send_csrf = true;
    assert_eq!(c.get("/api/v1/me").expect("me").status, 200);
    let cookie = c.cookie.clone();
    assert_eq!(
        c.send("POST", "/api/v1/logout", &json!({}))
            .expect("logout")
            .status,
        200
    );
    // The old cookie no longer works, even if replayed.
    c.cookie = cookie;
    assert_eq!(c.get("/api/v1/me").expect("me").status, 401);
}

#[test]
fn failed_logins_are_rate_limited_and_audited() {
    need_postgres!("api::failed_logins_are_rate_limited_and_audited");
    let s = Server::start();
    s.create_user("ops", "admin", "alice");
    let mut c = s.client();
    for _ in 0..5 {
        assert_eq!(
            c.login("alice", "wrong password").expect("login").status,
            401
        );
    }
    let r = c.login("alice", PASSWORD).expect("login");
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    // Another account from the same address is not locked by alice's failures.
    s.create_user("ops", "viewer", "vera");
    assert_eq!(c.login("vera", PASSWORD).expect("login").status, 200);
    let events = c.get("/api/v1/audit?action=login").expect("audit").json();
    let n = events["events"].as_array().expect("events").len();
    assert!(n >= 1, "vera sees her own login");
    let out = s.sql("SELECT count(*) FROM audit_events WHERE action = 'login' AND result = 'denied' AND actor_name = 'alice'");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "5");
}

/// Sends each JSON body and checks it gets a 400 with its code and a message.
fn each_is_refused(
    c: &mut lockstep_tests::http::Client,
    method: &str,
    path: &str,
    cases: Vec<(Vec<u8>, &str)>,
) {
    for (body, code) in cases {
        let r = c
            .raw(method, path, Some("application/json"), &body)
            .expect("request");
        assert_eq!(r.status, 400, "{code}: {}", r.body);
        let j = r.json();
        assert_eq!(j["code"], code, "{}", r.body);
        assert!(j["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

#[test]
fn bad_input_gets_a_clear_400_never_a_500() {
    need_postgres!("api::bad_input_gets_a_clear_400_never_a_500");
    let s = Server::start();
    s.create_user("ops", "editor", "alice");
    let mut c = s.as_user("alice");
    let path = "/api/v1/teams/ops/configurations";
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"{\"name\": \"vm1\", \"document\": ".to_vec(), "bad_json"),
        (
            json!({"name": "vm1", "document": corpus("one-disk-raw"), "colour": 1})
                .to_string()
                .into_bytes(),
            "bad_json",
        ),
        (
            json!({"name": 7, "document": {}}).to_string().into_bytes(),
            "bad_json",
        ),
        (
            json!({"name": "vm1", "document": {"schema_version": 1}})
                .to_string()
                .into_bytes(),
            "bad_document",
        ),
        (
            json!({"name": "", "document": corpus("one-disk-raw")})
                .to_string()
                .into_bytes(),
            "bad_name",
        ),
        (vec![b' '; 5 << 20], "too_large"),
    ];
    each_is_refused(&mut c, "POST", path, cases);
    let r = c
        .raw("POST", path, Some("text/plain"), b"hello")
        .expect("post");
    assert_eq!(r.status, 400);
    assert_eq!(r.get_code(), "bad_content_type");
    assert_eq!(
        c.get("/api/v1/configurations/notanumber")
            .expect("get")
            .status,
        400
    );
    assert_eq!(c.get("/api/v1/nowhere").expect("get").status, 404);
    // Nothing was saved by any of it.
    assert_eq!(
        c.get(path).expect("list").json()["configurations"],
        json!([])
    );
}

#[test]
fn a_bad_save_body_gets_the_same_400_as_before_and_saves_nothing() {
    // Saves read their body in one pass (`http::save_body`), falling back to the document as
    // text only when that fails: every refusal must match what creation answers.
    need_postgres!("api::a_bad_save_body_gets_the_same_400_as_before_and_saves_nothing");
    let (_s, mut c, doc, id) = alice_with_vm1();
    let path = format!("/api/v1/configurations/{id}");
    let bad_doc = json!({"schema_version": 1, "guest": {"name": "vm1"}});
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"{\"base_version\": 1, \"document\": ".to_vec(), "bad_json"),
        (
            json!({"base_version": 1, "document": doc, "colour": 1})
                .to_string()
                .into_bytes(),
            "bad_json",
        ),
        (
            json!({"base_version": "1", "document": doc})
                .to_string()
                .into_bytes(),
            "bad_json",
        ),
        (
            json!({"document": doc}).to_string().into_bytes(),
            "bad_json",
        ),
        (
            json!({"base_version": 1, "document": bad_doc})
                .to_string()
                .into_bytes(),
            "bad_document",
        ),
        (vec![b' '; 5 << 20], "too_large"),
    ];
    each_is_refused(&mut c, "PUT", &path, cases);
    // A bad document is placed in the document's own lines and columns, as creation does.
    let put = c
        .raw(
            "PUT",
            &path,
            Some("application/json"),
            json!({"base_version": 1, "document": bad_doc})
                .to_string()
                .as_bytes(),
        )
        .expect("put")
        .json();
    let post = c
        .raw(
            "POST",
            "/api/v1/teams/ops/configurations",
            Some("application/json"),
            json!({"name": "vm2", "document": bad_doc})
                .to_string()
                .as_bytes(),
        )
        .expect("post")
        .json();
    assert_eq!(put["message"], post["message"]);
    assert_eq!(put["details"], post["details"]);
    let r = c
        .raw("PUT", &path, Some("text/plain"), b"hello")
        .expect("put");
    assert_eq!(r.status, 400);
    assert_eq!(r.get_code(), "bad_content_type");
    // Nothing was saved; a good save still goes through.
    let v = c.get(&path).expect("get").json();
    assert_eq!(v["configuration"]["current_version"], 1);
    let r = c
        .raw(
            "PUT",
            &path,
            Some("application/json"),
            json!({"base_version": 1, "document": doc, "message": "m"})
                .to_string()
                .as_bytes(),
        )
        .expect("put");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["version"], 2);
}

trait Code {
    fn get_code(&self) -> String;
}

impl Code for lockstep_tests::http::Response {
    fn get_code(&self) -> String {
        self.json()["code"].as_str().unwrap_or("").to_owned()
    }
}

#[test]
fn audit_is_filtered_paginated_append_only_and_verifiable() {
    need_postgres!("api::audit_is_filtered_paginated_append_only_and_verifiable");
    let s = Server::start();
    s.create_user("ops", "editor", "alice");
    let mut c = s.as_user("alice");
    let doc = corpus("one-disk-raw");
    for i in 0..5 {
        let r = create_configuration(&mut c, "ops", &format!("vm{i}"), &doc);
        assert_eq!(r.status, 201);
    }
    // Pages of 2 walk all five creations, newest first, without repeats.
    let mut seen = Vec::new();
    let mut cursor: Option<i64> = None;
    loop {
        let q = match cursor {
            Some(cur) => {
                format!("/api/v1/audit?team=ops&action=configuration.create&limit=2&cursor={cur}")
            }
            None => "/api/v1/audit?team=ops&action=configuration.create&limit=2".to_owned(),
        };
        let page = c.get(&q).expect("audit").json();
        for e in page["events"].as_array().expect("events") {
            seen.push(e["target_name"].as_str().unwrap_or("").to_owned());
            assert_eq!(e["actor_name"], "alice");
            assert!(e["request_id"].as_str().is_some_and(|r| r.len() == 16));
            assert_eq!(e["source"], "127.0.0.1");
            assert_eq!(e["user_agent"], "lockstep-tests");
        }
        match page["next_cursor"].as_i64() {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, vec!["vm4", "vm3", "vm2", "vm1", "vm0"]);
    assert_eq!(c.get("/api/v1/audit?limit=0").expect("audit").status, 400);
    assert_eq!(c.get("/api/v1/audit?bogus=1").expect("audit").status, 400);

    let ok = s.assert_audit_intact();
    assert!(String::from_utf8_lossy(&ok.stdout).contains("events verified"));

    // The table refuses changes...
    for sql in [
        "UPDATE audit_events SET actor_name = 'x'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ] {
        let o = s.sql(sql);
        assert!(!o.status.success(), "{sql} was allowed");
    }
    // ...and a change made behind the server's back (triggers off) is found and named.
    let target: i64 = String::from_utf8_lossy(
        &s.sql("SELECT id FROM audit_events WHERE target_name = 'vm2'")
            .stdout,
    )
    .trim()
    .parse()
    .expect("id");
    let o = s.sql(&format!(
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only; \
         UPDATE audit_events SET after = '{{\"version\": 9}}' WHERE id = {target}; \
         ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"
    ));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bad = s.lockstep(&["audit", "verify"], None);
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains(&format!("audit event {target} was altered")),
        "{err}"
    );

    // A removed event breaks the link of the one after it.
    let o = s.sql(&format!(
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only; \
         DELETE FROM audit_events WHERE id <= {target}; \
         ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"
    ));
    assert!(o.status.success());
    let bad = s.lockstep(&["audit", "verify"], None);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("earlier events were removed"));
}

#[test]
fn a_save_and_its_audit_event_commit_together() {
    need_postgres!("api::a_save_and_its_audit_event_commit_together");
    let s = Server::start();
    s.create_user("ops", "editor", "alice");
    let mut c = s.as_user("alice");
    // Make every audit append fail: the save must not survive without its event.
    let o = s.sql(
        "CREATE FUNCTION fail_audit() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'audit unavailable'; END; $$; \
         CREATE TRIGGER fail_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION fail_audit()",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = create_configuration(&mut c, "ops", "vm1", &corpus("one-disk-raw"));
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["code"], "internal");
    let count = s.sql("SELECT count(*) FROM configurations");
    assert_eq!(String::from_utf8_lossy(&count.stdout).trim(), "0");
    assert!(s
        .sql("DROP TRIGGER fail_audit ON audit_events")
        .status
        .success());
    let r = create_configuration(&mut c, "ops", "vm1", &corpus("one-disk-raw"));
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_i64().expect("id");

    // The same for a save (one statement): no version, no claims change, no event.
    let o = s.sql(
        "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION fail_audit()",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let claims_before = s.sql("SELECT value FROM configuration_claims ORDER BY 1");
    let mut moved = corpus("one-disk-raw");
    moved["colo"]["migration_port"] = json!(9500);
    let r = c
        .send(
            "PUT",
            &format!("/api/v1/configurations/{id}"),
            &json!({"base_version": 1, "document": moved}),
        )
        .expect("save");
    assert_eq!(r.status, 500);
    let versions = s.sql("SELECT count(*) FROM configuration_versions");
    assert_eq!(String::from_utf8_lossy(&versions.stdout).trim(), "1");
    let current = s.sql("SELECT current_version FROM configurations");
    assert_eq!(String::from_utf8_lossy(&current.stdout).trim(), "1");
    assert_eq!(
        s.sql("SELECT value FROM configuration_claims ORDER BY 1")
            .stdout,
        claims_before.stdout
    );
    assert!(s
        .sql("DROP TRIGGER fail_audit ON audit_events")
        .status
        .success());
    let r = c
        .send(
            "PUT",
            &format!("/api/v1/configurations/{id}"),
            &json!({"base_version": 1, "document": moved}),
        )
        .expect("save");
    assert_eq!(r.status, 200, "{}", r.body);
    let claims_after = s.sql("SELECT value FROM configuration_claims ORDER BY 1");
    assert!(String::from_utf8_lossy(&claims_after.stdout).contains("9500"));
}

#[test]
fn diffs_and_cross_configuration_findings() {
    need_postgres!("api::diffs_and_cross_configuration_findings");
    let s = Server::start();
    s.create_user("ops", "editor", "alice");
    s.create_user("other", "editor", "olga");
    let mut c = s.as_user("alice");
    let doc = corpus("one-disk-qcow2");
    let r = create_configuration(&mut c, "ops", "vm1", &doc);
    let id = r.json()["id"].as_i64().expect("id");
    assert_eq!(r.json()["errors"], 0);

    // A second configuration on the same hosts reusing vm1's ports, images and name.
    let r = create_configuration(&mut c, "ops", "vm1-copy", &doc);
    let b = r.json();
    let codes: Vec<&str> = b["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["code"].as_str())
        .collect();
    for code in ["E070", "E071", "E072"] {
        assert!(codes.contains(&code), "{code} missing: {codes:?}");
    }
    assert!(b["findings"]
        .to_string()
        .contains("also used by configuration 'vm1'"));
    // Another team's configurations are not compared (and not revealed).
    let mut olga = s.as_user("olga");
    let r = olga
        .send(
            "POST",
            "/api/v1/teams/other/configurations",
            &json!({"name": "vm1", "document": doc}),
        )
        .expect("create");
    assert_eq!(r.json()["errors"], 0, "{}", r.body);
    // Saving over another team's configuration is not found, whatever the document says.
    let r = olga
        .send(
            "PUT",
            &format!("/api/v1/configurations/{id}"),
            &json!({"base_version": 1, "document": {"schema_version": 1}}),
        )
        .expect("save");
    assert_eq!(r.status, 404, "{}", r.body);

    let mut v2 = doc.clone();
    v2["guest"]["memory_mib"] = json!(4096);
    v2["nodes"]
        .as_array_mut()
        .expect("nodes")
        .retain(|n| n["id"] != "pnbd0");
    c.send(
        "PUT",
        &format!("/api/v1/configurations/{id}"),
        &json!({"base_version": 1, "document": v2}),
    )
    .expect("save");
    let d = c
        .get(&format!("/api/v1/configurations/{id}/diff?from=1&to=2"))
        .expect("diff");
    assert_eq!(d.status, 200, "{}", d.body);
    let changes = d.json()["diff"]["changes"].clone();
    assert_eq!(
        lines(&changes, &["/kind", "/what", "/id"]),
        vec!["removed node pnbd0", "changed setting guest.memory_mib"]
    );
    // The audit log shows the same diff with the update event.
    let e = c
        .get("/api/v1/audit?action=configuration.update")
        .expect("audit")
        .json();
    assert_eq!(e["events"][0]["diff"]["changes"], changes);
    let e = c
        .get("/api/v1/audit?action=configuration.create&limit=1")
        .expect("audit")
        .json();
    assert!(e["events"][0].get("diff").is_none());
    assert_eq!(
        c.get(&format!("/api/v1/configurations/{id}/diff?from=1&to=9"))
            .expect("diff")
            .status,
        404
    );
    assert_eq!(
        c.get(&format!("/api/v1/configurations/{id}/diff?from=1"))
            .expect("diff")
            .status,
        400
    );
}

#[test]
fn removing_the_newest_audit_events_is_found() {
    need_postgres!("api::removing_the_newest_audit_events_is_found");
    let s = Server::start();
    s.create_user("ops", "editor", "alice");
    let mut c = s.as_user("alice");
    create_configuration(&mut c, "ops", "vm1", &corpus("one-disk-raw"));
    s.assert_audit_intact();
    let o = s.sql(
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only; \
         DELETE FROM audit_events WHERE id = (SELECT max(id) FROM audit_events); \
         ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bad = s.lockstep(&["audit", "verify"], None);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("the newest events were removed"));
}

#[test]
fn configuration_versions_are_pinned_by_their_audit_events() {
    need_postgres!("api::configuration_versions_are_pinned_by_their_audit_events");
    let s = Server::start();
    s.create_user("ops", "editor", "alice");
    let mut c = s.as_user("alice");
    let doc = corpus("one-disk-raw");
    let r = create_configuration(&mut c, "ops", "vm1", &doc);
    let id = r.json()["id"].as_i64().expect("id");
    let r = c
        .send(
            "PUT",
            &format!("/api/v1/configurations/{id}"),
            &json!({"base_version": 1, "document": doc, "message": "again"}),
        )
        .expect("save");
    assert_eq!(r.status, 200, "{}", r.body);
    // The event records the document's digest, not a second copy of it.
    let e = c
        .get("/api/v1/audit?action=configuration.update")
        .expect("audit")
        .json();
    let after = &e["events"][0]["after"];
    assert_eq!(after["version"], 2);
    assert_eq!(after["message"], "again");
    assert_eq!(after["document_sha256"].as_str().map(str::len), Some(64));
    assert!(after.get("document").is_none(), "{after}");
    let ok = s.assert_audit_intact();
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("2 configuration versions match"),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );

    // A version changed behind the server's back no longer matches its event.
    let o = s.sql(&format!(
        "ALTER TABLE configuration_versions DISABLE TRIGGER configuration_versions_immutable; \
         UPDATE configuration_versions \
         SET document = jsonb_set(document::jsonb, '{{guest,memory_mib}}', '8192')::json \
         WHERE configuration_id = {id} AND version = 2; \
         ALTER TABLE configuration_versions ENABLE TRIGGER configuration_versions_immutable"
    ));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bad = s.lockstep(&["audit", "verify"], None);
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains(&format!("configuration {id} version 2 was altered")),
        "{err}"
    );
    // A version inserted without an event is named too.
    let o = s.sql(&format!(
        "ALTER TABLE configuration_versions DISABLE TRIGGER configuration_versions_immutable; \
         UPDATE configuration_versions SET document = (SELECT document FROM configuration_versions \
         WHERE configuration_id = {id} AND version = 1) WHERE configuration_id = {id} AND version = 2; \
         ALTER TABLE configuration_versions ENABLE TRIGGER configuration_versions_immutable; \
         INSERT INTO configuration_versions SELECT configuration_id, 3, document, findings, errors, \
         warnings, author_id, author_name, 'sneaked in', created_at FROM configuration_versions \
         WHERE configuration_id = {id} AND version = 2"
    ));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bad = s.lockstep(&["audit", "verify"], None);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains(&format!("configuration {id} version 3 has no audit event")),
        "{err}"
    );
}

/// A server where editor alice of team ops has created `vm1` from the one-disk-qcow2 case:
/// the server, alice's client, the document and the configuration's id.
fn alice_with_vm1() -> (Server, lockstep_tests::http::Client, serde_json::Value, i64) {
    let s = Server::start();
    s.create_user("ops", "editor", "alice");
    let doc = corpus("one-disk-qcow2");
    let mut c = s.as_user("alice");
    let r = create_configuration(&mut c, "ops", "vm1", &doc);
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_i64().expect("id");
    (s, c, doc, id)
}

#[test]
fn a_deployed_configuration_is_not_archived_until_torn_down() {
    // Archived, a running pair would leave the list and free its ports and images for another
    // configuration while its guests still use them.
    need_postgres!("api::a_deployed_configuration_is_not_archived_until_torn_down");
    let (s, mut c, _, id) = alice_with_vm1();
    let out = s.sql(&format!(
        "INSERT INTO deployments (team_id, configuration_id, version, primary_uri, \
         secondary_uri, state, created_by_name) SELECT team_id, id, 1, 'test:///default', \
         'test:///default', 'protected', 'alice' FROM configurations WHERE id = {id} RETURNING id"
    ));
    let did: i64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("deployment id");
    let archive = |c: &mut lockstep_tests::http::Client| {
        c.send(
            "POST",
            &format!("/api/v1/configurations/{id}/archive"),
            &json!({}),
        )
        .expect("archive")
    };
    let r = archive(&mut c);
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.json()["code"], "conflict", "{}", r.body);
    let message = r.json()["message"].as_str().unwrap_or_default().to_owned();
    assert!(
        message.contains(&format!("deployment {did}, protected")) && message.contains("tear"),
        "{message}"
    );
    assert_eq!(r.json()["details"]["deployment_id"], did, "{}", r.body);
    let list = c
        .get("/api/v1/teams/ops/configurations")
        .expect("list")
        .json();
    assert_eq!(list["configurations"][0]["id"], id, "still listed: {list}");
    assert!(list["configurations"][0]["archived_at"].is_null(), "{list}");
    // Torn down, it archives.
    s.sql(&format!(
        "UPDATE deployments SET state = 'torn-down' WHERE id = {did}"
    ));
    let r = archive(&mut c);
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn a_stored_document_that_is_not_json_is_found_not_fatal() {
    // Documents are text since migration 0010: Postgres no longer refuses one that is not JSON.
    // Written by hand, it must not stop the server or the audit page, and verify names it.
    need_postgres!("api::a_stored_document_that_is_not_json_is_found_not_fatal");
    let (mut s, mut c, doc, id) = alice_with_vm1();
    let r = c
        .send(
            "PUT",
            &format!("/api/v1/configurations/{id}"),
            &json!({"base_version": 1, "document": doc}),
        )
        .expect("save");
    assert_eq!(r.status, 200, "{}", r.body);
    let o = s.sql(&format!(
        "ALTER TABLE configuration_versions DISABLE TRIGGER configuration_versions_immutable; \
         UPDATE configuration_versions SET document = '{{\"guest\": not json' \
         WHERE configuration_id = {id} AND version = 2; \
         ALTER TABLE configuration_versions ENABLE TRIGGER configuration_versions_immutable; \
         DELETE FROM configuration_claims; UPDATE configurations SET claims_digest = NULL"
    ));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The start-up claims refresh reads it and goes on.
    s.restart();
    let mut c = s.as_user("alice");
    let e = c
        .get("/api/v1/audit?action=configuration.update")
        .expect("audit");
    assert_eq!(e.status, 200, "{}", e.body);
    assert!(e.json()["events"][0].get("diff").is_none(), "{}", e.body);
    let v = c
        .get(&format!("/api/v1/configurations/{id}/versions/1"))
        .expect("version 1");
    assert_eq!(v.status, 200, "{}", v.body);
    let bad = s.lockstep(&["audit", "verify"], None);
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains(&format!("configuration {id} version 2 was altered")),
        "{err}"
    );
}

#[test]
fn claims_saved_before_the_claims_table_are_filled_in_at_start() {
    need_postgres!("api::claims_saved_before_the_claims_table_are_filled_in_at_start");
    let (mut s, _, doc, _) = alice_with_vm1();
    // As an older server left it: no claims stored.
    let o =
        s.sql("DELETE FROM configuration_claims; UPDATE configurations SET claims_digest = NULL");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    s.restart();
    let count = s.sql("SELECT count(*) FROM configuration_claims");
    assert_ne!(String::from_utf8_lossy(&count.stdout).trim(), "0");
    let mut c = s.as_user("alice");
    let r = create_configuration(&mut c, "ops", "vm1-copy", &doc);
    let codes = r.json()["findings"].to_string();
    for code in ["E070", "E071", "E072"] {
        assert!(codes.contains(code), "{code} missing: {codes}");
    }
    // Archiving frees what a configuration occupied.
    let copy = r.json()["id"].as_i64().expect("id");
    let first: i64 = String::from_utf8_lossy(
        &s.sql("SELECT id FROM configurations WHERE name = 'vm1'")
            .stdout,
    )
    .trim()
    .parse()
    .expect("id");
    let r = c
        .send(
            "POST",
            &format!("/api/v1/configurations/{first}/archive"),
            &json!({}),
        )
        .expect("archive");
    assert_eq!(r.status, 200, "{}", r.body);
    let r = c
        .send(
            "PUT",
            &format!("/api/v1/configurations/{copy}"),
            &json!({"base_version": 1, "document": doc}),
        )
        .expect("save");
    assert_eq!(r.json()["errors"], 0, "{}", r.body);
}

#[test]
fn expired_sessions_and_old_failed_logins_are_pruned() {
    need_postgres!("api::expired_sessions_and_old_failed_logins_are_pruned");
    let mut s = Server::start();
    s.create_user("ops", "editor", "alice");
    let _live = s.as_user("alice");
    let o = s.sql(
        "INSERT INTO sessions (id_hash, user_id, csrf_token, expires_at) \
         SELECT '\\x01', id, 'x', now() - interval '1 minute' FROM users; \
         INSERT INTO failed_logins (user_name, source, at) VALUES \
         ('alice', '10.0.0.9', now() - interval '2 days'), ('alice', '10.0.0.9', now())",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The server prunes at start (and every ten minutes).
    s.restart();
    let count = |sql: &str| {
        String::from_utf8_lossy(&s.sql(sql).stdout)
            .trim()
            .to_owned()
    };
    let mut left = (String::new(), String::new());
    for _ in 0..50 {
        left = (
            count("SELECT count(*) FROM sessions"),
            count("SELECT count(*) FROM failed_logins"),
        );
        if left == ("1".to_owned(), "1".to_owned()) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        left,
        ("1".to_owned(), "1".to_owned()),
        "the live session and the recent failure stay"
    );
}

#[test]
fn refused_changes_are_audited_with_their_result() {
    need_postgres!("api::refused_changes_are_audited_with_their_result");
    let s = Server::start();
    s.create_user("ops", "editor", "alice");
    s.create_user("ops", "viewer", "vic");
    let mut a = s.as_user("alice");
    let mut v = s.as_user("vic");
    let doc = corpus("one-disk-raw");
    let r = create_configuration(&mut v, "ops", "vm1", &doc);
    assert_eq!(r.status, 403);
    let r = create_configuration(&mut a, "ops", "vm1", &doc);
    let id = r.json()["id"].as_i64().expect("id");
    let stale = json!({"base_version": 7, "document": doc});
    let r = a
        .send("PUT", &format!("/api/v1/configurations/{id}"), &stale)
        .expect("save");
    assert_eq!(r.status, 409);
    // Reading is not audited, refused or not.
    assert_eq!(
        v.get("/api/v1/configurations/999999").expect("get").status,
        404
    );

    let e = a
        .get("/api/v1/audit?team=ops&limit=3")
        .expect("audit")
        .json();
    assert_eq!(
        lines(
            &e["events"],
            &["/actor_name", "/action", "/target_type", "/result"]
        ),
        vec![
            "alice save_configuration configuration conflict",
            "alice configuration.create configuration ok",
            "vic create_configuration request forbidden",
        ]
    );
    let denied = a
        .get("/api/v1/audit?team=ops&result=forbidden")
        .expect("audit")
        .json();
    assert_eq!(denied["events"].as_array().map(Vec::len), Some(1));
    assert_eq!(denied["events"][0]["actor_name"], "vic");
    // The filters take the values events have, and name them when given another.
    for (filter, expected) in [
        ("result=refusd", "`ok`, `partial`"),
        ("target_type=configurations", "`configuration`, `template`"),
    ] {
        let r = a
            .get(&format!("/api/v1/audit?team=ops&{filter}"))
            .expect("audit");
        assert_eq!(r.status, 400, "{filter}");
        let msg = r.json()["message"].as_str().unwrap_or_default().to_owned();
        assert!(
            msg.contains(filter.split('=').nth(1).unwrap_or_default()),
            "{msg}"
        );
        assert!(msg.contains(expected), "{msg}");
    }
    s.assert_audit_intact();
}

/// Polls `f` every 50 ms for up to 5 s until it returns true.
fn eventually(mut f: impl FnMut() -> bool) -> bool {
    (0..100).any(|_| {
        let done = f();
        if !done {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        done
    })
}

#[test]
fn every_server_sees_logouts_and_role_changes() {
    need_postgres!("api::every_server_sees_logouts_and_role_changes");
    let s = Server::start();
    let b = s.another();
    s.create_user("ops", "admin", "alice");
    s.create_user("ops", "editor", "eve");
    let mut alice = s.as_user("alice");
    let mut eve_a = s.as_user("eve");
    // The same session used on the other server (which caches who it is).
    let mut eve_b = b.client();
    eve_b.cookie = eve_a.cookie.clone();
    eve_b.csrf = eve_a.csrf.clone();
    let doc = corpus("one-disk-raw");
    let mut n = 0;
    let mut create = |c: &mut lockstep_tests::http::Client| {
        n += 1;
        create_configuration(c, "ops", &format!("vm{n}"), &doc).status
    };
    assert_eq!(create(&mut eve_b), 201);
    assert_eq!(create(&mut eve_b), 201);

    // Demoted on the first server: the second refuses her changes too.
    let r = alice
        .send(
            "PUT",
            "/api/v1/teams/ops/members/eve",
            &json!({"role": "viewer"}),
        )
        .expect("demote");
    assert_eq!(r.status, 200);
    assert!(
        eventually(|| create(&mut eve_b) == 403),
        "the other server kept her old role"
    );

    // Logged out on the first server: the second no longer knows the session.
    assert_eq!(
        eve_a
            .send("POST", "/api/v1/logout", &json!({}))
            .expect("logout")
            .status,
        200
    );
    assert!(
        eventually(|| eve_b.get("/api/v1/me").expect("me").status == 401),
        "the other server kept the ended session"
    );

    // A change made behind the servers' backs is seen at the latest when their listeners
    // reconnect (here: after Postgres drops them), since a reconnect starts with an empty cache.
    let mut alice_b = b.client();
    alice_b.cookie = alice.cookie.clone();
    alice_b.csrf = alice.csrf.clone();
    assert_eq!(create(&mut alice_b), 201);
    let o = s.sql(
        "UPDATE memberships SET role = 'viewer' WHERE user_id = (SELECT id FROM users WHERE name = 'alice')",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Served from the cache: the server has not been told (this is what caching means).
    assert_eq!(create(&mut alice_b), 201);
    let o = s.sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        eventually(|| create(&mut alice_b) == 403),
        "a reconnect kept a stale identity"
    );
}
