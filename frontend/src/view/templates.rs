//! Templates: the gallery (built-ins and the team's), instantiating one with a form generated
//! from its typed parameters (each value checked by `shared::template` as it is typed, and the
//! document it would make validated live), and saving a configuration as a template.

use super::app::{Nav, Session};
use crate::api;
use crate::route::Route;
use lockstep_shared::api as wire;
use lockstep_shared::template::{
    check_value, instantiate_document, to_generate, Binding, ParamType, Parameter, Template,
};
use lockstep_shared::validate::validate;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::rc::Rc;
use yew::prelude::*;

/// What a field's text means for its parameter (an empty text: the default, or generated).
pub fn typed(p: &Parameter, text: &str) -> Option<Value> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    Some(match p.kind {
        ParamType::Integer => t
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(t.to_owned())),
        ParamType::Boolean => Value::Bool(t == "true"),
        _ => Value::String(t.to_owned()),
    })
}

/// The values the form gives, and what is wrong with each field that is wrong.
pub fn form_values(
    t: &Template,
    texts: &BTreeMap<String, String>,
) -> (Map<String, Value>, BTreeMap<String, String>) {
    let mut values = Map::new();
    let mut errors = BTreeMap::new();
    for p in &t.parameters {
        let Some(v) = texts.get(&p.name).and_then(|s| typed(p, s)) else {
            continue;
        };
        match check_value(p, &v) {
            Ok(_) => {
                values.insert(p.name.clone(), v);
            }
            Err(e) => {
                errors.insert(p.name.clone(), e);
            }
        }
    }
    (values, errors)
}

/// "Valid", or the counts of the document the values would make (placeholders stand in for
/// the UUIDs and MACs the server generates).
pub fn preview(t: &Template, values: &Map<String, Value>) -> String {
    let mut v = values.clone();
    for p in to_generate(t, values) {
        v.insert(
            p.name.clone(),
            Value::String(match p.kind {
                ParamType::Mac => "52:54:00:00:00:01".to_owned(),
                _ => "00000000-0000-4000-8000-000000000000".to_owned(),
            }),
        );
    }
    match instantiate_document(t, &v) {
        Err(f) => format!(
            "✖ {}",
            f.iter()
                .map(|x| x.message.clone())
                .collect::<Vec<_>>()
                .join("; ")
        ),
        Ok(doc) => {
            let f = validate(&doc);
            let e = f.iter().filter(|x| x.is_error()).count();
            match (e, f.len() - e) {
                (0, 0) => "✔ the configuration would be valid".to_owned(),
                (0, w) => format!("✔ valid, with {w} warning(s)"),
                (e, w) => format!("✖ the configuration would have {e} error(s) and {w} warning(s): it saves as a draft"),
            }
        }
    }
}

