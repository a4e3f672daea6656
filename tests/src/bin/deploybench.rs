//! Deploy benchmark (used by `bench/deploy.sh`): two private libvirtds on this machine, the
//! 1-disk standard pair (64 MiB KVM guest), and per round
//!
//! * `baseline`: the plan's deploy steps as a plain shell script of `virsh` commands (define,
//!   start, `qemu-monitor-command`, polling with `grep` for the waits), the way an operator
//!   scripts it today;
//! * `lockstep`: `lockstep deploy` to "Protected" (preflight included);
//! * `failover`: after the primary's QEMU is killed, `lockstep failover --to secondary` until it
//!   exits with the secondary running alone (connection set-up included);
//!
//! each followed by `lockstep teardown`. The two deploys alternate in order from round to round.
//! Prints one JSON line per measurement, then the medians and the ratio.

use anyhow::{bail, Context, Result};
use lockstep_shared::model::{Side, Storage};
use lockstep_shared::render::libvirt::domain_xml;
use lockstep_shared::render::plan::{self, Action, Condition};
use lockstep_shared::render::qmp::QmpCommand;
use lockstep_shared::render::Validated;
use lockstep_tests::colo::{pair_document, MIB};
use lockstep_tests::libvirtd::Libvirtd;
use lockstep_tests::TempDir;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const NAME: &str = "bench-vm";

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// `grep -E` patterns that the compact or spaced JSON reply must (all) match.
fn patterns(c: &Condition) -> Vec<String> {
    let kv = |k: &str, v: &Value| format!("\"{k}\": ?{}", regex_quote(&v.to_string()));
    match c {
        Condition::Success => vec!["return".to_owned()],
        Condition::Equals { pointer, value } => {
            let key = pointer.rsplit('/').next().unwrap_or_default();
            vec![kv(key, value)]
        }
        Condition::AnyItem { fields, .. } | Condition::NoItem { fields, .. } => {
            fields.iter().map(|(k, v)| kv(k, v)).collect()
        }
    }
}

