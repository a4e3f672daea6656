//! Where the editor draws each node, apart from the SVG: the automatic layout (layered by edge
//! direction, primary on the left, secondary on the right, one block per connected group), the
//! positions a document's `layout` does not give, and fitting a drawing into a viewport.

use lockstep_shared::model::{Document, EdgeKind, Point, Side};
use std::collections::{BTreeMap, BTreeSet};

/// Horizontal distance between nodes of one layer.
pub const COLUMN: f64 = 150.0;
/// Vertical distance between layers.
pub const ROW: f64 = 90.0;
/// Space between the primary's drawing and the secondary's (the NBD link crosses it).
pub const GAP: f64 = 260.0;

/// Positions for every node: layered by edge direction on each side (a guest disk above its
/// quorum, the quorum above its children, replication above what it filters, an overlay above
/// its backing image), each connected group in its own block, the primary on the left. Broken
/// graphs (cycles, dangling edges) get a layout too.
pub fn auto_layout(doc: &Document) -> BTreeMap<String, Point> {
    let mut out = BTreeMap::new();
    let mut x0 = 0.0;
    for side in [Side::Primary, Side::Secondary] {
        let ids: Vec<&str> = doc
            .nodes
            .iter()
            .filter(|n| n.side() == side)
            .map(|n| n.id())
            .collect();
        let members: BTreeSet<&str> = ids.iter().copied().collect();
        let edges: Vec<(&str, &str)> = doc
            .edges
            .iter()
            .filter(|e| e.kind != EdgeKind::Nbd)
            .map(|e| (e.from.as_str(), e.to.as_str()))
            .filter(|(a, b)| members.contains(a) && members.contains(b) && a != b)
            .collect();
        // Longest path from a root: in topological order (Kahn); nodes on a cycle, which that
        // order never reaches, stay where their reached predecessors put them.
        let mut depth: BTreeMap<&str, usize> = ids.iter().map(|id| (*id, 0)).collect();
        let mut incoming: BTreeMap<&str, usize> = ids.iter().map(|id| (*id, 0)).collect();
        let mut out_edges: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (a, b) in &edges {
            *incoming.entry(b).or_default() += 1;
            out_edges.entry(a).or_default().push(b);
        }
        let mut ready: Vec<&str> = ids.iter().copied().filter(|id| incoming[id] == 0).collect();
        while let Some(n) = ready.pop() {
            let d = depth[n] + 1;
            for m in out_edges.get(n).into_iter().flatten() {
                if depth[m] < d {
                    depth.insert(m, d);
                }
                let left = incoming.entry(m).or_default();
                *left -= 1;
                if *left == 0 {
                    ready.push(m);
                }
            }
        }
        // Connected groups, in document order of their first node.
        let mut neighbours: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (a, b) in &edges {
            neighbours.entry(a).or_default().push(b);
            neighbours.entry(b).or_default().push(a);
        }
        let mut group: BTreeMap<&str, usize> = BTreeMap::new();
        let mut groups = 0;
        for id in &ids {
            if group.contains_key(id) {
                continue;
            }
            let mut stack = vec![*id];
            while let Some(n) = stack.pop() {
                if group.insert(n, groups).is_some() {
                    continue;
                }
                for m in neighbours.get(n).into_iter().flatten() {
                    if !group.contains_key(m) {
                        stack.push(m);
                    }
                }
            }
            groups += 1;
        }
        let mut members_of: Vec<Vec<&str>> = vec![Vec::new(); groups];
        for id in &ids {
            members_of[group[id]].push(id);
        }
        let mut y0 = 0.0;
        let mut width: f64 = 0.0;
        for group_ids in members_of {
            let mut column: BTreeMap<usize, usize> = BTreeMap::new();
            let mut deepest = 0;
            for id in &group_ids {
                let d = depth[id];
                let c = column.entry(d).or_insert(0);
                out.insert(
                    (*id).to_owned(),
                    Point {
                        x: x0 + *c as f64 * COLUMN,
                        y: y0 + d as f64 * ROW,
                    },
                );
                width = width.max(*c as f64 * COLUMN);
                *c += 1;
                deepest = deepest.max(d);
            }
            y0 += (deepest + 1) as f64 * ROW + ROW / 2.0;
        }
        x0 += width + GAP;
    }
    out
}

/// Where each node is drawn: its `layout` position, or the automatic one when it has none.
pub fn positions(doc: &Document) -> BTreeMap<String, Point> {
    let missing = doc
        .nodes
        .iter()
        .any(|n| !doc.layout.positions.contains_key(n.id()));
    let auto = if missing {
        auto_layout(doc)
    } else {
        BTreeMap::new()
    };
    doc.nodes
        .iter()
        .filter_map(|n| {
            let id = n.id();
            let p = doc.layout.positions.get(id).or_else(|| auto.get(id))?;
            Some((id.to_owned(), *p))
        })
        .collect()
}

