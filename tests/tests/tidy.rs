//! Repository hygiene: every Rust source file opens with a `//!` paragraph saying what it is.

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

#[test]
fn auth_knows_no_http() {
    // Who is calling and what they may do, apart from how it arrives: the request extractor
    // and the error answers live in `http` (issue 12). `db` still names `http::openapi` types
    // in its rows' schema attributes until the wire types move to `shared::api`.
    let mut files = Vec::new();
    walk(&workspace_root().join("backend/src/auth"), &mut files);
    assert!(!files.is_empty());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for needle in ["crate::http", "actix_web"] {
            assert!(!text.contains(needle), "{} uses {needle}", f.display());
        }
    }
}
