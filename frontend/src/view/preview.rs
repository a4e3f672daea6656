//! Preview tabs, rendered in the browser from the current document: both domain XMLs, the
//! plan's phases and runbooks as a readable list (side, phase, command, why), both QEMU
//! command lines, and the document's JSON, which can be edited (both views stay in step).
//! Each text can be copied or downloaded.

use super::{copy_text, download, EditorHandle};
use crate::editor::Edit;
use crate::state::step_text;
use lockstep_shared::render::plan::{build, Step};
use lockstep_shared::render::{render_all, Validated};
use lockstep_shared::Document;
use yew::prelude::*;

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

fn steps_table(steps: &[Step]) -> Html {
    html! {
        <table class="steps">
            <thead><tr><th>{ "#" }</th><th>{ "Side" }</th><th>{ "Command" }</th><th>{ "Why" }</th></tr></thead>
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

#[derive(Properties, PartialEq)]
pub struct PreviewProps {
    pub ed: EditorHandle,
    pub errors: usize,
}

#[component]
pub fn Preview(p: &PreviewProps) -> Html {
    let tab = use_state(|| Tab::Plan);
    let doc = p.ed.editor.borrow().document().clone();
    let json_text = use_state(|| doc.to_json_pretty());
    let json_error = use_state(|| None::<String>);
    {
        // The document changed elsewhere: show it, unless the text already says the same.
        let json_text = json_text.clone();
        let json_error = json_error.clone();
        let doc = doc.clone();
        use_effect_with(p.ed.rev, move |_| {
            if Document::from_json(&json_text).ok().as_ref() != Some(&doc) {
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
        _ if p.errors > 0 => html! {
            <p class="muted">{ format!("Fix the {} error(s) to see the rendered output.", p.errors) }</p>
        },
        t => match Validated::new(doc.clone()) {
            Err(_) => {
                html! { <p class="muted">{ "Fix the errors to see the rendered output." }</p> }
            }
            Ok(v) => {
                if t == Tab::Plan {
                    let plan = build(&v);
                    html! {
                        <div class="plan">
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
                    }
                } else {
                    let a = render_all(&v);
                    let (name, text) = match t {
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
            }
        },
    };
    let plan_json = (*tab == Tab::Plan && p.errors == 0)
        .then(|| {
            Validated::new(doc.clone())
                .ok()
                .map(|v| render_all(&v).plan_json)
        })
        .flatten();
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
                if let Some(pj) = plan_json {
                    <button class="right" onclick={Callback::from(move |_: MouseEvent| download("plan.json", &pj))}>{ "Download plan.json" }</button>
                }
            </nav>
            <div class="tab-body">{ body }</div>
        </section>
    }
}
