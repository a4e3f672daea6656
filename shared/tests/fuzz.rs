//! The validator never panics: arbitrary JSON text, arbitrary mutations of valid documents and
//! randomly wired graphs. Whatever it accepts renders, deterministically.

use lockstep_shared::model::{Edge, EdgeKind, ImageFormat, Node, Side};
use lockstep_shared::render::{render_all, Validated};
use lockstep_shared::validate::{self, has_errors};
use lockstep_shared::Document;
use proptest::prelude::*;

fn base() -> Document {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../test-data/three-disks-mixed/input.json"
    ))
    .expect("corpus");
    Document::from_json(&text).expect("parses")
}

fn check(doc: &Document) -> Result<(), TestCaseError> {
    let f1 = validate::validate(doc);
    let f2 = validate::validate(doc);
    prop_assert_eq!(&f1, &f2, "findings are deterministic");
    for f in &f1 {
        prop_assert!(f.code.len() == 4 && !f.message.is_empty() && !f.hint.is_empty());
    }
    match Validated::new(doc.clone()) {
        Ok(v) => {
            prop_assert!(!has_errors(&f1));
            let a = render_all(&v);
            prop_assert_eq!(a, render_all(&v));
        }
        Err(f) => {
            prop_assert!(has_errors(&f));
            prop_assert!(
                f.iter().all(|x| x.code != "E000"),
                "the resolver disagreed with the validator: {:?}",
                f
            );
        }
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Mutation {
    DropNode(usize),
    DupNode(usize),
    DropEdge(usize),
    DupEdge(usize),
    Retarget(usize, usize),
    Reverse(usize),
    Rekind(usize, u8),
    Reindex(usize, Option<u32>),
    Resize(usize, u64),
    Reformat(usize),
    Reside(usize),
    Rename(usize, String),
    Port(u32),
    Delay(u64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0usize..64).prop_map(Mutation::DropNode),
        (0usize..64).prop_map(Mutation::DupNode),
        (0usize..64).prop_map(Mutation::DropEdge),
        (0usize..64).prop_map(Mutation::DupEdge),
        (0usize..64, 0usize..64).prop_map(|(a, b)| Mutation::Retarget(a, b)),
        (0usize..64).prop_map(Mutation::Reverse),
        (0usize..64, 0u8..5).prop_map(|(a, k)| Mutation::Rekind(a, k)),
        (0usize..64, proptest::option::of(0u32..4)).prop_map(|(a, i)| Mutation::Reindex(a, i)),
        (0usize..64, any::<u64>()).prop_map(|(a, s)| Mutation::Resize(a, s)),
        (0usize..64).prop_map(Mutation::Reformat),
        (0usize..64).prop_map(Mutation::Reside),
        (0usize..64, "\\PC{0,40}").prop_map(|(a, s)| Mutation::Rename(a, s)),
        any::<u32>().prop_map(Mutation::Port),
        any::<u64>().prop_map(Mutation::Delay),
    ]
}

fn apply(doc: &mut Document, m: &Mutation) {
    let nn = doc.nodes.len().max(1);
    let ne = doc.edges.len().max(1);
    match m {
        Mutation::DropNode(i) if !doc.nodes.is_empty() => {
            doc.nodes.remove(i % nn);
        }
        Mutation::DupNode(i) if !doc.nodes.is_empty() => {
            let n = doc.nodes[i % nn].clone();
            doc.nodes.push(n);
        }
        Mutation::DropEdge(i) if !doc.edges.is_empty() => {
            doc.edges.remove(i % ne);
        }
        Mutation::DupEdge(i) if !doc.edges.is_empty() => {
            let e = doc.edges[i % ne].clone();
            doc.edges.push(e);
        }
        Mutation::Retarget(e, n) if !doc.edges.is_empty() && !doc.nodes.is_empty() => {
            let id = doc.nodes[n % nn].id().to_owned();
            doc.edges[e % ne].to = id;
        }
        Mutation::Reverse(e) if !doc.edges.is_empty() => {
            let edge: &mut Edge = &mut doc.edges[e % ne];
            std::mem::swap(&mut edge.from, &mut edge.to);
        }
        Mutation::Rekind(e, k) if !doc.edges.is_empty() => {
            doc.edges[e % ne].kind = [
                EdgeKind::Child,
                EdgeKind::File,
                EdgeKind::Backing,
                EdgeKind::Nbd,
                EdgeKind::Attach,
            ][usize::from(*k) % 5];
        }
        Mutation::Reindex(e, i) if !doc.edges.is_empty() => doc.edges[e % ne].index = *i,
        Mutation::Resize(n, s) if !doc.nodes.is_empty() => {
            if let Node::Image(img) = &mut doc.nodes[n % nn] {
                img.size_bytes = *s;
            }
        }
        Mutation::Reformat(n) if !doc.nodes.is_empty() => {
            if let Node::Image(img) = &mut doc.nodes[n % nn] {
                img.format = match img.format {
                    ImageFormat::Raw => ImageFormat::Qcow2,
                    ImageFormat::Qcow2 => ImageFormat::Raw,
                };
            }
        }
        Mutation::Reside(n) if !doc.nodes.is_empty() => {
            let flip = |s: &mut Side| {
                *s = match s {
                    Side::Primary => Side::Secondary,
                    Side::Secondary => Side::Primary,
                }
            };
            match &mut doc.nodes[n % nn] {
                Node::Image(x) => flip(&mut x.side),
                Node::Quorum(x) => flip(&mut x.side),
                Node::Replication(x) => flip(&mut x.side),
                Node::NbdClient(x) => flip(&mut x.side),
                Node::GuestDisk(x) => flip(&mut x.side),
            }
        }
        Mutation::Rename(n, s) if !doc.nodes.is_empty() => match &mut doc.nodes[n % nn] {
            Node::Image(x) => x.path = s.clone(),
            Node::Quorum(x) => x.id = s.clone(),
            Node::Replication(x) => x.id = s.clone(),
            Node::NbdClient(x) => x.id = s.clone(),
            Node::GuestDisk(x) => x.target = s.clone(),
        },
        Mutation::Port(p) => doc.colo.nbd_port = *p,
        Mutation::Delay(d) => doc.colo.checkpoint_delay_ms = *d,
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,300}") {
        let _ = Document::from_json(&s);
    }

    #[test]
    fn arbitrary_json_values_never_panic(v in arb_json()) {
        let _ = serde_json::from_value::<Document>(v);
    }

    #[test]
    fn mutated_documents_validate_without_panic(ms in proptest::collection::vec(mutation(), 0..8)) {
        let mut doc = base();
        for m in &ms {
            apply(&mut doc, m);
        }
        check(&doc)?;
    }
}

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "\\PC{0,12}".prop_map(serde_json::Value::from),
        prop_oneof![
            Just("image"),
            Just("quorum"),
            Just("primary"),
            Just("nodes"),
            Just("kind"),
            Just("edges")
        ]
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("schema_version".to_owned()),
                    Just("guest".to_owned()),
                    Just("nodes".to_owned()),
                    Just("edges".to_owned()),
                    Just("kind".to_owned()),
                    Just("id".to_owned()),
                    "[a-z_]{1,8}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn every_corpus_document_survives_every_single_edge_removal() {
    // Exhaustive neighbourhood of a valid document: dropping any one edge or node must give
    // errors (every piece of the standard pair is needed), and never a panic.
    let doc = base();
    for i in 0..doc.edges.len() {
        let mut d = doc.clone();
        d.edges.remove(i);
        assert!(has_errors(&validate::validate(&d)), "edge {i} removed");
        let _ = Validated::new(d);
    }
    for i in 0..doc.nodes.len() {
        let mut d = doc.clone();
        d.nodes.remove(i);
        assert!(has_errors(&validate::validate(&d)), "node {i} removed");
    }
}
