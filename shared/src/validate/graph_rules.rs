//! Graph shape and identifiers (`colo-reference.md` §5 rules 1–5 and 7).

use super::Report;
use crate::model::{is_block_edge, EdgeKind, FnvMap, Graph, ImageFormat, Node, ReadPattern, Side};
use crate::render::names::{self, MAX_NODE_NAME};
use std::collections::BTreeSet;

pub(crate) fn check(g: &Graph, r: &mut Report) {
    check_unique_ids(g, r);
    check_id_wellformed(g, r);
    check_id_reserved(g, r);
    check_edges_resolve(g, r);
    check_edge_shapes(g, r);
    check_edge_sides(g, r);
    check_acyclic(g, r);
    check_quorum_params(g, r);
    check_has_guest_disk(g, r);
    check_unused_nodes(g, r);
}

/// Rule 3/4: ids are unique among nodes, among edges, and among NICs.
fn check_unique_ids(g: &Graph, r: &mut Report) {
    let mut count: FnvMap<(&str, &str), usize> = FnvMap::default();
    for n in &g.doc.nodes {
        *count.entry(("node", n.id())).or_default() += 1;
    }
    for e in &g.doc.edges {
        *count.entry(("edge", &e.id)).or_default() += 1;
    }
    for n in &g.doc.nics {
        *count.entry(("NIC", &n.id)).or_default() += 1;
    }
    let mut dups: Vec<((&str, &str), usize)> = count.into_iter().filter(|(_, c)| *c > 1).collect();
    dups.sort();
    for ((what, id), c) in dups {
        {
            r.push(
                "E003",
                &[id],
                format!("{what} id '{id}' is used {c} times"),
                "give every node, edge and NIC its own id",
            );
        }
    }
}

/// Rule 3: node ids become QEMU node names: at most 31 characters, letter first, then letters,
/// digits, '-', '.', '_' (`bdrv_assign_node_name`, `id_wellformed`).
fn check_id_wellformed(g: &Graph, r: &mut Report) {
    for n in &g.doc.nodes {
        let id = n.id();
        let problem = if !names::is_wellformed_id(id) {
            Some("must start with a letter and contain only letters, digits, '-', '.' or '_'")
        } else if n.is_block_node() && id.len() > MAX_NODE_NAME {
            Some("is longer than 31 characters, QEMU's node-name limit")
        } else {
            None
        };
        if let Some(p) = problem {
            r.push(
                "E044",
                &[id],
                format!("{} id {id:?} {p}", n.kind_name()),
                "rename the node, e.g. 'pdisk0'",
            );
        }
    }
    for e in &g.doc.edges {
        if e.id.is_empty() || e.id.chars().any(char::is_control) || e.id.len() > 128 {
            r.push(
                "E044",
                &[&e.id],
                format!(
                    "edge id {:?} is empty, too long or has control characters",
                    e.id
                ),
                "use a short printable id such as 'e-q0-d0'",
            );
        }
    }
}

/// Names libvirt generates for its own devices and nodes (`libvirt-N-format`, `hostnet0`,
/// `virtio-disk0`, `iothread1`, ...) and the `ua-` device ids Lockstep derives.
pub(crate) fn reserved_reason(id: &str) -> Option<&'static str> {
    let lower = id.to_ascii_lowercase();
    if lower.starts_with("libvirt-") {
        return Some("starts with 'libvirt-', libvirt's node-name prefix");
    }
    if lower.starts_with("ua-") {
        return Some("starts with 'ua-', the prefix of device ids");
    }
    if lower.starts_with("lockstep-") {
        return Some("starts with 'lockstep-', reserved for Lockstep's own objects");
    }
    if lower.starts_with("sync-") {
        return Some("starts with 'sync-', reserved for Lockstep's sync jobs");
    }
    const GENERATED: [&str; 12] = [
        "hostnet",
        "net",
        "virtio-disk",
        "iothread",
        "ide",
        "sata",
        "scsi",
        "usb",
        "pci",
        "video",
        "balloon",
        "drive-virtio-disk",
    ];
    for p in GENERATED {
        if let Some(rest) = lower.strip_prefix(p) {
            if !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()) {
                return Some("looks like a name libvirt generates for its own devices");
            }
        }
    }
    None
}

/// Rule 4: ids that would clash with libvirt's own names or Lockstep's derived ids.
fn check_id_reserved(g: &Graph, r: &mut Report) {
    for n in &g.doc.nodes {
        if let Some(why) = reserved_reason(n.id()) {
            r.push(
                "E004",
                &[n.id()],
                format!("node id '{}' {why}", n.id()),
                "choose another id",
            );
        }
    }
}

/// Rule 2: every edge endpoint names an existing node.
fn check_edges_resolve(g: &Graph, r: &mut Report) {
    for e in &g.doc.edges {
        for (end, id) in [("from", &e.from), ("to", &e.to)] {
            if g.node(id).is_none() {
                r.push(
                    "E002",
                    &[&e.id],
                    format!(
                        "{} edge '{}' {end} '{id}' names no node",
                        e.kind.as_str(),
                        e.id
                    ),
                    "point the edge at an existing node id, or delete it",
                );
            }
        }
    }
}

