//! Hostile names and paths (`,` `'` `"` `<` `&` `=` spaces, unicode, very long values) either
//! get a finding or come back unchanged from every output: XML attributes, shell words, QEMU
//! `key=value` options and `-blockdev` JSON.

use lockstep_shared::model::{HostRef, ImageFormat, NicModel, NicSource, Node, Side};
use lockstep_shared::render::{cmdline, qemu, render_all, Validated};
use lockstep_shared::wizard::{standard_pair, DiskSpec, NicSpec, WizardInput};
use lockstep_shared::{validate, Document};
use proptest::prelude::*;
use quick_xml::events::Event;

const HOSTILE: &[&str] = &[
    "plain",
    "a,b",
    "a,,b,",
    "it's",
    "say \"hi\"",
    "<tag>",
    "a & b",
    "k=v,x=y",
    "with space",
    "ünïcödé 名前 🚀",
    "$(reboot)",
    "`id`",
    "semi;colon",
    "back\\slash",
    "-drive",
];

fn doc_with(name: &str, path_part: &str, run_dir_part: &str) -> Document {
    let host = |n: &str, dir: &str| HostRef {
        name: n.to_owned(),
        address: format!("10.0.0.{}", if n == "a" { 1 } else { 2 }),
        run_dir: format!("/run/{dir}"),
    };
    let mut input = WizardInput::new(
        name,
        "3f1c2a9e-6b1d-4c2e-9a57-0d7c1e5b8f21",
        host("a", run_dir_part),
        host("b", run_dir_part),
    );
    input.overlay_dir = format!("/dev/shm/{path_part}");
    input.nic = Some(NicSpec {
        mac: "52:54:00:00:00:01".to_owned(),
        model: NicModel::E1000,
        source: NicSource::User,
    });
    input.disks = vec![DiskSpec {
        path: format!("/srv/{path_part}/disk.img"),
        secondary_path: None,
        size_bytes: 1 << 30,
        format: ImageFormat::Raw,
        storage: None,
        secondary_storage: None,
    }];
    standard_pair(&input)
}

/// `qemu:arg` values of the domain XML, unescaped by a real XML parser.
fn xml_args(xml: &str) -> Vec<String> {
    let mut r = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    loop {
        match r.read_event().expect("well-formed XML") {
            Event::Empty(e) | Event::Start(e) if e.name().as_ref() == b"qemu:arg" => {
                for a in e.attributes() {
                    let a = a.expect("attribute");
                    if a.key.as_ref() == b"value" {
                        out.push(a.unescape_value().expect("unescape").into_owned());
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

/// Splits a QEMU option string on single commas and undoubles `,,`.
fn qemu_opts(s: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ',' {
            if chars.peek() == Some(&',') {
                chars.next();
                parts.last_mut().expect("part").push(',');
            } else {
                parts.push(String::new());
            }
        } else {
            parts.last_mut().expect("part").push(c);
        }
    }
    parts
}

fn check_round_trips(doc: Document) -> Result<(), TestCaseError> {
    let findings = validate(&doc);
    let Ok(v) = Validated::new(doc.clone()) else {
        // Refused: every refusal must name a code and the subject.
        prop_assert!(findings
            .iter()
            .any(|f| f.is_error() && !f.message.is_empty()));
        return Ok(());
    };
    let a = render_all(&v);
    prop_assert_eq!(&render_all(&v), &a, "rendering is deterministic");
    for side in [Side::Primary, Side::Secondary] {
        let xml = match side {
            Side::Primary => &a.primary_xml,
            Side::Secondary => &a.secondary_xml,
        };
        // XML: the parsed attribute values are exactly the arguments.
        prop_assert_eq!(xml_args(xml), qemu::colo_args(&v, side));
        // Shell: the command line splits back into the argument vector.
        let line = match side {
            Side::Primary => &a.primary_cmdline,
            Side::Secondary => &a.secondary_cmdline,
        };
        let words = shell_words::split(line).expect("shell words");
        prop_assert_eq!(&words, &cmdline::argv(&v, side));
        // QEMU options: the QMP socket path survives comma escaping.
        let qmp_sock = lockstep_shared::render::names::qmp_socket(&doc, side);
        let chardev = words
            .iter()
            .find(|w| w.starts_with("socket,id=lockstep-qmp,"))
            .expect("qmp chardev");
        let want = format!("path={}", qmp_sock);
        prop_assert!(qemu_opts(chardev).contains(&want));
        // -blockdev JSON: every image path comes back from the JSON.
        let mut paths: Vec<String> = Vec::new();
        for (i, w) in words.iter().enumerate() {
            if i > 0 && words[i - 1] == "-blockdev" {
                let j: serde_json::Value = serde_json::from_str(w).expect("blockdev JSON");
                if let Some(f) = j["file"]["filename"].as_str() {
                    paths.push(f.to_owned());
                }
            }
        }
        for n in &doc.nodes {
            if let Node::Image(img) = n {
                if img.side == side {
                    prop_assert!(paths.contains(&img.path), "path {:?} survives", img.path);
                }
            }
        }
        // The guest name survives -name's option escaping.
        let name_arg = &words[words.iter().position(|w| w == "-name").expect("-name") + 1];
        prop_assert_eq!(
            qemu_opts(name_arg),
            vec![format!("guest={}", doc.guest.name)]
        );
    }
    let plan: serde_json::Value = serde_json::from_str(&a.plan_json).expect("plan JSON");
    prop_assert_eq!(plan["guest"].as_str(), Some(doc.guest.name.as_str()));
    Ok(())
}

#[test]
fn hostile_values_round_trip_or_are_refused() {
    let mut rendered = 0;
    for name in HOSTILE {
        for path in HOSTILE {
            let doc = doc_with(name, path, "ls");
            let valid = Validated::new(doc.clone()).is_ok();
            rendered += usize::from(valid);
            check_round_trips(doc).expect("round trip");
        }
    }
    // All of these are renderable (none has '/', a control character or is too long).
    assert_eq!(rendered, HOSTILE.len() * HOSTILE.len());
}

#[test]
fn very_long_values_render_or_name_the_limit() {
    let long_path = "p".repeat(3000);
    check_round_trips(doc_with("vm", &long_path, "ls")).expect("long path");
    // A long guest name is refused with E051, a long run_dir with E055.
    let f = validate(&doc_with(&"n".repeat(65), "x", "ls"));
    assert!(f.iter().any(|f| f.code == "E051"));
    let f = validate(&doc_with("vm", "x", &"r".repeat(100)));
    assert!(f.iter().any(|f| f.code == "E055"));
}

#[test]
fn control_characters_are_refused_never_altered() {
    for bad in ["new\nline", "tab\there", "nul\0byte", "cr\rx"] {
        let f = validate(&doc_with("vm", bad, "ls"));
        let quoted = format!("{bad:?}");
        let inner = &quoted[1..quoted.len() - 1];
        assert!(
            f.iter()
                .any(|f| f.code == "E050" && f.message.contains(inner)),
            "{bad:?}: {f:?}"
        );
        let f = validate(&doc_with(bad, "x", "ls"));
        assert!(f.iter().any(|f| f.code == "E051"), "{bad:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_names_and_paths_round_trip_or_are_refused(
        name in "\\PC{1,40}",
        path in "[^/\\x00]{1,60}",
        dir in "[a-z,'\" =<>&ü]{1,20}",
    ) {
        check_round_trips(doc_with(&name, &path, &dir))?;
    }
}
