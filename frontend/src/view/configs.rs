//! The team's configurations: the list (name, hosts, version, findings, last change and by
//! whom, archived filter), creating one from the wizard form or from a template, and archiving.

use super::app::{Nav, Session};
use super::fields::TextField;
use crate::api;
use crate::forms;
use crate::route::Route;
use lockstep_shared::api as wire;
use lockstep_shared::model::{HostRef, ImageFormat, NicModel, NicSource};
use lockstep_shared::wizard::{standard_pair, DiskSpec, NicSpec, WizardInput};
use serde_json::json;
use std::collections::BTreeMap;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct ConfigurationsProps {
    pub session: Session,
    pub nav: Nav,
}

/// A random version 4 UUID from the browser's generator.
fn new_uuid() -> String {
    let mut b = [0u8; 16];
    if let Ok(c) = super::window().crypto() {
        let _ = c.get_random_values_with_u8_array(&mut b);
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A guest name from a configuration name: what libvirt and the template accept.
pub fn guest_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let s = s
        .trim_start_matches(['-', '.', '_'])
        .chars()
        .take(64)
        .collect::<String>();
    if s.is_empty() {
        "colo-vm".to_owned()
    } else {
        s
    }
}

/// The wizard form's values, by field.
type Form = BTreeMap<&'static str, String>;

fn wizard_defaults() -> Form {
    BTreeMap::from([
        ("name", String::new()),
        ("primary_name", "colo-a".to_owned()),
        ("primary_address", "10.0.0.1".to_owned()),
        ("secondary_name", "colo-b".to_owned()),
        ("secondary_address", "10.0.0.2".to_owned()),
        ("disks", "1".to_owned()),
        ("disk_size", "10 GiB".to_owned()),
        ("disk_dir", "/var/lib/colo".to_owned()),
        ("memory", "1024".to_owned()),
        ("bridge", String::new()),
    ])
}

/// The wizard's defaults with the team's first two registered hosts as the pair: a deploy
/// goes only to registered hosts whose addresses the document names.
fn with_hosts(mut f: Form, hosts: &[wire::Host]) -> Form {
    for (h, (name, address)) in hosts.iter().zip([
        ("primary_name", "primary_address"),
        ("secondary_name", "secondary_address"),
    ]) {
        f.insert(name, h.name.clone());
        f.insert(address, h.address.clone());
    }
    f
}

/// The host parameters of the built-in templates, per side: the host's name, its address.
const HOST_PARAMETERS: [(&str, &str); 2] = [
    ("primary_host", "primary_address"),
    ("secondary_host", "secondary_address"),
];

/// Values for a template's host parameters (the built-ins' names) from the team's first two
/// registered hosts; none for a template without them.
pub(crate) fn host_values(parameters: &[String], hosts: &[wire::Host]) -> Vec<(String, String)> {
    let has = |n: &str| parameters.iter().any(|p| p == n);
    hosts
        .iter()
        .zip(HOST_PARAMETERS)
        .filter(|(_, (name, address))| has(name) && has(address))
        .flat_map(|(h, (name, address))| {
            [
                (name.to_owned(), h.name.clone()),
                (address.to_owned(), h.address.clone()),
            ]
        })
        .collect()
}

/// The request that makes configuration `name` from template `tid`: the guest named after
/// it and, where the template has host parameters, the team's registered hosts (a pair is
/// deployed only to registered hosts at the addresses it names).
async fn template_request(team: &str, tid: i64, name: String) -> String {
    let parameters: Vec<String> =
        api::get::<wire::TemplateView>(&format!("/api/v1/templates/{tid}"))
            .await
            .map(|t| {
                t.version
                    .parameters
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
    let hosts = api::team_hosts(team).await.unwrap_or_default();
    let mut values = serde_json::Map::new();
    values.insert("name".to_owned(), json!(guest_name(&name)));
    values.extend(
        host_values(&parameters, &hosts)
            .into_iter()
            .map(|(k, v)| (k, json!(v))),
    );
    crate::api::text(&wire::Instantiate {
        template_id: tid,
        template_version: None,
        values,
        name,
        message: "created from a template".to_owned(),
    })
}

/// The document the wizard form describes, or what is wrong with the form.
pub fn wizard_document(
    f: &Form,
    uuid: &str,
) -> Result<(String, lockstep_shared::Document), String> {
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    let name = forms::required(get("name"), "the name")?;
    let host = |n: &str, a: &str| -> Result<HostRef, String> {
        Ok(HostRef {
            name: forms::required(get(n), "a host name")?,
            address: forms::required(get(a), "a host address")?,
            run_dir: "/run/lockstep".to_owned(),
        })
    };
    let guest = guest_name(&name);
    let mut input = WizardInput::new(
        &guest,
        uuid,
        host("primary_name", "primary_address")?,
        host("secondary_name", "secondary_address")?,
    );
    input.memory_mib = forms::number(get("memory"), 64, 4 << 20)?;
    let disks = forms::number(get("disks"), 1, 32)?;
    let size = forms::size(get("disk_size"))?;
    let dir = forms::required(get("disk_dir"), "the disk directory")?;
    input.disks = (0..disks)
        .map(|i| DiskSpec {
            path: format!("{}/{guest}-disk{i}.qcow2", dir.trim_end_matches('/')),
            secondary_path: None,
            size_bytes: size,
            format: ImageFormat::Qcow2,
            storage: None,
            secondary_storage: None,
        })
        .collect();
    let bridge = get("bridge").trim();
    if !bridge.is_empty() {
        input.nic = Some(NicSpec {
            mac: format!("52:54:00:{}:{}:{}", &uuid[0..2], &uuid[2..4], &uuid[4..6]),
            model: NicModel::Virtio,
            source: NicSource::Bridge {
                bridge: bridge.to_owned(),
            },
        });
    }
    Ok((name, standard_pair(&input)))
}

#[component]
pub fn Configurations(p: &ConfigurationsProps) -> Html {
    let list = use_state(|| None::<Result<Vec<wire::ConfigurationSummary>, String>>);
    let archived = use_state(|| false);
    let reload = use_state(|| 0u32);
    let templates = use_state(Vec::<wire::TemplateSummary>::new);
    let hosts = use_state(Vec::<wire::Host>::new);
    let creating = use_state(|| None::<&'static str>);
    let form = use_state(wizard_defaults);
    let error = use_state(|| None::<String>);
    let team = p.session.team.clone();
    let role = p.session.role().unwrap_or("viewer").to_owned();
    let can_edit = role != "viewer";

    {
        let list = list.clone();
        let templates = templates.clone();
        let team = team.clone();
        use_effect_with(
            (team.clone(), *archived, *reload),
            move |(_, archived, _)| {
                let archived = *archived;
                wasm_bindgen_futures::spawn_local(async move {
                    let r = api::get(&format!(
                        "/api/v1/teams/{team}/configurations?archived={archived}"
                    ))
                    .await;
                    list.set(Some(
                        r.map(|v: wire::ConfigurationList| v.configurations)
                            .map_err(|e| e.explain()),
                    ));
                    if let Ok(t) =
                        api::get::<wire::TemplateList>(&format!("/api/v1/teams/{team}/templates"))
                            .await
                    {
                        templates.set(t.templates);
                    }
                });
            },
        );
    }

    let open = |id: i64| {
        let go = p.nav.go.clone();
        Callback::from(move |e: MouseEvent| {
            e.prevent_default();
            go.emit(Route::Editor(id));
        })
    };

    let rows = match &*list {
        None => html! { <tr><td colspan="8" class="muted">{ "Loading…" }</td></tr> },
        Some(Err(e)) => html! { <tr><td colspan="8" class="error-box" role="alert">{ e }</td></tr> },
        Some(Ok(l)) if l.is_empty() => html! { <tr><td colspan="8" class="muted">{ "No configurations yet: create one." }</td></tr> },
        Some(Ok(l)) => l.iter().map(|c| {
            let id = c.id;
            let name = c.name.clone();
            let (e, w) = (c.errors, c.warnings);
            let is_archived = c.archived_at.is_some();
            let archive = {
                let reload = reload.clone();
                let error = error.clone();
                let name = name.clone();
                Callback::from(move |_: MouseEvent| {
                    if !super::window()
                        .confirm_with_message(&format!("Archive {name}? It becomes read-only and leaves the list."))
                        .unwrap_or(false)
                    {
                        return;
                    }
                    let (reload, error) = (reload.clone(), error.clone());
                    wasm_bindgen_futures::spawn_local(async move {
                        match api::act("POST", &format!("/api/v1/configurations/{id}/archive")).await {
                            Ok(_) => reload.set(*reload + 1),
                            Err(e) => error.set(Some(e.explain())),
                        }
                    });
                })
            };
            html! {
                <tr data-id={id.to_string()}>
                    <td><a href={Route::Editor(id).path()} onclick={open(id)}>{ name.clone() }</a>
                        if is_archived { <span class="tag">{ "archived" }</span> }</td>
                    <td>{ format!("{} → {}", c.primary_host, c.secondary_host) }</td>
                    <td class="protection"><super::deploy::ProtectionBadge configuration={id} deployment={c.deployment_id} state={c.deployment_state.clone()} /></td>
                    <td>{ c.current_version }</td>
                    <td class={if e > 0 { "bad" } else { "good" }}>
                        { if e > 0 { format!("✖ {e} error(s)") } else { "✔ deployable".to_owned() } }
                        if w > 0 { { format!(" · ⚠ {w}") } }
                    </td>
                    <td>{ c.updated_at.minute() }</td>
                    <td>{ &c.updated_by }</td>
                    <td>
                        if can_edit && !is_archived {
                            <button onclick={archive} aria-label={format!("Archive {name}")} disabled={c.deployment_id.is_some()}
                                title={c.deployment_id.map(|_| "Deployed: tear the deployment down before archiving")}>{ "Archive" }</button>
                        }
                    </td>
                </tr>
            }
        }).collect::<Html>(),
    };

    let create_form = match *creating {
        None => html! {},
        Some(kind) => {
            let set = |k: &'static str| {
                let form = form.clone();
                Callback::from(move |v: String| {
                    let mut f = (*form).clone();
                    f.insert(k, v);
                    form.set(f);
                })
            };
            let ok = Callback::from(|_: String| Ok::<(), String>(()));
            // Deploys go to registered hosts only, found by the address the document names.
            let registered = if hosts.is_empty() {
                "no hosts registered yet (Hosts page): deploying needs them".to_owned()
            } else {
                format!(
                    "registered: {}",
                    hosts
                        .iter()
                        .map(|h| format!("{} ({})", h.name, h.address))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            let field = |k: &'static str,
                         label: &str,
                         hint: &str,
                         check: Callback<String, Result<(), String>>| {
                html! {
                    <TextField id={format!("new-{k}")} label={label.to_owned()} value={form.get(k).cloned().unwrap_or_default()}
                        hint={hint.to_owned()} {check} commit={set(k)} />
                }
            };
            let submit = {
                let form = form.clone();
                let error = error.clone();
                let go = p.nav.go.clone();
                let team = team.clone();
                let templates = templates.clone();
                Callback::from(move |e: SubmitEvent| {
                    e.prevent_default();
                    // Fields commit on change; read the inputs as they are now.
                    let mut f = (*form).clone();
                    if let Some(doc) = super::window().document() {
                        for k in wizard_defaults().keys().chain(["template"].iter()) {
                            if let Some(el) = doc.get_element_by_id(&format!("new-{k}")) {
                                use wasm_bindgen::JsCast;
                                if let Some(i) = el.dyn_ref::<web_sys::HtmlInputElement>() {
                                    f.insert(k, i.value());
                                } else if let Some(s) = el.dyn_ref::<web_sys::HtmlSelectElement>() {
                                    f.insert(k, s.value());
                                }
                            }
                        }
                    }
                    let (path, body) = if kind == "template" {
                        let Ok(name) = forms::required(
                            f.get("name").map(String::as_str).unwrap_or(""),
                            "the name",
                        ) else {
                            error.set(Some("Give the configuration a name.".to_owned()));
                            return;
                        };
                        let tid: i64 = f
                            .get("template")
                            .and_then(|t| t.parse().ok())
                            .or_else(|| templates.first().map(|t| t.id))
                            .unwrap_or(0);
                        (
                            format!("/api/v1/teams/{team}/configurations/from-template"),
                            Err((tid, name)),
                        )
                    } else {
                        match wizard_document(&f, &new_uuid()) {
                            Ok((name, doc)) => (
                                format!("/api/v1/teams/{team}/configurations"),
                                Ok(crate::api::text(&wire::CreateConfiguration {
                                    name,
                                    document: serde_json::value::to_raw_value(&doc)
                                        .unwrap_or_default(),
                                    message: "created with the wizard".to_owned(),
                                })),
                            ),
                            Err(m) => {
                                error.set(Some(format!("Not created: {m}.")));
                                return;
                            }
                        }
                    };
                    let (error, go, team) = (error.clone(), go.clone(), team.clone());
                    wasm_bindgen_futures::spawn_local(async move {
                        let body = match body {
                            Ok(b) => b,
                            Err((tid, name)) => template_request(&team, tid, name).await,
                        };
                        match api::send_text::<wire::CreatedConfiguration>("POST", &path, &body)
                            .await
                        {
                            Ok(v) => go.emit(Route::Editor(v.saved.id)),
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
                                    "Not created: {}{}",
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
            let cancel = {
                let creating = creating.clone();
                Callback::from(move |_: MouseEvent| creating.set(None))
            };
            html! {
                <form class="create" id="create-form" onsubmit={submit} aria-label="New configuration">
                    <h2>{ if kind == "template" { "New configuration from a template" } else { "New configuration" } }</h2>
                    { field("name", "Name", "Also the guest's libvirt name", Callback::from(|s: String| forms::required(&s, "the name").map(|_| ()))) }
                    if kind == "template" {
                        <div class="field">
                            <label for="new-template">{ "Template" }</label>
                            <select id="new-template">
                                { for templates.iter().enumerate().map(|(i, t)| html! {
                                    <option value={t.id.to_string()} selected={i == 0}>{ format!("{}{} — {}", t.name,
                                        if t.builtin { " (built in)" } else { "" }, t.description) }</option>
                                }) }
                            </select>
                        </div>
                    } else {
                        <div class="two">
                            { field("primary_name", "Primary host", &registered, ok.clone()) }
                            { field("primary_address", "Primary address", "", ok.clone()) }
                            { field("secondary_name", "Secondary host", &registered, ok.clone()) }
                            { field("secondary_address", "Secondary address", "", ok.clone()) }
                            { field("disks", "Disks", "1 to 32", Callback::from(|s: String| forms::number(&s, 1, 32).map(|_| ()))) }
                            { field("disk_size", "Disk size", "e.g. 10 GiB", Callback::from(|s: String| forms::size(&s).map(|_| ()))) }
                            { field("disk_dir", "Image directory", "the same on both hosts", ok.clone()) }
                            { field("memory", "Memory (MiB)", "", Callback::from(|s: String| forms::number(&s, 64, 4 << 20).map(|_| ()))) }
                            { field("bridge", "NIC bridge", "empty: no NIC; a bridge adds a NIC behind the COLO proxy", ok.clone()) }
                        </div>
                    }
                    <div class="actions">
                        <button type="submit" id="create-submit">{ "Create" }</button>
                        <button type="button" onclick={cancel}>{ "Cancel" }</button>
                    </div>
                </form>
            }
        }
    };

    let start = |kind: &'static str| {
        let (creating, error, form, hosts) =
            (creating.clone(), error.clone(), form.clone(), hosts.clone());
        let team = team.clone();
        Callback::from(move |_: MouseEvent| {
            error.set(None);
            if kind != "wizard" || *creating == Some(kind) {
                creating.set(Some(kind));
                return;
            }
            // The wizard opens with the team's hosts as they are now (nothing typed yet to
            // overwrite).
            let (creating, form, hosts, team) =
                (creating.clone(), form.clone(), hosts.clone(), team.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let h = api::team_hosts(&team).await.unwrap_or_default();
                form.set(with_hosts(wizard_defaults(), &h));
                hosts.set(h);
                creating.set(Some(kind));
            });
        })
    };
    let toggle_archived = {
        let archived = archived.clone();
        Callback::from(move |e: Event| {
            archived.set(
                e.target_unchecked_into::<web_sys::HtmlInputElement>()
                    .checked(),
            )
        })
    };

    html! {
        <main class="page">
            <div class="page-head">
                <h1>{ format!("Configurations of {team}") }</h1>
                if can_edit {
                    <button id="new-wizard" onclick={start("wizard")}>{ "New configuration" }</button>
                    <button id="new-template-button" onclick={start("template")}>{ "New from template" }</button>
                } else {
                    <span class="muted">{ format!("Your role ({role}) can view, not create.") }</span>
                }
            </div>
            if let Some(e) = &*error { <p class="error-box" role="alert" id="page-error">{ e }</p> }
            { create_form }
            <label class="inline"><input type="checkbox" id="show-archived" checked={*archived} onchange={toggle_archived} />{ " Show archived" }</label>
            <table class="list" id="configurations">
                { super::head(&["Name", "Hosts", "Protection", "Version", "Findings", "Last change", "By"], true) }
                <tbody>{ rows }</tbody>
            </table>
        </main>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_names_are_what_libvirt_takes() {
        assert_eq!(guest_name("web 1"), "web-1");
        assert_eq!(guest_name("-x"), "x");
        assert_eq!(guest_name("ü"), "colo-vm");
    }

    #[test]
    fn the_wizard_offers_the_registered_hosts() {
        let host = super::super::test_host;
        let f = with_hosts(wizard_defaults(), &[host("a", "192.0.2.1")]);
        assert_eq!(
            (f["primary_name"].as_str(), f["primary_address"].as_str()),
            ("a", "192.0.2.1")
        );
        assert_eq!(
            f["secondary_name"],
            wizard_defaults()["secondary_name"],
            "one host: one side"
        );
        let f = with_hosts(
            wizard_defaults(),
            &[
                host("a", "192.0.2.1"),
                host("b", "192.0.2.2"),
                host("c", "192.0.2.3"),
            ],
        );
        assert_eq!(
            (
                f["secondary_name"].as_str(),
                f["secondary_address"].as_str()
            ),
            ("b", "192.0.2.2")
        );
        assert_eq!(with_hosts(wizard_defaults(), &[]), wizard_defaults());
    }

    #[test]
    fn templates_get_the_registered_hosts_where_they_have_host_parameters() {
        let host = super::super::test_host;
        let hosts = [
            host("a", "192.0.2.1"),
            host("b", "192.0.2.2"),
            host("c", "192.0.2.3"),
        ];
        let builtin: Vec<String> = [
            "name",
            "primary_host",
            "primary_address",
            "secondary_host",
            "secondary_address",
        ]
        .map(str::to_owned)
        .to_vec();
        let v = host_values(&builtin, &hosts);
        assert_eq!(
            v,
            [
                ("primary_host", "a"),
                ("primary_address", "192.0.2.1"),
                ("secondary_host", "b"),
                ("secondary_address", "192.0.2.2"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert_eq!(
            host_values(&builtin, &hosts[..1]).len(),
            2,
            "one host: the primary"
        );
        let own = ["name", "port"].map(str::to_owned).to_vec();
        assert!(
            host_values(&own, &hosts).is_empty(),
            "no host parameters: none given"
        );
    }

    #[test]
    fn the_wizard_form_makes_a_valid_pair() {
        let mut f = wizard_defaults();
        f.insert("name", "web1".into());
        f.insert("disks", "2".into());
        f.insert("bridge", "br0".into());
        let (name, doc) =
            wizard_document(&f, "3f1c2a9e-6b1d-4c2e-9a57-0d7c1e5b8f21").expect("form");
        assert_eq!(name, "web1");
        assert_eq!(doc.nics.len(), 1);
        let errors: Vec<_> = lockstep_shared::validate::validate(&doc)
            .into_iter()
            .filter(|f| f.is_error())
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
        f.insert("disk_size", "ten".into());
        assert!(wizard_document(&f, "x").is_err_and(|e| e.contains("not a size")));
    }
}
