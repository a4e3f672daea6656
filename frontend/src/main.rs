//! Entry point: mounts the page.

use lockstep_frontend::state::{analyze, starter_document, Analysis};
use web_sys::HtmlTextAreaElement;
use yew::prelude::*;

#[derive(Clone, Copy, PartialEq)]
enum Tab {
    PrimaryXml,
    SecondaryXml,
    Plan,
    PrimaryCmdline,
    SecondaryCmdline,
}

const TABS: [(Tab, &str); 5] = [
    (Tab::PrimaryXml, "primary.xml"),
    (Tab::SecondaryXml, "secondary.xml"),
    (Tab::Plan, "plan.json"),
    (Tab::PrimaryCmdline, "primary.cmdline"),
    (Tab::SecondaryCmdline, "secondary.cmdline"),
];

fn preview(a: &Analysis, tab: Tab) -> String {
    let Some(r) = &a.artifacts else {
        return "Fix the errors to see the rendered output.".to_owned();
    };
    match tab {
        Tab::PrimaryXml => r.primary_xml.clone(),
        Tab::SecondaryXml => r.secondary_xml.clone(),
        Tab::Plan => r.plan_json.clone(),
        Tab::PrimaryCmdline => r.primary_cmdline.clone(),
        Tab::SecondaryCmdline => r.secondary_cmdline.clone(),
    }
}

#[component]
fn App() -> Html {
    let text = use_state(starter_document);
    let tab = use_state(|| Tab::PrimaryXml);
    let analysis = use_memo((*text).clone(), |t| analyze(t));
    let oninput = {
        let text = text.clone();
        Callback::from(move |e: InputEvent| {
            let el: HtmlTextAreaElement = e.target_unchecked_into();
            text.set(el.value());
        })
    };
    let status_class = if analysis.parse_error.is_some() || analysis.errors() > 0 {
        "status bad"
    } else {
        "status good"
    };
    html! {
        <main>
            <header>
                <h1>{ "Lockstep" }</h1>
                <p class="sub">{ "COLO configuration: every finding while you type" }</p>
            </header>
            <section class="editor">
                <textarea id="document" spellcheck="false" value={(*text).clone()} {oninput} />
            </section>
            <section class="findings">
                <p id="status" class={status_class}>{ analysis.status() }</p>
                <ul id="findings">
                    { for analysis.findings.iter().map(|f| html! {
                        <li class={if f.is_error() { "error" } else { "warning" }}>
                            <code>{ &f.code }</code>{ " " }{ &f.message }
                            if !f.subjects.is_empty() {
                                <span class="subjects">{ format!(" [{}]", f.subjects.join(", ")) }</span>
                            }
                            <div class="hint">{ &f.hint }</div>
                        </li>
                    }) }
                </ul>
            </section>
            <section class="preview">
                <nav>
                    { for TABS.iter().map(|(t, label)| {
                        let tab = tab.clone();
                        let t = *t;
                        let class = if *tab == t { "active" } else { "" };
                        html! { <button {class} onclick={Callback::from(move |_| tab.set(t))}>{ *label }</button> }
                    }) }
                </nav>
                <pre id="preview">{ preview(&analysis, *tab) }</pre>
            </section>
        </main>
    }
}

fn main() {
    yew::Renderer::<App>::new().render();
}
