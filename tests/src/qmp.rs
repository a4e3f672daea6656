//! A minimal synchronous QMP client over a unix socket.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    /// Events received so far, in order.
    pub events: Vec<Value>,
}

impl Qmp {
    /// Connects, retrying until `timeout`, and reads the greeting.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Qmp> {
        let start = Instant::now();
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) if start.elapsed() < timeout => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(e).with_context(|| format!("connect {}", path.display())),
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        let writer = stream.try_clone()?;
        let mut q = Qmp {
            reader: BufReader::new(stream),
            writer,
            events: Vec::new(),
        };
        let greeting = q.read_message()?;
        if greeting.get("QMP").is_none() {
            bail!("unexpected QMP greeting: {greeting}");
        }
        Ok(q)
    }

    fn read_message(&mut self) -> Result<Value> {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line)?;
        if n == 0 {
            bail!("QMP connection closed");
        }
        serde_json::from_str(&line).with_context(|| format!("bad QMP line {line:?}"))
    }

    /// Sends a command object (`{"execute": ..., "arguments": ...}`) and returns the reply:
    /// `Ok(return)` or `Err` with QEMU's error description.
    pub fn execute(&mut self, command: &Value) -> Result<std::result::Result<Value, String>> {
        let mut text = serde_json::to_string(command)?;
        text.push('\n');
        self.writer.write_all(text.as_bytes())?;
        loop {
            let msg = self.read_message()?;
            if msg.get("event").is_some() {
                self.events.push(msg);
                continue;
            }
            if let Some(r) = msg.get("return") {
                return Ok(Ok(r.clone()));
            }
            if let Some(e) = msg.get("error") {
                return Ok(Err(e.to_string()));
            }
            return Err(anyhow!("unexpected QMP message {msg}"));
        }
    }

    /// Like [`execute`](Self::execute), but a QEMU error is an error.
    pub fn call(&mut self, command: &Value) -> Result<Value> {
        self.execute(command)?
            .map_err(|e| anyhow!("{} failed: {e}", command["execute"]))
    }

    /// Runs an HMP command line through QMP.
    pub fn hmp(&mut self, line: &str) -> Result<String> {
        let r = self.call(&serde_json::json!({
            "execute": "human-monitor-command",
            "arguments": {"command-line": line}
        }))?;
        Ok(r.as_str().unwrap_or_default().to_owned())
    }
}
