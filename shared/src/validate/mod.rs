//! Validation: every rule of `colo-reference.md` §5 that one document can decide, plus the
//! rules that keep rendering safe.
//!
//! One function per rule, each pushing [`Finding`]s with a stable code (`E…` blocks deploying,
//! `W…` does not), the ids involved, a message quoting the offending values and a fix hint.
//! A broken document is normal input: [`validate`] never panics and never stops at the first
//! problem. Findings come out sorted, so the browser and the server print the same list.

pub mod cross;
mod graph_rules;
pub use graph_rules::{allowed_edge_kinds, edge_allowed};
pub mod hosts;
mod network;
mod pair;
mod primary;
mod rules;
mod safety;
mod secondary;

pub use rules::{cited_sources, rules_markdown, Coverage, RuleInfo, RULES, SOURCES};

use crate::model::{Document, Graph};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in a document.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    /// Stable code, e.g. `E017`; documented in `docs/rules.md`.
    pub code: String,
    pub severity: Severity,
    /// Ids of the nodes, edges or NICs involved (or a field path such as `colo.nbd_port`).
    pub subjects: Vec<String>,
    /// What is wrong, quoting the offending values.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

impl Finding {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{} {}: {}", self.code, sev, self.message)?;
        if !self.subjects.is_empty() {
            write!(f, " [{}]", self.subjects.join(", "))?;
        }
        write!(f, "\n  hint: {}", self.hint)
    }
}

/// Collects findings; every rule function receives one.
pub(crate) struct Report {
    findings: Vec<Finding>,
}

/// Longest message and subject of a finding, in bytes. Messages quote the offending values;
/// a 70,000-character host name quoted in every finding (and in every cross-configuration
/// finding of every configuration on that host) would make answers grow without bound.
pub const MAX_FINDING_TEXT: usize = 1024;

/// `text` cut to at most [`MAX_FINDING_TEXT`] bytes: its start and its end, with what was left
/// out said in the middle.
fn bounded(text: String) -> String {
    if text.len() <= MAX_FINDING_TEXT {
        return text;
    }
    let cut = |at: usize, forward: bool| {
        let mut i = at;
        while !text.is_char_boundary(i) {
            if forward {
                i += 1;
            } else {
                i -= 1;
            }
        }
        i
    };
    let head = cut(MAX_FINDING_TEXT * 3 / 4, false);
    let tail = cut(text.len() - MAX_FINDING_TEXT / 5, true);
    format!(
        "{}… ({} bytes left out) …{}",
        &text[..head],
        tail - head,
        &text[tail..]
    )
}

impl Report {
    fn push(&mut self, code: &str, subjects: &[&str], message: String, hint: &str) {
        let severity = if code.starts_with('W') {
            Severity::Warning
        } else {
            Severity::Error
        };
        self.findings.push(Finding {
            code: code.to_owned(),
            severity,
            subjects: subjects.iter().map(|s| bounded((*s).to_owned())).collect(),
            message: bounded(message),
            hint: hint.to_owned(),
        });
    }
}

/// Every finding for `doc`, errors first, then by code, subjects and message.
pub fn validate(doc: &Document) -> Vec<Finding> {
    let g = Graph::new(doc);
    let mut r = Report {
        findings: Vec::new(),
    };
    safety::check(doc, &mut r);
    graph_rules::check(&g, &mut r);
    primary::check(&g, &mut r);
    secondary::check(&g, &mut r);
    pair::check(&g, &mut r);
    network::check(doc, &mut r);
    let mut f = r.findings;
    sort_findings(&mut f);
    f
}

/// The one order of findings everywhere (errors first, then code, subjects, message), without
/// repeats: single-document, cross-configuration and merged lists all use it.
pub fn sort_findings(f: &mut Vec<Finding>) {
    f.sort_by(|a, b| {
        (a.severity, &a.code, &a.subjects, &a.message).cmp(&(
            b.severity,
            &b.code,
            &b.subjects,
            &b.message,
        ))
    });
    f.dedup();
}

/// Whether any finding is an error.
pub fn has_errors(findings: &[Finding]) -> bool {
    findings.iter().any(Finding::is_error)
}

/// Human-readable byte count: `64 MiB (67108864 bytes)`.
pub(crate) fn fmt_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ];
    for (name, unit) in UNITS {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{} {name} ({bytes} bytes)", bytes / unit);
        }
    }
    format!("{bytes} bytes")
}
