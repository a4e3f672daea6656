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
    // The sandbox: the editor on a local document, no log in.
    let dom = dump_dom(
        browser,
        &format!("http://{}/sandbox", server.addr),
        profile.path(),
    );
    drop(server);
    // Written by the WebAssembly app: the graph, the status line, and the plan rendered from
    // the document in the browser.
    assert!(
        dom.contains("id=\"status\""),
        "the app did not mount: {dom}"
    );
    assert!(dom.contains("Valid: no findings"), "status missing: {dom}");
    assert!(
        dom.contains("id=\"canvas\"") && dom.contains("data-id=\"pquorum0\""),
        "graph missing: {dom}"
    );
    assert!(
        dom.contains("migrate-set-capabilities") && dom.contains("Check both hosts"),
        "rendered plan missing: {dom}"
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
    // What the page loads is measured by bench/browser.sh against its 300 KB gzip target.
    eprintln!("app sizes: {}", sizes.join(", "));
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

/// A WebDriver session pool for one test: chromedriver, or a counted skip.
fn driver(test: &str) -> Option<lockstep_tests::webdriver::Driver> {
    if let Err(missing) = lockstep_tests::webdriver::available() {
        skip(test, "chromedriver", missing);
        return None;
    }
    Some(lockstep_tests::webdriver::Driver::start().expect("start chromedriver"))
}

/// Where the screenshots of the main screens go (test artifacts).
fn shot(name: &str) -> std::path::PathBuf {
    workspace_root()
        .join("target/screenshots")
        .join(format!("{name}.png"))
}

/// Logs in through the form and waits for the configurations page.
fn log_in(b: &lockstep_tests::webdriver::Browser, base: &str, user: &str) {
    b.goto(&format!("{base}/login")).expect("login page");
    let u = b.find("#login-user").expect("user field");
    b.type_into(&u, user).expect("type user");
    let p = b.find("#login-password").expect("password field");
    b.type_into(&p, common::PASSWORD).expect("type password");
    b.click(&b.find("#login button[type=submit]").expect("submit"))
        .expect("log in");
    b.wait_text("#who", user).expect("signed in");
}

fn node_css(id: &str) -> String {
    format!("g.node[data-id=\"{id}\"]")
}

fn count(b: &lockstep_tests::webdriver::Browser, css: &str) -> usize {
    b.find_all(css).expect("find").len()
}

/// A text property (`value`, `selectedOptions[0].text`) of the element with this id.
fn by_id(b: &lockstep_tests::webdriver::Browser, id: &str, property: &str) -> String {
    b.exec(
        &format!("return document.getElementById(arguments[0]).{property}"),
        serde_json::json!([id]),
    )
    .expect("read the page")
    .as_str()
    .unwrap_or_default()
    .to_owned()
}

/// An operator's session, as issue 12 lists it: log in; create from the standard template;
/// break the hidden overlay's size and see the error with the node outlined; fix it; drag a
/// new edge and undo it; add a protected disk; save; see the history diff and the audit entry;
/// a second session saving the same configuration gets the conflict screen; a viewer sees no
/// save button. Screenshots of the main screens go to `target/screenshots/`.
#[test]
fn an_operator_draws_saves_and_reviews_in_a_real_browser() {
    let test = "browser::an_operator_draws_saves_and_reviews_in_a_real_browser";
    let Some(_dist) = built_app(test) else {
        return;
    };
    need_postgres!(test);
    let Some(driver) = driver(test) else {
        return;
    };
    let db = common::Server::start();
    db.create_user("ops", "admin", "alice");
    db.create_user("ops", "editor", "bob");
    db.create_user("ops", "viewer", "vic");
    db.create_user("lab", "admin", "dave");
    let server = db.with_embedded_app();
    let base = format!("http://{}", server.addr);
    let a = driver.browser(1400, 900).expect("browser");

    // Log in and create from the standard template.
    log_in(&a, &base, "alice");
    a.screenshot(&shot("configurations")).expect("shot");
    a.click(&a.find("#new-template-button").expect("button"))
        .expect("new from template");
    let name = a.find("#new-name").expect("name field");
    // Each list starts on its first choice (Yew adds options last first).
    a.find("#new-template option").expect("the templates");
    let offered = by_id(&a, "new-template", "selectedOptions[0].text");
    assert!(
        offered.starts_with("Standard pair, 1 disk (built in)"),
        "{offered}"
    );
    a.type_into(&name, "web1").expect("name");
    a.click(&a.find("#create-submit").expect("create"))
        .expect("create");
    a.wait("the editor", |b| {
        Ok(b.url()?.contains("/configurations/").then_some(()))
    })
    .expect("editor url");
    a.wait_text("#status", "Valid: no findings").expect("valid");
    let url = a.url().expect("url");
    assert_eq!(count(&a, "g.node"), 11, "the 1-disk pair has 11 nodes");

    // Break the hidden overlay's size: E017, the node outlined; then fix it.
    a.click(&a.find(&node_css("shidden0")).expect("node"))
        .expect("select");
    let size = a.find("#f-size").expect("size field");
    a.replace_text(&size, "5G").expect("type");
    a.keys(&[lockstep_tests::webdriver::key::TAB]).expect("tab");
    a.wait_text("#status", "Not deployable")
        .expect("error shown");
    a.find("#findings li[data-code=\"E017\"]")
        .expect("E017 listed");
    let class = a
        .attr(&a.find(&node_css("shidden0")).expect("node"), "class")
        .expect("class")
        .unwrap_or_default();
    assert!(
        class.contains("flag-error"),
        "the node is outlined: {class}"
    );
    assert!(a
        .text(&a.find("#badge").expect("badge"))
        .expect("badge")
        .contains("✖ 1"));
    a.screenshot(&shot("findings")).expect("shot");
    // Clicking the finding selects what it names.
    a.click(
        &a.find("#findings li[data-code=\"E017\"] button")
            .expect("finding"),
    )
    .expect("pick");
    a.wait("the finding's nodes selected", |b| {
        let c = b
            .attr(&b.find(&node_css("sdisk0"))?, "class")?
            .unwrap_or_default();
        Ok(c.contains("selected").then_some(()))
    })
    .expect("selected");
    a.click(&a.find(&node_css("shidden0")).expect("node"))
        .expect("select");
    let size = a.find("#f-size").expect("size field");
    a.replace_text(&size, "10G").expect("type");
    a.keys(&[lockstep_tests::webdriver::key::TAB]).expect("tab");
    a.wait_text("#status", "Valid: no findings").expect("fixed");

    // Drag a new edge (a third child of the quorum) and undo it, with the whole graph in view
    // (picking the finding centred the secondary's nodes).
    a.click(&a.find("#fit").expect("fit")).expect("fit");
    let edges = count(&a, "g.edge");
    let handle = a
        .find(&format!("{} circle.handle", node_css("pquorum0")))
        .expect("handle");
    let target = a.find(&node_css("pdisk0")).expect("target");
    a.drag(&handle, &target, 8).expect("drag");
    a.wait("a new edge", |b| {
        Ok((count(b, "g.edge") == edges + 1).then_some(()))
    })
    .expect("edge added");
    a.click(&a.find("#undo").expect("undo")).expect("undo");
    a.wait("the edge gone", |b| {
        Ok((count(b, "g.edge") == edges).then_some(()))
    })
    .expect("undone");

    // The keyboard: focus a node, Delete removes it, Ctrl+Z (focus now on the canvas) brings
    // it back.
    a.exec(
        "document.querySelector('g.node[data-id=\"prep0\"]').focus()",
        serde_json::json!([]),
    )
    .expect("focus");
    a.keys(&[lockstep_tests::webdriver::key::DELETE])
        .expect("delete");
    a.wait("the node deleted", |b| {
        Ok((count(b, "g.node") == 10).then_some(()))
    })
    .expect("deleted");
    a.chord(lockstep_tests::webdriver::key::CONTROL, "z")
        .expect("undo");
    a.wait("the node back", |b| {
        Ok((count(b, "g.node") == 11).then_some(()))
    })
    .expect("undone");

    // Add a protected disk, then save.
    a.click(&a.find("#add-disk").expect("add disk"))
        .expect("open");
    assert_eq!(by_id(&a, "ad-format", "value"), "qcow2");
    a.click(&a.find("#add-disk-submit").expect("submit"))
        .expect("add");
    a.wait("the second disk's chain", |b| {
        Ok((count(b, "g.node") == 22).then_some(()))
    })
    .expect("22 nodes");
    a.wait_text("#status", "Valid").expect("still valid");
    let msg = a.find("#save-message").expect("message");
    a.type_into(&msg, "second disk").expect("message");
    a.click(&a.find("#save").expect("save")).expect("save");
    a.wait_text("#saved", "Saved version 2").expect("saved");
    a.screenshot(&shot("editor")).expect("shot");

    // Save it as a team template, its names and hosts as parameters.
    a.click(&a.find("#save-as-template").expect("button"))
        .expect("open");
    let n = a.find("#tpl-name").expect("name");
    a.type_into(&n, "web pair").expect("name");
    a.click(&a.find("#save-as-template-submit").expect("submit"))
        .expect("save");
    a.wait_text("#saved", "Saved as template web pair")
        .expect("template saved");

    // History: the diff of version 1 → 2, drawn and listed.
    a.goto(&format!("{url}/history")).expect("history");
    let diff = a
        .wait_text("#history-diff", "added node pdisk1")
        .expect("diff");
    assert!(diff.contains("added edge nbd-pnbd1-sdisk1"), "{diff}");
    a.find(".diff-canvas g.node.d-added")
        .expect("added nodes coloured");
    a.wait_text("h1", "History of web1")
        .expect("the page names the configuration");
    a.screenshot(&shot("history-diff")).expect("shot");

    // Templates: the gallery, with the built-ins.
    a.goto(&format!("{base}/templates")).expect("templates");
    a.wait_text("#templates", "Standard pair, 1 disk")
        .expect("gallery");
    a.click(&a.find(".use-template").expect("use"))
        .expect("open the form");
    let mem = a.find("#tp-memory_mib").expect("memory field");
    a.type_into(&mem, "12").expect("type");
    a.wait_text("#instantiate", "below the minimum 64")
        .expect("a constraint checked while typing");
    a.screenshot(&shot("templates")).expect("shot");

    // Audit: the save is there, with its diff.
    a.goto(&format!("{base}/audit")).expect("audit");
    a.wait_text("#audit", "configuration.update")
        .expect("audit entry");
    // A configuration's events lead to it.
    let path = url.trim_start_matches(&base).to_owned();
    assert!(
        count(&a, &format!("#audit a[href=\"{path}\"]")) >= 2,
        "links to {path}"
    );
    a.screenshot(&shot("audit")).expect("shot");
    // The target type and result filters offer the values events have, from "any".
    assert_eq!(by_id(&a, "audit-result", "value"), "");
    assert_eq!(by_id(&a, "audit-target_type", "value"), "");
    for pick in [
        "#audit-target_type option[value='template']",
        "#audit-result option[value='ok']",
    ] {
        a.click(&a.find(pick).expect("option")).expect("pick");
    }
    a.click(&a.find(".filters button[type=submit]").expect("filter"))
        .expect("filter");
    a.wait("only the template's events", |b| {
        let t = b.text(&b.find("#audit")?)?;
        Ok((t.contains("template.create") && !t.contains("configuration.update")).then_some(()))
    })
    .expect("filtered by target type and result");

    // Conflict: bob opens version 2, alice saves 3, bob's save gets the conflict screen.
    let b = driver.browser(1400, 900).expect("second browser");
    log_in(&b, &base, "bob");
    b.goto(&url).expect("open");
    b.wait_text("#status", "Valid").expect("loaded");
    a.goto(&url).expect("open");
    a.wait_text("#status", "Valid").expect("loaded");
    // Nothing selected: the panel edits the guest. Alice changes memory, bob the vCPUs.
    for (who, field, value) in [(&a, "#f-memory", "2048"), (&b, "#f-vcpus", "2")] {
        let f = who.find(field).expect("field");
        who.replace_text(&f, value).expect("type");
        who.keys(&[lockstep_tests::webdriver::key::TAB])
            .expect("tab");
        who.find("#dirty").expect("unsaved marker");
    }
    a.click(&a.find("#save").expect("save")).expect("save");
    a.wait_text("#saved", "version 3").expect("alice saved");
    b.click(&b.find("#save").expect("save")).expect("save");
    let c = b
        .wait_text("#conflict", "Someone saved first")
        .expect("conflict screen");
    assert!(c.contains("alice saved version 3"), "{c}");
    let theirs = b
        .text(&b.find("#their-changes").expect("theirs"))
        .expect("text");
    assert!(theirs.contains("guest.memory_mib"), "{theirs}");
    let mine = b.text(&b.find("#my-changes").expect("mine")).expect("text");
    assert!(mine.contains("guest.vcpus"), "{mine}");
    b.screenshot(&shot("conflict")).expect("shot");
    b.click(&b.find("#conflict-overwrite").expect("overwrite"))
        .expect("overwrite");
    b.wait_text("#saved", "version 4")
        .expect("saved over it knowingly");

    // A viewer sees the graph, read-only, without a save button.
    let v = driver.browser(1400, 900).expect("third browser");
    log_in(&v, &base, "vic");
    v.goto(&url).expect("open");
    v.wait_text("#status", "Valid").expect("loaded");
    assert!(
        v.find_all("#save").expect("find").is_empty(),
        "a viewer has no save button"
    );
    let why = v
        .text(&v.find("#readonly-reason").expect("reason"))
        .expect("text");
    assert!(why.contains("viewer"), "{why}");
    assert!(
        v.find_all("#undo").expect("find").is_empty(),
        "nor editing tools"
    );
}

/// The deploy screen in a real browser on two private libvirtds: a deployer checks the hosts
/// (the preflight table), deploys (a progress bar per phase, the live step log), sees
/// "Protected", loses the primary, fails over behind a dialog that says what will happen, and
/// tears down; a viewer is told why there is no Deploy button. Screenshots: the preflight, the
/// progress and "Protected".
#[test]
fn a_deployer_deploys_fails_over_and_tears_down_in_the_browser() {
    let test = "browser::a_deployer_deploys_fails_over_and_tears_down_in_the_browser";
    let Some(_dist) = built_app(test) else {
        return;
    };
    need_postgres!(test);
    if !common::stand::can_run(test) {
        return;
    }
    let Some(driver) = driver(test) else {
        return;
    };
    let stand = common::stand::Stand::new("browser-deploy", 1, None, true);
    let db = common::Server::start();
    let (mut api, cid, _) = common::stand::register(&db, &stand);
    db.create_user("ops", "viewer", "vic");
    db.create_user("ops", "admin", "ada");
    let server = db.with_embedded_app();
    let base = format!("http://{}", server.addr);
    let b = driver.browser(1400, 1100).expect("browser");
    log_in(&b, &base, "dora");
    // The wizard offers the team's registered hosts as the pair.
    b.click(&b.find("#new-wizard").expect("wizard button"))
        .expect("open the wizard");
    let field = |id: &str| by_id(&b, id, "value");
    b.wait_text(
        "#create-form",
        "registered: host-a (127.0.0.1), host-b (127.0.0.2)",
    )
    .expect("the registered hosts named");
    assert_eq!(field("new-primary_name"), "host-a");
    assert_eq!(field("new-primary_address"), "127.0.0.1");
    assert_eq!(field("new-secondary_name"), "host-b");
    assert_eq!(field("new-secondary_address"), "127.0.0.2");
    // So does a pair made from the standard template: its host parameters take them.
    b.click(&b.find("#new-template-button").expect("template button"))
        .expect("from a template");
    b.type_into(&b.find("#new-name").expect("name"), "tpl pair")
        .expect("name");
    b.click(&b.find("#create-submit").expect("create"))
        .expect("create");
    b.wait_text("#f-primary-registered", "host-b")
        .expect("the new pair's editor");
    for (side, host) in [
        ("primary", "host-a — 127.0.0.1"),
        ("secondary", "host-b — 127.0.0.2"),
    ] {
        assert_eq!(
            by_id(
                &b,
                &format!("f-{side}-registered"),
                "selectedOptions[0].text"
            ),
            host
        );
    }
    // The Templates page's form starts its host parameters as the registered hosts too.
    b.goto(&format!("{base}/templates")).expect("templates");
    b.wait_text("#templates", "Standard pair, 1 disk")
        .expect("gallery");
    b.click(&b.find(".use-template").expect("use"))
        .expect("open the form");
    b.find("#tp-primary_host").expect("the form");
    for (param, value) in [
        ("primary_host", "host-a"),
        ("primary_address", "127.0.0.1"),
        ("secondary_host", "host-b"),
        ("secondary_address", "127.0.0.2"),
    ] {
        assert_eq!(by_id(&b, &format!("tp-{param}"), "value"), value, "{param}");
    }
    // A third host, listed first (by name): the deploy form still offers the hosts the
    // document names.
    common::register_host(
        &mut api,
        "ops",
        "host-0",
        "qemu+ssh://root@spare.invalid/system",
        "127.0.0.9",
    );
    b.goto(&format!("{base}/configurations/{cid}"))
        .expect("editor");
    // The document's hosts are offered as the team's registered hosts; picking one sets the
    // name and the address in one step (undone here).
    b.wait_text("#f-primary-registered", "host-0 — 127.0.0.9")
        .expect("registered hosts offered");
    assert_eq!(
        by_id(&b, "f-primary-registered", "selectedOptions[0].text"),
        "host-a — 127.0.0.1"
    );
    b.click(
        &b.find("#f-primary-registered option[value='0']")
            .expect("host-0"),
    )
    .expect("pick host-0");
    b.wait("the address to follow", |b| {
        Ok((by_id(b, "f-primary-address", "value") == "127.0.0.9").then_some(()))
    })
    .expect("address set");
    assert_eq!(by_id(&b, "f-primary-name", "value"), "host-0");
    b.click(&b.find("#undo").expect("undo")).expect("undo");
    b.wait("the pick undone", |b| {
        Ok((by_id(b, "f-primary-address", "value") == "127.0.0.1").then_some(()))
    })
    .expect("undone");
    assert_eq!(
        by_id(&b, "f-primary-name", "value"),
        "pri",
        "the document's own name"
    );
    // Version 2 replicates to host-0's address: offered first, with host-0 as its secondary.
    let mut doc = api
        .get(&format!("/api/v1/configurations/{cid}"))
        .expect("read")
        .json()["current"]["document"]
        .clone();
    doc["hosts"]["secondary"]["address"] = serde_json::json!("127.0.0.9");
    let r = api
        .send(
            "PUT",
            &format!("/api/v1/configurations/{cid}"),
            &serde_json::json!({"base_version": 1, "document": doc, "message": "to host-0"}),
        )
        .expect("save");
    assert_eq!(r.status, 200, "{}", r.body);
    b.click(&b.find("#deployments-link").expect("deploy link"))
        .expect("open deployments");
    b.wait_text("h1", "Deployments of api pair")
        .expect("the page names the configuration");
    let chosen = |id: &str| by_id(&b, id, "selectedOptions[0].text");
    let offered = chosen("deploy-version");
    assert!(offered.starts_with("version 2: to host-0"), "{offered}");
    // The secondary picked for a version: the host at the address it names.
    let secondary_becomes = |host: &str| {
        b.wait(&format!("{host} as the secondary"), |b| {
            Ok(by_id(b, "deploy-secondary", "selectedOptions[0].text")
                .starts_with(&format!("{host} "))
                .then_some(()))
        })
        .expect("the version's hosts picked");
    };
    secondary_becomes("host-0");
    // Picking version 1 picks the hosts it names.
    b.click(
        &b.find("#deploy-version option[value='1']")
            .expect("version 1"),
    )
    .expect("pick version 1");
    secondary_becomes("host-b");
    let check = b.find("#deploy-check").expect("check button");
    // Record the confirmation dialogs and accept them.
    b.exec(
        "window.__confirms = []; window.confirm = m => { window.__confirms.push(m); return true; }",
        serde_json::json!([]),
    )
    .expect("confirm hook");
    let start = b.find("#deploy-start").expect("deploy button");
    assert!(
        b.attr(&start, "disabled").expect("attr").is_some(),
        "no deploy before the hosts are checked"
    );
    assert!(
        b.find_all("#deploy-unregistered").expect("find").is_empty(),
        "both addresses are registered"
    );
    assert!(
        chosen("deploy-primary").starts_with("host-a "),
        "{}",
        chosen("deploy-primary")
    );
    assert!(
        chosen("deploy-secondary").starts_with("host-b "),
        "{}",
        chosen("deploy-secondary")
    );
    b.click(&check).expect("check hosts");
    b.wait_text("#preflight", "passed")
        .expect("preflight shown");
    let table = b.text(&b.find("#preflight").expect("table")).expect("text");
    assert!(!table.contains("failed"), "{table}");
    // Each check names the host it ran on.
    for side in ["primary: host-a", "secondary: host-b"] {
        assert!(table.contains(side), "{side} in {table}");
    }
    let checks = count(&b, "#preflight tbody tr");
    b.wait_text(
        "#preflight-summary",
        &format!("All {checks} checks passed: ready to deploy."),
    )
    .expect("the preflight's summary");
    // Versions are offered with their message, author and time.
    let version = chosen("deploy-version");
    assert!(version.starts_with("version 1: "), "{version}");
    assert!(version.contains("(dora, "), "{version}");
    // The plan is shown before anything runs.
    b.wait_text("#deploy-plan", "What deploying version 1 does")
        .expect("the plan shown");
    assert!(count(&b, "#deploy-plan details") >= 9);
    b.screenshot(&shot("deploy-preflight")).expect("shot");
    // Another pick needs another check: the result and the plan go, and Deploy waits.
    let pick_secondary = |name: &str| {
        let options = b.find_all("#deploy-secondary option").expect("options");
        let o = options
            .into_iter()
            .find(|o| b.text(o).is_ok_and(|t| t.starts_with(name)))
            .expect("the host offered");
        b.click(&o).expect("pick");
    };
    pick_secondary("host-0 ");
    b.wait("the check cleared", |b| {
        Ok(b.find_all("#preflight, #deploy-plan")?
            .is_empty()
            .then_some(()))
    })
    .expect("a check of other hosts is not shown as theirs");
    assert_eq!(
        b.exec(
            "return document.getElementById('deploy-start').disabled",
            serde_json::json!([])
        )
        .expect("read the page"),
        true
    );
    pick_secondary("host-b ");
    b.click(&b.find("#deploy-check").expect("check button"))
        .expect("check hosts again");
    b.wait_text("#preflight-summary", "ready to deploy")
        .expect("checked again");
    b.wait_text("#deploy-plan", "What deploying version 1 does")
        .expect("the plan shown again");
    // Note whether steps show while the deploy still runs (they stream as server-sent events).
    b.exec(
        "window.__live = 0; window.__watch = setInterval(() => { \
           const badge = document.getElementById('protection'); \
           const rows = document.querySelectorAll('#steps tbody tr').length; \
           if (badge && !badge.textContent.includes('Protected') && rows > window.__live) \
             window.__live = rows; }, 10);",
        serde_json::json!([]),
    )
    .expect("watch");
    b.click(&b.find("#deploy-start").expect("deploy"))
        .expect("deploy");
    b.wait("the phases", |b| {
        Ok((count(b, "#phases li") >= 9).then_some(()))
    })
    .expect("phases");
    b.wait("steps while it runs", |b| {
        Ok(b.exec("return window.__live", serde_json::json!([]))?
            .as_u64()
            .filter(|n| *n >= 3)
            .map(|_| ()))
    })
    .unwrap_or_else(|e| {
        let seen = b
            .exec(
                "return [window.__live, performance.getEntriesByType('resource').map(e => e.name).join(' ')]",
                serde_json::json!([]),
            )
            .unwrap_or_default();
        panic!("{e}: {seen}")
    });
    b.screenshot(&shot("deploy-progress")).expect("shot");
    // A deploy takes seconds; on a busy machine (the suite's other tests run beside it) the
    // first migration can take longer than one wait.
    let protected = (0..4).find_map(|_| b.wait_text("#protection", "Protected").ok());
    if protected.is_none() {
        let e = "waited 60 s";
        let page = b.find("main").and_then(|m| b.text(&m)).unwrap_or_default();
        panic!("not protected: {e}\n{page}\n{}", stand.logs());
    }
    let phases = b.text(&b.find("#phases").expect("phases")).expect("text");
    assert!(
        !phases.contains("failed") && !phases.contains(" of "),
        "every phase done: {phases}"
    );
    assert!(count(&b, "#steps tbody tr") >= 30, "the step log");
    b.screenshot(&shot("deploy-protected")).expect("shot");
    let confirms = b
        .exec("return window.__confirms", serde_json::json!([]))
        .expect("confirms");
    assert!(
        confirms[0]
            .as_str()
            .unwrap_or("")
            .contains("Deploy version 1"),
        "{confirms}"
    );

    // The badge on the configurations list and in the editor.
    b.goto(&format!("{base}/configurations")).expect("list");
    b.wait_text("td.protection", "Protected")
        .expect("list badge");
    // A deployed configuration cannot be archived; the button says why.
    let archive = b
        .find("button[aria-label^='Archive']")
        .expect("archive button");
    assert!(b.attr(&archive, "disabled").expect("attr").is_some());
    assert!(b
        .attr(&archive, "title")
        .expect("attr")
        .unwrap_or_default()
        .contains("tear the deployment down"));
    b.screenshot(&shot("configurations-protected"))
        .expect("shot");
    // The hosts say what runs on them; editing one says its deployments follow a new URI.
    b.goto(&format!("{base}/hosts")).expect("hosts");
    b.wait_text("#hosts", "api pair (primary, protected)")
        .expect("the primary's host names the pair");
    b.wait_text("#hosts", "api pair (secondary, protected)")
        .expect("and the secondary's");
    b.click(&b.find("button[aria-label='Edit host-a']").expect("edit"))
        .expect("edit host-a");
    b.wait_text("#host-uri-hint", "follow a new URI")
        .expect("the edit form says the deployments follow");
    // An admin cannot delete a host the pair runs on; the button says why.
    let admin = driver.browser(1200, 800).expect("admin's browser");
    log_in(&admin, &base, "ada");
    admin.goto(&format!("{base}/hosts")).expect("hosts");
    admin
        .wait_text("#hosts", "api pair (primary, protected)")
        .expect("hosts listed");
    let delete = admin
        .find("button[aria-label='Delete host-a']")
        .expect("delete button");
    assert!(admin.attr(&delete, "disabled").expect("attr").is_some());
    assert!(admin
        .attr(&delete, "title")
        .expect("attr")
        .unwrap_or_default()
        .contains("before deleting this host"));
    let spare = admin
        .find("button[aria-label='Delete host-0']")
        .expect("delete button");
    assert!(
        admin.attr(&spare, "disabled").expect("attr").is_none(),
        "nothing runs on host-0"
    );
    drop(admin);
    b.goto(&format!("{base}/configurations/{cid}"))
        .expect("editor");
    b.wait_text("#editor-protection", "Protected")
        .expect("editor badge");
    b.goto(&format!("{base}/configurations/{cid}/deployments"))
        .expect("back");
    b.wait_text("#protection", "Protected").expect("protected");
    // libvirt started the primary paused and may not follow COLO resuming it: where it says
    // paused while QEMU runs the guest, the page marks the side and says whose state counts
    // (and nowhere else). Read in one go, between two of the page's status reloads.
    b.wait_text("#sides", "running").expect("the sides' states");
    let read = b
        .exec(
            "return { rows: [...document.querySelectorAll('#sides tbody tr')] \
               .map(r => [...r.cells].map(c => c.textContent)), \
               note: (document.getElementById('libvirt-behind') || {}).textContent || null }",
            serde_json::json!([]),
        )
        .expect("read the sides");
    eprintln!("sides: {read}");
    let mut behind_any = false;
    for row in read["rows"].as_array().expect("rows") {
        let cell = |i: usize| row[i].as_str().unwrap_or_default().to_owned();
        let behind = cell(1).starts_with("paused") && cell(2) == "running";
        behind_any |= behind;
        assert_eq!(
            cell(1).ends_with(" †"),
            behind,
            "marked exactly when behind: {row}"
        );
    }
    match read["note"].as_str() {
        Some(note) => {
            assert!(behind_any, "a note with nothing marked: {read}");
            assert!(
                note.contains("QEMU's state is the one that counts"),
                "{note}"
            );
        }
        None => assert!(!behind_any, "a marked side is explained: {read}"),
    }
    b.exec(
        "window.__confirms = []; window.confirm = m => { window.__confirms.push(m); return true; }",
        serde_json::json!([]),
    )
    .expect("confirm hook");

    stand
        .a
        .kill_qemu(common::stand::GUEST)
        .expect("kill the primary");
    (0..2)
        .find_map(|_| b.wait_text("#protection", "lost connection").ok())
        .expect("lost connection shown");
    b.click(&b.find("#action-failover-to-secondary").expect("failover"))
        .expect("failover");
    b.wait_text("#deploy-message", "failed-over")
        .expect("failed over");
    b.wait_text("#protection", "failed over")
        .expect("status says failed over");
    // The dialog before action `i` said `what`.
    let confirmed = |i: usize, what: &str| {
        let confirms = b
            .exec("return window.__confirms", serde_json::json!([]))
            .expect("confirms");
        assert!(
            confirms[i].as_str().unwrap_or("").contains(what),
            "{confirms}"
        );
    };
    confirmed(0, "The secondary takes over");
    // Re-protect with the roles swapped, from the same screen.
    b.click(&b.find("#action-reprotect").expect("re-protect button"))
        .expect("reprotect");
    b.wait_text("#deploy-message", "protected")
        .expect("protected again");
    b.wait_text("#protection", "Protected")
        .expect("status says protected");
    b.wait_text(
        "#roles-swapped",
        "Roles swapped: host-b runs the primary, host-a the secondary",
    )
    .expect("the swap is shown, with the hosts' names");
    // Each side by the team's name for its host, with the URI it is reached at.
    b.wait_text("#sides", &format!("primary on host-b\n{}", stand.b.uri))
        .expect("the sides name their hosts");
    b.wait_text("#sides", &format!("secondary on host-a\n{}", stand.a.uri))
        .expect("the sides name their hosts");
    b.screenshot(&shot("deploy-roles-swapped")).expect("shot");
    confirmed(1, "The roles swap");
    b.click(&b.find("#action-teardown").expect("teardown"))
        .expect("teardown");
    b.wait_text("#deploy-message", "torn-down")
        .expect("torn down");
    stand.assert_no_domains();

    let v = driver.browser(1200, 800).expect("browser");
    log_in(&v, &base, "vic");
    v.goto(&format!("{base}/configurations/{cid}/deployments"))
        .expect("page");
    v.wait_text("#deploy-why", "Deployers and admins")
        .expect("told why");
    assert_eq!(count(&v, "#deploy-start"), 0);
    assert_eq!(count(&v, "[id^=action-]"), 0);
}
