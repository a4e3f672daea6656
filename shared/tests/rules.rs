//! One minimal failing case per code, each a small edit of a valid neighbour (the wizard's
//! standard pair with a proxied NIC), checked through one `check` helper: the neighbour has no
//! finding with the code, the edited document has it.

use lockstep_shared::model::{
    ColoProxy, Document, Edge, EdgeKind, HostRef, ImageFormat, InitialSync, Nic, NicModel,
    NicSource, Node, ReadPattern, ReplicationMode, Storage,
};
use lockstep_shared::validate::{validate, RULES};
use lockstep_shared::wizard::{standard_pair, DiskSpec, NicSpec, WizardInput};

fn neighbour() -> Document {
    let host = |n: &str, a: &str| HostRef {
        name: n.to_owned(),
        address: a.to_owned(),
        run_dir: "/run/lockstep".to_owned(),
    };
    let mut input = WizardInput::new(
        "vm1",
        "3f1c2a9e-6b1d-4c2e-9a57-0d7c1e5b8f21",
        host("a", "10.0.0.1"),
        host("b", "10.0.0.2"),
    );
    input.nic = Some(NicSpec {
        mac: "52:54:00:00:00:01".to_owned(),
        model: NicModel::E1000,
        source: NicSource::Bridge {
            bridge: "br0".to_owned(),
        },
    });
    input.disks = vec![DiskSpec {
        path: "/var/lib/colo/vm1.qcow2".to_owned(),
        secondary_path: None,
        size_bytes: 10 << 30,
        format: ImageFormat::Qcow2,
        storage: None,
        secondary_storage: None,
    }];
    standard_pair(&input)
}

fn node<'a>(d: &'a mut Document, id: &str) -> &'a mut Node {
    d.nodes.iter_mut().find(|n| n.id() == id).expect("node")
}

fn image<'a>(d: &'a mut Document, id: &str) -> &'a mut lockstep_shared::model::ImageNode {
    match node(d, id) {
        Node::Image(i) => i,
        _ => panic!("{id} is not an image"),
    }
}

fn edge<'a>(d: &'a mut Document, from: &str, to: &str) -> &'a mut Edge {
    d.edges
        .iter_mut()
        .find(|e| e.from == from && e.to == to)
        .expect("edge")
}

fn add_edge(d: &mut Document, kind: EdgeKind, from: &str, to: &str, index: Option<u32>) {
    d.edges.push(Edge {
        id: format!("extra-{from}-{to}"),
        kind,
        from: from.to_owned(),
        to: to.to_owned(),
        index,
    });
}

fn check(code: &str, edit: impl Fn(&mut Document)) {
    let base = neighbour();
    let before = validate(&base);
    assert!(
        before.iter().all(|f| f.code != code),
        "{code}: the neighbour already has it: {before:?}"
    );
    assert!(before.iter().all(|f| !f.is_error()), "neighbour is valid");
    let mut d = base;
    edit(&mut d);
    let after = validate(&d);
    let hit: Vec<_> = after.iter().filter(|f| f.code == code).collect();
    assert!(!hit.is_empty(), "{code} not reported; got {after:#?}");
    for f in hit {
        assert_eq!(f.is_error(), code.starts_with('E'));
        assert!(!f.subjects.is_empty(), "{code} names what is wrong");
    }
}

/// A change that turns the valid neighbour into a failing case.
type Edit = Box<dyn Fn(&mut Document)>;

