//! Carries out the plan `shared` renders, on two hosts, through libvirt.
//!
//! The plan is written for a person with a shell and a private QMP socket; the engine knows its
//! transport: `host` steps become libvirt storage calls ([`HostOp`]), `launch` defines and
//! starts the rendered domain XML, `qmp` and `wait` steps go through libvirt's monitor
//! passthrough, and `qmp_capabilities` is skipped (libvirt has negotiated already: sending it
//! again fails with "Capabilities negotiation is already complete"). A failing step stops the
//! run and undoes what the run created on both hosts, newest first.

use super::host::{DomState, Host, HostError};
use lockstep_shared::model::{Side, Storage};
use lockstep_shared::render::libvirt::domain_xml;
use lockstep_shared::render::plan::{self, Action, HostOp, PhaseName, Step};
use lockstep_shared::render::qmp::{QmpCommand, Yank};
use lockstep_shared::render::Validated;
use serde::Serialize;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// QEMU releases that never enter COLO (the migration ends `completed`; an upstream
/// regression fixed in November 2025): 10.0.x and 10.1.x.
pub fn known_broken(qemu: (u32, u32, u32)) -> Option<&'static str> {
    match qemu {
        (10, 0 | 1, _) => Some(
            "QEMU 10.0 and 10.1 never enter COLO (the first migration ends 'completed'); \
             use 7.2 to 9.2, or a release with the fix",
        ),
        _ => None,
    }
}

/// The longest the engine sleeps between two polls of a `wait` step.
const POLL_MS: u64 = 10;

/// The two hosts of a pair.
pub struct Pair {
    pub primary: Host,
    pub secondary: Host,
}

impl Pair {
    pub fn open(primary: &str, secondary: &str) -> Result<Pair, HostError> {
        Ok(Pair {
            primary: Host::open(primary)?,
            secondary: Host::open(secondary)?,
        })
    }

    pub fn host(&mut self, side: Side) -> &mut Host {
        match side {
            Side::Primary => &mut self.primary,
            Side::Secondary => &mut self.secondary,
        }
    }
}

/// One step as it was carried out.
#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    pub n: u32,
    pub phase: String,
    pub side: Side,
    /// The libvirt URI of the host it ran on.
    pub host: String,
    /// What was done, in one line (`qmp query-status`, `storage overlay /path`, ...).
    pub command: String,
    /// QEMU's reply or what libvirt said, as text.
    pub reply: String,
    pub micros: u64,
    /// `None` when the step succeeded or was skipped; else why it failed.
    pub error: Option<String>,
    pub skipped: bool,
}

/// Why a run stopped.
#[derive(Debug, Clone)]
pub struct Failed {
    pub step: Box<StepRecord>,
    /// What was undone afterwards, and anything that could not be.
    pub undone: Vec<String>,
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "step {} ({}, {} on {}) failed: {}: {}",
            self.step.n,
            self.step.phase,
            self.step.side.as_str(),
            self.step.host,
            self.step.command,
            self.step.error.as_deref().unwrap_or("")
        )
    }
}

/// Something a run created, to undo when a later step fails.
#[derive(Debug, Clone)]
enum Created {
    Domain(Side),
    Volume(Side, String),
}

/// The QMP command as JSON, or `None` for `qmp_capabilities` (libvirt negotiated already).
fn qmp_json(c: &QmpCommand) -> Option<Value> {
    match c {
        QmpCommand::QmpCapabilities => None,
        c => Some(serde_json::to_value(c).unwrap_or(Value::Null)),
    }
}

fn describe(action: &Action) -> String {
    match action {
        Action::Host { op, .. } => match op {
            HostOp::Kvm => "check KVM".to_owned(),
            HostOp::ImageKind { path, .. } | HostOp::ImageInfo { path, .. } => {
                format!("check image {path}")
            }
            HostOp::Directory { path } => format!("make directory {path}"),
            HostOp::Overlay { path, size_bytes } => {
                format!("create overlay {path} ({size_bytes} bytes, qcow2)")
            }
            HostOp::Remove { path } => format!("remove {path}"),
        },
        Action::Launch { paused, .. } => {
            format!(
                "define and start the domain{}",
                if *paused { " paused" } else { "" }
            )
        }
        Action::Qmp { command, .. } | Action::Wait { command, .. } => {
            let v = serde_json::to_value(command).unwrap_or(Value::Null);
            let kind = if matches!(action, Action::Wait { .. }) {
                "wait"
            } else {
                "qmp"
            };
            format!("{kind} {v}")
        }
    }
}

