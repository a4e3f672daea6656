//! Test harness: one private Postgres cluster per test binary (stopped by a watchdog when the
//! binary exits), a fresh database per test, and the real `lockstep serve` on a free port.

#![allow(dead_code)]

pub mod stand;

use lockstep_backend::pg::LocalPostgres;
use lockstep_tests::http::Client;
use lockstep_tests::{skip, TempDir};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

pub const PASSWORD: &str = "correct horse battery";

struct Cluster {
    pg: LocalPostgres,
}

fn cluster() -> &'static Cluster {
    static C: OnceLock<Cluster> = OnceLock::new();
    C.get_or_init(|| {
        let dir = TempDir::new("pg");
        let pg = LocalPostgres::start(&dir.path().join("pg")).expect("start a private Postgres");
        // Stop the cluster when this test process ends (statics are never dropped).
        let stop = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {}; rm -rf '{}'",
            pg.stop_command(),
            dir.path().display(),
            pid = std::process::id()
        );
        // Never waited for on purpose: the watchdog must outlive this process.
        #[allow(clippy::zombie_processes)]
        Command::new("sh")
            .arg("-c")
            .arg(stop)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the cluster watchdog");
        // The watchdog removes the folder; keep TempDir from racing it.
        std::mem::forget(dir);
        Cluster { pg }
    })
}

/// Whether Postgres can run here; records a skip otherwise.
pub fn have_postgres(test: &str) -> bool {
    if lockstep_backend::pg::available() {
        return true;
    }
    skip(
        test,
        "postgres",
        "the postgresql server package is not installed",
    );
    false
}

/// Restarts this test binary's Postgres cluster.
pub fn restart_postgres() {
    cluster().pg.restart().expect("restart Postgres");
}

pub fn psql(db: &str, sql: &str) -> std::process::Output {
    let c = cluster();
    Command::new("psql")
        .args(["-h"])
        .arg(&c.pg.socket_dir)
        .args([
            "-U",
            &c.pg.user,
            "-d",
            db,
            "-v",
            "ON_ERROR_STOP=1",
            "-qAt",
            "-c",
            sql,
        ])
        .output()
        .expect("run psql")
}

