//! Templates: the built-ins instantiate to the wizard's documents; bad templates and bad
//! values are reported completely, with stable codes; save-as-template round-trips.

use lockstep_shared::model::{Document, HostRef};
use lockstep_shared::template::{self, Binding, Constraints, ParamType, Parameter, Template};
use lockstep_shared::validate::validate;
use lockstep_shared::wizard::{self, DiskSpec, WizardInput};
use serde_json::{json, Map, Value};

const UUID: &str = "3f1c2a9e-6b1d-4c2e-9a57-0d7c1e5b8f21";

fn values(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn codes(f: &[lockstep_shared::validate::Finding]) -> Vec<String> {
    f.iter()
        .map(|x| format!("{} {}", x.code, x.subjects.join(",")))
        .collect()
}

#[test]
fn builtins_are_clean_and_instantiate_to_the_wizards_documents() {
    let b = template::builtins();
    assert_eq!(b.len(), 3);
    for t in &b {
        assert!(
            template::check(&t.template).is_empty(),
            "{}: {:?}",
            t.name,
            template::check(&t.template)
        );
        // Defaults plus the generated values give a document without findings.
        let gen: Vec<&str> = template::to_generate(&t.template, &Map::new())
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        let mut v = values(json!({"uuid": UUID}));
        if gen.contains(&"mac") {
            v.insert("mac".into(), json!("52:54:00:aa:bb:cc"));
        }
        assert!(gen.iter().all(|g| v.contains_key(*g)), "{gen:?}");
        let doc = template::instantiate(&t.template, &v).expect("instantiate");
        let doc: Document = serde_json::from_value(doc).expect("a document");
        assert!(
            validate(&doc).is_empty(),
            "{}: {:?}",
            t.name,
            validate(&doc)
        );
    }
    // The 2-disk built-in with site values is exactly what the wizard draws for them.
    let v = values(json!({
        "name": "db1", "uuid": UUID, "memory_mib": 4096, "vcpus": 2,
        "primary_host": "colo-a", "primary_address": "10.0.0.1",
        "secondary_host": "colo-b", "secondary_address": "10.0.0.2",
        "disk0_path": "/var/lib/colo/db1-a.qcow2", "disk0_size": "20G", "disk0_format": "qcow2",
        "disk1_path": "/var/lib/colo/db1-b.img", "disk1_size": 1073741824, "disk1_format": "raw",
        "migration_port": 9100, "nbd_port": 9101
    }));
    let got: Document =
        serde_json::from_value(template::instantiate(&b[1].template, &v).expect("ok"))
            .expect("doc");
    let host = |n: &str, a: &str| HostRef {
        name: n.into(),
        address: a.into(),
        run_dir: "/run/lockstep".into(),
    };
    let mut w = WizardInput::new(
        "db1",
        UUID,
        host("colo-a", "10.0.0.1"),
        host("colo-b", "10.0.0.2"),
    );
    w.memory_mib = 4096;
    w.vcpus = 2;
    w.base_port = 9100;
    w.disks = vec![
        DiskSpec {
            path: "/var/lib/colo/db1-a.qcow2".into(),
            secondary_path: None,
            size_bytes: 20 << 30,
            format: lockstep_shared::model::ImageFormat::Qcow2,
            storage: None,
            secondary_storage: None,
        },
        DiskSpec {
            path: "/var/lib/colo/db1-b.img".into(),
            secondary_path: None,
            size_bytes: 1 << 30,
            format: lockstep_shared::model::ImageFormat::Raw,
            storage: None,
            secondary_storage: None,
        },
    ];
    assert_eq!(got, wizard::standard_pair(&w));
}

#[test]
fn every_bad_value_is_reported_at_once() {
    let t = &template::builtins()[2].template;
    let err = template::instantiate(
        t,
        &values(json!({
            "uuid": "not-a-uuid",
            "memory_mib": "lots",
            "vcpus": 0,
            "disk0_format": "vmdk",
            "disk0_size": "12Q",
            "name": "bad name!",
            "colour": "blue"
        })),
    )
    .expect_err("bad values");
    let c = codes(&err);
    for want in [
        "T008 values.mac",
        "T009 values.uuid",
        "T009 values.memory_mib",
        "T009 values.vcpus",
        "T009 values.disk0_format",
        "T009 values.disk0_size",
        "T009 values.name",
        "T010 values.colour",
    ] {
        assert!(c.iter().any(|x| x == want), "{want} missing from {c:?}");
    }
    let msg = |s: &str| {
        err.iter()
            .find(|f| f.subjects[0] == s)
            .map(|f| f.message.clone())
            .unwrap_or_default()
    };
    assert!(
        msg("values.vcpus").contains("below the minimum 1"),
        "{}",
        msg("values.vcpus")
    );
    assert!(msg("values.disk0_format").contains("not one of \"qcow2\", \"raw\""));
    assert!(msg("values.name").contains("does not match the pattern"));
}

#[test]
fn bad_templates_are_reported_with_codes() {
    let p = |name: &str, kind, default: Option<Value>, constraints| Parameter {
        name: name.into(),
        kind,
        description: String::new(),
        default,
        constraints,
    };
    let t = Template {
        parameters: vec![
            p("1st", ParamType::String, None, Constraints::default()),
            p(
                "port",
                ParamType::Integer,
                Some(json!(80)),
                Constraints {
                    min: Some(1024),
                    ..Default::default()
                },
            ),
            p("port", ParamType::Integer, None, Constraints::default()),
            p(
                "flag",
                ParamType::Boolean,
                None,
                Constraints {
                    pattern: Some("x".into()),
                    ..Default::default()
                },
            ),
            p(
                "range",
                ParamType::Integer,
                None,
                Constraints {
                    min: Some(5),
                    max: Some(1),
                    ..Default::default()
                },
            ),
            p(
                "re",
                ParamType::String,
                None,
                Constraints {
                    pattern: Some("(".into()),
                    ..Default::default()
                },
            ),
            p(
                "unused",
                ParamType::String,
                Some(json!("x")),
                Constraints::default(),
            ),
        ],
        body: json!({"a": "${port}", "b": "${nope}", "c": "${open", "d": ["${1st}${flag}${range}${re}"]}),
    };
    let c = codes(&template::check(&t));
    for want in [
        "T002 parameters.1st",
        "T003 parameters.port",
        "T004 parameters.flag",
        "T004 parameters.range",
        "T004 parameters.re",
        "T005 parameters.port",
        "T006 body/b",
        "T006 body/c",
        "W007 parameters.unused",
    ] {
        assert!(c.iter().any(|x| x == want), "{want} missing from {c:?}");
    }
    let not_object = Template {
        parameters: vec![],
        body: json!([1]),
    };
    assert_eq!(codes(&template::check(&not_object)), vec!["T001 body"]);
}

#[test]
fn placeholders_fill_typed_values_and_literals_stay() {
    let t = Template {
        parameters: vec![
            Parameter {
                name: "port".into(),
                kind: ParamType::Integer,
                description: String::new(),
                default: Some(json!(9000)),
                constraints: Constraints::default(),
            },
            Parameter {
                name: "host".into(),
                kind: ParamType::String,
                description: String::new(),
                default: None,
                constraints: Constraints::default(),
            },
        ],
        body: json!({"port": "${port}", "url": "tcp:${host}:${port}", "lit": "cost $${port} and $5"}),
    };
    let v = template::instantiate(&t, &values(json!({"host": "10.0.0.2"}))).expect("ok");
    assert_eq!(
        v,
        json!({"port": 9000, "url": "tcp:10.0.0.2:9000", "lit": "cost ${port} and $5"})
    );
}

#[test]
fn a_configuration_becomes_a_template_and_back() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../test-data/one-disk-qcow2/input.json"
    ))
    .expect("corpus");
    let mut doc: Value = serde_json::from_str(&text).expect("json");
    doc["guest"]["name"] = json!("vm${1}"); // a literal `${` in a document stays literal
    let b = |pointer: &str, name: &str, kind| Binding {
        pointer: pointer.into(),
        name: name.into(),
        kind,
        description: String::new(),
        default: None,
        constraints: Constraints::default(),
    };
    let t = template::from_document(
        &doc,
        &[
            b("/colo/migration_port", "port", ParamType::Integer),
            b("/hosts/secondary/address", "secondary", ParamType::String),
        ],
    )
    .expect("template");
    assert!(template::check(&t).is_empty(), "{:?}", template::check(&t));
    assert_eq!(t.body["colo"]["migration_port"], "${port}");
    assert_eq!(
        t.parameters[0].default,
        Some(doc["colo"]["migration_port"].clone())
    );
    // With the defaults: the same document.
    assert_eq!(template::instantiate(&t, &Map::new()).expect("ok"), doc);
    // With values: those values, typed.
    let v = template::instantiate(&t, &values(json!({"port": 9500, "secondary": "10.1.1.1"})))
        .expect("ok");
    assert_eq!(v["colo"]["migration_port"], 9500);
    assert_eq!(v["hosts"]["secondary"]["address"], "10.1.1.1");
    // A pointer to nothing is named.
    let err = template::from_document(
        &doc,
        &[
            b("/guest/nope", "x", ParamType::String),
            b("/nodes", "y", ParamType::String),
        ],
    )
    .expect_err("bad");
    assert_eq!(codes(&err), vec!["T011 parameters.x", "T011 parameters.y"]);
}

