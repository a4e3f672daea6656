//! Both sides and the COLO control plane (`colo-reference.md` §5 rules 5, 22, 23, 28, 41).

use super::Report;
use crate::model::{Graph, GuestDiskNode, Side};
use crate::render::topology;
use std::collections::BTreeMap;

pub(crate) fn check(g: &Graph, r: &mut Report) {
    check_targets(g, r);
    check_devices_identical(g, r);
    check_chains_pair_up(g, r);
    check_machine(g, r);
    check_checkpoint_delay(g, r);
    check_pci_slots(g, r);
}

/// Rule 5: guest targets become device ids `ua-<target>`: libvirt's alias rule, a virtio
/// target name, unique per side.
fn check_targets(g: &Graph, r: &mut Report) {
    for side in [Side::Primary, Side::Secondary] {
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for d in topology::guest_disks(g, side) {
            let t = &d.target;
            let ok = t.len() >= 3
                && t.len() <= 16
                && t.starts_with("vd")
                && t[2..].chars().all(|c| c.is_ascii_lowercase());
            if !ok {
                r.push(
                    "E005",
                    &[&d.id],
                    format!(
                        "guest disk '{}' has target {t:?}; a virtio disk target is 'vd' followed \
                         by lower-case letters (vda, vdb, ...)",
                        d.id
                    ),
                    "use vda, vdb, ...",
                );
            }
            if let Some(prev) = seen.insert(t, &d.id) {
                r.push(
                    "E005",
                    &[prev, &d.id],
                    format!(
                        "{} guest disks '{prev}' and '{}' both use target {t:?}",
                        side.as_str(),
                        d.id
                    ),
                    "give each guest disk of a side its own target",
                );
            }
        }
    }
}

/// Rule 22: the secondary is a migration target, so both sides have the same disk devices at
/// the same addresses.
fn check_devices_identical(g: &Graph, r: &mut Report) {
    let by_target = |side| -> BTreeMap<&str, &GuestDiskNode> {
        topology::guest_disks(g, side)
            .into_iter()
            .map(|d| (d.target.as_str(), d))
            .collect()
    };
    let p = by_target(Side::Primary);
    let s = by_target(Side::Secondary);
    for (t, d) in &p {
        match s.get(t) {
            None => r.push(
                "E022",
                &[&d.id],
                format!("primary guest disk '{}' ({t}) has no secondary twin", d.id),
                "add a secondary guest disk with the same target, bus and PCI slot",
            ),
            Some(sd) => {
                if sd.pci_slot != d.pci_slot || sd.pci_function != d.pci_function || sd.bus != d.bus
                {
                    r.push(
                        "E022",
                        &[&d.id, &sd.id],
                        format!(
                            "guest disk {t} is at PCI {:#04x}.{} on the primary ('{}') but \
                             {:#04x}.{} on the secondary ('{}')",
                            d.pci_slot, d.pci_function, d.id, sd.pci_slot, sd.pci_function, sd.id
                        ),
                        "use the same bus and PCI slot on both sides",
                    );
                }
            }
        }
    }
    for (t, d) in &s {
        if !p.contains_key(t) {
            r.push(
                "E022",
                &[&d.id],
                format!("secondary guest disk '{}' ({t}) has no primary twin", d.id),
                "add a primary guest disk with the same target, or delete this one",
            );
        }
    }
}

/// Rule 22: the twin devices replicate the same disk: the primary's NBD leg reaches the very
/// secondary disk under the secondary device with the same target.
fn check_chains_pair_up(g: &Graph, r: &mut Report) {
    let sec: BTreeMap<&str, &GuestDiskNode> = topology::guest_disks(g, Side::Secondary)
        .into_iter()
        .map(|d| (d.target.as_str(), d))
        .collect();
    for d in topology::guest_disks(g, Side::Primary) {
        let (Some(pc), Some(sd)) = (topology::primary_chain(g, d), sec.get(d.target.as_str()))
        else {
            continue;
        };
        let Some(sc) = topology::secondary_chain(g, sd) else {
            continue;
        };
        if pc.remote.id != sc.disk.id {
            r.push(
                "E022",
                &[&d.id, &sd.id],
                format!(
                    "guest disk {}: the primary replicates to '{}' but the secondary device reads \
                     '{}'",
                    d.target, pc.remote.id, sc.disk.id
                ),
                "point the primary's nbd edge at the secondary disk under the same target",
            );
        }
    }
}

