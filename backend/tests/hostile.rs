//! Hostile input through the real server: each case of the hostile walk (issue 11) answers a
//! 4xx `{code, message, details}` naming what is wrong, stores nothing, and leaves the server
//! answering and the audit chain intact.

#[macro_use]
mod common;

use common::{corpus, create_configuration, Server};
use lockstep_tests::http::{Client, Response};
use serde_json::{json, Value};

/// The response is a 4xx JSON error with `code`.
fn refused(r: &Response, status: u16, code: &str, what: &str) -> Value {
    assert_eq!(r.status, status, "{what}: {}", r.body);
    let b: Value = serde_json::from_str(&r.body)
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}", r.body));
    assert_eq!(b["code"], code, "{what}: {b}");
    assert!(
        b["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {b}"
    );
    b
}

fn still_fine(s: &Server, c: &mut Client) {
    assert_eq!(c.get("/healthz").expect("healthz").status, 200);
    s.assert_audit_intact();
}

#[test]
fn nul_characters_are_refused_naming_the_field() {
    need_postgres!("hostile::nul_characters_are_refused_naming_the_field");
    let s = Server::start();
    s.create_user("ops", "admin", "alice");
    let mut anon = s.client();
    let r = anon
        .send(
            "POST",
            "/api/v1/login",
            &json!({"user": "al\u{0}ice", "password": "x"}),
        )
        .expect("login");
    let b = refused(&r, 400, "bad_text", "NUL in the login user name");
    assert_eq!(b["details"]["pointer"], "/user");

    let mut c = s.as_user("alice");
    for q in ["actor", "action", "target_type", "target_id", "result"] {
        let r = c.get(&format!("/api/v1/audit?{q}=%00")).expect("audit");
        let b = refused(&r, 400, "bad_text", q);
        assert_eq!(b["details"]["where"], "query string");
    }
    for method in ["PUT", "DELETE"] {
        let r = c
            .send(
                method,
                "/api/v1/teams/ops/members/%00",
                &json!({"role": "viewer"}),
            )
            .expect("member");
        refused(&r, 400, "bad_text", "NUL in a member path");
    }
    let r = c
        .send(
            "POST",
            "/api/v1/tokens",
            &json!({"team": "ops", "name": "ci\u{0}"}),
        )
        .expect("token");
    assert_eq!(
        refused(&r, 400, "bad_text", "token")["details"]["pointer"],
        "/name"
    );

    let mut doc = corpus("one-disk-raw");
    doc["guest"]["name"] = json!("vm\u{0}1");
    let r = create_configuration(&mut c, "ops", "vm1", &doc);
    let b = refused(&r, 400, "bad_text", "NUL in a document");
    assert_eq!(b["details"]["pointer"], "/document/guest/name");
    assert!(b["message"]
        .as_str()
        .unwrap_or_default()
        .contains("/document/guest/name"));
    let mut doc = corpus("one-disk-raw");
    doc["nodes"][2]["path"] = json!("/var/lib/\u{0}x");
    let r = create_configuration(&mut c, "ops", "vm1", &doc);
    assert_eq!(
        refused(&r, 400, "bad_text", "path")["details"]["pointer"],
        "/document/nodes/2/path"
    );
    let r = create_configuration(&mut c, "ops", "vm1", &corpus("one-disk-raw"));
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_i64().expect("id");
    let r = c
        .send(
            "PUT",
            &format!("/api/v1/configurations/{id}"),
            &json!({"base_version": 1, "document": corpus("one-disk-raw"), "message": "m\u{0}"}),
        )
        .expect("save");
    assert_eq!(
        refused(&r, 400, "bad_text", "save message")["details"]["pointer"],
        "/message"
    );

    let r = c
        .send(
            "POST",
            "/api/v1/teams/ops/hosts",
            &json!({"name": "h", "libvirt_uri": "qemu:///system", "address": "10.0.0.1", "notes": "\u{0}"}),
        )
        .expect("host");
    refused(&r, 400, "bad_text", "host notes");
    // A key with a NUL inside a template body, and a lone surrogate (written by hand: serde
    // never writes one).
    let r = c
        .send(
            "POST",
            "/api/v1/teams/ops/templates",
            &json!({"name": "t", "parameters": [], "body": {"k\u{0}": 1}}),
        )
        .expect("template");
    refused(&r, 400, "bad_text", "NUL in a template key");
    let r = c
        .raw(
            "POST",
            "/api/v1/teams/ops/templates",
            Some("application/json"),
            br#"{"name": "t", "parameters": [], "body": {"guest": "\udc00"}}"#,
        )
        .expect("template");
    let b = refused(&r, 400, "bad_json", "lone surrogate");
    assert!(
        b["message"]
            .as_str()
            .unwrap_or_default()
            .contains("surrogate"),
        "{b}"
    );

    // Nothing of it was stored: one configuration at version 1, no host, no team template.
    let v = c
        .get(&format!("/api/v1/configurations/{id}"))
        .expect("get")
        .json();
    assert_eq!(v["configuration"]["current_version"], 1, "{v}");
    assert_eq!(
        c.get("/api/v1/teams/ops/hosts").expect("hosts").json()["hosts"],
        json!([])
    );
    still_fine(&s, &mut c);
}

