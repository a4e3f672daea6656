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
