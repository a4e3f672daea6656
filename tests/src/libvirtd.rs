//! A private libvirtd per test "host": its own mount namespace, with private `/run`,
//! `/etc/libvirt`, `/var/lib/libvirt`, `/var/cache/libvirt` and `/var/log/libvirt` bind-mounted
//! from a folder of the test, so two of them on one machine do not see each other's domains.
//! Reached from outside with `qemu+unix:///system?socket=<folder>/run/libvirt/libvirt-sock`.
//!
//! Needs root, `unshare` and libvirtd (Debian's `libvirt-daemon` and
//! `libvirt-daemon-driver-qemu`, and the `libvirt-qemu` user, which libvirtd looks up before
//! reading `qemu.conf`). QEMU runs as root with no security driver (lab.md).

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SCRIPT: &str = r#"set -euo pipefail
R="$1"
mount --make-rprivate /
dirs="run var/lib/libvirt var/cache/libvirt var/log/libvirt etc/libvirt"
for d in $dirs; do mkdir -p "$R/$d"; done
cp -a /etc/libvirt/. "$R/etc/libvirt/"
cat > "$R/etc/libvirt/qemu.conf" <<'EOF'
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
EOF
cat > "$R/etc/libvirt/libvirtd.conf" <<'EOF'
listen_tls = 0
listen_tcp = 0
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
EOF
for d in $dirs; do mkdir -p "/$d"; mount --bind "$R/$d" "/$d"; done
libvirtd -d -f /etc/libvirt/libvirtd.conf -p /run/libvirtd.pid
touch "$R/ready"
# Until the process that started this host goes away (its end of our stdin closes, even when
# it is killed): then end every process in this mount namespace (libvirtd and its QEMUs) but
# this script and unshare, its parent, which end with it.
read -r _ || true
me="$(readlink /proc/$$/ns/mnt)"
for p in /proc/[0-9]*; do
    pid="${p#/proc/}"
    if [ "$pid" != "$$" ] && [ "$pid" != "$PPID" ] \
        && [ "$(readlink "$p/ns/mnt" 2>/dev/null || true)" = "$me" ]; then
        kill -9 "$pid" 2>/dev/null || true
    fi
done
"#;

/// Whether this machine can run a private libvirtd; `Err` says what is missing.
pub fn available() -> std::result::Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective user.
    if std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1)
        != 0
    {
        return Err("not root (a private libvirtd needs a mount namespace)".to_owned());
    }
    for p in ["unshare", "nsenter", "ip", "libvirtd", "mount"] {
        if !crate::have_program(p) && !Path::new("/usr/sbin").join(p).is_file() {
            return Err(format!("{p} is not installed"));
        }
    }
    if !Path::new("/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so")
        .is_file()
    {
        return Err(
            "libvirt's QEMU driver is not installed (libvirt-daemon-driver-qemu)".to_owned(),
        );
    }
    let users = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    if !users.lines().any(|l| l.starts_with("libvirt-qemu:")) {
        return Err("the libvirt-qemu user is missing (libvirtd looks it up at start)".to_owned());
    }
    Ok(())
}

/// One running libvirtd in its namespace; stopped on drop, with every QEMU it started.
pub struct Libvirtd {
    root: PathBuf,
    keeper: Child,
    pub uri: String,
}

impl Libvirtd {
    /// Starts a libvirtd whose private folders live under `root`, and waits until it answers
    /// (the first answer takes seconds: libvirtd probes QEMU's capabilities).
    pub fn start(root: &Path) -> Result<Libvirtd> {
        Libvirtd::start_in(root, false)
    }

    /// Like [`start`](Self::start), in a network namespace of its own too (only `lo` until
    /// [`link`] joins two of them).
    pub fn start_isolated(root: &Path) -> Result<Libvirtd> {
        Libvirtd::start_in(root, true)
    }

