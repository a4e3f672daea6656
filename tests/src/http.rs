//! A small blocking HTTP/1.1 client for API tests: JSON in and out, one session cookie and the
//! CSRF token it came with.

use anyhow::{anyhow, Context, Result};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One response's bytes: to the end of its `Content-Length` body or its last chunk, or to the
/// end of the stream (some servers, chromedriver among them, keep the socket open after
/// `Connection: close`).
fn read_response(s: &mut TcpStream) -> Result<Vec<u8>> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok(raw);
        }
        raw.extend_from_slice(&buf[..n]);
        let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
        let length = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim() == "content-length")
            .and_then(|(_, v)| v.trim().parse::<usize>().ok());
        let body = &raw[end + 4..];
        let complete = match length {
            Some(len) => body.len() >= len,
            None if head.contains("chunked") => body.ends_with(b"0\r\n\r\n"),
            None => false,
        };
        if complete {
            return Ok(raw);
        }
    }
}

#[derive(Debug, Clone)]
pub struct Client {
    pub addr: String,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
    /// Send the CSRF header with changes (tests turn it off to check the server refuses).
    pub send_csrf: bool,
    /// An API token, sent as `Authorization: Bearer`.
    pub bearer: Option<String>,
}

impl Client {
    pub fn new(addr: &str) -> Client {
        Client {
            addr: addr.to_owned(),
            cookie: None,
            csrf: None,
            send_csrf: true,
            bearer: None,
        }
    }

    /// Sends a request with a raw body (`content_type` None: no body).
    pub fn raw(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Response> {
        let mut s = self.write_request(method, path, content_type, body)?;
        let raw = read_response(&mut s)?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text
            .split_once("\r\n\r\n")
            .ok_or_else(|| anyhow!("no header end in {text:?}"))?;
        let mut lines = head.lines();
        let status: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| anyhow!("bad status line in {head:?}"))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        for (k, v) in &headers {
            if k.eq_ignore_ascii_case("set-cookie") {
                if let Some(rest) = v.strip_prefix("lockstep_session=") {
                    let value = rest.split(';').next().unwrap_or_default();
                    self.cookie = (!value.is_empty()).then(|| value.to_owned());
                }
            }
        }
        let body = if headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
        {
            dechunk(body)
        } else {
            body.to_owned()
        };
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// Sends a request and goes away without reading the answer (a caller that closed its
    /// browser tab): the connection is closed at once.
    pub fn abandon(&mut self, method: &str, path: &str, body: &Value) -> Result<()> {
        let s = self.write_request(
            method,
            path,
            Some("application/json"),
            body.to_string().as_bytes(),
        )?;
        s.shutdown(std::net::Shutdown::Both)?;
        Ok(())
    }

    /// Connects and writes one request.
    fn write_request(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<TcpStream> {
        let mut s =
            TcpStream::connect(&self.addr).with_context(|| format!("connect {}", self.addr))?;
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nUser-Agent: lockstep-tests\r\n", self.addr);
        if let Some(ct) = content_type {
            head.push_str(&format!(
                "Content-Type: {ct}\r\nContent-Length: {}\r\n",
                body.len()
            ));
        } else if method != "GET" {
            head.push_str("Content-Length: 0\r\n");
        }
        if let Some(c) = &self.cookie {
            head.push_str(&format!("Cookie: lockstep_session={c}\r\n"));
        }
        if let Some(t) = &self.bearer {
            head.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        if self.send_csrf && method != "GET" {
            if let Some(t) = &self.csrf {
                head.push_str(&format!("X-CSRF-Token: {t}\r\n"));
            }
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes())?;
        s.write_all(body)?;
        Ok(s)
    }

    pub fn get(&mut self, path: &str) -> Result<Response> {
        self.raw("GET", path, None, b"")
    }

    pub fn send(&mut self, method: &str, path: &str, body: &Value) -> Result<Response> {
        self.raw(
            method,
            path,
            Some("application/json"),
            body.to_string().as_bytes(),
        )
    }

    /// Logs in and keeps the cookie and CSRF token.
    pub fn login(&mut self, user: &str, password: &str) -> Result<Response> {
        let r = self.send(
            "POST",
            "/api/v1/login",
            &serde_json::json!({"user": user, "password": password}),
        )?;
        if r.status == 200 {
            self.csrf = r.json()["csrf_token"].as_str().map(str::to_owned);
        }
        Ok(r)
    }
}

fn dechunk(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// A keep-alive connection for load generation: one request at a time, responses read by
/// `Content-Length`.
pub struct KeepAlive {
    addr: String,
    stream: Option<std::io::BufReader<TcpStream>>,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
}

impl KeepAlive {
    pub fn new(addr: &str, cookie: Option<String>, csrf: Option<String>) -> KeepAlive {
        KeepAlive {
            addr: addr.to_owned(),
            stream: None,
            cookie,
            csrf,
        }
    }

    /// Status and body; reconnects once when the server closed the connection.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<(u16, String)> {
        match self.try_request(method, path, body) {
            Ok(r) => Ok(r),
            Err(_) => {
                self.stream = None;
                self.try_request(method, path, body)
            }
        }
    }

    fn try_request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<(u16, String)> {
        use std::io::BufRead;
        if self.stream.is_none() {
            let s = TcpStream::connect(&self.addr)?;
            s.set_nodelay(true)?;
            self.stream = Some(std::io::BufReader::new(s));
        }
        let r = self.stream.as_mut().ok_or_else(|| anyhow!("no stream"))?;
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        if let Some(c) = &self.cookie {
            req.push_str(&format!("Cookie: lockstep_session={c}\r\n"));
        }
        if let (Some(t), false) = (&self.csrf, method == "GET") {
            req.push_str(&format!("X-CSRF-Token: {t}\r\n"));
        }
        let body = body.unwrap_or("");
        if method != "GET" {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(body);
        r.get_mut().write_all(req.as_bytes())?;
        let mut line = String::new();
        r.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| anyhow!("bad status line {line:?}"))?;
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            r.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut buf = vec![0u8; len];
        r.read_exact(&mut buf)?;
        Ok((status, String::from_utf8_lossy(&buf).into_owned()))
    }
}
