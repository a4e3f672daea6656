//! The graph canvas: the two hosts side by side in SVG, every node and edge drawn by kind,
//! and the pointer and keyboard turned into editor edits (select, rubber band, drag, connect,
//! delete, undo and redo, zoom, pan, fit).

use super::EditorHandle;
use crate::drawing::{edge_ends, edge_label, facts, hit, inside, kind_label, NODE_H, NODE_W};
use crate::editor::{Edit, Item, NodeKind};
use crate::geometry::{bounds, fit, positions};
use lockstep_shared::diff::ChangeKind;
use lockstep_shared::model::{EdgeKind, Node, Point, Side};
use lockstep_shared::validate::Finding;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use yew::prelude::*;

/// Screen = world × scale + offset.
#[derive(Debug, Clone, Copy, PartialEq)]
struct View {
    scale: f64,
    offset: Point,
}

/// What a pointer press started.
#[derive(Debug, Clone, PartialEq)]
enum Mode {
    Idle,
    /// `node` was pressed; a press without a move selects it alone (unless Shift was held).
    Drag {
        last: Point,
        node: String,
        moved: bool,
        extend: bool,
    },
    Band {
        start: Point,
        now: Point,
        extend: bool,
    },
    Pan {
        last: (f64, f64),
    },
    Connect {
        from: String,
        now: Point,
    },
}

/// An edge kind to pick, when more than one may join two nodes.
#[derive(Debug, Clone, PartialEq)]
struct Choice {
    from: String,
    to: String,
    kinds: Vec<EdgeKind>,
    at: Point,
}

#[derive(Properties, PartialEq)]
pub struct CanvasProps {
    pub ed: EditorHandle,
    pub findings: Rc<Vec<Finding>>,
    /// Ids to centre on; the number changes with each request.
    pub focus: (u64, Vec<String>),
    /// A diff's colouring: what happened to each node and edge id.
    #[prop_or_default]
    pub marks: Rc<BTreeMap<String, ChangeKind>>,
}

fn mark_class(m: Option<&ChangeKind>) -> Option<&'static str> {
    m.map(|k| match k {
        ChangeKind::Added => "d-added",
        ChangeKind::Removed => "d-removed",
        ChangeKind::Changed => "d-changed",
    })
}

fn kind_class(n: &Node) -> &'static str {
    match n {
        Node::Image(_) => "k-image",
        Node::Quorum(_) => "k-quorum",
        Node::Replication(_) => "k-replication",
        Node::NbdClient(_) => "k-nbd",
        Node::GuestDisk(_) => "k-guest",
    }
}

/// The outline of a node of this kind, in its own box (0,0)-(W,H).
fn shape(n: &Node) -> Html {
    let (w, h) = (NODE_W, NODE_H);
    match n {
        Node::Quorum(_) => {
            let pts = format!(
                "12,0 {},0 {w},{} {},{h} 12,{h} 0,{}",
                w - 12.0,
                h / 2.0,
                w - 12.0,
                h / 2.0
            );
            html! { <polygon class="shape" points={pts} /> }
        }
        Node::Replication(_) => html! {
            <>
                <rect class="shape" width={w.to_string()} height={h.to_string()} rx="6" />
                <rect class="inner" x="4" y="4" width={(w - 8.0).to_string()} height={(h - 8.0).to_string()} rx="4" />
            </>
        },
        Node::NbdClient(_) => html! {
            <rect class="shape" width={w.to_string()} height={h.to_string()} rx={(h / 2.0).to_string()} />
        },
        Node::GuestDisk(_) => {
            let d = format!("M0,10 L10,0 L{w},0 L{w},{h} L0,{h} Z");
            html! { <path class="shape" d={d} /> }
        }
        Node::Image(_) => html! {
            <>
                <rect class="shape" width={w.to_string()} height={h.to_string()} rx="3" />
                <line class="inner" x1="0" y1="8" x2={w.to_string()} y2="8" />
            </>
        },
    }
}

/// The worst finding naming each id: `true` for an error, `false` for a warning.
fn flagged(findings: &[Finding]) -> BTreeMap<String, bool> {
    let mut m: BTreeMap<String, bool> = BTreeMap::new();
    for f in findings {
        for s in &f.subjects {
            let e = m.entry(s.clone()).or_insert(false);
            *e |= f.is_error();
        }
    }
    m
}

