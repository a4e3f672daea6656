//! Is a deployed pair protected? Read from both sides: libvirt's domain state, then
//! `query-status`, `query-colo-status`, `query-migrate` and the checkpoint delay in force.
//! The verdict uses vSphere FT's words: "Protected", or "Not protected" with a reason.

use super::engine::Pair;
use super::host::Host;
use lockstep_shared::api::SideStatus;
use lockstep_shared::model::Side;
use lockstep_shared::render::Validated;
use serde::Serialize;
use serde_json::{json, Value};

/// Why a pair is not protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// COLO is being set up (the first migration runs, or the guest has not started).
    Starting,
    /// One side runs alone in COLO mode `none` while the other is gone: re-protect.
    NeedSecondary,
    /// A side still in COLO mode cannot reach its peer (peer gone or unreachable); nobody has
    /// failed over yet.
    LostConnection,
    /// The secondary took over (mode `none`, running) and the primary is gone.
    FailedOver,
    /// Neither side runs.
    Stopped,
    /// A side's guest runs but its QEMU does not answer (stopped or stuck): nothing can be
    /// told about protection, and failing over would be unsafe while it may come back. (A
    /// silent secondary while the primary answers and shows no checkpoint is `LostConnection`.)
    NotAnswering,
    /// Anything else; the sides' states say what.
    Unknown,
}

