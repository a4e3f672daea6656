//! The deploy plan and the runbooks: ordered, concrete steps, each saying its side and phase.
//!
//! Someone with a shell and a QMP connection on each host can carry it out top to bottom:
//! `host` steps run a program (argv, no shell), `launch` starts that side's QEMU (from the domain
//! XML or the command line), `qmp` sends one command and checks its reply, `wait` polls a query
//! until a condition holds. The order follows `lab.md` (what worked on QEMU 7.2) and
//! `colo-reference.md` §2.
//!
//! The module's parts: this file holds the plan's types ([`Plan`], [`Phase`] and [`PhaseName`],
//! [`Step`], [`Action`], [`HostOp`], [`Condition`]) and [`build`]; `steps.rs` the step builder
//! and the pieces phases share; `deploy.rs` the deploy phases; `runbooks.rs` the runbooks.

mod deploy;
mod runbooks;
mod steps;

use super::names;
use super::qmp::QmpCommand;
use super::Validated;
use crate::model::{ImageFormat, Side, Storage};
use deploy::deploy_phases;
use runbooks::{
    failover_to_primary, failover_to_secondary, reprotect, reprotect_swapped, teardown,
};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use steps::{eq, files};

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

/// The phases of the deploy, in order, and of the runbooks; serialized as their kebab-case
/// names (`start-secondary`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseName {
    Preflight,
    PrepareStorage,
    StartSecondary,
    PrepareSecondary,
    StartPrimary,
    InitialSync,
    ConnectReplication,
    StartColo,
    WaitProtected,
    Failover,
    Resync,
    Teardown,
}

impl PhaseName {
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseName::Preflight => "preflight",
            PhaseName::PrepareStorage => "prepare-storage",
            PhaseName::StartSecondary => "start-secondary",
            PhaseName::PrepareSecondary => "prepare-secondary",
            PhaseName::StartPrimary => "start-primary",
            PhaseName::InitialSync => "initial-sync",
            PhaseName::ConnectReplication => "connect-replication",
            PhaseName::StartColo => "start-colo",
            PhaseName::WaitProtected => "wait-protected",
            PhaseName::Failover => "failover",
            PhaseName::Resync => "resync",
            PhaseName::Teardown => "teardown",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub name: PhaseName,
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
    pub phase: PhaseName,
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
                name: "reprotect-swapped",
                title: "Re-protect onto the primary host, roles swapped",
                when: "after fail over to the secondary, once the primary host is back (or replaced) with the primary disk at its path: the running secondary becomes the primary and a fresh secondary (swapped-secondary.xml) starts on the primary's host; copies every block again before replication restarts; from then on the pair is the swapped document (`lockstep swap`)",
                steps: reprotect_swapped(v),
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