/// Rule 23: i440fx, not q35 (AHCI vmstate reload crash).
fn check_machine(g: &Graph, r: &mut Report) {
    let m = &g.doc.guest.machine;
    let ok = m == "pc"
        || (m.starts_with("pc-i440fx-")
            && m["pc-i440fx-".len()..]
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.'));
    if !ok {
        r.push(
            "E023",
            &["guest.machine"],
            format!("machine type {m:?} is not i440fx; COLO supports only 'pc' (i440fx), not q35"),
            "set guest.machine to 'pc' or 'pc-i440fx-<version>'",
        );
    }
}

/// Rule 28: `x-checkpoint-delay` is a uint32 in ms (QEMU `qapi/migration.json`); anything that
/// fits is legal, but outside 100 ms to 60 s it is most likely a mistake. 0 makes checkpoints
/// back to back (QEMU 7.2 accepts it).
fn check_checkpoint_delay(g: &Graph, r: &mut Report) {
    let d = g.doc.colo.checkpoint_delay_ms;
    let subject = &["colo.checkpoint_delay_ms"];
    if d > u64::from(u32::MAX) {
        r.push(
            "E028",
            subject,
            format!(
                "checkpoint delay {d} ms does not fit x-checkpoint-delay, a uint32 (at most \
                 4294967295 ms); QEMU refuses it"
            ),
            "use a delay between 100 and 60000 ms; 2000 is the documented example",
        );
    } else if d == 0 {
        r.push(
            "W028",
            subject,
            "checkpoint delay 0 ms makes checkpoints back to back: legal, but the guest spends \
             most of its time paused for them"
                .to_owned(),
            "use a delay between 100 and 60000 ms; 2000 is the documented example",
        );
    } else if !(100..=60_000).contains(&d) {
        r.push(
            "W028",
            subject,
            format!(
                "checkpoint delay {d} ms is outside 100..60000 ms; too short costs throughput, \
                 too long makes failover lose more"
            ),
            "2000 ms is the documented example, QEMU's default is 20000",
        );
    }
}

/// Rule 41: devices Lockstep places itself use explicit addresses on bus 0 that nothing else
/// uses, identical on both sides (NICs are shared by construction, disks are checked by rule
/// 22). A slot may hold up to 8 functions of guest disks; function 0 must exist.
fn check_pci_slots(g: &Graph, r: &mut Report) {
    for side in [Side::Primary, Side::Secondary] {
        let mut used: BTreeMap<(u32, u32), String> = BTreeMap::new();
        let mut claim = |r: &mut Report, slot: u32, function: u32, who: String| {
            if !(3..=0x1f).contains(&slot) || function > 7 {
                r.push(
                    "E041",
                    &[&who],
                    format!(
                        "'{who}' uses PCI address {slot:#04x}.{function}; slots 0x03..0x1f \
                         (functions 0-7) are free on i440fx (0 is the host bridge, 1 the PIIX3, \
                         2 the video card)"
                    ),
                    "pick a slot between 0x03 and 0x1f and a function between 0 and 7",
                );
            } else if let Some(prev) = used.insert((slot, function), who.clone()) {
                r.push(
                    "E041",
                    &[&prev, &who],
                    format!(
                        "'{prev}' and '{who}' both use PCI address {slot:#04x}.{function} on the {}",
                        side.as_str()
                    ),
                    "give every device its own address",
                );
            }
        };
        for nic in &g.doc.nics {
            claim(r, nic.pci_slot, 0, nic.id.clone());
        }
        for d in topology::guest_disks(g, side) {
            claim(r, d.pci_slot, d.pci_function, d.id.clone());
        }
        for ((slot, function), who) in &used {
            if *function > 0 && !used.contains_key(&(*slot, 0)) {
                r.push(
                    "E041",
                    &[who],
                    format!(
                        "'{who}' uses function {function} of PCI slot {slot:#04x}, which has no \
                         function 0 on the {}",
                        side.as_str()
                    ),
                    "put a device at function 0 of the slot first",
                );
            }
        }
    }
}
