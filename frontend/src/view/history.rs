//! A configuration's history: every version with its message, author and time; any version
//! opened read-only; and the diff between any two: the graph with added, removed and changed
//! nodes and edges coloured, the list of changes, and the XML and plan side by side.

use super::canvas::Canvas;
use super::EditorHandle;
use crate::api;
use crate::editor::Editor;
use crate::route::Route;
use crate::state::step_text;
use lockstep_shared::api as wire;
use lockstep_shared::diff::{diff, ChangeKind, Diff};
use lockstep_shared::render::plan::build;
use lockstep_shared::render::{render_all, Validated};
use lockstep_shared::Document;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use yew::prelude::*;

/// The CSS class of a change.
pub fn change_class(k: ChangeKind) -> &'static str {
    match k {
        ChangeKind::Added => "added",
        ChangeKind::Removed => "removed",
        ChangeKind::Changed => "changed",
    }
}

/// The newer document with what the older one had and the newer lost, and what happened to
/// each id: the picture of a diff.
pub fn merged(
    old: &Document,
    new: &Document,
    d: &Diff,
) -> (Document, BTreeMap<String, ChangeKind>) {
    let mut doc = new.clone();
    let mut marks = BTreeMap::new();
    for c in &d.changes {
        if c.what == "node" || c.what == "edge" {
            marks.insert(c.id.clone(), c.kind);
        }
        if c.kind != ChangeKind::Removed {
            continue;
        }
        match c.what.as_str() {
            "node" => {
                if let Some(n) = old.node(&c.id) {
                    doc.nodes.push(n.clone());
                    if let Some(p) = crate::geometry::positions(old).get(&c.id) {
                        doc.layout.positions.insert(c.id.clone(), *p);
                    }
                }
            }
            "edge" => {
                if let Some(e) = old.edges.iter().find(|e| e.id == c.id) {
                    doc.edges.push(e.clone());
                }
            }
            _ => {}
        }
    }
    (doc, marks)
}

/// The primary XML and the plan of a document as text, or why there are none.
fn rendered(doc: &Document) -> (String, String) {
    match Validated::new(doc.clone()) {
        Ok(v) => {
            let plan = build(&v);
            let steps: Vec<String> = plan
                .phases
                .iter()
                .flat_map(|p| {
                    p.steps.iter().map(move |s| {
                        format!(
                            "{} {} {}: {}",
                            s.n,
                            p.name.as_str(),
                            s.side.as_str(),
                            step_text(s)
                        )
                    })
                })
                .collect();
            (render_all(&v).primary_xml, steps.join("\n"))
        }
        Err(f) => {
            let msg = format!(
                "This version has {} error(s): nothing to render.",
                f.iter().filter(|x| x.is_error()).count()
            );
            (msg.clone(), msg)
        }
    }
}

#[derive(Properties, PartialEq)]
pub struct HistoryProps {
    pub id: i64,
}

