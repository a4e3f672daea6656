//! The deploy engine: the only code that talks to hosts.
//!
//! `host` wraps one libvirt connection (domains, monitor passthrough, storage); `engine`
//! carries out the rendered plan and its runbooks step by step, with preflight checks and undo;
//! `status` reads both sides and says whether the pair is protected. Everything here blocks
//! (libvirt's API does); the server calls it from blocking tasks.

pub mod engine;
pub mod events;
pub mod host;
pub mod status;

pub use engine::{deploy, preflight, Check, DeployError, Failed, Pair, StepRecord};
pub use status::{Reason, Status};

use lockstep_shared::model::Side;
use lockstep_shared::render::swap::swapped;
use lockstep_shared::render::Validated;
use serde_json::json;

/// One side's COLO mode, when its QEMU answers.
fn colo_mode(v: &Validated, pair: &mut Pair, side: Side) -> Option<String> {
    let name = v.doc().guest.name.clone();
    let h = pair.host(side);
    if !matches!(h.state(&name), Ok(s) if s.active()) {
        return None;
    }
    let reply = h
        .qmp(&name, &json!({"execute": "query-colo-status"}))
        .ok()?
        .ok()?;
    reply["mode"].as_str().map(str::to_owned)
}

/// Runs `f` on the pair the way round it runs now, and says whether that is swapped.
///
/// After a failover to the secondary and a re-protect, the secondary's host runs the primary
/// ([`lockstep_shared::render::swap`]). The hosts say which way round they run (a QEMU in COLO
/// mode `secondary` on the primary's host, or `primary` on the secondary's), so the CLI needs no
/// state of its own and the server none beyond the document: `f` then gets the swapped document
/// and the hosts exchanged. Where the hosts cannot tell (one side runs alone), the pair is taken
/// as written, and the actions do the same either way (see [`reprotect`]).
fn oriented<T>(
    v: &Validated,
    pair: &mut Pair,
    f: impl FnOnce(&Validated, &mut Pair) -> T,
) -> (T, bool) {
    let swapped_now = colo_mode(v, pair, Side::Primary).as_deref() == Some("secondary")
        || colo_mode(v, pair, Side::Secondary).as_deref() == Some("primary");
    match swapped_now
        .then(|| Validated::new(swapped(v)).ok())
        .flatten()
    {
        Some(w) => (with_hosts_exchanged(pair, |pair| f(&w, pair)), true),
        None => (f(v, pair), false),
    }
}

fn with_hosts_exchanged<T>(pair: &mut Pair, f: impl FnOnce(&mut Pair) -> T) -> T {
    std::mem::swap(&mut pair.primary, &mut pair.secondary);
    let out = f(pair);
    std::mem::swap(&mut pair.primary, &mut pair.secondary);
    out
}

/// Reads both sides and decides, the pair taken the way round it runs now.
pub fn status(v: &Validated, pair: &mut Pair) -> Status {
    let (mut s, swapped) = oriented(v, pair, status::status);
    s.swapped = swapped;
    s
}

/// Removes what this guest left on a host that no longer belongs to the pair (replaced after a
/// failover): Lockstep's stopped domain of the guest and the document's overlay paths there.
/// Refused while the guest runs there. Best effort: the host was lost, it may not answer.
pub fn forget_host(v: &Validated, uri: &str) -> Vec<Result<String, String>> {
    let mut h = match host::Host::open(uri) {
        Ok(h) => h,
        Err(e) => return vec![Err(e.to_string())],
    };
    let doc = v.doc();
    // A guest still running there is not left over: it may be the pair's only copy.
    match h.state(&doc.guest.name) {
        Ok(s) if s.active() => {
            return vec![Err(format!(
                "the guest '{}' still runs on {uri} ({}): nothing was removed there; stop it \
                 first if that host really left the pair",
                doc.guest.name,
                s.as_str()
            ))]
        }
        Err(e) => return vec![Err(format!("{uri}: {e}"))],
        Ok(_) => {}
    }
    let mut out = vec![h
        .remove_domain(&doc.guest.name, &doc.guest.uuid)
        .map(|()| format!("domain '{}' removed from {uri}", doc.guest.name))
        .map_err(|e| format!("{uri}: {e}"))];
    for d in v.disks() {
        for img in [&d.s_active, &d.s_hidden] {
            out.push(
                h.remove(&img.path)
                    .map(|()| format!("{} removed from {uri}", img.path))
                    .map_err(|e| format!("{uri}: {e}")),
            );
        }
    }
    out
}

