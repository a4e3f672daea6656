//! A stand for deploy tests: two private libvirtds (each in its own mount namespace), fresh
//! images and the standard pair's document over them, and the `lockstep` binary run against
//! them; also registering the stand with a server's API.

use super::Server;
use lockstep_shared::model::Storage;
use lockstep_shared::wizard::NicSpec;
use lockstep_tests::colo::{pair_document, write_pattern, MIB};
use lockstep_tests::libvirtd::{self, Libvirtd};
use lockstep_tests::{have_kvm, have_program, output_within, skip, TempDir};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

pub const LEN: u64 = 65536;
pub const GUEST: &str = "e2e-vm";

/// Skips (or fails, where required) unless KVM, libvirtd and QEMU are here.
pub fn can_run(test: &str) -> bool {
    if !have_kvm() {
        skip(test, "kvm", "/dev/kvm is missing or not usable");
        return false;
    }
    if let Err(why) = libvirtd::available() {
        skip(test, "libvirtd", &why);
        return false;
    }
    for p in ["qemu-system-x86_64", "qemu-img", "qemu-io", "virsh"] {
        if !have_program(p) {
            skip(test, "libvirtd", &format!("{p} is not installed"));
            return false;
        }
    }
    true
}

/// The longest one `lockstep` run may take here: a deploy takes seconds, the slowest under a
/// loaded CI machine well under a minute. libvirt waits for QEMU's monitor without a limit, so a
/// hung QEMU would otherwise hold the test (and CI) until it is killed from outside.
const CLI_LIMIT: Duration = Duration::from_secs(240);

fn try_lockstep<S: AsRef<std::ffi::OsStr>>(
    args: &[S],
    env: &[(&str, &str)],
) -> Result<Output, String> {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lockstep"));
    c.args(args).envs(env.iter().copied());
    output_within(&mut c, CLI_LIMIT)
}

pub fn lockstep<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    try_lockstep(args, &[]).unwrap_or_else(|e| panic!("{e}"))
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Two hosts, started side by side (each spends seconds probing QEMU at its first call).
pub fn two_hosts(dir: &Path) -> (Libvirtd, Libvirtd) {
    let (a, b) = (dir.join("host-a"), dir.join("host-b"));
    let second = std::thread::spawn(move || Libvirtd::start(&b));
    let first = Libvirtd::start(&a).expect("start the primary's libvirtd");
    let second = second
        .join()
        .expect("thread")
        .expect("start the secondary's libvirtd");
    (first, second)
}

pub fn image(path: &Path) {
    let st = Command::new("qemu-img")
        .args(["create", "-q", "-f", "raw"])
        .arg(path)
        .arg((64 * MIB).to_string())
        .status()
        .expect("qemu-img");
    assert!(st.success());
}

/// How a stand's two hosts run.
#[derive(Clone, Copy)]
enum Hosts<'a> {
    /// Each in a mount namespace, on the machine's network.
    Plain,
    /// Each in its own network namespace too, joined by a veth pair (name, `a.b.c` net).
    Linked(&'a str, &'a str),
    /// Like `Plain`, with QEMU run as `libvirt-qemu`.
    Unprivileged,
}

/// Two hosts and a document over fresh images: the primary's images seeded with a pattern per
/// disk, the secondary's empty.
pub struct Stand {
    // Fields drop in this order: both hosts (and their QEMUs) before their folder.
    pub a: Libvirtd,
    pub b: Libvirtd,
    _tmp: TempDir,
    pub dir: PathBuf,
    pub file: String,
    /// (primary, secondary) image per disk.
    pub images: Vec<(PathBuf, PathBuf)>,
    /// The veth pair's name between linked hosts (`LINKa`, `LINKb`).
    link: Option<String>,
}

/// A short monitor limit for commands to a QEMU that may not answer (stopped, or a secondary
/// cut off while loading a checkpoint, silent until the link returns): each would wait 30 s.
pub const QUICK_MONITOR: [(&str, &str); 1] = [("LOCKSTEP_MONITOR_TIMEOUT_MS", "1500")];