#[component]
pub fn History(p: &HistoryProps) -> Html {
    let versions = use_state(|| None::<Result<Vec<wire::VersionMeta>, String>>);
    let pair = use_state(|| None::<(i64, i64)>);
    let docs = use_state(|| None::<Result<(Document, Document), String>>);
    let name = use_state(String::new);
    let id = p.id;
    {
        let versions = versions.clone();
        let pair = pair.clone();
        let name = name.clone();
        use_effect_with(id, move |id| {
            let id = *id;
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(c) = api::get::<wire::ConfigurationWithCurrent>(&format!(
                    "/api/v1/configurations/{id}"
                ))
                .await
                {
                    name.set(c.configuration.name);
                }
                match api::get::<wire::VersionList>(&format!(
                    "/api/v1/configurations/{id}/versions"
                ))
                .await
                {
                    Ok(v) => {
                        let list = v.versions;
                        let newest = list.first().map_or(1, |v| v.version as i64);
                        pair.set(Some(((newest - 1).max(1), newest)));
                        versions.set(Some(Ok(list)));
                    }
                    Err(e) => versions.set(Some(Err(e.explain()))),
                }
            });
        });
    }
    {
        let docs = docs.clone();
        use_effect_with(*pair, move |pair| {
            if let Some((a, b)) = *pair {
                wasm_bindgen_futures::spawn_local(async move {
                    let one = |v: i64| async move {
                        let j: wire::Version =
                            api::get(&format!("/api/v1/configurations/{id}/versions/{v}"))
                                .await
                                .map_err(|e| e.explain())?;
                        Document::from_json(j.document.get()).map_err(|e| e.to_string())
                    };
                    let r = match (one(a).await, one(b).await) {
                        (Ok(x), Ok(y)) => Ok((x, y)),
                        (Err(e), _) | (_, Err(e)) => Err(e),
                    };
                    docs.set(Some(r));
                });
            }
        });
    }

    let rows = match &*versions {
        None => html! { <tr><td colspan="7" class="muted">{ "Loading…" }</td></tr> },
        Some(Err(e)) => html! { <tr><td colspan="7" class="error-box" role="alert">{ e }</td></tr> },
        Some(Ok(list)) => list.iter().map(|v| {
            let n = v.version as i64;
            let (a, b) = pair.unwrap_or((0, 0));
            let pick = |from: bool| {
                let pair = pair.clone();
                Callback::from(move |_: Event| {
                    let (a, b) = pair.unwrap_or((n, n));
                    pair.set(Some(if from { (n, b) } else { (a, n) }));
                })
            };
            let e = v.errors;
            html! {
                <tr>
                    <td><input type="radio" name="from" aria-label={format!("Compare from version {n}")} checked={a == n} onchange={pick(true)} /></td>
                    <td><input type="radio" name="to" aria-label={format!("Compare to version {n}")} checked={b == n} onchange={pick(false)} /></td>
                    <td><a href={Route::Version(id, n).path()}>{ format!("version {n}") }</a></td>
                    <td>{ &v.message }</td>
                    <td>{ &v.author_name }</td>
                    <td>{ v.created_at.minute() }</td>
                    <td class={if e > 0 { "bad" } else { "good" }}>{ if e > 0 { format!("✖ {e} error(s): draft") } else { "✔ deployable".to_owned() } }</td>
                </tr>
            }
        }).collect::<Html>(),
    };

    let compare = match (&*docs, *pair) {
        (Some(Ok((old, new))), Some((a, b))) => {
            let d = diff(old, new);
            let (doc, marks) = merged(old, new, &d);
            let handle = EditorHandle {
                editor: Rc::new(RefCell::new(Editor::new(doc))),
                rev: (a * 100_000 + b) as u64,
                changed: Callback::noop(),
                notice: Callback::noop(),
                readonly: true,
            };
            let (xa, pa) = rendered(old);
            let (xb, pb) = rendered(new);
            html! {
                <section class="compare" aria-label="Diff">
                    <h2>{ format!("Version {a} → version {b}") }</h2>
                    <p class="muted">{ "Green: added · red, dashed: removed · amber: changed." }</p>
                    <div class="compare-top">
                    <ul class="diff" id="history-diff">
                        if d.changes.is_empty() { <li>{ format!("No changes ({} node(s) moved).", d.layout_moves) }</li> }
                        { for d.changes.iter().map(|c| {
                            let (class, sign) = match c.kind {
                                ChangeKind::Added => ("added", "+ added"),
                                ChangeKind::Removed => ("removed", "− removed"),
                                ChangeKind::Changed => ("changed", "~ changed"),
                            };
                            html! { <li class={class}>{ format!("{sign} {} {}{}", c.what, c.id,
                                if c.fields.is_empty() { String::new() } else { format!(" ({})", c.fields.join(", ")) }) }</li> }
                        }) }
                    </ul>
                    <div class="diff-canvas">
                        <Canvas ed={handle} findings={Rc::new(Vec::new())} focus={(0u64, Vec::new())} marks={Rc::new(marks)} />
                    </div>
                    </div>
                    <div class="two">
                        <div><h3>{ format!("primary.xml, version {a}") }</h3><pre class="side">{ xa }</pre></div>
                        <div><h3>{ format!("primary.xml, version {b}") }</h3><pre class="side">{ xb }</pre></div>
                        <div><h3>{ format!("Plan, version {a}") }</h3><pre class="side">{ pa }</pre></div>
                        <div><h3>{ format!("Plan, version {b}") }</h3><pre class="side">{ pb }</pre></div>
                    </div>
                </section>
            }
        }
        (Some(Err(e)), _) => html! { <p class="error-box" role="alert">{ e }</p> },
        _ => html! {},
    };

    html! {
        <main class="page wide">
            <div class="page-head">
                <h1>{ if name.is_empty() { format!("History of configuration {id}") } else { format!("History of {}", *name) } }</h1>
                <a class="button" href={Route::Editor(id).path()}>{ "Back to the editor" }</a>
            </div>
            <table class="list" id="versions">
                { super::head(&["From", "To", "Version", "Message", "Author", "Time (UTC)", "State"], false) }
                <tbody>{ rows }</tbody>
            </table>
            { compare }
        </main>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::starter_document;

    #[test]
    fn a_diff_picture_keeps_what_was_removed_and_marks_everything() {
        let old = Document::from_json(&starter_document()).expect("doc");
        let mut new = old.clone();
        new.nodes.retain(|n| n.id() != "pnbd0");
        new.edges.retain(|e| e.from != "pnbd0" && e.to != "pnbd0");
        if let Some(lockstep_shared::model::Node::Image(i)) =
            new.nodes.iter_mut().find(|n| n.id() == "shidden0")
        {
            i.size_bytes = 1 << 30;
        }
        let d = diff(&old, &new);
        let (pic, marks) = merged(&old, &new, &d);
        assert!(pic.node("pnbd0").is_some(), "the removed node is drawn");
        assert_eq!(marks.get("pnbd0"), Some(&ChangeKind::Removed));
        assert_eq!(marks.get("shidden0"), Some(&ChangeKind::Changed));
        assert!(pic.edges.iter().any(|e| e.to == "pnbd0"), "and its edges");
    }
}
