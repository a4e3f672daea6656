//! Setting up a COLO pair on this machine for the end-to-end tests: images, a wizard document
//! on loopback, the rendered artifacts, and checks on image contents.

use anyhow::{bail, Context, Result};
use lockstep_shared::model::{Document, HostRef, ImageFormat, Storage};
use lockstep_shared::render::{render_all, Validated};
use lockstep_shared::wizard::{standard_pair, DiskSpec, NicSpec, WizardInput};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const MIB: u64 = 1 << 20;

/// A rendered pair in a temporary directory.
pub struct Pair {
    pub primary_image: PathBuf,
    pub secondary_image: PathBuf,
    pub artifacts: PathBuf,
    pub logs: PathBuf,
    pub plan: Value,
}

/// Runs qemu-io and returns its output; a failed pattern check is not an error here.
pub fn qemu_io(args: &[&str]) -> Result<String> {
    let out = Command::new("qemu-io")
        .args(args)
        .output()
        .context("run qemu-io")?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() && !text.contains("Pattern verification failed") {
        bail!("qemu-io {args:?} failed: {text}");
    }
    Ok(text)
}

/// Whether `len` bytes at `offset` of a raw image all equal `pattern` (`-U`: the image may be
/// open elsewhere).
pub fn has_pattern(image: &Path, pattern: u8, offset: u64, len: u64) -> Result<bool> {
    let cmd = format!("read -P {pattern:#04x} {offset} {len}");
    let out = qemu_io(&[
        "-U",
        "-r",
        "-f",
        "raw",
        "-c",
        &cmd,
        &image.display().to_string(),
    ])?;
    if out.contains("Pattern verification failed") {
        return Ok(false);
    }
    if out.contains(&format!("read {len}/{len} bytes")) {
        return Ok(true);
    }
    bail!("unexpected qemu-io output: {out}")
}

/// Writes `pattern` into a raw image that no QEMU has open.
pub fn write_pattern(image: &Path, pattern: u8, offset: u64, len: u64) -> Result<()> {
    let cmd = format!("write -P {pattern:#04x} {offset} {len}");
    qemu_io(&["-f", "raw", "-c", &cmd, &image.display().to_string()]).map(|_| ())
}