/// Whether an edge of `kind` may go from `from` to `to` (E046), and why not. The editor offers
/// only the kinds this allows.
pub fn edge_allowed(kind: EdgeKind, from: &Node, to: &Node) -> Result<(), &'static str> {
    match (kind, from, to) {
        (EdgeKind::Child, Node::Quorum(_), Node::Image(_) | Node::Replication(_)) => Ok(()),
        (EdgeKind::Child, _, _) => Err("a child edge goes from a quorum to an image or replication node"),
        (EdgeKind::File, Node::Replication(_), Node::NbdClient(_) | Node::Image(_)) => Ok(()),
        (EdgeKind::File, _, _) => {
            Err("a file edge goes from a replication node to an NBD client (primary) or image (secondary)")
        }
        (EdgeKind::Backing, Node::Image(a), Node::Image(_)) => match a.format {
            ImageFormat::Qcow2 => Ok(()),
            ImageFormat::Raw => Err("a raw image cannot have a backing node; only qcow2 can"),
        },
        (EdgeKind::Backing, _, _) => Err("a backing edge goes from a qcow2 image to an image"),
        (EdgeKind::Nbd, Node::NbdClient(_), Node::Image(_)) => Ok(()),
        (EdgeKind::Nbd, _, _) => Err("an nbd edge goes from an NBD client to the secondary disk image"),
        (EdgeKind::Attach, Node::GuestDisk(_), Node::Quorum(_)) => Ok(()),
        (EdgeKind::Attach, _, _) => Err("an attach edge goes from a guest disk to its quorum"),
    }
}

/// Edges connect the kinds of node they are defined for.
fn check_edge_shapes(g: &Graph, r: &mut Report) {
    for e in &g.doc.edges {
        let (Some(from), Some(to)) = (g.node(&e.from), g.node(&e.to)) else {
            continue;
        };
        if let Err(why) = edge_allowed(e.kind, from, to) {
            r.push(
                "E046",
                &[&e.id],
                format!(
                    "{} edge '{}' goes from {} '{}' to {} '{}': {why}",
                    e.kind.as_str(),
                    e.id,
                    from.kind_name(),
                    from.id(),
                    to.kind_name(),
                    to.id()
                ),
                "delete the edge or connect the right nodes",
            );
        }
        if e.kind != EdgeKind::Child && e.index.is_some() {
            r.push(
                "E046",
                &[&e.id],
                format!(
                    "{} edge '{}' has an index; only child edges do",
                    e.kind.as_str(),
                    e.id
                ),
                "remove 'index' from the edge",
            );
        }
    }
}

/// Whether an edge of `kind` may join `from`'s side to `to`'s (E047): only nbd crosses, from
/// the primary to the secondary.
pub fn edge_sides_allowed(kind: EdgeKind, from: &Node, to: &Node) -> bool {
    match kind {
        EdgeKind::Nbd => from.side() == Side::Primary && to.side() == Side::Secondary,
        EdgeKind::Child | EdgeKind::File | EdgeKind::Backing | EdgeKind::Attach => {
            from.side() == to.side()
        }
    }
}

/// The edge kinds that may go from `from` to `to` (E046 and E047 both hold).
pub fn allowed_edge_kinds(from: &Node, to: &Node) -> Vec<EdgeKind> {
    [
        EdgeKind::Attach,
        EdgeKind::Child,
        EdgeKind::File,
        EdgeKind::Backing,
        EdgeKind::Nbd,
    ]
    .into_iter()
    .filter(|k| edge_allowed(*k, from, to).is_ok() && edge_sides_allowed(*k, from, to))
    .collect()
}

/// Only the nbd edge crosses hosts, and it goes from the primary to the secondary.
fn check_edge_sides(g: &Graph, r: &mut Report) {
    for e in &g.doc.edges {
        let (Some(from), Some(to)) = (g.node(&e.from), g.node(&e.to)) else {
            continue;
        };
        if !edge_sides_allowed(e.kind, from, to) {
            r.push(
                "E047",
                &[&e.id],
                format!(
                    "{} edge '{}' joins '{}' ({}) to '{}' ({}); only an nbd edge crosses hosts, \
                     from primary to secondary",
                    e.kind.as_str(),
                    e.id,
                    from.id(),
                    from.side().as_str(),
                    to.id(),
                    to.side().as_str()
                ),
                "keep each side's nodes connected on that side",
            );
        }
    }
}

