//! The pair with its roles swapped: what runs after a failover to the secondary, once a fresh
//! secondary is built on the old primary's host (QEMU `docs/COLO-FT.txt`, "Secondary resume
//! replication").
//!
//! After the failover the old secondary runs alone with its own block graph: the guest device
//! on its quorum, whose `children.0` is its replication node (mode secondary, stage done: a
//! pass-through to the secondary disk once the failover's commit has finished). It becomes the
//! new primary by gaining a remote leg at `children.1`, exactly as a primary re-attaches its
//! leg when it re-protects. So the swapped document gives the new primary the old secondary's
//! device, quorum and disk (as its local image) and the old primary's replication and NBD ids
//! (free on that QEMU: ids are unique in a document), and gives the new secondary, on the old
//! primary's host, the old primary's device, quorum and disk with the old secondary's
//! replication id and overlays (same paths, now on the other host). Swapping twice gives the
//! original pair back (edge ids aside).

use super::Validated;
use crate::model::{
    Document, Edge, EdgeKind, ImageNode, Layout, Node, Point, QuorumNode, ReadPattern,
    ReplicationMode, ReplicationNode, Side,
};

/// The document of the pair with primary and secondary swapped.
pub fn swapped(v: &Validated) -> Document {
    let doc = v.doc();
    let quorum = |id: &str| {
        doc.nodes.iter().find_map(|n| match n {
            Node::Quorum(q) if q.id == id => Some((q.vote_threshold, q.read_pattern)),
            _ => None,
        })
    };
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    let mut edge = |kind: EdgeKind, from: &str, to: &str, index: Option<u32>| {
        edges.push(Edge {
            id: format!("{}-{from}-{to}", kind.as_str()),
            kind,
            from: from.to_owned(),
            to: to.to_owned(),
            index,
        })
    };
    let image = |img: &ImageNode, side: Side| {
        Node::Image(ImageNode {
            side,
            ..img.clone()
        })
    };
    let (p, s) = (Side::Primary, Side::Secondary);
    for d in v.disks() {
        // The new primary: the old secondary's device, quorum and disk.
        let mut dev = d.s_device.clone();
        dev.side = p;
        let (threshold, pattern) = quorum(&d.s_quorum).unwrap_or((1, ReadPattern::Fifo));
        nodes.push(Node::GuestDisk(dev.clone()));
        nodes.push(Node::Quorum(QuorumNode {
            id: d.s_quorum.clone(),
            side: p,
            vote_threshold: threshold,
            read_pattern: pattern,
        }));
        nodes.push(image(&d.s_disk, p));
        nodes.push(Node::Replication(ReplicationNode {
            id: d.p_replication.clone(),
            side: p,
            mode: ReplicationMode::Primary,
        }));
        nodes.push(Node::NbdClient(crate::model::NbdClientNode {
            id: d.p_nbd.clone(),
            side: p,
        }));
        edge(EdgeKind::Attach, &dev.id, &d.s_quorum, None);
        edge(EdgeKind::Child, &d.s_quorum, &d.s_disk.id, Some(0));
        edge(EdgeKind::Child, &d.s_quorum, &d.p_replication, Some(1));
        edge(EdgeKind::File, &d.p_replication, &d.p_nbd, None);
        edge(EdgeKind::Nbd, &d.p_nbd, &d.p_local.id, None);
        // The new secondary: the old primary's device, quorum and disk, with the old
        // secondary's replication node and overlays.
        let mut dev = d.p_device.clone();
        dev.side = s;
        let (threshold, pattern) = quorum(&d.p_quorum).unwrap_or((1, ReadPattern::Fifo));
        nodes.push(Node::GuestDisk(dev.clone()));
        nodes.push(Node::Quorum(QuorumNode {
            id: d.p_quorum.clone(),
            side: s,
            vote_threshold: threshold,
            read_pattern: pattern,
        }));
        nodes.push(Node::Replication(ReplicationNode {
            id: d.s_replication.clone(),
            side: s,
            mode: ReplicationMode::Secondary,
        }));
        nodes.push(image(&d.s_active, s));
        nodes.push(image(&d.s_hidden, s));
        nodes.push(image(&d.p_local, s));
        edge(EdgeKind::Attach, &dev.id, &d.p_quorum, None);
        edge(EdgeKind::Child, &d.p_quorum, &d.s_replication, Some(0));
        edge(EdgeKind::File, &d.s_replication, &d.s_active.id, None);
        edge(EdgeKind::Backing, &d.s_active.id, &d.s_hidden.id, None);
        edge(EdgeKind::Backing, &d.s_hidden.id, &d.p_local.id, None);
    }
    // The picture mirrored: what was on the left is now on the right.
    let xs = doc.layout.positions.values().map(|pt| pt.x);
    let (lo, hi) = xs.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
    let positions = doc
        .layout
        .positions
        .iter()
        .map(|(id, pt)| {
            (
                id.clone(),
                Point {
                    x: lo + hi - pt.x,
                    y: pt.y,
                },
            )
        })
        .collect();
    Document {
        schema_version: doc.schema_version,
        guest: doc.guest.clone(),
        hosts: crate::model::Hosts {
            primary: doc.hosts.secondary.clone(),
            secondary: doc.hosts.primary.clone(),
        },
        colo: doc.colo.clone(),
        nics: doc.nics.clone(),
        nodes,
        edges,
        layout: Layout { positions },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Validated;
    use crate::wizard::{example_input, standard_pair};

    fn validated(doc: Document) -> Validated {
        match Validated::new(doc) {
            Ok(v) => v,
            Err(f) => panic!("swapped document invalid: {f:#?}"),
        }
    }

    #[test]
    fn a_swapped_pair_is_valid_and_swaps_back() {
        for disks in [1, 3] {
            let doc = standard_pair(&example_input("vm1", disks));
            let v = validated(doc.clone());
            let once = validated(swapped(&v));
            assert_eq!(once.doc().hosts.primary, doc.hosts.secondary);
            assert_eq!(once.disks().len(), disks);
            for (a, b) in v.disks().iter().zip(once.disks()) {
                // The new primary keeps the old secondary's running graph and adds its leg at
                // children.1 with ids that QEMU does not have yet.
                assert_eq!(b.p_quorum, a.s_quorum);
                assert_eq!(b.p_local.path, a.s_disk.path);
                assert_eq!(b.remote_index, 1);
                for id in [&b.p_replication, &b.p_nbd] {
                    assert!(
                        ![
                            &a.s_quorum,
                            &a.s_replication,
                            &a.s_disk.id,
                            &a.s_active.id,
                            &a.s_hidden.id
                        ]
                        .contains(&id),
                        "{id} is already a node of the running QEMU"
                    );
                }
                assert_eq!(b.s_disk.path, a.p_local.path);
                assert_eq!(b.s_active.path, a.s_active.path);
            }
            let twice = swapped(&once);
            let strip = |d: &Document| {
                let mut d = d.clone();
                d.edges.clear();
                d.layout = Layout::default();
                let mut ids: Vec<String> = d.nodes.iter().map(|n| format!("{n:?}")).collect();
                ids.sort();
                (ids, d.hosts, d.guest)
            };
            assert_eq!(strip(&twice), strip(&doc));
            assert!(crate::validate::validate(&twice)
                .iter()
                .all(|f| f.severity != crate::validate::Severity::Error));
        }
    }
}
