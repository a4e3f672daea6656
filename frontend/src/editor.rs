//! The graph editor's state: the document, the selection and the undo history, changed only by
//! [`Editor::apply`] with an [`Edit`]. Plain Rust, tested natively; the SVG view (not here)
//! draws it and turns pointer and keyboard input into edits.
//!
//! Every edit leaves a document that parses (schema-valid); it may still have findings, which
//! the view shows live. Edits that cannot apply (an edge kind the validator does not allow
//! between two nodes, an unknown id) are refused with a reason and change nothing. Undo and
//! redo restore whole documents; consecutive moves of the same nodes (one drag) are one step.

use lockstep_shared::model::{
    DiskBus, Document, Edge, EdgeKind, GuestDiskNode, ImageFormat, ImageNode, NbdClientNode, Node,
    Point, QuorumNode, ReadPattern, ReplicationMode, ReplicationNode, Side, Storage,
};
use lockstep_shared::validate::allowed_edge_kinds;
use lockstep_shared::wizard::{add_protected_disk, DiskSpec};
use std::collections::BTreeSet;

/// Most undo steps kept.
pub const MAX_UNDO: usize = 200;

/// What is selected: nodes and edges by id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Item {
    Node(String),
    Edge(String),
}

/// The kinds of node the palette offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Image,
    Quorum,
    Replication,
    NbdClient,
    GuestDisk,
}

/// One change a user makes.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// A new node of `kind` on `side` at `at`, with defaults and a fresh id; it is selected.
    AddNode {
        kind: NodeKind,
        side: Side,
        at: Point,
    },
    /// An edge of `kind` from one node to another (only kinds [`Editor::edge_kinds`] offers).
    Connect {
        from: String,
        to: String,
        kind: EdgeKind,
    },
    /// Deletes the selection, and every edge that touches a deleted node.
    DeleteSelection,
    /// Moves nodes by an offset.
    Move { ids: Vec<String>, dx: f64, dy: f64 },
    /// Replaces a node (the properties panel); its id must stay.
    SetNode(Node),
    /// Replaces an edge (the properties panel: a child's index); its id must stay.
    SetEdge(Edge),
    /// The whole chain for one disk on both sides (the wizard's shape).
    AddProtectedDisk { disk: DiskSpec, overlay_dir: String },
    /// A document edited as JSON.
    Replace(Box<Document>),
    /// Every node placed by the automatic layout ([`crate::geometry::auto_layout`]).
    AutoLayout,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Editor {
    doc: Document,
    selection: BTreeSet<Item>,
    undo: Vec<Document>,
    redo: Vec<Document>,
    /// The ids the last edit moved, while a drag goes on (moves of them merge into one step).
    dragging: Option<Vec<String>>,
}

impl Editor {
    pub fn new(doc: Document) -> Editor {
        Editor {
            doc,
            selection: BTreeSet::new(),
            undo: Vec::new(),
            redo: Vec::new(),
            dragging: None,
        }
    }

    pub fn document(&self) -> &Document {
        &self.doc
    }

