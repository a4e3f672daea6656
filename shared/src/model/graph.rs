//! A read-only index over a document's nodes and edges, tolerant of broken input.
//!
//! Validation runs on arbitrary documents, so lookups return `Option`/empty lists instead of
//! assuming that ids are unique or that edges point anywhere. When ids repeat, the first node wins
//! here; the duplicate itself is reported by the id rules.

use super::{Document, Edge, EdgeKind, Node};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// FNV-1a: ids are short, so a simple hash beats SipHash by a wide margin here. Only used for
/// lookups; nothing iterates a map in hash order, so output stays deterministic.
#[derive(Default, Clone, Copy)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
        self.0 = h;
    }
}

/// A `HashMap` keyed with [`Fnv`].
pub type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

pub struct Graph<'a> {
    pub doc: &'a Document,
    /// Node id to the index of its first occurrence in `doc.nodes`.
    index: FnvMap<&'a str, usize>,
    /// Per edge: indexes of its `from` and `to` nodes, when they exist.
    ends: Vec<(Option<usize>, Option<usize>)>,
    /// Per node: indexes of the edges leaving it / arriving at it, in document order.
    out: Vec<Vec<usize>>,
    inc: Vec<Vec<usize>>,
}

/// Whether an edge kind is part of the block graph (what QEMU opens as children).
pub fn is_block_edge(kind: EdgeKind) -> bool {
    match kind {
        EdgeKind::Child | EdgeKind::File | EdgeKind::Backing => true,
        EdgeKind::Nbd | EdgeKind::Attach => false,
    }
}

impl<'a> Graph<'a> {
    pub fn new(doc: &'a Document) -> Graph<'a> {
        let mut index = FnvMap::with_capacity_and_hasher(doc.nodes.len(), Default::default());
        for (i, n) in doc.nodes.iter().enumerate() {
            index.entry(n.id()).or_insert(i);
        }
        let mut out = vec![Vec::new(); doc.nodes.len()];
        let mut inc = vec![Vec::new(); doc.nodes.len()];
        let mut ends = Vec::with_capacity(doc.edges.len());
        for (ei, e) in doc.edges.iter().enumerate() {
            let from = index.get(e.from.as_str()).copied();
            let to = index.get(e.to.as_str()).copied();
            if let Some(f) = from {
                out[f].push(ei);
            }
            if let Some(t) = to {
                inc[t].push(ei);
            }
            ends.push((from, to));
        }
        Graph {
            doc,
            index,
            ends,
            out,
            inc,
        }
    }

    pub fn node(&self, id: &str) -> Option<&'a Node> {
        self.index.get(id).map(|&i| &self.doc.nodes[i])
    }

    /// Index of the node with this id (its first occurrence).
    pub fn node_index(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    fn edges_of(&self, list: &[Vec<usize>], id: &str, kind: EdgeKind) -> Vec<&'a Edge> {
        let doc: &'a Document = self.doc;
        match self.index.get(id) {
            Some(&i) => list[i]
                .iter()
                .map(|&ei| &doc.edges[ei])
                .filter(|e| e.kind == kind)
                .collect(),
            None => Vec::new(),
        }
    }

    /// Edges leaving `id` of the given kind, in document order.
    pub fn out_edges(&self, id: &str, kind: EdgeKind) -> Vec<&'a Edge> {
        self.edges_of(&self.out, id, kind)
    }

    /// Edges arriving at `id` of the given kind, in document order.
    pub fn in_edges(&self, id: &str, kind: EdgeKind) -> Vec<&'a Edge> {
        self.edges_of(&self.inc, id, kind)
    }

    /// The single target of an edge kind that should appear at most once, if exactly one exists.
    pub fn only_target(&self, id: &str, kind: EdgeKind) -> Option<&'a Node> {
        let i = *self.index.get(id)?;
        let mut found = None;
        for &ei in &self.out[i] {
            if self.doc.edges[ei].kind == kind {
                if found.is_some() {
                    return None;
                }
                found = Some(ei);
            }
        }
        self.ends[found?].1.map(|t| &self.doc.nodes[t])
    }

    /// A quorum's children sorted by index (missing indexes sort last, ties by document order).
    pub fn children(&self, quorum: &str) -> Vec<&'a Edge> {
        let mut v = self.out_edges(quorum, EdgeKind::Child);
        v.sort_by_key(|e| e.index.unwrap_or(u32::MAX));
        v
    }

    /// Node indexes reached from node `i` through edges for which `follow` holds, in document
    /// order of the edges (dangling edges are skipped).
    pub fn successors(
        &self,
        i: usize,
        follow: fn(EdgeKind) -> bool,
    ) -> impl Iterator<Item = usize> + '_ {
        self.out[i]
            .iter()
            .filter(move |&&ei| follow(self.doc.edges[ei].kind))
            .filter_map(|&ei| self.ends[ei].1)
    }
}