#[test]
fn every_template_code_is_documented() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let doc = std::fs::read_to_string(format!("{root}/docs/templates.md")).expect("docs");
    let mut seen = 0;
    for src in [
        "shared/src/template/mod.rs",
        "shared/src/template/builtins.rs",
        "backend/src/http/templates.rs",
    ] {
        let text = std::fs::read_to_string(format!("{root}/{src}")).expect("source");
        for (i, _) in text.match_indices('"') {
            let code = &text[i + 1..];
            let code = &code[..code.find('"').unwrap_or(0)];
            let is_code = code.len() == 4
                && (code.starts_with('T') || code.starts_with('W'))
                && code[1..].chars().all(|c| c.is_ascii_digit());
            if is_code {
                seen += 1;
                assert!(
                    doc.contains(&format!("| {code} |")),
                    "{code} (in {src}) is not in docs/templates.md"
                );
            }
        }
    }
    assert!(seen >= 12, "only {seen} codes found");
}

mod arbitrary {
    use super::*;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        // Strings rich in `$`, `{` and `}`, and the names of the parameters below.
        proptest::collection::vec(
            prop_oneof![
                Just("$".to_owned()),
                Just("${".to_owned()),
                Just("$${".to_owned()),
                Just("}".to_owned()),
                Just("${a}".to_owned()),
                Just("${b}".to_owned()),
                "[a-z ]{0,4}",
            ],
            0..8,
        )
        .prop_map(|v| v.concat())
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<i64>().prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
            text().prop_map(Value::from),
            Just(Value::Null),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

