//! Templates through the real server and a real Postgres: the built-ins seeded by the
//! migration, instantiation with parameter values, save-as-template, versions and conflicts,
//! read-only built-ins, team isolation, and the audit trail.

#[macro_use]
mod common;

use common::{actions, create_configuration, Server};
use lockstep_shared::template;
use serde_json::{json, Value};

/// Each finding as its code and first subject.
fn codes(v: &Value) -> Vec<String> {
    common::lines(v, &["/code", "/subjects/0"])
}

#[test]
fn builtins_are_seeded_and_instantiate_into_clean_configurations() {
    need_postgres!("templates::builtins_are_seeded_and_instantiate_into_clean_configurations");
    let s = Server::start();
    s.create_user("ops", "editor", "alice");
    let mut c = s.as_user("alice");
    let list = c.get("/api/v1/teams/ops/templates").expect("list").json();
    let list = list["templates"].as_array().expect("templates").clone();
    let shipped = template::builtins();
    assert_eq!(list.len(), shipped.len());
    for (row, b) in list.iter().zip(&shipped) {
        assert_eq!(row["name"], b.name);
        assert_eq!(row["builtin"], true);
        // The migration's rows are exactly what shared::template::builtins() makes today.
        let t = c
            .get(&format!("/api/v1/templates/{}", row["id"]))
            .expect("get")
            .json();
        assert_eq!(t["version"]["body"], b.template.body, "{}", b.name);
        assert_eq!(t["version"]["parameters"], json!(b.template.parameters));
        assert_eq!(t["version"]["description"], b.description);
        assert_eq!(t["findings"], json!([]));
        assert_eq!(t["default_findings"], json!([]));
    }

    // Instantiate the 1-disk pair twice: clean, with generated UUIDs that differ.
    let one = list[0]["id"].as_i64().expect("id");
    let mut uuids = Vec::new();
    for (i, port) in [(1, 9100), (2, 9200)] {
        let r = c
            .send(
                "POST",
                "/api/v1/teams/ops/configurations/from-template",
                &json!({"template_id": one, "name": format!("vm{i}"), "values": {
                    "name": format!("vm{i}"), "disk0_path": format!("/var/lib/colo/vm{i}.qcow2"),
                    "migration_port": port, "nbd_port": port + 1, "memory_mib": 2048
                }}),
            )
            .expect("instantiate");
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.json()["errors"], 0, "{}", r.body);
        assert_eq!(r.json()["template"], json!({"id": one, "version": 3}));
        let id = r.json()["id"].as_i64().expect("id");
        let got = c
            .get(&format!("/api/v1/configurations/{id}"))
            .expect("get")
            .json();
        assert_eq!(got["configuration"]["template_id"], one);
        let doc = &got["current"]["document"];
        assert_eq!(doc["guest"]["memory_mib"], 2048);
        assert_eq!(doc["colo"]["migration_port"], port);
        uuids.push(doc["guest"]["uuid"].as_str().expect("uuid").to_owned());
    }
    assert_ne!(uuids[0], uuids[1]);
    assert!(uuids
        .iter()
        .all(|u| u.len() == 36 && u.as_bytes()[14] == b'4'));
    // The audit event says which template and values made it.
    let e = c
        .get("/api/v1/audit?action=configuration.create&limit=1")
        .expect("audit")
        .json();
    assert_eq!(e["events"][0]["after"]["template"]["id"], one);
    assert_eq!(
        e["events"][0]["after"]["template"]["values"]["migration_port"],
        9200
    );

    // Bad values: every problem named, nothing created.
    let r = c
        .send(
            "POST",
            "/api/v1/teams/ops/configurations/from-template",
            &json!({"template_id": one, "name": "vm3", "values": {
                "vcpus": 0, "disk0_format": "vmdk", "colour": "blue", "uuid": "x"
            }}),
        )
        .expect("instantiate");
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.json()["code"], "invalid_template");
    let got = codes(&r.json()["details"]["findings"]);
    for want in [
        "T009 values.vcpus",
        "T009 values.disk0_format",
        "T009 values.uuid",
        "T010 values.colour",
    ] {
        assert!(got.iter().any(|g| g == want), "{want} missing: {got:?}");
    }
    let n = c
        .get("/api/v1/teams/ops/configurations")
        .expect("list")
        .json();
    assert_eq!(n["configurations"].as_array().map(Vec::len), Some(2));

    // Built-ins are read-only.
    let r = c
        .send(
            "PUT",
            &format!("/api/v1/templates/{one}"),
            &json!({"base_version": 1, "body": {}}),
        )
        .expect("put");
    assert_eq!(r.status, 403, "{}", r.body);
    let r = c
        .send(
            "POST",
            &format!("/api/v1/templates/{one}/archive"),
            &json!({}),
        )
        .expect("archive");
    assert_eq!(r.status, 403);
}

