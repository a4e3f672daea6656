//! Preview tabs, rendered in the browser from the current document: both domain XMLs, the
//! plan's phases and runbooks as a readable list (side, phase, command, why), both QEMU
//! command lines, and the document's JSON, which can be edited (both views stay in step).
//! Each text can be copied or downloaded.
//!
//! The rendered tabs follow the document once edits pause ([`SETTLE_MS`]), so a drag or a
//! burst of keys costs one validation and one canvas drawing per step, not a re-render of
//! every XML and plan line.

use super::{copy_text, download, EditorHandle};
use crate::editor::Edit;
use crate::state::step_text;
use lockstep_shared::render::plan::{build, Step};
use lockstep_shared::render::{render_all, Validated};
use lockstep_shared::Document;
use std::rc::Rc;
use yew::prelude::*;

/// How long edits must pause before the rendered tabs follow them.
pub const SETTLE_MS: u32 = 250;

#[derive(Clone, Copy, PartialEq)]
pub enum Tab {
    Json,
    PrimaryXml,
    SecondaryXml,
    Plan,
    PrimaryCmdline,
    SecondaryCmdline,
}

const TABS: [(Tab, &str); 6] = [
    (Tab::Json, "Document JSON"),
    (Tab::PrimaryXml, "primary.xml"),
    (Tab::SecondaryXml, "secondary.xml"),
    (Tab::Plan, "Plan"),
    (Tab::PrimaryCmdline, "primary command line"),
    (Tab::SecondaryCmdline, "secondary command line"),
];

/// A plan's steps as a table: number, side, command, why.
pub fn steps_table(steps: &[Step]) -> Html {
    html! {
        <table class="steps">
            { super::head(&["#", "Side", "Command", "Why"], false) }
            <tbody>
                { for steps.iter().map(|s| html! {
                    <tr>
                        <td>{ s.n }</td>
                        <td>{ s.side.as_str() }</td>
                        <td><code>{ step_text(s) }</code></td>
                        <td>{ &s.why }</td>
                    </tr>
                }) }
            </tbody>
        </table>
    }
}

/// One rendered tab of one document snapshot; redrawn only when the snapshot or tab changes.
#[derive(Properties)]
struct RenderedProps {
    snapshot: u64,
    doc: Rc<Document>,
    tab: Tab,
}

impl PartialEq for RenderedProps {
    fn eq(&self, o: &Self) -> bool {
        self.snapshot == o.snapshot && self.tab == o.tab
    }
}

#[component]
fn Rendered(p: &RenderedProps) -> Html {
    let v = match Validated::new((*p.doc).clone()) {
        Ok(v) => v,
        Err(f) => {
            let e = f.iter().filter(|x| x.is_error()).count();
            return html! { <p class="muted">{ format!("Fix the {e} error(s) to see the rendered output.") }</p> };
        }
    };
    if p.tab == Tab::Plan {
        let plan = build(&v);
        let save =
            Callback::from(move |_: MouseEvent| download("plan.json", &render_all(&v).plan_json));
        return html! {
            <div class="plan">
                <div class="actions"><button onclick={save}>{ "Download plan.json" }</button></div>
                <h3>{ "Deploy" }</h3>
                { for plan.phases.iter().map(|ph| html! {
                    <details open=true>
                        <summary>{ format!("{} ({} steps)", ph.title, ph.steps.len()) }</summary>
                        { steps_table(&ph.steps) }
                    </details>
                }) }
                <h3>{ "Runbooks" }</h3>
                { for plan.runbooks.iter().map(|r| html! {
                    <details>
                        <summary>{ format!("{}: {}", r.title, r.when) }</summary>
                        { steps_table(&r.steps) }
                    </details>
                }) }
            </div>
        };
    }
    let a = render_all(&v);
    let (name, text) = match p.tab {
        Tab::PrimaryXml => ("primary.xml", a.primary_xml),
        Tab::SecondaryXml => ("secondary.xml", a.secondary_xml),
        Tab::PrimaryCmdline => ("primary.cmdline", a.primary_cmdline),
        _ => ("secondary.cmdline", a.secondary_cmdline),
    };
    let copy = {
        let text = text.clone();
        Callback::from(move |_: MouseEvent| copy_text(&text))
    };
    let save = {
        let text = text.clone();
        Callback::from(move |_: MouseEvent| download(name, &text))
    };
    html! { <>
        <div class="actions">
            <button onclick={copy}>{ "Copy" }</button>
            <button onclick={save}>{ format!("Download {name}") }</button>
        </div>
        <pre id="preview">{ text }</pre>
    </> }
}

