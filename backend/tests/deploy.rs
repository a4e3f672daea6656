//! The deploy engine on real hosts: two private libvirtds (each in its own mount namespace, so
//! neither sees the other's domains), real QEMU 7.2 with KVM, driven by the `lockstep` binary
//! as an operator would: preflight, deploy, status, failover, teardown.

use lockstep_backend::deploy::host::Host;
use lockstep_shared::model::Storage;
use lockstep_tests::colo::{has_pattern, one_disk_document, write_pattern, MIB};
use lockstep_tests::libvirtd::{self, Libvirtd};
use lockstep_tests::{have_kvm, have_program, skip, TempDir};
use serde_json::json;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const LEN: u64 = 65536;
const GUEST: &str = "e2e-vm";

fn can_run(test: &str) -> bool {
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

fn lockstep<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lockstep"))
        .args(args)
        .output()
        .expect("run lockstep")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Two hosts, started side by side (each spends seconds probing QEMU at its first call).
fn two_hosts(dir: &Path) -> (Libvirtd, Libvirtd) {
    let (a, b) = (dir.join("host-a"), dir.join("host-b"));
    let second = std::thread::spawn(move || Libvirtd::start(&b));
    let first = Libvirtd::start(&a).expect("start the primary's libvirtd");
    let second = second
        .join()
        .expect("thread")
        .expect("start the secondary's libvirtd");
    (first, second)
}

fn image(path: &Path) {
    let st = Command::new("qemu-img")
        .args(["create", "-q", "-f", "raw"])
        .arg(path)
        .arg((64 * MIB).to_string())
        .status()
        .expect("qemu-img");
    assert!(st.success());
}

/// Writes through the primary guest's disk device (the quorum: local image and the NBD leg),
/// over libvirt's monitor, then lets several checkpoints pass.
fn guest_write(uri: &str, pattern: u8, offset: u64) {
    let h = Host::open(uri).expect("connect");
    let cmd = format!(
        "qemu-io -d /machine/peripheral/ua-vda/virtio-backend \"write -P {pattern:#04x} {offset} {LEN}\""
    );
    let reply = h
        .qmp(
            GUEST,
            &json!({"execute": "human-monitor-command", "arguments": {"command-line": cmd}}),
        )
        .expect("libvirt")
        .expect("QEMU");
    assert_eq!(reply, json!(""), "qemu-io through HMP");
    std::thread::sleep(Duration::from_millis(1000));
}

/// Writes the 1-disk pair's document over these images into `dir/vm.json`.
fn document(dir: &Path, pa: &Path, sa: &Path) -> String {
    let mut doc = one_disk_document(dir, None, pa, sa, Storage::File);
    doc.guest.name = GUEST.to_owned();
    let file = dir.join("vm.json");
    std::fs::write(&file, serde_json::to_string_pretty(&doc).expect("json")).expect("write");
    file.to_str().expect("utf-8 path").to_owned()
}

fn assert_no_domains(h: &Libvirtd) {
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

#[test]
fn deploy_protect_kill_failover_and_teardown_through_libvirt() {
    if !can_run("deploy::deploy_protect_kill_failover_and_teardown_through_libvirt") {
        return;
    }
    let tmp = TempDir::new("deploy");
    let dir = tmp.path();
    let (pa, sa) = (dir.join("primary.img"), dir.join("secondary.img"));
    image(&pa);
    image(&sa);
    write_pattern(&pa, 0x11, MIB, LEN).expect("seed the primary image");
    let file = document(dir, &pa, &sa);
    let file = file.as_str();

    let (a, b) = two_hosts(dir);
    let hosts = ["--primary", &a.uri, "--secondary", &b.uri];
    let with = |cmd: &[&'static str]| -> Vec<String> {
        let mut v: Vec<String> = cmd.iter().map(|s| (*s).to_owned()).collect();
        v.push(file.to_owned());
        v.extend(hosts.iter().map(|s| (*s).to_owned()));
        v
    };

    // One libvirt for both sides is refused: the second definition would replace the first.
    let same = lockstep(&[
        "preflight",
        file,
        "--primary",
        &a.uri,
        "--secondary",
        &a.uri,
    ]);
    assert_eq!(same.status.code(), Some(1), "{}", text(&same));
    assert!(
        text(&same).contains("one libvirt cannot hold both domains"),
        "{}",
        text(&same)
    );

    let pre = lockstep(&with(&["preflight"]));
    assert!(pre.status.success(), "preflight: {}", text(&pre));

    let t = Instant::now();
    let dep = lockstep(&with(&["deploy"]));
    let took = t.elapsed();
    assert!(
        dep.status.success(),
        "deploy: {}\nprimary:\n{}\nsecondary:\n{}",
        text(&dep),
        a.log(),
        b.log()
    );
    let out = String::from_utf8_lossy(&dep.stdout).to_string();
    assert_eq!(out.lines().last(), Some("Protected"), "{out}");
    assert!(out.contains("qmp_capabilities\"}  skipped"), "{out}");
    eprintln!("deploy to Protected through the CLI: {took:?}\n{out}");
    // The initial copy (blockdev-mirror) brought the primary's data over.
    assert!(
        has_pattern(&sa, 0x11, MIB, LEN).expect("read"),
        "initial sync"
    );

    let st = lockstep(&with(&["status"]));
    assert!(st.status.success(), "{}", text(&st));
    assert!(text(&st).starts_with("Protected\n"), "{}", text(&st));

    // Deploying again while it runs is refused by preflight, and changes nothing.
    let again = lockstep(&with(&["deploy"]));
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(text(&again).contains("already defined"), "{}", text(&again));

    guest_write(&a.uri, 0xab, 4 * MIB);

    // While the primary answers, failing over to the secondary is refused.
    let early = lockstep(&with(&["failover", "--to", "secondary"]));
    assert_eq!(early.status.code(), Some(1), "{}", text(&early));
    assert!(text(&early).contains("still answers"), "{}", text(&early));

    a.kill_qemu(GUEST).expect("kill the primary's QEMU");
    let killed = Instant::now();
    let mut polls = 0;
    let seen = loop {
        let st = lockstep(&with(&["status"]));
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

    let t = Instant::now();
    let fo = lockstep(&with(&["failover", "--to", "secondary"]));
    eprintln!("failover through the CLI: {:?}\n{}", t.elapsed(), text(&fo));
    assert!(fo.status.success(), "failover: {}\n{}", text(&fo), b.log());
    let st = lockstep(&with(&["status"]));
    assert!(
        text(&st).starts_with("Not protected: failed over"),
        "{}",
        text(&st)
    );

    let td = lockstep(&with(&["teardown"]));
    assert!(td.status.success(), "teardown: {}", text(&td));
    assert_no_domains(&a);
    assert_no_domains(&b);
    let leftovers: Vec<_> = std::fs::read_dir(dir.join("overlays"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "overlays left: {leftovers:?}");
    // The write made while protected is on the secondary's disk.
    assert!(
        has_pattern(&sa, 0xab, 4 * MIB, LEN).expect("read"),
        "the write made while protected is on the secondary disk"
    );
}

#[test]
fn preflight_refuses_a_missing_image_and_changes_nothing() {
    if !can_run("deploy::preflight_refuses_a_missing_image_and_changes_nothing") {
        return;
    }
    let tmp = TempDir::new("deploy-missing");
    let dir = tmp.path();
    let (pa, sa) = (dir.join("primary.img"), dir.join("secondary.img"));
    image(&pa);
    let file = document(dir, &pa, &sa);
    let file = file.as_str();
    let (a, b) = two_hosts(dir);
    let args = ["deploy", file, "--primary", &a.uri, "--secondary", &b.uri];
    let out = lockstep(&args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains(&format!("no image at {}", sa.display())) && said.contains(&b.uri),
        "names the image and the host: {said}"
    );
    assert_no_domains(&a);
    assert_no_domains(&b);
    assert!(!dir.join("overlays").exists(), "no overlay directory made");
}