#[test]
fn each_code_has_a_minimal_failing_case() {
    let cases: Vec<(&str, Edit)> = vec![
        (
            "E001",
            Box::new(|d| add_edge(d, EdgeKind::Backing, "sdisk0", "sactive0", None)),
        ),
        (
            "E002",
            Box::new(|d| edge(d, "sactive0", "shidden0").to = "ghost".into()),
        ),
        (
            "E003",
            Box::new(|d| {
                let n = d.nodes[0].clone();
                d.nodes.push(n);
            }),
        ),
        (
            "E004",
            Box::new(|d| rename(d, "pnbd0", "libvirt-3-storage")),
        ),
        ("E005", Box::new(|d| set_target(d, "p-vda", "sda"))),
        (
            "E006",
            Box::new(|d| set_quorum(d, "pquorum0", |q| q.read_pattern = ReadPattern::Quorum)),
        ),
        (
            "E007",
            Box::new(|d| edge(d, "pquorum0", "prep0").index = Some(3)),
        ),
        (
            "E008",
            Box::new(|d| {
                d.edges
                    .retain(|e| !(e.from == "pquorum0" && e.to == "prep0"))
            }),
        ),
        (
            "E009",
            Box::new(|d| set_rep(d, "prep0", ReplicationMode::Secondary)),
        ),
        (
            "E010",
            Box::new(|d| add_edge(d, EdgeKind::Nbd, "pnbd0", "shidden0", None)),
        ),
        (
            "E011",
            Box::new(|d| image(d, "pdisk0").size_bytes = 1 << 30),
        ),
        (
            "E012",
            Box::new(|d| {
                edge(d, "pquorum0", "prep0").index = Some(0);
                edge(d, "pquorum0", "pdisk0").index = Some(1);
            }),
        ),
        (
            "E013",
            Box::new(|d| set_rep(d, "srep0", ReplicationMode::Primary)),
        ),
        (
            "E014",
            Box::new(|d| {
                d.edges
                    .retain(|e| e.kind != EdgeKind::Child || e.to != "srep0")
            }),
        ),
        (
            "E015",
            Box::new(|d| {
                d.edges
                    .retain(|e| !(e.from == "sactive0" && e.to == "shidden0"))
            }),
        ),
        (
            "E016",
            Box::new(|d| image(d, "sactive0").format = ImageFormat::Raw),
        ),
        (
            "E017",
            Box::new(|d| image(d, "sactive0").size_bytes = 1 << 30),
        ),
        (
            "E018",
            Box::new(|d| {
                let p = image(d, "shidden0").path.clone();
                image(d, "sactive0").path = p;
            }),
        ),
        (
            "W018",
            Box::new(|d| image(d, "sactive0").path = "/var/tmp/active.qcow2".into()),
        ),
        (
            "E019",
            Box::new(|d| d.edges.retain(|e| e.kind != EdgeKind::Nbd)),
        ),
        (
            "E020",
            Box::new(|d| add_edge(d, EdgeKind::Child, "squorum0", "sdisk0", Some(1))),
        ),
        (
            "E021",
            Box::new(|d| {
                d.hosts.secondary.address = "10.0.0.1".into();
                let p = image(d, "pdisk0").path.clone();
                image(d, "sdisk0").path = p;
            }),
        ),
        (
            "W021",
            Box::new(|d| d.hosts.secondary.address = "10.0.0.1".into()),
        ),
        // One host under two spellings: E021 (the neighbour's secondary disk has the primary's
        // path) and W021.
        ("E021", Box::new(|d| d.hosts.secondary.name = "A".into())),
        ("W021", Box::new(|d| d.hosts.secondary.name = "a.".into())),
        (
            "E021",
            Box::new(|d| {
                d.hosts.primary.address = "fd00::1".into();
                d.hosts.secondary.address = "fd00:0::1".into();
            }),
        ),
        (
            "W021",
            Box::new(|d| d.hosts.secondary.address = "::ffff:10.0.0.1".into()),
        ),
        (
            "E052",
            Box::new(|d| d.hosts.secondary.address = "010.0.0.1".into()),
        ),
        (
            "E052",
            Box::new(|d| d.hosts.secondary.address = "10.2".into()),
        ),
        ("E022", Box::new(|d| set_slot(d, "s-vda", 0x11))),
        ("E023", Box::new(|d| d.guest.machine = "q35".into())),
        ("E028", Box::new(|d| d.colo.checkpoint_delay_ms = 1 << 33)),
        ("W028", Box::new(|d| d.colo.checkpoint_delay_ms = 90_000)),
        // 0 is a legal uint32 (back-to-back checkpoints): a warning, not an error.
        ("W028", Box::new(|d| d.colo.checkpoint_delay_ms = 0)),
        ("W030", Box::new(|d| d.nics[0].proxy = None)),
        ("E031", Box::new(|d| d.nics[0].model = NicModel::Virtio)),
        ("W031", Box::new(|d| proxy(d).vnet_hdr = true)),
        ("E039", Box::new(|d| proxy(d).compare_port = 0)),
        ("W039", Box::new(|d| d.colo.nbd_port = 22)),
        ("E041", Box::new(|d| d.nics[0].pci_slot = 0x10)),
        ("E044", Box::new(|d| rename(d, "pnbd0", "nbd client"))),
        (
            "E046",
            Box::new(|d| edge(d, "pquorum0", "pdisk0").kind = EdgeKind::File),
        ),
        (
            "E047",
            Box::new(|d| edge(d, "pnbd0", "sdisk0").to = "pdisk0".into()),
        ),
        (
            "E048",
            Box::new(|d| add_edge(d, EdgeKind::Child, "pquorum0", "sdisk0", Some(2))),
        ),
        (
            "E050",
            Box::new(|d| image(d, "pdisk0").path = "vm1.qcow2".into()),
        ),
        ("E051", Box::new(|d| d.guest.name = "a/b".into())),
        (
            "E052",
            Box::new(|d| d.hosts.primary.address = "10.0.0.1:22".into()),
        ),
        (
            "E053",
            Box::new(|d| d.nics[0].mac = "52:54:00:00:00".into()),
        ),
        (
            "E054",
            Box::new(|d| d.guest.uuid = "3f1c2a9e6b1d4c2e9a570d7c1e5b8f21".into()),
        ),
        (
            "E055",
            Box::new(|d| d.hosts.primary.run_dir = format!("/{}", "x".repeat(100))),
        ),
        (
            "E056",
            Box::new(|d| {
                d.nics[0].source = NicSource::Bridge {
                    bridge: "br 0".into(),
                }
            }),
        ),
        ("E057", Box::new(|d| d.guest.memory_mib = 8)),
        ("E058", Box::new(|d| d.schema_version = 0)),
        (
            "W059",
            Box::new(|d| d.colo.initial_sync = InitialSync::AssumeIdentical),
        ),
        ("E060", Box::new(|d| d.hosts.secondary.name = "b\nc".into())),
        (
            "E064",
            Box::new(|d| image(d, "shidden0").storage = Storage::Block),
        ),
        (
            "W065",
            Box::new(|d| image(d, "pdisk0").path = "/dev/vg0/vm1".into()),
        ),
        (
            "W065",
            Box::new(|d| image(d, "sdisk0").storage = Storage::Block),
        ),
        (
            "E062",
            Box::new(|d| {
                d.nodes.retain(|n| !matches!(n, Node::GuestDisk(g) if g.side == lockstep_shared::model::Side::Secondary))
            }),
        ),
        (
            "W063",
            Box::new(|d| {
                d.nodes.push(Node::Image(lockstep_shared::model::ImageNode {
                    id: "spare".into(),
                    side: lockstep_shared::model::Side::Primary,
                    path: "/srv/spare.img".into(),
                    storage: Storage::File,
                    format: ImageFormat::Raw,
                    size_bytes: 1024,
                }))
            }),
        ),
    ];
    let codes: Vec<&str> = cases.iter().map(|(c, _)| *c).collect();
    for r in RULES {
        if r.coverage == lockstep_shared::validate::Coverage::Validator {
            assert!(codes.contains(&r.code), "no minimal case for {}", r.code);
        }
    }
    for (code, edit) in &cases {
        check(code, edit);
    }
}

