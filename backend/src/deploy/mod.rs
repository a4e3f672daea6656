//! The deploy engine: the only code that talks to hosts.
//!
//! `host` wraps one libvirt connection (domains, monitor passthrough, storage); `engine`
//! carries out the rendered plan and its runbooks step by step, with preflight checks and undo;
//! `status` reads both sides and says whether the pair is protected. Everything here blocks
//! (libvirt's API does); the server calls it from blocking tasks.

pub mod engine;
pub mod host;
pub mod status;

pub use engine::{deploy, preflight, teardown, Check, DeployError, Failed, Pair, StepRecord};
pub use status::{status, Reason, Status};

use lockstep_shared::model::Side;
use lockstep_shared::render::Validated;

/// Why a failover was not started.
#[derive(Debug)]
pub enum FailoverError {
    /// The side we would leave still answers: taking over now would run the guest twice.
    PeerAlive(String),
    Step(Failed),
}

impl std::fmt::Display for FailoverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailoverError::PeerAlive(s) => f.write_str(s),
            FailoverError::Step(s) => write!(f, "{s}"),
        }
    }
}

/// Fails over to `to`: the other side must be gone (its QEMU does not answer), unless `force`
/// (the caller has made sure it is fenced: taking over while it runs means two guests writing).
pub fn failover(
    v: &Validated,
    pair: &mut Pair,
    to: Side,
    force: bool,
    progress: &mut dyn FnMut(&StepRecord),
) -> Result<(), FailoverError> {
    let other = match to {
        Side::Primary => Side::Secondary,
        Side::Secondary => Side::Primary,
    };
    if !force && engine::answers(v, pair, other) {
        return Err(FailoverError::PeerAlive(format!(
            "the {} on {} still answers; failing over to the {} now would leave two copies of \
             the guest running. Stop or fence the {} first, or force the failover if you are \
             sure it is cut off",
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
}

/// Re-protects after a failover to the primary: a fresh secondary on the secondary's host
/// (overlays, domain, exports), every block copied again, the replication legs re-attached
/// and COLO started, until protected. Refused unless the primary runs alone (COLO mode
/// `none`) and the secondary's QEMU is gone.
pub fn reprotect(
    v: &Validated,
    pair: &mut Pair,
    progress: &mut dyn FnMut(&StepRecord),
) -> Result<(), FailoverError> {
    let s = status::status(v, pair);
    let alone = s.primary.colo_mode.as_deref() == Some("none")
        && s.primary.run_state.as_deref() == Some("running");
    if !alone {
        return Err(FailoverError::PeerAlive(format!(
            "re-protecting needs the primary running alone after a failover to it; the primary \
             is {} (COLO mode {})",
            s.primary.run_state.as_deref().unwrap_or(&s.primary.domain),
            s.primary.colo_mode.as_deref().unwrap_or("unknown")
        )));
    }
    if s.secondary.run_state.is_some() {
        return Err(FailoverError::PeerAlive(format!(
            "the secondary on {} still runs; tear it down (or fail over properly) before a fresh \
             secondary is built there",
            pair.secondary.uri
        )));
    }
    engine::runbook(v, pair, "reprotect", progress).map_err(FailoverError::Step)
}