    /// Like [`start`](Self::start), with QEMU run as `libvirt-qemu` by libvirt's DAC driver
    /// (as on a stock Debian host). The namespace gets its own `/dev/kvm` node, group
    /// `libvirt-qemu`, mode 0660 (this machine's is root's only; Debian's is group `kvm`, which
    /// libvirt-qemu belongs to); nothing outside the namespace changes.
    pub fn start_unprivileged(root: &Path) -> Result<Libvirtd> {
        let script = SCRIPT
            .replace(
                "user = \"root\"\ngroup = \"root\"\ndynamic_ownership = 0\n",
                "user = \"libvirt-qemu\"\ngroup = \"libvirt-qemu\"\ndynamic_ownership = 1\n",
            )
            .replace(
                "mount --make-rprivate /",
                "mount --make-rprivate /\nmkdir -p \"$R/dev\"\n\
                 mount -t tmpfs -o mode=0755 lockstep-dev \"$R/dev\"\n\
                 mknod \"$R/dev/kvm\" c 10 232\n\
                 chgrp libvirt-qemu \"$R/dev/kvm\"\nchmod 0660 \"$R/dev/kvm\"\n\
                 mount --bind \"$R/dev/kvm\" /dev/kvm",
            );
        if !script.contains("user = \"libvirt-qemu\"") {
            bail!("the qemu.conf template changed");
        }
        Libvirtd::start_script(root, false, &script)
    }

    fn start_in(root: &Path, net: bool) -> Result<Libvirtd> {
        let script = SCRIPT.replace(
            "mount --make-rprivate /",
            if net {
                "mount --make-rprivate /\nip link set lo up"
            } else {
                "mount --make-rprivate /"
            },
        );
        Libvirtd::start_script(root, net, &script)
    }