/// Rule 1: the block graph (child, file, backing) has no cycle.
fn check_acyclic(g: &Graph, r: &mut Report) {
    // Iterative three-colour DFS over node indexes; each cycle is reported once, keyed by its
    // smallest node id.
    let nodes = &g.doc.nodes;
    let mut state = vec![0u8; nodes.len()];
    let mut reported = BTreeSet::new();
    for start in 0..nodes.len() {
        if state[start] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, Vec<usize>)> =
            vec![(start, g.successors(start, is_block_edge).collect())];
        state[start] = 1;
        while let Some((cur, kids)) = stack.last_mut() {
            let cur = *cur;
            let Some(next) = kids.pop() else {
                state[cur] = 2;
                stack.pop();
                continue;
            };
            match state[next] {
                0 => {
                    state[next] = 1;
                    stack.push((next, g.successors(next, is_block_edge).collect()));
                }
                1 => {
                    let pos = stack.iter().position(|(n, _)| *n == next).unwrap_or(0);
                    let ids: Vec<&str> = stack[pos..].iter().map(|(n, _)| nodes[*n].id()).collect();
                    let key = ids.iter().min().copied().unwrap_or_default();
                    if reported.insert(key.to_owned()) {
                        let mut shown = ids.clone();
                        shown.push(nodes[next].id());
                        r.push(
                            "E001",
                            &ids,
                            format!("the block graph has a cycle: {}", shown.join(" -> ")),
                            "remove one of the child/file/backing edges in the cycle",
                        );
                    }
                }
                _ => {}
            }
        }
    }
}

/// Rule 7: quorum parameters QEMU accepts; children indexed 0..n without gaps or repeats.
fn check_quorum_params(g: &Graph, r: &mut Report) {
    for n in &g.doc.nodes {
        let Node::Quorum(q) = n else { continue };
        let kids = g.out_edges(&q.id, EdgeKind::Child);
        if kids.is_empty() {
            r.push(
                "E007",
                &[&q.id],
                format!("quorum '{}' has no children; QEMU needs 1 or more", q.id),
                "connect the quorum to its local image with a child edge",
            );
        }
        if q.vote_threshold < 1 || q.vote_threshold as usize > kids.len().max(1) {
            r.push(
                "E007",
                &[&q.id],
                format!(
                    "quorum '{}' has vote_threshold {} with {} children; it must be between 1 and \
                     the number of children",
                    q.id,
                    q.vote_threshold,
                    kids.len()
                ),
                "set vote_threshold to 1 for COLO",
            );
        }
        let mut idx: Vec<Option<u32>> = kids.iter().map(|e| e.index).collect();
        idx.sort();
        let expected: Vec<Option<u32>> = (0..kids.len() as u32).map(Some).collect();
        if idx != expected {
            let shown: Vec<String> = kids
                .iter()
                .map(|e| match e.index {
                    Some(i) => format!("{}={i}", e.id),
                    None => format!("{}=(none)", e.id),
                })
                .collect();
            r.push(
                "E007",
                &[&q.id],
                format!(
                    "child edges of quorum '{}' must be indexed 0..{} without gaps or repeats; \
                     found {}",
                    q.id,
                    kids.len(),
                    shown.join(", ")
                ),
                "number the quorum's child edges 0, 1, ... (0 is the local disk)",
            );
        }
        if q.read_pattern != ReadPattern::Fifo {
            r.push(
                "E006",
                &[&q.id],
                format!(
                    "quorum '{}' has read_pattern 'quorum'; COLO needs 'fifo' so reads stay on \
                     the local disk",
                    q.id
                ),
                "set read_pattern to 'fifo'",
            );
        }
        if q.vote_threshold != 1 && kids.len() >= q.vote_threshold as usize {
            r.push(
                "E006",
                &[&q.id],
                format!(
                    "quorum '{}' has vote_threshold {}; COLO needs 1 so guest writes continue \
                     when the remote leg fails",
                    q.id, q.vote_threshold
                ),
                "set vote_threshold to 1",
            );
        }
    }
}

fn check_has_guest_disk(g: &Graph, r: &mut Report) {
    for side in [Side::Primary, Side::Secondary] {
        let any = g
            .doc
            .nodes
            .iter()
            .any(|n| matches!(n, Node::GuestDisk(d) if d.side == side));
        if !any {
            r.push(
                "E062",
                &[&format!("nodes.{}", side.as_str())],
                format!(
                    "the {} side has no guest disk; there is nothing to protect",
                    side.as_str()
                ),
                "add a guest-disk node on each side, or start from `lockstep new`",
            );
        }
    }
}

/// Nodes that no guest disk reaches are never rendered.
fn check_unused_nodes(g: &Graph, r: &mut Report) {
    let nodes = &g.doc.nodes;
    let mut used = vec![false; nodes.len()];
    let mut stack: Vec<usize> = (0..nodes.len())
        .filter(|&i| matches!(nodes[i], Node::GuestDisk(_)))
        .collect();
    while let Some(cur) = stack.pop() {
        if std::mem::replace(&mut used[cur], true) {
            continue;
        }
        stack.extend(g.successors(cur, |_| true));
    }
    for n in nodes {
        // Duplicated ids share the first occurrence's edges.
        let first = g.node_index(n.id()).unwrap_or(0);
        if !used[first] {
            r.push(
                "W063",
                &[n.id()],
                format!(
                    "{} '{}' is not reachable from any guest disk and will not be rendered",
                    n.kind_name(),
                    n.id()
                ),
                "connect it or delete it",
            );
        }
    }
}