#[test]
fn a_huge_base_version_is_a_400_not_a_panic() {
    need_postgres!("hostile::a_huge_base_version_is_a_400_not_a_panic");
    let s = Server::start();
    s.create_user("ops", "editor", "alice");
    let mut c = s.as_user("alice");
    let doc = corpus("one-disk-raw");
    let id = create_configuration(&mut c, "ops", "vm1", &doc).json()["id"]
        .as_i64()
        .expect("id");
    let path = format!("/api/v1/configurations/{id}");
    for base in [i64::from(i32::MAX), 0, -1] {
        let r = c
            .send(
                "PUT",
                &path,
                &json!({"base_version": base, "document": doc}),
            )
            .expect("answered");
        let b = refused(&r, 400, "bad_base_version", &base.to_string());
        assert!(
            b["message"]
                .as_str()
                .unwrap_or_default()
                .contains(&base.to_string()),
            "{b}"
        );
    }
    for base in [i64::from(i32::MAX) + 1, i64::MAX] {
        let r = c
            .send(
                "PUT",
                &path,
                &json!({"base_version": base, "document": doc}),
            )
            .expect("answered");
        refused(&r, 400, "bad_json", &base.to_string());
    }
    let r = c
        .send("PUT", &path, &json!({"base_version": 1, "document": doc}))
        .expect("save");
    assert_eq!(r.status, 200, "{}", r.body);
    still_fine(&s, &mut c);
}

