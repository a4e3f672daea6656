//! The `lockstep` binary's document commands, run as a user would run them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn lockstep(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lockstep"))
        .args(args)
        .output()
        .expect("run lockstep")
}

fn corpus(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../test-data")
        .join(case)
}

/// A fresh directory, removed when the returned guard drops.
fn tmp(tag: &str) -> (lockstep_tests::TempDir, PathBuf) {
    let t = lockstep_tests::TempDir::new(&format!("cli-{tag}"));
    let p = t.path().to_path_buf();
    (t, p)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn validate_exit_codes() {
    let ok = lockstep(&[
        "validate",
        corpus("one-disk-raw/input.json").to_str().unwrap_or(""),
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert!(text(&ok).contains("0 error(s)"));

    let bad = lockstep(&[
        "validate",
        corpus("broken-secondary/input.json").to_str().unwrap_or(""),
    ]);
    assert_eq!(bad.status.code(), Some(1));
    let out = text(&bad);
    assert!(
        out.contains("E017 error: hidden image 'shidden0' is 1 GiB"),
        "{out}"
    );
    assert!(out.contains("hint: "));

    let missing = lockstep(&["validate", "/nonexistent/doc.json"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing).contains("cannot read /nonexistent/doc.json"));
}

#[test]
fn validate_json_lists_every_finding() {
    let o = lockstep(&[
        "validate",
        "--json",
        corpus("broken-network/input.json").to_str().unwrap_or(""),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["errors"], 7);
    let codes: Vec<&str> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["code"].as_str())
        .collect();
    for c in [
        "E031", "E039", "E041", "E053", "E056", "W030", "W031", "W039",
    ] {
        assert!(codes.contains(&c), "{c} missing from {codes:?}");
    }
}

#[test]
fn parse_errors_give_line_and_column() {
    let (_guard, dir) = tmp("parse");
    let cases = [
        (
            "trunc.json",
            "{\n  \"schema_version\": 1,\n  \"guest\": {",
            "line 3, column",
        ),
        (
            "unknown.json",
            "{\"schema_version\": 1, \"colour\": 3}",
            "unknown field `colour`",
        ),
        (
            "type.json",
            "{\"schema_version\": \"one\"}",
            "line 1, column",
        ),
        ("empty.json", "", "line 1, column 0"),
    ];
    for (name, content, want) in cases {
        let p = dir.join(name);
        std::fs::write(&p, content).expect("write");
        let o = lockstep(&["validate", p.to_str().unwrap_or("")]);
        assert_eq!(o.status.code(), Some(2), "{name}");
        assert!(text(&o).contains(want), "{name}: {}", text(&o));
        let r = lockstep(&[
            "render",
            p.to_str().unwrap_or(""),
            "--out",
            dir.join("o").to_str().unwrap_or(""),
        ]);
        assert_eq!(r.status.code(), Some(2), "{name}");
    }
}

#[test]
fn render_writes_the_golden_artifacts() {
    let (_guard, out) = tmp("render");
    let o = lockstep(&[
        "render",
        corpus("nic-proxy-e1000-bridge/input.json")
            .to_str()
            .unwrap_or(""),
        "--out",
        out.to_str().unwrap_or(""),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    for f in [
        "primary.xml",
        "secondary.xml",
        "plan.json",
        "primary.cmdline",
        "secondary.cmdline",
    ] {
        let got = std::fs::read_to_string(out.join(f)).expect("written");
        let want =
            std::fs::read_to_string(corpus("nic-proxy-e1000-bridge").join(f)).expect("golden");
        assert_eq!(got, want, "{f}");
    }
}

#[test]
fn render_refuses_a_document_with_errors_and_writes_nothing() {
    let (_guard, out) = tmp("refuse");
    let o = lockstep(&[
        "render",
        corpus("broken-primary/input.json").to_str().unwrap_or(""),
        "--out",
        out.to_str().unwrap_or(""),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("has errors; nothing was written"));
    assert_eq!(std::fs::read_dir(&out).expect("dir").count(), 0);
}

#[test]
fn schema_is_a_json_schema_of_the_document() {
    let o = lockstep(&["schema"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert!(v["$schema"]
        .as_str()
        .unwrap_or("")
        .contains("json-schema.org"));
    for k in [
        "schema_version",
        "guest",
        "hosts",
        "colo",
        "nics",
        "nodes",
        "edges",
        "layout",
    ] {
        assert!(v["properties"].get(k).is_some(), "{k}");
    }
}

#[test]
fn new_prints_a_document_that_validates_and_renders() {
    let (_guard, dir) = tmp("new");
    let o = lockstep(&[
        "new",
        "--disk",
        "/var/lib/colo/a.qcow2:10G:qcow2",
        "--disk",
        "/var/lib/colo/b.img:512M:raw",
        "--primary",
        "colo-a.example.net",
        "--secondary",
        "192.168.10.2",
        "--nic",
        "bridge=br0",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let doc = dir.join("doc.json");
    std::fs::write(&doc, &o.stdout).expect("write");
    let v = lockstep(&["validate", doc.to_str().unwrap_or("")]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
    let r = lockstep(&[
        "render",
        doc.to_str().unwrap_or(""),
        "--out",
        dir.join("out").to_str().unwrap_or(""),
    ]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/plan.json")).expect("plan"))
            .expect("json");
    // Every step says its side and phase.
    for p in plan["phases"].as_array().expect("phases") {
        for s in p["steps"].as_array().expect("steps") {
            assert!(
                s["side"].is_string() && s["phase"].is_string() && s["n"].is_u64(),
                "{s}"
            );
        }
    }
}

#[test]
fn new_rejects_bad_disk_specs() {
    for (spec, want) in [
        ("/a.img:10G:vmdk", "neither raw nor qcow2"),
        ("/a.img:ten:raw", "unknown size unit"),
        ("/a.img:1.5G:raw", "not a number"),
        ("/a.img", "not PATH:SIZE:FORMAT"),
    ] {
        let o = lockstep(&["new", "--disk", spec, "--primary", "a", "--secondary", "b"]);
        assert_eq!(o.status.code(), Some(2), "{spec}");
        assert!(text(&o).contains(want), "{spec}: {}", text(&o));
    }
}

#[test]
fn new_says_what_each_disk_path_is() {
    let o = lockstep(&[
        "new",
        "--disk",
        "/dev/vg0/a:10G:raw",
        "--disk",
        "/srv/b.img:1G:raw:block",
        "--disk",
        "/dev/vg0/c:1G:qcow2:file",
        "--secondary-disk",
        "/var/lib/colo/a.img",
        "--secondary-disk",
        "/dev/mapper/b:block",
        "--primary",
        "a",
        "--secondary",
        "b",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let storage = |id: &str| {
        let n = doc["nodes"]
            .as_array()
            .and_then(|n| n.iter().find(|n| n["id"] == id))
            .cloned()
            .unwrap_or_default();
        // Absent means a regular file.
        (
            n["path"].as_str().unwrap_or_default().to_owned(),
            n["storage"].as_str().unwrap_or("file").to_owned(),
        )
    };
    for (id, path, kind) in [
        ("pdisk0", "/dev/vg0/a", "block"),
        ("sdisk0", "/var/lib/colo/a.img", "file"),
        ("pdisk1", "/srv/b.img", "block"),
        ("sdisk1", "/dev/mapper/b", "block"),
        ("pdisk2", "/dev/vg0/c", "file"),
        (
            "sactive0",
            "/dev/shm/lockstep/colo-vm-active0.qcow2",
            "file",
        ),
    ] {
        assert_eq!(storage(id), (path.to_owned(), kind.to_owned()), "{id}");
    }
}

#[test]
fn swap_prints_the_pair_with_its_roles_swapped_and_twice_gives_it_back() {
    let (_t, dir) = tmp("swap");
    let input = corpus("three-disks-mixed/input.json");
    let once = lockstep(&["swap", input.to_str().unwrap_or("")]);
    assert_eq!(once.status.code(), Some(0), "{}", text(&once));
    let swapped: serde_json::Value = serde_json::from_slice(&once.stdout).expect("json");
    let original: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&input).expect("read")).expect("json");
    assert_eq!(swapped["hosts"]["primary"], original["hosts"]["secondary"]);
    let file = dir.join("swapped.json");
    std::fs::write(&file, &once.stdout).expect("write");
    let valid = lockstep(&["validate", file.to_str().unwrap_or("")]);
    assert_eq!(valid.status.code(), Some(0), "{}", text(&valid));
    let twice = lockstep(&["swap", file.to_str().unwrap_or("")]);
    let back: serde_json::Value = serde_json::from_slice(&twice.stdout).expect("json");
    let nodes = |d: &serde_json::Value| {
        let mut n: Vec<String> = d["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| n.to_string())
            .collect();
        n.sort();
        n
    };
    assert_eq!(nodes(&back), nodes(&original));
    assert_eq!(back["hosts"], original["hosts"]);
    // Only an error-free pair swaps.
    let broken = lockstep(&[
        "swap",
        corpus("broken-graph-ids/input.json").to_str().unwrap_or(""),
    ]);
    assert_eq!(broken.status.code(), Some(1), "{}", text(&broken));
    assert!(
        text(&broken).contains("only an error-free pair"),
        "{}",
        text(&broken)
    );
}
