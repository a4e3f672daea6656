//! Group commit of saves (`db::batch`), through the real server on a fresh Postgres database:
//! saves that arrive together are written in one transaction, each keeps its own outcome, and
//! a save the database refuses does not take the others of its batch down with it.

#[macro_use]
mod common;

use common::{corpus, create_configuration, Server};
use lockstep_tests::http::{Client, Response};
use serde_json::{json, Value};
use std::sync::{Arc, Barrier};

/// Holds the audit chain's head locked for `secs` from a psql session, so the server's writer
/// waits and every save sent meanwhile queues for the same batch. Returns once it is locked.
fn hold_chain_head(s: &Server, secs: f64) -> std::thread::JoinHandle<()> {
    let db = s.db.clone();
    let sql =
        format!("BEGIN; SELECT 1 FROM audit_head FOR UPDATE; SELECT pg_sleep({secs}); COMMIT;");
    let t = std::thread::spawn(move || {
        let o = common::psql(&db, &sql);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    });
    // psql has taken the lock once a lock on audit_head shows as granted.
    for _ in 0..100 {
        let o = s.sql(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
             WHERE c.relname = 'audit_head' AND l.mode = 'RowShareLock' AND l.granted",
        );
        if String::from_utf8_lossy(&o.stdout).trim() != "0" {
            return t;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("psql did not lock the audit head");
}

/// Sends every save at once (one thread each); the answers, in order.
fn save_together(c: &Client, saves: Vec<(i64, i32, &str)>) -> Vec<Response> {
    let start = Arc::new(Barrier::new(saves.len()));
    let threads: Vec<_> = saves
        .into_iter()
        .map(|(id, base, message)| {
            let (mut c, start, message) = (c.clone(), start.clone(), message.to_owned());
            std::thread::spawn(move || {
                // Each save moves its configuration's migration port: its claims change.
                let mut doc = corpus("one-disk-raw");
                doc["colo"]["migration_port"] = json!(port(id, base));
                start.wait();
                c.send(
                    "PUT",
                    &format!("/api/v1/configurations/{id}"),
                    &json!({"base_version": base, "document": doc, "message": message}),
                )
                .expect("save")
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect()
}

/// The migration port the save of `base + 1` of configuration `id` sets.
fn port(id: i64, base: i32) -> i64 {
    20000 + 10 * id + i64::from(base)
}

/// Two servers on one database, with editor alice in team ops.
fn two_servers() -> (Server, Server) {
    let a = Server::start();
    let b = a.another();
    a.create_user("ops", "editor", "alice");
    (a, b)
}

fn scalar(s: &Server, sql: &str) -> String {
    let o = s.sql(sql);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

#[test]
fn saves_sent_together_are_written_together_and_keep_their_own_outcome() {
    need_postgres!("saves::saves_sent_together_are_written_together_and_keep_their_own_outcome");
    let s = Server::start();
    s.create_user("ops", "editor", "alice");
    let c = s.as_user("alice");
    let ids: Vec<i64> = (0..9)
        .map(|i| {
            let r = create_configuration(
                &mut c.clone(),
                "ops",
                &format!("vm{i}"),
                &corpus("one-disk-raw"),
            );
            assert_eq!(r.status, 201, "{}", r.body);
            r.json()["id"].as_i64().expect("id")
        })
        .collect();

    // Two saves on the same base of each of eight configurations, all in one queue.
    let held = hold_chain_head(&s, 1.0);
    let mut saves = Vec::new();
    for &id in &ids[..8] {
        saves.push((id, 1, "first"));
        saves.push((id, 1, "second"));
    }
    let answers = save_together(&c, saves);
    held.join().expect("psql");
    for (pair, &id) in answers.chunks(2).zip(&ids[..8]) {
        let mut statuses: Vec<u16> = pair.iter().map(|r| r.status).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "configuration {id}");
        for r in pair {
            let v: Value = r.json();
            match r.status {
                200 => assert_eq!(v["version"], 2),
                _ => assert_eq!(v["details"]["current_version"], 2, "{}", v["message"]),
            }
        }
    }
    // The winners went into the database together: the first save to reach the writer waits
    // alone on the held head, and all the others queue meanwhile and share the next
    // transaction (one by one, it would be eight).
    let transactions = scalar(
        &s,
        "SELECT count(DISTINCT xmin::text) FROM configuration_versions WHERE version = 2",
    );
    assert!(
        transactions == "1" || transactions == "2",
        "the eight saves took {transactions} transactions"
    );
    assert_eq!(
        scalar(
            &s,
            "SELECT count(*) FROM audit_events WHERE action = 'configuration.update' \
             AND result = 'ok'"
        ),
        "8"
    );
    // Their claims were rewritten with them.
    for &id in &ids[..8] {
        assert_eq!(
            scalar(
                &s,
                &format!(
                    "SELECT value FROM configuration_claims WHERE configuration_id = {id} \
                     AND field = 'colo.migration_port'"
                )
            ),
            port(id, 1).to_string()
        );
    }
    s.assert_audit_intact();

    // A save the database refuses: the batch is rolled back and its saves are written one by
    // one, so only the refused save fails.
    let o = s.sql(
        "CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN IF NEW.message = 'boom' THEN RAISE EXCEPTION 'boom refused'; END IF; \
         RETURN NEW; END; $$; \
         CREATE TRIGGER refuse_boom BEFORE INSERT ON configuration_versions \
         FOR EACH ROW EXECUTE FUNCTION refuse_boom()",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let held = hold_chain_head(&s, 0.5);
    let mut saves: Vec<(i64, i32, &str)> = ids[..4].iter().map(|&id| (id, 2, "third")).collect();
    saves.push((ids[8], 1, "boom"));
    let answers = save_together(&c, saves);
    held.join().expect("psql");
    for r in &answers[..4] {
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["version"], 3);
    }
    assert_eq!(answers[4].status, 500, "{}", answers[4].body);
    assert_eq!(
        scalar(
            &s,
            &format!(
                "SELECT count(*) FROM configuration_versions WHERE configuration_id = {}",
                ids[8]
            )
        ),
        "1"
    );
    assert_eq!(
        scalar(
            &s,
            "SELECT count(*) FROM configuration_versions WHERE version = 3"
        ),
        "4"
    );
    s.assert_audit_intact();
}

#[test]
fn a_read_shows_what_another_server_saved_and_archived() {
    need_postgres!("saves::a_read_shows_what_another_server_saved_and_archived");
    let (a, b) = two_servers();
    let (mut on_a, mut on_b) = (a.as_user("alice"), b.as_user("alice"));
    let r = create_configuration(&mut on_a, "ops", "vm1", &corpus("one-disk-raw"));
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_i64().expect("id");
    let path = format!("/api/v1/configurations/{id}");
    // Read twice on A: the second answer may come from A's cache of version 1.
    for _ in 0..2 {
        let r = on_a.get(&path).expect("read");
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["current"]["version"], 1);
    }
    let mut moved = corpus("one-disk-raw");
    moved["colo"]["migration_port"] = json!(9700);
    let r = on_b
        .send(
            "PUT",
            &path,
            &json!({"base_version": 1, "document": moved, "message": "on b"}),
        )
        .expect("save");
    assert_eq!(r.status, 200, "{}", r.body);
    let v: Value = on_a.get(&path).expect("read").json();
    assert_eq!(v["configuration"]["current_version"], 2);
    assert_eq!(v["current"]["version"], 2);
    assert_eq!(v["current"]["message"], "on b");
    assert_eq!(v["current"]["document"]["colo"]["migration_port"], 9700);
    let r = on_b
        .send("POST", &format!("{path}/archive"), &json!({}))
        .expect("archive");
    assert_eq!(r.status, 200, "{}", r.body);
    let v: Value = on_a.get(&path).expect("read").json();
    assert!(v["configuration"]["archived_at"].is_string(), "{v}");
}

/// The codes of the cross-configuration findings (E070-E072) in a save's answer.
fn cross_codes(r: &Response) -> Vec<String> {
    assert_eq!(r.status, 200, "{}", r.body);
    let mut codes: Vec<String> = r.json()["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["code"].as_str())
        .filter(|c| ["E070", "E071", "E072"].contains(c))
        .map(str::to_owned)
        .collect();
    codes.sort();
    codes.dedup();
    codes
}

#[test]
fn a_save_is_checked_against_claims_changed_through_another_server() {
    need_postgres!("saves::a_save_is_checked_against_claims_changed_through_another_server");
    let (a, b) = two_servers();
    let (mut on_a, mut on_b) = (a.as_user("alice"), b.as_user("alice"));
    let doc = corpus("one-disk-qcow2");
    let r = create_configuration(&mut on_a, "ops", "vm1", &doc);
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_i64().expect("id");
    let mut base = 1;
    let mut save_on_a = |message: &str| {
        let r = on_a
            .send(
                "PUT",
                &format!("/api/v1/configurations/{id}"),
                &json!({"base_version": base, "document": doc, "message": message}),
            )
            .expect("save");
        base += 1;
        r
    };
    // A now holds the team's claims: only vm1's own.
    assert_eq!(cross_codes(&save_on_a("alone")), Vec::<String>::new());

    // B adds a configuration with vm1's ports, images and name; A's next save sees it.
    let r = create_configuration(&mut on_b, "ops", "vm1-copy", &doc);
    assert_eq!(r.status, 201, "{}", r.body);
    let copy = r.json()["id"].as_i64().expect("id");
    let r = save_on_a("beside a copy");
    assert_eq!(cross_codes(&r), ["E070", "E071", "E072"]);
    assert!(
        r.body.contains("also used by configuration 'vm1-copy'"),
        "{}",
        r.body
    );

    // B archives the copy (its claims go); A's next save is clean again.
    let r = on_b
        .send(
            "POST",
            &format!("/api/v1/configurations/{copy}/archive"),
            &json!({}),
        )
        .expect("archive");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        cross_codes(&save_on_a("copy archived")),
        Vec::<String>::new()
    );

    // Claims changed by hand in SQL move the team's epoch too, so no server keeps old ones.
    let epoch = || scalar(&a, "SELECT claims_epoch FROM teams WHERE name = 'ops'");
    let before = epoch();
    scalar(
        &a,
        &format!(
            "INSERT INTO configuration_claims (configuration_id, team_id, kind, value, \
             host_name, host_address, field) SELECT {copy}, team_id, kind, value, host_name, \
             host_address, field FROM configuration_claims WHERE configuration_id = {id} \
             AND kind = 'port'"
        ),
    );
    assert_ne!(epoch(), before, "an insert by hand did not move the epoch");
    assert_eq!(cross_codes(&save_on_a("claims by hand")), ["E070"]);
    let before = epoch();
    scalar(
        &a,
        &format!("DELETE FROM configuration_claims WHERE configuration_id = {copy}"),
    );
    assert_ne!(epoch(), before, "a delete by hand did not move the epoch");
    assert_eq!(
        cross_codes(&save_on_a("by hand, undone")),
        Vec::<String>::new()
    );
    a.assert_audit_intact();
}