impl Stand {
    pub fn new(tag: &str, disks: usize, nic: Option<NicSpec>, secondary_images: bool) -> Stand {
        Stand::build(tag, disks, nic, secondary_images, Hosts::Plain)
    }

    /// Two hosts whose libvirt runs QEMU as `libvirt-qemu` (the DAC driver, as on a stock
    /// Debian host); the images stay root's until a test hands them over.
    pub fn unprivileged(tag: &str) -> Stand {
        Stand::build(tag, 1, None, true, Hosts::Unprivileged)
    }

    /// Two hosts each in a network namespace of its own, joined by a veth pair named `link`
    /// (`LINKa` on the primary, `LINKb` on the secondary), with the addresses `net.1` and
    /// `net.2` (`net` like `10.77.3`): replication crosses a link a test can cut.
    pub fn linked(tag: &str, link: &str, net: &str) -> Stand {
        Stand::build(tag, 1, None, true, Hosts::Linked(link, net))
    }

    fn build(
        tag: &str,
        disks: usize,
        nic: Option<NicSpec>,
        secondary_images: bool,
        hosts: Hosts,
    ) -> Stand {
        let tmp = TempDir::new(tag);
        let dir = tmp.path().to_path_buf();
        let images: Vec<(PathBuf, PathBuf)> = (0..disks)
            .map(|i| (dir.join(format!("p{i}.img")), dir.join(format!("s{i}.img"))))
            .collect();
        for (i, (p, s)) in images.iter().enumerate() {
            image(p);
            write_pattern(p, 0x11 + i as u8, MIB, LEN).expect("seed the primary image");
            if secondary_images {
                image(s);
            }
        }
        let refs: Vec<(&Path, &Path)> = images
            .iter()
            .map(|(p, s)| (p.as_path(), s.as_path()))
            .collect();
        let mut doc = pair_document(&dir, nic, &refs, Storage::File);
        doc.guest.name = GUEST.to_owned();
        if let Hosts::Linked(_, net) = hosts {
            doc.hosts.primary.address = format!("{net}.1");
            doc.hosts.secondary.address = format!("{net}.2");
        }
        let file = dir.join("vm.json");
        std::fs::write(&file, serde_json::to_string_pretty(&doc).expect("json")).expect("write");
        let file = file.to_str().expect("utf-8 path").to_owned();
        let link = match hosts {
            Hosts::Linked(link, _) => Some(link.to_owned()),
            _ => None,
        };
        let (a, b) = match hosts {
            Hosts::Plain => two_hosts(&dir),
            Hosts::Unprivileged => (
                Libvirtd::start_unprivileged(&dir.join("host-a")).expect("primary libvirtd"),
                Libvirtd::start_unprivileged(&dir.join("host-b")).expect("secondary libvirtd"),
            ),
            Hosts::Linked(link, net) => {
                let a = Libvirtd::start_isolated(&dir.join("host-a")).expect("primary libvirtd");
                let b = Libvirtd::start_isolated(&dir.join("host-b")).expect("secondary libvirtd");
                libvirtd::link(&a, &b, link, &format!("{net}.1"), &format!("{net}.2"))
                    .expect("link the hosts");
                (a, b)
            }
        };
        Stand {
            _tmp: tmp,
            dir,
            a,
            b,
            file,
            images,
            link,
        }
    }

    /// Takes the secondary's end of the link between linked hosts down (both QEMUs keep
    /// running) or up again.
    pub fn set_link(&self, up: bool) {
        let link = self.link.as_deref().expect("a stand made by Stand::linked");
        let state = if up { "up" } else { "down" };
        self.b
            .ip(&["link", "set", &format!("{link}b"), state])
            .unwrap_or_else(|e| panic!("set the link {state}: {e}"));
    }

