//! The runbooks on a deployed pair: fail over to the secondary or to the primary, re-protect
//! onto the secondary host, tear down.

use super::steps::*;
use super::{Action, Condition, HostOp, PhaseName, Step};
use crate::model::Side;
use crate::render::names::ProxyNames;
use crate::render::qemu;
use crate::render::qmp::*;
use crate::render::swap::swapped;
use crate::render::Validated;
use serde_json::json;

pub(super) fn failover_to_secondary(v: &Validated) -> Vec<Step> {
    let mut s = Steps::new(v);
    s.phase = PhaseName::Failover;
    let sec = Side::Secondary;
    s.qmp(
        sec,
        QmpCommand::NbdServerStop,
        "stop receiving the dead primary's writes",
    );
    s.qmp(
        sec,
        QmpCommand::XColoLostHeartbeat,
        "take over: the active overlay is committed into the secondary disk",
    );
    s.wait(
        sec,
        QmpCommand::QueryColoStatus,
        eq("/mode", json!("none")),
        MINUTE,
        "COLO has ended on this side (COLO_EXIT may say reason error even after a requested failover)",
    );
    for d in v.disks() {
        // QEMU block/replication.c: on failover the secondary commits the active overlay (and
        // the hidden one under it) into the secondary disk with an internal job that
        // query-block-jobs does not list; when it is done the replication node's chain is the
        // disk alone.
        s.wait(
            sec,
            QmpCommand::QueryNamedBlockNodes,
            Condition::AnyItem {
                pointer: String::new(),
                fields: fields(&[
                    ("node-name", json!(d.s_replication)),
                    ("backing_file_depth", json!(1)),
                ]),
            },
            10 * MINUTE,
            format!(
                "the overlays of '{}' are committed into secondary disk '{}': only then is the \
                 failover complete",
                d.s_replication, d.s_disk.id
            ),
        );
        for img in [&d.s_active, &d.s_hidden] {
            s.qmp(
                sec,
                QmpCommand::BlockdevDel(NodeName {
                    node_name: img.id.clone(),
                }),
                format!(
                    "release overlay '{}': the commit left it out of the guest's graph",
                    img.id
                ),
            );
        }
    }
    for nic in &v.doc().nics {
        if nic.proxy.is_some() {
            let n = ProxyNames::new(v.doc(), &nic.id);
            for id in [&n.f2, &n.f1] {
                s.qmp(
                    sec,
                    QmpCommand::ObjectDel(Id { id: id.clone() }),
                    "packets no longer come from the primary",
                );
            }
            for id in [&n.red1, &n.red0] {
                s.qmp(
                    sec,
                    QmpCommand::ChardevRemove(Id { id: id.clone() }),
                    "drop the sockets to the dead primary",
                );
            }
        }
    }
    s.wait(
        sec,
        QmpCommand::QueryStatus,
        eq("/status", json!("running")),
        MINUTE,
        "the former secondary now serves the guest",
    );
    for d in v.disks() {
        for img in [&d.s_active, &d.s_hidden] {
            s.host(
                sec,
                HostOp::Remove {
                    path: img.path.clone(),
                },
                format!("remove overlay '{}': it holds nothing any more", img.id),
            );
        }
    }
    s.take(&mut 1)
}

fn detach_remote_legs(s: &mut Steps) {
    let v = s.v;
    let p = Side::Primary;
    for nic in &v.doc().nics {
        if nic.proxy.is_some() {
            let n = ProxyNames::new(v.doc(), &nic.id);
            for id in [&n.filter_mirror, &n.redirect_in] {
                s.qmp(
                    p,
                    qom_status(id, false),
                    "stop sending packets to the lost secondary",
                );
            }
        }
    }
    for d in v.disks() {
        s.qmp(
            p,
            QmpCommand::XBlockdevChange(XBlockdevChange {
                parent: d.p_quorum.clone(),
                node: None,
                child: Some(format!("children.{}", d.remote_index)),
            }),
            "remove the remote leg first: after COLO stops it fails every I/O (rule 43)",
        );
    }
}

