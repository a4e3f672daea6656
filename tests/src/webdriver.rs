//! A small blocking W3C WebDriver client for browser tests: starts Debian's `chromedriver`
//! with a headless Chromium, and drives it as a user would (navigate, find, click, type, drag,
//! keys), with polling waits and screenshots. Speaks the protocol over [`crate::http`].

use crate::http::Client;
use crate::TempDir;
use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The key WebDriver names element references with.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long waits poll before failing.
pub const WAIT: Duration = Duration::from_secs(15);

/// Keys for [`Browser::keys`] and typing (WebDriver's code points).
pub mod key {
    pub const TAB: &str = "\u{E004}";
    pub const ENTER: &str = "\u{E007}";
    pub const CONTROL: &str = "\u{E009}";
    pub const SHIFT: &str = "\u{E008}";
    pub const DELETE: &str = "\u{E017}";
    pub const BACKSPACE: &str = "\u{E003}";
}

/// `chromedriver` and `chromium`, when both are installed.
pub fn available() -> Result<(), &'static str> {
    if !crate::have_program("chromedriver") {
        return Err("chromedriver is not installed (Debian package chromium-driver)");
    }
    if !crate::have_program("chromium") {
        return Err("chromium is not installed");
    }
    Ok(())
}

/// One chromedriver process; each [`Browser`] is a session of it (its own profile, so its
/// own cookies).
pub struct Driver {
    child: Child,
    addr: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    pub fn start() -> Result<Driver> {
        let port = crate::free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start chromedriver")?;
        let mut d = Driver {
            child,
            addr: format!("127.0.0.1:{port}"),
        };
        let start = Instant::now();
        loop {
            if let Ok(r) = Client::new(&d.addr).get("/status") {
                if r.json()["value"]["ready"] == true {
                    return Ok(d);
                }
            }
            if start.elapsed() > WAIT {
                let _ = d.child.kill();
                bail!("chromedriver did not get ready on {}", d.addr);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A new headless Chromium window of `width` × `height`.
    pub fn browser(&self, width: u32, height: u32) -> Result<Browser> {
        let profile = TempDir::new("chromium");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-quic", "--remote-debugging-port=0",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let r = Client::new(&self.addr).send("POST", "/session", &caps)?;
        let v = r.json();
        let session = v["value"]["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow!("no session: {}", r.body))?
            .to_owned();
        Ok(Browser {
            addr: self.addr.clone(),
            session,
            _profile: profile,
        })
    }
}

/// One browser session.
pub struct Browser {
    addr: String,
    session: String,
    _profile: TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ =
            Client::new(&self.addr).raw("DELETE", &format!("/session/{}", self.session), None, b"");
    }
}

/// An element reference.
#[derive(Debug, Clone, PartialEq)]
pub struct El(pub String);

impl Browser {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("/session/{}{path}", self.session);
        let mut c = Client::new(&self.addr);
        let r = match body {
            Some(b) => c.send(method, &url, &b)?,
            None => c.raw(method, &url, None, b"")?,
        };
        let v = r.json();
        if r.status != 200 {
            bail!(
                "{method} {path}: {} {}",
                v["value"]["error"].as_str().unwrap_or("?"),
                v["value"]["message"]
                    .as_str()
                    .unwrap_or(&r.body)
                    .lines()
                    .next()
                    .unwrap_or("")
            );
        }
        Ok(v["value"].clone())
    }

    pub fn goto(&self, url: &str) -> Result<()> {
        self.call("POST", "/url", Some(json!({ "url": url })))
            .map(|_| ())
    }

    pub fn url(&self) -> Result<String> {
        Ok(self
            .call("GET", "/url", None)?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    pub fn find_all(&self, css: &str) -> Result<Vec<El>> {
        let v = self.call(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        )?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT].as_str())
                    .map(|s| El(s.to_owned()))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The first element matching `css`, waiting for it to appear.
    pub fn find(&self, css: &str) -> Result<El> {
        self.wait(&format!("an element {css}"), |b| {
            Ok(b.find_all(css)?.into_iter().next())
        })
    }

    /// Polls `f` until it gives `Some`, for at most [`WAIT`]; fails naming `what`.
    pub fn wait<T>(
        &self,
        what: &str,
        mut f: impl FnMut(&Browser) -> Result<Option<T>>,
    ) -> Result<T> {
        let start = Instant::now();
        let mut last = None;
        loop {
            match f(self) {
                Ok(Some(t)) => return Ok(t),
                Ok(None) => {}
                Err(e) => last = Some(e),
            }
            if start.elapsed() > WAIT {
                bail!(
                    "waited {} s for {what}{}",
                    WAIT.as_secs(),
                    last.map(|e| format!(" (last error: {e})"))
                        .unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the text of the first `css` element contains `text`; returns the text.
    pub fn wait_text(&self, css: &str, text: &str) -> Result<String> {
        self.wait(&format!("{css} to say {text:?}"), |b| {
            let Some(e) = b.find_all(css)?.into_iter().next() else {
                return Ok(None);
            };
            let t = b.text(&e)?;
            Ok(t.contains(text).then_some(t))
        })
    }

    pub fn click(&self, e: &El) -> Result<()> {
        self.call("POST", &format!("/element/{}/click", e.0), Some(json!({})))
            .map(|_| ())
    }

    /// Types `text` into an element (WebDriver key codes allowed, see [`key`]).
    pub fn type_into(&self, e: &El, text: &str) -> Result<()> {
        self.call(
            "POST",
            &format!("/element/{}/value", e.0),
            Some(json!({ "text": text })),
        )
        .map(|_| ())
    }

    /// Replaces a text field's content as a user does: select all, then type.
    pub fn replace_text(&self, e: &El, text: &str) -> Result<()> {
        self.click(e)?;
        self.chord(key::CONTROL, "a")?;
        self.type_into(e, text)
    }

    pub fn text(&self, e: &El) -> Result<String> {
        Ok(self
            .call("GET", &format!("/element/{}/text", e.0), None)?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    pub fn attr(&self, e: &El, name: &str) -> Result<Option<String>> {
        Ok(self
            .call("GET", &format!("/element/{}/attribute/{name}", e.0), None)?
            .as_str()
            .map(str::to_owned))
    }

    pub fn exec(&self, script: &str, args: Value) -> Result<Value> {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// Presses `k` with `modifier` held (e.g. Ctrl+Z), sent to the focused element.
    pub fn chord(&self, modifier: &str, k: &str) -> Result<()> {
        let actions = json!({"actions": [{"type": "key", "id": "kb", "actions": [
            {"type": "keyDown", "value": modifier}, {"type": "keyDown", "value": k},
            {"type": "keyUp", "value": k}, {"type": "keyUp", "value": modifier}]}]});
        self.call("POST", "/actions", Some(actions))?;
        self.call("DELETE", "/actions", None).map(|_| ())
    }

    /// Presses keys one after another on the focused element.
    pub fn keys(&self, keys: &[&str]) -> Result<()> {
        let acts: Vec<Value> = keys
            .iter()
            .flat_map(|k| {
                [
                    json!({"type": "keyDown", "value": k}),
                    json!({"type": "keyUp", "value": k}),
                ]
            })
            .collect();
        self.call(
            "POST",
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "kb", "actions": acts}]})),
        )?;
        self.call("DELETE", "/actions", None).map(|_| ())
    }

    /// Drags with the mouse from the centre of `from` to the centre of `to`, in `steps` moves.
    pub fn drag(&self, from: &El, to: &El, steps: u32) -> Result<()> {
        let origin = |e: &El| json!({ ELEMENT: e.0 });
        let mut acts = vec![
            json!({"type": "pointerMove", "duration": 0, "origin": origin(from), "x": 0, "y": 0}),
            json!({"type": "pointerDown", "button": 0}),
        ];
        let (a, b) = (self.centre(from)?, self.centre(to)?);
        for i in 1..=steps {
            let t = i as f64 / steps as f64;
            acts.push(json!({"type": "pointerMove", "duration": 10, "origin": "viewport",
                "x": (a.0 + (b.0 - a.0) * t).round() as i64, "y": (a.1 + (b.1 - a.1) * t).round() as i64}));
        }
        acts.push(json!({"type": "pointerUp", "button": 0}));
        self.call(
            "POST",
            "/actions",
            Some(json!({"actions": [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": acts}]})),
        )?;
        self.call("DELETE", "/actions", None).map(|_| ())
    }

    /// An element's centre in viewport pixels.
    pub fn centre(&self, e: &El) -> Result<(f64, f64)> {
        let r = self.exec(
            "const r = arguments[0].getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2];",
            json!([{ ELEMENT: e.0 }]),
        )?;
        Ok((r[0].as_f64().unwrap_or(0.0), r[1].as_f64().unwrap_or(0.0)))
    }

    /// Saves a PNG screenshot of the window.
    pub fn screenshot(&self, path: &Path) -> Result<()> {
        let v = self.call("GET", "/screenshot", None)?;
        let png = decode_base64(v.as_str().unwrap_or_default())?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png).with_context(|| format!("write {}", path.display()))
    }
}

/// Standard base64 (screenshots come that way).
fn decode_base64(s: &str) -> Result<Vec<u8>> {
    let val = |c: u8| -> Result<u32> {
        Ok(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => bail!("not base64: {:?}", c as char),
        } as u32)
    };
    let bytes: Vec<u8> = s
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= val(*c)? << (18 - 6 * i);
        }
        let k = chunk.len().saturating_sub(1);
        out.extend_from_slice(&n.to_be_bytes()[1..1 + k]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_decodes() {
        assert_eq!(
            super::decode_base64("aGVsbG8=").unwrap_or_default(),
            b"hello"
        );
        assert_eq!(super::decode_base64("aGk=").unwrap_or_default(), b"hi");
        assert_eq!(super::decode_base64("YWJj").unwrap_or_default(), b"abc");
        assert!(super::decode_base64("a*").is_err());
    }
}
