//! Load generator for `bench/load.sh`: N keep-alive connections, each a thread, for a fixed
//! time against one scenario; prints throughput and latency percentiles as one JSON line.
//!
//! Scenarios: `baseline` (`GET /healthz`: one trivial Postgres query), `read`
//! (`GET /api/v1/configurations/{id}`), `save` (`PUT` a new version; each connection owns one
//! configuration, so it always knows the current version). With `--record FILE`, `save` also
//! writes every acknowledged (200) save as `config_id version` lines, to check later that none
//! was lost.

use lockstep_tests::http::KeepAlive;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr = arg(&args, "--addr").expect("--addr HOST:PORT");
    let scenario = arg(&args, "--scenario").expect("--scenario baseline|read|save");
    let conns: usize = arg(&args, "--connections").map_or(50, |v| v.parse().expect("number"));
    let secs: u64 = arg(&args, "--seconds").map_or(10, |v| v.parse().expect("number"));
    let cookie = arg(&args, "--cookie");
    let csrf = arg(&args, "--csrf");
    // For read/save: comma-separated configuration ids (one per connection for save).
    let ids: Vec<i64> = arg(&args, "--ids")
        .map(|v| v.split(',').map(|x| x.parse().expect("id")).collect())
        .unwrap_or_default();
    // `{i}` in the path is replaced by the connection number (1-based): one document each.
    let document = arg(&args, "--document");
    let record = arg(&args, "--record");

    let acked: Arc<Mutex<Vec<(i64, i64)>>> = Arc::new(Mutex::new(Vec::new()));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut handles = Vec::new();
    for c in 0..conns {
        let (addr, scenario, cookie, csrf, ids, document, acked) = (
            addr.clone(),
            scenario.clone(),
            cookie.clone(),
            csrf.clone(),
            ids.clone(),
            document.clone(),
            acked.clone(),
        );
        handles.push(std::thread::spawn(move || {
            let mut conn = KeepAlive::new(&addr, cookie, csrf);
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let id = ids.get(c % ids.len().max(1)).copied().unwrap_or(0);
            let document = document.map(|p| {
                std::fs::read_to_string(p.replace("{i}", &(c + 1).to_string())).expect("document")
            });
            let mut version = 1i64;
            while Instant::now() < deadline {
                let t = Instant::now();
                let r = match scenario.as_str() {
                    "baseline" => conn.request("GET", "/healthz", None),
                    "read" => conn.request("GET", &format!("/api/v1/configurations/{id}"), None),
                    "save" => {
                        let body = format!(
                            "{{\"base_version\":{version},\"message\":\"load\",\"document\":{}}}",
                            document.as_deref().unwrap_or("{}")
                        );
                        conn.request("PUT", &format!("/api/v1/configurations/{id}"), Some(&body))
                    }
                    other => panic!("unknown scenario {other}"),
                };
                match r {
                    Ok((200, body)) => {
                        lat.push(t.elapsed());
                        if scenario == "save" {
                            version += 1;
                            let v: serde_json::Value =
                                serde_json::from_str(&body).unwrap_or_default();
                            if let Some(n) = v["version"].as_i64() {
                                acked.lock().expect("lock").push((id, n));
                                version = n;
                            }
                        }
                    }
                    Ok((_, _)) | Err(_) => {
                        errors += 1;
                        // During a database restart: back off briefly instead of spinning.
                        std::thread::sleep(Duration::from_millis(20));
                        if scenario == "save" {
                            // Re-read the current version after a failure.
                            if let Ok((200, b)) =
                                conn.request("GET", &format!("/api/v1/configurations/{id}"), None)
                            {
                                let v: serde_json::Value =
                                    serde_json::from_str(&b).unwrap_or_default();
                                if let Some(n) = v["configuration"]["current_version"].as_i64() {
                                    version = n;
                                }
                            }
                        }
                    }
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for h in handles {
        let (l, e) = h.join().expect("thread");
        all.extend(l);
        errors += e;
    }
    all.sort();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return 0.0;
        }
        let i = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
        all[i].as_secs_f64() * 1000.0
    };
    println!(
        "{}",
        serde_json::json!({
            "scenario": scenario,
            "connections": conns,
            "seconds": secs,
            "ok": all.len(),
            "errors": errors,
            "throughput_per_s": all.len() as f64 / secs as f64,
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "max_ms": all.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        })
    );
    if let Some(path) = record {
        let mut f = std::fs::File::create(path).expect("record file");
        for (id, v) in acked.lock().expect("lock").iter() {
            writeln!(f, "{id} {v}").expect("write");
        }
    }
}
