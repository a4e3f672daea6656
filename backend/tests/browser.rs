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

#[test]
fn page_validates_and_renders_in_the_browser() {
    let test = "browser::page_validates_and_renders_in_the_browser";
    let dist = workspace_root().join("dist");
    if !dist.join("lockstep_bg.wasm").is_file() {
        skip(
            test,
            "frontend",
            "dist/ is not built (scripts/test builds it)",
        );
        return;
    }
    let Some(browser) = chromium() else {
        skip(test, "chromium", "chromium is not installed");
        return;
    };
    need_postgres!(test);
    let server = common::Server::start_serving(Some(&dist));
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
