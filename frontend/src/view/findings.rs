//! The findings list with its badge: every finding with its code, message, hint and the ids
//! it names; clicking one selects those nodes and edges and centres the canvas on them.

use lockstep_shared::validate::Finding;
use std::rc::Rc;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct FindingsProps {
    pub findings: Rc<Vec<Finding>>,
    /// A finding was clicked: its subjects.
    pub pick: Callback<Vec<String>>,
}

/// "2 errors, 1 warning" and whether the document is deployable.
pub fn badge(findings: &[Finding]) -> (usize, usize) {
    let e = findings.iter().filter(|f| f.is_error()).count();
    (e, findings.len() - e)
}

#[component]
pub fn Findings(p: &FindingsProps) -> Html {
    let (errors, warnings) = badge(&p.findings);
    let status = match (errors, warnings) {
        (0, 0) => "Valid: no findings".to_owned(),
        (0, w) => format!("Valid with {w} warning(s)"),
        (e, w) => format!("Not deployable: {e} error(s), {w} warning(s)"),
    };
    html! {
        <section class="findings" aria-label="Findings">
            <p id="status" class={if errors > 0 { "status bad" } else { "status good" }} role="status">{ status }</p>
            <ul id="findings">
                { for p.findings.iter().map(|f| {
                    let pick = p.pick.clone();
                    let subjects = f.subjects.clone();
                    let onclick = Callback::from(move |_: MouseEvent| pick.emit(subjects.clone()));
                    let sev = if f.is_error() { "error" } else { "warning" };
                    html! {
                        <li class={sev} data-code={f.code.clone()}>
                            <button class="finding" {onclick} title="Select and show what it names">
                                <span class="sev">{ if f.is_error() { "✖ error" } else { "⚠ warning" } }</span>
                                <code>{ &f.code }</code>{ " " }{ &f.message }
                                if !f.subjects.is_empty() {
                                    <span class="subjects">{ format!(" [{}]", f.subjects.join(", ")) }</span>
                                }
                            </button>
                            <div class="hint">{ &f.hint }</div>
                        </li>
                    }
                }) }
            </ul>
        </section>
    }
}