#[test]
fn a_configuration_saved_as_a_template_is_versioned_and_instantiated() {
    need_postgres!("templates::a_configuration_saved_as_a_template_is_versioned_and_instantiated");
    let s = Server::start();
    s.create_user("ops", "editor", "alice");
    s.create_user("ops", "viewer", "victor");
    s.create_user("other", "admin", "olga");
    let mut c = s.as_user("alice");
    let r = create_configuration(&mut c, "ops", "db1", &common::corpus("one-disk-qcow2"));
    let cid = r.json()["id"].as_i64().expect("id");

    // Save as a template with two values as parameters.
    let r = c
        .send(
            "POST",
            &format!("/api/v1/configurations/{cid}/template"),
            &json!({"name": "db pair", "description": "our database pair", "bindings": [
                {"pointer": "/guest/name", "name": "name", "type": "string",
                 "constraints": {"pattern": "[a-z0-9-]+"}},
                {"pointer": "/colo/migration_port", "name": "port", "type": "integer",
                 "constraints": {"min": 1024, "max": 65535}}
            ]}),
        )
        .expect("as template");
    assert_eq!(r.status, 201, "{}", r.body);
    let tid = r.json()["id"].as_i64().expect("id");
    let t = c
        .get(&format!("/api/v1/templates/{tid}"))
        .expect("get")
        .json();
    assert_eq!(t["builtin"], false);
    assert_eq!(t["version"]["body"]["guest"]["name"], "${name}");
    assert_eq!(t["version"]["parameters"][1]["default"], 9000);
    assert_eq!(t["default_findings"], json!([]));

    // Pointing at nothing is named.
    let r = c
        .send(
            "POST",
            &format!("/api/v1/configurations/{cid}/template"),
            &json!({"name": "bad", "bindings": [{"pointer": "/nope", "name": "x", "type": "string"}]}),
        )
        .expect("as template");
    assert_eq!(r.status, 422);
    assert_eq!(
        codes(&r.json()["details"]["findings"]),
        vec!["T011 parameters.x"]
    );

    // A template with errors is refused with every finding; nothing is stored.
    let r = c
        .send(
            "POST",
            "/api/v1/teams/ops/templates",
            &json!({"name": "broken", "parameters": [{"name": "a b", "type": "string"}],
                    "body": {"x": "${missing}"}}),
        )
        .expect("create");
    assert_eq!(r.status, 422, "{}", r.body);
    let got = codes(&r.json()["details"]["findings"]);
    assert!(got.contains(&"T002 parameters.a b".to_owned()), "{got:?}");
    assert!(got.contains(&"T006 body/x".to_owned()), "{got:?}");
    let list = c.get("/api/v1/teams/ops/templates").expect("list").json();
    assert!(!list.to_string().contains("broken"));

    // A new version; a stale base is a conflict that returns the current version.
    let mut body = t["version"]["body"].clone();
    body["guest"]["memory_mib"] = json!(8192);
    let params = t["version"]["parameters"].clone();
    let r = c
        .send(
            "PUT",
            &format!("/api/v1/templates/{tid}"),
            &json!({"base_version": 1, "description": "more memory", "parameters": params, "body": body}),
        )
        .expect("save");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["version"], 2);
    let r = c
        .send(
            "PUT",
            &format!("/api/v1/templates/{tid}"),
            &json!({"base_version": 1, "parameters": params, "body": body}),
        )
        .expect("save");
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["details"]["current_version"], 2);
    let v = c
        .get(&format!("/api/v1/templates/{tid}/versions"))
        .expect("versions")
        .json();
    assert_eq!(v["versions"].as_array().map(Vec::len), Some(2));
    let v1 = c
        .get(&format!("/api/v1/templates/{tid}/versions/1"))
        .expect("v1")
        .json();
    assert_eq!(v1["version"]["description"], "our database pair");

    // Instantiate version 2 with values; and version 1 explicitly.
    let mk = |c: &mut lockstep_tests::http::Client, name: &str, version: Option<i64>, port: i64| {
        c.send(
            "POST",
            "/api/v1/teams/ops/configurations/from-template",
            &json!({"template_id": tid, "template_version": version, "name": name,
                    "values": {"name": name, "port": port}}),
        )
        .expect("instantiate")
    };
    let r = mk(&mut c, "db2", None, 9300);
    assert_eq!(r.status, 201, "{}", r.body);
    let doc = c
        .get(&format!("/api/v1/configurations/{}", r.json()["id"]))
        .expect("get")
        .json()["current"]["document"]
        .clone();
    assert_eq!(doc["guest"]["name"], "db2");
    assert_eq!(doc["guest"]["memory_mib"], 8192);
    assert_eq!(doc["colo"]["migration_port"], 9300);
    let r = mk(&mut c, "db3", Some(1), 9400);
    assert_eq!(r.json()["template"]["version"], 1);
    // A constraint violation names the parameter.
    let r = mk(&mut c, "DB 4", None, 80);
    assert_eq!(r.status, 422);
    let got = codes(&r.json()["details"]["findings"]);
    assert_eq!(got, vec!["T009 values.name", "T009 values.port"]);

    // Roles and teams: a viewer reads but cannot change or instantiate; another team sees
    // nothing of it.
    let mut v = s.as_user("victor");
    assert_eq!(
        v.get(&format!("/api/v1/templates/{tid}"))
            .expect("get")
            .status,
        200
    );
    assert_eq!(mk(&mut v, "db5", None, 9500).status, 403);
    let r = v
        .send(
            "POST",
            &format!("/api/v1/templates/{tid}/archive"),
            &json!({}),
        )
        .expect("archive");
    assert_eq!(r.status, 403);
    let mut o = s.as_user("olga");
    assert_eq!(
        o.get(&format!("/api/v1/templates/{tid}"))
            .expect("get")
            .status,
        404
    );
    let r = o
        .send(
            "POST",
            "/api/v1/teams/other/configurations/from-template",
            &json!({"template_id": tid, "name": "steal"}),
        )
        .expect("instantiate");
    assert_eq!(r.status, 404);
    let list = o.get("/api/v1/teams/other/templates").expect("list").json();
    assert!(!list.to_string().contains("db pair"));

    // Archived: no longer instantiable, hidden from the list unless asked for.
    let r = c
        .send(
            "POST",
            &format!("/api/v1/templates/{tid}/archive"),
            &json!({}),
        )
        .expect("archive");
    assert_eq!(r.status, 200);
    assert_eq!(mk(&mut c, "db6", None, 9600).status, 409);
    let list = c.get("/api/v1/teams/ops/templates").expect("list").json();
    assert!(!list.to_string().contains("db pair"));
    let list = c
        .get("/api/v1/teams/ops/templates?archived=true")
        .expect("list")
        .json();
    assert!(list.to_string().contains("db pair"));

    // Every change is in the audit trail, and the chain verifies.
    let e = c
        .get("/api/v1/audit?target_type=template&result=ok")
        .expect("audit")
        .json();
    let actions = actions(&e);
    assert_eq!(
        actions,
        vec!["template.archive", "template.update", "template.create"]
    );
    assert_eq!(e["events"][2]["after"]["from"]["configuration"], cid);
    s.assert_audit_intact();
}
