//! Secondary side (`colo-reference.md` §5 rules 13–21).

use super::{fmt_size, Report};
use crate::model::{
    EdgeKind, Graph, ImageFormat, ImageNode, Node, ReplicationMode, ReplicationNode, Side, Storage,
};
use std::collections::BTreeMap;

pub(crate) fn check(g: &Graph, r: &mut Report) {
    let mut by_path: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for img in g.doc.nodes.iter().filter_map(Node::as_image) {
        if img.side == Side::Secondary {
            by_path.entry(&img.path).or_default().push(&img.id);
        }
    }
    for rep in secondary_replications(g) {
        check_mode(rep, r);
        check_top(g, rep, r);
        if let Some(chain) = check_chain(g, rep, r) {
            check_overlay_format(&chain, r);
            check_overlay_storage(&chain, r);
            check_sizes(&chain, r);
            check_overlay_placement(&by_path, &chain, r);
            check_disk_exported(g, &chain, r);
            check_distinct_from_primary(g, &chain, r);
        }
    }
    check_quorum_shape(g, r);
    check_images_used_once(g, r);
    check_same_host(g, r);
}

struct Chain<'a> {
    active: &'a ImageNode,
    hidden: &'a ImageNode,
    disk: &'a ImageNode,
}

fn secondary_replications<'a>(g: &Graph<'a>) -> impl Iterator<Item = &'a ReplicationNode> {
    g.doc
        .nodes
        .iter()
        .filter_map(Node::as_replication)
        .filter(|r| r.side == Side::Secondary)
}

/// Rule 13: mode secondary (`top-id` is rendered from the quorum above it).
fn check_mode(rep: &ReplicationNode, r: &mut Report) {
    if rep.mode != ReplicationMode::Secondary {
        r.push(
            "E013",
            &[&rep.id],
            format!(
                "replication node '{}' is on the secondary but has mode 'primary'",
                rep.id
            ),
            "set mode to 'secondary'",
        );
    }
}

/// Rule 14: the replication node is the only child of a secondary quorum that a guest disk is
/// attached to; that quorum is the root rendered as `top-id`.
fn check_top(g: &Graph, rep: &ReplicationNode, r: &mut Report) {
    let parents = g.in_edges(&rep.id, EdgeKind::Child);
    let quorum = match parents.as_slice() {
        [e] => g.node(&e.from).and_then(Node::as_quorum),
        _ => None,
    };
    let Some(q) = quorum else {
        r.push(
            "E014",
            &[&rep.id],
            format!(
                "secondary replication node '{}' is a child of {} quorums; it must be child 0 of \
                 exactly one (its top-id)",
                rep.id,
                parents.len()
            ),
            "connect the secondary quorum to it with a child edge of index 0",
        );
        return;
    };
    if g.in_edges(&q.id, EdgeKind::Attach).is_empty() {
        r.push(
            "E014",
            &[&q.id, &rep.id],
            format!(
                "secondary quorum '{}' above replication node '{}' is not attached to a guest \
                 disk, so it cannot be the top-id root",
                q.id, rep.id
            ),
            "attach the secondary guest disk to this quorum",
        );
    }
}

/// Rule 15: `replication.file = active`, `active.backing = hidden`, `hidden.backing = disk`.
fn check_chain<'a>(g: &Graph<'a>, rep: &ReplicationNode, r: &mut Report) -> Option<Chain<'a>> {
    let mut fail = |subjects: &[&str], msg: String| {
        r.push(
            "E015",
            subjects,
            msg,
            "build the chain replication -file-> active -backing-> hidden -backing-> secondary disk",
        );
    };
    let files = g.out_edges(&rep.id, EdgeKind::File);
    let active = match files.as_slice() {
        [e] => g.node(&e.to).and_then(Node::as_image),
        _ => None,
    };
    let Some(active) = active else {
        fail(
            &[&rep.id],
            format!(
                "secondary replication node '{}' needs exactly one file edge to the active image; \
                 it has {}",
                rep.id,
                files.len()
            ),
        );
        return None;
    };
    let Some(hidden) = g
        .only_target(&active.id, EdgeKind::Backing)
        .and_then(Node::as_image)
    else {
        fail(
            &[&active.id],
            format!(
                "active image '{}' needs exactly one backing edge to the hidden image",
                active.id
            ),
        );
        return None;
    };
    let Some(disk) = g
        .only_target(&hidden.id, EdgeKind::Backing)
        .and_then(Node::as_image)
    else {
        fail(
            &[&hidden.id],
            format!(
                "hidden image '{}' needs exactly one backing edge to the secondary disk",
                hidden.id
            ),
        );
        return None;
    };
    if !g.out_edges(&disk.id, EdgeKind::Backing).is_empty() {
        fail(
            &[&disk.id],
            format!(
                "secondary disk '{}' has a backing node; the chain ends at the secondary disk",
                disk.id
            ),
        );
    }
    Some(Chain {
        active,
        hidden,
        disk,
    })
}