/// Runs steps in order; on the first failure undoes what they created and returns it.
pub struct Runner<'a> {
    pub v: &'a Validated,
    pub pair: &'a mut Pair,
    created: Vec<Created>,
    /// Called with each step's record as it finishes.
    pub progress: &'a mut dyn FnMut(&StepRecord),
}

impl<'a> Runner<'a> {
    pub fn new(
        v: &'a Validated,
        pair: &'a mut Pair,
        progress: &'a mut dyn FnMut(&StepRecord),
    ) -> Runner<'a> {
        Runner {
            v,
            pair,
            created: Vec::new(),
            progress,
        }
    }

    fn name(&self) -> String {
        self.v.doc().guest.name.clone()
    }

    /// Runs every step; the first failure undoes this runner's creations.
    pub fn run(&mut self, steps: &[Step]) -> Result<(), Failed> {
        for s in steps {
            let start = Instant::now();
            let out = self.step(s);
            let micros = start.elapsed().as_micros() as u64;
            let (reply, error, skipped) = match out {
                Ok(Some(r)) => (r, None, false),
                Ok(None) => (
                    "skipped: libvirt has negotiated QMP capabilities".to_owned(),
                    None,
                    true,
                ),
                Err(e) => (String::new(), Some(e), false),
            };
            let rec = StepRecord {
                n: s.n,
                phase: s.phase.as_str().to_owned(),
                side: s.side,
                host: self.pair.host(s.side).uri.clone(),
                command: describe(&s.action),
                reply,
                micros,
                error,
                skipped,
            };
            (self.progress)(&rec);
            if rec.error.is_some() {
                let undone = self.undo();
                return Err(Failed {
                    step: Box::new(rec),
                    undone,
                });
            }
        }
        Ok(())
    }

    /// Undoes what this runner created, newest first; says what it did.
    pub fn undo(&mut self) -> Vec<String> {
        let name = self.name();
        let uuid = self.v.doc().guest.uuid.clone();
        let mut said = Vec::new();
        while let Some(c) = self.created.pop() {
            match c {
                Created::Domain(side) => {
                    let h = self.pair.host(side);
                    match h.remove_domain(&name, &uuid) {
                        Ok(()) => said.push(format!("removed domain '{name}' from {}", h.uri)),
                        Err(e) => said.push(format!(
                            "could not remove domain '{name}' from {}: {e}",
                            h.uri
                        )),
                    }
                }
                Created::Volume(side, path) => {
                    let h = self.pair.host(side);
                    match h.remove(&path) {
                        Ok(()) => said.push(format!("removed {path} from {}", h.uri)),
                        Err(e) => said.push(format!("could not remove {path} from {}: {e}", h.uri)),
                    }
                }
            }
        }
        said
    }

    /// `Ok(Some(reply))`, `Ok(None)` when skipped, `Err(why)`.
    fn step(&mut self, s: &Step) -> Result<Option<String>, String> {
        let name = self.name();
        let side = s.side;
        match &s.action {
            Action::Host { op, .. } => self.host_op(side, op).map(Some),
            Action::Launch { paused, .. } => {
                let xml = domain_xml(self.v, side);
                let h = self.pair.host(side);
                h.define_and_start(&xml, *paused)
                    .map_err(|e| e.to_string())?;
                self.created.push(Created::Domain(side));
                Ok(Some(format!("domain '{name}' started")))
            }
            Action::Qmp { command, expect } => {
                let Some(cmd) = qmp_json(command) else {
                    return Ok(None);
                };
                let reply = self.qmp(side, &cmd)?;
                expect.check(&reply)?;
                Ok(Some(reply.to_string()))
            }
            Action::Wait {
                command,
                until,
                timeout_ms,
                interval_ms,
            } => {
                let cmd = qmp_json(command).ok_or("cannot wait on qmp_capabilities")?;
                let start = Instant::now();
                let name = self.name();
                loop {
                    // QEMU's own error replies may pass (a job not there yet); libvirt failing
                    // to reach the host or the domain ends the step at once.
                    let reply = self
                        .pair
                        .host(side)
                        .qmp(&name, &cmd)
                        .map_err(|e| e.to_string())?;
                    let last = match reply {
                        Ok(reply) => match until.check(&reply) {
                            Ok(()) => return Ok(Some(reply.to_string())),
                            Err(e) => e,
                        },
                        Err(e) => format!("QEMU: {e}"),
                    };
                    if start.elapsed() >= Duration::from_millis(*timeout_ms) {
                        return Err(format!("timed out after {timeout_ms} ms: {last}"));
                    }
                    // One QMP call through libvirt costs about a millisecond: poll more often
                    // than a person with a shell would (the plan's interval), never less than
                    // every 10 ms.
                    std::thread::sleep(Duration::from_millis((*interval_ms).min(POLL_MS)));
                }
            }
        }
    }

    fn qmp(&mut self, side: Side, cmd: &Value) -> Result<Value, String> {
        let name = self.name();
        self.pair
            .host(side)
            .qmp(&name, cmd)
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("QEMU: {e}"))
    }

    fn host_op(&mut self, side: Side, op: &HostOp) -> Result<String, String> {
        let h = self.pair.host(side);
        let e = |e: HostError| e.to_string();
        match op {
            HostOp::Kvm => {
                let f = h.facts().map_err(e)?;
                if f.kvm {
                    Ok("KVM available".to_owned())
                } else {
                    Err(format!(
                        "{} cannot run KVM guests; COLO checkpoints need KVM",
                        h.uri
                    ))
                }
            }
            HostOp::ImageKind { path, storage } => {
                let img = h
                    .image(path)
                    .map_err(e)?
                    .ok_or_else(|| format!("no image at {path} on {}", h.uri))?;
                let want_block = *storage == Storage::Block;
                if img.block != want_block {
                    return Err(format!(
                        "{path} is {}, the document says {}",
                        if img.block {
                            "a block device"
                        } else {
                            "a file"
                        },
                        if want_block {
                            "a block device"
                        } else {
                            "a file"
                        }
                    ));
                }
                Ok(format!(
                    "{path}: {}",
                    if img.block { "block device" } else { "file" }
                ))
            }
            HostOp::ImageInfo {
                path,
                format,
                size_bytes,
            } => {
                let img = h
                    .image(path)
                    .map_err(e)?
                    .ok_or_else(|| format!("no image at {path} on {}", h.uri))?;
                if img.format != format.as_str() || img.size_bytes != *size_bytes {
                    return Err(format!(
                        "{path} is {} of {} bytes; the document says {} of {size_bytes} bytes",
                        img.format,
                        img.size_bytes,
                        format.as_str()
                    ));
                }
                Ok(format!("{path}: {} {} bytes", img.format, img.size_bytes))
            }
            HostOp::Directory { path } => {
                // QEMU makes its QMP and proxy sockets in the run directory.
                let run_dir = match side {
                    Side::Primary => &self.v.doc().hosts.primary.run_dir,
                    Side::Secondary => &self.v.doc().hosts.secondary.run_dir,
                };
                let owner = h.qemu_user().map_err(e)?;
                h.directory(path, owner, path == run_dir).map_err(e)?;
                Ok(format!("{path} exists"))
            }
            HostOp::Overlay { path, size_bytes } => {
                let owner = h.qemu_user().map_err(e)?;
                h.create_overlay(path, *size_bytes, owner).map_err(e)?;
                self.created.push(Created::Volume(side, path.clone()));
                Ok(format!("{path} created"))
            }
            HostOp::Remove { path } => {
                h.remove(path).map_err(e)?;
                Ok(format!("{path} removed"))
            }
        }
    }
}