fn regex_quote(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if "[](){}.*+?^$|\\".contains(c) {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect()
}

/// The plan's deploy phases as a bash script of virsh commands.
fn baseline_script(v: &Validated, dir: &Path, uris: [&str; 2]) -> Result<String> {
    let uri = |side: Side| match side {
        Side::Primary => uris[0],
        Side::Secondary => uris[1],
    };
    let mut s = String::from("set -euo pipefail\n");
    for side in [Side::Primary, Side::Secondary] {
        let file = dir.join(format!("{}.xml", side.as_str()));
        std::fs::write(&file, domain_xml(v, side))?;
    }
    let plan = plan::build(v);
    for step in plan.phases.iter().flat_map(|p| &p.steps) {
        let u = uri(step.side);
        let mon = |cmd: &QmpCommand| {
            format!(
                "virsh -c '{u}' qemu-monitor-command {NAME} '{}'",
                serde_json::to_string(cmd).unwrap_or_default()
            )
        };
        match &step.action {
            Action::Host { argv, .. } => {
                let words: Vec<String> = argv.iter().map(|a| format!("'{a}'")).collect();
                s.push_str(&format!("{} > /dev/null\n", words.join(" ")));
            }
            Action::Launch { paused, .. } => {
                let file = dir.join(format!("{}.xml", step.side.as_str()));
                s.push_str(&format!(
                    "virsh -c '{u}' define '{}' > /dev/null\nvirsh -c '{u}' start {NAME}{} > /dev/null\n",
                    file.display(),
                    if *paused { " --paused" } else { "" }
                ));
            }
            Action::Qmp { command, .. } => {
                if *command != QmpCommand::QmpCapabilities {
                    s.push_str(&format!("{} > /dev/null\n", mon(command)));
                }
            }
            Action::Wait {
                command,
                until,
                interval_ms,
                ..
            } => {
                let checks: Vec<String> = patterns(until)
                    .iter()
                    .map(|p| format!("grep -Eq '{p}' <<< \"$r\""))
                    .collect();
                let test = checks.join(" && ");
                let cond = if matches!(until, Condition::NoItem { .. }) {
                    format!("! ( {test} )")
                } else {
                    test
                };
                s.push_str(&format!(
                    "while :; do r=$({}); if {cond}; then break; fi; sleep {}; done\n",
                    mon(command),
                    *interval_ms as f64 / 1000.0
                ));
            }
        }
    }
    Ok(s)
}

fn run(cmd: &mut Command, what: &str) -> Result<Duration> {
    let t = Instant::now();
    let out = cmd.output().with_context(|| format!("run {what}"))?;
    let took = t.elapsed();
    if !out.status.success() {
        bail!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(took)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let lockstep = arg("--lockstep").context("--lockstep PATH")?;
    let rounds: usize = arg("--rounds").and_then(|r| r.parse().ok()).unwrap_or(5);
    let tmp = TempDir::new("deploybench");
    let dir = tmp.path();
    let (pimg, simg) = (dir.join("p.img"), dir.join("s.img"));
    for img in [&pimg, &simg] {
        let st = Command::new("qemu-img")
            .args(["create", "-q", "-f", "raw"])
            .arg(img)
            .arg((64 * MIB).to_string())
            .status()?;
        if !st.success() {
            bail!("qemu-img create failed");
        }
    }
    let mut doc = pair_document(dir, None, &[(&pimg, &simg)], Storage::File);
    doc.guest.name = NAME.to_owned();
    let file = dir.join("vm.json");
    std::fs::write(&file, serde_json::to_string(&doc)?)?;
    let v = Validated::new(doc).map_err(|f| anyhow::anyhow!("document has errors: {f:?}"))?;
    let second = {
        let b = dir.join("host-b");
        std::thread::spawn(move || Libvirtd::start(&b))
    };
    let a = Libvirtd::start(&dir.join("host-a"))?;
    let b = second.join().map_err(|_| anyhow::anyhow!("thread"))??;
    let script = dir.join("baseline.sh");
    std::fs::write(&script, baseline_script(&v, dir, [&a.uri, &b.uri])?)?;
    let ls = |cmd: &str, extra: &[&str]| {
        let mut c = Command::new(&lockstep);
        c.arg(cmd)
            .arg(&file)
            .args(extra)
            .args(["--primary", &a.uri, "--secondary", &b.uri]);
        c
    };
    let teardown = || run(&mut ls("teardown", &[]), "lockstep teardown");
    // Warm both libvirtds and the page cache once, untimed.
    run(Command::new("bash").arg(&script), "baseline script")?;
    teardown()?;
    run(&mut ls("deploy", &[]), "lockstep deploy")?;
    teardown()?;
    println!(
        "# {} cores, QEMU {}, 1-disk pair, 64 MiB KVM guest, {rounds} rounds",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        String::from_utf8_lossy(
            &Command::new("qemu-system-x86_64")
                .arg("--version")
                .output()?
                .stdout
        )
        .lines()
        .next()
        .unwrap_or_default()
    );
    let (mut base, mut ours, mut fo) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            ["baseline", "lockstep"]
        } else {
            ["lockstep", "baseline"]
        };
        for which in order {
            let took = if which == "baseline" {
                run(Command::new("bash").arg(&script), "baseline script")?
            } else {
                run(&mut ls("deploy", &[]), "lockstep deploy")?
            };
            let ms = took.as_secs_f64() * 1000.0;
            println!("{{\"round\": {round}, \"deploy\": \"{which}\", \"ms\": {ms:.1}}}");
            if which == "baseline" {
                base.push(ms);
                teardown()?;
            } else {
                ours.push(ms);
                a.kill_qemu(NAME)?;
                // Until the secondary has noticed (status says lost connection).
                let start = Instant::now();
                loop {
                    let out = ls("status", &[]).output()?;
                    if String::from_utf8_lossy(&out.stdout).starts_with("Not protected: lost") {
                        break;
                    }
                    if start.elapsed() > Duration::from_secs(20) {
                        bail!("the primary's loss was not seen");
                    }
                }
                let f = run(&mut ls("failover", &["--to", "secondary"]), "failover")?;
                let fms = f.as_secs_f64() * 1000.0;
                println!("{{\"round\": {round}, \"failover_ms\": {fms:.1}}}");
                fo.push(fms);
                teardown()?;
            }
        }
    }
    let (b, o, f) = (median(&mut base), median(&mut ours), median(&mut fo));
    println!(
        "{{\"baseline_median_ms\": {b:.1}, \"lockstep_median_ms\": {o:.1}, \"ratio\": {:.2}, \"target_ratio\": 0.6, \"failover_median_ms\": {f:.1}, \"failover_target_ms\": 100}}",
        o / b
    );
    Ok(())
}
