//! Building steps: the [`Steps`] collector (numbering, phase, side) and the pieces several
//! phases and runbooks share (COLO support checks, images, overlays, the secondary's exports,
//! the initial copy, the replication legs, starting COLO, waiting for protection).

use super::{Action, Condition, HostOp, PhaseName, Step};
use crate::model::{Side, Storage};
use crate::render::names::{self, ProxyNames};
use crate::render::qemu;
use crate::render::qmp::*;
use crate::render::Validated;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub(super) fn eq(pointer: &str, value: Value) -> Condition {
    Condition::Equals {
        pointer: pointer.to_owned(),
        value,
    }
}

pub(super) fn fields(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

pub(super) const MINUTE: u64 = 60_000;

pub(super) struct Steps<'a> {
    pub(super) v: &'a Validated,
    pub(super) phase: PhaseName,
    steps: Vec<Step>,
}

impl<'a> Steps<'a> {
    pub(super) fn new(v: &'a Validated) -> Steps<'a> {
        Steps {
            v,
            phase: PhaseName::Preflight,
            steps: Vec::new(),
        }
    }

    pub(super) fn push(&mut self, side: Side, action: Action, why: impl Into<String>) {
        self.steps.push(Step {
            n: 0,
            side,
            phase: self.phase,
            action,
            why: why.into(),
        });
    }

    pub(super) fn host(&mut self, side: Side, op: HostOp, why: impl Into<String>) {
        let (argv, expect_stdout) = op.argv();
        self.push(
            side,
            Action::Host {
                argv,
                expect_stdout,
                op,
            },
            why,
        );
    }

    pub(super) fn qmp(&mut self, side: Side, command: QmpCommand, why: impl Into<String>) {
        self.qmp_expect(side, command, Condition::Success, why);
    }

    pub(super) fn qmp_expect(
        &mut self,
        side: Side,
        command: QmpCommand,
        expect: Condition,
        why: impl Into<String>,
    ) {
        self.push(side, Action::Qmp { command, expect }, why);
    }

    pub(super) fn wait(
        &mut self,
        side: Side,
        command: QmpCommand,
        until: Condition,
        timeout_ms: u64,
        why: impl Into<String>,
    ) {
        self.push(
            side,
            Action::Wait {
                command,
                until,
                timeout_ms,
                interval_ms: 100,
            },
            why,
        );
    }

    pub(super) fn launch(&mut self, side: Side, why: &str) {
        let (domain_xml, cmdline) = files(side);
        self.push(
            side,
            Action::Launch {
                domain_xml,
                cmdline,
                qmp_socket: names::qmp_socket(self.v.doc(), side),
                paused: side == Side::Primary,
            },
            why,
        );
        self.qmp(
            side,
            QmpCommand::QmpCapabilities,
            "leave QMP negotiation mode",
        );
    }

    /// Steps collected since the last call, numbered from `first`.
    pub(super) fn take(&mut self, first: &mut u32) -> Vec<Step> {
        let mut out = std::mem::take(&mut self.steps);
        for s in &mut out {
            s.n = *first;
            *first += 1;
        }
        out
    }
}

pub(super) fn files(side: Side) -> (&'static str, &'static str) {
    match side {
        Side::Primary => ("primary.xml", "primary.cmdline"),
        Side::Secondary => ("secondary.xml", "secondary.cmdline"),
    }
}

pub(super) fn caps(list: &[(&'static str, bool)]) -> QmpCommand {
    QmpCommand::MigrateSetCapabilities(MigrateSetCapabilities {
        capabilities: list
            .iter()
            .map(|(capability, state)| Capability {
                capability,
                state: *state,
            })
            .collect(),
    })
}

pub(super) fn qom_status(id: &str, on: bool) -> QmpCommand {
    QmpCommand::QomSet(QomSet {
        path: format!("/objects/{id}"),
        property: "status",
        value: Value::from(if on { "on" } else { "off" }),
    })
}

pub(super) fn check_colo_support(s: &mut Steps, side: Side) {
    s.qmp_expect(
        side,
        QmpCommand::QueryMigrateCapabilities,
        Condition::AnyItem {
            pointer: String::new(),
            fields: fields(&[("capability", json!("x-colo"))]),
        },
        "the QEMU build supports COLO (rule 29: x-colo exists only with CONFIG_REPLICATION)",
    );
    if s.v.has_proxy() {
        let types: &[&str] = match side {
            Side::Primary => &["filter-mirror", "filter-redirector", "colo-compare"],
            Side::Secondary => &["filter-redirector", "filter-rewriter"],
        };
        for t in types {
            s.qmp_expect(
                side,
                QmpCommand::QomListTypes(QomListTypes {
                    implements: (*t).to_owned(),
                }),
                Condition::AnyItem {
                    pointer: String::new(),
                    fields: fields(&[("name", json!(t))]),
                },
                format!("the QEMU build has the COLO proxy object {t}"),
            );
        }
    }
}

pub(super) fn image_info(s: &mut Steps, side: Side, img: &crate::model::ImageNode) {
    let (kind, driver) = match img.storage {
        Storage::File => ("a regular file", "file"),
        Storage::Block => ("a block device", "host_device"),
    };
    s.host(
        side,
        HostOp::ImageKind {
            path: img.path.clone(),
            storage: img.storage,
        },
        format!(
            "image '{}' is {kind}, as the document says (QEMU opens it with the {driver} driver, \
             which refuses the other kind)",
            img.id
        ),
    );
    s.host(
        side,
        HostOp::ImageInfo {
            path: img.path.clone(),
            format: img.format,
            size_bytes: img.size_bytes,
        },
        format!(
            "image '{}' exists with the size and format the document says",
            img.id
        ),
    );
}

pub(super) fn prepare_overlays(s: &mut Steps) {
    let mut dirs: Vec<String> = Vec::new();
    let v = s.v;
    for d in v.disks() {
        for img in [&d.s_active, &d.s_hidden] {
            if let Some((dir, _)) = img.path.rsplit_once('/') {
                if !dir.is_empty() && !dirs.iter().any(|x| x == dir) {
                    dirs.push(dir.to_owned());
                }
            }
        }
    }
    for dir in dirs {
        s.host(
            Side::Secondary,
            HostOp::Directory { path: dir },
            "directory of the active and hidden overlays",
        );
    }
    let v = s.v;
    for d in v.disks() {
        for (role, img) in [("hidden", &d.s_hidden), ("active", &d.s_active)] {
            s.host(
                Side::Secondary,
                HostOp::Overlay {
                    path: img.path.clone(),
                    size_bytes: img.size_bytes,
                },
                format!(
                    "recreate the {role} overlay '{}' empty, the size of the secondary disk (rules 16-18)",
                    img.id
                ),
            );
        }
    }
}

pub(super) fn prepare_secondary(s: &mut Steps) {
    let v = s.v;
    let sec = Side::Secondary;
    s.qmp(
        sec,
        caps(&[("x-colo", true)]),
        "x-colo on the secondary before migrate-incoming (rule 26, QEMU >= 8.1 requires it)",
    );
    s.qmp(
        sec,
        QmpCommand::NbdServerStart(NbdServerStart {
            addr: LegacyInetAddress {
                kind: "inet",
                data: InetData {
                    host: v.address(sec).to_owned(),
                    port: v.doc().colo.nbd_port.to_string(),
                },
            },
        }),
        "one NBD server per QEMU (rule 40), before the primary migrates",
    );
    for d in v.disks() {
        s.qmp(
            sec,
            QmpCommand::BlockExportAdd(BlockExportAdd {
                kind: "nbd",
                id: format!("export-{}", d.s_disk.id),
                node_name: d.s_disk.id.clone(),
                name: names::export_name(&d.s_disk.id).to_owned(),
                writable: true,
            }),
            format!(
                "export secondary disk '{}' writable; the export also gives it the block backend replication needs (rule 19)",
                d.s_disk.id
            ),
        );
    }
    s.qmp(
        sec,
        QmpCommand::MigrateIncoming(Uri {
            uri: v.tcp_uri(sec, v.doc().colo.migration_port),
        }),
        "listen for the primary's migration stream",
    );
}

pub(super) fn mirror_to_secondary(s: &mut Steps, stop_first: bool) {
    let v = s.v;
    let p = Side::Primary;
    for d in v.disks() {
        let job = names::sync_job_id(&d.p_local.id);
        s.qmp(
            p,
            QmpCommand::BlockdevAdd(qemu::nbd_client(v, &d.p_nbd, &d.s_disk.id)),
            format!(
                "NBD client to secondary disk '{}' for the initial copy",
                d.s_disk.id
            ),
        );
        s.qmp(
            p,
            QmpCommand::BlockdevMirror(BlockdevMirror {
                job_id: job.clone(),
                device: d.p_quorum.clone(),
                target: d.p_nbd.clone(),
                sync: "full",
            }),
            "copy every block to the secondary: a new quorum child must hold the same data (rule 42)",
        );
        s.wait(
            p,
            QmpCommand::QueryBlockJobs,
            Condition::AnyItem {
                pointer: String::new(),
                fields: fields(&[("device", json!(job)), ("ready", json!(true))]),
            },
            24 * 60 * MINUTE,
            format!("job {job} has copied everything and mirrors new writes"),
        );
    }
    if stop_first {
        s.qmp(
            p,
            QmpCommand::Stop,
            "pause the guest so no write lands between the copy and the replication leg",
        );
    }
    for d in v.disks() {
        let job = names::sync_job_id(&d.p_local.id);
        s.qmp(
            p,
            QmpCommand::BlockJobCancel(Device {
                device: job.clone(),
            }),
            "cancelling a ready mirror ends it without switching the guest to the copy",
        );
        s.wait(
            p,
            QmpCommand::QueryBlockJobs,
            Condition::NoItem {
                pointer: String::new(),
                fields: fields(&[("device", json!(job))]),
            },
            MINUTE,
            format!("job {job} is gone"),
        );
        s.qmp(
            p,
            QmpCommand::BlockdevDel(NodeName {
                node_name: d.p_nbd.clone(),
            }),
            "remove the copy's NBD client; the replication leg brings its own",
        );
    }
}

pub(super) fn connect_replication(s: &mut Steps) {
    let v = s.v;
    for d in v.disks() {
        s.qmp(
            Side::Primary,
            QmpCommand::BlockdevAdd(qemu::primary_replication(v, d)),
            format!(
                "remote leg of '{}': replication (mode primary) over NBD to '{}' (rules 8-10)",
                d.p_quorum, d.s_disk.id
            ),
        );
        s.qmp(
            Side::Primary,
            QmpCommand::XBlockdevChange(XBlockdevChange {
                parent: d.p_quorum.clone(),
                node: Some(d.p_replication.clone()),
                child: None,
            }),
            format!("attach it as children.{} of the quorum", d.remote_index),
        );
    }
}

pub(super) fn start_colo(s: &mut Steps) {
    let v = s.v;
    let p = Side::Primary;
    s.qmp(
        p,
        caps(&[("x-colo", true), ("events", true)]),
        "x-colo on the primary (rule 26); events for MIGRATION state changes",
    );
    s.qmp(
        p,
        QmpCommand::MigrateSetParameters(MigrateSetParameters {
            x_checkpoint_delay: v.doc().colo.checkpoint_delay_ms,
        }),
        "checkpoint interval (rule 28)",
    );
    s.qmp(
        p,
        QmpCommand::Migrate(Uri {
            uri: v.tcp_uri(Side::Secondary, v.doc().colo.migration_port),
        }),
        "start COLO: the first migration, then checkpoints forever",
    );
    for nic in &v.doc().nics {
        if nic.proxy.is_some() {
            let n = ProxyNames::new(v.doc(), &nic.id);
            for id in [&n.filter_mirror, &n.redirect_in] {
                s.qmp(
                    p,
                    qom_status(id, true),
                    "peer-facing filters go on once migration runs (rule 38)",
                );
            }
        }
    }
}

pub(super) fn wait_protected(s: &mut Steps) {
    let (p, sec) = (Side::Primary, Side::Secondary);
    s.wait(
        p,
        QmpCommand::QueryMigrate,
        eq("/status", json!("colo")),
        30 * MINUTE,
        "the first migration finished and COLO runs",
    );
    s.wait(p, QmpCommand::QueryStatus, eq("/status", json!("running")), MINUTE, "query-migrate says colo slightly before replication starts; only a running primary is protected (QEMU migration/colo.c starts the VM when it enters COLO)");
    s.wait(
        sec,
        QmpCommand::QueryStatus,
        eq("/status", json!("running")),
        MINUTE,
        "the secondary runs in lockstep",
    );
    s.qmp_expect(
        p,
        QmpCommand::QueryColoStatus,
        eq("/mode", json!("primary")),
        "the primary is in COLO primary mode",
    );
    s.qmp_expect(
        sec,
        QmpCommand::QueryColoStatus,
        eq("/mode", json!("secondary")),
        "the secondary is in COLO secondary mode",
    );
}

pub(super) fn proxy_recreate(s: &mut Steps) {
    let v = s.v;
    for nic in &v.doc().nics {
        let (chardevs, objects) = qemu::proxy(v, nic, Side::Primary);
        for c in chardevs {
            s.qmp(
                Side::Primary,
                QmpCommand::ChardevAdd(c.qmp_args()),
                format!("re-create proxy chardev {}", c.id),
            );
        }
        // A primary that was a secondary before keeps its filter-rewriter (it still rewrites
        // the sequence numbers of connections opened then). QEMU docs/COLO-FT.txt: the
        // primary's filters go before it. Each filter is inserted at the head, last first, so
        // they end up in the command line's order, ahead of anything already on the netdev.
        let (filters, others): (Vec<_>, Vec<_>) = objects
            .into_iter()
            .partition(|o| !matches!(o, qemu::QomObject::ColoCompare { .. }));
        for o in filters.iter().rev() {
            let mut args = serde_json::to_value(o).unwrap_or_default();
            if let Some(map) = args.as_object_mut() {
                map.insert("position".to_owned(), json!("head"));
                map.insert("insert".to_owned(), json!("before"));
            }
            s.qmp(
                Side::Primary,
                QmpCommand::ObjectAdd(args),
                format!(
                    "re-create proxy filter {} ahead of the netdev's other filters",
                    o.id()
                ),
            );
        }
        for o in others {
            let id = o.id().to_owned();
            s.qmp(
                Side::Primary,
                QmpCommand::ObjectAdd(serde_json::to_value(&o).unwrap_or_default()),
                format!("re-create proxy object {id}"),
            );
        }
    }
}
