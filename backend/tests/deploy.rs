//! The deploy engine on real hosts: two private libvirtds (each in its own mount namespace, so
//! neither sees the other's domains), real QEMU 7.2 with KVM, driven by the `lockstep` binary
//! as an operator would: preflight, deploy, status, failover, teardown.

#[macro_use]
mod common;

use common::stand::{can_run, lockstep, register, text, Stand, GUEST, LEN, QUICK_MONITOR};
use common::Server;
use lockstep_backend::deploy::host::Host;
use lockstep_shared::model::{NicModel, NicSource};
use lockstep_shared::wizard::NicSpec;
use lockstep_tests::colo::{self, has_pattern, MIB};
use serde_json::json;
use std::process::Command;
use std::time::{Duration, Instant};

/// Writes through the primary guest's disk device (the quorum: local image and the NBD leg),
/// over libvirt's monitor, then lets several checkpoints pass.
/// Writes `LEN` bytes of `pattern` at `offset` through the guest's disk `disk` (0: vda) as a
/// guest would (see [`colo::guest_write`]). Each QMP call is bounded by the monitor limit.
fn guest_write(uri: &str, disk: usize, pattern: u8, offset: u64) {
    let dev = format!("vd{}", (b'a' + disk as u8) as char);
    let h = Host::open(uri).expect("connect");
    let qmp = |c: &serde_json::Value| -> anyhow::Result<serde_json::Value> {
        h.qmp(GUEST, c)?
            .map_err(|e| anyhow::anyhow!("{}: {e}", c["execute"]))
    };
    colo::guest_write(qmp, &dev, pattern, offset, LEN, Duration::from_secs(50))
        .unwrap_or_else(|e| panic!("write to {dev} on {uri}: {e:#}"));
}

/// Every `(pattern, offset)` write is on the image.
fn assert_writes(img: &std::path::Path, writes: &[(u8, u64)], whose: &str) {
    for &(pattern, offset) in writes {
        assert!(
            has_pattern(img, pattern, offset, LEN).expect("read"),
            "write {pattern:#x} at {offset} is on {whose}"
        );
    }
}

impl Stand {
    /// Deploys to Protected; the initial copy brought each disk's seed over.
    fn deploy(&self) -> String {
        let t = Instant::now();
        let dep = self.run("deploy", &[]);
        let took = t.elapsed();
        assert!(
            dep.status.success(),
            "deploy: {}\n{}",
            text(&dep),
            self.logs()
        );
        let out = String::from_utf8_lossy(&dep.stdout).to_string();
        assert_eq!(out.lines().last(), Some("Protected"), "{out}");
        eprintln!("deploy to Protected through the CLI: {took:?}");
        for (i, (_, s)) in self.images.iter().enumerate() {
            assert!(
                has_pattern(s, 0x11 + i as u8, MIB, LEN).expect("read"),
                "initial sync of disk {i}"
            );
        }
        let st = self.run("status", &[]);
        assert!(st.status.success(), "{}", text(&st));
        assert!(text(&st).starts_with("Protected\n"), "{}", text(&st));
        out
    }

    /// Writes through every guest disk, kills the primary's QEMU, waits for "lost
    /// connection", fails over, tears down, and finds every write on the secondary's images.
    fn write_kill_failover_teardown(&self) {
        self.writes_kill_failover_teardown(1)
    }

    /// Like [`Self::write_kill_failover_teardown`], with `rounds` writes to each disk (one
    /// after another, round by round, across checkpoints).
    fn writes_kill_failover_teardown(&self, rounds: u64) {
        for r in 0..rounds {
            for i in 0..self.images.len() {
                guest_write(&self.a.uri, i, 0xa0 + i as u8, 4 * MIB + r * LEN);
            }
        }
        std::thread::sleep(Duration::from_millis(1000));
        self.a.kill_qemu(GUEST).expect("kill the primary's QEMU");
        let killed = Instant::now();
        let mut polls = 0;
        let seen = loop {
            let st = self.run("status", &[]);
            polls += 1;
            if text(&st).starts_with("Not protected: lost connection") {
                break killed.elapsed();
            }
            assert!(
                killed.elapsed() < Duration::from_secs(20),
                "status after the kill: {}",
                text(&st)
            );
        };
        eprintln!("primary killed; `lockstep status` said so after {seen:?} ({polls} runs)");
        self.run_timed(
            "failover through the CLI",
            "failover",
            &["--to", "secondary"],
            &[],
        );
        let st = self.run("status", &[]);
        assert!(
            text(&st).starts_with("Not protected: failed over"),
            "{}",
            text(&st)
        );
        let td = self.run("teardown", &[]);
        assert!(td.status.success(), "teardown: {}", text(&td));
        self.assert_no_domains();
        let leftovers = self.overlays();
        assert!(leftovers.is_empty(), "overlays left: {leftovers:?}");
        for (i, (_, s)) in self.images.iter().enumerate() {
            for r in 0..rounds {
                assert!(
                    has_pattern(s, 0xa0 + i as u8, 4 * MIB + r * LEN, LEN).expect("read"),
                    "write {r} made while protected is on secondary disk {i}"
                );
            }
        }
    }
}