#[component]
pub fn Canvas(props: &CanvasProps) -> Html {
    let ed = props.ed.clone();
    let svg_ref = use_node_ref();
    let view = use_state(|| View {
        scale: 1.0,
        offset: Point { x: 60.0, y: 70.0 },
    });
    let mode = use_mut_ref(|| Mode::Idle);
    // Redraws for pointer feedback that changes no document (band, connect line).
    let overlay = use_state(|| 0u64);
    let choice = use_state(|| None::<Choice>);
    let add_side = use_state(|| Side::Primary);

    let editor = ed.editor.borrow();
    let doc = editor.document();
    let pos = positions(doc);
    let selection = editor.selection().clone();
    let flags = flagged(&props.findings);

    // Fit once the canvas has a size, and on a focus request centre its ids.
    let fit_now = {
        let view = view.clone();
        let svg_ref = svg_ref.clone();
        let ed = ed.clone();
        Callback::from(move |_: ()| {
            let Some(el) = svg_ref.cast::<web_sys::Element>() else {
                return;
            };
            let r = el.get_bounding_client_rect();
            let pos = positions(ed.editor.borrow().document());
            if let Some((lo, hi)) = bounds(pos.values()) {
                let (scale, offset) = fit(
                    (
                        Point {
                            x: lo.x - NODE_W / 2.0,
                            y: lo.y - NODE_H / 2.0 - 30.0,
                        },
                        Point {
                            x: hi.x + NODE_W / 2.0,
                            y: hi.y + NODE_H / 2.0,
                        },
                    ),
                    r.width(),
                    r.height(),
                    24.0,
                );
                view.set(View { scale, offset });
            }
        })
    };
    {
        let fit_now = fit_now.clone();
        use_effect_with((), move |_| fit_now.emit(()));
    }
    {
        let view = view.clone();
        let svg_ref = svg_ref.clone();
        let ed = ed.clone();
        use_effect_with(props.focus.clone(), move |(n, ids)| {
            if *n > 0 {
                let pos = positions(ed.editor.borrow().document());
                let pts: Vec<Point> = ids.iter().filter_map(|i| pos.get(i).copied()).collect();
                if let (Some((lo, hi)), Some(el)) =
                    (bounds(pts.iter()), svg_ref.cast::<web_sys::Element>())
                {
                    let r = el.get_bounding_client_rect();
                    let c = Point {
                        x: (lo.x + hi.x) / 2.0,
                        y: (lo.y + hi.y) / 2.0,
                    };
                    let v = *view;
                    view.set(View {
                        scale: v.scale,
                        offset: Point {
                            x: r.width() / 2.0 - c.x * v.scale,
                            y: r.height() / 2.0 - c.y * v.scale,
                        },
                    });
                }
            }
        });
    }

    // Screen point of a pointer event, and the world point under it.
    let to_world = {
        let svg_ref = svg_ref.clone();
        let view = *view;
        move |x: i32, y: i32| world_point(&svg_ref, view, x, y)
    };

    let on_bg_down = {
        let mode = mode.clone();
        let ed = ed.clone();
        let to_world = to_world.clone();
        let overlay = overlay.clone();
        let choice = choice.clone();
        Callback::from(move |e: PointerEvent| {
            choice.set(None);
            let (sx, sy, w) = to_world(e.client_x(), e.client_y());
            capture(&e);
            *mode.borrow_mut() = if e.button() == 1 || e.alt_key() {
                Mode::Pan { last: (sx, sy) }
            } else {
                if !e.shift_key() {
                    ed.with(|ed| ed.clear_selection());
                }
                Mode::Band {
                    start: w,
                    now: w,
                    extend: e.shift_key(),
                }
            };
            overlay.set(*overlay + 1);
        })
    };

    // Handlers the node and edge components get: made once, reading the current editor and
    // view from `live`, so unchanged nodes and edges are not redrawn on every edit.
    let live = use_mut_ref(|| (ed.clone(), *view));
    *live.borrow_mut() = (ed.clone(), *view);
    let force = use_force_update();
    // Undo and redo work wherever the focus is (after a deletion it is nowhere in the canvas),
    // except in a text field, which keeps its own undo.
    {
        let live = live.clone();
        use_effect_with((), move |_| {
            let f = wasm_bindgen::closure::Closure::<dyn Fn(KeyboardEvent)>::new(
                move |e: KeyboardEvent| {
                    if e.default_prevented() || !(e.ctrl_key() || e.meta_key()) {
                        return;
                    }
                    let in_field = e
                        .target()
                        .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(t).ok())
                        .is_some_and(|el| {
                            matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT")
                        });
                    if in_field {
                        return;
                    }
                    let ed = live.borrow().0.clone();
                    if ed.readonly {
                        return;
                    }
                    match (e.key().as_str(), e.shift_key()) {
                        ("z" | "Z", true) | ("y", false) => ed.with(|ed| {
                            ed.redo();
                        }),
                        ("z" | "Z", false) => ed.with(|ed| {
                            ed.undo();
                        }),
                        _ => return,
                    }
                    e.prevent_default();
                },
            );
            let doc = super::window().document();
            if let Some(d) = &doc {
                let _ = d.add_event_listener_with_callback(
                    "keydown",
                    wasm_bindgen::JsCast::unchecked_ref(f.as_ref()),
                );
            }
            move || {
                if let Some(d) = &doc {
                    let _ = d.remove_event_listener_with_callback(
                        "keydown",
                        wasm_bindgen::JsCast::unchecked_ref(f.as_ref()),
                    );
                }
                drop(f);
            }
        });
    }
    let events = {
        let (live, mode, svg_ref, choice, view_state) = (
            live.clone(),
            mode.clone(),
            svg_ref.clone(),
            choice.clone(),
            view.clone(),
        );
        use_memo((), move |_| {
            let world = {
                let (live, svg_ref) = (live.clone(), svg_ref.clone());
                move |e: &PointerEvent| {
                    world_point(&svg_ref, live.borrow().1, e.client_x(), e.client_y()).2
                }
            };
            let down = {
                let (live, mode, choice, world) =
                    (live.clone(), mode.clone(), choice.clone(), world.clone());
                Callback::from(move |(id, e): (String, PointerEvent)| {
                    e.stop_propagation();
                    choice.set(None);
                    let w = world(&e);
                    let ed = live.borrow().0.clone();
                    let item = Item::Node(id.clone());
                    let selected = ed.editor.borrow().selection().contains(&item);
                    if e.shift_key() {
                        ed.with(|ed| {
                            if selected {
                                let rest: Vec<Item> = ed
                                    .selection()
                                    .iter()
                                    .filter(|i| **i != item)
                                    .cloned()
                                    .collect();
                                ed.select_all_of(rest);
                            } else {
                                ed.select(item.clone(), true);
                            }
                        });
                    } else if !selected {
                        ed.with(|ed| ed.select(item.clone(), false));
                    }
                    capture(&e);
                    *mode.borrow_mut() = Mode::Drag {
                        last: w,
                        node: id,
                        moved: false,
                        extend: e.shift_key(),
                    };
                })
            };
            let handle = {
                let (mode, force, world) = (mode.clone(), force.clone(), world.clone());
                Callback::from(move |(id, e): (String, PointerEvent)| {
                    e.stop_propagation();
                    let now = world(&e);
                    capture(&e);
                    *mode.borrow_mut() = Mode::Connect { from: id, now };
                    force.force_update();
                })
            };
            let edge = {
                let live = live.clone();
                Callback::from(move |(id, e): (String, PointerEvent)| {
                    e.stop_propagation();
                    let extend = e.shift_key();
                    let ed = live.borrow().0.clone();
                    ed.with(|ed| ed.select(Item::Edge(id.clone()), extend));
                })
            };
            let focus = {
                let (live, svg_ref, mode) = (live.clone(), svg_ref.clone(), mode.clone());
                Callback::from(move |(id, p): (String, Point)| {
                    // A press on the node (or its handle) focuses it too, after its pointerdown
                    // began a drag or a connection: the pointer already selected, and moving
                    // the view now would move the graph away under the pointer.
                    if !matches!(*mode.borrow(), Mode::Idle) {
                        return;
                    }
                    let (ed, v) = live.borrow().clone();
                    let item = Item::Node(id);
                    if !ed.editor.borrow().selection().contains(&item) {
                        ed.with(|ed| ed.select(item.clone(), false));
                    }
                    // Keyboard focus brings the node into view, at a readable scale.
                    if let Some(el) = svg_ref.cast::<web_sys::Element>() {
                        let r = el.get_bounding_client_rect();
                        let (sx, sy) = (p.x * v.scale + v.offset.x, p.y * v.scale + v.offset.y);
                        let visible = sx > 0.0 && sy > 0.0 && sx < r.width() && sy < r.height();
                        if !visible || v.scale < 0.6 {
                            let scale = v.scale.max(0.8);
                            view_state.set(View {
                                scale,
                                offset: Point {
                                    x: r.width() / 2.0 - p.x * scale,
                                    y: r.height() / 2.0 - p.y * scale,
                                },
                            });
                        }
                    }
                })
            };
            Events {
                down,
                handle,
                edge,
                focus,
            }
        })
    };

    let on_move = {
        let mode = mode.clone();
        let ed = ed.clone();
        let to_world = to_world.clone();
        let overlay = overlay.clone();
        let view = view.clone();
        Callback::from(move |e: PointerEvent| {
            let (sx, sy, w) = to_world(e.client_x(), e.client_y());
            let mut m = mode.borrow_mut();
            match &mut *m {
                Mode::Idle => {}
                Mode::Drag { last, moved, .. } => {
                    let (dx, dy) = (w.x - last.x, w.y - last.y);
                    if dx == 0.0 && dy == 0.0 || ed.readonly {
                        return;
                    }
                    *last = w;
                    *moved = true;
                    let ids: Vec<String> = ed
                        .editor
                        .borrow()
                        .selection()
                        .iter()
                        .filter_map(|i| match i {
                            Item::Node(id) => Some(id.clone()),
                            Item::Edge(_) => None,
                        })
                        .collect();
                    drop(m);
                    if !ids.is_empty() {
                        ed.apply(Edit::Move { ids, dx, dy });
                    }
                }
                Mode::Band { now, .. } | Mode::Connect { now, .. } => {
                    *now = w;
                    drop(m);
                    overlay.set(*overlay + 1);
                }
                Mode::Pan { last } => {
                    let (dx, dy) = (sx - last.0, sy - last.1);
                    *last = (sx, sy);
                    let v = *view;
                    view.set(View {
                        scale: v.scale,
                        offset: Point {
                            x: v.offset.x + dx,
                            y: v.offset.y + dy,
                        },
                    });
                }
            }
        })
    };

    let on_up = {
        let mode = mode.clone();
        let ed = ed.clone();
        let overlay = overlay.clone();
        let choice = choice.clone();
        Callback::from(move |_: PointerEvent| {
            let m = std::mem::replace(&mut *mode.borrow_mut(), Mode::Idle);
            match m {
                Mode::Drag {
                    node,
                    moved,
                    extend,
                    ..
                } => ed.with(|ed| {
                    ed.end_drag();
                    if !moved && !extend {
                        ed.select(Item::Node(node), false);
                    }
                }),
                Mode::Band { start, now, extend } => {
                    let pos = positions(ed.editor.borrow().document());
                    let ids = inside(&pos, start, now);
                    ed.with(|ed| {
                        let mut items: BTreeSet<Item> = if extend {
                            ed.selection().clone()
                        } else {
                            BTreeSet::new()
                        };
                        items.extend(ids.into_iter().map(Item::Node));
                        ed.select_all_of(items);
                    });
                }
                Mode::Connect { from, now } => {
                    let target = {
                        let e = ed.editor.borrow();
                        let d = e.document();
                        let pos = positions(d);
                        let order: Vec<&str> = d.nodes.iter().map(|n| n.id()).collect();
                        hit(&pos, &order, now).map(str::to_owned)
                    };
                    match target {
                        Some(to) if to != from => {
                            let kinds = ed.editor.borrow().edge_kinds(&from, &to);
                            match kinds.as_slice() {
                                [] => {
                                    let e = ed.editor.borrow();
                                    let d = e.document();
                                    let k = |id: &str| d.node(id).map(kind_label).unwrap_or("?");
                                    let msg = format!(
                                        "No edge can go from {from} ({}) to {to} ({}): the graph allows \
                                         child, file and backing edges downwards on one host, attach from a \
                                         guest disk, and nbd from the primary's NBD client to the secondary.",
                                        k(&from),
                                        k(&to)
                                    );
                                    drop(e);
                                    ed.notice.emit(msg);
                                }
                                [kind] => ed.apply(Edit::Connect {
                                    from,
                                    to,
                                    kind: *kind,
                                }),
                                _ => choice.set(Some(Choice {
                                    from,
                                    to,
                                    kinds,
                                    at: now,
                                })),
                            }
                        }
                        _ => {}
                    }
                    overlay.set(*overlay + 1);
                }
                Mode::Pan { .. } | Mode::Idle => {}
            }
            overlay.set(*overlay + 1);
        })
    };

    let on_wheel = {
        let view = view.clone();
        let to_world = to_world.clone();
        Callback::from(move |e: WheelEvent| {
            e.prevent_default();
            let (sx, sy, w) = to_world(e.client_x(), e.client_y());
            let v = *view;
            let scale = (v.scale * (-e.delta_y() * 0.0015).exp()).clamp(0.15, 3.0);
            view.set(View {
                scale,
                offset: Point {
                    x: sx - w.x * scale,
                    y: sy - w.y * scale,
                },
            });
        })
    };

    let zoom = {
        let view = view.clone();
        let svg_ref = svg_ref.clone();
        move |factor: f64| {
            let view = view.clone();
            let svg_ref = svg_ref.clone();
            Callback::from(move |_: MouseEvent| {
                let v = *view;
                let (cx, cy) = svg_ref
                    .cast::<web_sys::Element>()
                    .map(|el| {
                        let r = el.get_bounding_client_rect();
                        (r.width() / 2.0, r.height() / 2.0)
                    })
                    .unwrap_or((300.0, 200.0));
                let scale = (v.scale * factor).clamp(0.15, 3.0);
                let w = Point {
                    x: (cx - v.offset.x) / v.scale,
                    y: (cy - v.offset.y) / v.scale,
                };
                view.set(View {
                    scale,
                    offset: Point {
                        x: cx - w.x * scale,
                        y: cy - w.y * scale,
                    },
                });
            })
        }
    };

    let on_key = {
        let ed = ed.clone();
        let choice = choice.clone();
        let mode = mode.clone();
        let overlay = overlay.clone();
        let svg_ref = svg_ref.clone();
        Callback::from(move |e: KeyboardEvent| {
            let ctrl = e.ctrl_key() || e.meta_key();
            let key = e.key();
            let step = if e.shift_key() { 50.0 } else { 10.0 };
            let moved = |dx: f64, dy: f64| {
                let ids: Vec<String> = ed
                    .editor
                    .borrow()
                    .selection()
                    .iter()
                    .filter_map(|i| match i {
                        Item::Node(id) => Some(id.clone()),
                        Item::Edge(_) => None,
                    })
                    .collect();
                if !ids.is_empty() {
                    ed.apply(Edit::Move { ids, dx, dy });
                    ed.with(|ed| ed.end_drag());
                }
            };
            match key.as_str() {
                "z" | "Z" if ctrl && e.shift_key() => {
                    ed.with(|ed| {
                        ed.redo();
                    });
                }
                "z" | "Z" if ctrl => {
                    ed.with(|ed| {
                        ed.undo();
                    });
                }
                "y" if ctrl => {
                    ed.with(|ed| {
                        ed.redo();
                    });
                }
                "a" if ctrl => {
                    let items: Vec<Item> = ed
                        .editor
                        .borrow()
                        .document()
                        .nodes
                        .iter()
                        .map(|n| Item::Node(n.id().to_owned()))
                        .collect();
                    ed.with(|ed| ed.select_all_of(items));
                }
                "Delete" | "Backspace" => {
                    ed.apply(Edit::DeleteSelection);
                    // The focused node is gone: the canvas keeps the keyboard.
                    if let Some(svg) = svg_ref.cast::<web_sys::SvgElement>() {
                        let _ = svg.focus();
                    }
                }
                "Escape" => {
                    choice.set(None);
                    *mode.borrow_mut() = Mode::Idle;
                    ed.with(|ed| ed.clear_selection());
                    overlay.set(*overlay + 1);
                }
                "ArrowLeft" => moved(-step, 0.0),
                "ArrowRight" => moved(step, 0.0),
                "ArrowUp" => moved(0.0, -step),
                "ArrowDown" => moved(0.0, step),
                _ => return,
            }
            e.prevent_default();
        })
    };

    let add_node = {
        let ed = ed.clone();
        let view = view.clone();
        let svg_ref = svg_ref.clone();
        let add_side = add_side.clone();
        move |kind: NodeKind| {
            let ed = ed.clone();
            let view = view.clone();
            let svg_ref = svg_ref.clone();
            let add_side = add_side.clone();
            Callback::from(move |_: MouseEvent| {
                let v = *view;
                let (cx, cy) = svg_ref
                    .cast::<web_sys::Element>()
                    .map(|el| {
                        let r = el.get_bounding_client_rect();
                        (r.width() / 2.0, r.height() / 2.0)
                    })
                    .unwrap_or((300.0, 200.0));
                let at = Point {
                    x: (cx - v.offset.x) / v.scale,
                    y: (cy - v.offset.y) / v.scale,
                };
                ed.apply(Edit::AddNode {
                    kind,
                    side: *add_side,
                    at,
                });
            })
        }
    };

    let on_side = {
        let add_side = add_side.clone();
        Callback::from(move |e: Event| {
            let v = e
                .target_unchecked_into::<web_sys::HtmlSelectElement>()
                .value();
            add_side.set(if v == "secondary" {
                Side::Secondary
            } else {
                Side::Primary
            });
        })
    };

    // Host headings over each side's nodes, and the line between the hosts.
    let side_x = |side: Side| -> Option<(f64, f64)> {
        doc.nodes
            .iter()
            .filter(|n| n.side() == side)
            .filter_map(|n| pos.get(n.id()))
            .fold(None, |acc: Option<(f64, f64)>, p| {
                Some(acc.map_or((p.x, p.x), |(a, b)| (a.min(p.x), b.max(p.x))))
            })
    };
    let top = pos.values().map(|p| p.y).fold(f64::INFINITY, f64::min);
    let top = if top.is_finite() {
        top - NODE_H / 2.0 - 26.0
    } else {
        0.0
    };
    let heading = |side: Side, label: &str, host: &lockstep_shared::model::HostRef| -> Html {
        let Some((x0, _)) = side_x(side) else {
            return html! {};
        };
        html! {
            <text class="host-heading" x={(x0 - NODE_W / 2.0).to_string()} y={top.to_string()}>
                { format!("{label} · {} ({})", host.name, host.address) }
            </text>
        }
    };
    let divider = match (side_x(Side::Primary), side_x(Side::Secondary)) {
        (Some((_, p1)), Some((s0, _))) if s0 > p1 => {
            let x = (p1 + s0) / 2.0;
            let y1 = pos.values().map(|p| p.y).fold(f64::NEG_INFINITY, f64::max) + NODE_H;
            html! { <line class="divider" x1={x.to_string()} x2={x.to_string()} y1={(top - 16.0).to_string()} y2={y1.to_string()} /> }
        }
        _ => html! {},
    };

    let edges = doc.edges.iter().filter_map(|e| {
        let (a, b) = (pos.get(&e.from)?, pos.get(&e.to)?);
        let (s, t) = edge_ends(*a, *b);
        Some(html! {
            <EdgeView key={format!("e:{}", e.id)} edge={e.clone()} s={s} t={t}
                selected={selection.contains(&Item::Edge(e.id.clone()))}
                flag={flags.get(&e.id).copied()} mark={props.marks.get(&e.id).copied()}
                on_down={events.edge.clone()} />
        })
    });

    let nodes: Vec<Html> = doc
        .nodes
        .iter()
        .filter_map(|n| {
            let p = pos.get(n.id())?;
            Some(html! {
                <NodeView key={format!("n:{}", n.id())} node={n.clone()} at={*p}
                    selected={selection.contains(&Item::Node(n.id().to_owned()))}
                    flag={flags.get(n.id()).copied()} mark={props.marks.get(n.id()).copied()}
                    readonly={ed.readonly} events={events.clone()} />
            })
        })
        .collect();

    let pending = match &*mode.borrow() {
        Mode::Band { start, now, .. } => html! {
            <rect class="band" x={start.x.min(now.x).to_string()} y={start.y.min(now.y).to_string()}
                width={(start.x - now.x).abs().to_string()} height={(start.y - now.y).abs().to_string()} />
        },
        Mode::Connect { from, now } => match pos.get(from) {
            Some(a) => html! {
                <line class="connecting" x1={(a.x + NODE_W / 2.0).to_string()} y1={a.y.to_string()}
                    x2={now.x.to_string()} y2={now.y.to_string()} marker-end="url(#arrow)" />
            },
            None => html! {},
        },
        _ => html! {},
    };

    let menu = (*choice).clone().map(|c| {
        let v = *view;
        let style = format!(
            "left:{}px;top:{}px",
            c.at.x * v.scale + v.offset.x,
            c.at.y * v.scale + v.offset.y
        );
        html! {
            <div class="edge-menu" role="menu" {style} aria-label="Edge kind">
                <div class="menu-title">{ format!("Connect {} → {} as", c.from, c.to) }</div>
                { for c.kinds.iter().map(|k| {
                    let ed = ed.clone();
                    let choice = choice.clone();
                    let (from, to, kind) = (c.from.clone(), c.to.clone(), *k);
                    html! { <button role="menuitem" onclick={Callback::from(move |_| {
                        choice.set(None);
                        ed.apply(Edit::Connect { from: from.clone(), to: to.clone(), kind });
                    })}>{ k.as_str() }</button> }
                }) }
            </div>
        }
    });

    let (undo_ok, redo_ok) = (editor.can_undo(), editor.can_redo());
    let has_selection = !selection.is_empty();
    let v = *view;
    let transform = format!(
        "matrix({} 0 0 {} {} {})",
        v.scale, v.scale, v.offset.x, v.offset.y
    );
    let hosts = doc.hosts.clone();
    let ro = ed.readonly;
    let undo = {
        let ed = ed.clone();
        Callback::from(move |_: MouseEvent| {
            ed.with(|e| {
                e.undo();
            })
        })
    };
    let redo = {
        let ed = ed.clone();
        Callback::from(move |_: MouseEvent| {
            ed.with(|e| {
                e.redo();
            })
        })
    };
    let delete = {
        let ed = ed.clone();
        Callback::from(move |_: MouseEvent| ed.apply(Edit::DeleteSelection))
    };
    let layout = {
        let ed = ed.clone();
        let fit_now = fit_now.clone();
        Callback::from(move |_: MouseEvent| {
            ed.apply(Edit::AutoLayout);
            fit_now.emit(());
        })
    };
    let fit_click = {
        let fit_now = fit_now.clone();
        Callback::from(move |_: MouseEvent| fit_now.emit(()))
    };

    html! {
        <div class="canvas-wrap">
            <div class="toolbar" role="toolbar" aria-label="Graph tools">
                if !ro {
                    <label class="inline">{ "Add on " }
                        <select aria-label="Side for new nodes" onchange={on_side}>
                            <option value="primary" selected={*add_side == Side::Primary}>{ "primary" }</option>
                            <option value="secondary" selected={*add_side == Side::Secondary}>{ "secondary" }</option>
                        </select>
                    </label>
                    <button onclick={add_node(NodeKind::Image)} title="Add an image node">{ "+ Image" }</button>
                    <button onclick={add_node(NodeKind::Quorum)} title="Add a quorum node">{ "+ Quorum" }</button>
                    <button onclick={add_node(NodeKind::Replication)} title="Add a replication filter">{ "+ Replication" }</button>
                    <button onclick={add_node(NodeKind::NbdClient)} title="Add an NBD client">{ "+ NBD client" }</button>
                    <button onclick={add_node(NodeKind::GuestDisk)} title="Add a guest disk">{ "+ Guest disk" }</button>
                    <span class="sep" />
                    <button id="undo" onclick={undo} disabled={!undo_ok} title="Undo (Ctrl+Z)">{ "↶ Undo" }</button>
                    <button id="redo" onclick={redo} disabled={!redo_ok} title="Redo (Ctrl+Shift+Z)">{ "↷ Redo" }</button>
                    <button id="delete" onclick={delete} disabled={!has_selection} title="Delete the selection (Delete)">{ "Delete" }</button>
                    <AddDisk ed={ed.clone()} />
                    <span class="sep" />
                    <button onclick={layout} title="Place every node automatically">{ "Auto layout" }</button>
                }
                <button id="fit" onclick={fit_click} title="Fit the graph to the canvas">{ "Fit" }</button>
                <button onclick={zoom(1.25)} aria-label="Zoom in" title="Zoom in (wheel)">{ "+" }</button>
                <button onclick={zoom(0.8)} aria-label="Zoom out" title="Zoom out (wheel)">{ "−" }</button>
            </div>
            <svg id="canvas" ref={svg_ref} tabindex="0" role="application"
                aria-label="COLO disk graph: Tab through nodes, arrows move, Delete removes, Ctrl+Z undoes"
                onpointerdown={on_bg_down} onpointermove={on_move} onpointerup={on_up}
                onwheel={on_wheel} onkeydown={on_key}>
                <defs>
                    <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                        <path d="M0,0 L10,5 L0,10 z" />
                    </marker>
                </defs>
                <g transform={transform}>
                    { heading(Side::Primary, "Primary", &hosts.primary) }
                    { heading(Side::Secondary, "Secondary", &hosts.secondary) }
                    { divider }
                    { for edges }
                    { for nodes }
                    { pending }
                </g>
            </svg>
            { for menu }
        </div>
    }
}

