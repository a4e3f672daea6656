//! The properties panel: typed fields for the selected node or edge, or, with nothing
//! selected, for the document's guest, hosts, COLO settings and NICs. Every committed field is
//! one undoable edit; an invalid value stays in its field with the reason.

use super::fields::{SelectField, TextField};
use super::EditorHandle;
use crate::drawing::{kind_label, serde_plain, size_text};
use crate::editor::{Edit, Item};
use crate::forms;
use lockstep_shared::model::{
    DiskBus, Document, EdgeKind, ImageFormat, InitialSync, Node, ReadPattern, ReplicationMode,
    Storage,
};
use lockstep_shared::validate::hosts::same_address;
use serde::de::DeserializeOwned;
use serde::Serialize;
use yew::prelude::*;

fn field(
    id: &str,
    label: &str,
    value: String,
    ro: bool,
    check: impl Fn(&str) -> Result<(), String> + 'static,
    commit: impl Fn(String) + 'static,
) -> Html {
    html! {
        <TextField id={id.to_owned()} label={label.to_owned()} {value} readonly={ro}
            check={Callback::from(move |s: String| check(&s))}
            commit={Callback::from(commit)} />
    }
}

/// A select over a unit enum's serde names.
fn choice<T: Serialize + DeserializeOwned + 'static>(
    id: &str,
    label: &str,
    value: &T,
    all: &[T],
    ro: bool,
    commit: impl Fn(T) + 'static,
) -> Html {
    let options: Vec<(AttrValue, AttrValue)> = all
        .iter()
        .map(|v| {
            let s = serde_plain(v);
            (AttrValue::from(s.clone()), AttrValue::from(s))
        })
        .collect();
    html! {
        <SelectField id={id.to_owned()} label={label.to_owned()} value={serde_plain(value)} {options} readonly={ro}
            commit={Callback::from(move |s: String| {
                if let Some(v) = crate::drawing::from_plain::<T>(&s) {
                    commit(v)
                }
            })} />
    }
}

/// Commits a change to one node.
fn node_edit(
    ed: &EditorHandle,
    node: &Node,
    f: impl Fn(&mut Node, String) + 'static,
) -> impl Fn(String) {
    let ed = ed.clone();
    let node = node.clone();
    move |v: String| {
        let mut n = node.clone();
        f(&mut n, v);
        ed.apply(Edit::SetNode(n));
    }
}

/// Commits a change to the document's settings.
fn doc_edit(ed: &EditorHandle, f: impl Fn(&mut Document, String) + 'static) -> impl Fn(String) {
    let ed = ed.clone();
    move |v: String| {
        let mut d = ed.editor.borrow().document().clone();
        f(&mut d, v);
        ed.apply(Edit::Replace(Box::new(d)));
    }
}

fn num(min: u64, max: u64) -> impl Fn(&str) -> Result<(), String> {
    move |s| forms::number(s, min, max).map(|_| ())
}

fn nonempty(what: &'static str) -> impl Fn(&str) -> Result<(), String> {
    move |s| forms::required(s, what).map(|_| ())
}