#[derive(Properties, PartialEq)]
pub struct PreviewProps {
    pub ed: EditorHandle,
}

#[component]
pub fn Preview(p: &PreviewProps) -> Html {
    let tab = use_state(|| Tab::Plan);
    // The document the tabs show, and its number: it follows the editor once edits pause.
    let snapshot = use_state(|| (0u64, Rc::new(p.ed.editor.borrow().document().clone())));
    let json_text = use_state(|| snapshot.1.to_json_pretty());
    let json_error = use_state(|| None::<String>);
    {
        let snapshot = snapshot.clone();
        let ed = p.ed.clone();
        use_effect_with(p.ed.rev, move |rev| {
            let rev = *rev;
            let t = gloo_timers::callback::Timeout::new(SETTLE_MS, move || {
                if snapshot.0 != rev {
                    snapshot.set((rev, Rc::new(ed.editor.borrow().document().clone())));
                }
            });
            move || drop(t)
        });
    }
    {
        // A new snapshot: the JSON view shows it, unless its text already says the same.
        let json_text = json_text.clone();
        let json_error = json_error.clone();
        let doc = snapshot.1.clone();
        use_effect_with(snapshot.0, move |_| {
            if Document::from_json(&json_text).ok().as_ref() != Some(&*doc) {
                json_text.set(doc.to_json_pretty());
                json_error.set(None);
            }
        });
    }
    let body: Html = match *tab {
        Tab::Json => {
            let oninput = {
                let ed = p.ed.clone();
                let json_text = json_text.clone();
                let json_error = json_error.clone();
                Callback::from(move |e: InputEvent| {
                    let v = e
                        .target_unchecked_into::<web_sys::HtmlTextAreaElement>()
                        .value();
                    match Document::from_json(&v) {
                        Ok(d) => {
                            json_error.set(None);
                            if &d != ed.editor.borrow().document() {
                                ed.apply(Edit::Replace(Box::new(d)));
                            }
                        }
                        Err(e) => json_error.set(Some(e.to_string())),
                    }
                    json_text.set(v);
                })
            };
            html! { <>
                if let Some(e) = &*json_error {
                    <p class="field-error" role="alert">{ format!("✖ Not a document, nothing applied: {e}") }</p>
                }
                <textarea id="json" aria-label="Document JSON" spellcheck="false" readonly={p.ed.readonly}
                    value={(*json_text).clone()} {oninput} />
            </> }
        }
        t => html! { <Rendered snapshot={snapshot.0} doc={snapshot.1.clone()} tab={t} /> },
    };
    html! {
        <section class="preview" aria-label="Preview">
            <nav role="tablist">
                { for TABS.iter().map(|(t, label)| {
                    let tab = tab.clone();
                    let t = *t;
                    html! { <button role="tab" aria-selected={(*tab == t).to_string()}
                        class={if *tab == t { "active" } else { "" }}
                        onclick={Callback::from(move |_| tab.set(t))}>{ *label }</button> }
                }) }
                if snapshot.0 != p.ed.rev { <span class="right muted">{ "updating…" }</span> }
            </nav>
            <div class="tab-body">{ body }</div>
        </section>
    }
}
