//! Primary side (`colo-reference.md` §5 rules 6 and 8–12).

use super::{fmt_size, Report};
use crate::model::{EdgeKind, Graph, Node, ReplicationMode, Side};

pub(crate) fn check(g: &Graph, r: &mut Report) {
    check_device_attached(g, r);
    check_quorum_shape(g, r);
    check_one_remote_leg(g, r);
    check_replication_primary(g, r);
    check_nbd_export(g, r);
    check_sizes(g, r);
    check_remote_leg_removable(g, r);
}

/// Rule 6 (and 14 on the secondary): each guest disk is attached to exactly one quorum, and each
/// quorum to exactly one guest disk.
fn check_device_attached(g: &Graph, r: &mut Report) {
    for n in &g.doc.nodes {
        match n {
            Node::GuestDisk(d) => {
                let n_att = g.out_edges(&d.id, EdgeKind::Attach).len();
                if n_att != 1 {
                    r.push(
                        "E006",
                        &[&d.id],
                        format!(
                            "{} guest disk '{}' has {n_att} attach edges; it needs exactly one, to \
                             its quorum",
                            d.side.as_str(),
                            d.id
                        ),
                        "attach the guest disk to the quorum of its side",
                    );
                }
            }
            Node::Quorum(q) => {
                let n_att = g.in_edges(&q.id, EdgeKind::Attach).len();
                if n_att > 1 {
                    r.push(
                        "E006",
                        &[&q.id],
                        format!(
                            "quorum '{}' is attached to {n_att} guest disks; one at most",
                            q.id
                        ),
                        "give each guest disk its own quorum",
                    );
                }
            }
            Node::Image(_) | Node::Replication(_) | Node::NbdClient(_) => {}
        }
    }
}

fn primary_quorums<'a>(g: &Graph<'a>) -> impl Iterator<Item = &'a crate::model::QuorumNode> {
    g.doc
        .nodes
        .iter()
        .filter_map(Node::as_quorum)
        .filter(|q| q.side == Side::Primary)
}

/// Rule 6: child 0 of a primary quorum is the local image; the other child is the remote leg.
fn check_quorum_shape(g: &Graph, r: &mut Report) {
    for q in primary_quorums(g) {
        let kids = g.children(&q.id);
        let first = kids.first().and_then(|e| g.node(&e.to));
        match first {
            Some(Node::Image(_)) => {}
            Some(other) => r.push(
                "E006",
                &[&q.id],
                format!(
                    "child 0 of primary quorum '{}' is {} '{}'; it must be the local image",
                    q.id,
                    other.kind_name(),
                    other.id()
                ),
                "make the local image child 0 and the replication node child 1",
            ),
            None => {}
        }
        let locals = kids
            .iter()
            .filter(|e| matches!(g.node(&e.to), Some(Node::Image(_))))
            .count();
        if locals > 1 {
            r.push(
                "E006",
                &[&q.id],
                format!(
                    "primary quorum '{}' has {locals} local images; COLO uses one",
                    q.id
                ),
                "keep one local image per protected disk",
            );
        }
    }
}

/// Rule 8: exactly one remote leg (replication node over an NBD client) per primary quorum.
fn check_one_remote_leg(g: &Graph, r: &mut Report) {
    for q in primary_quorums(g) {
        let legs: Vec<&str> = g
            .children(&q.id)
            .iter()
            .filter(|e| matches!(g.node(&e.to), Some(Node::Replication(_))))
            .map(|e| e.to.as_str())
            .collect();
        if legs.len() != 1 {
            let mut subjects = vec![q.id.as_str()];
            subjects.extend(legs.iter().copied());
            r.push(
                "E008",
                &subjects,
                format!(
                    "primary quorum '{}' has {} remote legs ({}); it needs exactly one \
                     replication child",
                    q.id,
                    legs.len(),
                    if legs.is_empty() {
                        "none".to_owned()
                    } else {
                        legs.join(", ")
                    }
                ),
                "connect one replication node (mode primary) as child 1 of the quorum",
            );
        }
    }
}

/// Rule 9: a primary replication node has mode primary, sits under a quorum and filters one NBD
/// client.
fn check_replication_primary(g: &Graph, r: &mut Report) {
    for n in &g.doc.nodes {
        let Node::Replication(rep) = n else { continue };
        if rep.side != Side::Primary {
            continue;
        }
        if rep.mode != ReplicationMode::Primary {
            r.push(
                "E009",
                &[&rep.id],
                format!(
                    "replication node '{}' is on the primary but has mode 'secondary'",
                    rep.id
                ),
                "set mode to 'primary' (top-id is never given in primary mode)",
            );
        }
        let files = g.out_edges(&rep.id, EdgeKind::File);
        let ok =
            matches!(files.as_slice(), [e] if matches!(g.node(&e.to), Some(Node::NbdClient(_))));
        if !ok {
            r.push(
                "E009",
                &[&rep.id],
                format!(
                    "primary replication node '{}' has {} file edges; it needs exactly one, to an \
                     NBD client",
                    rep.id,
                    files.len()
                ),
                "connect the replication node to its NBD client with one file edge",
            );
        }
        let parents = g.in_edges(&rep.id, EdgeKind::Child).len();
        if parents != 1 {
            r.push(
                "E009",
                &[&rep.id],
                format!(
                    "primary replication node '{}' is a child of {parents} quorums; it must be \
                     the remote leg of exactly one",
                    rep.id
                ),
                "make it child 1 of its disk's quorum",
            );
        }
    }
}