        /// Checking and instantiating never panic, and an instantiation that succeeds leaves
        /// no placeholder of a declared parameter behind.
        #[test]
        fn templates_never_panic(
            strings in proptest::collection::vec(text(), 0..6),
            a in value(),
            b in value(),
            kind in prop_oneof![Just(ParamType::String), Just(ParamType::Integer), Just(ParamType::Size)],
        ) {
            let body = json!({"s": strings});
            let t = Template {
                parameters: vec![
                    Parameter { name: "a".into(), kind, description: String::new(), default: None, constraints: Constraints::default() },
                    Parameter { name: "b".into(), kind: ParamType::String, description: String::new(), default: Some(json!("x")), constraints: Constraints::default() },
                ],
                body,
            };
            let _ = template::check(&t);
            // Values are inserted as they are (never expanded again); `$${a}` is a literal.
            let literal = strings.iter().any(|x| x.contains("$${a}"))
                || a.to_string().contains("${a}")
                || b.to_string().contains("${a}");
            if let Ok(v) = template::instantiate(&t, &values(json!({"a": a, "b": b}))) {
                for s in v["s"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                    prop_assert!(literal || !s.contains("${a}"), "{s:?}");
                }
            }
        }
    }
}

fn string_param(name: &str, default: Value, pattern: Option<&str>) -> Parameter {
    Parameter {
        name: name.into(),
        kind: ParamType::String,
        description: String::new(),
        default: Some(default),
        constraints: Constraints {
            pattern: pattern.map(str::to_owned),
            ..Constraints::default()
        },
    }
}

#[test]
fn an_expansion_bomb_is_refused_before_anything_is_expanded() {
    // The hostile walk's case: an 8 KiB default, placed 8,192 times in one string (192 MiB).
    let t = Template {
        parameters: vec![string_param("a", json!("x".repeat(8192)), None)],
        body: json!({"guest": {"name": "${a}".repeat(8192)}}),
    };
    let started = std::time::Instant::now();
    let f = template::instantiate(&t, &Map::new()).expect_err("refused");
    assert_eq!(codes(&f), vec!["T013 body"], "{f:?}");
    assert!(f[0].message.contains("KiB"), "{}", f[0].message);
    // Not a timing assertion on the machine: a refusal that expanded 192 MiB first would
    // take seconds; this one reads the 40 KiB body once.
    eprintln!("refused in {:?}", started.elapsed());
    // Within the limit, the same template expands.
    let small = Template {
        parameters: vec![string_param("a", json!("x".repeat(64)), None)],
        body: json!({"guest": {"name": "${a}".repeat(64)}}),
    };
    let doc = template::instantiate(&small, &Map::new()).expect("expands");
    assert_eq!(doc["guest"]["name"].as_str().map(str::len), Some(64 * 64));
}

