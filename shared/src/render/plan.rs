//! The deploy plan and the runbooks: ordered, concrete steps, each saying its side and phase.
//!
//! Someone with a shell and a QMP connection on each host can carry it out top to bottom:
//! `host` steps run a program (argv, no shell), `launch` starts that side's QEMU (from the domain
//! XML or the command line), `qmp` sends one command and checks its reply, `wait` polls a query
//! until a condition holds. The order follows `lab.md` (what worked on QEMU 7.2) and
//! `colo-reference.md` §2.

use super::names::{self, ProxyNames};
use super::qemu;
use super::qmp::*;
use super::Validated;
use crate::model::{ImageFormat, InitialSync, Side, Storage};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub const PLAN_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub plan_version: u32,
    pub guest: String,
    pub primary: PlanHost,
    pub secondary: PlanHost,
    /// Deploy: phases in order.
    pub phases: Vec<Phase>,
    /// Operations on a deployed pair.
    pub runbooks: Vec<Runbook>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanHost {
    pub name: String,
    pub address: String,
    pub qmp_socket: String,
    pub domain_xml: &'static str,
    pub cmdline: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub name: &'static str,
    pub title: &'static str,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Runbook {
    pub name: &'static str,
    pub title: &'static str,
    /// When to run it, and what must be true first.
    pub when: &'static str,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// 1-based position in the deploy plan or in the runbook.
    pub n: u32,
    pub side: Side,
    pub phase: &'static str,
    #[serde(flatten)]
    pub action: Action,
    pub why: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// Run a program on the host (no shell); a non-zero exit is a failure.
    Host {
        argv: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        expect_stdout: Option<Condition>,
        /// The same step, typed: what the deploy engine does through libvirt (it runs no
        /// program on a host).
        #[serde(skip)]
        op: HostOp,
    },
    /// Start the side's QEMU: define and start `domain_xml` with libvirt, or run `cmdline`.
    /// Then connect to `qmp_socket`.
    Launch {
        domain_xml: &'static str,
        cmdline: &'static str,
        qmp_socket: String,
        /// Start with the guest paused (libvirt: `--paused`; the command line has `-S`).
        paused: bool,
    },
    /// Send one QMP command; the reply must satisfy `expect`.
    Qmp {
        command: QmpCommand,
        expect: Condition,
    },
    /// Repeat a QMP query every `interval_ms` until `until` holds; fail after `timeout_ms`.
    Wait {
        command: QmpCommand,
        until: Condition,
        timeout_ms: u64,
        interval_ms: u64,
    },
}

/// What a host step checks or changes. `argv` and `expect` are the same step as a program for
/// a person with a shell; the deploy engine does it through libvirt's storage API instead.
#[derive(Debug, Clone, PartialEq)]
pub enum HostOp {
    /// The host has KVM (`/dev/kvm`).
    Kvm,
    /// The image exists and is a regular file or a block device, as the document says.
    ImageKind { path: String, storage: Storage },
    /// The image has the document's format and virtual size.
    ImageInfo {
        path: String,
        format: ImageFormat,
        size_bytes: u64,
    },
    /// The directory exists (made if missing).
    Directory { path: String },
    /// An empty qcow2 image of this virtual size at `path`, replacing any image there.
    Overlay { path: String, size_bytes: u64 },
    /// Nothing is left at `path`.
    Remove { path: String },
}