fn rename(d: &mut Document, from: &str, to: &str) {
    match node(d, from) {
        Node::NbdClient(n) => n.id = to.to_owned(),
        _ => panic!("rename only NBD clients here"),
    }
    for e in &mut d.edges {
        if e.from == from {
            e.from = to.to_owned();
        }
        if e.to == from {
            e.to = to.to_owned();
        }
    }
}

fn set_target(d: &mut Document, id: &str, t: &str) {
    if let Node::GuestDisk(g) = node(d, id) {
        g.target = t.to_owned();
    }
}

fn set_slot(d: &mut Document, id: &str, s: u32) {
    if let Node::GuestDisk(g) = node(d, id) {
        g.pci_slot = s;
    }
}

fn set_quorum(d: &mut Document, id: &str, f: impl Fn(&mut lockstep_shared::model::QuorumNode)) {
    if let Node::Quorum(q) = node(d, id) {
        f(q);
    }
}

fn set_rep(d: &mut Document, id: &str, m: ReplicationMode) {
    if let Node::Replication(r) = node(d, id) {
        r.mode = m;
    }
}

fn proxy(d: &mut Document) -> &mut ColoProxy {
    let nic: &mut Nic = &mut d.nics[0];
    nic.proxy.as_mut().expect("proxy")
}

#[test]
fn the_wizard_output_is_valid_for_1_to_32_disks() {
    for n in [1usize, 2, 3, 32] {
        let input = lockstep_shared::wizard::example_input("vm", n);
        let f = validate(&standard_pair(&input));
        assert!(f.is_empty(), "{n} disks: {f:?}");
    }
}

#[test]
fn findings_quote_values_and_name_subjects() {
    let mut d = neighbour();
    image(&mut d, "shidden0").size_bytes = 20 << 30;
    let f = validate(&d);
    let e = f.iter().find(|f| f.code == "E017").expect("E017");
    assert_eq!(
        e.message,
        "hidden image 'shidden0' is 20 GiB (21474836480 bytes) but secondary disk 'sdisk0' is 10 GiB (10737418240 bytes)"
    );
    assert_eq!(e.subjects, vec!["shidden0", "sdisk0"]);
}