#[test]
fn costly_patterns_and_overlong_pattern_inputs_are_refused() {
    let bomb = string_param("a", json!("a".repeat(1000)), Some("(?:a{1,300}){1,300}"));
    let t = Template {
        parameters: vec![bomb],
        body: json!({"guest": {"name": "${a}"}}),
    };
    let f = template::check(&t);
    let t004: Vec<_> = f.iter().filter(|x| x.code == "T004").collect();
    assert_eq!(t004.len(), 1, "{f:?}");
    assert!(t004[0].message.contains("8 KiB"), "{}", t004[0].message);

    let long_input = string_param("b", json!("a".repeat(5000)), Some("a*"));
    let t = Template {
        parameters: vec![long_input],
        body: json!({"guest": {"name": "${b}"}}),
    };
    let f = template::check(&t);
    assert!(
        f.iter()
            .any(|x| x.code == "T005" && x.message.contains("at most 1024")),
        "{f:?}"
    );
    let long_pattern = string_param("c", json!("a"), Some(&"a".repeat(300)));
    let t = Template {
        parameters: vec![long_pattern],
        body: json!({"guest": {"name": "${c}"}}),
    };
    assert!(template::check(&t)
        .iter()
        .any(|x| x.code == "T004" && x.message.contains("at most 256")));
}

#[test]
fn too_many_parameters_are_refused_without_checking_each() {
    let parameters = (0..300)
        .map(|i| string_param(&format!("p{i}"), json!("a"), Some("a")))
        .collect();
    let t = Template {
        parameters,
        body: json!({}),
    };
    assert_eq!(codes(&template::check(&t)), vec!["T014 parameters"]);
    let parameters = (0..17)
        .map(|i| string_param(&format!("p{i}"), json!("a"), Some("a")))
        .collect();
    let t = Template {
        parameters,
        body: json!({}),
    };
    let f = template::check(&t);
    assert_eq!(codes(&f), vec!["T014 parameters"]);
    assert!(f[0].message.contains("pattern"), "{}", f[0].message);
}

#[test]
fn default_findings_are_computed_in_shared_for_the_browser_too() {
    for b in template::builtins() {
        assert_eq!(
            template::default_findings(&b.template),
            Some(Vec::new()),
            "{}",
            b.name
        );
    }
    let not_a_doc = Template {
        parameters: vec![string_param("a", json!("x"), None)],
        body: json!({"guest": "${a}"}),
    };
    let f = template::default_findings(&not_a_doc).expect("findings");
    assert_eq!(codes(&f), vec!["T012 body"]);
    assert!(f[0].message.contains("its defaults"), "{}", f[0].message);
    let needs_value = Template {
        parameters: vec![Parameter {
            default: None,
            ..string_param("a", json!("x"), None)
        }],
        body: json!({"guest": "${a}"}),
    };
    assert_eq!(template::default_findings(&needs_value), None);
    let e = template::instantiate_document(&not_a_doc, &Map::new()).expect_err("not a document");
    assert!(e[0].message.contains("these values"), "{}", e[0].message);
}

#[test]
fn builtins_say_whether_each_disk_is_a_file_or_a_block_device() {
    let t = &template::builtins()[0].template;
    let doc = template::instantiate_document(
        t,
        &values(json!({"uuid": UUID, "disk0_path": "/dev/vg0/vm1", "disk0_storage": "block"})),
    )
    .expect("document");
    let storage: Vec<(&str, &str)> = doc
        .nodes
        .iter()
        .filter_map(|n| n.as_image())
        .map(|i| (i.id.as_str(), i.storage.as_str()))
        .collect();
    assert_eq!(
        storage,
        vec![
            ("pdisk0", "block"),
            ("sactive0", "file"),
            ("shidden0", "file"),
            ("sdisk0", "block")
        ]
    );
    assert!(
        validate(&doc).iter().all(|f| f.code != "W065"),
        "{:?}",
        validate(&doc)
    );
    let f = template::instantiate(t, &values(json!({"uuid": UUID, "disk0_storage": "lvm"})))
        .expect_err("refused");
    assert_eq!(codes(&f), vec!["T009 values.disk0_storage"]);
}