pub(super) fn failover_to_primary(v: &Validated) -> Vec<Step> {
    let mut s = Steps::new(v);
    s.phase = PhaseName::Failover;
    let p = Side::Primary;
    detach_remote_legs(&mut s);
    s.qmp(
        p,
        QmpCommand::Yank(Yank::primary_nbd_clients(v.disks())),
        "cut the NBD clients' connections: across a dead link (a partition, the secondary \
         fenced) their requests never end, and leaving COLO stops the guest and flushes every \
         node (QEMU's vm_stop), which would wait on them for ever",
    );
    s.qmp(
        p,
        QmpCommand::XColoLostHeartbeat,
        "leave COLO and continue alone",
    );
    s.wait(
        p,
        QmpCommand::QueryColoStatus,
        eq("/mode", json!("none")),
        MINUTE,
        "COLO has ended on this side",
    );
    for d in v.disks() {
        s.qmp(
            p,
            QmpCommand::BlockdevDel(NodeName {
                node_name: d.p_replication.clone(),
            }),
            "delete the detached remote leg and its NBD client",
        );
    }
    for nic in &v.doc().nics {
        if nic.proxy.is_some() {
            let (chardevs, objects) = qemu::proxy(v, nic, p);
            let mut objs: Vec<String> = objects.iter().map(|o| o.id().to_owned()).collect();
            // colo-compare first: it holds the chardevs the redirectors also use.
            objs.rotate_right(1);
            for id in objs {
                s.qmp(
                    p,
                    QmpCommand::ObjectDel(Id { id }),
                    "the proxy is not needed without a peer",
                );
            }
            for c in chardevs.iter().rev() {
                s.qmp(
                    p,
                    QmpCommand::ChardevRemove(Id { id: c.id.clone() }),
                    "remove the proxy's sockets",
                );
            }
        }
    }
    s.wait(
        p,
        QmpCommand::QueryStatus,
        eq("/status", json!("running")),
        MINUTE,
        "the primary serves the guest alone",
    );
    s.take(&mut 1)
}

pub(super) fn reprotect(v: &Validated) -> Vec<Step> {
    let mut s = Steps::new(v);
    s.phase = PhaseName::PrepareStorage;
    s.host(
        Side::Secondary,
        HostOp::Directory {
            path: v.doc().hosts.secondary.run_dir.clone(),
        },
        "directory for the QMP and proxy sockets",
    );
    for d in v.disks() {
        image_info(&mut s, Side::Secondary, &d.s_disk);
    }
    prepare_overlays(&mut s);
    s.phase = PhaseName::StartSecondary;
    s.launch(
        Side::Secondary,
        "start a fresh secondary with -incoming defer",
    );
    check_colo_support(&mut s, Side::Secondary);
    s.phase = PhaseName::PrepareSecondary;
    prepare_secondary(&mut s);
    s.phase = PhaseName::Resync;
    proxy_recreate(&mut s);
    mirror_to_secondary(&mut s, true);
    s.phase = PhaseName::ConnectReplication;
    connect_replication(&mut s);
    s.phase = PhaseName::StartColo;
    start_colo(&mut s);
    s.phase = PhaseName::WaitProtected;
    wait_protected(&mut s);
    s.take(&mut 1)
}

/// Re-protect after a failover to the secondary: the survivor on the secondary's host becomes
/// the primary and a fresh secondary is built on the primary's host: the swapped pair's
/// re-protect ([`crate::render::swap`]), each step's side given as the original pair names
/// the host. The new secondary's domain is `swapped-secondary.xml`.
pub(super) fn reprotect_swapped(v: &Validated) -> Vec<Step> {
    // A valid pair swaps into a valid pair (tested in `swap`).
    let Ok(w) = Validated::new(swapped(v)) else {
        return Vec::new();
    };
    let mut steps = reprotect(&w);
    for s in &mut steps {
        s.side = s.side.other();
        if let Action::Launch {
            domain_xml,
            cmdline,
            ..
        } = &mut s.action
        {
            *domain_xml = "swapped-secondary.xml";
            *cmdline = "swapped-secondary.cmdline";
        }
    }
    steps
}

pub(super) fn teardown(v: &Validated) -> Vec<Step> {
    let mut s = Steps::new(v);
    s.phase = PhaseName::Teardown;
    s.qmp(
        Side::Secondary,
        QmpCommand::Quit,
        "stop the secondary first, so the primary never fails over to it",
    );
    s.qmp(Side::Primary, QmpCommand::Quit, "stop the primary guest");
    for d in v.disks() {
        for img in [&d.s_active, &d.s_hidden] {
            s.host(
                Side::Secondary,
                HostOp::Remove {
                    path: img.path.clone(),
                },
                format!("remove overlay '{}'", img.id),
            );
        }
    }
    s.take(&mut 1)
}