/// Rule 16: active and hidden are qcow2 (they must support `bdrv_make_empty` and backing files).
fn check_overlay_format(c: &Chain, r: &mut Report) {
    for (role, img) in [("active", c.active), ("hidden", c.hidden)] {
        if img.format != ImageFormat::Qcow2 {
            r.push(
                "E016",
                &[&img.id],
                format!(
                    "{role} image '{}' is {}; it must be qcow2 (replication empties it at every \
                     checkpoint)",
                    img.id,
                    img.format.as_str()
                ),
                "set its format to qcow2",
            );
        }
    }
}

/// Rule 18: active and hidden are qcow2 files that the plan recreates empty (`qemu-img create`)
/// at every start; a block device cannot be one.
fn check_overlay_storage(c: &Chain, r: &mut Report) {
    for (role, img) in [("active", c.active), ("hidden", c.hidden)] {
        if img.storage == Storage::Block {
            r.push(
                "E064",
                &[&img.id],
                format!(
                    "{role} image '{}' is on a block device ({:?}); overlays are qcow2 files \
                     recreated empty at every start",
                    img.id, img.path
                ),
                "set its storage to 'file' and put it under /dev/shm or another tmpfs",
            );
        }
    }
}

/// Rule 17: active, hidden and secondary disk have the same virtual size.
fn check_sizes(c: &Chain, r: &mut Report) {
    for (role, img) in [("active", c.active), ("hidden", c.hidden)] {
        if img.size_bytes != c.disk.size_bytes {
            r.push(
                "E017",
                &[&img.id, &c.disk.id],
                format!(
                    "{role} image '{}' is {} but secondary disk '{}' is {}",
                    img.id,
                    fmt_size(img.size_bytes),
                    c.disk.id,
                    fmt_size(c.disk.size_bytes)
                ),
                "give active, hidden and secondary disk the same virtual size",
            );
        }
    }
}

/// Rule 18: active and hidden are recreated empty at every secondary start, so their paths must
/// never be another image's; they belong on tmpfs.
fn check_overlay_placement(by_path: &BTreeMap<&str, Vec<&str>>, c: &Chain, r: &mut Report) {
    if c.active.path == c.hidden.path {
        r.push(
            "E018",
            &[&c.active.id, &c.hidden.id],
            format!(
                "active image '{}' and hidden image '{}' share the path {:?}",
                c.active.id, c.hidden.id, c.active.path
            ),
            "give active and hidden their own files",
        );
    }
    for overlay in [c.active, c.hidden] {
        let others = by_path.get(overlay.path.as_str()).into_iter().flatten();
        for &other in others {
            if other != c.active.id && other != c.hidden.id {
                r.push(
                    "E018",
                    &[&overlay.id, other],
                    format!(
                        "overlay '{}' uses the path {:?} of image '{other}'; overlays are \
                         recreated empty at every start, which would destroy that image",
                        overlay.id, overlay.path
                    ),
                    "put active and hidden images in their own files, e.g. under /dev/shm",
                );
            }
        }
        if !overlay.path.starts_with("/dev/shm/") && !overlay.path.starts_with("/run/") {
            r.push(
                "W018",
                &[&overlay.id],
                format!(
                    "overlay '{}' is at {:?}, not on tmpfs; every checkpoint rewrites it",
                    overlay.id, overlay.path
                ),
                "place active and hidden images under /dev/shm or another tmpfs",
            );
        }
    }
}