fn node_panel(ed: &EditorHandle, n: &Node) -> Html {
    let ro = ed.readonly;
    let body = match n {
        Node::Image(i) => html! { <>
            { field("f-path", "Path", i.path.clone(), ro, nonempty("the path"),
                node_edit(ed, n, |n, v| if let Node::Image(i) = n { i.path = v.trim().to_owned() })) }
            { field("f-size", "Size", size_text(i.size_bytes), ro, |s| forms::size(s).map(|_| ()),
                node_edit(ed, n, |n, v| if let (Node::Image(i), Ok(b)) = (n, forms::size(&v)) { i.size_bytes = b })) }
            { choice("f-format", "Format", &i.format, &[ImageFormat::Qcow2, ImageFormat::Raw], ro,
                { let c = node_edit(ed, n, |n, v| if let (Node::Image(i), Ok(f)) = (n, crate::drawing::from_plain(&v).ok_or(())) { i.format = f }); move |f: ImageFormat| c(serde_plain(&f)) }) }
            { choice("f-storage", "Storage", &i.storage, &[Storage::File, Storage::Block], ro,
                { let c = node_edit(ed, n, |n, v| if let (Node::Image(i), Ok(s)) = (n, crate::drawing::from_plain(&v).ok_or(())) { i.storage = s }); move |s: Storage| c(serde_plain(&s)) }) }
        </> },
        Node::Quorum(q) => html! { <>
            { field("f-threshold", "Vote threshold", q.vote_threshold.to_string(), ro, num(1, 32),
                node_edit(ed, n, |n, v| if let (Node::Quorum(q), Ok(t)) = (n, forms::number(&v, 1, 32)) { q.vote_threshold = t as u32 })) }
            { choice("f-read", "Read pattern", &q.read_pattern, &[ReadPattern::Fifo, ReadPattern::Quorum], ro,
                { let c = node_edit(ed, n, |n, v| if let (Node::Quorum(q), Ok(r)) = (n, crate::drawing::from_plain(&v).ok_or(())) { q.read_pattern = r }); move |r: ReadPattern| c(serde_plain(&r)) }) }
        </> },
        Node::Replication(r) => choice(
            "f-mode",
            "Mode",
            &r.mode,
            &[ReplicationMode::Primary, ReplicationMode::Secondary],
            ro,
            {
                let c = node_edit(ed, n, |n, v| {
                    if let (Node::Replication(r), Ok(m)) =
                        (n, crate::drawing::from_plain(&v).ok_or(()))
                    {
                        r.mode = m
                    }
                });
                move |m: ReplicationMode| c(serde_plain(&m))
            },
        ),
        Node::NbdClient(_) => {
            html! { <p class="muted">{ "Reaches the secondary's exported disk over NBD: connect it with an nbd edge." }</p> }
        }
        Node::GuestDisk(g) => html! { <>
            { field("f-target", "Target", g.target.clone(), ro, nonempty("the target"),
                node_edit(ed, n, |n, v| if let Node::GuestDisk(g) = n { g.target = v.trim().to_owned() })) }
            { choice("f-bus", "Bus", &g.bus, &[DiskBus::Virtio], ro,
                { let c = node_edit(ed, n, |n, v| if let (Node::GuestDisk(g), Ok(b)) = (n, crate::drawing::from_plain(&v).ok_or(())) { g.bus = b }); move |b: DiskBus| c(serde_plain(&b)) }) }
            { field("f-slot", "PCI slot", format!("0x{:02x}", g.pci_slot), ro, num(0, 31),
                node_edit(ed, n, |n, v| if let (Node::GuestDisk(g), Ok(s)) = (n, forms::number(&v, 0, 31)) { g.pci_slot = s as u32 })) }
            { field("f-function", "PCI function", g.pci_function.to_string(), ro, num(0, 7),
                node_edit(ed, n, |n, v| if let (Node::GuestDisk(g), Ok(f)) = (n, forms::number(&v, 0, 7)) { g.pci_function = f as u32 })) }
        </> },
    };
    html! {
        <section class="panel" aria-label="Node properties">
            <h2>{ format!("{} {}", kind_label(n), n.id()) }</h2>
            <p class="muted">{ format!("on the {} host", n.side().as_str()) }</p>
            { body }
        </section>
    }
}

fn edge_panel(ed: &EditorHandle, e: &lockstep_shared::model::Edge) -> Html {
    let ro = ed.readonly;
    let index = if e.kind == EdgeKind::Child {
        let (ed2, edge) = (ed.clone(), e.clone());
        field(
            "f-index",
            "Child index",
            e.index.map(|i| i.to_string()).unwrap_or_default(),
            ro,
            num(0, 31),
            move |v| {
                if let Ok(i) = forms::number(&v, 0, 31) {
                    let mut e = edge.clone();
                    e.index = Some(i as u32);
                    ed2.apply(Edit::SetEdge(e));
                }
            },
        )
    } else {
        html! {}
    };
    html! {
        <section class="panel" aria-label="Edge properties">
            <h2>{ format!("{} edge", e.kind.as_str()) }</h2>
            <p class="muted">{ format!("{} → {} ({})", e.from, e.to, e.id) }</p>
            { index }
        </section>
    }
}