#[test]
fn template_bombs_are_refused_quickly_and_cost_nothing_later() {
    need_postgres!("hostile::template_bombs_are_refused_quickly_and_cost_nothing_later");
    let s = Server::start();
    s.create_user("ops", "editor", "alice");
    let mut c = s.as_user("alice");
    // The walk's expansion bomb: 8 KiB default placed 8,192 times (192 MiB once expanded).
    let bomb = json!({
        "name": "bomb",
        "parameters": [{"name": "a", "type": "string", "default": "x".repeat(8192)}],
        "body": {"guest": {"name": "${a}".repeat(8192)}},
    });
    let r = c
        .send("POST", "/api/v1/teams/ops/templates", &bomb)
        .expect("bomb");
    let b = refused(&r, 422, "invalid_template", "expansion bomb");
    assert_eq!(b["details"]["findings"][0]["code"], "T013", "{b}");
    assert!(
        r.body.len() < 4096,
        "the answer stays small: {} bytes",
        r.body.len()
    );
    // The walk's costly pattern.
    let pattern = json!({
        "name": "pattern",
        "parameters": [{"name": "a", "type": "string", "default": "a".repeat(1000),
                        "constraints": {"pattern": "(?:a{1,300}){1,300}"}}],
        "body": {"guest": {"name": "${a}"}},
    });
    let r = c
        .send("POST", "/api/v1/teams/ops/templates", &pattern)
        .expect("pattern");
    let b = refused(&r, 422, "invalid_template", "costly pattern");
    let codes: Vec<&str> = b["details"]["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["code"].as_str())
        .collect();
    assert!(codes.contains(&"T004"), "{b}");
    let list = c.get("/api/v1/teams/ops/templates").expect("list").json();
    assert!(
        list["templates"]
            .as_array()
            .is_some_and(|t| t.iter().all(|t| t["builtin"] == true)),
        "nothing stored: {list}"
    );
    still_fine(&s, &mut c);
}

#[test]
fn names_refuse_control_and_format_characters() {
    need_postgres!("hostile::names_refuse_control_and_format_characters");
    let s = Server::start();
    s.create_user("ops", "admin", "alice");
    let mut c = s.as_user("alice");
    let spoof = "invoice-\u{202E}txt.exe";
    let r = create_configuration(&mut c, "ops", spoof, &corpus("one-disk-raw"));
    let b = refused(&r, 400, "bad_name", "configuration");
    assert!(
        b["message"].as_str().unwrap_or_default().contains("U+202E"),
        "{b}"
    );
    for (path, body, what) in [
        ("/api/v1/teams", json!({"name": "ops\u{200F}2"}), "team"),
        (
            "/api/v1/tokens",
            json!({"team": "ops", "name": "ci\nbuild"}),
            "token newline",
        ),
        (
            "/api/v1/tokens",
            json!({"team": "ops", "name": "ci\tbuild"}),
            "token tab",
        ),
        (
            "/api/v1/teams/ops/hosts",
            json!({"name": "hv\u{200B}a", "libvirt_uri": "qemu:///system", "address": "10.0.0.1"}),
            "host",
        ),
        (
            "/api/v1/teams/ops/templates",
            json!({"name": spoof, "parameters": [], "body": corpus("one-disk-raw")}),
            "template",
        ),
    ] {
        let r = c.send("POST", path, &body).expect(what);
        assert_eq!(r.status, 400, "{what}: {}", r.body);
        assert!(r.body.contains("U+"), "{what}: {}", r.body);
    }
    still_fine(&s, &mut c);
}

#[test]
fn document_endpoints_answer_bad_bodies_in_json() {
    need_postgres!("hostile::document_endpoints_answer_bad_bodies_in_json");
    let s = Server::start();
    let mut c = s.client();
    let utf16: Vec<u8> = std::iter::once([0xFFu8, 0xFE])
        .chain("{\"a\": 1}".encode_utf16().map(u16::to_le_bytes))
        .flatten()
        .collect();
    for path in ["/api/v1/validate", "/api/v1/render"] {
        let r = c
            .raw(
                "POST",
                path,
                Some("application/json"),
                b"{\"a\": \"\xff\xfe\"}",
            )
            .expect("latin");
        let b = refused(&r, 400, "bad_encoding", "invalid UTF-8");
        assert_eq!(b["details"]["offset"], 7);
        let r = c
            .raw("POST", path, Some("application/json"), b"\xed\xa0\x80")
            .expect("overlong");
        refused(&r, 400, "bad_encoding", "encoded surrogate");
        let r = c
            .raw("POST", path, Some("application/json"), &utf16)
            .expect("utf16");
        let b = refused(&r, 400, "bad_encoding", "UTF-16");
        assert!(
            b["message"].as_str().unwrap_or_default().contains("UTF-16"),
            "{b}"
        );
        let r = c
            .raw("POST", path, Some("application/json"), &vec![b' '; 6 << 20])
            .expect("huge");
        refused(&r, 400, "too_large", "6 MiB");
    }
    assert_eq!(c.get("/healthz").expect("healthz").status, 200);
}
