//! What the canvas draws for each node and edge, apart from the SVG: the box a node occupies,
//! the lines of text on it, where an edge starts and ends, what a click or a rubber band hits,
//! and sizes written for people. Plain functions, tested natively.

use lockstep_shared::model::{Edge, Node, Point};
use std::collections::BTreeMap;

/// A node's box, centred on its position.
pub const NODE_W: f64 = 128.0;
pub const NODE_H: f64 = 48.0;

/// `bytes` in the largest binary unit that divides it (`10 GiB`, `512 MiB`, `1000 B`).
pub fn size_text(bytes: u64) -> String {
    for (unit, shift) in [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1u64 << shift) {
            return format!("{} {unit}", bytes >> shift);
        }
    }
    format!("{bytes} B")
}

/// The kind as the canvas labels it.
pub fn kind_label(n: &Node) -> &'static str {
    match n {
        Node::Image(_) => "image",
        Node::Quorum(_) => "quorum",
        Node::Replication(_) => "replication",
        Node::NbdClient(_) => "nbd client",
        Node::GuestDisk(_) => "guest disk",
    }
}

/// The key facts written on a node under its id.
pub fn facts(n: &Node) -> String {
    match n {
        Node::Image(i) => format!(
            "{} · {}{}",
            i.format.as_str(),
            size_text(i.size_bytes),
            if i.storage.as_str() == "block" {
                " · block"
            } else {
                ""
            }
        ),
        Node::Quorum(q) => format!("threshold {}", q.vote_threshold),
        Node::Replication(r) => format!("mode {}", serde_plain(&r.mode)),
        Node::NbdClient(_) => "to secondary".to_owned(),
        Node::GuestDisk(g) => format!("{} · {}", g.target, serde_plain(&g.bus)),
    }
}

/// A unit enum's serde name (`primary`, `virtio`).
pub fn serde_plain<T: serde::Serialize>(v: &T) -> String {
    lockstep_shared::json::compact(v)
        .trim_matches('"')
        .to_owned()
}

/// A unit enum from its serde name.
pub fn from_plain<T: serde::de::DeserializeOwned>(s: &str) -> Option<T> {
    T::deserialize(&serde_json::Value::from(s)).ok()
}

/// An edge's label: its kind, and a child's index.
pub fn edge_label(e: &Edge) -> String {
    match e.index {
        Some(i) => format!("{} {i}", e.kind.as_str()),
        None => e.kind.as_str().to_owned(),
    }
}

/// Where an edge from a node centred at `a` to one centred at `b` leaves and enters the
/// boxes (the edge of each box on the line between the centres).
pub fn edge_ends(a: Point, b: Point) -> (Point, Point) {
    let clip = |from: Point, to: Point| {
        let (dx, dy) = (to.x - from.x, to.y - from.y);
        if dx == 0.0 && dy == 0.0 {
            return from;
        }
        let tx = if dx == 0.0 {
            f64::INFINITY
        } else {
            (NODE_W / 2.0) / dx.abs()
        };
        let ty = if dy == 0.0 {
            f64::INFINITY
        } else {
            (NODE_H / 2.0) / dy.abs()
        };
        let t = tx.min(ty).min(1.0);
        Point {
            x: from.x + dx * t,
            y: from.y + dy * t,
        }
    };
    (clip(a, b), clip(b, a))
}

/// The node whose box holds `p` (the last drawn wins, as on screen).
pub fn hit<'a>(
    positions: &'a BTreeMap<String, Point>,
    order: &[&'a str],
    p: Point,
) -> Option<&'a str> {
    order.iter().rev().copied().find(|id| {
        positions
            .get(*id)
            .is_some_and(|c| (p.x - c.x).abs() <= NODE_W / 2.0 && (p.y - c.y).abs() <= NODE_H / 2.0)
    })
}

/// The nodes whose centres lie in the box spanned by `a` and `b` (a rubber band).
pub fn inside(positions: &BTreeMap<String, Point>, a: Point, b: Point) -> Vec<String> {
    let (x0, x1) = (a.x.min(b.x), a.x.max(b.x));
    let (y0, y1) = (a.y.min(b.y), a.y.max(b.y));
    positions
        .iter()
        .filter(|(_, p)| p.x >= x0 && p.x <= x1 && p.y >= y0 && p.y <= y1)
        .map(|(id, _)| id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(x: f64, y: f64) -> Point {
        Point { x, y }
    }

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(size_text(10 << 30), "10 GiB");
        assert_eq!(size_text(512 << 20), "512 MiB");
        assert_eq!(size_text(1536 << 20), "1536 MiB");
        assert_eq!(size_text(1000), "1000 B");
        assert_eq!(size_text(2 << 40), "2 TiB");
    }

    #[test]
    fn edges_end_on_the_boxes() {
        let (s, e) = edge_ends(p(0.0, 0.0), p(0.0, 200.0));
        assert!((s.y - NODE_H / 2.0).abs() < 1e-9 && (e.y - (200.0 - NODE_H / 2.0)).abs() < 1e-9);
        let (s, e) = edge_ends(p(0.0, 0.0), p(400.0, 0.0));
        assert!((s.x - NODE_W / 2.0).abs() < 1e-9 && (e.x - (400.0 - NODE_W / 2.0)).abs() < 1e-9);
        // Overlapping boxes: the ends stay between the centres.
        let (s, _) = edge_ends(p(0.0, 0.0), p(10.0, 0.0));
        assert_eq!(s.x, 10.0);
    }

    #[test]
    fn clicks_and_bands_find_nodes() {
        let positions = BTreeMap::from([
            ("a".to_owned(), p(0.0, 0.0)),
            ("b".to_owned(), p(50.0, 0.0)),
        ]);
        let order = ["a", "b"];
        assert_eq!(
            hit(&positions, &order, p(40.0, 10.0)),
            Some("b"),
            "the top one"
        );
        assert_eq!(hit(&positions, &order, p(-60.0, 0.0)), Some("a"));
        assert_eq!(hit(&positions, &order, p(0.0, 100.0)), None);
        assert_eq!(
            inside(&positions, p(60.0, 10.0), p(-10.0, -10.0)),
            vec!["a", "b"]
        );
        assert_eq!(inside(&positions, p(20.0, 10.0), p(60.0, -10.0)), vec!["b"]);
    }
}