    /// Waits for `lockstep status` (run with `env`) to say `want`; gives its output.
    pub fn status_until(&self, want: &str, env: &[(&str, &str)]) -> String {
        let start = std::time::Instant::now();
        loop {
            let last = text(&self.run_with("status", &[], env));
            if last.starts_with(want) {
                return last;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "timed out waiting for {want:?}; the last status:\n{last}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Cuts the link and waits for the status (read with [`QUICK_MONITOR`]) to say "lost
    /// connection"; gives what it said.
    pub fn cut_until_lost(&self) -> String {
        self.set_link(false);
        let start = std::time::Instant::now();
        let st = self.status_until("Not protected: lost connection", &QUICK_MONITOR);
        eprintln!(
            "link cut; lost connection after {:?}:\n{st}",
            start.elapsed()
        );
        st
    }

    /// The files left in the overlays' folder.
    pub fn overlays(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.dir.join("overlays"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }

    /// `lockstep CMD FILE [EXTRA] --primary A --secondary B`.
    pub fn run(&self, cmd: &str, extra: &[&str]) -> Output {
        self.run_with(cmd, extra, &[])
    }

    /// Like [`Stand::run`], with these environment variables set.
    pub fn run_with(&self, cmd: &str, extra: &[&str], env: &[(&str, &str)]) -> Output {
        let mut args = vec![cmd, self.file.as_str()];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--primary", &self.a.uri, "--secondary", &self.b.uri]);
        try_lockstep(&args, env).unwrap_or_else(|e| panic!("{e}\n{}", self.logs()))
    }

    /// Like [`Stand::run_with`], and asserts that it succeeded (with both hosts' logs when
    /// not); prints how long it took, as `what`, and what it said.
    pub fn run_timed(&self, what: &str, cmd: &str, extra: &[&str], env: &[(&str, &str)]) -> Output {
        let t = std::time::Instant::now();
        let out = self.run_with(cmd, extra, env);
        eprintln!("{what}: {:?}\n{}", t.elapsed(), text(&out));
        assert!(
            out.status.success(),
            "{what}: {}\n{}",
            text(&out),
            self.logs()
        );
        out
    }

    pub fn logs(&self) -> String {
        format!("primary:\n{}\nsecondary:\n{}", self.a.log(), self.b.log())
    }

    pub fn assert_no_domains(&self) {
        for h in [&self.a, &self.b] {
            let list = Command::new("virsh")
                .args(["-c", &h.uri, "list", "--all", "--name"])
                .output()
                .expect("virsh");
            assert_eq!(
                String::from_utf8_lossy(&list.stdout).trim(),
                "",
                "no domain left on {}",
                h.uri
            );
        }
    }
}

/// Registers the stand's two hosts and the document with the API as `dora` (a deployer);
/// gives the configuration id and the deploy request body.
pub fn register(
    server: &Server,
    stand: &Stand,
) -> (lockstep_tests::http::Client, i64, serde_json::Value) {
    server.create_user("ops", "deployer", "dora");
    let mut dora = server.as_user("dora");
    let host_ids: Vec<i64> = [
        ("host-a", &stand.a.uri, "127.0.0.1"),
        ("host-b", &stand.b.uri, "127.0.0.2"),
    ]
    .into_iter()
    .map(|(name, uri, address)| super::register_host(&mut dora, "ops", name, uri, address))
    .collect();
    // The document gives each side the address its host is registered at (the server refuses
    // a host the document does not name); the stand's file says the same.
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stand.file).expect("read")).expect("json");
    doc["hosts"]["primary"]["address"] = json!("127.0.0.1");
    doc["hosts"]["secondary"]["address"] = json!("127.0.0.2");
    std::fs::write(
        &stand.file,
        serde_json::to_string_pretty(&doc).expect("json"),
    )
    .expect("write");
    let r = super::create_configuration(&mut dora, "ops", "api pair", &doc);
    assert_eq!(r.status, 201, "{}", r.body);
    let cid = r.json()["id"].as_i64().expect("id");
    let body =
        json!({"version": 1, "primary_host_id": host_ids[0], "secondary_host_id": host_ids[1]});
    (dora, cid, body)
}