/// The screen point of a pointer position in the canvas, and the world point under it.
fn world_point(svg_ref: &NodeRef, view: View, x: i32, y: i32) -> (f64, f64, Point) {
    let (sx, sy) = match svg_ref.cast::<web_sys::Element>() {
        Some(el) => {
            let r = el.get_bounding_client_rect();
            (x as f64 - r.left(), y as f64 - r.top())
        }
        None => (x as f64, y as f64),
    };
    (
        sx,
        sy,
        Point {
            x: (sx - view.offset.x) / view.scale,
            y: (sy - view.offset.y) / view.scale,
        },
    )
}

/// Holds the pointer on the element pressed, so a drag continues outside it.
fn capture(e: &PointerEvent) {
    if let Some(t) = e.target_dyn_into::<web_sys::Element>() {
        let _ = t.set_pointer_capture(e.pointer_id());
    }
}

/// What nodes and edges report to the canvas (made once; see `live` in [`Canvas`]).
#[derive(Clone)]
struct Events {
    down: Callback<(String, PointerEvent)>,
    handle: Callback<(String, PointerEvent)>,
    edge: Callback<(String, PointerEvent)>,
    focus: Callback<(String, Point)>,
}

#[derive(Properties, Clone)]
struct NodeProps {
    node: Node,
    at: Point,
    selected: bool,
    flag: Option<bool>,
    mark: Option<ChangeKind>,
    readonly: bool,
    events: Rc<Events>,
}