/// What a configuration can offer as parameters when it is saved as a template: a label, the
/// binding, and whether it is offered ticked (what differs between pairs: names, UUID, hosts).
pub fn candidate_bindings(doc: &lockstep_shared::Document) -> Vec<(String, Binding, bool)> {
    let b = |pointer: String, name: String, kind: ParamType, description: &str| Binding {
        pointer,
        name,
        kind,
        description: description.to_owned(),
        default: None,
        constraints: Default::default(),
    };
    let mut out = vec![
        (
            "Guest name".to_owned(),
            b(
                "/guest/name".into(),
                "name".into(),
                ParamType::String,
                "Guest (libvirt domain) name",
            ),
            true,
        ),
        (
            "Guest UUID".to_owned(),
            b(
                "/guest/uuid".into(),
                "uuid".into(),
                ParamType::Uuid,
                "Guest UUID (generated when not given)",
            ),
            true,
        ),
        (
            "Memory".to_owned(),
            b(
                "/guest/memory_mib".into(),
                "memory_mib".into(),
                ParamType::Integer,
                "Guest memory in MiB",
            ),
            false,
        ),
        (
            "vCPUs".to_owned(),
            b(
                "/guest/vcpus".into(),
                "vcpus".into(),
                ParamType::Integer,
                "Virtual CPUs",
            ),
            false,
        ),
    ];
    for side in ["primary", "secondary"] {
        out.push((
            format!("{side} host name"),
            b(
                format!("/hosts/{side}/name"),
                format!("{side}_host"),
                ParamType::String,
                "Host name",
            ),
            true,
        ));
        out.push((
            format!("{side} address"),
            b(
                format!("/hosts/{side}/address"),
                format!("{side}_address"),
                ParamType::String,
                "Replication address",
            ),
            true,
        ));
    }
    for (i, n) in doc.nodes.iter().enumerate() {
        if let lockstep_shared::model::Node::Image(img) = n {
            let id = img.id.replace('-', "_");
            out.push((
                format!("{} path", img.id),
                b(
                    format!("/nodes/{i}/path"),
                    format!("{id}_path"),
                    ParamType::String,
                    "Image path",
                ),
                false,
            ));
            out.push((
                format!("{} size", img.id),
                b(
                    format!("/nodes/{i}/size_bytes"),
                    format!("{id}_size"),
                    ParamType::Size,
                    "Image size, e.g. 10G",
                ),
                false,
            ));
        }
    }
    out
}

#[derive(Properties, PartialEq)]
pub struct SaveAsTemplateProps {
    pub configuration: i64,
    pub version: i64,
    pub document: Rc<lockstep_shared::Document>,
    pub done: Callback<String>,
}

/// "Save as template": a name, a description and the values that become parameters.
#[component]
pub fn SaveAsTemplate(p: &SaveAsTemplateProps) -> Html {
    let open = use_state(|| false);
    let error = use_state(|| None::<String>);
    let candidates = candidate_bindings(&p.document);
    let ticked = {
        let c = candidates.clone();
        use_state(move || c.iter().map(|(_, _, t)| *t).collect::<Vec<bool>>())
    };
    if !*open {
        let open = open.clone();
        return html! { <button id="save-as-template" onclick={Callback::from(move |_: MouseEvent| open.set(true))}>{ "Save as template…" }</button> };
    }
    let onsubmit = {
        let (error, done, open, ticked) =
            (error.clone(), p.done.clone(), open.clone(), ticked.clone());
        let (cid, version) = (p.configuration, p.version);
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let field = |id: &str| super::team::value(id);
            let body = wire::TemplateFromConfiguration {
                name: field("tpl-name"),
                description: field("tpl-description"),
                bindings: candidates
                    .iter()
                    .zip(ticked.iter())
                    .filter(|(_, t)| **t)
                    .map(|((_, b, _), _)| b.clone())
                    .collect(),
                version: Some(version as i32),
                message: format!("saved from configuration {cid} version {version}"),
            };
            let (error, done, open) = (error.clone(), done.clone(), open.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match api::send::<_, wire::SavedTemplate>(
                    "POST",
                    &format!("/api/v1/configurations/{cid}/template"),
                    &body,
                )
                .await
                {
                    Ok(t) => {
                        open.set(false);
                        done.emit(format!(
                            "Saved as template {} (version {}).",
                            t.name.unwrap_or_default(),
                            t.version
                        ));
                    }
                    Err(e) => {
                        let detail = e.details["findings"]
                            .as_array()
                            .map(|f| {
                                f.iter()
                                    .filter_map(|x| x["message"].as_str())
                                    .collect::<Vec<_>>()
                                    .join("; ")
                            })
                            .unwrap_or_default();
                        error.set(Some(format!(
                            "{}{}",
                            e.explain(),
                            if detail.is_empty() {
                                String::new()
                            } else {
                                format!(" ({detail})")
                            }
                        )));
                    }
                }
            });
        })
    };
    let boxes = candidate_bindings(&p.document).into_iter().enumerate().map(|(i, (label, b, _))| {
        let ticked2 = ticked.clone();
        let onchange = Callback::from(move |e: Event| {
            let mut t = (*ticked2).clone();
            if let Some(x) = t.get_mut(i) {
                *x = e.target_unchecked_into::<web_sys::HtmlInputElement>().checked();
            }
            ticked2.set(t);
        });
        let id = format!("tpl-b{i}");
        html! { <label class="inline" for={id.clone()}><input type="checkbox" id={id.clone()} checked={ticked.get(i).copied().unwrap_or(false)} {onchange} />
            { format!(" {label} → ${{{}}}", b.name) }</label> }
    }).collect::<Html>();
    html! {
        <div class="modal-backdrop">
            <form class="modal" id="save-as-template-form" {onsubmit} role="dialog" aria-modal="true" aria-labelledby="tpl-title">
                <h2 id="tpl-title">{ format!("Save version {} as a template", p.version) }</h2>
                <div class="field"><label for="tpl-name">{ "Template name" }</label><input id="tpl-name" required=true /></div>
                <div class="field"><label for="tpl-description">{ "Description" }</label><input id="tpl-description" /></div>
                <fieldset><legend>{ "Values that become parameters (their current values are the defaults)" }</legend>
                    <div class="checks">{ boxes }</div></fieldset>
                if let Some(e) = &*error { <p class="error-box" role="alert">{ e }</p> }
                <div class="actions">
                    <button type="submit" id="save-as-template-submit">{ "Save template" }</button>
                    <button type="button" onclick={{ let open = open.clone(); Callback::from(move |_: MouseEvent| open.set(false)) }}>{ "Cancel" }</button>
                </div>
            </form>
        </div>
    }
}

