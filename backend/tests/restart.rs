//! The server survives a Postgres restart in the middle of saves: it recovers by itself, and
//! every save it acknowledged is in the database. (Its own test binary: it restarts the
//! cluster that the binary's tests share.)

#[macro_use]
mod common;

use common::{corpus, create_configuration, restart_postgres, Server};
use lockstep_tests::http::KeepAlive;
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn acknowledged_saves_survive_a_postgres_restart() {
    need_postgres!("restart::acknowledged_saves_survive_a_postgres_restart");
    let s = Server::start();
    s.create_user("ops", "editor", "alice");
    let mut c = s.as_user("alice");
    let mut ids = Vec::new();
    for i in 0..4 {
        let mut doc = corpus("one-disk-raw");
        doc["guest"]["name"] = json!(format!("vm{i}"));
        let r = create_configuration(&mut c, "ops", &format!("vm{i}"), &doc);
        ids.push((r.json()["id"].as_i64().expect("id"), doc));
    }
    let first = ids[0].0;
    let deadline = Instant::now() + Duration::from_secs(6);
    let workers: Vec<_> = ids
        .into_iter()
        .map(|(id, doc)| {
            let mut conn = KeepAlive::new(&s.addr, c.cookie.clone(), c.csrf.clone());
            std::thread::spawn(move || {
                let (mut version, mut acked, mut failed) = (1i64, Vec::new(), 0u32);
                while Instant::now() < deadline {
                    let body = json!({"base_version": version, "document": doc}).to_string();
                    match conn.request("PUT", &format!("/api/v1/configurations/{id}"), Some(&body))
                    {
                        Ok((200, b)) => {
                            let v: serde_json::Value = serde_json::from_str(&b).unwrap_or_default();
                            version = v["version"].as_i64().expect("version");
                            acked.push((id, version));
                        }
                        _ => {
                            failed += 1;
                            std::thread::sleep(Duration::from_millis(50));
                            if let Ok((200, b)) =
                                conn.request("GET", &format!("/api/v1/configurations/{id}"), None)
                            {
                                let v: serde_json::Value =
                                    serde_json::from_str(&b).unwrap_or_default();
                                version = v["configuration"]["current_version"]
                                    .as_i64()
                                    .unwrap_or(version);
                            }
                        }
                    }
                }
                (acked, failed)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    restart_postgres();
    let mut acked = Vec::new();
    for w in workers {
        let (a, _failed) = w.join().expect("worker");
        acked.extend(a);
    }
    assert!(acked.len() > 20, "only {} saves acknowledged", acked.len());
    let values: Vec<String> = acked.iter().map(|(id, v)| format!("({id}, {v})")).collect();
    let out = s.sql(&format!(
        "SELECT count(*) FROM configuration_versions WHERE (configuration_id, version) IN (VALUES {})",
        values.join(",")
    ));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        acked.len().to_string(),
        "some acknowledged saves are missing"
    );
    // Recovered by itself: new requests succeed without restarting the server.
    assert_eq!(c.get("/healthz").expect("health").status, 200);
    let r = c
        .get(&format!("/api/v1/configurations/{first}"))
        .expect("read");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        c.get("/api/v1/teams/ops/configurations")
            .expect("list")
            .status,
        200
    );
    s.assert_audit_intact();
}