impl HostOp {
    /// The program that does the same on a host, and what its JSON output must satisfy.
    pub fn argv(&self) -> (Vec<String>, Option<Condition>) {
        let v = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        match self {
            HostOp::Kvm => (v(&["test", "-c", "/dev/kvm"]), None),
            HostOp::ImageKind { path, storage } => {
                let test = match storage {
                    Storage::File => "-f",
                    Storage::Block => "-b",
                };
                (v(&["test", test, path]), None)
            }
            HostOp::ImageInfo {
                path,
                format,
                size_bytes,
            } => (
                v(&[
                    "qemu-img",
                    "info",
                    "--output=json",
                    "-f",
                    format.as_str(),
                    path,
                ]),
                Some(eq("/virtual-size", json!(size_bytes))),
            ),
            HostOp::Directory { path } => (v(&["mkdir", "-p", path]), None),
            HostOp::Overlay { path, size_bytes } => (
                v(&[
                    "qemu-img",
                    "create",
                    "-q",
                    "-f",
                    "qcow2",
                    path,
                    &size_bytes.to_string(),
                ]),
                None,
            ),
            HostOp::Remove { path } => (v(&["rm", "-f", path]), None),
        }
    }
}

/// A check on a QMP `return` value (or a host step's JSON stdout). Pointers are RFC 6901.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "check", rename_all = "kebab-case")]
pub enum Condition {
    /// The command succeeded (`return`, not `error`).
    Success,
    /// The value at `pointer` equals `value`.
    Equals { pointer: String, value: Value },
    /// The array at `pointer` has an element whose `fields` all equal the given values.
    AnyItem {
        pointer: String,
        fields: BTreeMap<String, Value>,
    },
    /// The array at `pointer` has no such element.
    NoItem {
        pointer: String,
        fields: BTreeMap<String, Value>,
    },
}

impl Condition {
    /// Whether `value` (a QMP `return`) satisfies the condition; `Err` says what differed.
    pub fn check(&self, value: &Value) -> Result<(), String> {
        let found = |pointer: &str, fields: &BTreeMap<String, Value>| {
            let arr = value
                .pointer(pointer)
                .and_then(Value::as_array)
                .ok_or_else(|| format!("{pointer:?} is not an array"))?;
            Ok::<bool, String>(
                arr.iter()
                    .any(|item| fields.iter().all(|(k, v)| item.get(k) == Some(v))),
            )
        };
        match self {
            Condition::Success => Ok(()),
            Condition::Equals {
                pointer,
                value: want,
            } => match value.pointer(pointer) {
                Some(got) if got == want => Ok(()),
                got => Err(format!(
                    "{pointer:?} is {}, expected {want}",
                    got.map_or_else(|| "missing".to_owned(), Value::to_string)
                )),
            },
            Condition::AnyItem { pointer, fields } => {
                if found(pointer, fields)? {
                    Ok(())
                } else {
                    Err(format!("no element of {pointer:?} has {fields:?}"))
                }
            }
            Condition::NoItem { pointer, fields } => {
                if found(pointer, fields)? {
                    Err(format!("an element of {pointer:?} has {fields:?}"))
                } else {
                    Ok(())
                }
            }
        }
    }
}

fn eq(pointer: &str, value: Value) -> Condition {
    Condition::Equals {
        pointer: pointer.to_owned(),
        value,
    }
}

fn fields(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

const MINUTE: u64 = 60_000;

struct Steps<'a> {
    v: &'a Validated,
    phase: &'static str,
    steps: Vec<Step>,
}

