//! Repository hygiene: every Rust source file opens with a `//!` paragraph saying what it is;
//! unsafe code lives in one module.

use lockstep_tests::workspace_root;
use std::path::Path;

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_source_file_has_a_module_doc() {
    let root = workspace_root();
    let mut files = Vec::new();
    for d in [
        "shared/src",
        "shared/tests",
        "shared/benches",
        "frontend/benches",
        "backend/src",
        "backend/tests",
        "frontend/src",
        "tests/src",
        "tests/tests",
    ] {
        walk(&root.join(d), &mut files);
    }
    assert!(files.len() > 30);
    let missing: Vec<String> = files
        .iter()
        .filter(|f| {
            !std::fs::read_to_string(f)
                .unwrap_or_default()
                .trim_start()
                .starts_with("//!")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(missing.is_empty(), "files without a //! doc: {missing:?}");
}

/// Yew inserts a list's children last first, so a `<select>` whose options say nothing shows
/// its last option (an oldest version, a last template) while the page's state assumes the
/// first: every select in the app marks the option it starts on.
#[test]
fn every_select_marks_its_selected_option() {
    let root = workspace_root();
    let mut files = Vec::new();
    walk(&root.join("frontend/src"), &mut files);
    let mut unmarked = Vec::new();
    let mut selects = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read");
        for (at, _) in text.match_indices("<select") {
            selects += 1;
            let body = &text[at..];
            let end = body.find("</select>").expect("a closed select");
            if !body[..end].contains("selected") {
                let line = text[..at].lines().count() + 1;
                unmarked.push(format!("{}:{line}", f.display()));
            }
        }
    }
    assert!(selects >= 10, "found only {selects} selects");
    assert!(
        unmarked.is_empty(),
        "selects without a selected option: {unmarked:?}"
    );
}

#[test]
fn unsafe_code_is_allowed_in_one_module_only() {
    let root = workspace_root();
    let mut files = Vec::new();
    for d in ["shared", "backend", "frontend", "tests"] {
        walk(&root.join(d).join("src"), &mut files);
    }
    let allowing: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            text.contains("allow(unsafe_code)") || text.contains("expect(unsafe_code)")
        })
        .map(|f| f.strip_prefix(&root).unwrap_or(f).display().to_string())
        .collect();
    assert_eq!(allowing, ["backend/src/deploy/events.rs"]);
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
    assert!(
        manifest.contains("unsafe_code = \"deny\""),
        "the workspace denies unsafe code"
    );
}

#[test]
fn auth_and_db_know_no_http() {
    // Who is calling and what they may do, and what is stored, apart from how it arrives: the
    // request extractor and the error answers live in `http`, and the JSON the API speaks is
    // `shared::api` (issue 12). Rows are converted into those types; none is a wire type.
    for dir in ["backend/src/auth", "backend/src/db"] {
        let mut files = Vec::new();
        walk(&workspace_root().join(dir), &mut files);
        assert!(!files.is_empty(), "{dir}");
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            for needle in [
                "crate::http",
                "actix_web",
                "utoipa",
                "derive(Serialize",
                "serde::Serialize",
            ] {
                assert!(!text.contains(needle), "{} uses {needle}", f.display());
            }
        }
    }
}

#[test]
fn wire_types_are_defined_once_in_shared_api() {
    // The server's handlers build `shared::api` types; they define no JSON types of their own
    // (query strings excepted: `IntoParams`).
    let mut files = Vec::new();
    walk(&workspace_root().join("backend/src/http"), &mut files);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        assert!(
            !text.contains("ToSchema)]"),
            "{} derives ToSchema: define the type in shared::api",
            f.display()
        );
    }
}