/// One preflight check's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// `None` for checks of the pair as a whole.
    pub side: Option<Side>,
    pub host: String,
    pub what: String,
    pub ok: bool,
    /// What was found; for a failed check, also how to fix it.
    pub detail: String,
}

fn check(side: Option<Side>, host: &str, what: &str, res: Result<String, String>) -> Check {
    let (ok, detail) = match res {
        Ok(d) => (true, d),
        Err(d) => (false, d),
    };
    Check {
        side,
        host: host.to_owned(),
        what: what.to_owned(),
        ok,
        detail,
    }
}

/// What one host's facts say about running this document's side there.
pub fn host_checks(
    doc: &lockstep_shared::model::Document,
    side: Side,
    uri: &str,
    facts: &super::host::Facts,
) -> Vec<Check> {
    let mut out = Vec::new();
    let ram = doc.guest.memory_mib * 1024 * 1024;
    out.push(check(
        Some(side),
        uri,
        "KVM",
        if facts.kvm {
            Ok("KVM guests supported".to_owned())
        } else {
            Err(
                "no KVM: COLO checkpoints need it (under TCG QEMU deadlocks at the first \
                 checkpoint); enable virtualisation and load kvm"
                    .to_owned(),
            )
        },
    ));
    let (a, b, c) = facts.qemu;
    out.push(check(
        Some(side),
        uri,
        "QEMU version",
        match known_broken(facts.qemu) {
            Some(why) => Err(format!("QEMU {a}.{b}.{c}: {why}")),
            None => Ok(format!("QEMU {a}.{b}.{c}")),
        },
    ));
    out.push(check(
        Some(side),
        uri,
        "emulator",
        if facts.emulators.contains(&doc.guest.emulator) {
            Ok(doc.guest.emulator.clone())
        } else {
            Err(format!(
                "'{}' is not an emulator this host's libvirt lists ({}); set the document's \
                 emulator to one of them",
                doc.guest.emulator,
                facts.emulators.join(", ")
            ))
        },
    ));
    out.push(check(Some(side), uri, "security", security(uri, facts)));
    let need = match side {
        Side::Primary => ram,
        Side::Secondary => 2 * ram,
    };
    out.push(check(
        Some(side),
        uri,
        "memory",
        if facts.free_memory >= need {
            Ok(format!(
                "{} MiB free, {} MiB needed",
                facts.free_memory >> 20,
                need >> 20
            ))
        } else {
            Err(format!(
                "{} MiB free, {} MiB needed{}; free memory or use a smaller guest",
                facts.free_memory >> 20,
                need >> 20,
                if side == Side::Secondary {
                    " (the secondary keeps a second copy of guest RAM)"
                } else {
                    ""
                }
            ))
        },
    ));
    out
}

