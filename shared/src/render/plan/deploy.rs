//! The deploy phases in order: check both hosts, prepare storage, start and prepare the
//! secondary, start the primary paused, copy the disks, attach the replication legs, start
//! COLO, wait until protected.

use super::steps::*;
use super::{HostOp, Phase, PhaseName};
use crate::model::{InitialSync, Side};
use crate::render::qmp::QmpCommand;
use crate::render::Validated;
use serde_json::json;

pub(super) fn deploy_phases(v: &Validated) -> Vec<Phase> {
    let mut s = Steps::new(v);
    let mut n = 1;
    let mut phases = Vec::new();
    let mut phase = |s: &mut Steps, name, title, f: &dyn Fn(&mut Steps)| {
        s.phase = name;
        f(s);
        phases.push(Phase {
            name,
            title,
            steps: s.take(&mut n),
        });
    };
    phase(&mut s, PhaseName::Preflight, "Check both hosts", &|s| {
        for side in [Side::Primary, Side::Secondary] {
            s.host(
                side,
                HostOp::Kvm,
                "COLO checkpoints need KVM; under TCG, QEMU 7.2 deadlocks in the first checkpoint",
            );
        }
        let v = s.v;
        for d in v.disks() {
            image_info(s, Side::Primary, &d.p_local);
            image_info(s, Side::Secondary, &d.s_disk);
        }
    });
    phase(
        &mut s,
        PhaseName::PrepareStorage,
        "Create directories and empty overlays",
        &|s| {
            for side in [Side::Primary, Side::Secondary] {
                let dir = match side {
                    Side::Primary => s.v.doc().hosts.primary.run_dir.clone(),
                    Side::Secondary => s.v.doc().hosts.secondary.run_dir.clone(),
                };
                s.host(
                    side,
                    HostOp::Directory { path: dir },
                    "directory for the QMP and proxy sockets",
                );
            }
            prepare_overlays(s);
        },
    );
    phase(
        &mut s,
        PhaseName::StartSecondary,
        "Start the secondary, waiting for the migration",
        &|s| {
            s.launch(Side::Secondary, "start the secondary with -incoming defer and the whole replication chain (rule 26)");
            check_colo_support(s, Side::Secondary);
            s.qmp_expect(
                Side::Secondary,
                QmpCommand::QueryStatus,
                eq("/status", json!("inmigrate")),
                "the secondary waits for an incoming migration",
            );
        },
    );
    phase(
        &mut s,
        PhaseName::PrepareSecondary,
        "Export the secondary disks and listen",
        &prepare_secondary,
    );
    phase(
        &mut s,
        PhaseName::StartPrimary,
        "Start the primary, paused",
        &|s| {
            s.launch(
                Side::Primary,
                "start the primary paused: COLO starts its guest at the first checkpoint",
            );
            check_colo_support(s, Side::Primary);
            s.qmp_expect(
                Side::Primary,
                QmpCommand::QueryStatus,
                eq("/status", json!("prelaunch")),
                "the guest has not run yet",
            );
        },
    );
    phase(
        &mut s,
        PhaseName::InitialSync,
        "Copy the primary disks to the secondary",
        &|s| match s.v.doc().colo.initial_sync {
            InitialSync::Mirror => mirror_to_secondary(s, false),
            InitialSync::AssumeIdentical => {}
        },
    );
    phase(
        &mut s,
        PhaseName::ConnectReplication,
        "Attach the replication legs",
        &connect_replication,
    );
    phase(&mut s, PhaseName::StartColo, "Start COLO", &start_colo);
    phase(
        &mut s,
        PhaseName::WaitProtected,
        "Wait until protected",
        &wait_protected,
    );
    phases
}
