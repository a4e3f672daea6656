//! Every QMP command of every plan and runbook in the golden corpus, and every `-blockdev` and
//! `-object` of the rendered command lines, checked against `query-qmp-schema` of the real
//! QEMU installed here (7.2 on Debian 12).

use lockstep_tests::schema::Schema;
use lockstep_tests::{have_program, skip, workspace_root, TempDir};
use serde_json::Value;

fn valid_cases() -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(workspace_root().join("test-data"))
        .expect("test-data")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("plan.json").is_file())
        .collect();
    v.sort();
    v
}

fn load_schema(test: &str) -> Option<(Schema, TempDir)> {
    if !have_program("qemu-system-x86_64") {
        skip(test, "qemu", "qemu-system-x86_64 is not installed");
        return None;
    }
    let tmp = TempDir::new("schema");
    let s = Schema::from_qemu(tmp.path()).expect("read the QMP schema from QEMU");
    Some((s, tmp))
}

fn all_steps(plan: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for p in plan["phases"].as_array().into_iter().flatten() {
        out.extend(p["steps"].as_array().cloned().unwrap_or_default());
    }
    for r in plan["runbooks"].as_array().into_iter().flatten() {
        out.extend(r["steps"].as_array().cloned().unwrap_or_default());
    }
    out
}

#[test]
fn plans_use_only_commands_and_arguments_of_the_real_schema() {
    let Some((schema, _tmp)) =
        load_schema("qmp_schema::plans_use_only_commands_and_arguments_of_the_real_schema")
    else {
        return;
    };
    eprintln!("QEMU {}", schema.version["qemu"]);
    assert_eq!(
        schema.version["qemu"]["major"], 7,
        "the suite targets QEMU 7.2"
    );
    let mut problems = Vec::new();
    let mut checked = 0;
    for case in valid_cases() {
        let plan: Value =
            serde_json::from_str(&std::fs::read_to_string(case.join("plan.json")).expect("plan"))
                .expect("plan is JSON");
        for step in all_steps(&plan) {
            if let Some(cmd) = step.get("command") {
                checked += 1;
                for e in schema.check_command(cmd) {
                    problems.push(format!("{}: step {}: {e}", case.display(), step["n"]));
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} commands checked");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn command_line_blockdevs_and_objects_match_the_real_schema() {
    let Some((schema, _tmp)) =
        load_schema("qmp_schema::command_line_blockdevs_and_objects_match_the_real_schema")
    else {
        return;
    };
    let blockdev = schema
        .arg_type("blockdev-add")
        .expect("blockdev-add")
        .to_owned();
    let object = schema
        .arg_type("object-add")
        .expect("object-add")
        .to_owned();
    let mut problems = Vec::new();
    let mut checked = 0;
    for case in valid_cases() {
        for side in ["primary", "secondary"] {
            let doc: lockstep_shared::Document = lockstep_shared::Document::from_json(
                &std::fs::read_to_string(case.join("input.json")).expect("input"),
            )
            .expect("input parses");
            let v = lockstep_shared::render::Validated::new(doc).expect("valid");
            let side_enum = if side == "primary" {
                lockstep_shared::model::Side::Primary
            } else {
                lockstep_shared::model::Side::Secondary
            };
            for b in lockstep_shared::render::qemu::startup_blockdevs(&v, side_enum) {
                checked += 1;
                let json = serde_json::to_value(&b).expect("json");
                for e in schema.check_type(&json, &blockdev, "-blockdev") {
                    problems.push(format!("{} {side}: {e}", case.display()));
                }
            }
            for nic in &v.doc().nics {
                let (_, objects) = lockstep_shared::render::qemu::proxy(&v, nic, side_enum);
                for o in objects {
                    checked += 1;
                    let json = serde_json::to_value(&o).expect("json");
                    for e in schema.check_type(&json, &object, "-object") {
                        problems.push(format!("{} {side}: {e}", case.display()));
                    }
                }
            }
        }
    }
    assert!(checked > 40, "only {checked} checked");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checker_rejects_what_qemu_would_reject() {
    let Some((schema, _tmp)) =
        load_schema("qmp_schema::the_checker_rejects_what_qemu_would_reject")
    else {
        return;
    };
    let bad = [
        serde_json::json!({"execute": "no-such-command"}),
        serde_json::json!({"execute": "x-blockdev-change", "arguments": {"parent": "q", "nod": "r"}}),
        serde_json::json!({"execute": "migrate-set-capabilities", "arguments": {"capabilities": [{"capability": "x-cool", "state": true}]}}),
        serde_json::json!({"execute": "blockdev-add", "arguments": {"driver": "replication", "node-name": "r", "mode": "primary"}}),
        serde_json::json!({"execute": "nbd-server-add", "arguments": {"device": "d", "writable": true}}),
        serde_json::json!({"execute": "migrate-set-parameters", "arguments": {"x-checkpoint-delay": "2000"}}),
    ];
    for b in bad {
        assert!(!schema.check_command(&b).is_empty(), "accepted {b}");
    }
    let good = serde_json::json!({"execute": "x-blockdev-change", "arguments": {"parent": "q", "node": "r"}});
    assert_eq!(schema.check_command(&good), Vec::<String>::new());
}