/// Redrawn only when what it shows changes (the handlers never do).
impl PartialEq for NodeProps {
    fn eq(&self, o: &Self) -> bool {
        self.node == o.node
            && self.at == o.at
            && self.selected == o.selected
            && self.flag == o.flag
            && self.mark == o.mark
            && self.readonly == o.readonly
    }
}

#[component]
fn NodeView(p: &NodeProps) -> Html {
    let n = &p.node;
    let id = n.id().to_owned();
    let class = classes!(
        "node",
        kind_class(n),
        p.selected.then_some("selected"),
        p.flag
            .map(|err| if err { "flag-error" } else { "flag-warning" }),
        mark_class(p.mark.as_ref())
    );
    let aria = format!(
        "{} {} on the {}: {}{}",
        kind_label(n),
        id,
        n.side().as_str(),
        facts(n),
        match p.flag {
            Some(true) => ", has errors",
            Some(false) => ", has warnings",
            None => "",
        }
    );
    let onfocus = {
        let (f, id, at) = (p.events.focus.clone(), id.clone(), p.at);
        Callback::from(move |_: FocusEvent| f.emit((id.clone(), at)))
    };
    let onpointerdown = {
        let (f, id) = (p.events.down.clone(), id.clone());
        Callback::from(move |e: PointerEvent| f.emit((id.clone(), e)))
    };
    let on_handle = {
        let (f, id) = (p.events.handle.clone(), id.clone());
        Callback::from(move |e: PointerEvent| f.emit((id.clone(), e)))
    };
    html! {
        <g class={class} data-id={id.clone()} tabindex="0" role="button"
           aria-label={aria} aria-pressed={p.selected.to_string()} {onfocus} {onpointerdown}
           transform={format!("translate({},{})", p.at.x - NODE_W / 2.0, p.at.y - NODE_H / 2.0)}>
            { shape(n) }
            <text class="kind" x="10" y="14">{ kind_label(n) }</text>
            <text class="id" x="10" y="29">{ id.clone() }</text>
            <text class="facts" x="10" y="42">{ facts(n) }</text>
            if let Some(m) = p.mark {
                <text class="dmark" x="0" y="-5">{ match m {
                    ChangeKind::Added => "+ new", ChangeKind::Removed => "− gone", ChangeKind::Changed => "~ changed" } }</text>
            }
            if let Some(err) = p.flag {
                <text class="mark" x={(NODE_W - 16.0).to_string()} y="15">{ if err { "✖" } else { "⚠" } }</text>
            }
            if !p.readonly {
                <circle class="handle" cx={NODE_W.to_string()} cy={(NODE_H / 2.0).to_string()} r="7"
                    onpointerdown={on_handle}>
                    <title>{ "Drag to another node to connect" }</title>
                </circle>
            }
        </g>
    }
}

