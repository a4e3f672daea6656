//! What the deploy screen shows, as plain data: each phase of the plan with how many of its
//! steps the deployment has run, and whether one failed. Tested natively.

use lockstep_shared::api::DeploymentStep;
use lockstep_shared::render::plan::Plan;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseProgress {
    pub name: String,
    pub title: String,
    pub done: usize,
    pub total: usize,
    pub failed: bool,
}

impl PhaseProgress {
    /// "3 of 7 steps", "done", or "failed".
    pub fn label(&self) -> String {
        if self.failed {
            "failed".to_owned()
        } else if self.done >= self.total {
            "done".to_owned()
        } else {
            format!("{} of {} steps", self.done, self.total)
        }
    }
}

/// The deploy phases of `plan` with the progress the recorded `steps` (of the `deploy` run)
/// show.
pub fn progress(plan: &Plan, steps: &[DeploymentStep]) -> Vec<PhaseProgress> {
    plan.phases
        .iter()
        .map(|p| {
            let mine: Vec<&DeploymentStep> = steps
                .iter()
                .filter(|s| s.run == "deploy" && s.phase == p.name.as_str())
                .collect();
            PhaseProgress {
                name: p.name.as_str().to_owned(),
                title: p.title.to_owned(),
                done: mine.iter().filter(|s| s.error.is_none()).count(),
                total: p.steps.len(),
                failed: mine.iter().any(|s| s.error.is_some()),
            }
        })
        .collect()
}

/// What an action will do, for its confirmation dialog.
pub fn consequence(action: &str, force: bool, active_side: Option<&str>) -> String {
    match action {
        "failover-to-secondary" => format!(
            "The secondary takes over the guest: it stops receiving the primary's writes, commits \
             its overlays into its disk and runs alone. Do this only when the primary is gone{}.",
            if force {
                " — forced: make sure the primary is fenced, or two copies of the guest will run"
            } else {
                " (Lockstep refuses while it still answers)"
            }
        ),
        "failover-to-primary" => format!(
            "The primary drops its replication to the secondary and runs alone, unprotected. Do \
             this only when the secondary is gone{}.",
            if force {
                " — forced: the secondary must be fenced"
            } else {
                " (Lockstep refuses while it still answers)"
            }
        ),
        "reprotect" if active_side == Some("secondary") => {
            "The roles swap: the secondary, which runs the guest now, becomes the primary, and a \
             fresh secondary is built on the primary's host (new overlays, its domain started). \
             Every block is copied to it again (the guest pauses for the last moment), and COLO \
             starts. The roles stay swapped until the next failover and re-protect."
                .to_owned()
        }
        "reprotect" => "A fresh secondary is built on the secondary's host (new overlays, its \
                        domain started), every block of the primary's disks is copied to it \
                        again (the guest pauses for the last moment), and COLO starts."
            .to_owned(),
        "teardown" => "Both guests are stopped at once and their domains removed; the secondary's \
                       overlays are deleted. The disk images stay."
            .to_owned(),
        other => format!("Run {other}?"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lockstep_shared::render::{plan, Validated};

    fn step(seq: i32, phase: &str, error: Option<&str>) -> DeploymentStep {
        DeploymentStep {
            seq,
            run: "deploy".to_owned(),
            n: seq,
            phase: phase.to_owned(),
            side: "primary".to_owned(),
            host: "qemu:///system".to_owned(),
            command: "check KVM".to_owned(),
            reply: String::new(),
            micros: 1000,
            error: error.map(str::to_owned),
            skipped: false,
            at: Default::default(),
        }
    }

    #[test]
    fn phases_count_their_steps_and_show_a_failure() {
        let text = include_str!("../../test-data/one-disk-raw/input.json");
        let doc = lockstep_shared::Document::from_json(text).expect("corpus document");
        let v = Validated::new(doc).expect("valid");
        let p = plan::build(&v);
        let first = &p.phases[0];
        let steps = vec![
            step(1, first.name.as_str(), None),
            step(2, first.name.as_str(), None),
        ];
        let got = progress(&p, &steps);
        assert_eq!(got.len(), p.phases.len());
        assert_eq!(got[0].done, 2);
        assert_eq!(got[0].total, first.steps.len());
        assert!(!got[0].failed);
        assert_eq!(got[1].done, 0);
        let failed = vec![step(1, first.name.as_str(), Some("no image"))];
        assert!(progress(&p, &failed)[0].failed);
        assert_eq!(progress(&p, &failed)[0].label(), "failed");
        assert!(consequence("failover-to-secondary", true, None).contains("fenced"));
        assert!(consequence("reprotect", false, Some("secondary")).contains("roles swap"));
        assert!(!consequence("reprotect", false, Some("primary")).contains("roles swap"));
    }
}