    fn start_script(root: &Path, net: bool, script_text: &str) -> Result<Libvirtd> {
        std::fs::create_dir_all(root)?;
        let script = root.join("namespace.sh");
        std::fs::write(&script, script_text)?;
        let log = std::fs::File::create(root.join("namespace.log"))?;
        let mut unshare = Command::new("unshare");
        unshare.arg("--mount");
        if net {
            unshare.arg("--net");
        }
        let keeper = unshare
            .args(["--fork", "--kill-child", "bash"])
            .arg(&script)
            .arg(root)
            // Held open by `keeper` (never inherited: std's pipes close on exec); its end
            // tells the script this process is gone.
            .stdin(Stdio::piped())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("run unshare")?;
        let socket = root.join("run/libvirt/libvirt-sock");
        let uri = format!("qemu+unix:///system?socket={}", socket.display());
        let mut d = Libvirtd {
            root: root.to_path_buf(),
            keeper,
            uri,
        };
        let start = Instant::now();
        while !(root.join("ready").exists() && socket.exists()) {
            if let Some(st) = d.keeper.try_wait()? {
                bail!(
                    "the namespace ended ({st}): {}",
                    std::fs::read_to_string(root.join("namespace.log")).unwrap_or_default()
                );
            }
            if start.elapsed() > Duration::from_secs(30) {
                bail!("libvirtd did not create {} in 30 s", socket.display());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The first call waits for the capability probe.
        let out = Command::new("virsh")
            .args(["-c", &d.uri, "version"])
            .output()
            .context("run virsh")?;
        if !out.status.success() {
            bail!(
                "libvirtd at {} does not answer: {}{}",
                d.uri,
                String::from_utf8_lossy(&out.stderr),
                d.log()
            );
        }
        Ok(d)
    }

    /// The PID of the QEMU running domain `name`, from libvirt's pid file.
    pub fn qemu_pid(&self, name: &str) -> Option<i32> {
        std::fs::read_to_string(self.root.join(format!("run/libvirt/qemu/{name}.pid")))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// Kills a domain's QEMU with SIGKILL behind libvirt's back, as a crash would.
    pub fn kill_qemu(&self, name: &str) -> Result<()> {
        self.signal_qemu(name, "KILL")
    }

    /// Sends the guest's QEMU a signal (`KILL`, `STOP`, `CONT`).
    pub fn signal_qemu(&self, name: &str, signal: &str) -> Result<()> {
        let pid = self
            .qemu_pid(name)
            .with_context(|| format!("no pid file for {name}"))?;
        let st = Command::new("kill")
            .args(["-s", signal, &pid.to_string()])
            .status()?;
        if !st.success() {
            bail!("kill -s {signal} {pid} failed");
        }
        Ok(())
    }

    /// Runs `ip ARGS` in this host's network namespace.
    pub fn ip(&self, args: &[&str]) -> Result<()> {
        self.in_net("ip", args)
    }

    /// `tc ARGS` in this host's network namespace (traffic control: shaping its links).
    pub fn tc(&self, args: &[&str]) -> Result<()> {
        self.in_net("tc", args)
    }

    fn in_net(&self, tool: &str, args: &[&str]) -> Result<()> {
        let out = Command::new("nsenter")
            .args(["--target", &self.keeper.id().to_string(), "--net", tool])
            .args(args)
            .output()?;
        if !out.status.success() {
            bail!("{tool} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }

    /// Stops libvirtd (its QEMUs keep running, as when the daemon crashes or the host's
    /// management network goes away); the URI stops answering.
    pub fn stop_daemon(&self) -> Result<()> {
        let pid = std::fs::read_to_string(self.root.join("run/libvirtd.pid"))?;
        let st = Command::new("kill").args(["-9", pid.trim()]).status()?;
        if !st.success() {
            bail!("kill libvirtd {pid} failed");
        }
        let _ = std::fs::remove_file(self.root.join("run/libvirt/libvirt-sock"));
        Ok(())
    }

    /// Starts libvirtd again in the same namespace; it finds the QEMUs still running.
    pub fn start_daemon(&self) -> Result<()> {
        self.start_daemon_on(None).map(drop)
    }

    /// Starts libvirtd, on one CPU when `cpu` is given (its QEMUs are not pinned: libvirt
    /// gives them every host CPU unless the domain says otherwise), and waits until it answers
    /// with the hypervisor's version (which makes it read, or probe, its QEMU capabilities).
    fn start_daemon_on(&self, cpu: Option<u32>) -> Result<String> {
        let mut cmd = match cpu {
            Some(c) => {
                let mut t = Command::new("taskset");
                t.args(["-c", &c.to_string(), "nsenter"]);
                t
            }
            None => Command::new("nsenter"),
        };
        let st = cmd
            .args([
                "--target",
                &self.keeper.id().to_string(),
                "--mount",
                "libvirtd",
                "-d",
            ])
            .args([
                "-f",
                "/etc/libvirt/libvirtd.conf",
                "-p",
                "/run/libvirtd.pid",
            ])
            .status()
            .context("run nsenter")?;
        if !st.success() {
            bail!("libvirtd did not start again");
        }
        let out = Command::new("virsh")
            .args(["-c", &self.uri, "version"])
            .output()?;
        if !out.status.success() {
            bail!(
                "libvirtd does not answer again: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Makes this host's libvirtd report QEMU `version` (libvirt's encoding, 8002000 for
    /// 8.2.0), as a host with another QEMU would: libvirt reads the version from its capability
    /// cache, which is rewritten while the daemon is stopped. QEMU itself does not change.
    ///
    /// libvirt keeps its cache only while the binaries' times and the host's CPUID data are
    /// what it recorded, and it reads CPUID on whichever CPU its thread runs: where CPUs answer
    /// differently (each has its own APIC id), a restart on another CPU probes QEMU again and
    /// loses the rewrite ("host cpuid changed" in libvirtd's debug log). So the daemon probes
    /// afresh, and restarts, pinned to one CPU.
    pub fn report_qemu_version(&self, version: u32) -> Result<()> {
        let dir = self.root.join("var/cache/libvirt/qemu/capabilities");
        self.stop_daemon()?;
        for e in std::fs::read_dir(&dir)?.flatten() {
            std::fs::remove_file(e.path())?;
        }
        self.start_daemon_on(Some(0))?;
        self.stop_daemon()?;
        let mut rewritten = 0;
        for e in std::fs::read_dir(&dir)?.flatten() {
            let text = std::fs::read_to_string(e.path())?;
            let Some(start) = text.find("<version>") else {
                continue;
            };
            let end = text[start..]
                .find("</version>")
                .map(|i| start + i + "</version>".len())
                .context("unterminated <version>")?;
            let new = format!(
                "{}<version>{version}</version>{}",
                &text[..start],
                &text[end..]
            );
            std::fs::write(e.path(), new)?;
            rewritten += 1;
        }
        if rewritten == 0 {
            bail!("no capability cache in {}", dir.display());
        }
        let said = self.start_daemon_on(Some(0))?;
        let wanted = format!(
            "QEMU {}.{}.{}",
            version / 1_000_000,
            version / 1000 % 1000,
            version % 1000
        );
        if !said.contains(&wanted) {
            bail!("libvirtd probed QEMU again instead of reporting {wanted}: {said}");
        }
        Ok(())
    }

    /// libvirtd's log and the QEMU logs.
    pub fn log(&self) -> String {
        let mut out = std::fs::read_to_string(self.root.join("var/log/libvirt/libvirtd.log"))
            .unwrap_or_default();
        if let Ok(dir) = std::fs::read_dir(self.root.join("var/log/libvirt/qemu")) {
            for e in dir.flatten() {
                out.push_str(&format!("\n--- {}\n", e.path().display()));
                out.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
        out
    }
}

/// The mount namespace of a process.
fn mount_ns(pid: u32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok()
}

/// The processes in mount namespace `ns`, but `keeper`.
fn members(keeper: u32, ns: &Path) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .filter(|&pid| pid != keeper && mount_ns(pid).as_deref() == Some(ns))
        .collect()
}

impl Libvirtd {
    /// The processes running in this host's namespace besides its keeper: libvirtd and the
    /// QEMUs it started.
    pub fn processes(&self) -> Vec<u32> {
        let keeper = self.keeper.id();
        mount_ns(keeper).map_or_else(Vec::new, |ns| members(keeper, &ns))
    }
}

/// A process's parent and whether it still runs (not a zombie), from `/proc/PID/stat`.
fn parent_and_running(pid: u32) -> Option<(u32, bool)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.rsplit(')').next()?.split_whitespace();
    let state = fields.next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((ppid, !matches!(state, "Z" | "X")))
}

impl Drop for Libvirtd {
    fn drop(&mut self) {
        // Every process in the mount namespace this harness made, by PID: libvirtd and the
        // QEMUs it started (libvirtd daemonizes them, so they are nobody's children, and their
        // pid files may already be gone with the test's folder); then the namespace's keeper.
        //
        // The keeper's own child (the script, waiting) is killed last, with the keeper: while
        // it lives the namespace lives, so the namespace `mine` names stays this one. Once a
        // namespace is gone the kernel may give its number to a new one (another test's host
        // starting), and killing "the members of `mine`" would then kill that host.
        let keeper = self.keeper.id();
        let mut children = Vec::new();
        if let Some(mine) = mount_ns(keeper) {
            let start = Instant::now();
            loop {
                let (kids, left): (Vec<u32>, Vec<u32>) = members(keeper, &mine)
                    .into_iter()
                    .partition(|&p| parent_and_running(p).map(|(pp, _)| pp) == Some(keeper));
                children = kids;
                if left.is_empty() || start.elapsed() > Duration::from_secs(10) {
                    break;
                }
                for pid in left {
                    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // SIGKILL to the keeper; `unshare --kill-child` sends its child SIGKILL as it exits.
        let _ = self.keeper.kill();
        let _ = self.keeper.wait();
        let start = Instant::now();
        while children
            .iter()
            .any(|&p| parent_and_running(p).is_some_and(|(_, running)| running))
            && start.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Joins two isolated hosts with a veth pair: `a` gets `addr_a`, `b` gets `addr_b` (both
/// `/24`). `name` (at most 12 characters) names the two ends `NAMEa` and `NAMEb`.
pub fn link(a: &Libvirtd, b: &Libvirtd, name: &str, addr_a: &str, addr_b: &str) -> Result<()> {
    let (ea, eb) = (format!("{name}a"), format!("{name}b"));
    let st = Command::new("ip")
        .args(["link", "add", &ea, "type", "veth", "peer", "name", &eb])
        .status()?;
    if !st.success() {
        bail!("ip link add {ea} failed");
    }
    for (end, host, addr) in [(&ea, a, addr_a), (&eb, b, addr_b)] {
        let st = Command::new("ip")
            .args(["link", "set", end, "netns", &host.keeper.id().to_string()])
            .status()?;
        if !st.success() {
            bail!("moving {end} into its namespace failed");
        }
        host.ip(&["addr", "add", &format!("{addr}/24"), "dev", end])?;
        host.ip(&["link", "set", end, "up"])?;
    }
    Ok(())
}
