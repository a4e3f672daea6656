//! The built page in headless Chromium, served by `lockstep serve`: the shared validator and
//! renderers run as WebAssembly in a real browser.

#[macro_use]
mod common;

use lockstep_tests::{have_program, skip, workspace_root, TempDir};
use std::process::Command;

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| have_program(c))
}

/// The DOM after the page's scripts ran (Chromium's `--dump-dom`).
fn dump_dom(browser: &str, url: &str, profile: &std::path::Path) -> String {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=15000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .output()
        .expect("run chromium");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `dist/`, the built app the binary embeds; `None` (a counted skip) when it is not built.
fn built_app(test: &str) -> Option<std::path::PathBuf> {
    let dist = workspace_root().join("dist");
    if dist.join("index.html").is_file() {
        return Some(dist);
    }
    skip(
        test,
        "frontend",
        "dist/ is not built (scripts/test builds it)",
    );
    None
}

#[test]
fn page_validates_and_renders_in_the_browser() {
    let test = "browser::page_validates_and_renders_in_the_browser";
    let Some(_dist) = built_app(test) else {
        return;
    };
    let Some(browser) = chromium() else {
        skip(test, "chromium", "chromium is not installed");
        return;
    };
    need_postgres!(test);
    // The app built into the binary (dist/ as it was when the binary was built).
    let server = common::Server::start().with_embedded_app();
    let profile = TempDir::new("chromium");
    let dom = dump_dom(browser, &format!("http://{}/", server.addr), profile.path());
    drop(server);
    // Written by the WebAssembly app: the status line, and the rendered primary domain XML.
    assert!(
        dom.contains("id=\"status\""),
        "the app did not mount: {dom}"
    );
    assert!(dom.contains("Valid: no findings"), "status missing: {dom}");
    assert!(
        dom.contains("&lt;domain type='kvm'") && dom.contains("quorum"),
        "rendered XML missing: {dom}"
    );
}

/// The built app's file whose name starts with `prefix` and ends with `ext`.
fn built(dist: &std::path::Path, prefix: &str, ext: &str) -> String {
    std::fs::read_dir(dist)
        .expect("dist")
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .find(|n| n.starts_with(prefix) && n.ends_with(ext))
        .unwrap_or_else(|| panic!("no {prefix}*{ext} in dist/"))
}

#[test]
fn the_binary_serves_its_app_compressed_cached_and_on_every_route() {
    let test = "browser::the_binary_serves_its_app_compressed_cached_and_on_every_route";
    let Some(dist) = built_app(test) else {
        return;
    };
    need_postgres!(test);
    let server = common::Server::start().with_embedded_app();
    let mut c = server.client();
    let js = built(&dist, "lockstep-", ".js");
    let wasm = built(&dist, "lockstep_bg-", ".wasm");
    // Every client-side route answers the app; the app loads its hashed script by absolute path.
    for route in ["/", "/configurations/7", "/teams/ops/audit?actor=ada"] {
        let r = c.get(route).expect("route");
        assert_eq!(r.status, 200, "{route}");
        assert!(r.body.contains(&format!("/{js}")), "{route}: {}", r.body);
        assert_eq!(r.header("cache-control"), Some("no-cache"), "{route}");
    }
    // Unknown API paths stay JSON 404s.
    for path in ["/api/v1/nowhere", "/api/nowhere"] {
        let r = c.get(path).expect("api");
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.json()["code"], "not_found", "{path}");
    }
    // Hashed files: cached for a year, sent precompressed by Accept-Encoding.
    let mut sizes = Vec::new();
    for name in [&js, &wasm] {
        let raw = std::fs::read(dist.join(name)).expect("file");
        for (accept, coding, suffix) in [
            ("br, gzip", Some("br"), ".br"),
            ("gzip", Some("gzip"), ".gz"),
            ("identity", None, ""),
        ] {
            let (status, headers, body) = get_bytes(&server.addr, &format!("/{name}"), accept);
            assert_eq!(status, 200, "{name} {accept}");
            assert_eq!(
                header(&headers, "content-encoding").as_deref(),
                coding,
                "{name} {accept}"
            );
            assert_eq!(
                header(&headers, "cache-control").as_deref(),
                Some("public, max-age=31536000, immutable")
            );
            let file = std::fs::read(dist.join(format!("{name}{suffix}"))).expect("compressed");
            assert!(body == file, "{name} {accept}: the body is the built file");
            sizes.push(format!("{name}{suffix} {} B", body.len()));
        }
        assert!(raw.len() > 1000);
    }
    eprintln!("app sizes: {}", sizes.join(", "));
    // The whole app gzip: under the 300 KB budget (issue 12).
    let gz: usize = [&js, &wasm]
        .iter()
        .map(|n| std::fs::metadata(dist.join(format!("{n}.gz"))).map_or(0, |m| m.len() as usize))
        .sum();
    assert!(
        gz < 300_000,
        "the app is {gz} bytes gzip, over the 300 KB budget"
    );
}

/// A GET with `Accept-Encoding`, the body as bytes (the test client reads text).
fn get_bytes(addr: &str, path: &str, accept: &str) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept-Encoding: {accept}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head, raw[end + 4..].to_vec())
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_owned())
}