/// The primary's or the secondary's host entry.
fn host_mut<'a>(d: &'a mut Document, side: &str) -> &'a mut lockstep_shared::model::HostRef {
    if side == "primary" {
        &mut d.hosts.primary
    } else {
        &mut d.hosts.secondary
    }
}

fn doc_panel(
    ed: &EditorHandle,
    d: &Document,
    registered: &std::rc::Rc<Vec<(String, String)>>,
) -> Html {
    let ro = ed.readonly;
    let hosts = |side: &'static str| {
        let h = if side == "primary" {
            &d.hosts.primary
        } else {
            &d.hosts.secondary
        };
        let set = move |f: fn(&mut lockstep_shared::model::HostRef, String)| {
            doc_edit(ed, move |d, v| f(host_mut(d, side), v))
        };
        // Picking a registered host sets the name and address at once (one undo step).
        let current = registered
            .iter()
            .position(|(_, a)| same_address(a, &h.address));
        let pick = {
            let (registered, set) = (
                registered.clone(),
                doc_edit(ed, move |d, v| {
                    if let Some((name, address)) = v.split_once('\n') {
                        let h = host_mut(d, side);
                        h.name = name.to_owned();
                        h.address = address.to_owned();
                    }
                }),
            );
            Callback::from(move |e: Event| {
                let i: Option<usize> = e
                    .target_unchecked_into::<web_sys::HtmlSelectElement>()
                    .value()
                    .parse()
                    .ok();
                if let Some((name, address)) = i.and_then(|i| registered.get(i)) {
                    set(format!("{name}\n{address}"));
                }
            })
        };
        html! {
            <fieldset>
                <legend>{ format!("{side} host") }</legend>
                if !registered.is_empty() && !ro {
                    <div class="field">
                        <label for={format!("f-{side}-registered")}>{ "Registered host" }</label>
                        <select id={format!("f-{side}-registered")} onchange={pick}>
                            if current.is_none() {
                                <option value="" selected=true>{ "none at this address: pick one" }</option>
                            }
                            { for registered.iter().enumerate().map(|(i, (name, address))| html! {
                                <option value={i.to_string()} selected={current == Some(i)}>{ format!("{name} — {address}") }</option>
                            }) }
                        </select>
                    </div>
                }
                { field(&format!("f-{side}-name"), "Name", h.name.clone(), ro, nonempty("the host name"), set(|h, v| h.name = v.trim().to_owned())) }
                { field(&format!("f-{side}-address"), "Address", h.address.clone(), ro, nonempty("the address"), set(|h, v| h.address = v.trim().to_owned())) }
                { field(&format!("f-{side}-rundir"), "Run directory", h.run_dir.clone(), ro, nonempty("the run directory"), set(|h, v| h.run_dir = v.trim().to_owned())) }
            </fieldset>
        }
    };
    html! {
        <section class="panel" aria-label="Configuration settings">
            <h2>{ "Configuration" }</h2>
            <p class="muted">{ "Select a node or an edge to edit it." }</p>
            <fieldset>
                <legend>{ "Guest" }</legend>
                { field("f-guest-name", "Name", d.guest.name.clone(), ro, nonempty("the guest name"), doc_edit(ed, |d, v| d.guest.name = v.trim().to_owned())) }
                { field("f-machine", "Machine", d.guest.machine.clone(), ro, nonempty("the machine type"), doc_edit(ed, |d, v| d.guest.machine = v.trim().to_owned())) }
                { field("f-memory", "Memory (MiB)", d.guest.memory_mib.to_string(), ro, num(16, 16 << 20), doc_edit(ed, |d, v| if let Ok(m) = forms::number(&v, 16, 16 << 20) { d.guest.memory_mib = m })) }
                { field("f-vcpus", "vCPUs", d.guest.vcpus.to_string(), ro, num(1, 1024), doc_edit(ed, |d, v| if let Ok(n) = forms::number(&v, 1, 1024) { d.guest.vcpus = n as u32 })) }
                { field("f-uuid", "UUID", d.guest.uuid.clone(), ro, nonempty("the UUID"), doc_edit(ed, |d, v| d.guest.uuid = v.trim().to_owned())) }
                { field("f-emulator", "Emulator", d.guest.emulator.clone(), ro, nonempty("the emulator"), doc_edit(ed, |d, v| d.guest.emulator = v.trim().to_owned())) }
            </fieldset>
            { hosts("primary") }
            { hosts("secondary") }
            <fieldset>
                <legend>{ "COLO" }</legend>
                { field("f-migration-port", "Migration port", d.colo.migration_port.to_string(), ro, num(1, 65535), doc_edit(ed, |d, v| if let Ok(p) = forms::number(&v, 1, 65535) { d.colo.migration_port = p as u32 })) }
                { field("f-nbd-port", "NBD port", d.colo.nbd_port.to_string(), ro, num(1, 65535), doc_edit(ed, |d, v| if let Ok(p) = forms::number(&v, 1, 65535) { d.colo.nbd_port = p as u32 })) }
                { field("f-delay", "Checkpoint delay (ms)", d.colo.checkpoint_delay_ms.to_string(), ro, num(0, u32::MAX as u64), doc_edit(ed, |d, v| if let Ok(n) = forms::number(&v, 0, u32::MAX as u64) { d.colo.checkpoint_delay_ms = n })) }
                { choice("f-sync", "Initial sync", &d.colo.initial_sync, &[InitialSync::Mirror, InitialSync::AssumeIdentical], ro,
                    { let c = doc_edit(ed, |d, v| if let Ok(s) = crate::drawing::from_plain(&v).ok_or(()) { d.colo.initial_sync = s }); move |s: InitialSync| c(serde_plain(&s)) }) }
            </fieldset>
            <fieldset>
                <legend>{ format!("NICs ({})", d.nics.len()) }</legend>
                if d.nics.is_empty() {
                    <p class="muted">{ "No NIC: the pair has no network device." }</p>
                }
                <ul class="nics">
                    { for d.nics.iter().map(|n| html! {
                        <li>{ format!("{} · {} · {}{}", n.id, n.mac, serde_plain(&n.model),
                            if n.proxy.is_some() { " · behind the COLO proxy" } else { "" }) }</li>
                    }) }
                </ul>
            </fieldset>
        </section>
    }
}

#[derive(Properties, PartialEq)]
pub struct PanelProps {
    pub ed: EditorHandle,
    /// The team's registered hosts (name, replication address); none in the sandbox.
    #[prop_or_default]
    pub registered: std::rc::Rc<Vec<(String, String)>>,
}

#[component]
pub fn Panel(p: &PanelProps) -> Html {
    let e = p.ed.editor.borrow();
    let d = e.document();
    let sel: Vec<&Item> = e.selection().iter().collect();
    match sel.as_slice() {
        [Item::Node(id)] => match d.node(id) {
            Some(n) => node_panel(&p.ed, n),
            None => html! {},
        },
        [Item::Edge(id)] => match d.edges.iter().find(|x| &x.id == id) {
            Some(x) => edge_panel(&p.ed, x),
            None => html! {},
        },
        [] => doc_panel(&p.ed, d, &p.registered),
        many => html! {
            <section class="panel" aria-label="Selection">
                <h2>{ format!("{} selected", many.len()) }</h2>
                <p class="muted">{ "Drag to move them together, or press Delete to remove them." }</p>
            </section>
        },
    }
}