/// What libvirt's security drivers mean for a COLO pair. libvirt labels (AppArmor profile,
/// SELinux label, DAC owner) only the images a domain's XML names as disks; the COLO graph's
/// images are named on QEMU's command line (`<qemu:commandline>`), so a confining driver would
/// keep QEMU from opening them. Under DAC with a non-root QEMU, Lockstep makes the overlays and
/// directories for QEMU's user and checks that the images are writable by it.
fn security(uri: &str, facts: &super::host::Facts) -> Result<String, String> {
    if let Some(m) = facts
        .security
        .iter()
        .find(|m| *m == "apparmor" || *m == "selinux")
    {
        return Err(format!(
            "libvirt on {uri} confines QEMU with {m}, which lets QEMU open only the disks a \
             domain's XML names; the COLO images are given on QEMU's command line, so QEMU \
             could not open them. Set security_driver = \"none\" in /etc/libvirt/qemu.conf \
             there (QEMU still runs as the user qemu.conf names), or use a host without {m}"
        ));
    }
    Ok(match facts.qemu_user {
        Some(ids) => format!(
            "QEMU runs as uid {} gid {} (libvirt's DAC driver): overlays and directories are \
             made for that user, images must be writable by it",
            ids.uid, ids.gid
        ),
        None => format!("QEMU runs as root (drivers: {})", facts.security.join(", ")),
    })
}

/// Whether QEMU's user may read and write an image.
fn image_access(
    path: &str,
    uri: &str,
    img: &super::host::Image,
    ids: super::host::Ids,
) -> Result<String, String> {
    let found = match (img.owner, img.mode) {
        (Some(o), Some(m)) => format!("owner {}:{}, mode {m:o}", o.uid, o.gid),
        _ => "permissions unknown".to_owned(),
    };
    if img.writable_by(ids) {
        Ok(format!("{path}: {found}"))
    } else {
        Err(format!(
            "QEMU runs as uid {} gid {} on {uri} and cannot write {path} ({found}); \
             chown {}:{} {path} (or give its group read and write)",
            ids.uid, ids.gid, ids.uid, ids.gid
        ))
    }
}

