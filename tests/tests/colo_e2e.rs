//! COLO on real QEMU with KVM, driven only by the rendered command lines and `plan.json`.
//!
//! 1. The 1-disk standard pair: deploy, write known data once protected, kill the primary, run
//!    the failover runbook on the secondary, and find the data on the secondary's disk.
//! 2. The same pair with a NIC and the COLO network proxy: deploy, lose the secondary, fail over
//!    to the primary, re-protect onto a fresh secondary, then lose the primary and check the data
//!    written after re-protection.
//! 3. The 1-disk pair on real block devices (loop devices), rendered with QEMU's `host_device`
//!    driver: deploy, write, fail over, find the data.

use anyhow::{bail, Result};
use lockstep_shared::model::Storage;
use lockstep_shared::model::{NicModel, NicSource};
use lockstep_shared::wizard::NicSpec;
use lockstep_tests::colo::{self, has_pattern, write_pattern, LoopDevice, MIB};
use lockstep_tests::driver::Driver;
use lockstep_tests::{have_kvm, have_program, skip, TempDir};
use serde_json::json;
use std::time::{Duration, Instant};

const LEN: u64 = 65536;

/// Skips (or fails, where required) unless KVM and QEMU are here.
fn can_run(test: &str) -> bool {
    if !have_kvm() {
        skip(
            test,
            "kvm",
            "/dev/kvm is missing or not usable (COLO checkpoints need KVM)",
        );
        return false;
    }
    for p in ["qemu-system-x86_64", "qemu-img", "qemu-io"] {
        if !have_program(p) {
            skip(test, "qemu", &format!("{p} is not installed"));
            return false;
        }
    }
    true
}

fn run(d: &mut Driver, steps: &[serde_json::Value], what: &str) -> Result<Duration> {
    assert!(!steps.is_empty(), "{what}: no steps");
    let t = Instant::now();
    if let Err(e) = d.run_steps(steps) {
        bail!(
            "{what} failed: {e:#}\nprimary log:\n{}\nsecondary log:\n{}",
            d.log("primary"),
            d.log("secondary")
        );
    }
    Ok(t.elapsed())
}

/// Writes through the primary guest's disk device as a guest would (see [`colo::guest_write`]).
fn write(d: &mut Driver, pattern: u8, offset: u64) -> Result<()> {
    let qmp = d.qmp("primary")?;
    colo::guest_write(
        |c| qmp.call(c),
        "vda",
        pattern,
        offset,
        LEN,
        Duration::from_secs(50),
    )
}

/// Writes through the primary guest's disk device (quorum: local image + NBD leg), then lets
/// several checkpoints pass (failover rolls back to the last checkpoint).
fn guest_write(d: &mut Driver, pattern: u8, offset: u64) -> Result<()> {
    write(d, pattern, offset)?;
    std::thread::sleep(Duration::from_millis(1500));
    let st = d
        .qmp("primary")?
        .call(&json!({"execute": "query-colo-status"}))?;
    if st["mode"] != "primary" {
        bail!("not protected after the write: {st}");
    }
    Ok(())
}

fn fail_over_to_secondary_and_stop(d: &mut Driver, plan: &serde_json::Value) -> Result<Duration> {
    d.kill("primary")?;
    let took = run(
        d,
        &colo::runbook(plan, "failover-to-secondary"),
        "failover to secondary",
    )?;
    let st = d
        .qmp("secondary")?
        .call(&json!({"execute": "query-status"}))?;
    assert_eq!(st["status"], "running", "the secondary serves the guest");
    d.qmp("secondary")?.call(&json!({"execute": "quit"}))?;
    d.wait_exit("secondary", Duration::from_secs(10))?;
    Ok(took)
}

#[test]
fn failover_keeps_data_written_while_protected() -> Result<()> {
    if !can_run("colo_e2e::failover_keeps_data_written_while_protected") {
        return Ok(());
    }
    let tmp = TempDir::new("e2e");
    let pair = colo::one_disk_pair(tmp.path(), None)?;
    let simg = &pair.secondary_image;
    // Data that exists before deploy: the initial sync must copy it.
    write_pattern(&pair.primary_image, 0x11, MIB, LEN)?;
    assert!(
        !has_pattern(simg, 0x11, MIB, LEN)?,
        "secondary starts without the data"
    );

    let mut d = Driver::new(&pair.artifacts, &pair.logs);
    let took = run(&mut d, &colo::deploy_steps(&pair.plan), "deploy")?;
    eprintln!("deploy to protected: {took:?}");
    for line in &d.transcript {
        eprintln!("{line}");
    }
    assert!(
        has_pattern(simg, 0x11, MIB, LEN)?,
        "initial sync copied the data"
    );
    assert!(!has_pattern(simg, 0xab, 4 * MIB, LEN)?, "not written yet");

    guest_write(&mut d, 0xab, 4 * MIB)?;
    let took = fail_over_to_secondary_and_stop(&mut d, &pair.plan)?;
    eprintln!("failover runbook (primary killed to secondary running alone): {took:?}");
    assert!(
        has_pattern(simg, 0xab, 4 * MIB, LEN)?,
        "the write made while protected is on the secondary disk"
    );
    assert!(
        has_pattern(simg, 0x11, MIB, LEN)?,
        "the initially synced data is still there"
    );
    Ok(())
}

