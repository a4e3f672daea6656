//! A read-only index over a document's nodes and edges, tolerant of broken input.
//!
//! Validation runs on arbitrary documents, so lookups return `Option`/empty lists instead of
//! assuming that ids are unique or that edges point anywhere. When ids repeat, the first node wins
//! here; the duplicate itself is reported by the id rules.

use super::{Document, Edge, EdgeKind, Node};
use std::collections::BTreeMap;

pub struct Graph<'a> {
    pub doc: &'a Document,
    by_id: BTreeMap<&'a str, &'a Node>,
    out: BTreeMap<&'a str, Vec<&'a Edge>>,
    inc: BTreeMap<&'a str, Vec<&'a Edge>>,
}

impl<'a> Graph<'a> {
    pub fn new(doc: &'a Document) -> Graph<'a> {
        let mut by_id = BTreeMap::new();
        for n in &doc.nodes {
            by_id.entry(n.id()).or_insert(n);
        }
        let mut out: BTreeMap<&str, Vec<&Edge>> = BTreeMap::new();
        let mut inc: BTreeMap<&str, Vec<&Edge>> = BTreeMap::new();
        for e in &doc.edges {
            out.entry(e.from.as_str()).or_default().push(e);
            inc.entry(e.to.as_str()).or_default().push(e);
        }
        Graph {
            doc,
            by_id,
            out,
            inc,
        }
    }

    pub fn node(&self, id: &str) -> Option<&'a Node> {
        self.by_id.get(id).copied()
    }

    /// Edges leaving `id` of the given kind, in document order.
    pub fn out_edges(&self, id: &str, kind: EdgeKind) -> Vec<&'a Edge> {
        self.out
            .get(id)
            .map(|v| v.iter().copied().filter(|e| e.kind == kind).collect())
            .unwrap_or_default()
    }

    /// Edges arriving at `id` of the given kind, in document order.
    pub fn in_edges(&self, id: &str, kind: EdgeKind) -> Vec<&'a Edge> {
        self.inc
            .get(id)
            .map(|v| v.iter().copied().filter(|e| e.kind == kind).collect())
            .unwrap_or_default()
    }

    /// The single target of an edge kind that should appear at most once, if exactly one exists.
    pub fn only_target(&self, id: &str, kind: EdgeKind) -> Option<&'a Node> {
        match self.out_edges(id, kind).as_slice() {
            [e] => self.node(&e.to),
            _ => None,
        }
    }

    /// A quorum's children sorted by index (missing indexes sort last, ties by document order).
    pub fn children(&self, quorum: &str) -> Vec<&'a Edge> {
        let mut v = self.out_edges(quorum, EdgeKind::Child);
        v.sort_by_key(|e| e.index.unwrap_or(u32::MAX));
        v
    }

    /// Every edge from `id` that makes up the block graph (child, file, backing).
    pub fn block_children(&self, id: &str) -> Vec<&'a Edge> {
        self.out
            .get(id)
            .map(|v| {
                v.iter()
                    .copied()
                    .filter(|e| match e.kind {
                        EdgeKind::Child | EdgeKind::File | EdgeKind::Backing => true,
                        EdgeKind::Nbd | EdgeKind::Attach => false,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether `target` is reachable from `from` through block-graph edges.
    pub fn reaches(&self, from: &str, target: &str) -> bool {
        let mut seen = std::collections::BTreeSet::new();
        let mut stack = vec![from];
        while let Some(cur) = stack.pop() {
            if cur == target {
                return true;
            }
            if !seen.insert(cur) {
                continue;
            }
            for e in self.block_children(cur) {
                stack.push(e.to.as_str());
            }
        }
        false
    }
}