#[derive(Properties, PartialEq)]
pub struct TemplatesProps {
    pub session: Session,
    pub nav: Nav,
}

#[component]
pub fn Templates(p: &TemplatesProps) -> Html {
    let list = use_state(|| None::<Result<Vec<wire::TemplateSummary>, String>>);
    let open = use_state(|| None::<(i64, String, Template)>);
    let texts = use_state(BTreeMap::<String, String>::new);
    let name = use_state(String::new);
    let error = use_state(|| None::<String>);
    let team = p.session.team.clone();
    let can_edit = p.session.role().is_some_and(|r| r != "viewer");
    {
        let list = list.clone();
        use_effect_with(team.clone(), move |team| {
            let team = team.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let r = api::get::<wire::TemplateList>(&format!("/api/v1/teams/{team}/templates"))
                    .await;
                list.set(Some(r.map(|v| v.templates).map_err(|e| e.explain())));
            });
        });
    }
    let use_template = |id: i64, title: String| {
        let (open, error, texts, team) = (open.clone(), error.clone(), texts.clone(), team.clone());
        Callback::from(move |_: MouseEvent| {
            let (open, error, texts, title, team) = (
                open.clone(),
                error.clone(),
                texts.clone(),
                title.clone(),
                team.clone(),
            );
            wasm_bindgen_futures::spawn_local(async move {
                match api::get::<wire::TemplateView>(&format!("/api/v1/templates/{id}")).await {
                    Ok(v) => {
                        let t = Template {
                            parameters: serde::Deserialize::deserialize(&v.version.parameters)
                                .unwrap_or_default(),
                            body: v.version.body,
                        };
                        // The host parameters start as the team's registered hosts: a pair
                        // is deployed only to registered hosts at the addresses it names.
                        let hosts = api::team_hosts(&team).await.unwrap_or_default();
                        let names: Vec<String> =
                            t.parameters.iter().map(|p| p.name.clone()).collect();
                        texts.set(
                            super::configs::host_values(&names, &hosts)
                                .into_iter()
                                .collect(),
                        );
                        open.set(Some((id, title, t)));
                    }
                    Err(e) => error.set(Some(e.explain())),
                }
            });
        })
    };
    let cards = match &*list {
        None => html! { <p class="muted">{ "Loading…" }</p> },
        Some(Err(e)) => html! { <p class="error-box" role="alert">{ e }</p> },
        Some(Ok(l)) => l.iter().map(|t| {
            let id = t.id;
            let title = t.name.clone();
            html! {
                <article class="card" data-id={id.to_string()}>
                    <h2>{ &title }
                        if t.builtin { <span class="tag">{ "built in" }</span> }</h2>
                    <p>{ &t.description }</p>
                    <p class="muted">{ format!("{} parameter(s) · version {} · by {}", t.parameters, t.current_version, t.updated_by) }</p>
                    if can_edit {
                        <button class="use-template" onclick={use_template(id, title.clone())}>{ "Use this template" }</button>
                    }
                </article>
            }
        }).collect::<Html>(),
    };
    let form = (*open).clone().map(|(id, title, t)| {
        let (values, errors) = form_values(&t, &texts);
        let status = if errors.is_empty() { preview(&t, &values) } else { format!("✖ {} field(s) to fix", errors.len()) };
        let fields = t.parameters.iter().map(|par| {
            let texts2 = texts.clone();
            let pname = par.name.clone();
            let set = Callback::from(move |v: String| {
                let mut m = (*texts2).clone();
                m.insert(pname.clone(), v);
                texts2.set(m);
            });
            let id = format!("tp-{}", par.name);
            let text = texts.get(&par.name).cloned().unwrap_or_default();
            let placeholder = match (&par.default, par.kind) {
                (Some(d), _) => format!("default: {}", d.as_str().map(str::to_owned).unwrap_or_else(|| d.to_string())),
                (None, ParamType::Uuid | ParamType::Mac) => "generated when empty".to_owned(),
                (None, _) => "required".to_owned(),
            };
            let input = match (&par.constraints.choices, par.kind) {
                (Some(choices), _) => {
                    let set = set.clone();
                    html! { <select id={id.clone()} onchange={Callback::from(move |e: Event| set.emit(e.target_unchecked_into::<web_sys::HtmlSelectElement>().value()))}>
                        <option value="" selected={text.is_empty()}>{ placeholder.clone() }</option>
                        { for choices.iter().map(|c| { let s = c.as_str().map(str::to_owned).unwrap_or_else(|| c.to_string());
                            html! { <option value={s.clone()} selected={text == s}>{ s.clone() }</option> } }) }
                    </select> }
                }
                (None, ParamType::Boolean) => {
                    let set = set.clone();
                    html! { <select id={id.clone()} onchange={Callback::from(move |e: Event| set.emit(e.target_unchecked_into::<web_sys::HtmlSelectElement>().value()))}>
                        <option value="" selected={text.is_empty()}>{ placeholder.clone() }</option>
                        <option value="true" selected={text == "true"}>{ "true" }</option>
                        <option value="false" selected={text == "false"}>{ "false" }</option>
                    </select> }
                }
                _ => html! { <input id={id.clone()} value={text.clone()} placeholder={placeholder.clone()}
                    aria-invalid={errors.contains_key(&par.name).to_string()}
                    oninput={Callback::from(move |e: InputEvent| set.emit(e.target_unchecked_into::<web_sys::HtmlInputElement>().value()))} /> },
            };
            html! {
                <div class={classes!("field", errors.contains_key(&par.name).then_some("invalid"))}>
                    <label for={id.clone()}>{ format!("{} ({})", par.name, lockstep_frontend_kind(par.kind)) }</label>
                    { input }
                    if let Some(e) = errors.get(&par.name) {
                        <div class="field-error" role="alert">{ format!("✖ {e}") }</div>
                    } else {
                        <div class="field-hint">{ &par.description }</div>
                    }
                </div>
            }
        }).collect::<Html>();
        let create = {
            let (name, error, team, go) = (name.clone(), error.clone(), team.clone(), p.nav.go.clone());
            let ok = errors.is_empty();
            Callback::from(move |e: SubmitEvent| {
                e.prevent_default();
                if !ok {
                    error.set(Some("Fix the fields marked ✖ first.".to_owned()));
                    return;
                }
                let body = wire::Instantiate {
                    template_id: id,
                    template_version: None,
                    name: name.trim().to_owned(),
                    values: values.clone(),
                    message: format!("created from template {id}"),
                };
                let (error, team, go) = (error.clone(), team.clone(), go.clone());
                wasm_bindgen_futures::spawn_local(async move {
                    match api::send::<_, wire::CreatedConfiguration>("POST", &format!("/api/v1/teams/{team}/configurations/from-template"), &body).await {
                        Ok(v) => go.emit(Route::Editor(v.saved.id)),
                        Err(e) => error.set(Some(e.explain())),
                    }
                });
            })
        };
        let on_name = {
            let name = name.clone();
            Callback::from(move |e: InputEvent| name.set(e.target_unchecked_into::<web_sys::HtmlInputElement>().value()))
        };
        html! {
            <form class="create" id="instantiate" onsubmit={create} aria-label={format!("Use {title}")}>
                <h2>{ format!("New configuration from \u{201c}{title}\u{201d}") }</h2>
                <div class="field"><label for="tp-config-name">{ "Configuration name" }</label>
                    <input id="tp-config-name" value={(*name).clone()} oninput={on_name} required=true /></div>
                <div class="two">{ fields }</div>
                <p id="template-preview" role="status">{ status }</p>
                <button type="submit" id="instantiate-submit">{ "Create configuration" }</button>
            </form>
        }
    });
    html! {
        <main class="page wide">
            <h1>{ format!("Templates of {team}") }</h1>
            if let Some(e) = &*error { <p class="error-box" role="alert">{ e }</p> }
            if !can_edit { <p class="muted">{ "Your role can view templates, not use them." }</p> }
            { for form }
            <div class="gallery" id="templates">{ cards }</div>
        </main>
    }
}

