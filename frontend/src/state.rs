//! Pure page state: what the page shows for a given document text.

use lockstep_shared::model::{HostRef, ImageFormat};
use lockstep_shared::render::plan::{Action, Step};
use lockstep_shared::render::{render_all, Artifacts, Validated};
use lockstep_shared::validate::{validate, Finding};
use lockstep_shared::wizard::{standard_pair, DiskSpec, WizardInput};
use lockstep_shared::Document;

/// What the page shows for one document text.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// The parser's complaint, with line and column, when the text is not a document.
    pub parse_error: Option<String>,
    pub findings: Vec<Finding>,
    /// Present when the document has no errors.
    pub artifacts: Option<Artifacts>,
}

impl Analysis {
    pub fn errors(&self) -> usize {
        self.findings.iter().filter(|f| f.is_error()).count()
    }

    pub fn warnings(&self) -> usize {
        self.findings.len() - self.errors()
    }

    /// "Deployable", or why not: the status line above the findings.
    pub fn status(&self) -> String {
        if let Some(e) = &self.parse_error {
            return format!("Not a document: {e}");
        }
        match (self.errors(), self.warnings()) {
            (0, 0) => "Valid: no findings".to_owned(),
            (0, w) => format!("Valid with {w} warning(s)"),
            (e, w) => format!("Not deployable: {e} error(s), {w} warning(s)"),
        }
    }
}

pub fn analyze(text: &str) -> Analysis {
    match Document::from_json(text) {
        Err(e) => Analysis {
            parse_error: Some(e.to_string()),
            findings: Vec::new(),
            artifacts: None,
        },
        Ok(doc) => {
            let findings = validate(&doc);
            let artifacts = Validated::new(doc).ok().map(|v| render_all(&v));
            Analysis {
                parse_error: None,
                findings,
                artifacts,
            }
        }
    }
}

/// What one plan step does, as one line a person reads (the command to send or run).
pub fn step_text(step: &Step) -> String {
    match &step.action {
        Action::Host { argv, .. } => format!("run: {}", argv.join(" ")),
        Action::Launch { paused, .. } => {
            format!("start the domain{}", if *paused { " paused" } else { "" })
        }
        Action::Qmp { command, .. } => lockstep_shared::json::compact(command),
        Action::Wait {
            command,
            timeout_ms,
            interval_ms,
            ..
        } => format!(
            "repeat {} every {interval_ms} ms until it holds (at most {} s)",
            lockstep_shared::json::compact(command),
            timeout_ms / 1000
        ),
    }
}

/// The document the page starts with: the wizard's 1-disk pair.
pub fn starter_document() -> String {
    let host = |name: &str, address: &str| HostRef {
        name: name.to_owned(),
        address: address.to_owned(),
        run_dir: "/run/lockstep".to_owned(),
    };
    let mut input = WizardInput::new(
        "vm1",
        "3f1c2a9e-6b1d-4c2e-9a57-0d7c1e5b8f21",
        host("colo-a", "10.0.0.1"),
        host("colo-b", "10.0.0.2"),
    );
    input.disks = vec![DiskSpec {
        path: "/var/lib/colo/vm1.qcow2".to_owned(),
        secondary_path: None,
        size_bytes: 10 << 30,
        format: ImageFormat::Qcow2,
        storage: None,
        secondary_storage: None,
    }];
    standard_pair(&input).to_json_pretty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starter_document_is_valid_and_renders() {
        let a = analyze(&starter_document());
        assert_eq!(a.status(), "Valid: no findings");
        assert!(a.artifacts.is_some());
    }

    #[test]
    fn broken_text_says_where() {
        let a = analyze("{\n  \"schema_version\": 1,\n");
        assert!(
            a.status().starts_with("Not a document: line 3, column 0"),
            "{}",
            a.status()
        );
    }

    #[test]
    fn plan_steps_read_as_commands() {
        let doc = Document::from_json(&starter_document()).expect("doc");
        let v = Validated::new(doc).expect("valid");
        let plan = lockstep_shared::render::plan::build(&v);
        let lines: Vec<String> = plan
            .phases
            .iter()
            .flat_map(|p| &p.steps)
            .map(step_text)
            .collect();
        assert!(
            lines.iter().any(|l| l.starts_with("run: qemu-img")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("\"execute\":\"migrate-set-capabilities\"")),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("start the domain")),
            "{lines:?}"
        );
    }

    #[test]
    fn errors_block_rendering() {
        let text = starter_document().replace("\"machine\": \"pc\"", "\"machine\": \"q35\"");
        let a = analyze(&text);
        assert_eq!(a.status(), "Not deployable: 1 error(s), 0 warning(s)");
        assert!(a.artifacts.is_none());
        assert_eq!(a.findings[0].code, "E023");
    }
}
