//! The deploy commands: preflight, deploy, status, failover, reprotect, teardown. They drive the same
//! engine as the server (`crate::deploy`), on the hosts named by libvirt URIs, with the same
//! checks and refusals, and print a line per step.

use crate::deploy::{self, Pair, StepRecord};
use clap::{Args as ClapArgs, ValueEnum};
use lockstep_shared::model::Side;
use lockstep_shared::render::Validated;
use std::path::PathBuf;
use std::process::ExitCode;

/// Where the two sides run.
#[derive(ClapArgs, Debug, Clone)]
pub struct PairArgs {
    /// The configuration document.
    pub file: PathBuf,
    /// libvirt URI of the primary host (`qemu:///system`, `qemu+ssh://root@host/system`, ...).
    #[arg(long)]
    pub primary: String,
    /// libvirt URI of the secondary host.
    #[arg(long)]
    pub secondary: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum To {
    Secondary,
    Primary,
}

#[derive(ClapArgs, Debug, Clone)]
pub struct FailoverArgs {
    #[command(flatten)]
    pub pair: PairArgs,
    /// The side that takes over.
    #[arg(long, value_enum)]
    pub to: To,
    /// Fail over even though the other side still answers (only when it is fenced: otherwise
    /// two copies of the guest run).
    #[arg(long)]
    pub force: bool,
}

const FAILED: u8 = 1;
const UNUSABLE: u8 = 2;

/// Loads and validates the document and connects to both hosts.
fn open(a: &PairArgs) -> Result<(Validated, Pair), ExitCode> {
    let doc = super::load(&a.file)?;
    let v = Validated::new(doc).map_err(|findings| {
        eprintln!(
            "error: {} has errors; only an error-free document can be deployed:",
            a.file.display()
        );
        for f in findings.iter().filter(|f| f.is_error()) {
            eprintln!("  {f}");
        }
        ExitCode::from(UNUSABLE)
    })?;
    let pair = Pair::open(&a.primary, &a.secondary).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(FAILED)
    })?;
    Ok((v, pair))
}

fn print_step(r: &StepRecord) {
    let outcome = match (&r.error, r.skipped) {
        (Some(e), _) => format!("FAILED: {e}"),
        (None, true) => "skipped".to_owned(),
        (None, false) => "ok".to_owned(),
    };
    println!(
        "{:>3} {:<9} {:<20} {:>8.1} ms  {}  {}",
        r.n,
        r.side.as_str(),
        r.phase,
        r.micros as f64 / 1000.0,
        r.command,
        outcome
    );
}

pub fn preflight(a: &PairArgs) -> ExitCode {
    let (v, mut pair) = match open(a) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let checks = deploy::preflight(&v, &mut pair);
    for c in &checks {
        println!(
            "{} {:<9} {}: {}",
            if c.ok { "ok  " } else { "FAIL" },
            c.side.map_or("pair", Side::as_str),
            c.what,
            c.detail
        );
    }
    if checks.iter().all(|c| c.ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(FAILED)
    }
}

/// Opens the pair, runs `run` with a line per step, and on success prints `done` (given the
/// pair, e.g. its status); exit 0 on success, 1 naming the error otherwise.
fn run_on_pair<E: std::fmt::Display>(
    a: &PairArgs,
    run: impl FnOnce(&Validated, &mut Pair, &mut dyn FnMut(&StepRecord)) -> Result<(), E>,
    done: impl FnOnce(&Validated, &mut Pair) -> String,
) -> ExitCode {
    let (v, mut pair) = match open(a) {
        Ok(x) => x,
        Err(c) => return c,
    };
    match run(&v, &mut pair, &mut print_step) {
        Ok(()) => {
            println!("{}", done(&v, &mut pair));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(FAILED)
        }
    }
}

/// What a deploy or re-protect that succeeded says: its last phase has seen both sides run in
/// COLO, primary and secondary (the plan's wait-protected steps), so no second status read.
fn protected(_: &Validated, _: &mut Pair) -> String {
    "Protected".to_owned()
}

pub fn deploy(a: &PairArgs) -> ExitCode {
    run_on_pair(a, deploy::deploy, protected)
}

pub fn status(a: &PairArgs) -> ExitCode {
    let (v, mut pair) = match open(a) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let s = deploy::status(&v, &mut pair);
    println!("{}", s.line());
    if let Some(d) = &s.detail {
        println!("  {d}");
    }
    let (p, sec) = if s.swapped {
        println!("  roles swapped: the secondary's host runs the primary (after a failover to the secondary and a re-protect)");
        (&a.secondary, &a.primary)
    } else {
        (&a.primary, &a.secondary)
    };
    for (side, uri, st) in [("primary", p, &s.primary), ("secondary", sec, &s.secondary)] {
        println!(
            "  {side} on {uri}: domain {}{}, QEMU {}, COLO mode {}{}{}",
            st.domain,
            if st.libvirt_behind() {
                " (libvirt does not follow COLO)"
            } else {
                ""
            },
            st.qemu().unwrap_or("-"),
            st.colo_mode.as_deref().unwrap_or("-"),
            st.migration
                .as_deref()
                .map(|m| format!(", migration {m}"))
                .unwrap_or_default(),
            st.checkpoint_delay_ms
                .map(|d| format!(", checkpoint delay {d} ms"))
                .unwrap_or_default(),
        );
    }
    if s.protected {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(FAILED)
    }
}

pub fn failover(a: &FailoverArgs) -> ExitCode {
    let to = match a.to {
        To::Secondary => Side::Secondary,
        To::Primary => Side::Primary,
    };
    run_on_pair(
        &a.pair,
        |v, pair, progress| deploy::failover(v, pair, to, a.force, progress),
        |_, _| format!("the {} runs the guest alone", to.as_str()),
    )
}

pub fn reprotect(a: &PairArgs) -> ExitCode {
    run_on_pair(a, deploy::reprotect, protected)
}

/// Prints each line of a best-effort clean-up; exit 0 only when all of it worked.
fn report(lines: Vec<Result<String, String>>) -> ExitCode {
    let mut ok = true;
    for r in lines {
        match r {
            Ok(s) => println!("{s}"),
            Err(e) => {
                ok = false;
                eprintln!("error: {e}");
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(FAILED)
    }
}

pub fn forget_host(file: &std::path::Path, uri: &str) -> ExitCode {
    let doc = match super::load(file) {
        Ok(d) => d,
        Err(c) => return c,
    };
    match Validated::new(doc) {
        Ok(v) => report(deploy::forget_host(&v, uri)),
        Err(_) => {
            eprintln!(
                "error: {} has errors; check it with `lockstep validate`",
                file.display()
            );
            ExitCode::from(UNUSABLE)
        }
    }
}

pub fn teardown(a: &PairArgs) -> ExitCode {
    let (v, mut pair) = match open(a) {
        Ok(x) => x,
        Err(c) => return c,
    };
    report(deploy::teardown(&v, &mut pair))
}