/// Removes both domains and the overlays (see [`engine::teardown`]), on the pair the way
/// round it runs now.
pub fn teardown(v: &Validated, pair: &mut Pair) -> Vec<Result<String, String>> {
    oriented(v, pair, engine::teardown).0
}
/// Why a failover was not started.
#[derive(Debug)]
pub enum FailoverError {
    /// The side we would leave still answers: taking over now would run the guest twice.
    PeerAlive(String),
    /// The pair is not in a state this action applies to; the text says why.
    Refused(String),
    Step(Failed),
}

impl std::fmt::Display for FailoverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailoverError::PeerAlive(s) | FailoverError::Refused(s) => f.write_str(s),
            FailoverError::Step(s) => write!(f, "{s}"),
        }
    }
}

/// Fails over to `to` (as the pair runs now): the other side must be gone (its QEMU does not
/// answer), unless `force` (the caller has made sure it is fenced: taking over while it runs
/// means two guests writing).
pub fn failover(
    v: &Validated,
    pair: &mut Pair,
    to: Side,
    force: bool,
    progress: &mut dyn FnMut(&StepRecord),
) -> Result<(), FailoverError> {
    oriented(v, pair, |v, pair| {
        let other = to.other();
        if !force && engine::answers(v, pair, other) {
            return Err(FailoverError::PeerAlive(format!(
                "the {} on {} still answers; failing over to the {} now would leave two copies \
                 of the guest running. Stop or fence the {} first, or force the failover if you \
                 are sure it is cut off",
                other.as_str(),
                pair.host(other).uri,
                to.as_str(),
                other.as_str()
            )));
        }
        let book = match to {
            Side::Secondary => "failover-to-secondary",
            Side::Primary => "failover-to-primary",
        };
        engine::runbook(v, pair, book, progress).map_err(FailoverError::Step)
    })
    .0
}

/// Re-protects a pair of which one side runs alone after a failover and the other side's QEMU
/// is gone: a fresh secondary on the other host (overlays, domain, exports), every block
/// copied again, the replication legs attached and COLO started, until protected.
///
/// When the survivor is the primary (a failover to the primary) the pair keeps its roles
/// (the plan's `reprotect`). When it is the secondary (a failover to the secondary) the roles
/// swap: the survivor becomes the primary and the fresh secondary starts on the old primary's
/// host (`reprotect-swapped`, i.e. the swapped pair's `reprotect`). Refused, with the reason,
/// in any other state.
pub fn reprotect(
    v: &Validated,
    pair: &mut Pair,
    progress: &mut dyn FnMut(&StepRecord),
) -> Result<(), FailoverError> {
    oriented(v, pair, |v, pair| {
        let s = status::status(v, pair);
        let alone = |x: &lockstep_shared::api::SideStatus| {
            x.colo_mode.as_deref() == Some("none") && x.run_state.as_deref() == Some("running")
        };
        let (survivor, st, gone) = if alone(&s.primary) {
            (Side::Primary, &s.primary, &s.secondary)
        } else if alone(&s.secondary) && s.primary.run_state.is_none() {
            (Side::Secondary, &s.secondary, &s.primary)
        } else {
            return Err(FailoverError::Refused(format!(
                "re-protecting needs one side running alone after a failover; the primary is \
                 {} (COLO mode {}), the secondary {} (COLO mode {})",
                s.primary.run_state.as_deref().unwrap_or(&s.primary.domain),
                s.primary.colo_mode.as_deref().unwrap_or("unknown"),
                s.secondary
                    .run_state
                    .as_deref()
                    .unwrap_or(&s.secondary.domain),
                s.secondary.colo_mode.as_deref().unwrap_or("unknown"),
            )));
        };
        let _ = st;
        if gone.run_state.is_some() {
            let other = survivor.other();
            return Err(FailoverError::Refused(format!(
                "the {} on {} still runs; tear it down (or fail over properly) before a fresh \
                 secondary is built there",
                other.as_str(),
                pair.host(other).uri
            )));
        }
        match survivor {
            Side::Primary => {
                engine::runbook(v, pair, "reprotect", progress).map_err(FailoverError::Step)
            }
            Side::Secondary => {
                let w = Validated::new(swapped(v)).map_err(|f| {
                    FailoverError::Refused(format!(
                        "the pair with its roles swapped is not valid ({} findings); \
                         re-protect onto the primary's host is not possible",
                        f.len()
                    ))
                })?;
                with_hosts_exchanged(pair, |pair| {
                    engine::runbook(&w, pair, "reprotect", progress).map_err(FailoverError::Step)
                })
            }
        }
    })
    .0
}
