//! The golden corpus: every folder of `test-data/` holds `input.json` and every artifact derived
//! from it (`findings.txt`, and for valid documents the five rendered files). Folders named
//! `broken-*` must have errors, all others must have none.
//!
//! Regenerate with `UPDATE_GOLDEN=1 cargo test -p lockstep-shared --test golden`.

use lockstep_shared::render::{render_all, Validated};
use lockstep_shared::validate::{self, rules_markdown};
use lockstep_shared::Document;
use std::path::{Path, PathBuf};

const RENDERED: [&str; 5] = [
    "primary.xml",
    "secondary.xml",
    "plan.json",
    "primary.cmdline",
    "secondary.cmdline",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn update() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some()
}

/// Compares `actual` with the file, or rewrites the file when updating. Collects mismatches
/// instead of panicking so one run reports every stale file.
fn check_file(path: &Path, actual: &str, problems: &mut Vec<String>) {
    if update() {
        std::fs::write(path, actual).expect("write golden file");
        return;
    }
    match std::fs::read_to_string(path) {
        Ok(expected) if expected == actual => {}
        Ok(_) => problems.push(format!(
            "{} differs from the current output",
            path.display()
        )),
        Err(e) => problems.push(format!("{}: {e}", path.display())),
    }
}

fn findings_text(doc: &Document) -> String {
    let f = validate::validate(doc);
    let mut s: String = f.iter().map(|f| format!("{f}\n")).collect();
    let errors = f.iter().filter(|x| x.is_error()).count();
    s.push_str(&format!(
        "{errors} error(s), {} warning(s)\n",
        f.len() - errors
    ));
    s
}

fn cases() -> Vec<PathBuf> {
    let dir = root().join("test-data");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("test-data exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("input.json").is_file())
        .collect();
    cases.sort();
    cases
}

#[test]
fn corpus_matches_golden_files() {
    let cases = cases();
    assert!(
        cases.len() >= 15,
        "the corpus has {} scenarios",
        cases.len()
    );
    let mut problems = Vec::new();
    for case in &cases {
        let name = case
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let text = std::fs::read_to_string(case.join("input.json")).expect("read input");
        let doc = Document::from_json(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        check_file(
            &case.join("findings.txt"),
            &findings_text(&doc),
            &mut problems,
        );
        let broken = name.starts_with("broken-");
        match (Validated::new(doc), broken) {
            (Ok(v), false) => {
                for (file, content) in render_all(&v).files() {
                    check_file(&case.join(file), content, &mut problems);
                }
            }
            (Err(f), false) => problems.push(format!("{name} should be valid but has {f:?}")),
            (Ok(_), true) => problems.push(format!("{name} should have errors but has none")),
            (Err(_), true) => {
                for file in RENDERED {
                    if case.join(file).exists() {
                        problems.push(format!("{name}/{file} exists but the case cannot render"));
                    }
                }
            }
        }
    }
    check_file(
        &root().join("docs/rules.md"),
        &rules_markdown(),
        &mut problems,
    );
    let mut schema =
        serde_json::to_string_pretty(&lockstep_shared::model::json_schema()).expect("schema");
    schema.push('\n');
    check_file(
        &root().join("docs/document.schema.json"),
        &schema,
        &mut problems,
    );
    assert!(
        problems.is_empty(),
        "golden files are stale (UPDATE_GOLDEN=1 regenerates them):\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_rule_group_has_a_broken_case() {
    let dir = root().join("test-data");
    for group in [
        "graph-ids",
        "primary",
        "secondary",
        "both-sides",
        "network",
        "unsafe-values",
        "document",
    ] {
        assert!(
            dir.join(format!("broken-{group}"))
                .join("input.json")
                .is_file(),
            "no broken case for {group}"
        );
    }
}

#[test]
fn every_validator_code_fires_somewhere_in_the_corpus() {
    // A rule that silently stops firing breaks this test.
    let mut all = String::new();
    for case in cases() {
        let text = std::fs::read_to_string(case.join("input.json")).expect("read input");
        let doc = Document::from_json(&text).expect("input parses");
        all.push_str(&findings_text(&doc));
    }
    let missing: Vec<&str> = validate::RULES
        .iter()
        .filter(|r| r.coverage == validate::Coverage::Validator)
        .filter(|r| !all.contains(&format!("{} ", r.code)))
        .map(|r| r.code)
        .collect();
    assert!(
        missing.is_empty(),
        "codes no corpus case exercises: {missing:?}"
    );
}

#[test]
fn every_code_in_the_source_is_in_the_rules_table() {
    let dir = root().join("shared/src/validate");
    let mut unknown = Vec::new();
    for e in std::fs::read_dir(dir).expect("validate dir").flatten() {
        let src = std::fs::read_to_string(e.path()).unwrap_or_default();
        if e.path().ends_with("rules.rs") {
            continue;
        }
        for (i, _) in src.match_indices("\"E0").chain(src.match_indices("\"W0")) {
            let code = &src[i + 1..i + 5];
            if !validate::RULES.iter().any(|r| r.code == code) {
                unknown.push(code.to_owned());
            }
        }
    }
    assert!(unknown.is_empty(), "codes missing from RULES: {unknown:?}");
}

#[test]
fn every_cited_source_is_listed() {
    let mut missing = Vec::new();
    for r in validate::RULES {
        for id in validate::cited_sources(r.source) {
            if !validate::SOURCES.iter().any(|(s, _)| *s == id) {
                missing.push(format!("{} cites {id}", r.code));
            }
        }
    }
    assert!(missing.is_empty(), "sources not in SOURCES: {missing:?}");
    let md = rules_markdown();
    assert!(
        !md.contains(".md"),
        "docs/rules.md points readers at a document they do not have"
    );
}
