//! `lockstep serve` with no `DATABASE_URL`: it starts a private Postgres cluster in its data
//! folder, and when it is stopped (SIGTERM, as a service manager or Ctrl-C does) it exits
//! cleanly and stops that cluster.

#[macro_use]
mod common;

use lockstep_tests::http::Client;
use lockstep_tests::TempDir;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

#[test]
fn a_server_on_its_own_cluster_stops_cleanly_and_stops_the_cluster() {
    need_postgres!("serve::a_server_on_its_own_cluster_stops_cleanly_and_stops_the_cluster");
    let dir = TempDir::new("serve");
    // As root the cluster runs as the postgres user, which must reach the data folder.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let web = dir.path().join("static");
    std::fs::create_dir_all(&web).expect("static");
    std::fs::write(web.join("index.html"), "<!doctype html>").expect("index");
    let data = dir.path().join("data");
    let mut serve = Command::new(env!("CARGO_BIN_EXE_lockstep"));
    serve
        .args(["serve", "--bind", "127.0.0.1:0", "--static-dir"])
        .arg(&web)
        .arg("--data-dir")
        .arg(&data)
        .env_remove("DATABASE_URL")
        .env("LOCKSTEP_LOG", "warn")
        .stderr(Stdio::piped());
    let (mut child, addr) = common::listening(serve);
    let pid_file = data.join("postgres").join("data").join("postmaster.pid");
    assert!(pid_file.is_file(), "the private cluster is not running");
    let r = Client::new(&addr).get("/healthz").expect("healthz");
    assert_eq!(r.status, 200, "{}", r.body);

    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let mut stderr = String::new();
    let _ = child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr);
    let status = child.wait().expect("wait");
    assert!(
        status.success(),
        "the server did not exit cleanly ({status}): {stderr}"
    );
    assert!(!pid_file.exists(), "the private cluster still runs");
}