impl Reason {
    pub fn words(self) -> &'static str {
        match self {
            Reason::Starting => "starting",
            Reason::NeedSecondary => "need secondary",
            Reason::LostConnection => "lost connection",
            Reason::FailedOver => "failed over",
            Reason::Stopped => "stopped",
            Reason::NotAnswering => "QEMU not answering",
            Reason::Unknown => "unknown state",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    pub protected: bool,
    pub reason: Option<Reason>,
    pub primary: SideStatus,
    pub secondary: SideStatus,
    /// The pair runs with its roles swapped: `primary` is the document's secondary host (after
    /// a failover to the secondary and a re-protect).
    pub swapped: bool,
    /// What the verdict rests on, when more than the sides' states (a checkpoint seen, or none).
    pub detail: Option<String>,
}

impl Status {
    /// "Protected", or "Not protected: reason".
    pub fn line(&self) -> String {
        match self.reason {
            None if self.protected => "Protected".to_owned(),
            r => format!("Not protected: {}", r.unwrap_or(Reason::Unknown).words()),
        }
    }
}

fn str_at(v: &Value, p: &str) -> Option<String> {
    v.pointer(p).and_then(Value::as_str).map(str::to_owned)
}

/// Asks one side's QEMU `cmd`; its reply, or `None` when QEMU refused it or is gone. A libvirt
/// error while the guest still runs (no answer within the monitor limit, or the monitor still
/// busy with a command QEMU never answered) means the QEMU is not answering: it goes into
/// `monitor`, and later asks of that side give `None` at once instead of waiting again.
fn ask(h: &Host, name: &str, cmd: &str, monitor: &mut Option<String>) -> Option<Value> {
    if monitor.is_some() {
        return None;
    }
    match h.qmp(name, &json!({ "execute": cmd })) {
        Ok(reply) => reply.ok(),
        Err(e) => {
            // A QEMU that ended between the reads is gone, not silent.
            if h.state(name).is_ok_and(|st| st.active()) {
                *monitor = Some(e.0);
            }
            None
        }
    }
}

/// Why a side whose QEMU does not answer must not be taken for gone.
pub fn not_answering(side: Side, uri: &str, why: &str) -> String {
    format!(
        "the {}'s guest runs on {uri} but {why}; it may come back: stop or fence it (virsh \
         destroy) before failing over",
        side.as_str()
    )
}

/// How often a side seen checkpointing is asked again (20 ms apart).
const CHECKPOINT_RETRIES: usize = 50;

/// Reads one side: libvirt's domain state, QEMU's run state and COLO mode (enough to tell which
/// role it plays; [`decide`] adds the primary's migration facts).
pub fn side_status(v: &Validated, pair: &mut Pair, side: Side) -> SideStatus {
    let name = v.doc().guest.name.clone();
    let h = pair.host(side);
    let mut s = SideStatus::default();
    let state = match h.state(&name) {
        Ok(st) => st,
        Err(e) => {
            s.domain = format!("unreachable: {e}");
            return s;
        }
    };
    s.domain = state.as_str().to_owned();
    if !state.active() {
        return s;
    }
    s.run_state = ask(h, &name, "query-status", &mut s.monitor).and_then(|v| str_at(&v, "/status"));
    s.colo_mode =
        ask(h, &name, "query-colo-status", &mut s.monitor).and_then(|v| str_at(&v, "/mode"));
    s
}

/// Whether sides read as the document names them run with their roles swapped: a QEMU in COLO
/// mode `secondary` on the primary's host, or `primary` on the secondary's.
pub fn roles_swapped(primary: &SideStatus, secondary: &SideStatus) -> bool {
    mode(primary) == Some("secondary") || mode(secondary) == Some("primary")
}

fn mode(x: &SideStatus) -> Option<&str> {
    x.colo_mode.as_deref()
}

/// The verdict from what both sides say.
pub fn verdict(p: &SideStatus, s: &SideStatus) -> (bool, Option<Reason>) {
    let up = |x: &SideStatus| x.run_state.is_some();
    let running = |x: &SideStatus| x.run_state.as_deref() == Some("running");
    if p.monitor.is_some() || s.monitor.is_some() {
        return (false, Some(Reason::NotAnswering));
    }
    match (up(p), up(s)) {
        (true, true)
            if mode(p) == Some("primary")
                && mode(s) == Some("secondary")
                && running(p)
                && running(s)
                && p.migration.as_deref() == Some("colo") =>
        {
            (true, None)
        }
        (false, false) => (false, Some(Reason::Stopped)),
        (false, true) if mode(s) == Some("none") && running(s) => (false, Some(Reason::FailedOver)),
        (false, true) if mode(s) == Some("secondary") => (false, Some(Reason::LostConnection)),
        (true, false) if mode(p) == Some("primary") => (false, Some(Reason::LostConnection)),
        (true, false) if mode(p) == Some("none") && running(p) => {
            (false, Some(Reason::NeedSecondary))
        }
        (true, true)
            if s.run_state.as_deref() == Some("inmigrate")
                || matches!(p.migration.as_deref(), Some("setup" | "active" | "colo")) =>
        {
            (false, Some(Reason::Starting))
        }
        (true, true) if mode(p) == Some("none") && mode(s) == Some("none") => {
            // Both run alone: after a failover one of them should have been removed.
            (false, Some(Reason::Unknown))
        }
        (true, true) => (false, Some(Reason::Starting)),
        _ => (false, Some(Reason::Unknown)),
    }
}

/// Reads both sides and decides.
pub fn status(v: &Validated, pair: &mut Pair) -> Status {
    let primary = side_status(v, pair, Side::Primary);
    let secondary = side_status(v, pair, Side::Secondary);
    decide(v, pair, primary, secondary)
}

/// Decides from both sides as read ([`side_status`]), `pair.primary` being the primary's host:
/// adds the primary's migration state and checkpoint delay, asks a side caught checkpointing
/// again, and waits for a checkpoint when both are in COLO.
pub fn decide(
    v: &Validated,
    pair: &mut Pair,
    mut primary: SideStatus,
    mut secondary: SideStatus,
) -> Status {
    let name = v.doc().guest.name.clone();
    if primary.run_state.is_some() {
        let (h, m) = (&pair.primary, &mut primary.monitor);
        primary.migration = ask(h, &name, "query-migrate", m).and_then(|v| str_at(&v, "/status"));
        primary.checkpoint_delay_ms = ask(h, &name, "query-migrate-parameters", m)
            .and_then(|v| v["x-checkpoint-delay"].as_u64());
    }
    // During a checkpoint a guest is stopped and says `colo`; it runs again within the
    // checkpoint's duration. When both sides are in COLO, ask such a side again for a while: a
    // guest never seen running (the gap before replication starts, lab.md pitfall 1) is not
    // protected.
    for _ in 0..CHECKPOINT_RETRIES {
        let in_colo = primary.colo_mode.as_deref() == Some("primary")
            && secondary.colo_mode.as_deref() == Some("secondary");
        let mut again = false;
        for (side, st) in [
            (Side::Primary, &mut primary),
            (Side::Secondary, &mut secondary),
        ] {
            if in_colo && st.run_state.as_deref() == Some("colo") {
                again = true;
                std::thread::sleep(std::time::Duration::from_millis(20));
                st.run_state = ask(pair.host(side), &name, "query-status", &mut st.monitor)
                    .and_then(|v| str_at(&v, "/status"));
            }
        }
        if !again {
            break;
        }
    }
    let (mut protected, mut reason) = verdict(&primary, &secondary);
    let mut silent = |side: Side, st: &SideStatus| {
        st.monitor
            .as_deref()
            .map(|why| not_answering(side, &pair.host(side).uri, why))
    };
    // A secondary cut off while it loads a checkpoint holds its big QEMU lock while it waits
    // for the rest of the checkpoint (QEMU 7.2 migration/colo.c,
    // colo_incoming_process_checkpoint), so its monitor stays silent until the link returns:
    // the primary's checkpoints tell what it cannot.
    let secondary_silent = silent(Side::Secondary, &secondary);
    let mut detail = secondary_silent
        .clone()
        .or_else(|| silent(Side::Primary, &primary));
    let in_colo = primary.colo_mode.as_deref() == Some("primary")
        && (secondary.colo_mode.as_deref() == Some("secondary") || secondary_silent.is_some())
        && primary.migration.as_deref() == Some("colo")
        && primary.monitor.is_none();
    if in_colo {
        // Both sides say COLO even when the link between them is cut: the primary's COLO
        // thread waits for the secondary's checkpoint reply (guest running) or sends a
        // checkpoint into the dead link (guest stopped in state `colo`), and QEMU 7.2's
        // query-migrate shows no counters in COLO. Only checkpoints still happening prove the
        // secondary is reached: the primary emits MIGRATION_PASS at each one (QEMU
        // migration/ram.c, with the `events` capability the plan turns on).
        let delay = primary
            .checkpoint_delay_ms
            .unwrap_or(v.doc().colo.checkpoint_delay_ms);
        match checkpoint_seen(pair, &name, delay) {
            // A silent secondary keeps its "not answering" verdict and detail.
            Checkpoint::Seen(_) | Checkpoint::Unknown(_) if secondary_silent.is_some() => {}
            Checkpoint::Seen(ms) => {
                detail = Some(format!("checkpoint seen {ms} ms into the read"));
            }
            Checkpoint::Missing(ms) => {
                protected = false;
                reason = Some(Reason::LostConnection);
                let mut lost = format!(
                    "no checkpoint for {ms} ms (checkpoint delay {delay} ms): the primary cannot \
                     reach the secondary (network partition?)"
                );
                // Asked again for a second above and still stopped: the checkpoint the link
                // cut holds the guest (most cuts land inside one, which stops it).
                if primary.run_state.as_deref() == Some("colo") {
                    lost.push_str(
                        ". The guest is paused inside that checkpoint and serves nothing until \
                         the link returns or you fail over to the primary (fence the secondary \
                         first)",
                    );
                }
                detail = Some(match secondary_silent {
                    Some(silent) => format!(
                        "{lost}; the primary still runs in COLO and nobody has failed over; \
                         the secondary is silent too (one cut off while loading a checkpoint \
                         stays so until the link returns): {silent}"
                    ),
                    None => format!("{lost}; both still run in COLO and neither has failed over"),
                });
            }
            Checkpoint::Unknown(why) => detail = Some(why),
        }
    }
    Status {
        protected,
        reason,
        primary,
        secondary,
        swapped: false,
        detail,
    }
}

/// The longest a status read waits for a checkpoint.
const CHECKPOINT_WAIT_CAP_MS: u64 = 10_000;

enum Checkpoint {
    /// One happened after this many ms.
    Seen(u64),
    /// None happened for this many ms, more than a checkpoint interval.
    Missing(u64),
    /// Could not tell (why).
    Unknown(String),
}

/// Waits for the primary's next checkpoint: a little over one checkpoint interval.
fn checkpoint_seen(pair: &mut Pair, name: &str, delay_ms: u64) -> Checkpoint {
    let window = delay_ms + 1000;
    if window > CHECKPOINT_WAIT_CAP_MS {
        return Checkpoint::Unknown(format!(
            "checkpoints are {delay_ms} ms apart, too far apart to wait for one while reading \
             the status"
        ));
    }
    let counter = match pair.primary.count_events(name, "MIGRATION_PASS") {
        Ok(c) => c,
        Err(e) => return Checkpoint::Unknown(format!("cannot watch checkpoints: {e}")),
    };
    let start = std::time::Instant::now();
    loop {
        let ms = start.elapsed().as_millis() as u64;
        if counter.count() > 0 {
            return Checkpoint::Seen(ms);
        }
        if ms >= window {
            return Checkpoint::Missing(ms);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(run: Option<&str>, mode: Option<&str>, mig: Option<&str>) -> SideStatus {
        SideStatus {
            domain: if run.is_some() { "running" } else { "shut off" }.to_owned(),
            run_state: run.map(str::to_owned),
            colo_mode: mode.map(str::to_owned),
            migration: mig.map(str::to_owned),
            checkpoint_delay_ms: None,
            monitor: None,
        }
    }

    #[test]
    fn verdicts() {
        let p = side(Some("running"), Some("primary"), Some("colo"));
        let s = side(Some("running"), Some("secondary"), None);
        let down = side(None, None, None);
        assert_eq!(verdict(&p, &s), (true, None));
        // A guest seen only checkpointing (`colo`) has not been seen running.
        let checkpointing = side(Some("colo"), Some("primary"), Some("colo"));
        assert_eq!(verdict(&checkpointing, &s), (false, Some(Reason::Starting)));
        // The lost-write race: query-migrate says colo before the primary runs.
        let early = side(Some("paused"), Some("primary"), Some("colo"));
        assert_eq!(verdict(&early, &s), (false, Some(Reason::Starting)));
        let migrating = side(Some("prelaunch"), Some("none"), Some("active"));
        let waiting = side(Some("inmigrate"), Some("none"), None);
        assert_eq!(
            verdict(&migrating, &waiting),
            (false, Some(Reason::Starting))
        );
        assert_eq!(verdict(&down, &s), (false, Some(Reason::LostConnection)));
        let alone = side(Some("running"), Some("none"), None);
        assert_eq!(verdict(&down, &alone), (false, Some(Reason::FailedOver)));
        assert_eq!(verdict(&p, &down), (false, Some(Reason::LostConnection)));
        assert_eq!(verdict(&alone, &down), (false, Some(Reason::NeedSecondary)));
        assert_eq!(verdict(&down, &down), (false, Some(Reason::Stopped)));
        // A running guest whose QEMU does not answer is neither gone nor protected.
        let stuck = SideStatus {
            domain: "running".to_owned(),
            monitor: Some("QEMU did not answer".to_owned()),
            ..SideStatus::default()
        };
        assert_eq!(verdict(&stuck, &s), (false, Some(Reason::NotAnswering)));
        assert_eq!(verdict(&p, &stuck), (false, Some(Reason::NotAnswering)));
        let st = Status {
            protected: false,
            reason: Some(Reason::FailedOver),
            primary: down.clone(),
            secondary: alone,
            swapped: false,
            detail: None,
        };
        assert_eq!(st.line(), "Not protected: failed over");
    }
}