#[test]
fn deploy_protect_kill_failover_and_teardown_through_libvirt() {
    if !can_run("deploy::deploy_protect_kill_failover_and_teardown_through_libvirt") {
        return;
    }
    let s = Stand::new("deploy", 1, None, true);

    // One libvirt for both sides is refused: the second definition would replace the first.
    let same = lockstep(&[
        "preflight",
        &s.file,
        "--primary",
        &s.a.uri,
        "--secondary",
        &s.a.uri,
    ]);
    assert_eq!(same.status.code(), Some(1), "{}", text(&same));
    assert!(
        text(&same).contains("one libvirt cannot hold both domains"),
        "{}",
        text(&same)
    );
    let pre = s.run("preflight", &[]);
    assert!(pre.status.success(), "preflight: {}", text(&pre));

    let out = s.deploy();
    assert!(out.contains("qmp_capabilities\"}  skipped"), "{out}");
    eprintln!("{out}");

    // Deploying again while it runs is refused by preflight, and changes nothing.
    let again = s.run("deploy", &[]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(text(&again).contains("already defined"), "{}", text(&again));

    // While the primary answers, failing over to the secondary is refused.
    let early = s.run("failover", &["--to", "secondary"]);
    assert_eq!(early.status.code(), Some(1), "{}", text(&early));
    assert!(text(&early).contains("still answers"), "{}", text(&early));

    s.write_kill_failover_teardown();
}

#[test]
fn three_disks_deploy_and_fail_over_with_every_write() {
    if !can_run("deploy::three_disks_deploy_and_fail_over_with_every_write") {
        return;
    }
    let s = Stand::new("deploy3", 3, None, true);
    s.deploy();
    // Many writes, across many checkpoints: a synchronous write from QEMU's monitor once
    // deadlocked the pair here (see `colo::guest_write`).
    s.writes_kill_failover_teardown(20);
}

/// A primary whose QEMU is stopped (SIGSTOP) does not answer its monitor, which libvirt would
/// wait for forever: status says so within the monitor limit instead of hanging, failover
/// refuses (the primary may come back), and once it runs again the pair is protected and
/// fails over with its data.
#[test]
fn a_stopped_qemu_is_reported_not_answering_and_failover_waits_for_it() {
    if !can_run("deploy::a_stopped_qemu_is_reported_not_answering_and_failover_waits_for_it") {
        return;
    }
    let s = Stand::new("stuck", 1, None, true);
    s.deploy();
    s.a.signal_qemu(GUEST, "STOP")
        .expect("stop the primary's QEMU");
    let t = Instant::now();
    let st = s.run_with("status", &[], &QUICK_MONITOR);
    let said = text(&st);
    eprintln!(
        "status with the primary's QEMU stopped, in {:?}:\n{said}",
        t.elapsed()
    );
    assert!(
        said.starts_with("Not protected: QEMU not answering\n"),
        "{said}"
    );
    assert!(
        said.contains("the primary's guest runs on") && said.contains("did not answer"),
        "{said}"
    );
    assert!(said.contains("QEMU not answering, COLO mode"), "{said}");
    let fo = s.run_with("failover", &["--to", "secondary"], &QUICK_MONITOR);
    assert_eq!(fo.status.code(), Some(1), "{}", text(&fo));
    assert!(text(&fo).contains("it may come back"), "{}", text(&fo));
    // A malformed limit is named, not ignored.
    let bad = s.run_with("status", &[], &[("LOCKSTEP_MONITOR_TIMEOUT_MS", "soon")]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(
        text(&bad).contains(
            "LOCKSTEP_MONITOR_TIMEOUT_MS must be a positive number of milliseconds, not 'soon'"
        ),
        "{}",
        text(&bad)
    );

    s.a.signal_qemu(GUEST, "CONT")
        .expect("resume the primary's QEMU");
    let t = Instant::now();
    loop {
        let st = s.run("status", &[]);
        if text(&st).starts_with("Protected\n") {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "protected again after SIGCONT: {}",
            text(&st)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("protected again {:?} after SIGCONT", t.elapsed());

    // A stopped secondary: the primary answers and shows no checkpoint, so the pair has lost
    // its connection, and the status names the silent secondary (the state a secondary cut off
    // mid-checkpoint is in, see the partition test).
    s.b.signal_qemu(GUEST, "STOP")
        .expect("stop the secondary's QEMU");
    let t = Instant::now();
    let said = text(&s.run_with("status", &[], &QUICK_MONITOR));
    eprintln!(
        "status with the secondary's QEMU stopped, in {:?}:\n{said}",
        t.elapsed()
    );
    assert!(
        said.starts_with("Not protected: lost connection\n"),
        "{said}"
    );
    assert!(
        said.contains("no checkpoint for")
            && said.contains("the secondary's guest runs on")
            && said.contains("did not answer"),
        "{said}"
    );
    assert!(said.contains("COLO mode primary"), "{said}");
    let fo = s.run_with("failover", &["--to", "primary"], &QUICK_MONITOR);
    assert_eq!(fo.status.code(), Some(1), "{}", text(&fo));
    assert!(text(&fo).contains("it may come back"), "{}", text(&fo));
    s.b.signal_qemu(GUEST, "CONT")
        .expect("resume the secondary's QEMU");
    let t = Instant::now();
    until(60, "protected after the secondary's SIGCONT", || {
        s.run("status", &[]).status.success().then_some(())
    });
    eprintln!(
        "protected again {:?} after the secondary's SIGCONT",
        t.elapsed()
    );
    s.write_kill_failover_teardown();
}

#[test]
fn a_nic_behind_the_colo_proxy_deploys_fails_over_and_swaps_roles() {
    if !can_run("deploy::a_nic_behind_the_colo_proxy_deploys_fails_over_and_swaps_roles") {
        return;
    }
    let nic = NicSpec {
        mac: "52:54:00:12:34:56".to_owned(),
        model: NicModel::E1000,
        source: NicSource::User,
    };
    let s = Stand::new("deploy-nic", 1, Some(nic), true);
    let out = s.deploy();
    assert!(out.contains("colo-compare"), "the proxy was checked: {out}");
    // The proxy's filters come back on a primary that was a secondary, ahead of its rewriter.
    s.swap_cycle();
}

/// Connections to one host share its storage pools, and the one that made a directory's pool
/// destroys it when it ends: two preflights at once once reported an existing image missing
/// ("no image at ..."), because the other connection's pool vanished between the lookups.
#[test]
fn connections_that_come_and_go_at_once_always_find_the_image() {
    if !can_run("deploy::connections_that_come_and_go_at_once_always_find_the_image") {
        return;
    }
    let s = Stand::new("deploy-pools", 1, None, false);
    let image = s.images[0].0.display().to_string();
    let overlays = s.dir.join("pool-race");
    let workers: Vec<_> = (0..3)
        .map(|w| {
            let (uri, image) = (s.a.uri.clone(), image.clone());
            let overlay = overlays.join(format!("w{w}.qcow2")).display().to_string();
            std::thread::spawn(move || {
                for round in 0..60 {
                    let mut h = Host::open(&uri).expect("connect");
                    let found = h.image(&image).expect("read the image");
                    assert!(
                        found.is_some(),
                        "worker {w}, round {round}: {image} not found"
                    );
                    if round % 3 == 0 {
                        h.create_overlay(&overlay, MIB, None).expect("overlay");
                        h.remove(&overlay).expect("remove the overlay");
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("a worker failed");
    }
}

#[test]
fn preflight_refuses_a_missing_image_and_changes_nothing() {
    if !can_run("deploy::preflight_refuses_a_missing_image_and_changes_nothing") {
        return;
    }
    let s = Stand::new("deploy-missing", 1, None, false);
    // The preflight action also starts a throw-away guest on each host and asks its QEMU
    // what it offers; nothing of it stays.
    let pf = s.run("preflight", &[]);
    let said = text(&pf);
    assert_eq!(pf.status.code(), Some(1), "{said}");
    for side in ["primary", "secondary"] {
        assert!(
            said.contains(&format!(
                "ok   {side:<9} QEMU offers COLO: /usr/bin/qemu-system-x86_64 offers x-colo and the"
            )),
            "{said}"
        );
    }
    s.assert_no_domains();
    let out = s.run("deploy", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains(&format!("no image at {}", s.images[0].1.display()))
            && said.contains(&s.b.uri),
        "names the image and the host: {said}"
    );
    s.assert_no_domains();
    assert!(
        !s.dir.join("overlays").exists(),
        "no overlay directory made"
    );

    // A domain of the guest's name that Lockstep did not define is never removed: teardown
    // leaves it alone and says so.
    let foreign = s.dir.join("foreign.xml");
    std::fs::write(
        &foreign,
        format!(
            "<domain type='qemu'><name>{GUEST}</name><memory unit='MiB'>64</memory>\
             <os><type arch='x86_64'>hvm</type></os></domain>"
        ),
    )
    .expect("write");
    let def = Command::new("virsh")
        .args(["-c", &s.a.uri, "define"])
        .arg(&foreign)
        .output()
        .expect("virsh");
    assert!(def.status.success(), "{}", text(&def));
    let td = s.run("teardown", &[]);
    assert_eq!(td.status.code(), Some(1), "{}", text(&td));
    assert!(text(&td).contains("left alone"), "{}", text(&td));
    let list = Command::new("virsh")
        .args(["-c", &s.a.uri, "list", "--all", "--name"])
        .output()
        .expect("virsh");
    assert_eq!(String::from_utf8_lossy(&list.stdout).trim(), GUEST);
}

/// Polls `f` every 100 ms until it gives `Some`, for at most `secs`.
fn until<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits for the API's status of deployment `did` to say `summary`; gives that status.
fn api_status_until(
    c: &mut lockstep_tests::http::Client,
    did: i64,
    summary: &str,
) -> serde_json::Value {
    until(20, summary, || {
        let st = c
            .get(&format!("/api/v1/deployments/{did}/status"))
            .expect("status")
            .json();
        (st["summary"] == summary).then_some(st)
    })
}

/// `POST` an action on a deployment.
fn act(
    c: &mut lockstep_tests::http::Client,
    did: i64,
    action: &str,
) -> lockstep_tests::http::Response {
    c.send(
        "POST",
        &format!("/api/v1/deployments/{did}/actions"),
        &json!({"action": action}),
    )
    .expect("action")
}

/// `POST` a deployment of the registered stand; its id.
fn start_deploy(c: &mut lockstep_tests::http::Client, cid: i64, body: &serde_json::Value) -> i64 {
    let r = c
        .send(
            "POST",
            &format!("/api/v1/configurations/{cid}/deployments"),
            body,
        )
        .expect("deploy");
    assert_eq!(r.status, 202, "{}", r.body);
    r.json()["id"].as_i64().expect("id")
}

/// Deployment `did` as the API gives it, once `done` holds for it (read every 100 ms, for
/// at most `secs`).
fn deployment_when(
    c: &mut lockstep_tests::http::Client,
    did: i64,
    secs: u64,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    until(secs, what, || {
        let d = c
            .get(&format!("/api/v1/deployments/{did}"))
            .expect("get")
            .json();
        done(&d).then_some(d)
    })
}

/// The deployment once it is no longer queued or running.
fn ended(c: &mut lockstep_tests::http::Client, did: i64) -> serde_json::Value {
    deployment_when(c, did, 90, "the deployment ends", |d| {
        !["queued", "running"].contains(&d["state"].as_str().unwrap_or_default())
    })
}

/// The deployment once its secondary domain was started.
fn secondary_started(c: &mut lockstep_tests::http::Client, did: i64) -> serde_json::Value {
    deployment_when(c, did, 60, "the secondary started", |d| {
        d["steps"].as_array().is_some_and(|s| {
            s.iter().any(|s| {
                s["side"] == "secondary"
                    && s["command"].as_str().unwrap_or("").starts_with("define")
            })
        })
    })
}

#[test]
fn the_api_deploys_reports_status_fails_over_and_tears_down() {
    need_postgres!("deploy::the_api_deploys_reports_status_fails_over_and_tears_down");
    if !can_run("deploy::the_api_deploys_reports_status_fails_over_and_tears_down") {
        return;
    }
    let stand = Stand::new("deploy-api", 1, None, true);
    let server = Server::start();
    let (mut dora, cid, body) = register(&server, &stand);
    server.create_user("ops", "viewer", "vic");

    // Two preflights at once (each starts a probe guest on both hosts): both pass.
    let both: Vec<_> = (0..2)
        .map(|_| {
            let mut c = server.as_user("dora");
            let body = body.clone();
            std::thread::spawn(move || {
                c.send(
                    "POST",
                    &format!("/api/v1/configurations/{cid}/preflight"),
                    &body,
                )
                .expect("preflight")
            })
        })
        .collect();
    for t in both {
        let r = t.join().expect("thread");
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["ok"], true, "{}", r.body);
    }

    // A viewer can read but not deploy.
    let mut vic = server.as_user("vic");
    let r = vic
        .send(
            "POST",
            &format!("/api/v1/configurations/{cid}/deployments"),
            &body,
        )
        .expect("deploy");
    assert_eq!(r.status, 403, "{}", r.body);

    let t = Instant::now();
    let did = start_deploy(&mut dora, cid, &body);
    // One active deployment per configuration.
    let r = dora
        .send(
            "POST",
            &format!("/api/v1/configurations/{cid}/deployments"),
            &body,
        )
        .expect("deploy again");
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.json()["details"]["deployment_id"], did, "{}", r.body);

    // Follow it as server-sent events: steps as they are recorded, then the final state.
    let events = vic
        .get(&format!("/api/v1/deployments/{did}/events"))
        .expect("events");
    assert_eq!(events.status, 200, "{}", events.body);
    assert_eq!(events.header("content-type"), Some("text/event-stream"));
    let steps_seen = events.body.matches("event: step\n").count();
    let last_state = events
        .body
        .rsplit("event: state\ndata: ")
        .next()
        .and_then(|d| d.lines().next())
        .map(|d| serde_json::from_str::<serde_json::Value>(d).expect("state json"))
        .expect("a state event");
    assert_eq!(last_state["state"], "protected", "{}", events.body);
    assert!(steps_seen >= 30, "{steps_seen} step events");
    let d = ended(&mut dora, did);
    eprintln!("API deploy to {}: {:?}", d["state"], t.elapsed());
    assert_eq!(d["state"], "protected", "{d:#}\n{}", stand.logs());
    let steps = d["steps"].as_array().expect("steps");
    assert!(steps.len() >= 30, "every step recorded: {}", steps.len());
    assert!(steps.iter().all(|s| s["error"].is_null()));
    assert!(steps.iter().any(|s| s["skipped"] == true));

    let st = vic
        .get(&format!("/api/v1/deployments/{did}/status"))
        .expect("status")
        .json();
    assert_eq!(st["summary"], "Protected", "{st:#}");
    assert_eq!(st["primary"]["colo_mode"], "primary");
    assert_eq!(st["primary"]["checkpoint_delay_ms"], 200);
    // Protected since the deploy ended (recorded by the job, kept by later reads).
    let protected_since = st["since"].as_str().expect("since").to_owned();
    let again = vic
        .get(&format!("/api/v1/deployments/{did}/status"))
        .expect("status")
        .json();
    assert_eq!(again["since"], st["since"], "unchanged status, same time");

    guest_write(&stand.a.uri, 0, 0xcd, 8 * MIB);
    std::thread::sleep(Duration::from_millis(1000));
    let action = |c: &mut lockstep_tests::http::Client, a: &str| act(c, did, a);
    let r = action(&mut vic, "failover-to-secondary");
    assert_eq!(r.status, 403, "{}", r.body);
    // The refusal is in the team's audit, about the deployment.
    let refused = dora
        .get("/api/v1/audit?team=ops&result=forbidden&target_type=deployment")
        .expect("audit")
        .json();
    assert_eq!(refused["events"][0]["actor_name"], "vic", "{refused:#}");
    assert_eq!(refused["events"][0]["target_id"], did.to_string());
    let r = action(&mut dora, "failover-to-secondary");
    assert_eq!(
        r.status, 409,
        "refused while the primary answers: {}",
        r.body
    );
    assert!(r.body.contains("still answers"), "{}", r.body);

    stand.a.kill_qemu(GUEST).expect("kill the primary's QEMU");
    let killed = Instant::now();
    let st = api_status_until(&mut dora, did, "Not protected: lost connection");
    eprintln!(
        "primary killed; the API said so after {:?}",
        killed.elapsed()
    );
    assert_eq!(
        st["secondary"]["colo_mode"], "secondary",
        "nobody failed over: {st:#}"
    );
    let lost_since = st["since"].as_str().expect("since");
    assert!(
        lost_since > protected_since.as_str(),
        "the change is dated: {lost_since} after {protected_since}"
    );

    let t = Instant::now();
    let r = action(&mut dora, "failover-to-secondary");
    eprintln!("failover through the API: {:?}", t.elapsed());
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["state"], "failed-over");
    assert_eq!(r.json()["active_side"], "secondary");
    let st = dora
        .get(&format!("/api/v1/deployments/{did}/status"))
        .expect("status")
        .json();
    assert_eq!(st["summary"], "Not protected: failed over", "{st:#}");

    // Re-protect with the roles swapped: the survivor becomes the primary, a fresh secondary
    // starts on the old primary's host.
    let r = action(&mut vic, "reprotect");
    assert_eq!(r.status, 403, "{}", r.body);
    // Two deployers re-protect at once (two sessions): one re-protect runs, the other is
    // refused while it runs, and says why.
    let sessions: Vec<_> = (0..2).map(|_| server.as_user("dora")).collect();
    let t = Instant::now();
    let both: Vec<_> = sessions
        .into_iter()
        .map(|mut c| std::thread::spawn(move || (act(&mut c, did, "reprotect"), Instant::now())))
        .collect();
    let mut answers: Vec<_> = both
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    answers.sort_by_key(|(r, _)| r.status);
    let ((r, done), (busy, refused_at)) = (&answers[0], &answers[1]);
    eprintln!(
        "re-protect with roles swapped through the API: {:?}; the second refused after {:?}",
        *done - t,
        *refused_at - t
    );
    assert_eq!(r.status, 200, "{}\n{}", r.body, stand.logs());
    assert_eq!(busy.status, 409, "{}", busy.body);
    assert!(
        busy.body
            .contains(&format!("another action on deployment {did} is running")),
        "{}",
        busy.body
    );
    assert!(refused_at < done, "refused while the re-protect ran");
    assert_eq!(r.json()["state"], "protected", "{}", r.body);
    assert_eq!(r.json()["roles_swapped"], true, "{}", r.body);
    let st = dora
        .get(&format!("/api/v1/deployments/{did}/status"))
        .expect("status")
        .json();
    assert_eq!(st["summary"], "Protected", "{st:#}");
    assert_eq!(st["roles_swapped"], true, "{st:#}");
    guest_write(&stand.b.uri, 0, 0xce, 10 * MIB);
    std::thread::sleep(Duration::from_millis(1000));
    stand
        .b
        .kill_qemu(GUEST)
        .expect("kill the new primary's QEMU");
    api_status_until(&mut dora, did, "Not protected: lost connection");
    let r = action(&mut dora, "failover-to-secondary");
    assert_eq!(r.status, 200, "{}", r.body);

    // The teardown is asked by a caller that goes away at once: it runs to its end anyway,
    // and the deployment says so.
    dora.abandon(
        "POST",
        &format!("/api/v1/deployments/{did}/actions"),
        &json!({"action": "teardown"}),
    )
    .expect("teardown");
    deployment_when(&mut dora, did, 60, "the abandoned teardown ends", |d| {
        d["state"] == "torn-down"
    });
    stand.assert_no_domains();
    assert!(
        has_pattern(&stand.images[0].1, 0xcd, 8 * MIB, LEN).expect("read"),
        "the write made while protected is on the secondary disk"
    );
    for pattern_offset in [(0xcd, 8 * MIB), (0xce, 10 * MIB)] {
        assert!(
            has_pattern(&stand.images[0].0, pattern_offset.0, pattern_offset.1, LEN).expect("read"),
            "write {pattern_offset:?} is on the old primary's disk, the last survivor's"
        );
    }
    let audit = dora.get("/api/v1/audit?team=ops").expect("audit").json();
    let acts = common::actions(&audit);
    for a in [
        "deployment.create",
        "deployment.protected",
        "deployment.failover-to-secondary",
        "deployment.reprotect",
        "deployment.teardown",
    ] {
        assert!(acts.contains(&a), "{a} in {acts:?}");
    }
    let listed = vic
        .get(&format!("/api/v1/configurations/{cid}/deployments"))
        .expect("list")
        .json();
    assert_eq!(listed["deployments"][0]["state"], "torn-down");
    // A new deployment is allowed once the old one is torn down.
    let d = dora
        .get(&format!("/api/v1/deployments/{did}"))
        .expect("get")
        .json();
    let runs: Vec<&str> = d["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["run"].as_str())
        .collect();
    assert!(runs.contains(&"failover-to-secondary"), "{runs:?}");
}

#[test]
fn a_server_killed_during_a_deploy_leaves_no_job_running_and_nothing_on_the_hosts() {
    need_postgres!(
        "deploy::a_server_killed_during_a_deploy_leaves_no_job_running_and_nothing_on_the_hosts"
    );
    if !can_run(
        "deploy::a_server_killed_during_a_deploy_leaves_no_job_running_and_nothing_on_the_hosts",
    ) {
        return;
    }
    let stand = Stand::new("deploy-kill", 1, None, true);
    let mut server = Server::start();
    let (mut dora, cid, body) = register(&server, &stand);
    let did = start_deploy(&mut dora, cid, &body);
    // Once the secondary runs (a domain exists on host b), kill the server.
    let before = secondary_started(&mut dora, did);
    server.restart();
    eprintln!(
        "server killed at step {} ({})",
        before["steps"].as_array().map_or(0, Vec::len),
        before["state"]
    );
    let mut dora = server.as_user("dora");
    let d = ended(&mut dora, did);
    if before["state"] == "running" {
        assert_eq!(d["state"], "failed", "{d:#}");
        let why = d["error"].as_str().unwrap_or_default();
        assert!(
            why.contains("stopped before it finished") && why.contains("removed"),
            "{why}"
        );
        stand.assert_no_domains();
    } else {
        assert_eq!(d["state"], "protected", "{d:#}");
    }
    let teardown = |c: &mut lockstep_tests::http::Client, did: i64| {
        let r = c
            .send(
                "POST",
                &format!("/api/v1/deployments/{did}/actions"),
                &json!({"action": "teardown"}),
            )
            .expect("teardown");
        assert_eq!(r.status, 200, "{}", r.body);
    };
    // The configuration is not stuck: it deploys again (after a teardown if it had finished).
    if d["state"] == "protected" {
        teardown(&mut dora, did);
    }
    let again = start_deploy(&mut dora, cid, &body);
    let d = ended(&mut dora, again);
    assert_eq!(d["state"], "protected", "{d:#}\n{}", stand.logs());
    teardown(&mut dora, again);
    stand.assert_no_domains();
}

#[test]
fn the_secondary_libvirt_lost_mid_deploy_fails_the_step_and_teardown_cleans_up_later() {
    let test =
        "deploy::the_secondary_libvirt_lost_mid_deploy_fails_the_step_and_teardown_cleans_up_later";
    need_postgres!(test);
    if !can_run(test) {
        return;
    }
    let stand = Stand::new("deploy-lost", 1, None, true);
    let server = Server::start();
    let (mut dora, cid, body) = register(&server, &stand);
    let did = start_deploy(&mut dora, cid, &body);
    // Once the secondary runs, its host's libvirt goes away.
    secondary_started(&mut dora, did);
    stand
        .b
        .stop_daemon()
        .expect("stop the secondary's libvirtd");
    let d = ended(&mut dora, did);
    let why = d["error"].as_str().unwrap_or_default().to_owned();
    eprintln!("the deployment failed: {why}");
    assert_eq!(d["state"], "failed", "{d:#}");
    // It names the step, the side and host, and libvirt's own words.
    assert!(
        why.contains("secondary on") && why.contains(&stand.b.uri),
        "{why}"
    );
    let failed = d["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| !s["error"].is_null())
        .cloned()
        .expect("a failed step");
    assert_eq!(failed["side"], "secondary", "{failed:#}");
    // The primary's host is clean; the secondary's could not be reached, and says so.
    let primary = Command::new("virsh")
        .args(["-c", &stand.a.uri, "list", "--all", "--name"])
        .output()
        .expect("virsh");
    assert_eq!(String::from_utf8_lossy(&primary.stdout).trim(), "");
    assert!(why.contains("could not remove"), "{why}");
    // Once the host answers again, a teardown of the failed deployment removes what is left.
    stand
        .b
        .start_daemon()
        .expect("start the secondary's libvirtd again");
    let r = dora
        .send(
            "POST",
            &format!("/api/v1/deployments/{did}/actions"),
            &json!({"action": "teardown"}),
        )
        .expect("teardown");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["state"], "torn-down");
    stand.assert_no_domains();
    let left = stand.overlays();
    assert!(left.is_empty(), "overlays left: {left:?}");
}

#[test]
fn after_losing_the_secondary_reprotect_makes_the_pair_protected_again() {
    let test = "deploy::after_losing_the_secondary_reprotect_makes_the_pair_protected_again";
    if !can_run(test) {
        return;
    }
    let s = Stand::new("deploy-reprotect", 1, None, true);
    s.deploy();
    guest_write(&s.a.uri, 0, 0xb1, 4 * MIB);
    std::thread::sleep(Duration::from_millis(1000));
    s.b.kill_qemu(GUEST).expect("kill the secondary's QEMU");
    let st = s.status_until("Not protected: lost connection", &[]);
    assert!(st.contains("COLO mode primary"), "{st}");
    // Re-protecting before the primary runs alone is refused.
    let early = s.run("reprotect", &[]);
    assert_eq!(early.status.code(), Some(1), "{}", text(&early));
    let fo = s.run("failover", &["--to", "primary"]);
    assert!(fo.status.success(), "failover: {}\n{}", text(&fo), s.logs());
    let st = s.run("status", &[]);
    assert!(
        text(&st).starts_with("Not protected: need secondary"),
        "{}",
        text(&st)
    );
    // Written while unprotected: re-protection copies it over.
    guest_write(&s.a.uri, 0, 0xb2, 6 * MIB);
    reprotect_lose_the_primary_find_every_write(&s, &[(0xb1, 4 * MIB), (0xb2, 6 * MIB)], 0xb3);
}

/// From a primary running alone: re-protect (its last line "Protected"), write `last` at 8 MiB,
/// kill the primary, fail over to the secondary, tear down, and find `before` and that write
/// on the secondary's disk.
fn reprotect_lose_the_primary_find_every_write(s: &Stand, before: &[(u8, u64)], last: u8) {
    let t = Instant::now();
    let rp = s.run("reprotect", &[]);
    eprintln!("re-protect through the CLI: {:?}", t.elapsed());
    assert!(
        rp.status.success(),
        "reprotect: {}\n{}",
        text(&rp),
        s.logs()
    );
    assert_eq!(
        String::from_utf8_lossy(&rp.stdout).lines().last(),
        Some("Protected"),
        "{}",
        text(&rp)
    );
    guest_write(&s.a.uri, 0, last, 8 * MIB);
    std::thread::sleep(Duration::from_millis(1000));
    s.a.kill_qemu(GUEST).expect("kill the primary's QEMU");
    s.status_until("Not protected: lost connection", &[]);
    let fo = s.run("failover", &["--to", "secondary"]);
    assert!(fo.status.success(), "failover: {}\n{}", text(&fo), s.logs());
    let td = s.run("teardown", &[]);
    assert!(td.status.success(), "teardown: {}", text(&td));
    let mut all = before.to_vec();
    all.push((last, 8 * MIB));
    assert_writes(&s.images[0].1, &all, "the secondary disk");
}

#[test]
fn replication_crosses_a_veth_link_between_two_network_namespaces() {
    let test = "deploy::replication_crosses_a_veth_link_between_two_network_namespaces";
    if !can_run(test) {
        return;
    }
    // Each host has its own network namespace; the NBD export and the migration stream go
    // over the veth pair between them (10.77.3.1 and 10.77.3.2), not over loopback.
    let s = Stand::linked("deploy-veth", "lsveth", "10.77.3");
    let out = s.deploy();
    assert!(
        out.contains("10.77.3.2"),
        "the plan uses the link's addresses: {out}"
    );
    s.write_kill_failover_teardown();
}

#[test]
fn the_api_reprotects_onto_another_host_after_a_failover_to_the_primary() {
    let test = "deploy::the_api_reprotects_onto_another_host_after_a_failover_to_the_primary";
    need_postgres!(test);
    if !can_run(test) {
        return;
    }
    let stand = Stand::new("deploy-api-reprotect", 1, None, true);
    let server = Server::start();
    let (mut dora, cid, body) = register(&server, &stand);
    let did = start_deploy(&mut dora, cid, &body);
    assert_eq!(ended(&mut dora, did)["state"], "protected");
    let action = |c: &mut lockstep_tests::http::Client, a: &str| act(c, did, a);
    // Re-protecting a protected pair is refused with the reason.
    let r = action(&mut dora, "reprotect");
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body.contains("re-protect follows a failover"),
        "{}",
        r.body
    );
    stand.b.kill_qemu(GUEST).expect("kill the secondary's QEMU");
    let r = until(20, "failover to the primary", || {
        let r = action(&mut dora, "failover-to-primary");
        (r.status == 200).then_some(r)
    });
    assert_eq!(r.json()["active_side"], "primary", "{}", r.body);

    // The secondary's host is not coming back: re-protect onto a third registered host. The
    // configuration first names it (a new version that changes only the secondary's host).
    let host_c =
        lockstep_tests::libvirtd::Libvirtd::start(&stand.dir.join("host-c")).expect("a third host");
    let r = dora
        .send(
            "POST",
            "/api/v1/teams/ops/hosts",
            &json!({"name": "host-c", "libvirt_uri": host_c.uri, "address": "127.0.0.3"}),
        )
        .expect("register");
    assert_eq!(r.status, 201, "{}", r.body);
    let hc = r.json()["id"].as_i64().expect("id");
    let v1 = dora
        .get(&format!("/api/v1/configurations/{cid}/versions/1"))
        .expect("v1")
        .json();
    let mut doc = v1["document"].clone();
    doc["hosts"]["secondary"]["name"] = json!("host-c");
    doc["hosts"]["secondary"]["address"] = json!("127.0.0.3");
    let save = |c: &mut lockstep_tests::http::Client, base: i64, doc: &serde_json::Value| {
        let r = c
            .send(
                "PUT",
                &format!("/api/v1/configurations/{cid}"),
                &json!({"base_version": base, "document": doc, "message": "secondary on host-c"}),
            )
            .expect("save");
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["version"].as_i64().expect("version")
    };
    let v2 = save(&mut dora, 1, &doc);
    // A version that changes more than the lost host is refused, as is a host whose address
    // the version does not name.
    let mut more = doc.clone();
    more["colo"]["checkpoint_delay_ms"] = json!(300);
    let v3 = save(&mut dora, v2, &more);
    let onto = move |c: &mut lockstep_tests::http::Client, version: i64| {
        c.send(
            "POST",
            &format!("/api/v1/deployments/{did}/actions"),
            &json!({"action": "reprotect", "host_id": hc, "version": version}),
        )
        .expect("reprotect")
    };
    let r = onto(&mut dora, v3);
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body.contains("changes more than the secondary host"),
        "{}",
        r.body
    );
    let r = onto(&mut dora, 1);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("registered at 127.0.0.3"), "{}", r.body);
    // An admin deletes host-c while the re-protect onto it runs: the delete waits for the
    // action, then is refused (the pair now runs there).
    server.create_user("ops", "admin", "ada");
    let mut ada = server.as_user("ada");
    let mut again = server.as_user("dora");
    let reprotect = std::thread::spawn(move || onto(&mut again, v2));
    deployment_when(&mut dora, did, 30, "the re-protect records a step", |d| {
        d["steps"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["run"] == "reprotect"))
    });
    let r = ada
        .raw("DELETE", &format!("/api/v1/hosts/{hc}"), None, b"")
        .expect("delete");
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("host-c runs deployment"), "{}", r.body);
    let r = reprotect.join().expect("thread");
    assert_eq!(r.status, 200, "{}\n{}", r.body, stand.logs());
    assert_eq!(r.json()["state"], "protected");
    assert!(r.json()["active_side"].is_null(), "{}", r.body);
    assert_eq!(r.json()["secondary_uri"], json!(host_c.uri), "{}", r.body);
    assert_eq!(r.json()["version"], v2, "{}", r.body);
    let names = |uri: &str| {
        let out = Command::new("virsh")
            .args(["-c", uri, "list", "--name"])
            .output()
            .expect("virsh");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(
        names(&host_c.uri),
        GUEST,
        "the fresh secondary runs on host-c"
    );
    assert_eq!(names(&stand.b.uri), "", "nothing runs on the lost host");
    // What the guest left on the replaced host is removed (it still answers here).
    let all = Command::new("virsh")
        .args(["-c", &stand.b.uri, "list", "--all", "--name"])
        .output()
        .expect("virsh");
    assert_eq!(
        String::from_utf8_lossy(&all.stdout).trim(),
        "",
        "the lost host's domain is removed"
    );
    let audit = dora.get("/api/v1/audit?team=ops").expect("audit").json();
    assert!(common::actions(&audit).contains(&"deployment.forget-host"));
    let st = dora
        .get(&format!("/api/v1/deployments/{did}/status"))
        .expect("status")
        .json();
    assert_eq!(st["summary"], "Protected", "{st:#}");
    let d = dora
        .get(&format!("/api/v1/deployments/{did}"))
        .expect("get")
        .json();
    let runs: Vec<&str> = d["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["run"].as_str())
        .collect();
    assert!(runs.contains(&"reprotect"), "{runs:?}");
    let r = action(&mut dora, "teardown");
    assert_eq!(r.status, 200, "{}", r.body);
    stand.assert_no_domains();
    assert_eq!(names(&host_c.uri), "");
}

#[test]
fn the_harness_leaves_no_libvirtd_or_qemu_behind() {
    if !can_run("deploy::the_harness_leaves_no_libvirtd_or_qemu_behind") {
        return;
    }
    let s = Stand::new("deploy-clean", 1, None, true);
    s.deploy();
    let pids: Vec<u32> = s.a.processes().into_iter().chain(s.b.processes()).collect();
    // Each host runs its libvirtd and its QEMU.
    assert!(pids.len() >= 4, "{pids:?}");
    drop(s);
    let alive: Vec<&u32> = pids.iter().filter(|p| running(**p)).collect();
    assert!(
        alive.is_empty(),
        "still running after the stand was dropped: {alive:?}"
    );
}

/// Whether process `pid` runs (killed processes may stay zombies until init reaps them:
/// those do not).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit(')').next().map(|r| r.trim_start().to_owned()))
        .is_some_and(|r| !r.starts_with('Z') && !r.starts_with('X'))
}

/// A test process that is killed (a CI time limit, a second Ctrl-C) runs no destructor; its
/// hosts' libvirtds and QEMUs still end: each namespace's script ends them once the process
/// that started it is gone.
#[test]
fn a_killed_test_process_leaves_no_libvirtd_behind() {
    // This test runs itself again as the process it kills: that run starts a host in the
    // folder `LOCKSTEP_HOLD_HOST` names, says so there, and waits to be killed.
    if let Some(root) = std::env::var_os("LOCKSTEP_HOLD_HOST") {
        let root = std::path::PathBuf::from(root);
        let host = lockstep_tests::libvirtd::Libvirtd::start(&root.join("host")).expect("a host");
        std::fs::write(root.join("held"), "").expect("write");
        std::thread::sleep(Duration::from_secs(300));
        drop(host);
        return;
    }
    let test = "deploy::a_killed_test_process_leaves_no_libvirtd_behind";
    if !can_run(test) {
        return;
    }
    let tmp = lockstep_tests::TempDir::new("killed");
    let mut child = Command::new(std::env::current_exe().expect("this test binary"))
        .args(["--exact", "a_killed_test_process_leaves_no_libvirtd_behind"])
        .env("LOCKSTEP_HOLD_HOST", tmp.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("run the helper");
    until(60, "the helper's host runs", || {
        tmp.path().join("held").exists().then_some(())
    });
    let pid: u32 = std::fs::read_to_string(tmp.path().join("host/run/libvirtd.pid"))
        .expect("libvirtd's pid file")
        .trim()
        .parse()
        .expect("a pid");
    assert!(running(pid), "libvirtd {pid} runs");
    child.kill().expect("SIGKILL the helper");
    child.wait().expect("reap the helper");
    until(10, "the killed process's libvirtd ends", || {
        (!running(pid)).then_some(())
    });
}

impl Stand {
    /// From a protected pair: a write, the primary killed, failover to the secondary (which
    /// waits for the overlays' commit and removes them), a write on the survivor, re-protect
    /// with the roles swapped, a write through the new primary, the new primary killed,
    /// failover to the old primary's host, re-protect again (roles back as written), teardown;
    /// every write on both disks.
    fn swap_cycle(&self) {
        guest_write(&self.a.uri, 0, 0xd1, 4 * MIB);
        std::thread::sleep(Duration::from_millis(1000));
        self.a.kill_qemu(GUEST).expect("kill the primary's QEMU");
        self.status_until("Not protected: lost connection", &[]);
        let fo = self.run("failover", &["--to", "secondary"]);
        assert!(
            fo.status.success(),
            "failover: {}\n{}",
            text(&fo),
            self.logs()
        );
        // The failover waited for the overlays' commit and removed them.
        let out = text(&fo);
        assert!(out.contains("query-named-block-nodes"), "{out}");
        let leftovers = self.overlays();
        assert!(
            leftovers.is_empty(),
            "overlays left after the failover: {leftovers:?}"
        );
        self.status_until("Not protected: failed over", &[]);
        // Written on the survivor while unprotected: the re-protect copies it to the old primary.
        guest_write(&self.b.uri, 0, 0xd2, 6 * MIB);
        let t = Instant::now();
        let rp = self.run("reprotect", &[]);
        eprintln!(
            "re-protect with roles swapped through the CLI: {:?}",
            t.elapsed()
        );
        assert!(
            rp.status.success(),
            "reprotect: {}\n{}",
            text(&rp),
            self.logs()
        );
        assert_eq!(
            String::from_utf8_lossy(&rp.stdout).lines().last(),
            Some("Protected"),
            "{}",
            text(&rp)
        );
        let st = self.run("status", &[]);
        let out = text(&st);
        assert!(st.status.success(), "{out}");
        assert!(out.contains("roles swapped"), "{out}");
        // (libvirt's own domain state flips to paused at each checkpoint: not asserted.)
        let line = out
            .lines()
            .find(|l| {
                l.trim_start()
                    .starts_with(&format!("primary on {}:", self.b.uri))
            })
            .unwrap_or_default();
        assert!(line.contains("QEMU running, COLO mode primary"), "{out}");
        // Written through the new primary, replicated to the old primary's disk.
        guest_write(&self.b.uri, 0, 0xd3, 8 * MIB);
        std::thread::sleep(Duration::from_millis(1000));
        self.b
            .kill_qemu(GUEST)
            .expect("kill the new primary's QEMU");
        self.status_until("Not protected: lost connection", &[]);
        // "secondary" is the role as it runs now: the old primary's host.
        let fo = self.run("failover", &["--to", "secondary"]);
        assert!(
            fo.status.success(),
            "failover: {}\n{}",
            text(&fo),
            self.logs()
        );
        let pimg = &self.images[0].0;
        // Re-protect once more: the roles swap back.
        let rp = self.run("reprotect", &[]);
        assert!(
            rp.status.success(),
            "reprotect: {}\n{}",
            text(&rp),
            self.logs()
        );
        let st = self.run("status", &[]);
        let out = text(&st);
        assert!(
            out.starts_with("Protected\n") && !out.contains("roles swapped"),
            "{out}"
        );
        let td = self.run("teardown", &[]);
        assert!(td.status.success(), "teardown: {}", text(&td));
        self.assert_no_domains();
        assert_writes(
            pimg,
            &[(0xd1, 4 * MIB), (0xd2, 6 * MIB), (0xd3, 8 * MIB)],
            "the old primary's disk",
        );
        let simg = &self.images[0].1;
        assert_writes(
            simg,
            &[(0xd1, 4 * MIB), (0xd2, 6 * MIB), (0xd3, 8 * MIB)],
            "the secondary disk after the second re-protect",
        );
    }
}

#[test]
fn after_failing_over_to_the_secondary_reprotect_swaps_the_roles() {
    let test = "deploy::after_failing_over_to_the_secondary_reprotect_swaps_the_roles";
    if !can_run(test) {
        return;
    }
    let s = Stand::new("deploy-swap", 1, None, true);
    s.deploy();
    s.swap_cycle();
}

#[test]
fn a_partition_between_live_hosts_shows_lost_connection_and_nobody_fails_over() {
    let test = "deploy::a_partition_between_live_hosts_shows_lost_connection_and_nobody_fails_over";
    if !can_run(test) {
        return;
    }
    let s = Stand::linked("deploy-cut", "lscut", "10.77.4");
    s.deploy();
    let st = text(&s.run("status", &[]));
    assert!(st.contains("checkpoint seen"), "{st}");
    // Cut the link on the secondary's side: both QEMUs keep running.
    let st = s.cut_until_lost();
    assert!(st.contains("no checkpoint for"), "{st}");
    // A primary stopped inside the cut checkpoint is said to be serving nothing.
    assert_eq!(
        st.contains("primary on") && st.contains("domain paused, QEMU colo, COLO mode primary"),
        st.contains("The guest is paused inside that checkpoint"),
        "{st}"
    );
    // Nobody failed over behind the user's back: the primary still in COLO, the secondary
    // in COLO too or stuck in a checkpoint (named as not answering), never on its own.
    assert!(st.contains("COLO mode primary"), "{st}");
    assert!(
        st.contains("COLO mode secondary")
            || (st.contains("the secondary's guest runs on") && st.contains("QEMU not answering")),
        "{st}"
    );
    // The link comes back: COLO carries on and the pair is protected again.
    link_back_protected_with_data(&s);
}

/// Brings the link up again, waits for the pair to be protected, then writes, kills the
/// primary, fails over and finds the data.
fn link_back_protected_with_data(s: &Stand) {
    s.set_link(true);
    let back = Instant::now();
    until(120, "protected again", || {
        let st = s.run_with("status", &[], &QUICK_MONITOR);
        st.status.success().then_some(())
    });
    eprintln!("link restored; Protected again after {:?}", back.elapsed());
    s.write_kill_failover_teardown();
}

/// A link cut while the secondary loads a checkpoint: QEMU 7.2's secondary holds its big lock
/// while it reads the checkpoint (migration/colo.c), so its monitor goes silent until the link
/// returns. The link is slowed first so that a checkpoint's transfer takes seconds and the cut
/// lands inside one. The status says lost connection and names the silent secondary; with the
/// link back the checkpoint completes and the pair is protected again, with its data.
#[test]
fn a_link_cut_inside_a_checkpoint_silences_the_secondary_until_it_returns() {
    let test = "deploy::a_link_cut_inside_a_checkpoint_silences_the_secondary_until_it_returns";
    if !can_run(test) {
        return;
    }
    let s = Stand::linked("deploy-cutmid", "lsmid", "10.77.5");
    s.deploy();
    // 8 kbit/s from the primary: a checkpoint's pages and device state take many seconds.
    s.a.tc(&[
        "qdisc", "add", "dev", "lsmida", "root", "tbf", "rate", "8kbit", "burst", "4kb", "latency",
        "30s",
    ])
    .expect("slow the link");
    // Cut the moment the secondary is seen loading a checkpoint's RAM: its monitor does not
    // answer within 300 ms (the device state that follows is read without the lock, so a
    // cut there would leave it answering).
    let silent = || {
        let mut q = Command::new("virsh");
        q.args(["-c", &s.b.uri, "qemu-monitor-command", GUEST])
            .arg(r#"{"execute":"query-status"}"#);
        lockstep_tests::output_within(&mut q, Duration::from_millis(300)).is_err()
    };
    let t = Instant::now();
    until(90, "the secondary loading a slowed checkpoint", || {
        silent().then_some(())
    });
    eprintln!(
        "the secondary silent {:?} after the link was slowed: cut",
        t.elapsed()
    );
    let st = s.cut_until_lost();
    assert!(st.contains("no checkpoint for"), "{st}");
    assert!(
        st.contains("domain paused, QEMU colo, COLO mode primary")
            && st.contains("The guest is paused inside that checkpoint"),
        "{st}"
    );
    assert!(
        st.contains("the secondary is silent too") && st.contains("QEMU not answering"),
        "{st}"
    );
    s.a.tc(&["qdisc", "del", "dev", "lsmida", "root"])
        .expect("unshape the link");
    link_back_protected_with_data(&s);
}

/// Writes `pattern` at 4 MiB through the primary, lets a checkpoint carry it, then cuts the
/// link until the status says lost connection.
fn write_then_cut(s: &Stand, pattern: u8) {
    guest_write(&s.a.uri, 0, pattern, 4 * MIB);
    std::thread::sleep(Duration::from_millis(1000));
    s.cut_until_lost();
}

/// The way out of a partition that lasts: the primary's guest is paused inside the cut
/// checkpoint, so the operator fences the secondary and continues on the primary, which must
/// work although the primary's COLO thread is blocked on a link that no longer answers (no
/// reset can arrive over it). Then, with the link back, re-protect and find every write.
#[test]
fn a_long_partition_is_ended_by_fencing_the_secondary_and_continuing_on_the_primary() {
    let test =
        "deploy::a_long_partition_is_ended_by_fencing_the_secondary_and_continuing_on_the_primary";
    if !can_run(test) {
        return;
    }
    let s = Stand::linked("deploy-fence", "lsfen", "10.77.6");
    s.deploy();
    write_then_cut(&s, 0xc1);
    // The secondary still runs (or is silent): continuing on the primary is refused.
    let early = s.run_with("failover", &["--to", "primary"], &QUICK_MONITOR);
    assert_eq!(early.status.code(), Some(1), "{}", text(&early));
    // Fence it (what `virsh destroy` does), then continue on the primary.
    s.b.kill_qemu(GUEST).expect("fence the secondary's QEMU");
    s.run_timed(
        "failover to the primary across the cut link",
        "failover",
        &["--to", "primary"],
        &QUICK_MONITOR,
    );
    let st = text(&s.run("status", &[]));
    assert!(st.starts_with("Not protected: need secondary"), "{st}");
    assert!(st.contains("QEMU running, COLO mode none"), "{st}");
    // The guest runs again: this write completes on the primary alone.
    guest_write(&s.a.uri, 0, 0xc2, 6 * MIB);
    s.set_link(true);
    reprotect_lose_the_primary_find_every_write(&s, &[(0xc1, 4 * MIB), (0xc2, 6 * MIB)], 0xc3);
}

/// The other way out of a partition: fence the primary and continue on the secondary, whose
/// COLO thread waits on the dead link for the next checkpoint.
#[test]
fn a_partition_is_ended_by_fencing_the_primary_and_continuing_on_the_secondary() {
    let test =
        "deploy::a_partition_is_ended_by_fencing_the_primary_and_continuing_on_the_secondary";
    if !can_run(test) {
        return;
    }
    let s = Stand::linked("deploy-fence2", "lsfe2", "10.77.7");
    s.deploy();
    write_then_cut(&s, 0xe1);
    s.a.kill_qemu(GUEST).expect("fence the primary's QEMU");
    s.run_timed(
        "failover to the secondary across the cut link",
        "failover",
        &["--to", "secondary"],
        &QUICK_MONITOR,
    );
    let st = text(&s.run("status", &[]));
    assert!(st.starts_with("Not protected: failed over"), "{st}");
    guest_write(&s.b.uri, 0, 0xe2, 6 * MIB);
    let td = s.run("teardown", &[]);
    assert!(td.status.success(), "teardown: {}", text(&td));
    assert_writes(
        &s.images[0].1,
        &[(0xe1, 4 * MIB), (0xe2, 6 * MIB)],
        "the secondary disk",
    );
}

/// Tearing a pair down while the link between its hosts is cut: both QEMUs wait on the dead
/// link (the primary's NBD client and COLO thread), and both domains and the overlays still go.
#[test]
fn a_pair_is_torn_down_while_its_link_is_cut() {
    if !can_run("deploy::a_pair_is_torn_down_while_its_link_is_cut") {
        return;
    }
    let s = Stand::linked("deploy-cutdown", "lsdwn", "10.77.8");
    s.deploy();
    s.cut_until_lost();
    s.run_timed(
        "teardown across the cut link",
        "teardown",
        &[],
        &QUICK_MONITOR,
    );
    s.assert_no_domains();
    assert!(s.overlays().is_empty(), "overlays left: {:?}", s.overlays());
}

#[test]
fn preflight_refuses_a_qemu_version_mismatch_and_changes_nothing() {
    let test = "deploy::preflight_refuses_a_qemu_version_mismatch_and_changes_nothing";
    if !can_run(test) {
        return;
    }
    let s = Stand::new("deploy-qemu-mismatch", 1, None, true);
    s.b.report_qemu_version(8_002_000)
        .expect("the secondary reports QEMU 8.2.0");
    let pf = s.run("preflight", &[]);
    let out = text(&pf);
    assert_eq!(pf.status.code(), Some(1), "{out}");
    assert!(
        out.contains("FAIL pair      same QEMU: primary has QEMU 7.2")
            && out.contains("secondary 8.2.0"),
        "{out}"
    );
    let dep = s.run("deploy", &[]);
    let out = text(&dep);
    assert_eq!(dep.status.code(), Some(1), "{out}");
    assert!(out.contains("preflight refused"), "{out}");
    assert!(out.contains("install the same QEMU on both hosts"), "{out}");
    s.assert_no_domains();
    let overlays = s.overlays();
    assert!(overlays.is_empty(), "no overlay was made: {overlays:?}");
}

#[test]
fn a_non_root_qemu_gets_its_overlays_and_preflight_names_images_it_cannot_write() {
    let test =
        "deploy::a_non_root_qemu_gets_its_overlays_and_preflight_names_images_it_cannot_write";
    if !can_run(test) {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let s = Stand::unprivileged("deploy-dac");
    let user = |what: &str| {
        let out = Command::new("id")
            .args([what, "libvirt-qemu"])
            .output()
            .expect("id");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<u32>()
            .expect("id")
    };
    let (uid, gid) = (user("-u"), user("-g"));
    // The images are root's (0644): QEMU, run as libvirt-qemu, could read but not write them.
    let pf = s.run("preflight", &[]);
    let out = text(&pf);
    assert_eq!(pf.status.code(), Some(1), "{out}");
    assert!(
        out.contains(&format!("QEMU runs as uid {uid} gid {gid}")),
        "{out}"
    );
    for (p, sec) in &s.images {
        for img in [p, sec] {
            assert!(
                out.contains(&format!("chown {uid}:{gid} {}", img.display())),
                "the fix is named for {}: {out}",
                img.display()
            );
        }
    }
    s.assert_no_domains();
    for (p, sec) in &s.images {
        for img in [p, sec] {
            std::os::unix::fs::chown(img, Some(uid), Some(gid)).expect("chown");
        }
    }
    let pf = s.run("preflight", &[]);
    assert!(pf.status.success(), "{}", text(&pf));
    s.deploy();
    // What Lockstep made on the hosts belongs to QEMU's user.
    for path in [
        s.dir.join("overlays/e2e-vm-active0.qcow2"),
        s.dir.join("overlays/e2e-vm-hidden0.qcow2"),
        s.dir.join("run-pri"),
        s.dir.join("run-sec"),
    ] {
        let m = std::fs::metadata(&path).expect("made");
        assert_eq!((m.uid(), m.gid()), (uid, gid), "{}", path.display());
    }
    // QEMU itself runs as that user.
    let pid = s.a.qemu_pid(GUEST).expect("pid");
    let st = std::fs::metadata(format!("/proc/{pid}")).expect("proc");
    assert_eq!(st.uid(), uid, "the primary's QEMU runs as libvirt-qemu");
    s.write_kill_failover_teardown();
}

#[test]
fn two_servers_asked_to_deploy_one_configuration_at_once_run_it_once() {
    let test = "deploy::two_servers_asked_to_deploy_one_configuration_at_once_run_it_once";
    need_postgres!(test);
    if !can_run(test) {
        return;
    }
    let stand = Stand::new("deploy-race", 1, None, true);
    let first = Server::start();
    let (_, cid, body) = register(&first, &stand);
    let second = first.another();
    // Both requests released together, one to each server.
    let gate = std::sync::Arc::new(std::sync::Barrier::new(2));
    let asks: Vec<_> = [&first, &second]
        .into_iter()
        .map(|server| {
            let mut dora = server.as_user("dora");
            let (gate, body) = (gate.clone(), body.clone());
            std::thread::spawn(move || {
                gate.wait();
                dora.send(
                    "POST",
                    &format!("/api/v1/configurations/{cid}/deployments"),
                    &body,
                )
                .expect("deploy")
            })
        })
        .collect();
    let answers: Vec<_> = asks
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    let mut codes: Vec<u16> = answers.iter().map(|r| r.status).collect();
    codes.sort();
    assert_eq!(
        codes,
        [202, 409],
        "{:?}",
        answers.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    let accepted = answers
        .iter()
        .find(|r| r.status == 202)
        .expect("one accepted");
    let refused = answers
        .iter()
        .find(|r| r.status == 409)
        .expect("one refused");
    let did = accepted.json()["id"].as_i64().expect("id");
    assert_eq!(
        refused.json()["details"]["deployment_id"],
        did,
        "{}",
        refused.body
    );
    let mut dora = second.as_user("dora");
    let d = ended(&mut dora, did);
    assert_eq!(d["state"], "protected", "{d:#}\n{}", stand.logs());
    let listed = dora
        .get(&format!("/api/v1/configurations/{cid}/deployments"))
        .expect("list")
        .json();
    assert_eq!(listed["deployments"].as_array().map(Vec::len), Some(1));
    let r = act(&mut dora, did, "teardown");
    assert_eq!(r.status, 200, "{}", r.body);
    stand.assert_no_domains();
}

#[test]
fn the_cli_reprotects_onto_another_host_with_an_edited_document() {
    let test = "deploy::the_cli_reprotects_onto_another_host_with_an_edited_document";
    if !can_run(test) {
        return;
    }
    let s = Stand::new("deploy-cli-replace", 1, None, true);
    s.deploy();
    guest_write(&s.a.uri, 0, 0xe1, 4 * MIB);
    std::thread::sleep(Duration::from_millis(1000));
    s.b.kill_qemu(GUEST).expect("kill the secondary's QEMU");
    s.status_until("Not protected: lost connection", &[]);
    let fo = s.run("failover", &["--to", "primary"]);
    assert!(fo.status.success(), "failover: {}\n{}", text(&fo), s.logs());
    // The secondary's host is gone for good: the document names a third host in its place.
    let c = lockstep_tests::libvirtd::Libvirtd::start(&s.dir.join("host-c")).expect("host c");
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&s.file).expect("read")).expect("json");
    doc["hosts"]["secondary"]["name"] = json!("host-c");
    doc["hosts"]["secondary"]["address"] = json!("127.0.0.3");
    let edited = s.dir.join("vm-host-c.json");
    std::fs::write(&edited, serde_json::to_string_pretty(&doc).expect("json")).expect("write");
    let edited = edited.to_str().expect("utf-8").to_owned();
    let on_c = |cmd: &str, extra: &[&str]| {
        let mut args = vec![cmd, edited.as_str()];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--primary", &s.a.uri, "--secondary", &c.uri]);
        lockstep(&args)
    };
    guest_write(&s.a.uri, 0, 0xe2, 6 * MIB);
    let rp = on_c("reprotect", &[]);
    assert!(
        rp.status.success(),
        "reprotect: {}\n{}",
        text(&rp),
        s.logs()
    );
    let st = on_c("status", &[]);
    assert!(text(&st).starts_with("Protected\n"), "{}", text(&st));
    assert!(
        text(&st).contains(&format!("secondary on {}", c.uri)),
        "{}",
        text(&st)
    );
    // The lost host's stopped domain is cleaned up; the running primary is never touched.
    let refused = lockstep(&["forget-host", edited.as_str(), "--host", &s.a.uri]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(text(&refused).contains("still runs"), "{}", text(&refused));
    let forgot = lockstep(&["forget-host", edited.as_str(), "--host", &s.b.uri]);
    assert!(forgot.status.success(), "{}", text(&forgot));
    let left = Command::new("virsh")
        .args(["-c", &s.b.uri, "list", "--all", "--name"])
        .output()
        .expect("virsh");
    assert_eq!(String::from_utf8_lossy(&left.stdout).trim(), "");
    guest_write(&s.a.uri, 0, 0xe3, 8 * MIB);
    std::thread::sleep(Duration::from_millis(1000));
    s.a.kill_qemu(GUEST).expect("kill the primary's QEMU");
    until(20, "lost connection", || {
        text(&on_c("status", &[]))
            .starts_with("Not protected: lost connection")
            .then_some(())
    });
    let fo = on_c("failover", &["--to", "secondary"]);
    assert!(fo.status.success(), "failover: {}", text(&fo));
    let td = on_c("teardown", &[]);
    assert!(td.status.success(), "teardown: {}", text(&td));
    assert_writes(
        &s.images[0].1,
        &[(0xe1, 4 * MIB), (0xe2, 6 * MIB), (0xe3, 8 * MIB)],
        "the secondary disk, written by the third host",
    );
}

#[test]
fn a_configuration_is_not_deployed_again_while_a_teardown_cleans_up_after_it() {
    let test = "deploy::a_configuration_is_not_deployed_again_while_a_teardown_cleans_up_after_it";
    need_postgres!(test);
    use std::os::unix::net::UnixListener;
    let server = Server::start();
    server.create_user("ops", "deployer", "dora");
    let mut dora = server.as_user("dora");
    // Two "hosts" whose libvirt accepts connections and never answers: a teardown there waits.
    let tmp = lockstep_tests::TempDir::new("silent");
    let dir = tmp.path();
    let doc = common::corpus("one-disk-qcow2");
    let silent: Vec<(UnixListener, i64)> = ["primary", "secondary"]
        .into_iter()
        .map(|side| {
            let sock = dir.join(format!("{side}.sock"));
            let _ = std::fs::remove_file(&sock);
            let listener = UnixListener::bind(&sock).expect("bind");
            listener.set_nonblocking(true).expect("nonblocking");
            let uri = format!("qemu+unix:///system?socket={}", sock.display());
            let address = doc["hosts"][side]["address"].as_str().expect("address");
            let id =
                common::register_host(&mut dora, "ops", &format!("silent-{side}"), &uri, address);
            (listener, id)
        })
        .collect();
    let r = common::create_configuration(&mut dora, "ops", "vm1", &doc);
    assert_eq!(r.status, 201, "{}", r.body);
    let cid = r.json()["id"].as_i64().expect("id");
    // A deploy that failed and could not remove what it made (its hosts did not answer).
    let out = server.sql(&format!(
        "INSERT INTO deployments (team_id, configuration_id, version, primary_host_id, \
         secondary_host_id, primary_uri, secondary_uri, state, created_by_name) \
         SELECT c.team_id, c.id, 1, p.id, s.id, p.libvirt_uri, s.libvirt_uri, 'failed', 'dora' \
         FROM configurations c, hosts p, hosts s WHERE c.id = {cid} AND p.id = {} AND s.id = {} \
         RETURNING id",
        silent[0].1, silent[1].1
    ));
    let failed: i64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("deployment id");
    let mut cleaner = server.as_user("dora");
    let cleanup = std::thread::spawn(move || act(&mut cleaner, failed, "teardown"));
    // The cleanup is under way once it has reached the primary's host.
    let conn = until(30, "the teardown connects to the primary's host", || {
        silent[0].0.accept().ok().map(|(c, _)| c)
    });
    let body =
        json!({"version": 1, "primary_host_id": silent[0].1, "secondary_host_id": silent[1].1});
    let deploy = |c: &mut lockstep_tests::http::Client| {
        c.send(
            "POST",
            &format!("/api/v1/configurations/{cid}/deployments"),
            &body,
        )
        .expect("deploy")
    };
    let r = deploy(&mut dora);
    assert_eq!(
        r.status, 409,
        "deploying while the cleanup runs: {}",
        r.body
    );
    assert!(
        r.body
            .contains(&format!("a teardown of failed deployment {failed}")),
        "{}",
        r.body
    );
    // The host goes away: the cleanup ends, and the configuration deploys again.
    drop(conn);
    drop(silent);
    let r = cleanup.join().expect("thread");
    eprintln!("the cleanup ended: {} {}", r.status, r.body);
    let r = deploy(&mut dora);
    assert_eq!(r.status, 202, "{}", r.body);
}