    pub fn selection(&self) -> &BTreeSet<Item> {
        &self.selection
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    /// Selects `item` alone, or adds it to the selection (`extend`, as with Shift).
    pub fn select(&mut self, item: Item, extend: bool) {
        if !extend {
            self.selection.clear();
        }
        self.selection.insert(item);
    }

    /// Selects exactly `items` (a rubber band).
    pub fn select_all_of(&mut self, items: impl IntoIterator<Item = Item>) {
        self.selection = items.into_iter().collect();
    }

    pub fn clear_selection(&mut self) {
        self.selection.clear();
    }

    /// The edge kinds that may join `from` to `to`: what the connect handle offers.
    pub fn edge_kinds(&self, from: &str, to: &str) -> Vec<EdgeKind> {
        match (self.doc.node(from), self.doc.node(to)) {
            (Some(a), Some(b)) if from != to => allowed_edge_kinds(a, b),
            _ => Vec::new(),
        }
    }

    /// Applies an edit; `Err` says why it cannot, and nothing changed.
    pub fn apply(&mut self, edit: Edit) -> Result<(), String> {
        let mut doc = self.doc.clone();
        let mut select = None;
        let drag = match &edit {
            Edit::Move { ids, .. } => Some(ids.clone()),
            _ => None,
        };
        match edit {
            Edit::AddNode { kind, side, at } => {
                let node = new_node(&doc, kind, side);
                let id = node.id().to_owned();
                doc.layout.positions.insert(id.clone(), at);
                doc.nodes.push(node);
                select = Some(Item::Node(id));
            }
            Edit::Connect { from, to, kind } => {
                if !self.edge_kinds(&from, &to).contains(&kind) {
                    return Err(format!(
                        "a {} edge cannot go from '{from}' to '{to}'",
                        kind.as_str()
                    ));
                }
                let index = (kind == EdgeKind::Child).then(|| {
                    doc.edges
                        .iter()
                        .filter(|e| e.kind == EdgeKind::Child && e.from == from)
                        .filter_map(|e| e.index)
                        .map(|i| i + 1)
                        .max()
                        .unwrap_or(0)
                });
                let id = fresh_id(&doc, &format!("{}-{from}-{to}", kind.as_str()), |d, id| {
                    d.edges.iter().any(|e| e.id == id)
                });
                doc.edges.push(Edge {
                    id: id.clone(),
                    kind,
                    from,
                    to,
                    index,
                });
                select = Some(Item::Edge(id));
            }
            Edit::DeleteSelection => {
                if self.selection.is_empty() {
                    return Err("nothing is selected".to_owned());
                }
                let (mut nodes, mut edges) = (BTreeSet::new(), BTreeSet::new());
                for item in &self.selection {
                    match item {
                        Item::Node(id) => nodes.insert(id.as_str()),
                        Item::Edge(id) => edges.insert(id.as_str()),
                    };
                }
                doc.nodes.retain(|n| !nodes.contains(n.id()));
                doc.edges.retain(|e| {
                    !edges.contains(e.id.as_str())
                        && !nodes.contains(e.from.as_str())
                        && !nodes.contains(e.to.as_str())
                });
                doc.layout
                    .positions
                    .retain(|id, _| !nodes.contains(id.as_str()));
            }
            Edit::Move { ids, dx, dy } => {
                if !dx.is_finite() || !dy.is_finite() {
                    return Err("a move needs finite offsets".to_owned());
                }
                for id in &ids {
                    if doc.node(id).is_none() {
                        return Err(format!("there is no node '{id}'"));
                    }
                    let p = doc
                        .layout
                        .positions
                        .entry(id.clone())
                        .or_insert(Point { x: 0.0, y: 0.0 });
                    p.x += dx;
                    p.y += dy;
                }
            }
            Edit::SetNode(node) => {
                let Some(slot) = doc.nodes.iter_mut().find(|n| n.id() == node.id()) else {
                    return Err(format!("there is no node '{}'", node.id()));
                };
                *slot = node;
            }
            Edit::SetEdge(edge) => {
                let Some(slot) = doc.edges.iter_mut().find(|e| e.id == edge.id) else {
                    return Err(format!("there is no edge '{}'", edge.id));
                };
                *slot = edge;
            }
            Edit::AddProtectedDisk { disk, overlay_dir } => {
                add_protected_disk(&mut doc, &disk, &overlay_dir);
            }
            Edit::Replace(new) => doc = *new,
            Edit::AutoLayout => doc.layout.positions = crate::geometry::auto_layout(&doc),
        }
        let merge = drag.is_some() && drag == self.dragging;
        if !merge {
            self.undo.push(std::mem::replace(&mut self.doc, doc));
            if self.undo.len() > MAX_UNDO {
                self.undo.remove(0);
            }
        } else {
            self.doc = doc;
        }
        self.redo.clear();
        self.dragging = drag;
        self.prune_selection();
        if let Some(s) = select {
            self.selection = BTreeSet::from([s]);
        }
        Ok(())
    }

    /// Ends a drag: the next move is a step of its own.
    pub fn end_drag(&mut self) {
        self.dragging = None;
    }

    pub fn undo(&mut self) -> bool {
        self.step(true)
    }

    pub fn redo(&mut self) -> bool {
        self.step(false)
    }

    fn step(&mut self, back: bool) -> bool {
        let (from, to) = if back {
            (&mut self.undo, &mut self.redo)
        } else {
            (&mut self.redo, &mut self.undo)
        };
        let Some(doc) = from.pop() else {
            return false;
        };
        to.push(std::mem::replace(&mut self.doc, doc));
        self.dragging = None;
        self.prune_selection();
        true
    }

    /// What no longer exists is no longer selected.
    fn prune_selection(&mut self) {
        let d = &self.doc;
        self.selection.retain(|i| match i {
            Item::Node(id) => d.node(id).is_some(),
            Item::Edge(id) => d.edges.iter().any(|e| &e.id == id),
        });
    }
}

/// `base`, or `base-2`, `base-3`, ... : the first that `taken` says is free.
fn fresh_id(doc: &Document, base: &str, taken: impl Fn(&Document, &str) -> bool) -> String {
    if !taken(doc, base) {
        return base.to_owned();
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|id| !taken(doc, id))
        .unwrap_or_else(|| base.to_owned())
}

/// A node of `kind` with the defaults a new one gets, and a fresh id such as `pquorum3`.
fn new_node(doc: &Document, kind: NodeKind, side: Side) -> Node {
    let prefix = match side {
        Side::Primary => "p",
        Side::Secondary => "s",
    };
    let stem = match kind {
        NodeKind::Image => "image",
        NodeKind::Quorum => "quorum",
        NodeKind::Replication => "rep",
        NodeKind::NbdClient => "nbd",
        NodeKind::GuestDisk => "dev",
    };
    let id = (0..)
        .map(|n| format!("{prefix}{stem}{n}"))
        .find(|id| doc.node(id).is_none())
        .unwrap_or_default();
    match kind {
        NodeKind::Image => Node::Image(ImageNode {
            path: format!("/var/lib/colo/{}-{id}.qcow2", doc.guest.name),
            id,
            side,
            storage: Storage::File,
            format: ImageFormat::Qcow2,
            size_bytes: 10 << 30,
        }),
        NodeKind::Quorum => Node::Quorum(QuorumNode {
            id,
            side,
            vote_threshold: 1,
            read_pattern: ReadPattern::Fifo,
        }),
        NodeKind::Replication => Node::Replication(ReplicationNode {
            id,
            side,
            mode: match side {
                Side::Primary => ReplicationMode::Primary,
                Side::Secondary => ReplicationMode::Secondary,
            },
        }),
        NodeKind::NbdClient => Node::NbdClient(NbdClientNode { id, side }),
        NodeKind::GuestDisk => {
            let targets: BTreeSet<&str> = doc
                .nodes
                .iter()
                .filter_map(Node::as_guest_disk)
                .filter(|g| g.side == side)
                .map(|g| g.target.as_str())
                .collect();
            let target = (b'a'..=b'z')
                .map(|c| format!("vd{}", c as char))
                .find(|t| !targets.contains(t.as_str()))
                .unwrap_or_else(|| "vdz".to_owned());
            Node::GuestDisk(GuestDiskNode {
                id,
                side,
                bus: DiskBus::Virtio,
                target,
                pci_slot: 0x10,
                pci_function: 0,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::starter_document;
    use lockstep_shared::validate::validate;

    fn editor() -> Editor {
        Editor::new(Document::from_json(&starter_document()).expect("starter"))
    }

    /// The document survives a JSON round trip: every edit keeps it schema-valid.
    fn schema_valid(e: &Editor) {
        let text = e.document().to_json_pretty();
        assert_eq!(
            &Document::from_json(&text).expect("parses"),
            e.document(),
            "round trip"
        );
    }

    fn codes(d: &Document) -> Vec<String> {
        validate(d).into_iter().map(|f| f.code).collect()
    }

    #[test]
    fn connect_offers_only_what_the_validator_allows() {
        let e = editor();
        assert_eq!(e.edge_kinds("pquorum0", "pdisk0"), vec![EdgeKind::Child]);
        assert_eq!(e.edge_kinds("p-vda", "pquorum0"), vec![EdgeKind::Attach]);
        assert_eq!(e.edge_kinds("pnbd0", "sdisk0"), vec![EdgeKind::Nbd]);
        assert_eq!(
            e.edge_kinds("sactive0", "shidden0"),
            vec![EdgeKind::Backing]
        );
        // Across hosts only nbd; never backwards; never to itself.
        assert!(e.edge_kinds("pquorum0", "sdisk0").is_empty());
        assert!(e.edge_kinds("sdisk0", "pnbd0").is_empty());
        assert!(e.edge_kinds("pdisk0", "pdisk0").is_empty());
        let mut e = e;
        let before = e.document().clone();
        let r = e.apply(Edit::Connect {
            from: "pdisk0".into(),
            to: "pquorum0".into(),
            kind: EdgeKind::Child,
        });
        assert!(r.is_err());
        assert_eq!(e.document(), &before, "a refused edit changes nothing");
        assert!(!e.can_undo());
    }

    #[test]
    fn every_edit_undoes_and_redoes_to_the_same_documents() {
        let mut e = editor();
        let start = e.document().clone();
        let edits = vec![
            Edit::AddNode {
                kind: NodeKind::Quorum,
                side: Side::Primary,
                at: Point { x: 10.0, y: 20.0 },
            },
            Edit::AddNode {
                kind: NodeKind::Image,
                side: Side::Primary,
                at: Point { x: 10.0, y: 120.0 },
            },
            Edit::Connect {
                from: "pquorum1".into(),
                to: "pimage0".into(),
                kind: EdgeKind::Child,
            },
            Edit::Move {
                ids: vec!["pquorum1".into()],
                dx: 5.0,
                dy: -3.0,
            },
            Edit::AutoLayout,
            Edit::AddProtectedDisk {
                disk: DiskSpec {
                    path: "/dev/vg0/data".into(),
                    secondary_path: None,
                    size_bytes: 20 << 30,
                    format: ImageFormat::Raw,
                    storage: None,
                    secondary_storage: None,
                },
                overlay_dir: "/dev/shm/lockstep".into(),
            },
        ];
        let mut states = vec![start.clone()];
        for edit in edits {
            e.apply(edit).expect("applies");
            schema_valid(&e);
            states.push(e.document().clone());
        }
        e.select(Item::Node("pquorum1".into()), false);
        e.apply(Edit::DeleteSelection).expect("delete");
        schema_valid(&e);
        assert!(e.document().edges.iter().all(|x| x.from != "pquorum1"));
        states.push(e.document().clone());
        for want in states.iter().rev().skip(1) {
            assert!(e.undo());
            assert_eq!(e.document(), want);
        }
        assert!(!e.undo());
        for want in states.iter().skip(1) {
            assert!(e.redo());
            assert_eq!(e.document(), want);
        }
        assert!(!e.redo());
    }

    #[test]
    fn a_drag_is_one_undo_step() {
        let mut e = editor();
        let start = e.document().clone();
        for _ in 0..30 {
            e.apply(Edit::Move {
                ids: vec!["pdisk0".into(), "pquorum0".into()],
                dx: 1.0,
                dy: 2.0,
            })
            .expect("move");
        }
        e.end_drag();
        let p = e.document().layout.positions["pdisk0"];
        let p0 = start.layout.positions["pdisk0"];
        assert_eq!((p.x - p0.x, p.y - p0.y), (30.0, 60.0));
        assert!(e.undo());
        assert_eq!(e.document(), &start);
        assert!(!e.can_undo());
    }

    #[test]
    fn adding_a_protected_disk_adds_a_clean_chain() {
        let mut e = editor();
        assert!(codes(e.document()).is_empty());
        for path in ["/var/lib/colo/b.qcow2", "/dev/vg0/c"] {
            e.apply(Edit::AddProtectedDisk {
                disk: DiskSpec {
                    path: path.into(),
                    secondary_path: None,
                    size_bytes: 10 << 30,
                    format: ImageFormat::Qcow2,
                    storage: None,
                    secondary_storage: None,
                },
                overlay_dir: "/dev/shm/lockstep".into(),
            })
            .expect("adds");
        }
        assert_eq!(codes(e.document()), Vec::<String>::new());
        let disks: Vec<(&str, u32)> = e
            .document()
            .nodes
            .iter()
            .filter_map(Node::as_guest_disk)
            .filter(|g| g.side == Side::Primary)
            .map(|g| (g.target.as_str(), g.pci_slot))
            .collect();
        assert_eq!(disks, vec![("vda", 0x10), ("vdb", 0x11), ("vdc", 0x12)]);
        let c = e
            .document()
            .node("pdisk2")
            .and_then(Node::as_image)
            .expect("pdisk2");
        assert_eq!(c.storage, Storage::Block);
    }

    #[test]
    fn deleting_a_node_takes_its_edges_and_findings_show_it() {
        let mut e = editor();
        e.select(Item::Node("shidden0".into()), false);
        e.apply(Edit::DeleteSelection).expect("delete");
        assert!(e.selection().is_empty());
        assert!(e
            .document()
            .edges
            .iter()
            .all(|x| x.from != "shidden0" && x.to != "shidden0"));
        assert!(!e.document().layout.positions.contains_key("shidden0"));
        assert!(codes(e.document()).iter().any(|c| c == "E015"));
        assert!(e.apply(Edit::DeleteSelection).is_err(), "nothing selected");
    }

    mod random {
        use super::*;
        use proptest::prelude::*;

        /// One user action: an edit over the nodes there are (picked by index), or undo/redo.
        #[derive(Debug, Clone)]
        enum Action {
            Add(u8, bool, i16, i16),
            Connect(usize, usize, u8),
            Select(usize, bool),
            Delete,
            Move(usize, i16, i16),
            Disk(bool),
            Undo,
            Redo,
        }

        fn action() -> impl Strategy<Value = Action> {
            prop_oneof![
                (0u8..5, any::<bool>(), any::<i16>(), any::<i16>())
                    .prop_map(|(k, s, x, y)| Action::Add(k, s, x, y)),
                (0usize..64, 0usize..64, 0u8..5).prop_map(|(a, b, k)| Action::Connect(a, b, k)),
                (0usize..64, any::<bool>()).prop_map(|(i, x)| Action::Select(i, x)),
                Just(Action::Delete),
                (0usize..64, any::<i16>(), any::<i16>())
                    .prop_map(|(i, x, y)| Action::Move(i, x, y)),
                any::<bool>().prop_map(Action::Disk),
                Just(Action::Undo),
                Just(Action::Redo),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
            #[test]
            fn any_sequence_keeps_the_document_valid_json_and_undoes_to_the_start(
                actions in proptest::collection::vec(action(), 1..40)
            ) {
                let mut e = editor();
                let start = e.document().clone();
                let kinds = [NodeKind::Image, NodeKind::Quorum, NodeKind::Replication,
                             NodeKind::NbdClient, NodeKind::GuestDisk];
                let edges = [EdgeKind::Attach, EdgeKind::Child, EdgeKind::File,
                             EdgeKind::Backing, EdgeKind::Nbd];
                for a in actions {
                    let ids: Vec<String> =
                        e.document().nodes.iter().map(|n| n.id().to_owned()).collect();
                    let pick = |i: usize| ids.get(i % ids.len().max(1)).cloned().unwrap_or_default();
                    let _ = match a {
                        Action::Add(k, s, x, y) => e.apply(Edit::AddNode {
                            kind: kinds[usize::from(k) % 5],
                            side: if s { Side::Primary } else { Side::Secondary },
                            at: Point { x: f64::from(x), y: f64::from(y) },
                        }),
                        Action::Connect(a, b, k) => e.apply(Edit::Connect {
                            from: pick(a), to: pick(b), kind: edges[usize::from(k) % 5],
                        }),
                        Action::Select(i, x) => {
                            e.select(Item::Node(pick(i)), x);
                            Ok(())
                        }
                        Action::Delete => e.apply(Edit::DeleteSelection),
                        Action::Move(i, x, y) => e.apply(Edit::Move {
                            ids: vec![pick(i)], dx: f64::from(x), dy: f64::from(y),
                        }),
                        Action::Disk(block) => e.apply(Edit::AddProtectedDisk {
                            disk: DiskSpec {
                                path: if block { "/dev/vg0/x".into() } else { "/srv/x.img".into() },
                                secondary_path: None,
                                size_bytes: 1 << 30,
                                format: ImageFormat::Raw,
                                storage: None,
                                secondary_storage: None,
                            },
                            overlay_dir: "/dev/shm/lockstep".into(),
                        }),
                        Action::Undo => { e.undo(); Ok(()) }
                        Action::Redo => { e.redo(); Ok(()) }
                    };
                    e.end_drag();
                    schema_valid(&e);
                    // Every edge the editor made is one the validator accepts (no E046/E047).
                    let bad: Vec<String> = codes(e.document()).into_iter()
                        .filter(|c| c == "E046" || c == "E047").collect();
                    prop_assert!(bad.is_empty(), "{bad:?}");
                }
                while e.undo() {}
                prop_assert_eq!(e.document(), &start);
            }
        }
    }
}