pub struct Server {
    child: Child,
    pub addr: String,
    pub db: String,
    pub url: String,
    static_dir: std::path::PathBuf,
    _static: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `lockstep serve` on `url`; returns it with the address it listens on.
fn spawn_server(url: &str, static_dir: Option<&std::path::Path>) -> (Child, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lockstep"));
    c.args(["serve", "--bind", "127.0.0.1:0"]);
    match static_dir {
        Some(d) => {
            c.arg("--static-dir").arg(d);
        }
        // The app built into the binary, run from a folder that has no dist/.
        None => {
            c.current_dir(std::env::temp_dir());
        }
    }
    c.env("DATABASE_URL", url)
        .env("LOCKSTEP_LOG", "warn")
        .stderr(Stdio::inherit());
    listening(c)
}

/// Starts a `lockstep serve` command and returns it with the address it listens on, once it
/// does (its stdout is read, and drained afterwards so it never blocks on a full pipe).
pub fn listening(mut serve: Command) -> (Child, String) {
    let mut child = serve
        .stdout(Stdio::piped())
        .spawn()
        .expect("start lockstep serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("server exited before listening")
            .expect("read stdout");
        if let Some(rest) = line.strip_prefix("lockstep: listening on http://") {
            break rest.trim_end_matches('/').to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

impl Server {
    /// A fresh database and a server on it.
    pub fn start() -> Server {
        Server::start_serving(None)
    }

    /// Like [`start`](Self::start), serving `static_dir` as the web app.
    pub fn start_serving(static_dir: Option<&std::path::Path>) -> Server {
        static N: AtomicU32 = AtomicU32::new(0);
        let c = cluster();
        let db = format!(
            "t{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let out = psql("postgres", &format!("CREATE DATABASE {db}"));
        assert!(
            out.status.success(),
            "create db: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = format!(
            "postgres:///{db}?host={}&user={}",
            c.pg.socket_dir.display(),
            c.pg.user
        );
        let st = TempDir::new("static");
        std::fs::write(st.path().join("index.html"), "<!doctype html>").expect("index");
        let static_dir = static_dir.unwrap_or(st.path()).to_owned();
        let (child, addr) = spawn_server(&url, Some(&static_dir));
        Server {
            child,
            addr,
            db,
            url,
            static_dir,
            _static: st,
        }
    }

    /// Another server on the same database, serving the web app built into the binary.
    pub fn with_embedded_app(&self) -> Server {
        self.sibling(None)
    }

    /// Another server on the same database (as when several instances share one Postgres).
    pub fn another(&self) -> Server {
        self.sibling(Some(&self.static_dir))
    }

    fn sibling(&self, static_dir: Option<&std::path::Path>) -> Server {
        let st = TempDir::new("static");
        let (child, addr) = spawn_server(&self.url, static_dir);
        Server {
            child,
            addr,
            db: self.db.clone(),
            url: self.url.clone(),
            static_dir: self.static_dir.clone(),
            _static: st,
        }
    }

    /// Stops the server and starts a new one on the same database (at a new address).
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, addr) = spawn_server(&self.url, Some(&self.static_dir));
        self.child = child;
        self.addr = addr;
    }

    /// `lockstep` with this server's database.
    pub fn lockstep(&self, args: &[&str], password: Option<&str>) -> std::process::Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_lockstep"));
        c.args(args).env("DATABASE_URL", &self.url);
        if let Some(p) = password {
            c.env("LOCKSTEP_PASSWORD", p);
        }
        c.output().expect("run lockstep")
    }

    /// `lockstep audit verify` on this server's database, which must pass; its output.
    pub fn assert_audit_intact(&self) -> std::process::Output {
        let o = self.lockstep(&["audit", "verify"], None);
        assert!(
            o.status.success(),
            "audit verify failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o
    }

    pub fn create_user(&self, team: &str, role: &str, user: &str) {
        let o = self.lockstep(
            &["admin", "create-user", "--team", team, "--role", role, user],
            Some(PASSWORD),
        );
        assert!(
            o.status.success(),
            "create-user: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    pub fn client(&self) -> Client {
        Client::new(&self.addr)
    }

    /// A logged-in client.
    pub fn as_user(&self, user: &str) -> Client {
        let mut c = self.client();
        let r = c.login(user, PASSWORD).expect("login");
        assert_eq!(r.status, 200, "login {user}: {}", r.body);
        c
    }

    pub fn sql(&self, sql: &str) -> std::process::Output {
        psql(&self.db, sql)
    }
}

/// Returns from the test (a counted skip, see [`have_postgres`]) when there is no Postgres.
#[allow(unused_macros)]
macro_rules! need_postgres {
    ($name:expr) => {
        if !crate::common::have_postgres($name) {
            return;
        }
    };
}

/// `POST /api/v1/teams/{team}/configurations` with a name and a document.
pub fn create_configuration(
    c: &mut lockstep_tests::http::Client,
    team: &str,
    name: &str,
    document: &serde_json::Value,
) -> lockstep_tests::http::Response {
    c.send(
        "POST",
        &format!("/api/v1/teams/{team}/configurations"),
        &serde_json::json!({"name": name, "document": document}),
    )
    .expect("create a configuration")
}

/// Registers a host in `team` (the caller may manage hosts); gives its id.
pub fn register_host(
    c: &mut lockstep_tests::http::Client,
    team: &str,
    name: &str,
    libvirt_uri: &str,
    address: &str,
) -> i64 {
    let r = c
        .send(
            "POST",
            &format!("/api/v1/teams/{team}/hosts"),
            &serde_json::json!({"name": name, "libvirt_uri": libvirt_uri, "address": address}),
        )
        .expect("register a host");
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["id"].as_i64().expect("host id")
}

/// The `action` of each event of an audit page, newest first.
pub fn actions(page: &serde_json::Value) -> Vec<&str> {
    page["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect()
}

/// Each element of the JSON array `items` as one line: the values at the JSON pointers
/// `fields`, separated by spaces (strings as they are, a missing value or null as `-`).
pub fn lines(items: &serde_json::Value, fields: &[&str]) -> Vec<String> {
    items
        .as_array()
        .expect("an array")
        .iter()
        .map(|item| {
            let field = |p: &&str| match item.pointer(p) {
                Some(serde_json::Value::String(s)) => s.clone(),
                None | Some(serde_json::Value::Null) => "-".to_owned(),
                Some(v) => v.to_string(),
            };
            fields.iter().map(field).collect::<Vec<_>>().join(" ")
        })
        .collect()
}

/// A valid document from the golden corpus.
pub fn corpus(case: &str) -> serde_json::Value {
    let p = lockstep_tests::workspace_root()
        .join("test-data")
        .join(case)
        .join("input.json");
    serde_json::from_str(&std::fs::read_to_string(p).expect("corpus")).expect("json")
}
