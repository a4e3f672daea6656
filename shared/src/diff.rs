//! Structural diff between two versions of a document: nodes, edges and NICs added, removed or
//! changed (matched by id), and settings changed (matched by field path). Layout moves are
//! counted, not listed. Output is sorted, so the same pair of versions always gives the same
//! diff.

use crate::model::Document;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Change {
    pub kind: ChangeKind,
    /// `node`, `edge`, `nic` or `setting`.
    pub what: String,
    /// The node/edge/NIC id, or the setting's path (`guest.memory_mib`).
    pub id: String,
    /// For a changed node, edge or NIC: the fields that differ.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Diff {
    pub changes: Vec<Change>,
    /// Nodes whose editor position changed (not listed as changes).
    pub layout_moves: usize,
}

fn by_id<T: Serialize>(items: &[T], id: impl Fn(&T) -> &str) -> BTreeMap<String, Value> {
    let mut m = BTreeMap::new();
    for it in items {
        // Duplicate ids are a validation error; the first one wins here.
        m.entry(id(it).to_owned())
            .or_insert_with(|| serde_json::to_value(it).unwrap_or(Value::Null));
    }
    m
}

fn changed_fields(a: &Value, b: &Value) -> Vec<String> {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return vec![String::new()];
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

fn compare(
    what: &str,
    a: BTreeMap<String, Value>,
    b: &BTreeMap<String, Value>,
    out: &mut Vec<Change>,
) {
    for (id, av) in &a {
        match b.get(id) {
            None => out.push(Change {
                kind: ChangeKind::Removed,
                what: what.to_owned(),
                id: id.clone(),
                fields: Vec::new(),
                before: Some(av.clone()),
                after: None,
            }),
            Some(bv) if bv != av => out.push(Change {
                kind: ChangeKind::Changed,
                what: what.to_owned(),
                id: id.clone(),
                fields: changed_fields(av, bv),
                before: Some(av.clone()),
                after: Some(bv.clone()),
            }),
            Some(_) => {}
        }
    }
    for (id, bv) in b {
        if !a.contains_key(id) {
            out.push(Change {
                kind: ChangeKind::Added,
                what: what.to_owned(),
                id: id.clone(),
                fields: Vec::new(),
                before: None,
                after: Some(bv.clone()),
            });
        }
    }
}

/// Leaf values of a JSON object by dotted path.
fn leaves(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                leaves(&format!("{prefix}.{k}"), x, out);
            }
        }
        other => {
            out.insert(prefix.to_owned(), other.clone());
        }
    }
}

fn settings(d: &Document) -> BTreeMap<String, Value> {
    let mut m = BTreeMap::new();
    leaves("schema_version", &Value::from(d.schema_version), &mut m);
    leaves(
        "guest",
        &serde_json::to_value(&d.guest).unwrap_or(Value::Null),
        &mut m,
    );
    leaves(
        "hosts",
        &serde_json::to_value(&d.hosts).unwrap_or(Value::Null),
        &mut m,
    );
    leaves(
        "colo",
        &serde_json::to_value(&d.colo).unwrap_or(Value::Null),
        &mut m,
    );
    m
}

/// What changed from `a` to `b`.
pub fn diff(a: &Document, b: &Document) -> Diff {
    let mut changes = Vec::new();
    compare("setting", settings(a), &settings(b), &mut changes);
    compare(
        "node",
        by_id(&a.nodes, |n| n.id()),
        &by_id(&b.nodes, |n| n.id()),
        &mut changes,
    );
    compare(
        "edge",
        by_id(&a.edges, |e| &e.id),
        &by_id(&b.edges, |e| &e.id),
        &mut changes,
    );
    compare(
        "nic",
        by_id(&a.nics, |n| &n.id),
        &by_id(&b.nics, |n| &n.id),
        &mut changes,
    );
    // Settings entries carry no field list: the id is already the field.
    for c in &mut changes {
        if c.what == "setting" {
            c.fields.clear();
        }
    }
    changes.sort_by(|x, y| (&x.what, &x.id, x.kind).cmp(&(&y.what, &y.id, y.kind)));
    let layout_moves = a
        .layout
        .positions
        .iter()
        .filter(|(id, p)| b.layout.positions.get(*id).is_some_and(|q| q != *p))
        .count();
    Diff {
        changes,
        layout_moves,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Node, Point};

    fn base() -> Document {
        let text = include_str!("../../test-data/one-disk-qcow2/input.json");
        Document::from_json(text).expect("corpus")
    }

    #[test]
    fn identical_documents_have_no_diff() {
        let d = diff(&base(), &base());
        assert!(d.changes.is_empty());
        assert_eq!(d.layout_moves, 0);
    }

    #[test]
    fn settings_nodes_edges_and_layout() {
        let a = base();
        let mut b = base();
        b.guest.memory_mib = 4096;
        b.colo.nbd_port = 9500;
        if let Some(Node::Image(i)) = b.nodes.iter_mut().find(|n| n.id() == "sdisk0") {
            i.path = "/srv/copy.qcow2".into();
        }
        b.nodes.retain(|n| n.id() != "pnbd0");
        b.edges.retain(|e| e.id != "file-prep0-pnbd0");
        b.layout
            .positions
            .insert("pdisk0".into(), Point { x: 1.0, y: 2.0 });
        let d = diff(&a, &b);
        let summary: Vec<(ChangeKind, &str, &str)> = d
            .changes
            .iter()
            .map(|c| (c.kind, c.what.as_str(), c.id.as_str()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (ChangeKind::Removed, "edge", "file-prep0-pnbd0"),
                (ChangeKind::Removed, "node", "pnbd0"),
                (ChangeKind::Changed, "node", "sdisk0"),
                (ChangeKind::Changed, "setting", "colo.nbd_port"),
                (ChangeKind::Changed, "setting", "guest.memory_mib"),
            ]
        );
        let sdisk = &d.changes[2];
        assert_eq!(sdisk.fields, vec!["path"]);
        assert_eq!(d.changes[4].before, Some(Value::from(1024)));
        assert_eq!(d.changes[4].after, Some(Value::from(4096)));
        assert_eq!(d.layout_moves, 1);
        // Reversed, additions and removals swap.
        let back = diff(&b, &a);
        assert!(back
            .changes
            .iter()
            .any(|c| c.kind == ChangeKind::Added && c.id == "pnbd0"));
    }
}