#[test]
fn checkpoint_delay_zero_is_a_warning_that_says_why() {
    let mut d = neighbour();
    d.colo.checkpoint_delay_ms = 0;
    let f = validate(&d);
    assert!(f.iter().all(|f| f.code != "E028"), "0 fits a uint32: {f:?}");
    let w: Vec<_> = f.iter().filter(|f| f.code == "W028").collect();
    assert_eq!(w.len(), 1, "{f:?}");
    assert!(w[0].message.contains("back to back"), "{}", w[0].message);
    d.colo.checkpoint_delay_ms = u64::from(u32::MAX);
    assert!(validate(&d).iter().all(|f| f.code != "E028"));
    d.colo.checkpoint_delay_ms = u64::from(u32::MAX) + 1;
    let e: Vec<_> = validate(&d)
        .into_iter()
        .filter(|f| f.code == "E028")
        .collect();
    assert!(e[0].message.contains("uint32"), "{}", e[0].message);
}

#[test]
fn one_host_under_two_spellings_is_one_host() {
    for (pn, pa, sn, sa) in [
        ("hv-a", "10.0.0.1", "HV-A", "10.0.0.2"),
        ("hv-a", "10.0.0.1", "hv-a.", "10.0.0.2"),
        ("a", "fd00::1", "b", "fd00:0::1"),
        ("a", "10.0.0.1", "b", "::ffff:10.0.0.1"),
        ("a", "Colo-A.example.net", "b", "colo-a.example.net."),
    ] {
        let mut d = neighbour();
        d.hosts.primary.name = pn.into();
        d.hosts.primary.address = pa.into();
        d.hosts.secondary.name = sn.into();
        d.hosts.secondary.address = sa.into();
        let f = validate(&d);
        let codes: Vec<&str> = f.iter().map(|f| f.code.as_str()).collect();
        // The neighbour's secondary disk has the primary's path: one host opens it twice.
        assert!(codes.contains(&"E021"), "{pn}/{pa} vs {sn}/{sa}: {codes:?}");
        assert!(codes.contains(&"W021"), "{pn}/{pa} vs {sn}/{sa}: {codes:?}");
        // Both sides share one port space.
        assert!(
            !codes.contains(&"E052"),
            "{pn}/{pa} vs {sn}/{sa}: {codes:?}"
        );
    }
}

#[test]
fn block_devices_render_with_host_device() {
    use lockstep_shared::render::{render_all, Validated};
    let mut d = neighbour();
    image(&mut d, "pdisk0").path = "/dev/vg0/vm1".into();
    image(&mut d, "pdisk0").storage = Storage::Block;
    let v = Validated::new(d).expect("valid");
    let a = render_all(&v);
    let file_nodes = a.primary_cmdline.matches(r#"{"driver":"file","#).count();
    assert!(
        a.primary_cmdline
            .contains(r#"{"driver":"host_device","filename":"/dev/vg0/vm1"}"#),
        "{}",
        a.primary_cmdline
    );
    assert_eq!(file_nodes, 0, "{}", a.primary_cmdline);
    assert!(a
        .secondary_cmdline
        .contains(r#"{"driver":"file","filename":"/var/lib/colo/vm1.qcow2"}"#));
    let plan: serde_json::Value = serde_json::from_str(&a.plan_json).expect("plan");
    let preflight = &plan["phases"][0]["steps"];
    let argv = |side: &str, t: &str, p: &str| {
        preflight.as_array().is_some_and(|s| {
            s.iter()
                .any(|s| s["side"] == side && s["argv"] == serde_json::json!(["test", t, p]))
        })
    };
    assert!(argv("primary", "-b", "/dev/vg0/vm1"), "{preflight:#}");
    assert!(
        argv("secondary", "-f", "/var/lib/colo/vm1.qcow2"),
        "{preflight:#}"
    );
}

#[test]
fn findings_quote_huge_values_in_bounded_text() {
    let mut d = neighbour();
    d.hosts.secondary.name = "x".repeat(70_000);
    d.nodes.iter_mut().for_each(|n| {
        if let Node::Image(i) = n {
            i.path = format!("/{}", "é".repeat(30_000));
        }
    });
    let f = validate(&d);
    assert!(!f.is_empty());
    for x in &f {
        assert!(
            x.message.len() <= 1100,
            "{} is {} bytes",
            x.code,
            x.message.len()
        );
        assert!(x.subjects.iter().all(|s| s.len() <= 1100));
    }
    let e060 = f.iter().find(|x| x.code == "E060").expect("E060");
    assert!(e060.message.contains("bytes left out"), "{}", e060.message);
    assert!(
        e060.message.ends_with("control characters"),
        "{}",
        e060.message
    );
}
