//! A QEMU command line per side, for people who run QEMU without libvirt.
//!
//! One line of shell words, runnable as is: the same COLO arguments as the domain XML's
//! `<qemu:commandline>`, plus what libvirt would otherwise provide (machine, memory, vCPUs,
//! NICs, the iothread). The primary starts paused (`-S`): COLO starts its guest when the first
//! checkpoint is taken, so no guest write can slip in before replication (`lab.md` pitfall 1).

use super::escape::{shell_word, QemuOpts};
use super::names::IOTHREAD;
use super::qemu;
use super::Validated;
use crate::model::Side;

/// The argument vector, program first.
pub fn argv(v: &Validated, side: Side) -> Vec<String> {
    let g = &v.doc().guest;
    let mut a: Vec<String> = vec![g.emulator.clone()];
    let mut push = |k: &str, val: String| {
        a.push(k.to_owned());
        a.push(val);
    };
    push("-name", QemuOpts::kv_first("guest", &g.name).finish());
    push("-uuid", g.uuid.to_ascii_lowercase());
    push(
        "-machine",
        QemuOpts::kv_first("type", &g.machine)
            .kv("accel", "kvm")
            .finish(),
    );
    push("-m", g.memory_mib.to_string());
    push("-smp", g.vcpus.to_string());
    a.extend(
        ["-nodefaults", "-no-user-config", "-display", "none"]
            .iter()
            .map(|s| (*s).to_owned()),
    );
    match side {
        Side::Primary => a.push("-S".to_owned()),
        Side::Secondary => {}
    }
    if v.has_proxy() {
        a.push("-object".to_owned());
        a.push(QemuOpts::new("iothread").kv("id", IOTHREAD).finish());
    }
    for nic in &v.doc().nics {
        let (netdev, device) = qemu::nic_options(nic);
        a.extend(["-netdev".to_owned(), netdev, "-device".to_owned(), device]);
    }
    a.extend(qemu::colo_args(v, side));
    a
}

/// The command line as one line of shell words, newline-terminated.
pub fn command_line(v: &Validated, side: Side) -> String {
    let mut s = argv(v, side)
        .iter()
        .map(|w| shell_word(w))
        .collect::<Vec<_>>()
        .join(" ");
    s.push('\n');
    s
}