fn lockstep_frontend_kind(k: ParamType) -> &'static str {
    match k {
        ParamType::String => "text",
        ParamType::Integer => "whole number",
        ParamType::Boolean => "true or false",
        ParamType::Size => "size, e.g. 10G",
        ParamType::Uuid => "UUID",
        ParamType::Mac => "MAC address",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lockstep_shared::template::builtins;

    #[test]
    fn a_configuration_offers_its_values_as_parameters() {
        let doc =
            lockstep_shared::Document::from_json(&crate::state::starter_document()).expect("doc");
        let c = candidate_bindings(&doc);
        let t = lockstep_shared::template::from_document(
            &serde_json::to_value(&doc).expect("json"),
            &c.iter().map(|(_, b, _)| b.clone()).collect::<Vec<_>>(),
        )
        .expect("every candidate points at a value");
        assert!(t
            .parameters
            .iter()
            .any(|p| p.name == "pdisk0_size" && p.default == Some(Value::from(10u64 << 30))));
        assert!(c.iter().filter(|(_, _, ticked)| *ticked).count() >= 6);
    }

    #[test]
    fn the_form_checks_each_value_and_previews_the_document() {
        let t = builtins().into_iter().next().expect("a built-in").template;
        let mut texts = BTreeMap::new();
        assert!(
            preview(&t, &Map::new()).starts_with('✔'),
            "{}",
            preview(&t, &Map::new())
        );
        texts.insert("memory_mib".to_owned(), "12".to_owned());
        texts.insert("disk0_size".to_owned(), "lots".to_owned());
        let (_, errors) = form_values(&t, &texts);
        assert_eq!(errors.len(), 2, "{errors:?}");
        texts.insert("memory_mib".to_owned(), "2048".to_owned());
        texts.insert("disk0_size".to_owned(), "20G".to_owned());
        let (values, errors) = form_values(&t, &texts);
        assert!(errors.is_empty());
        assert_eq!(values["memory_mib"], 2048);
    }
}