#[derive(Properties, Clone)]
struct EdgeProps {
    edge: lockstep_shared::model::Edge,
    s: Point,
    t: Point,
    selected: bool,
    flag: Option<bool>,
    mark: Option<ChangeKind>,
    on_down: Callback<(String, PointerEvent)>,
}

impl PartialEq for EdgeProps {
    fn eq(&self, o: &Self) -> bool {
        self.edge == o.edge
            && self.s == o.s
            && self.t == o.t
            && self.selected == o.selected
            && self.flag == o.flag
            && self.mark == o.mark
    }
}

#[component]
fn EdgeView(p: &EdgeProps) -> Html {
    let e = &p.edge;
    let (s, t) = (p.s, p.t);
    let class = classes!(
        "edge",
        format!("e-{}", e.kind.as_str()),
        p.selected.then_some("selected"),
        p.flag
            .map(|err| if err { "flag-error" } else { "flag-warning" }),
        mark_class(p.mark.as_ref())
    );
    let (mx, my) = ((s.x + t.x) / 2.0, (s.y + t.y) / 2.0);
    let label = edge_label(e);
    let onpointerdown = {
        let (f, id) = (p.on_down.clone(), e.id.clone());
        Callback::from(move |ev: PointerEvent| f.emit((id.clone(), ev)))
    };
    html! {
        <g class={class} data-id={e.id.clone()} {onpointerdown}>
            <title>{ format!("{} edge {} → {}", e.kind.as_str(), e.from, e.to) }</title>
            <line class="hitline" x1={s.x.to_string()} y1={s.y.to_string()} x2={t.x.to_string()} y2={t.y.to_string()} />
            <line class="line" x1={s.x.to_string()} y1={s.y.to_string()} x2={t.x.to_string()} y2={t.y.to_string()} marker-end="url(#arrow)" />
            <rect class="label-bg" x={(mx - 3.5 * label.len() as f64 - 4.0).to_string()} y={(my - 9.0).to_string()} width={(7.0 * label.len() as f64 + 8.0).to_string()} height="16" rx="3" />
            <text class="label" x={mx.to_string()} y={(my + 3.0).to_string()} text-anchor="middle">{ label }</text>
        </g>
    }
}

