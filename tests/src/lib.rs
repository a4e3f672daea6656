//! Helpers for Lockstep's end-to-end tests: a QMP client, a plan driver that carries out
//! `plan.json` steps against real QEMU processes, and the skip bookkeeping.
//!
//! A test that cannot run here (no `/dev/kvm`, no QEMU) calls [`skip`], which records the reason
//! for the suite's summary; when the test script set `LOCKSTEP_REQUIRE=<what>`, a missing
//! requirement fails the test instead, so CI cannot pass by skipping on a capable machine.

pub mod colo;
pub mod driver;
pub mod http;
pub mod libvirtd;
pub mod qmp;
pub mod schema;
pub mod webdriver;

use std::io::Write;
use std::path::{Path, PathBuf};

/// Records a skipped test and says why; panics instead when the requirement is mandatory here.
pub fn skip(test: &str, requirement: &str, missing: &str) {
    let required = std::env::var("LOCKSTEP_REQUIRE").unwrap_or_default();
    if required.split(',').any(|r| r.trim() == requirement) {
        panic!("{test}: {missing}, but LOCKSTEP_REQUIRE says this machine has {requirement}");
    }
    let line = format!("SKIP {test}: {missing}");
    eprintln!("{line}");
    if let Ok(log) = std::env::var("LOCKSTEP_SKIP_LOG") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// Whether a program is on PATH.
pub fn have_program(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false)
}

/// Whether KVM can be opened.
pub fn have_kvm() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

/// A fresh directory, removed on drop unless `LOCKSTEP_KEEP_TMP` is set.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("ls-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("LOCKSTEP_KEEP_TMP").is_none() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A TCP port that was free a moment ago on loopback.
pub fn free_port() -> u32 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    u32::from(l.local_addr().expect("local addr").port())
}

/// The workspace root (for `test-data/` and the built binary).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Runs a command to its end like `Command::output`, but gives up after `limit`: the command is
/// killed and the error carries what it printed so far. A test stuck on a hung child fails
/// naming the command instead of holding the suite until CI's limit.
pub fn output_within(
    cmd: &mut std::process::Command,
    limit: std::time::Duration,
) -> Result<std::process::Output, String> {
    use std::io::Read;
    use std::process::Stdio;
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{what}: {e}"))?;
    fn drain<R: Read + Send + 'static>(r: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    }
    let (out, err) = (drain(child.stdout.take()), drain(child.stderr.take()));
    let status = wait_within(&mut child, limit).map_err(|e| format!("{what}: {e}"))?;
    let (stdout, stderr) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    match status {
        Some(status) => Ok(std::process::Output {
            status,
            stdout,
            stderr,
        }),
        None => Err(format!(
            "{what} did not end within {limit:?}; killed. It printed:\n{}{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        )),
    }
}

/// Waits for a child to end, up to `limit`: its exit status, or `None` when it did not end in
/// time (it is then killed and reaped).
pub fn wait_within(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> std::io::Result<Option<std::process::ExitStatus>> {
    let start = std::time::Instant::now();
    loop {
        if let Some(st) = child.try_wait()? {
            return Ok(Some(st));
        }
        if start.elapsed() >= limit {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