/// Steps of the deploy plan, all phases in order.
pub fn deploy_steps(plan: &Value) -> Vec<Value> {
    plan["phases"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["steps"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// Steps of a named runbook (empty when there is no such runbook).
pub fn runbook(plan: &Value, name: &str) -> Vec<Value> {
    plan["runbooks"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["name"] == name))
        .and_then(|r| r["steps"].as_array().cloned())
        .unwrap_or_default()
}

/// A loop device over a file, detached on drop: a real block device for the tests.
pub struct LoopDevice {
    pub path: PathBuf,
}

impl LoopDevice {
    /// Attaches `file` to the first free loop device; the error says why it could not.
    pub fn attach(file: &Path) -> Result<LoopDevice> {
        let out = Command::new("losetup")
            .args(["--find", "--show", &file.display().to_string()])
            .output()
            .context("run losetup")?;
        if !out.status.success() {
            bail!(
                "losetup --find --show {}: {}",
                file.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        Ok(LoopDevice { path })
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = Command::new("losetup")
            .arg("--detach")
            .arg(&self.path)
            .status();
    }
}

/// Creates a 64 MiB raw image file.
pub fn create_image(path: &Path) -> Result<()> {
    let st = Command::new("qemu-img")
        .args([
            "create",
            "-q",
            "-f",
            "raw",
            &path.display().to_string(),
            "64M",
        ])
        .status()?;
    if !st.success() {
        bail!("qemu-img create {} failed", path.display());
    }
    Ok(())
}

/// Builds and renders a 1-disk standard pair (64 MiB raw images) with both sides on loopback.
pub fn one_disk_pair(dir: &Path, nic: Option<NicSpec>) -> Result<Pair> {
    let (pimg, simg) = (dir.join("primary.img"), dir.join("secondary.img"));
    for img in [&pimg, &simg] {
        create_image(img)?;
    }
    one_disk_pair_on(dir, nic, &pimg, &simg, Storage::File)
}

/// The 1-disk standard pair over existing 64 MiB images of one storage kind (files or block
/// devices).
pub fn one_disk_pair_on(
    dir: &Path,
    nic: Option<NicSpec>,
    pimg: &Path,
    simg: &Path,
    storage: Storage,
) -> Result<Pair> {
    let doc = one_disk_document(dir, nic, pimg, simg, storage);
    let v = Validated::new(doc).map_err(|f| anyhow::anyhow!("document has errors: {f:?}"))?;
    let artifacts = render_all(&v);
    let out = dir.join("rendered");
    std::fs::create_dir_all(&out)?;
    for (name, content) in artifacts.files() {
        std::fs::write(out.join(name), content)?;
    }
    Ok(Pair {
        primary_image: pimg.to_path_buf(),
        secondary_image: simg.to_path_buf(),
        artifacts: out,
        logs: dir.join("logs"),
        plan: serde_json::from_str(&artifacts.plan_json)?,
    })
}

/// The 1-disk standard pair's document (64 MiB guest, 200 ms checkpoints, free ports), both
/// sides on loopback, sockets and overlays under `dir`.
pub fn one_disk_document(
    dir: &Path,
    nic: Option<NicSpec>,
    pimg: &Path,
    simg: &Path,
    storage: Storage,
) -> Document {
    pair_document(dir, nic, &[(pimg, simg)], storage)
}

/// The standard pair over existing 64 MiB raw images, one (primary, secondary) pair of paths
/// per protected disk (guest devices vda, vdb, ...), both sides on loopback, sockets and
/// overlays under `dir`.
pub fn pair_document(
    dir: &Path,
    nic: Option<NicSpec>,
    disks: &[(&Path, &Path)],
    storage: Storage,
) -> Document {
    let host = |name: &str| HostRef {
        name: name.to_owned(),
        address: "127.0.0.1".to_owned(),
        run_dir: dir.join(format!("run-{name}")).display().to_string(),
    };
    let mut input = WizardInput::new(
        "e2e-vm",
        "5a0c3a3e-8d0e-4c5e-9d7a-0123456789ab",
        host("pri"),
        host("sec"),
    );
    input.memory_mib = 64;
    input.checkpoint_delay_ms = 200;
    input.overlay_dir = dir.join("overlays").display().to_string();
    input.nic = nic;
    input.disks = disks
        .iter()
        .map(|(pimg, simg)| DiskSpec {
            path: pimg.display().to_string(),
            secondary_path: Some(simg.display().to_string()),
            size_bytes: 64 * MIB,
            format: ImageFormat::Raw,
            storage: Some(storage),
            secondary_storage: Some(storage),
        })
        .collect();
    let mut doc = standard_pair(&input);
    doc.colo.migration_port = crate::free_port();
    doc.colo.nbd_port = crate::free_port();
    for n in &mut doc.nics {
        if let Some(p) = &mut n.proxy {
            p.mirror_port = crate::free_port();
            p.compare_port = crate::free_port();
        }
    }
    doc
}

/// Counts of completed and failed writes of the device at QOM path `qdev`, from a
/// `query-blockstats` reply.
fn write_counts(stats: &Value, qdev: &str) -> Result<(u64, u64)> {
    let dev = stats
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["qdev"] == qdev)
        .with_context(|| format!("no block device {qdev} in query-blockstats: {stats}"))?;
    let n = |k: &str| dev["stats"][k].as_u64().unwrap_or(0);
    Ok((n("wr_operations"), n("failed_wr_operations")))
}

/// Writes `len` bytes of `pattern` at `offset` through the guest's disk `vdX` (QEMU's own
/// `qemu-io` on the device's block backend), as a guest would: submitted asynchronously, then
/// waited for on the device's count of completed writes, until `limit`. `qmp` sends one QMP
/// command and gives its return.
///
/// A synchronous `qemu-io write` deadlocks a COLO pair (seen with QEMU 7.2): it runs in the
/// primary's main loop holding the big QEMU lock until the NBD leg answers, while a checkpoint
/// that has begun needs that lock to stop the vCPUs, and the secondary, loading the checkpoint's
/// RAM from the socket under its own big lock, cannot serve the NBD write. Guests' own writes
/// are asynchronous and never hold the main loop this way.
pub fn guest_write(
    mut qmp: impl FnMut(&Value) -> Result<Value>,
    dev: &str,
    pattern: u8,
    offset: u64,
    len: u64,
    limit: std::time::Duration,
) -> Result<()> {
    let qdev = format!("/machine/peripheral/ua-{dev}/virtio-backend");
    let stats = serde_json::json!({"execute": "query-blockstats"});
    let (done, failed) = write_counts(&qmp(&stats)?, &qdev)?;
    let line = format!("qemu-io -d {qdev} \"aio_write -P {pattern:#04x} {offset} {len}\"");
    let reply = qmp(&serde_json::json!({
        "execute": "human-monitor-command",
        "arguments": {"command-line": line}
    }))?;
    if reply.as_str() != Some("") {
        bail!("`{line}`: {reply}");
    }
    let start = std::time::Instant::now();
    loop {
        let (d, f) = write_counts(&qmp(&stats)?, &qdev)?;
        if f > failed {
            bail!("`{line}` failed (the device counts {f} failed writes, {failed} before it)");
        }
        if d > done {
            return Ok(());
        }
        if start.elapsed() > limit {
            bail!("`{line}` did not complete within {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
