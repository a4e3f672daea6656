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

use lockstep_shared::api::SideStatus;
use lockstep_shared::model::Side;
use lockstep_shared::render::swap::swapped;
use lockstep_shared::render::Validated;

/// Reads both sides once and runs `f` on the pair the way round they run now, with the sides
/// as read (primary first); says whether that is swapped.
///
/// After a failover to the secondary and a re-protect, the secondary's host runs the primary
/// ([`lockstep_shared::render::swap`]). The hosts say which way round they run
/// ([`status::roles_swapped`]), so the CLI needs no state of its own and the server none beyond
/// the document: `f` then gets the swapped document and the hosts exchanged. Where the hosts
/// cannot tell (one side runs alone), the pair is taken as written, and the actions do the same
/// either way (see [`reprotect`]).
fn oriented<T>(
    v: &Validated,
    pair: &mut Pair,
    f: impl FnOnce(&Validated, &mut Pair, SideStatus, SideStatus) -> T,
) -> (T, bool) {
    let p = status::side_status(v, pair, Side::Primary);
    let s = status::side_status(v, pair, Side::Secondary);
    let w = status::roles_swapped(&p, &s)
        .then(|| Validated::new(swapped(v)).ok())
        .flatten();
    match w {
        Some(w) => (with_hosts_exchanged(pair, |pair| f(&w, pair, s, p)), true),
        None => (f(v, pair, p, s), false),
    }
}

fn with_hosts_exchanged<T>(pair: &mut Pair, f: impl FnOnce(&mut Pair) -> T) -> T {
    std::mem::swap(&mut pair.primary, &mut pair.secondary);
    let out = f(pair);
    std::mem::swap(&mut pair.primary, &mut pair.secondary);
    out
}

/// Reads both sides once and decides, the pair taken the way round it runs now.
pub fn status(v: &Validated, pair: &mut Pair) -> Status {
    let (mut st, swapped) = oriented(v, pair, status::decide);
    st.swapped = swapped;
    st
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
    let mut out = vec![engine::remove_domain(v, &h)];
    out.extend(engine::remove_overlays(v, &mut h));
    out
}

/// Removes both domains and the overlays (see [`engine::teardown`]), on the pair the way
/// round it runs now.
pub fn teardown(v: &Validated, pair: &mut Pair) -> Vec<Result<String, String>> {
    oriented(v, pair, |v, pair, _, _| engine::teardown(v, pair)).0
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
    oriented(v, pair, |v, pair, p, s| {
        let other = to.other();
        // A side whose QEMU answered the read (it has a run state) still answers.
        let left = if other == Side::Primary { p } else { s };
        if let (false, Some(why)) = (force, &left.monitor) {
            return Err(FailoverError::PeerAlive(format!(
                "{}; failing over to the {} now could leave two copies of the guest running \
                 (force it only if you are sure that side is cut off)",
                status::not_answering(other, &pair.host(other).uri, why),
                to.as_str()
            )));
        }
        if !force && left.run_state.is_some() {
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
    oriented(v, pair, |v, pair, p, s| {
        let alone = |x: &SideStatus| {
            x.colo_mode.as_deref() == Some("none") && x.run_state.as_deref() == Some("running")
        };
        let (survivor, gone) = if alone(&p) {
            (Side::Primary, &s)
        } else if alone(&s) && p.run_state.is_none() {
            (Side::Secondary, &p)
        } else {
            return Err(FailoverError::Refused(format!(
                "re-protecting needs one side running alone after a failover; the primary is \
                 {} (COLO mode {}), the secondary {} (COLO mode {})",
                p.run_state.as_deref().unwrap_or(&p.domain),
                p.colo_mode.as_deref().unwrap_or("unknown"),
                s.run_state.as_deref().unwrap_or(&s.domain),
                s.colo_mode.as_deref().unwrap_or("unknown"),
            )));
        };
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
