//! The resolved COLO topology: for each protected disk, the nodes that play each role.
//!
//! Validation checks the graph node by node; the renderers need the roles (local image, remote
//! leg, active, hidden, secondary disk). The same lookups serve both, so what validation accepted
//! is exactly what gets rendered.

use crate::model::{
    EdgeKind, Graph, GuestDiskNode, ImageNode, NbdClientNode, Node, QuorumNode, ReplicationNode,
    Side,
};

/// The primary side of one protected disk.
#[derive(Debug, Clone)]
pub struct PrimaryChain<'a> {
    pub device: &'a GuestDiskNode,
    pub quorum: &'a QuorumNode,
    pub local: &'a ImageNode,
    pub replication: &'a ReplicationNode,
    pub nbd: &'a NbdClientNode,
    /// The secondary disk the NBD client reaches.
    pub remote: &'a ImageNode,
    /// Index of the remote leg among the quorum's children (its child name is `children.N`).
    pub remote_index: u32,
}

/// The secondary side of one protected disk.
#[derive(Debug, Clone)]
pub struct SecondaryChain<'a> {
    pub device: &'a GuestDiskNode,
    pub quorum: &'a QuorumNode,
    pub replication: &'a ReplicationNode,
    pub active: &'a ImageNode,
    pub hidden: &'a ImageNode,
    pub disk: &'a ImageNode,
}

/// One protected disk, both sides.
#[derive(Debug, Clone)]
pub struct DiskPair<'a> {
    pub primary: PrimaryChain<'a>,
    pub secondary: SecondaryChain<'a>,
}

fn image<'a>(g: &Graph<'a>, id: &str) -> Option<&'a ImageNode> {
    g.node(id)?.as_image()
}

/// The quorum a guest disk is attached to, if exactly one.
pub fn attached_quorum<'a>(g: &Graph<'a>, device: &str) -> Option<&'a QuorumNode> {
    g.only_target(device, EdgeKind::Attach)?.as_quorum()
}

pub fn primary_chain<'a>(g: &Graph<'a>, device: &'a GuestDiskNode) -> Option<PrimaryChain<'a>> {
    let quorum = attached_quorum(g, &device.id)?;
    let kids = g.children(&quorum.id);
    let mut local = None;
    let mut remote = None;
    for e in &kids {
        match g.node(&e.to)? {
            Node::Image(i) if e.index == Some(0) => local = Some(i),
            Node::Replication(r) => remote = Some((r, e.index?)),
            Node::Image(_) | Node::Quorum(_) | Node::NbdClient(_) | Node::GuestDisk(_) => {
                return None
            }
        }
    }
    let (replication, remote_index) = remote?;
    let nbd = g
        .only_target(&replication.id, EdgeKind::File)?
        .as_nbd_client()?;
    let target = g.out_edges(&nbd.id, EdgeKind::Nbd);
    let remote_disk = match target.as_slice() {
        [e] => image(g, &e.to)?,
        _ => return None,
    };
    Some(PrimaryChain {
        device,
        quorum,
        local: local?,
        replication,
        nbd,
        remote: remote_disk,
        remote_index,
    })
}

pub fn secondary_chain<'a>(g: &Graph<'a>, device: &'a GuestDiskNode) -> Option<SecondaryChain<'a>> {
    let quorum = attached_quorum(g, &device.id)?;
    let replication = match g.children(&quorum.id).as_slice() {
        [e] => g.node(&e.to)?.as_replication()?,
        _ => return None,
    };
    let active = g.only_target(&replication.id, EdgeKind::File)?.as_image()?;
    let hidden = g.only_target(&active.id, EdgeKind::Backing)?.as_image()?;
    let disk = g.only_target(&hidden.id, EdgeKind::Backing)?.as_image()?;
    Some(SecondaryChain {
        device,
        quorum,
        replication,
        active,
        hidden,
        disk,
    })
}

/// Guest disks of one side, sorted by target (the order every renderer uses).
pub fn guest_disks<'a>(g: &Graph<'a>, side: Side) -> Vec<&'a GuestDiskNode> {
    let mut v: Vec<&GuestDiskNode> = g
        .doc
        .nodes
        .iter()
        .filter_map(Node::as_guest_disk)
        .filter(|d| d.side == side)
        .collect();
    v.sort_by(|a, b| (&a.target, &a.id).cmp(&(&b.target, &b.id)));
    v
}

/// Every protected disk, paired by guest target; `None` unless the graph is complete.
pub fn resolve<'a>(g: &Graph<'a>) -> Option<Vec<DiskPair<'a>>> {
    let prim = guest_disks(g, Side::Primary);
    let sec = guest_disks(g, Side::Secondary);
    if prim.len() != sec.len() || prim.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for (p, s) in prim.into_iter().zip(sec) {
        if p.target != s.target {
            return None;
        }
        let primary = primary_chain(g, p)?;
        let secondary = secondary_chain(g, s)?;
        if primary.remote.id != secondary.disk.id {
            return None;
        }
        out.push(DiskPair { primary, secondary });
    }
    Some(out)
}