/// The smallest box around the points (`None` for none).
pub fn bounds<'a>(points: impl IntoIterator<Item = &'a Point>) -> Option<(Point, Point)> {
    points.into_iter().fold(None, |b, p| {
        Some(match b {
            None => (*p, *p),
            Some((lo, hi)) => (
                Point {
                    x: lo.x.min(p.x),
                    y: lo.y.min(p.y),
                },
                Point {
                    x: hi.x.max(p.x),
                    y: hi.y.max(p.y),
                },
            ),
        })
    })
}

/// Scale and offset that fit a box (plus `margin` around it) into a `width` × `height`
/// viewport, centred, never enlarged beyond 2×: screen = point × scale + offset.
pub fn fit(b: (Point, Point), width: f64, height: f64, margin: f64) -> (f64, Point) {
    let (lo, hi) = b;
    let w = (hi.x - lo.x) + 2.0 * margin;
    let h = (hi.y - lo.y) + 2.0 * margin;
    let scale = (width / w.max(1.0)).min(height / h.max(1.0)).min(2.0);
    let offset = Point {
        x: (width - (hi.x - lo.x) * scale) / 2.0 - lo.x * scale,
        y: (height - (hi.y - lo.y) * scale) / 2.0 - lo.y * scale,
    };
    (scale, offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::starter_document;

    fn starter() -> Document {
        Document::from_json(&starter_document()).expect("starter")
    }

    #[test]
    fn layers_follow_edges_and_sides_do_not_overlap() {
        let mut doc = starter();
        doc.layout.positions.clear();
        let p = positions(&doc);
        assert_eq!(p.len(), doc.nodes.len());
        let y = |id: &str| p[id].y;
        assert!(y("p-vda") < y("pquorum0"));
        assert!(y("pquorum0") < y("pdisk0") && y("pquorum0") < y("prep0"));
        assert!(y("prep0") < y("pnbd0"));
        assert!(y("squorum0") < y("srep0") && y("srep0") < y("sactive0"));
        assert!(y("sactive0") < y("shidden0") && y("shidden0") < y("sdisk0"));
        let primary_right = doc
            .nodes
            .iter()
            .filter(|n| n.side() == Side::Primary)
            .map(|n| p[n.id()].x)
            .fold(f64::MIN, f64::max);
        let secondary_left = doc
            .nodes
            .iter()
            .filter(|n| n.side() == Side::Secondary)
            .map(|n| p[n.id()].x)
            .fold(f64::MAX, f64::min);
        assert!(secondary_left >= primary_right + GAP);
        let distinct: BTreeSet<(i64, i64)> = p.values().map(|q| (q.x as i64, q.y as i64)).collect();
        assert_eq!(distinct.len(), p.len(), "no two nodes in one place");
    }

    #[test]
    fn given_positions_are_kept_and_broken_graphs_still_lay_out() {
        let doc = starter();
        assert_eq!(positions(&doc)["pdisk0"], doc.layout.positions["pdisk0"]);
        let mut cyclic = starter();
        cyclic.layout.positions.clear();
        cyclic.edges.push(lockstep_shared::model::Edge {
            id: "loop".into(),
            kind: EdgeKind::Backing,
            from: "sdisk0".into(),
            to: "sactive0".into(),
            index: None,
        });
        let p = auto_layout(&cyclic);
        assert_eq!(p.len(), cyclic.nodes.len());
        assert!(p.values().all(|q| q.x.is_finite() && q.y.is_finite()));
    }

    #[test]
    fn fitting_centres_the_drawing_in_the_viewport() {
        let b = bounds(
            [
                Point { x: 0.0, y: 0.0 },
                Point {
                    x: 1000.0,
                    y: 500.0,
                },
            ]
            .iter(),
        )
        .expect("bounds");
        let (scale, off) = fit(b, 800.0, 600.0, 0.0);
        assert!((scale - 0.8).abs() < 1e-9);
        let screen = |p: Point| (p.x * scale + off.x, p.y * scale + off.y);
        assert_eq!(screen(Point { x: 0.0, y: 0.0 }), (0.0, 100.0));
        assert_eq!(
            screen(Point {
                x: 1000.0,
                y: 500.0
            }),
            (800.0, 500.0)
        );
        assert!(bounds(std::iter::empty()).is_none());
    }
}