/// Where the secondary's overlays of `doc` live (the first hidden or active overlay's folder).
fn overlay_dir(doc: &lockstep_shared::Document) -> String {
    doc.nodes
        .iter()
        .filter_map(Node::as_image)
        .filter(|i| {
            i.side == Side::Secondary
                && (i.id.starts_with("sactive") || i.id.starts_with("shidden"))
        })
        .find_map(|i| i.path.rsplit_once('/').map(|(d, _)| d.to_owned()))
        .unwrap_or_else(|| "/dev/shm/lockstep".to_owned())
}

#[derive(Properties, PartialEq)]
struct AddDiskProps {
    ed: EditorHandle,
}

/// "Add protected disk": the whole chain for one disk on both sides, asked once.
#[component]
fn AddDisk(p: &AddDiskProps) -> Html {
    let open = use_state(|| false);
    let error = use_state(|| None::<String>);
    let (path, secondary, size, format) = (
        use_node_ref(),
        use_node_ref(),
        use_node_ref(),
        use_node_ref(),
    );
    let toggle = {
        let open = open.clone();
        Callback::from(move |_: MouseEvent| open.set(!*open))
    };
    let doc = p.ed.editor.borrow().document().clone();
    let n = doc
        .nodes
        .iter()
        .filter_map(Node::as_guest_disk)
        .filter(|g| g.side == Side::Primary)
        .count();
    let default_path = format!("/var/lib/colo/{}-disk{n}.qcow2", doc.guest.name);
    let onsubmit = {
        let (ed, open, error) = (p.ed.clone(), open.clone(), error.clone());
        let (path, secondary, size, format) = (
            path.clone(),
            secondary.clone(),
            size.clone(),
            format.clone(),
        );
        let dir = overlay_dir(&doc);
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let v = |r: &NodeRef| {
                r.cast::<web_sys::HtmlInputElement>()
                    .map(|i| i.value())
                    .or_else(|| r.cast::<web_sys::HtmlSelectElement>().map(|s| s.value()))
                    .unwrap_or_default()
            };
            let disk = (|| -> Result<lockstep_shared::wizard::DiskSpec, String> {
                let path = crate::forms::required(&v(&path), "the image path")?;
                let s = v(&secondary);
                Ok(lockstep_shared::wizard::DiskSpec {
                    path,
                    secondary_path: (!s.trim().is_empty()).then(|| s.trim().to_owned()),
                    size_bytes: crate::forms::size(&v(&size))?,
                    format: if v(&format) == "raw" {
                        lockstep_shared::model::ImageFormat::Raw
                    } else {
                        lockstep_shared::model::ImageFormat::Qcow2
                    },
                    storage: None,
                    secondary_storage: None,
                })
            })();
            match disk {
                Ok(disk) => {
                    error.set(None);
                    open.set(false);
                    ed.apply(Edit::AddProtectedDisk {
                        disk,
                        overlay_dir: dir.clone(),
                    });
                }
                Err(m) => error.set(Some(m)),
            }
        })
    };
    html! {
        <>
            <button id="add-disk" onclick={toggle} aria-expanded={open.to_string()}>{ "+ Protected disk" }</button>
            if *open {
                <form class="popover" id="add-disk-form" {onsubmit} aria-label="Add a protected disk">
                    <div class="field"><label for="ad-path">{ "Image path (primary)" }</label>
                        <input id="ad-path" ref={path} value={default_path} /></div>
                    <div class="field"><label for="ad-secondary">{ "Image path on the secondary (empty: the same)" }</label>
                        <input id="ad-secondary" ref={secondary} /></div>
                    <div class="field"><label for="ad-size">{ "Size" }</label>
                        <input id="ad-size" ref={size} value="10 GiB" /></div>
                    <div class="field"><label for="ad-format">{ "Format" }</label>
                        <select id="ad-format" ref={format}><option value="qcow2" selected=true>{ "qcow2" }</option><option value="raw">{ "raw" }</option></select></div>
                    if let Some(m) = &*error { <div class="field-error" role="alert">{ format!("✖ {m}") }</div> }
                    <div class="actions"><button type="submit" id="add-disk-submit">{ "Add to both hosts" }</button>
                        <button type="button" onclick={{ let open = open.clone(); Callback::from(move |_: MouseEvent| open.set(false)) }}>{ "Cancel" }</button></div>
                </form>
            }
        </>
    }
}