#[test]
fn proxy_pair_survives_secondary_loss_reprotect_and_primary_loss() -> Result<()> {
    if !can_run("colo_e2e::proxy_pair_survives_secondary_loss_reprotect_and_primary_loss") {
        return Ok(());
    }
    let tmp = TempDir::new("e2e-proxy");
    let nic = NicSpec {
        mac: "52:54:00:12:34:56".to_owned(),
        model: NicModel::E1000,
        source: NicSource::User,
    };
    let pair = colo::one_disk_pair(tmp.path(), Some(nic))?;
    let simg = &pair.secondary_image;
    let mut d = Driver::new(&pair.artifacts, &pair.logs);
    run(&mut d, &colo::deploy_steps(&pair.plan), "deploy with proxy")?;
    guest_write(&mut d, 0x22, 2 * MIB)?;

    // Lose the secondary; the primary carries on alone.
    d.kill("secondary")?;
    let took = run(
        &mut d,
        &colo::runbook(&pair.plan, "failover-to-primary"),
        "failover to primary",
    )?;
    eprintln!("failover-to-primary runbook: {took:?}");
    let st = d
        .qmp("primary")?
        .call(&json!({"execute": "query-status"}))?;
    assert_eq!(st["status"], "running");
    // Written while unprotected: re-protection must copy it.
    write(&mut d, 0x33, 3 * MIB)?;
    assert!(
        !has_pattern(simg, 0x33, 3 * MIB, LEN)?,
        "the secondary missed it"
    );

    let took = run(&mut d, &colo::runbook(&pair.plan, "reprotect"), "reprotect")?;
    eprintln!("reprotect runbook (fresh secondary to protected): {took:?}");
    assert!(
        has_pattern(simg, 0x33, 3 * MIB, LEN)?,
        "re-protection copied the unprotected write"
    );

    guest_write(&mut d, 0x44, 5 * MIB)?;
    fail_over_to_secondary_and_stop(&mut d, &pair.plan)?;
    for (p, off) in [(0x22, 2 * MIB), (0x33, 3 * MIB), (0x44, 5 * MIB)] {
        assert!(
            has_pattern(simg, p, off, LEN)?,
            "pattern {p:#x} is on the secondary disk"
        );
    }
    Ok(())
}

#[test]
fn teardown_stops_both_sides_and_removes_overlays() -> Result<()> {
    if !can_run("colo_e2e::teardown_stops_both_sides_and_removes_overlays") {
        return Ok(());
    }
    let tmp = TempDir::new("e2e-teardown");
    let pair = colo::one_disk_pair(tmp.path(), None)?;
    let mut d = Driver::new(&pair.artifacts, &pair.logs);
    run(&mut d, &colo::deploy_steps(&pair.plan), "deploy")?;
    let overlays = tmp.path().join("overlays");
    assert_eq!(
        std::fs::read_dir(&overlays)?.count(),
        2,
        "active and hidden exist"
    );
    run(&mut d, &colo::runbook(&pair.plan, "teardown"), "teardown")?;
    d.wait_exit("secondary", Duration::from_secs(10))?;
    d.wait_exit("primary", Duration::from_secs(10))?;
    assert_eq!(std::fs::read_dir(&overlays)?.count(), 0, "overlays removed");
    Ok(())
}

#[test]
fn block_device_pair_fails_over_with_its_data() -> Result<()> {
    let test = "colo_e2e::block_device_pair_fails_over_with_its_data";
    if !can_run(test) {
        return Ok(());
    }
    let tmp = TempDir::new("e2e-block");
    let mut loops = Vec::new();
    for name in ["primary.img", "secondary.img"] {
        let file = tmp.path().join(name);
        colo::create_image(&file)?;
        match LoopDevice::attach(&file) {
            Ok(l) => loops.push(l),
            Err(e) => {
                skip(test, "loop", &format!("no loop device to attach: {e:#}"));
                return Ok(());
            }
        }
    }
    let (pdev, sdev) = (loops[0].path.clone(), loops[1].path.clone());
    let pair = colo::one_disk_pair_on(tmp.path(), None, &pdev, &sdev, Storage::Block)?;
    let cmdline = std::fs::read_to_string(pair.artifacts.join("primary.cmdline"))?;
    assert!(
        cmdline.contains(&format!(
            r#"{{"driver":"host_device","filename":"{}"}}"#,
            pdev.display()
        )),
        "the block device is opened with host_device: {cmdline}"
    );
    write_pattern(&pdev, 0x55, MIB, LEN)?;
    let mut d = Driver::new(&pair.artifacts, &pair.logs);
    let took = run(
        &mut d,
        &colo::deploy_steps(&pair.plan),
        "deploy on block devices",
    )?;
    eprintln!("deploy on loop devices to protected: {took:?}");
    assert!(
        has_pattern(&sdev, 0x55, MIB, LEN)?,
        "initial sync copied the data"
    );
    guest_write(&mut d, 0x66, 4 * MIB)?;
    fail_over_to_secondary_and_stop(&mut d, &pair.plan)?;
    assert!(
        has_pattern(&sdev, 0x66, 4 * MIB, LEN)?,
        "the write made while protected is on the secondary's block device"
    );
    drop(d);
    Ok(())
}