/// Rule 19: the secondary disk is exported to the primary (exactly one nbd edge reaches it).
fn check_disk_exported(g: &Graph, c: &Chain, r: &mut Report) {
    let n = g.in_edges(&c.disk.id, EdgeKind::Nbd).len();
    if n != 1 {
        r.push(
            "E019",
            &[&c.disk.id],
            format!(
                "secondary disk '{}' is reached by {n} NBD clients; it must be exported to exactly \
                 one",
                c.disk.id
            ),
            "draw one nbd edge from the primary's NBD client to this disk",
        );
    }
}

fn same_host(g: &Graph) -> bool {
    super::hosts::same_host(&g.doc.hosts.primary, &g.doc.hosts.secondary)
}

/// Rule 21: each QEMU has its own copy of the disk.
fn check_distinct_from_primary(g: &Graph, c: &Chain, r: &mut Report) {
    if !same_host(g) {
        return;
    }
    for img in g.doc.nodes.iter().filter_map(Node::as_image) {
        if img.side == Side::Primary
            && [c.disk, c.active, c.hidden]
                .iter()
                .any(|s| s.path == img.path)
        {
            r.push(
                "E021",
                &[&img.id],
                format!(
                    "primary image '{}' and a secondary image share the path {:?} on the same \
                     host; two QEMUs cannot use one image",
                    img.id, img.path
                ),
                "give the secondary its own copy of the disk",
            );
        }
    }
}

fn check_same_host(g: &Graph, r: &mut Report) {
    let (p, s) = (&g.doc.hosts.primary, &g.doc.hosts.secondary);
    if let Some(why) = super::hosts::same_host_reason(&p.name, &p.address, &s.name, &s.address) {
        r.push(
            "W021",
            &["hosts"],
            format!(
                "primary '{}' ({}) and secondary '{}' ({}) are the same host ({why}); losing it \
                 loses both",
                p.name, p.address, s.name, s.address
            ),
            "use two physical hosts for fault tolerance (one host is fine for testing)",
        );
    }
}

/// Rule 20: the secondary quorum mirrors the primary's: its only child, index 0, is the
/// replication node.
fn check_quorum_shape(g: &Graph, r: &mut Report) {
    for q in g
        .doc
        .nodes
        .iter()
        .filter_map(Node::as_quorum)
        .filter(|q| q.side == Side::Secondary)
    {
        let kids = g.children(&q.id);
        let ok = matches!(kids.as_slice(), [e] if e.index == Some(0)
            && g.node(&e.to).and_then(Node::as_replication).is_some());
        if !ok {
            let shown: Vec<&str> = kids.iter().map(|e| e.to.as_str()).collect();
            r.push(
                "E020",
                &[&q.id],
                format!(
                    "secondary quorum '{}' has children [{}]; it must have exactly one, the \
                     replication node, at index 0",
                    q.id,
                    shown.join(", ")
                ),
                "connect the quorum to the secondary replication node only",
            );
        }
    }
}

/// An image belongs to one place in the graph (the secondary disk may also be exported).
fn check_images_used_once(g: &Graph, r: &mut Report) {
    for img in g.doc.nodes.iter().filter_map(Node::as_image) {
        let parents: usize = [EdgeKind::Child, EdgeKind::File, EdgeKind::Backing]
            .iter()
            .map(|k| g.in_edges(&img.id, *k).len())
            .sum();
        if parents > 1 {
            r.push(
                "E048",
                &[&img.id],
                format!(
                    "image '{}' has {parents} parents; each image is used once",
                    img.id
                ),
                "give each parent its own image",
            );
        }
    }
    let mut by_path: BTreeMap<(Side, &str), Vec<&str>> = BTreeMap::new();
    for img in g.doc.nodes.iter().filter_map(Node::as_image) {
        by_path
            .entry((img.side, &img.path))
            .or_default()
            .push(&img.id);
    }
    for ((side, path), ids) in by_path {
        if ids.len() > 1 {
            r.push(
                "E048",
                &ids,
                format!(
                    "{} images {} all use the path {path:?}",
                    side.as_str(),
                    ids.iter()
                        .map(|i| format!("'{i}'"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "give every image its own file",
            );
        }
    }
}
