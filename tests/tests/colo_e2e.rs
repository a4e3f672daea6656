//! The 1-disk standard pair on real QEMU with KVM: deploy with the rendered command lines and
//! plan, write known data once protected, kill the primary, fail over, and find the data on the
//! secondary's disk.

use anyhow::{bail, Context, Result};
use lockstep_shared::model::{HostRef, ImageFormat};
use lockstep_shared::render::{render_all, Validated};
use lockstep_shared::wizard::{standard_pair, DiskSpec, WizardInput};
use lockstep_tests::driver::Driver;
use lockstep_tests::{free_port, have_kvm, have_program, skip, TempDir};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;

fn qemu_io(args: &[&str]) -> Result<String> {
    let out = Command::new("qemu-io").args(args).output().context("run qemu-io")?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // A failed pattern check also exits non-zero; the caller reads the verdict from the text.
    if !out.status.success() && !text.contains("Pattern verification failed") {
        bail!("qemu-io {args:?} failed: {text}");
    }
    Ok(text)
}

/// Whether `len` bytes at `offset` of a raw image all equal `pattern` (read with the image in
/// use elsewhere allowed, `-U`).
fn has_pattern(image: &Path, pattern: u8, offset: u64, len: u64) -> Result<bool> {
    let cmd = format!("read -P {pattern:#04x} {offset} {len}");
    let out = qemu_io(&["-U", "-r", "-f", "raw", "-c", &cmd, &image.display().to_string()])?;
    if out.contains("Pattern verification failed") {
        return Ok(false);
    }
    if out.contains(&format!("read {len}/{len} bytes")) {
        return Ok(true);
    }
    bail!("unexpected qemu-io output: {out}")
}

fn steps(plan: &Value, phase_or_runbook: &str) -> Vec<Value> {
    if let Some(rb) = plan["runbooks"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["name"] == phase_or_runbook))
    {
        return rb["steps"].as_array().cloned().unwrap_or_default();
    }
    Vec::new()
}

fn deploy_steps(plan: &Value) -> Vec<Value> {
    plan["phases"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["steps"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[test]
fn failover_keeps_data_written_while_protected() -> Result<()> {
    let test = "colo_e2e::failover_keeps_data_written_while_protected";
    if !have_kvm() {
        skip(test, "kvm", "/dev/kvm is missing or not usable (COLO checkpoints need KVM)");
        return Ok(());
    }
    for p in ["qemu-system-x86_64", "qemu-img", "qemu-io"] {
        if !have_program(p) {
            skip(test, "qemu", &format!("{p} is not installed"));
            return Ok(());
        }
    }
    let tmp = TempDir::new("e2e");
    let dir = tmp.path();
    let (pimg, simg) = (dir.join("primary.img"), dir.join("secondary.img"));
    for img in [&pimg, &simg] {
        let st = Command::new("qemu-img")
            .args(["create", "-q", "-f", "raw", &img.display().to_string(), "64M"])
            .status()?;
        assert!(st.success());
    }
    // Data that exists before deploy: the initial sync must copy it.
    qemu_io(&["-f", "raw", "-c", "write -P 0x11 1M 64k", &pimg.display().to_string()])?;
    assert!(!has_pattern(&simg, 0x11, MIB, 65536)?, "secondary starts without the data");

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
    input.disks = vec![DiskSpec {
        path: pimg.display().to_string(),
        secondary_path: Some(simg.display().to_string()),
        size_bytes: 64 * MIB,
        format: ImageFormat::Raw,
    }];
    let mut doc = standard_pair(&input);
    doc.colo.migration_port = free_port();
    doc.colo.nbd_port = free_port();
    let v = Validated::new(doc).map_err(|f| anyhow::anyhow!("document has errors: {f:?}"))?;
    let artifacts = render_all(&v);
    let out = dir.join("rendered");
    std::fs::create_dir_all(&out)?;
    for (name, content) in artifacts.files() {
        std::fs::write(out.join(name), content)?;
    }
    let plan: Value = serde_json::from_str(&artifacts.plan_json)?;

    let mut d = Driver::new(&out, &dir.join("logs"));
    let t0 = Instant::now();
    let result = d.run_steps(&deploy_steps(&plan));
    if let Err(e) = result {
        bail!(
            "deploy failed: {e:#}\nprimary log:\n{}\nsecondary log:\n{}",
            d.log("primary"),
            d.log("secondary")
        );
    }
    eprintln!("deploy to protected: {:?}", t0.elapsed());
    for line in &d.transcript {
        eprintln!("{line}");
    }
    assert!(has_pattern(&simg, 0x11, MIB, 65536)?, "initial sync copied the data");
    assert!(!has_pattern(&simg, 0xab, 4 * MIB, 65536)?, "not written yet");

    // Protected: write through the primary's guest disk device (quorum -> local + NBD).
    let reply = d.qmp("primary")?.hmp("qemu-io -d /machine/peripheral/ua-vda/virtio-backend \"write -P 0xab 4M 64k\"")?;
    assert!(!reply.contains("rror"), "qemu-io reply: {reply}");
    // Let a few checkpoints pass: failover rolls back to the last checkpoint.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        d.qmp("primary")?.call(&serde_json::json!({"execute": "query-colo-status"}))?["mode"],
        "primary",
        "still protected after the write"
    );

    d.kill("primary")?;
    let t1 = Instant::now();
    let fo = steps(&plan, "failover-to-secondary");
    assert!(!fo.is_empty());
    if let Err(e) = d.run_steps(&fo) {
        bail!("failover failed: {e:#}\nsecondary log:\n{}", d.log("secondary"));
    }
    eprintln!("failover (kill to running alone): {:?}", t1.elapsed());
    let status = d.qmp("secondary")?.call(&serde_json::json!({"execute": "query-status"}))?;
    assert_eq!(status["status"], "running");

    d.qmp("secondary")?.call(&serde_json::json!({"execute": "quit"}))?;
    d.wait_exit("secondary", Duration::from_secs(10))?;
    assert!(has_pattern(&simg, 0xab, 4 * MIB, 65536)?, "the write made while protected is on the secondary disk");
    assert!(has_pattern(&simg, 0x11, MIB, 65536)?, "the initially synced data is still there");
    Ok(())
}