/// The QMP commands a plan sends (its deploy phases and runbooks), `qmp_capabilities` aside.
fn plan_commands(v: &Validated) -> Vec<String> {
    let plan = plan::build(v);
    let mut names: Vec<String> = plan
        .phases
        .iter()
        .flat_map(|p| &p.steps)
        .chain(plan.runbooks.iter().flat_map(|r| &r.steps))
        .filter_map(|s| match &s.action {
            Action::Qmp { command, .. } | Action::Wait { command, .. } => qmp_json(command),
            _ => None,
        })
        .filter_map(|c| c["execute"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// What a probe of the host's QEMU says about the plan: every command it sends exists, the
/// `x-colo` capability exists, and with the COLO proxy its object types.
fn qemu_offers(v: &Validated, uri: &str, h: &Host) -> Result<String, String> {
    let mut asks = vec![
        json!({"execute": "query-commands"}),
        json!({"execute": "query-migrate-capabilities"}),
    ];
    if v.has_proxy() {
        asks.push(json!({"execute": "qom-list-types", "arguments": {"implements": "netfilter"}}));
        asks.push(
            json!({"execute": "qom-list-types", "arguments": {"implements": "colo-compare"}}),
        );
    }
    let replies = h
        .probe(&v.doc().guest.emulator, &asks)
        .map_err(|e| format!("could not start a probe of QEMU: {e}"))?;
    let names = |r: &Result<Value, String>, key: &str| -> Vec<String> {
        r.as_ref()
            .ok()
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x[key].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let types: Vec<String> = replies[2..].iter().flat_map(|r| names(r, "name")).collect();
    let missing = lacking(
        &plan_commands(v),
        &names(&replies[0], "name"),
        &names(&replies[1], "capability"),
        v.has_proxy().then_some(&types[..]),
    );
    if missing.is_empty() {
        Ok(format!(
            "{} offers x-colo and the {} QMP commands the plan sends",
            v.doc().guest.emulator,
            plan_commands(v).len()
        ))
    } else {
        Err(format!(
            "{} on {uri} lacks {}; install a QEMU built with COLO (CONFIG_REPLICATION, and \
             CONFIG_COLO_PROXY for NICs)",
            v.doc().guest.emulator,
            missing.join(", ")
        ))
    }
}

/// What a QEMU lacks of what the plan needs: commands, the `x-colo` capability and, with the
/// COLO proxy (`types` given), its object types.
fn lacking(
    commands: &[String],
    offered: &[String],
    capabilities: &[String],
    types: Option<&[String]>,
) -> Vec<String> {
    let mut missing: Vec<String> = commands
        .iter()
        .filter(|c| !offered.contains(c))
        .cloned()
        .collect();
    if !capabilities.iter().any(|c| c == "x-colo") {
        missing
            .push("migration capability x-colo (QEMU built without CONFIG_REPLICATION)".to_owned());
    }
    if let Some(types) = types {
        for t in [
            "filter-mirror",
            "filter-redirector",
            "filter-rewriter",
            "colo-compare",
        ] {
            if !types.iter().any(|x| x == t) {
                missing.push(format!("object type {t}"));
            }
        }
    }
    missing
}

/// Whether both hosts run the same QEMU.
pub fn same_qemu(uri: &str, p: (u32, u32, u32), s: (u32, u32, u32)) -> Check {
    check(
        None,
        uri,
        "same QEMU",
        if p == s {
            Ok(format!("{}.{}.{} on both", p.0, p.1, p.2))
        } else {
            Err(format!(
                "primary has QEMU {}.{}.{}, secondary {}.{}.{}: the migration stream and \
                 COLO need the same version on both; install the same QEMU on both hosts",
                p.0, p.1, p.2, s.0, s.1, s.2
            ))
        },
    )
}

/// Checks both hosts before anything changes: reachable (the caller opened them), distinct,
/// KVM, one QEMU version that is not known-broken, the document's emulator is one the host's
/// libvirt lists, no domain of that name, memory headroom, security drivers, the images as
/// the document says and writable by QEMU's user; and, by starting a throw-away paused guest
/// on each host, that its QEMU offers `x-colo` and every QMP command the plan sends.
pub fn preflight(v: &Validated, pair: &mut Pair) -> Vec<Check> {
    let mut out = checks(v, pair);
    // Only on hosts whose emulator passed: libvirt refuses to start anything else.
    for side in [Side::Primary, Side::Secondary] {
        let uri = pair.host(side).uri.clone();
        let usable = out
            .iter()
            .filter(|c| c.side == Some(side) && (c.what == "emulator" || c.what == "KVM"))
            .all(|c| c.ok)
            && out
                .iter()
                .any(|c| c.side == Some(side) && c.what == "emulator");
        if usable {
            let res = qemu_offers(v, &uri, pair.host(side));
            out.push(check(Some(side), &uri, "QEMU offers COLO", res));
        }
    }
    out
}

/// [`preflight`] without the probe guests: what `deploy` checks first (the plan checks the
/// QEMU build on each side as soon as it starts, before sending it anything else).
fn checks(v: &Validated, pair: &mut Pair) -> Vec<Check> {
    let doc = v.doc();
    let name = doc.guest.name.clone();
    let mut out = Vec::new();
    let same = pair.primary.uri == pair.secondary.uri;
    out.push(check(
        None,
        &pair.primary.uri,
        "two hosts",
        if same {
            Err(format!(
                "both sides use {}: one libvirt cannot hold both domains named '{name}' (the \
                 second definition would replace the first); give the secondary its own host",
                pair.primary.uri
            ))
        } else {
            Ok(format!("{} and {}", pair.primary.uri, pair.secondary.uri))
        },
    ));
    let mut versions = Vec::new();
    let mut qemu_users = [None, None];
    for side in [Side::Primary, Side::Secondary] {
        let h = pair.host(side);
        let uri = h.uri.clone();
        let facts = match h.facts() {
            Ok(f) => f,
            Err(e) => {
                out.push(check(Some(side), &uri, "libvirt", Err(e.to_string())));
                continue;
            }
        };
        versions.push(facts.qemu);
        qemu_users[side as usize] = facts.qemu_user;
        out.extend(host_checks(doc, side, &uri, &facts));
        out.push(check(
            Some(side),
            &uri,
            "no domain of that name",
            match h.state(&name) {
                Ok(DomState::Absent) => Ok(format!("no domain '{name}'")),
                Ok(s) => Err(format!(
                    "a domain '{name}' is already defined ({}); tear it down first or rename the guest",
                    s.as_str()
                )),
                Err(e) => Err(e.to_string()),
            },
        ));
    }
    if let [p, s] = versions[..] {
        out.push(same_qemu(&pair.primary.uri, p, s));
    }
    // The images, as the plan's preflight phase checks them.
    let plan = plan::build(v);
    if let Some(phase) = plan.phases.iter().find(|p| p.name == PhaseName::Preflight) {
        for s in &phase.steps {
            let Action::Host { op, .. } = &s.action else {
                continue;
            };
            if *op == HostOp::Kvm {
                continue;
            }
            let h = pair.host(s.side);
            let uri = h.uri.clone();
            let mut noop = |_: &StepRecord| {};
            let mut r = Runner::new(v, pair, &mut noop);
            let res = r.host_op(s.side, op);
            out.push(check(Some(s.side), &uri, &describe(&s.action), res));
            // QEMU's user must be able to write each image (the plan checks its kind first).
            if let (HostOp::ImageKind { path, .. }, Some(ids)) = (op, qemu_users[s.side as usize]) {
                if let Ok(Some(img)) = pair.host(s.side).image(path) {
                    let res = image_access(path, &uri, &img, ids);
                    out.push(check(Some(s.side), &uri, "QEMU may write the image", res));
                }
            }
        }
    }
    out
}

/// Deploys: preflight, then every phase; `Ok` once protected.
pub fn deploy(
    v: &Validated,
    pair: &mut Pair,
    progress: &mut dyn FnMut(&StepRecord),
) -> Result<(), DeployError> {
    let failed: Vec<Check> = checks(v, pair).into_iter().filter(|c| !c.ok).collect();
    if !failed.is_empty() {
        return Err(DeployError::Preflight(failed));
    }
    let plan = plan::build(v);
    let steps: Vec<Step> = plan.phases.into_iter().flat_map(|p| p.steps).collect();
    Runner::new(v, pair, progress)
        .run(&steps)
        .map_err(DeployError::Step)
}

#[derive(Debug)]
pub enum DeployError {
    Preflight(Vec<Check>),
    Step(Failed),
}

impl std::fmt::Display for DeployError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeployError::Preflight(c) => {
                write!(f, "preflight refused:")?;
                for c in c {
                    write!(f, "\n  {} ({}): {}", c.what, c.host, c.detail)?;
                }
                Ok(())
            }
            DeployError::Step(s) => {
                write!(f, "{s}")?;
                for u in &s.undone {
                    write!(f, "\n  undone: {u}")?;
                }
                Ok(())
            }
        }
    }
}

/// Runs one runbook of the plan by name.
pub fn runbook(
    v: &Validated,
    pair: &mut Pair,
    name: &str,
    progress: &mut dyn FnMut(&StepRecord),
) -> Result<(), Failed> {
    let plan = plan::build(v);
    let steps = plan
        .runbooks
        .into_iter()
        .find(|r| r.name == name)
        .map(|r| r.steps)
        .unwrap_or_default();
    let mut r = Runner::new(v, pair, progress);
    let out = r.run(&steps);
    // A runbook's creations stay when it succeeds (a re-protect's new secondary).
    out
}

/// Removes both domains (secondary first, so the primary never fails over to it) and the
/// secondary's overlays.
pub fn teardown(v: &Validated, pair: &mut Pair) -> Vec<Result<String, String>> {
    let mut out = vec![remove_domain(v, pair.host(Side::Secondary))];
    cut_nbd_clients(v, pair.host(Side::Primary));
    out.push(remove_domain(v, pair.host(Side::Primary)));
    out.extend(remove_overlays(v, pair.host(Side::Secondary)));
    out
}

/// Before the primary is destroyed, its NBD clients' connections are cut (QMP `yank`): when
/// the link to the secondary is down, a QEMU told to stop flushes them across the dead link
/// until libvirt kills it 10 s later (measured: 12.0 s to remove the primary of a pair whose
/// link was cut). Best effort, given up on after 2 s: nodes already gone (after a failover) or
/// a QEMU that does not answer, or no running guest at all, are left to the destroy as before.
fn cut_nbd_clients(v: &Validated, h: &Host) {
    if let Some(cmd) = qmp_json(&QmpCommand::Yank(Yank::primary_nbd_clients(v.disks()))) {
        let _ = h.qmp_within(&v.doc().guest.name, &cmd, Duration::from_secs(2));
    }
}

/// Removes Lockstep's domain of the guest from one host, saying what happened.
pub fn remove_domain(v: &Validated, h: &Host) -> Result<String, String> {
    let g = &v.doc().guest;
    h.remove_domain(&g.name, &g.uuid)
        .map(|()| format!("domain '{}' removed from {}", g.name, h.uri))
        .map_err(|e| format!("{}: {e}", h.uri))
}

/// Removes the document's overlays from one host, saying what happened to each.
pub fn remove_overlays(v: &Validated, h: &mut Host) -> Vec<Result<String, String>> {
    let mut out = Vec::new();
    for d in v.disks() {
        for img in [&d.s_active, &d.s_hidden] {
            out.push(
                h.remove(&img.path)
                    .map(|()| format!("{} removed from {}", img.path, h.uri))
                    .map_err(|e| format!("{}: {e}", h.uri)),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_qemus_are_named() {
        assert!(known_broken((10, 0, 3)).is_some());
        assert!(known_broken((10, 1, 0)).is_some());
        assert!(known_broken((7, 2, 22)).is_none());
        assert!(known_broken((10, 2, 0)).is_none());
    }

    fn doc() -> lockstep_shared::model::Document {
        let text = include_str!("../../../test-data/one-disk-raw/input.json");
        lockstep_shared::Document::from_json(text).expect("corpus document")
    }

    fn facts() -> crate::deploy::host::Facts {
        crate::deploy::host::Facts {
            qemu: (7, 2, 22),
            libvirt: (9, 0, 0),
            kvm: true,
            emulators: vec![doc().guest.emulator],
            free_memory: 8 << 30,
            security: vec!["none".to_owned(), "dac".to_owned()],
            qemu_user: None,
        }
    }

    fn failed(c: &[Check]) -> Vec<&str> {
        c.iter()
            .filter(|c| !c.ok)
            .map(|c| c.what.as_str())
            .collect()
    }

    #[test]
    fn host_facts_are_checked_with_the_reason() {
        let d = doc();
        assert!(failed(&host_checks(&d, Side::Primary, "u", &facts())).is_empty());
        let broken = crate::deploy::host::Facts {
            qemu: (10, 0, 2),
            ..facts()
        };
        let c = host_checks(&d, Side::Primary, "u", &broken);
        assert_eq!(failed(&c), ["QEMU version"]);
        assert!(c.iter().any(|c| c.detail.contains("never enter COLO")));
        let other = crate::deploy::host::Facts {
            emulators: vec!["/opt/other/qemu".to_owned()],
            kvm: false,
            ..facts()
        };
        assert_eq!(
            failed(&host_checks(&d, Side::Secondary, "u", &other)),
            ["KVM", "emulator"]
        );
        // The secondary needs twice the guest's memory.
        let ram = d.guest.memory_mib << 20;
        let tight = crate::deploy::host::Facts {
            free_memory: ram + ram / 2,
            ..facts()
        };
        assert!(failed(&host_checks(&d, Side::Primary, "u", &tight)).is_empty());
        let c = host_checks(&d, Side::Secondary, "u", &tight);
        assert_eq!(failed(&c), ["memory"]);
        assert!(c
            .iter()
            .any(|c| c.detail.contains("second copy of guest RAM")));
    }

    #[test]
    fn confining_security_drivers_are_refused_with_the_reason() {
        let d = doc();
        let aa = crate::deploy::host::Facts {
            security: vec!["apparmor".to_owned(), "dac".to_owned()],
            ..facts()
        };
        let c = host_checks(&d, Side::Primary, "u", &aa);
        assert_eq!(failed(&c), ["security"]);
        assert!(c
            .iter()
            .any(|c| c.detail.contains("security_driver = \"none\"")));
        let dac = crate::deploy::host::Facts {
            qemu_user: Some(crate::deploy::host::Ids { uid: 999, gid: 995 }),
            ..facts()
        };
        let c = host_checks(&d, Side::Primary, "u", &dac);
        assert!(failed(&c).is_empty());
        assert!(c.iter().any(|c| c.detail.contains("uid 999 gid 995")));
    }

    #[test]
    fn a_qemu_without_colo_is_named_with_what_it_lacks() {
        let v = Validated::new(doc()).expect("valid");
        let cmds = plan_commands(&v);
        for c in [
            "x-colo-lost-heartbeat",
            "blockdev-mirror",
            "query-named-block-nodes",
        ] {
            assert!(cmds.iter().any(|x| x == c), "{c} in {cmds:?}");
        }
        assert!(!cmds.iter().any(|x| x == "qmp_capabilities"));
        let all = cmds.clone();
        let caps = vec!["x-colo".to_owned()];
        assert!(lacking(&cmds, &all, &caps, None).is_empty());
        let fewer: Vec<String> = all
            .iter()
            .filter(|c| *c != "x-colo-lost-heartbeat")
            .cloned()
            .collect();
        assert_eq!(
            lacking(&cmds, &fewer, &[], Some(&["filter-mirror".to_owned()])),
            [
                "x-colo-lost-heartbeat",
                "migration capability x-colo (QEMU built without CONFIG_REPLICATION)",
                "object type filter-redirector",
                "object type filter-rewriter",
                "object type colo-compare"
            ]
        );
    }

    #[test]
    fn different_qemus_are_refused() {
        assert!(same_qemu("u", (7, 2, 22), (7, 2, 22)).ok);
        let c = same_qemu("u", (7, 2, 22), (8, 2, 0));
        assert!(!c.ok);
        assert!(
            c.detail.contains("7.2.22") && c.detail.contains("8.2.0"),
            "{}",
            c.detail
        );
    }

    #[test]
    fn capabilities_negotiation_is_skipped() {
        assert_eq!(qmp_json(&QmpCommand::QmpCapabilities), None);
        assert_eq!(
            qmp_json(&QmpCommand::QueryStatus),
            Some(json!({"execute": "query-status"}))
        );
    }
}
