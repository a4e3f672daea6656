//! Carries out `plan.json` steps against real processes: the test stand-in for the deploy
//! engine. It reads the plan as plain JSON, exactly as an operator with a shell and a QMP
//! connection on each host would, so it proves the plan is complete and concrete.

use crate::qmp::Qmp;
use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Driver {
    artifacts: PathBuf,
    logs: PathBuf,
    procs: BTreeMap<String, Child>,
    qmp: BTreeMap<String, Qmp>,
    /// One line per step carried out, with its duration.
    pub transcript: Vec<String>,
}

/// Checks a plan condition against a value; `Err` says what differed.
pub fn check(cond: &Value, value: &Value) -> std::result::Result<(), String> {
    let pointer = cond["pointer"].as_str().unwrap_or_default();
    match cond["check"].as_str() {
        Some("success") => Ok(()),
        Some("equals") => {
            let got = value.pointer(pointer);
            if got == Some(&cond["value"]) {
                Ok(())
            } else {
                Err(format!(
                    "{pointer:?} is {got:?}, expected {}",
                    cond["value"]
                ))
            }
        }
        Some(kind @ ("any-item" | "no-item")) => {
            let arr = value
                .pointer(pointer)
                .and_then(Value::as_array)
                .ok_or_else(|| format!("{pointer:?} is not an array in {value}"))?;
            let fields = cond["fields"].as_object().cloned().unwrap_or_default();
            let found = arr
                .iter()
                .any(|item| fields.iter().all(|(k, v)| item.get(k) == Some(v)));
            match (kind, found) {
                ("any-item", true) | ("no-item", false) => Ok(()),
                _ => Err(format!(
                    "{kind}: {} not satisfied by {}",
                    Value::Object(fields),
                    truncate(&value.to_string())
                )),
            }
        }
        other => Err(format!("unknown check {other:?}")),
    }
}

fn truncate(s: &str) -> String {
    if s.len() > 400 {
        format!("{}...", &s[..400])
    } else {
        s.to_owned()
    }
}

impl Driver {
    /// `artifacts` holds the rendered files (`*.cmdline`); logs go to `logs`.
    pub fn new(artifacts: &Path, logs: &Path) -> Driver {
        let _ = std::fs::create_dir_all(logs);
        Driver {
            artifacts: artifacts.to_path_buf(),
            logs: logs.to_path_buf(),
            procs: BTreeMap::new(),
            qmp: BTreeMap::new(),
            transcript: Vec::new(),
        }
    }

    pub fn run_steps(&mut self, steps: &[Value]) -> Result<()> {
        for s in steps {
            let start = Instant::now();
            self.run_step(s).with_context(|| {
                format!(
                    "step {} ({} {} {}): {}",
                    s["n"],
                    s["side"],
                    s["phase"],
                    s["action"],
                    truncate(&s.to_string())
                )
            })?;
            self.transcript.push(format!(
                "{:>3} {:9} {:20} {:7} {:>7.1} ms  {}",
                s["n"],
                s["side"].as_str().unwrap_or(""),
                s["phase"].as_str().unwrap_or(""),
                s["action"].as_str().unwrap_or(""),
                start.elapsed().as_secs_f64() * 1000.0,
                s.get("command")
                    .map(|c| c["execute"].to_string())
                    .or_else(|| s.get("argv").map(|a| a.to_string()))
                    .unwrap_or_default()
            ));
        }
        Ok(())
    }

    pub fn qmp(&mut self, side: &str) -> Result<&mut Qmp> {
        self.qmp
            .get_mut(side)
            .ok_or_else(|| anyhow!("no QMP connection to the {side}"))
    }

    fn run_step(&mut self, s: &Value) -> Result<()> {
        let side = s["side"].as_str().unwrap_or_default().to_owned();
        match s["action"].as_str() {
            Some("host") => {
                let argv: Vec<String> = serde_json::from_value(s["argv"].clone())?;
                let (prog, args) = argv.split_first().ok_or_else(|| anyhow!("empty argv"))?;
                let out = Command::new(prog).args(args).output()?;
                if !out.status.success() {
                    bail!(
                        "{argv:?} exited with {}: {}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
                if let Some(cond) = s.get("expect_stdout") {
                    let v: Value =
                        serde_json::from_slice(&out.stdout).context("stdout is not JSON")?;
                    check(cond, &v).map_err(|e| anyhow!(e))?;
                }
                Ok(())
            }
            Some("launch") => {
                let file = s["cmdline"].as_str().unwrap_or_default();
                let line = std::fs::read_to_string(self.artifacts.join(file))?;
                let log = self.logs.join(format!("{side}.log"));
                let logf = std::fs::File::create(&log)?;
                let child = Command::new("sh")
                    .arg("-c")
                    .arg(format!("exec {}", line.trim_end()))
                    .stdin(Stdio::null())
                    .stdout(logf.try_clone()?)
                    .stderr(logf)
                    .spawn()?;
                self.procs.insert(side.clone(), child);
                let socket = PathBuf::from(s["qmp_socket"].as_str().unwrap_or_default());
                match Qmp::connect(&socket, Duration::from_secs(20)) {
                    Ok(q) => {
                        self.qmp.insert(side, q);
                        Ok(())
                    }
                    Err(e) => Err(e.context(format!(
                        "QEMU log: {}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    ))),
                }
            }
            Some("qmp") => {
                let q = self.qmp(&side)?;
                let reply = q.execute(&s["command"])?;
                let value = reply.map_err(|e| anyhow!("QMP error: {e}"))?;
                check(&s["expect"], &value).map_err(|e| anyhow!(e))
            }
            Some("wait") => {
                let timeout = Duration::from_millis(s["timeout_ms"].as_u64().unwrap_or(60_000));
                let interval = Duration::from_millis(s["interval_ms"].as_u64().unwrap_or(100));
                let start = Instant::now();
                loop {
                    let q = self.qmp(&side)?;
                    let reply = q.execute(&s["command"])?;
                    let last = match reply {
                        Ok(v) => match check(&s["until"], &v) {
                            Ok(()) => return Ok(()),
                            Err(e) => e,
                        },
                        Err(e) => format!("QMP error: {e}"),
                    };
                    if start.elapsed() > timeout {
                        bail!("timed out after {timeout:?}: {last}");
                    }
                    std::thread::sleep(interval);
                }
            }
            other => bail!("unknown action {other:?}"),
        }
    }

    /// Kills one side's QEMU at once (SIGKILL), as a host failure would.
    pub fn kill(&mut self, side: &str) -> Result<()> {
        self.qmp.remove(side);
        let mut child = self
            .procs
            .remove(side)
            .ok_or_else(|| anyhow!("no {side} process"))?;
        child.kill()?;
        child.wait()?;
        Ok(())
    }

    /// Waits for one side's QEMU to exit (after `quit`).
    pub fn wait_exit(&mut self, side: &str, timeout: Duration) -> Result<()> {
        self.qmp.remove(side);
        let Some(mut child) = self.procs.remove(side) else {
            return Ok(());
        };
        match crate::wait_within(&mut child, timeout)? {
            Some(_) => Ok(()),
            None => bail!("{side} QEMU did not exit within {timeout:?}"),
        }
    }

    /// The QEMU log of one side.
    pub fn log(&self, side: &str) -> String {
        std::fs::read_to_string(self.logs.join(format!("{side}.log"))).unwrap_or_default()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        for (_, mut c) in std::mem::take(&mut self.procs) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
