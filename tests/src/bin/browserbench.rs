//! Browser benchmark for `bench/browser.sh`, in a real headless Chromium through WebDriver
//! against a running server: for the 1-disk and the 32-disk standard pair, the time from
//! navigation to an interactive editor (the app's `lockstep-editor-ready` mark), the time of
//! one edit until it is drawn (validate, findings, canvas; the app records it in
//! `window.lockstepEditTimes`) for arrow-key moves, and per pointer move while dragging a node.
//! Prints one JSON line per measurement.

use lockstep_shared::wizard::{example_input, standard_pair};
use lockstep_tests::http::Client;
use lockstep_tests::webdriver::{key, Driver};
use serde_json::{json, Value};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Median, 95th percentile and maximum, in milliseconds.
fn stats(mut v: Vec<f64>) -> Value {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| {
        v.get(((v.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    json!({"n": v.len(), "median_ms": at(0.5), "p95_ms": at(0.95), "max_ms": at(1.0)})
}

fn times(b: &lockstep_tests::webdriver::Browser) -> Vec<f64> {
    let v = b
        .exec(
            "const t = window.lockstepEditTimes || []; window.lockstepEditTimes = []; return t;",
            json!([]),
        )
        .expect("edit times");
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr = arg(&args, "--addr").expect("--addr HOST:PORT");
    let team = arg(&args, "--team").expect("--team");
    let user = arg(&args, "--user").expect("--user");
    let password = arg(&args, "--password").expect("--password");
    let rounds: usize = arg(&args, "--rounds").map_or(10, |v| v.parse().expect("number"));
    let base = format!("http://{addr}");

    let mut api = Client::new(&addr);
    api.login(&user, &password).expect("log in");
    let driver = Driver::start().expect("chromedriver");
    let b = driver.browser(1400, 900).expect("browser");
    b.goto(&format!("{base}/login")).expect("login page");
    b.type_into(&b.find("#login-user").expect("user"), &user)
        .expect("user");
    b.type_into(&b.find("#login-password").expect("password"), &password)
        .expect("password");
    b.click(&b.find("#login button[type=submit]").expect("submit"))
        .expect("log in");
    b.wait_text("#who", &user).expect("logged in");

    for disks in [1usize, 32] {
        let doc = standard_pair(&example_input(&format!("bench{disks}"), disks));
        let r = api
            .send(
                "POST",
                &format!("/api/v1/teams/{team}/configurations"),
                &json!({"name": format!("bench-{disks}-disks"), "document": doc}),
            )
            .expect("create");
        let id = r.json()["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("create: {}", r.body));
        let url = format!("{base}/configurations/{id}");

        // Navigation: a full page load each round (the first with whatever the cache holds).
        let mut nav = Vec::new();
        for _ in 0..rounds {
            b.goto("about:blank").expect("blank");
            b.goto(&url).expect("editor");
            let t = b
                .wait("the editor ready mark", |b| {
                    let v = b.exec(
                        "const m = performance.getEntriesByName('lockstep-editor-ready'); return m.length ? m[0].startTime : null;",
                        json!([]),
                    )?;
                    Ok(v.as_f64())
                })
                .expect("ready");
            nav.push(t);
        }
        println!(
            "{}",
            json!({"measure": "navigation_to_interactive_editor", "disks": disks, "stats": stats(nav)})
        );

        // Arrow-key moves of one node: each is an edit, validated and drawn.
        // Focus selects a node (as Tab does); the keys then go to it.
        b.exec(
            "document.querySelector('g.node[data-id=\"pdisk0\"]').focus()",
            json!([]),
        )
        .expect("focus");
        times(&b);
        for i in 0..(rounds * 5) {
            b.keys(&[if i % 2 == 0 { "\u{E014}" } else { "\u{E012}" }])
                .expect("arrow");
        }
        let keys = times(&b);
        println!(
            "{}",
            json!({"measure": "edit_arrow_move_drawn", "disks": disks, "stats": stats(keys)})
        );

        // A drag across the canvas: one edit per pointer move.
        let from = b.find("g.node[data-id=\"pdisk0\"]").expect("node");
        let to = b.find("g.node[data-id=\"pquorum0\"]").expect("node");
        times(&b);
        b.drag(&from, &to, (rounds * 6) as u32).expect("drag");
        let drag = times(&b);
        println!(
            "{}",
            json!({"measure": "drag_pointer_move_drawn", "disks": disks, "stats": stats(drag)})
        );
        b.keys(&[key::CONTROL]).ok();
    }
}