impl<'a> Steps<'a> {
    fn new(v: &'a Validated) -> Steps<'a> {
        Steps {
            v,
            phase: "",
            steps: Vec::new(),
        }
    }

    fn push(&mut self, side: Side, action: Action, why: impl Into<String>) {
        self.steps.push(Step {
            n: 0,
            side,
            phase: self.phase,
            action,
            why: why.into(),
        });
    }

    fn host(&mut self, side: Side, op: HostOp, why: impl Into<String>) {
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

    fn qmp(&mut self, side: Side, command: QmpCommand, why: impl Into<String>) {
        self.qmp_expect(side, command, Condition::Success, why);
    }

    fn qmp_expect(
        &mut self,
        side: Side,
        command: QmpCommand,
        expect: Condition,
        why: impl Into<String>,
    ) {
        self.push(side, Action::Qmp { command, expect }, why);
    }

    fn wait(
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

    fn launch(&mut self, side: Side, why: &str) {
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
    fn take(&mut self, first: &mut u32) -> Vec<Step> {
        let mut out = std::mem::take(&mut self.steps);
        for s in &mut out {
            s.n = *first;
            *first += 1;
        }
        out
    }
}

fn files(side: Side) -> (&'static str, &'static str) {
    match side {
        Side::Primary => ("primary.xml", "primary.cmdline"),
        Side::Secondary => ("secondary.xml", "secondary.cmdline"),
    }
}

fn caps(list: &[(&'static str, bool)]) -> QmpCommand {
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

fn qom_status(id: &str, on: bool) -> QmpCommand {
    QmpCommand::QomSet(QomSet {
        path: format!("/objects/{id}"),
        property: "status",
        value: Value::from(if on { "on" } else { "off" }),
    })
}

fn check_colo_support(s: &mut Steps, side: Side) {
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

fn image_info(s: &mut Steps, side: Side, img: &crate::model::ImageNode) {
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

fn prepare_overlays(s: &mut Steps) {
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

fn prepare_secondary(s: &mut Steps) {
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

fn mirror_to_secondary(s: &mut Steps, stop_first: bool) {
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

fn connect_replication(s: &mut Steps) {
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

fn start_colo(s: &mut Steps) {
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

fn wait_protected(s: &mut Steps) {
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

fn proxy_recreate(s: &mut Steps) {
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
        for o in objects {
            let id = o.id().to_owned();
            s.qmp(
                Side::Primary,
                QmpCommand::ObjectAdd(serde_json::to_value(&o).unwrap_or_default()),
                format!("re-create proxy object {id}"),
            );
        }
    }
}

fn deploy_phases(v: &Validated) -> Vec<Phase> {
    let mut s = Steps::new(v);
    let mut n = 1;
    let mut phases = Vec::new();
    let mut phase = |s: &mut Steps, name, title, f: &dyn Fn(&mut Steps)| {
        s.phase = name;
        f(s);
        phases.push(Phase {
            name,
            title,
            steps: s.take(&mut n),
        });
    };
    phase(&mut s, "preflight", "Check both hosts", &|s| {
        for side in [Side::Primary, Side::Secondary] {
            s.host(
                side,
                HostOp::Kvm,
                "COLO checkpoints need KVM; under TCG, QEMU 7.2 deadlocks in the first checkpoint",
            );
        }
        let v = s.v;
        for d in v.disks() {
            image_info(s, Side::Primary, &d.p_local);
            image_info(s, Side::Secondary, &d.s_disk);
        }
    });
    phase(
        &mut s,
        "prepare-storage",
        "Create directories and empty overlays",
        &|s| {
            for side in [Side::Primary, Side::Secondary] {
                let dir = match side {
                    Side::Primary => s.v.doc().hosts.primary.run_dir.clone(),
                    Side::Secondary => s.v.doc().hosts.secondary.run_dir.clone(),
                };
                s.host(
                    side,
                    HostOp::Directory { path: dir },
                    "directory for the QMP and proxy sockets",
                );
            }
            prepare_overlays(s);
        },
    );
    phase(
        &mut s,
        "start-secondary",
        "Start the secondary, waiting for the migration",
        &|s| {
            s.launch(Side::Secondary, "start the secondary with -incoming defer and the whole replication chain (rule 26)");
            check_colo_support(s, Side::Secondary);
            s.qmp_expect(
                Side::Secondary,
                QmpCommand::QueryStatus,
                eq("/status", json!("inmigrate")),
                "the secondary waits for an incoming migration",
            );
        },
    );
    phase(
        &mut s,
        "prepare-secondary",
        "Export the secondary disks and listen",
        &prepare_secondary,
    );
    phase(&mut s, "start-primary", "Start the primary, paused", &|s| {
        s.launch(
            Side::Primary,
            "start the primary paused: COLO starts its guest at the first checkpoint",
        );
        check_colo_support(s, Side::Primary);
        s.qmp_expect(
            Side::Primary,
            QmpCommand::QueryStatus,
            eq("/status", json!("prelaunch")),
            "the guest has not run yet",
        );
    });
    phase(
        &mut s,
        "initial-sync",
        "Copy the primary disks to the secondary",
        &|s| match s.v.doc().colo.initial_sync {
            InitialSync::Mirror => mirror_to_secondary(s, false),
            InitialSync::AssumeIdentical => {}
        },
    );
    phase(
        &mut s,
        "connect-replication",
        "Attach the replication legs",
        &connect_replication,
    );
    phase(&mut s, "start-colo", "Start COLO", &start_colo);
    phase(
        &mut s,
        "wait-protected",
        "Wait until protected",
        &wait_protected,
    );
    phases
}

fn failover_to_secondary(v: &Validated) -> Vec<Step> {
    let mut s = Steps::new(v);
    s.phase = "failover";
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

fn failover_to_primary(v: &Validated) -> Vec<Step> {
    let mut s = Steps::new(v);
    s.phase = "failover";
    let p = Side::Primary;
    detach_remote_legs(&mut s);
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

fn reprotect(v: &Validated) -> Vec<Step> {
    let mut s = Steps::new(v);
    s.phase = "prepare-storage";
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
    s.phase = "start-secondary";
    s.launch(
        Side::Secondary,
        "start a fresh secondary with -incoming defer",
    );
    check_colo_support(&mut s, Side::Secondary);
    s.phase = "prepare-secondary";
    prepare_secondary(&mut s);
    s.phase = "resync";
    proxy_recreate(&mut s);
    mirror_to_secondary(&mut s, true);
    s.phase = "connect-replication";
    connect_replication(&mut s);
    s.phase = "start-colo";
    start_colo(&mut s);
    s.phase = "wait-protected";
    wait_protected(&mut s);
    s.take(&mut 1)
}

fn teardown(v: &Validated) -> Vec<Step> {
    let mut s = Steps::new(v);
    s.phase = "teardown";
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

fn plan_host(v: &Validated, side: Side) -> PlanHost {
    let h = match side {
        Side::Primary => &v.doc().hosts.primary,
        Side::Secondary => &v.doc().hosts.secondary,
    };
    let (domain_xml, cmdline) = files(side);
    PlanHost {
        name: h.name.clone(),
        address: h.address.clone(),
        qmp_socket: names::qmp_socket(v.doc(), side),
        domain_xml,
        cmdline,
    }
}

/// The whole plan for a valid document.
pub fn build(v: &Validated) -> Plan {
    Plan {
        plan_version: PLAN_VERSION,
        guest: v.doc().guest.name.clone(),
        primary: plan_host(v, Side::Primary),
        secondary: plan_host(v, Side::Secondary),
        phases: deploy_phases(v),
        runbooks: vec![
            Runbook {
                name: "failover-to-secondary",
                title: "Fail over to the secondary",
                when: "the primary host or its QEMU is lost; run on the secondary only after making sure the primary is really gone (no split brain)",
                steps: failover_to_secondary(v),
            },
            Runbook {
                name: "failover-to-primary",
                title: "Fail over to the primary",
                when: "the secondary host or its QEMU is lost; the primary keeps serving the guest",
                steps: failover_to_primary(v),
            },
            Runbook {
                name: "reprotect",
                title: "Re-protect onto the secondary host",
                when: "after fail over to the primary, once the secondary host is back (or replaced) with the secondary disk at its path; copies every block again before replication restarts",
                steps: reprotect(v),
            },
            Runbook {
                name: "teardown",
                title: "Tear down",
                when: "stop protecting and stop the guest on both hosts",
                steps: teardown(v),
            },
        ],
    }
}