/// Rule 10: each NBD client reaches exactly one secondary disk, and no two clients share one
/// (the export name is the disk's node name, so it is the same on both sides and unique).
fn check_nbd_export(g: &Graph, r: &mut Report) {
    let mut seen: std::collections::BTreeMap<&str, &str> = Default::default();
    for n in &g.doc.nodes {
        let Node::NbdClient(c) = n else { continue };
        if c.side != Side::Primary {
            r.push(
                "E010",
                &[&c.id],
                format!(
                    "NBD client '{}' is on the secondary; only the primary has one",
                    c.id
                ),
                "set side to 'primary'",
            );
            continue;
        }
        let targets = g.out_edges(&c.id, EdgeKind::Nbd);
        if targets.len() != 1 {
            r.push(
                "E010",
                &[&c.id],
                format!(
                    "NBD client '{}' has {} nbd edges; it needs exactly one, to the secondary disk",
                    c.id,
                    targets.len()
                ),
                "draw one nbd edge from the client to the secondary disk",
            );
        }
        for e in targets {
            if let Some(prev) = seen.insert(e.to.as_str(), c.id.as_str()) {
                r.push(
                    "E010",
                    &[prev, &c.id],
                    format!(
                        "NBD clients '{prev}' and '{}' both export secondary disk '{}'; each disk \
                         needs its own export",
                        c.id, e.to
                    ),
                    "point each NBD client at its own secondary disk",
                );
            }
        }
        if g.in_edges(&c.id, EdgeKind::File).len() != 1 {
            r.push(
                "E009",
                &[&c.id],
                format!(
                    "NBD client '{}' must be the file of exactly one replication node",
                    c.id
                ),
                "connect the primary replication node to it with a file edge",
            );
        }
    }
}

/// Rule 11: the local image and the secondary disk it replicates to have the same size.
fn check_sizes(g: &Graph, r: &mut Report) {
    for q in primary_quorums(g) {
        let kids = g.children(&q.id);
        let local = kids
            .iter()
            .find_map(|e| g.node(&e.to).and_then(Node::as_image));
        let remote = kids.iter().find_map(|e| {
            let rep = g.node(&e.to)?.as_replication()?;
            let client = g.only_target(&rep.id, EdgeKind::File)?.as_nbd_client()?;
            g.only_target(&client.id, EdgeKind::Nbd)?.as_image()
        });
        if let (Some(l), Some(rm)) = (local, remote) {
            if l.size_bytes != rm.size_bytes {
                r.push(
                    "E011",
                    &[&l.id, &rm.id],
                    format!(
                        "primary image '{}' is {} but secondary disk '{}' is {}",
                        l.id,
                        fmt_size(l.size_bytes),
                        rm.id,
                        fmt_size(rm.size_bytes)
                    ),
                    "give both images the same virtual size (quorum refuses children of \
                     different length)",
                );
            }
        }
    }
}

/// Rule 12: the remote leg is the last child, so failover removes `children.N` and the quorum
/// keeps at least `vote_threshold` children.
fn check_remote_leg_removable(g: &Graph, r: &mut Report) {
    for q in primary_quorums(g) {
        let kids = g.children(&q.id);
        let n = kids.len() as u32;
        for e in &kids {
            if !matches!(g.node(&e.to), Some(Node::Replication(_))) {
                continue;
            }
            if e.index != Some(n.saturating_sub(1)) {
                r.push(
                    "E012",
                    &[&q.id, &e.id],
                    format!(
                        "remote leg '{}' of quorum '{}' has index {}; it must be the last child \
                         ({}) because QEMU adds it at run time as children.{}",
                        e.to,
                        q.id,
                        e.index.map_or("(none)".to_owned(), |i| i.to_string()),
                        n.saturating_sub(1),
                        n.saturating_sub(1)
                    ),
                    "give the remote leg the highest child index",
                );
            }
            if q.vote_threshold > n.saturating_sub(1) {
                r.push(
                    "E012",
                    &[&q.id],
                    format!(
                        "quorum '{}' has vote_threshold {} with {n} children; removing the remote \
                         leg at failover would leave fewer children than the threshold",
                        q.id, q.vote_threshold
                    ),
                    "set vote_threshold to 1",
                );
            }
        }
    }
}
