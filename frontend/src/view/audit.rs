//! The team's audit timeline: newest first, with the API's filters (actor, action, target
//! type and id, result), paging to older events, and each event's details and diff.

use super::app::Session;
use crate::api;
use lockstep_shared::api::{AuditResult, AuditTarget};
use lockstep_shared::diff::Diff;
use serde_json::Value;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct AuditProps {
    pub session: Session,
}

const FILTERS: [(&str, &str); 5] = [
    ("actor", "Actor"),
    ("action", "Action (e.g. configuration.update)"),
    ("target_type", "Target type"),
    ("target_id", "Target id"),
    ("result", "Result"),
];

/// The values a filter takes, with their labels, when the API has a fixed set of them.
fn choices(filter: &str) -> Option<Vec<(&'static str, String)>> {
    match filter {
        "target_type" => Some(
            AuditTarget::ALL
                .iter()
                .map(|t| (t.as_str(), t.as_str().to_owned()))
                .collect(),
        ),
        "result" => Some(
            AuditResult::ALL
                .iter()
                .map(|r| (r.as_str(), format!("{} ({})", r.as_str(), r.meaning())))
                .collect(),
        ),
        _ => None,
    }
}

/// The query string for the filters given, the team and a cursor.
pub fn query(team: &str, filters: &[(String, String)], cursor: Option<i64>) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let mut q = format!("team={}&limit=25", enc(team));
    for (k, v) in filters {
        if !v.trim().is_empty() {
            q.push_str(&format!("&{k}={}", enc(v.trim())));
        }
    }
    if let Some(c) = cursor {
        q.push_str(&format!("&cursor={c}"));
    }
    q
}

fn event_row(e: &Value) -> Html {
    let s = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
    let target = format!(
        "{} {}{}",
        s("target_type"),
        s("target_id"),
        e["target_name"]
            .as_str()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default()
    );
    let diff: Option<Diff> = serde::Deserialize::deserialize(&e["diff"]).ok();
    let result = s("result");
    html! {
        <tr class="event">
            <td>{ s("at").get(..19).unwrap_or_default().replace('T', " ") }</td>
            <td>{ s("actor_name") }</td>
            <td><code>{ s("action") }</code></td>
            <td>{ match (s("target_type").as_str(), s("target_id").parse::<i64>()) {
                // A configuration's events lead to it.
                ("configuration", Ok(id)) => html! { <a href={crate::route::Route::Editor(id).path()}>{ target }</a> },
                _ => html! { target },
            } }</td>
            <td class={if result == "ok" { "good" } else { "bad" }}>{ if result == "ok" { "✔ ok".to_owned() } else { format!("✖ {result}") } }</td>
            <td>
                <details>
                    <summary>{ match &diff { Some(d) => format!("{} change(s)", d.changes.len()), None => "details".to_owned() } }</summary>
                    if let Some(d) = &diff {
                        <ul class="diff">
                            { for d.changes.iter().map(|c| html! {
                                <li class={super::history::change_class(c.kind)}>{ format!("{:?} {} {}{}", c.kind, c.what, c.id,
                                    if c.fields.is_empty() { String::new() } else { format!(" ({})", c.fields.join(", ")) }).to_lowercase() }</li>
                            }) }
                        </ul>
                    }
                    <pre class="side">{ format!("before: {}\nafter: {}\nrequest {} from {}", e["before"], e["after"], s("request_id"), s("source")) }</pre>
                </details>
            </td>
        </tr>
    }
}

#[component]
pub fn Audit(p: &AuditProps) -> Html {
    let filters = use_state(|| {
        FILTERS
            .iter()
            .map(|(k, _)| (k.to_string(), String::new()))
            .collect::<Vec<_>>()
    });
    let pages = use_state(Vec::<Value>::new);
    let next = use_state(|| None::<i64>);
    let error = use_state(|| None::<String>);
    let load = {
        let (pages, next, error, filters) =
            (pages.clone(), next.clone(), error.clone(), filters.clone());
        let team = p.session.team.clone();
        Callback::from(move |cursor: Option<i64>| {
            let q = query(&team, &filters, cursor);
            let (pages, next, error) = (pages.clone(), next.clone(), error.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match api::get::<lockstep_shared::api::AuditPage>(&format!("/api/v1/audit?{q}"))
                    .await
                {
                    Ok(v) => {
                        let mut all = if cursor.is_some() {
                            (*pages).clone()
                        } else {
                            Vec::new()
                        };
                        all.extend(v.events);
                        pages.set(all);
                        next.set(v.next_cursor);
                        error.set(None);
                    }
                    Err(e) => error.set(Some(e.explain())),
                }
            });
        })
    };
    {
        let load = load.clone();
        use_effect_with(p.session.team.clone(), move |_| load.emit(None));
    }
    let onsubmit = {
        let load = load.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            load.emit(None);
        })
    };
    html! {
        <main class="page wide">
            <h1>{ format!("Audit of {}", p.session.team) }</h1>
            <form class="filters" {onsubmit} aria-label="Filters">
                { for FILTERS.iter().enumerate().map(|(i, (k, label))| {
                    let set = {
                        let filters = filters.clone();
                        move |v: String| {
                            let mut f = (*filters).clone();
                            f[i].1 = v;
                            filters.set(f);
                        }
                    };
                    let id = format!("audit-{k}");
                    let input = match choices(k) {
                        Some(c) => html! {
                            <select id={id.clone()} onchange={Callback::from(move |e: Event| set(e.target_unchecked_into::<web_sys::HtmlSelectElement>().value()))}>
                                <option value="" selected=true>{ "any" }</option>
                                { for c.into_iter().map(|(v, l)| html! { <option value={v}>{ l }</option> }) }
                            </select>
                        },
                        None => html! { <input id={id.clone()} oninput={Callback::from(move |e: InputEvent| set(e.target_unchecked_into::<web_sys::HtmlInputElement>().value()))} /> },
                    };
                    html! { <div class="field"><label for={id}>{ *label }</label>{ input }</div> }
                }) }
                <button type="submit">{ "Filter" }</button>
            </form>
            if let Some(e) = &*error { <p class="error-box" role="alert">{ e }</p> }
            <table class="list" id="audit">
                { super::head(&["Time (UTC)", "Actor", "Action", "Target", "Result", "Details"], false) }
                <tbody>
                    if pages.is_empty() { <tr><td colspan="6" class="muted">{ "No events match." }</td></tr> }
                    { for pages.iter().map(event_row) }
                </tbody>
            </table>
            if let Some(c) = *next {
                <button id="audit-older" onclick={{ let load = load.clone(); Callback::from(move |_: MouseEvent| load.emit(Some(c))) }}>{ "Older events" }</button>
            }
        </main>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_an_escaped_query() {
        let f = vec![
            ("actor".to_owned(), "ada lovelace".to_owned()),
            ("result".to_owned(), " ".to_owned()),
        ];
        assert_eq!(
            query("ops&x", &f, Some(9)),
            "team=ops%26x&limit=25&actor=ada%20lovelace&cursor=9"
        );
    }
}
