//! A configuration's deployments: deploy an error-free version to two of the team's hosts
//! (the preflight result shown first, then the plan runs), a progress bar per phase with the
//! live step log, the pair's protection status read from both hosts, and the actions
//! (failover either way, teardown) behind dialogs that say what will happen. Deployers and
//! admins act; others see why they cannot.

use super::app::Session;
use super::team::{at_least, set_value, value};
use crate::api;
use crate::deploying::{consequence, progress};
use lockstep_shared::api as wire;
use lockstep_shared::render::plan::{build, Plan};
use lockstep_shared::render::Validated;
use lockstep_shared::validate::hosts::same_address;
use lockstep_shared::Document;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct DeployProps {
    pub id: i64,
    pub session: Session,
}

/// Everything the page shows, loaded together.
#[derive(Clone, Default)]
struct Loaded {
    versions: Vec<wire::VersionMeta>,
    hosts: Vec<wire::Host>,
    deployments: Vec<wire::Deployment>,
    /// The configuration's team and name.
    team_id: i64,
    name: String,
    /// The newest deployment with its steps.
    current: Option<wire::Deployment>,
    status: Option<wire::ProtectionStatus>,
}

fn active(state: &str) -> bool {
    ["queued", "running", "protected", "failed-over"].contains(&state)
}

async fn load(cid: i64, teams: Vec<wire::Membership>) -> Result<Loaded, String> {
    let e = |e: api::ApiError| e.explain();
    let versions: wire::VersionList = api::get(&format!("/api/v1/configurations/{cid}/versions"))
        .await
        .map_err(e)?;
    let cfg: wire::ConfigurationWithCurrent = api::get(&format!("/api/v1/configurations/{cid}"))
        .await
        .map_err(e)?;
    let team_id = cfg.configuration.team_id;
    let team = super::app::membership(&teams, team_id)
        .map(|t| t.team.clone())
        .unwrap_or_default();
    let hosts = api::team_hosts(&team).await.map_err(e)?;
    let list: wire::DeploymentList = api::get(&format!("/api/v1/configurations/{cid}/deployments"))
        .await
        .map_err(e)?;
    let mut current = None;
    let mut status = None;
    if let Some(d) = list.deployments.first() {
        current = Some(
            api::get::<wire::Deployment>(&format!("/api/v1/deployments/{}", d.id))
                .await
                .map_err(e)?,
        );
        if ["protected", "failed-over"].contains(&d.state.as_str()) {
            status = api::get(&format!("/api/v1/deployments/{}/status", d.id))
                .await
                .ok();
        }
    }
    Ok(Loaded {
        versions: versions.versions,
        hosts,
        deployments: list.deployments,
        team_id,
        name: cfg.configuration.name,
        current,
        status,
    })
}

/// The replication addresses (primary, secondary) stored version `version` names.
async fn addresses_of(cid: i64, version: i32) -> Option<[String; 2]> {
    let v: wire::Version = api::get(&format!("/api/v1/configurations/{cid}/versions/{version}"))
        .await
        .ok()?;
    let d = Document::from_json(v.document.get()).ok()?;
    Some([d.hosts.primary.address, d.hosts.secondary.address])
}

/// Picks, in the deploy form, the registered hosts at the addresses version `version` names
/// (else the first two), unless another version was picked meanwhile; `picked` keeps the
/// version's addresses (a form drawn later starts on them).
async fn pick_hosts(
    cid: i64,
    version: i32,
    hosts: Vec<wire::Host>,
    picked: UseStateHandle<Option<[String; 2]>>,
) {
    let Some(a) = addresses_of(cid, version).await else {
        return;
    };
    let shown = value("deploy-version");
    if !shown.is_empty() && shown != version.to_string() {
        return;
    }
    for (side, id) in ["deploy-primary", "deploy-secondary"]
        .into_iter()
        .enumerate()
    {
        if let Some(h) = hosts.get(host_at(&hosts, &a[side], side)) {
            set_value(id, &h.id.to_string());
        }
    }
    picked.set(Some(a));
}

/// The registered host at `address`, else the host at `fallback` in the list.
fn host_at(hosts: &[wire::Host], address: &str, fallback: usize) -> usize {
    hosts
        .iter()
        .position(|h| same_address(&h.address, address))
        .unwrap_or(fallback)
}

/// A version as the deploy form offers it: number, message, author and time.
fn version_label(v: &wire::VersionMeta) -> String {
    let message = if v.message.is_empty() {
        "no message"
    } else {
        &v.message
    };
    format!(
        "version {}: {message} ({}, {})",
        v.version,
        v.author_name,
        v.created_at.minute()
    )
}

/// Where a preflight check ran, with the host checked for that side: "primary: host-a",
/// or "pair" for checks of the pair.
fn check_side(side: Option<&str>, hosts: &[String; 2]) -> String {
    match side {
        Some("primary") => format!("primary: {}", hosts[0]),
        Some("secondary") => format!("secondary: {}", hosts[1]),
        Some(other) => other.to_owned(),
        None => "pair".to_owned(),
    }
}

/// One line over the preflight's table: ready, or how many checks failed.
fn preflight_summary(p: &wire::Preflight) -> String {
    let failed = p.checks.iter().filter(|c| !c.ok).count();
    if p.ok {
        format!("All {} checks passed: ready to deploy.", p.checks.len())
    } else {
        format!(
            "{failed} of {} checks failed: fix what they found on the hosts (or choose other hosts) and check again.",
            p.checks.len()
        )
    }
}

/// The plan of a stored version, for the phases' step counts.
async fn plan_of(cid: i64, version: i32) -> Option<Plan> {
    let v: wire::Version = api::get(&format!("/api/v1/configurations/{cid}/versions/{version}"))
        .await
        .ok()?;
    let doc = Document::from_json(v.document.get()).ok()?;
    Validated::new(doc).ok().map(|v| build(&v))
}

fn badge(status: &Option<wire::ProtectionStatus>, state: &str) -> Html {
    match status {
        Some(s) if s.protected => {
            html! { <span class="badge good" id="protection" role="status">{ "✔ Protected" }</span> }
        }
        Some(s) => {
            html! { <span class="badge bad" id="protection" role="status">{ format!("⚠ {}", s.summary) }</span> }
        }
        None => {
            html! { <span class="badge" id="protection" role="status">{ state.to_owned() }</span> }
        }
    }
}

#[component]
pub fn Deployments(p: &DeployProps) -> Html {
    let cid = p.id;
    let teams = p.session.teams.clone();
    let tick = use_state(|| 0u32);
    let data = use_state(|| None::<Result<Loaded, String>>);
    let plan = use_state(|| None::<(i32, Plan)>);
    // The preflight's answer, with the names of the hosts it checked (primary, secondary).
    let preflight = use_state(|| None::<Result<(wire::Preflight, [String; 2]), String>>);
    // The replication addresses of the version picked in the form, once read.
    let picked = use_state(|| None::<[String; 2]>);
    // The plan of the version being checked, shown before the deploy runs.
    let proposed = use_state(|| None::<(i32, Plan)>);
    let message = use_state(|| None::<(bool, String)>);
    let busy = use_state(|| false);
    // Steps streamed while a deploy runs (server-sent events), shown after the loaded ones.
    let live = use_mut_ref(Vec::<wire::DeploymentStep>::new);
    let reloads = use_mut_ref(|| 0u32);
    let redraw = use_force_update();
    let running_id = match &*data {
        Some(Ok(l)) => l
            .current
            .as_ref()
            .filter(|d| ["queued", "running"].contains(&d.state.as_str()))
            .map(|d| d.id),
        _ => None,
    };
    {
        let (live, reloads, tick) = (live.clone(), reloads.clone(), tick.clone());
        use_effect_with(running_id, move |id| {
            live.borrow_mut().clear();
            let follow = id.and_then(|id| follow(id, live, reloads, tick, redraw));
            move || drop(follow)
        });
    }
    // Load now; again every 5 s while a pair is deployed (its status), and when a deploy ends
    // or an action ran. A running deploy streams its steps instead.
    {
        let (data, plan) = (data.clone(), plan.clone());
        use_effect_with(*tick, move |_| {
            let (data2, plan2) = (data.clone(), plan.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let loaded = load(cid, teams).await;
                if let Ok(l) = &loaded {
                    if let Some(d) = &l.current {
                        if plan2.as_ref().map(|(v, _)| *v) != Some(d.version) {
                            if let Some(p) = plan_of(cid, d.version).await {
                                plan2.set(Some((d.version, p)));
                            }
                        }
                    }
                }
                data2.set(Some(loaded));
            });
        });
    }
    // The form offers the newest version without errors first, with its hosts picked (read
    // once, not at every reload).
    {
        let picked = picked.clone();
        let (first, hosts) = match &*data {
            Some(Ok(l)) => (
                l.versions.iter().find(|v| v.errors == 0).map(|v| v.version),
                l.hosts.clone(),
            ),
            _ => (None, Vec::new()),
        };
        use_effect_with(first, move |first| {
            if let Some(version) = *first {
                wasm_bindgen_futures::spawn_local(pick_hosts(cid, version, hosts, picked));
            }
        });
    }
    let deployed = matches!(&*data, Some(Ok(l)) if l.current.as_ref().is_some_and(|d| ["protected", "failed-over"].contains(&d.state.as_str())));
    {
        let tick = tick.clone();
        use_effect_with((*tick, deployed), move |(_, deployed)| {
            let t = deployed
                .then(|| gloo_timers::callback::Timeout::new(5000, move || tick.set(*tick + 1)));
            move || drop(t)
        });
    }
    let Some(loaded) = (*data).clone() else {
        return html! { <main class="page"><p class="muted">{ "Loading…" }</p></main> };
    };
    let l = match loaded {
        Ok(l) => l,
        Err(e) => {
            return html! { <main class="page"><p class="error-box" role="alert">{ e }</p></main> }
        }
    };
    let can_deploy = at_least(p.session.role_in(l.team_id), "deployer");
    let current = l.current.clone();
    let busy_now = current.as_ref().is_some_and(|d| active(&d.state));
    let body_of = || -> Option<String> {
        let version: i32 = value("deploy-version").parse().ok()?;
        let primary_host_id: i64 = value("deploy-primary").parse().ok()?;
        let secondary_host_id: i64 = value("deploy-secondary").parse().ok()?;
        lockstep_shared::json::try_compact(&wire::DeployRequest {
            version,
            primary_host_id,
            secondary_host_id,
        })
        .ok()
    };
    let check = {
        let (preflight, busy, proposed) = (preflight.clone(), busy.clone(), proposed.clone());
        let hosts = l.hosts.clone();
        Callback::from(move |_: MouseEvent| {
            let Some(body) = body_of() else {
                preflight.set(Some(Err("Choose a version and two hosts.".to_owned())));
                return;
            };
            let checked = ["deploy-primary", "deploy-secondary"].map(|s| picked_host(&hosts, s));
            let (preflight, busy, proposed) = (preflight.clone(), busy.clone(), proposed.clone());
            let version: Option<i32> = value("deploy-version").parse().ok();
            busy.set(true);
            wasm_bindgen_futures::spawn_local(async move {
                let r = api::send_text::<wire::Preflight>(
                    "POST",
                    &format!("/api/v1/configurations/{cid}/preflight"),
                    &body,
                )
                .await;
                preflight.set(Some(r.map(|p| (p, checked)).map_err(|e| e.explain())));
                // What the deploy will do, shown before it runs.
                if let Some(version) = version {
                    proposed.set(plan_of(cid, version).await.map(|p| (version, p)));
                }
                busy.set(false);
            });
        })
    };
    let deploy = {
        let (message, tick, hosts) = (message.clone(), tick.clone(), l.hosts.clone());
        Callback::from(move |_: MouseEvent| {
            let Some(body) = body_of() else { return };
            let text = format!(
                "Deploy version {} with {} as the primary and {} as the secondary? Lockstep creates the overlays, defines and starts both domains and starts COLO; if a step fails, what it created is removed.",
                value("deploy-version"),
                picked_host(&hosts, "deploy-primary"),
                picked_host(&hosts, "deploy-secondary")
            );
            if !super::window().confirm_with_message(&text).unwrap_or(false) {
                return;
            }
            let (message, tick) = (message.clone(), tick.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match api::send_text::<wire::Deployment>(
                    "POST",
                    &format!("/api/v1/configurations/{cid}/deployments"),
                    &body,
                )
                .await
                {
                    Ok(d) => message.set(Some((true, format!("Deployment {} queued.", d.id)))),
                    Err(e) => message.set(Some((false, e.explain()))),
                }
                tick.set(*tick + 1);
            });
        })
    };
    let deployable: Vec<&wire::VersionMeta> = l.versions.iter().filter(|v| v.errors == 0).collect();
    // The registered host at the address the picked version names for a side, else the
    // first two.
    let pick = |side: usize| {
        picked
            .as_ref()
            .map_or(side, |a| host_at(&l.hosts, &a[side], side))
    };
    let missing = picked
        .as_ref()
        .map(|a| unregistered(a, &l.hosts))
        .unwrap_or_default();
    // A check holds for the version and hosts it checked: another pick needs a new one.
    let changed = {
        let (preflight, proposed) = (preflight.clone(), proposed.clone());
        Callback::from(move |_: Event| {
            preflight.set(None);
            proposed.set(None);
        })
    };
    // Another version: the hosts at the addresses it names are picked for it.
    let version_changed = {
        let (changed, picked, hosts) = (changed.clone(), picked.clone(), l.hosts.clone());
        Callback::from(move |e: Event| {
            changed.emit(e);
            let Ok(version) = value("deploy-version").parse::<i32>() else {
                return;
            };
            wasm_bindgen_futures::spawn_local(pick_hosts(
                cid,
                version,
                hosts.clone(),
                picked.clone(),
            ));
        })
    };
    let host_select = |id: &str, label: &str, pick: usize| {
        html! {
            <div class="field">
                <label for={id.to_owned()}>{ label }</label>
                <select id={id.to_owned()} onchange={changed.clone()}>
                    { for l.hosts.iter().enumerate().map(|(i, h)| html! {
                        <option value={h.id.to_string()} selected={i == pick}>{ format!("{} — {} ({})", h.name, h.address, h.libvirt_uri) }</option>
                    }) }
                </select>
            </div>
        }
    };
    let form = if !can_deploy {
        html! { <p class="muted" id="deploy-why">{ "Deployers and admins deploy and run failovers; you can follow deployments here." }</p> }
    } else if busy_now {
        html! { <p class="muted" id="deploy-why">{ "This configuration has an active deployment; tear it down to deploy again." }</p> }
    } else if deployable.is_empty() {
        html! { <p class="muted" id="deploy-why">{ "No version without errors yet: fix the errors in the editor and save." }</p> }
    } else if l.hosts.len() < 2 {
        html! { <p class="muted" id="deploy-why">{ "Register two hosts first (Hosts page)." }</p> }
    } else {
        let passed = matches!(&*preflight, Some(Ok((p, _))) if p.ok);
        html! {
            <section class="create" aria-label="Deploy">
                <h2>{ "Deploy" }</h2>
                <div class="two">
                    <div class="field">
                        <label for="deploy-version">{ "Version" }</label>
                        <select id="deploy-version" onchange={version_changed}>
                            // The newest first, and picked.
                            { for deployable.iter().enumerate().map(|(i, v)| html! { <option value={v.version.to_string()} selected={i == 0}>{ version_label(v) }</option> }) }
                        </select>
                    </div>
                    { host_select("deploy-primary", "Primary host", pick(0)) }
                    { host_select("deploy-secondary", "Secondary host", pick(1)) }
                </div>
                if !missing.is_empty() {
                    <p class="error-box" role="alert" id="deploy-unregistered">{ format!(
                        "This version replicates to {}, and no registered host has {}: register the host (Hosts page), or change the address in the editor and save.",
                        missing.join(" and "), if missing.len() > 1 { "those addresses" } else { "that address" }) }</p>
                }
                <div class="actions">
                    <button id="deploy-check" onclick={check} disabled={*busy}>{ "Check hosts" }</button>
                    <button id="deploy-start" onclick={deploy} disabled={!passed}
                        title={if passed { "" } else { "Check the hosts first; every check must pass" }}>{ "Deploy" }</button>
                </div>
                { match &*preflight {
                    None => html! {},
                    Some(Err(e)) => html! { <p class="error-box" role="alert">{ e }</p> },
                    Some(Ok((p, checked))) => html! { <>
                        <p id="preflight-summary" class={if p.ok { "saved" } else { "error-box" }} role="status">{ preflight_summary(p) }</p>
                        <table class="list" id="preflight">
                            { super::head(&["Check", "Side", "Result", "Found"], false) }
                            <tbody>{ for p.checks.iter().map(|c| html! {
                                <tr class={if c.ok { "ok" } else { "bad" }}>
                                    <td>{ &c.what }</td>
                                    <td class="nowrap">{ check_side(c.side.as_deref(), checked) }</td>
                                    <td class="nowrap">{ if c.ok { "✔ passed" } else { "✖ failed" } }</td>
                                    <td>{ &c.detail }</td>
                                </tr>
                            }) }</tbody>
                        </table>
                    </> },
                } }
                if let Some((version, plan)) = &*proposed {
                    <section id="deploy-plan" aria-label="The plan">
                        <h3>{ format!("What deploying version {version} does: {} steps in {} phases", plan.phases.iter().map(|p| p.steps.len()).sum::<usize>(), plan.phases.len()) }</h3>
                        { for plan.phases.iter().map(|ph| html! {
                            <details>
                                <summary>{ format!("{} ({} steps)", ph.title, ph.steps.len()) }</summary>
                                { super::preview::steps_table(&ph.steps) }
                            </details>
                        }) }
                    </section>
                }
            </section>
        }
    };
    let newest = l.versions.iter().map(|v| v.version).max();
    let current_view = current.as_ref().map(|d| {
        // After a failover: the host that was lost, as the deployment's document names sides.
        let survivor_is_doc_primary =
            (d.active_side.as_deref() == Some("primary")) != d.roles_swapped;
        let lost_host = if survivor_is_doc_primary {
            d.secondary_host_id
        } else {
            d.primary_host_id
        };
        let survivor_host = if survivor_is_doc_primary {
            d.primary_host_id
        } else {
            d.secondary_host_id
        };
        let last = d.steps.last().map_or(0, |s| s.seq);
        let steps: Vec<wire::DeploymentStep> = d
            .steps
            .iter()
            .cloned()
            .chain(live.borrow().iter().filter(|s| s.seq > last).cloned())
            .collect();
        let phases = plan
            .as_ref()
            .filter(|(v, _)| *v == d.version)
            .map(|(_, p)| progress(p, &steps))
            .unwrap_or_default();
        let act = |action: &'static str, label: &'static str| {
            let (message, tick, did) = (message.clone(), tick.clone(), d.id);
            let active_side = d.active_side.clone();
            let (lost_host, newest) = (lost_host, newest);
            let onclick = Callback::from(move |_: MouseEvent| {
                let force = action != "teardown"
                    && super::window()
                        .document()
                        .and_then(|doc| doc.get_element_by_id("deploy-force"))
                        .and_then(|e| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlInputElement>(e).ok())
                        .is_some_and(|i| i.checked());
                if !super::window().confirm_with_message(&consequence(action, force, active_side.as_deref())).unwrap_or(false) {
                    return;
                }
                let (message, tick) = (message.clone(), tick.clone());
                // Re-protect onto another registered host: with the newest version, which must
                // name it (the server says what to change otherwise).
                let onto: Option<i64> = (action == "reprotect")
                    .then(|| value("reprotect-host").parse().ok())
                    .flatten()
                    .filter(|h| Some(*h) != lost_host);
                let body = lockstep_shared::json::try_compact(&wire::DeploymentAction {
                    action: action.to_owned(),
                    force,
                    host_id: onto,
                    version: onto.and(newest),
                })
                .unwrap_or_default();
                wasm_bindgen_futures::spawn_local(async move {
                    match api::send_text::<wire::Deployment>("POST", &format!("/api/v1/deployments/{did}/actions"), &body).await {
                        Ok(d) => message.set(Some((true, format!("{label}: the deployment is now {}.", d.state)))),
                        Err(e) => message.set(Some((false, e.explain()))),
                    }
                    tick.set(*tick + 1);
                });
            });
            html! { <button id={format!("action-{action}")} class={if action == "teardown" { "danger" } else { "" }} {onclick}>{ label }</button> }
        };
        let deployed = ["protected", "failed-over"].contains(&d.state.as_str());
        html! {
            <section aria-label="Current deployment" id="current-deployment">
                <h2>{ format!("Deployment {} of version {} ", d.id, d.version) }{ badge(&l.status, &d.state) }</h2>
                <p>{ format!("State: {}", d.state) }
                    { d.active_side.as_ref().map(|s| format!(" (the {s} runs the guest)")).unwrap_or_default() }
                    { format!(" — by {} at {}", d.created_by, d.created_at.second()) }</p>
                if let Some(e) = &d.error { <p class="error-box" role="alert" id="deploy-error">{ e }</p> }
                if d.roles_swapped {
                    <p id="roles-swapped">{ format!("Roles swapped: {} runs the primary, {} the secondary (after a failover to the secondary and a re-protect).", host_name(&l.hosts, d.secondary_host_id, &d.secondary_uri), host_name(&l.hosts, d.primary_host_id, &d.primary_uri)) }</p>
                }
                if let Some(s) = &l.status {
                    <p id="status-detail">
                        { s.since.as_ref().map(|t| format!("{} since {}. ", s.summary, t.second())).unwrap_or_default() }
                        { s.detail.clone().unwrap_or_default() }
                    </p>
                }
                if let Some(s) = &l.status {
                    <table class="list" id="sides">
                        { super::head(&["Side", "libvirt", "QEMU", "COLO", "Checkpoint delay"], false) }
                        <tbody>{ for [("primary", &s.primary), ("secondary", &s.secondary)].into_iter().zip(hosts_now(d, s.roles_swapped)).map(|((n, x), (host, uri))| html! {
                            <tr><td>{ format!("{n} on ") }{ host_name(&l.hosts, host, &uri) }<br /><code class="uri">{ uri }</code></td><td>{ &x.domain }{ if x.libvirt_behind() { " †" } else { "" } }</td><td>{ x.qemu().unwrap_or_default() }</td>
                            <td>{ x.colo_mode.clone().unwrap_or_default() }{ x.migration.as_ref().map(|m| format!(", migration {m}")).unwrap_or_default() }</td>
                            <td>{ x.checkpoint_delay_ms.map(|d| format!("{d} ms")).unwrap_or_default() }</td></tr>
                        }) }</tbody>
                    </table>
                    if s.primary.libvirt_behind() || s.secondary.libvirt_behind() {
                        <p class="muted" id="libvirt-behind">{ "† " }{ wire::LIBVIRT_BEHIND }</p>
                    }
                }
                <ol class="phases" id="phases">
                    { for phases.iter().map(|ph| {
                        let pct = (ph.done * 100).checked_div(ph.total).unwrap_or(100);
                        html! {
                            <li class={if ph.failed { "bad" } else if ph.done >= ph.total { "ok" } else { "" }} data-phase={ph.name.clone()}>
                                <label for={format!("phase-{}", ph.name)}>{ &ph.title }</label>
                                <progress id={format!("phase-{}", ph.name)} max="100" value={pct.to_string()}>{ format!("{pct}%") }</progress>
                                <span>{ ph.label() }</span>
                            </li>
                        }
                    }) }
                </ol>
                if can_deploy && deployed {
                    <div class="actions" aria-label="Actions">
                        { act("failover-to-secondary", "Fail over to the secondary") }
                        { act("failover-to-primary", "Fail over to the primary") }
                        <label><input type="checkbox" id="deploy-force" />{ " the other side is fenced (force)" }</label>
                        if d.state == "failed-over" {
                            <label for="reprotect-host">{ "Re-protect onto" }</label>
                            <select id="reprotect-host">
                                { for l.hosts.iter().filter(|h| Some(h.id) != survivor_host).map(|h| html! {
                                    <option value={h.id.to_string()} selected={Some(h.id) == lost_host}>
                                        { if Some(h.id) == lost_host { format!("{} (the lost host)", h.name) } else { h.name.clone() } }
                                    </option>
                                }) }
                            </select>
                            { act("reprotect", if d.active_side.as_deref() == Some("secondary") { "Re-protect (swap roles)" } else { "Re-protect" }) }
                        }
                        { act("teardown", "Tear down") }
                    </div>
                }
                if can_deploy && d.state == "failed" {
                    <div class="actions" aria-label="Actions">{ act("teardown", "Remove what is left on the hosts") }</div>
                }
                <h3>{ "Steps" }</h3>
                <table class="list" id="steps">
                    { super::head(&["#", "Run", "Phase", "Side", "Command", "ms", "Result"], false) }
                    <tbody>{ for steps.iter().map(|s| html! {
                        <tr class={if s.error.is_some() { "bad" } else { "" }}>
                            <td>{ s.seq }</td><td>{ &s.run }</td><td>{ &s.phase }</td><td>{ &s.side }</td>
                            <td><code>{ &s.command }</code></td>
                            <td>{ format!("{:.1}", s.micros as f64 / 1000.0) }</td>
                            <td>{ match (&s.error, s.skipped) { (Some(e), _) => format!("✖ {e}"), (None, true) => "skipped".to_owned(), (None, false) => "✔".to_owned() } }</td>
                        </tr>
                    }) }</tbody>
                </table>
            </section>
        }
    });
    html! {
        <main class="page">
            <div class="page-head">
                <h1>{ format!("Deployments of {}", l.name) }</h1>
                <a class="button" href={crate::route::Route::Editor(cid).path()}>{ "Back to the editor" }</a>
            </div>
            { super::banner(&message, "deploy-message") }
            { form }
            { for current_view }
            if l.deployments.len() > 1 {
                <h2>{ "Earlier deployments" }</h2>
                <ul id="earlier">{ for l.deployments.iter().skip(1).map(|d| html! {
                    <li>{ format!("{}: version {}, {} ({} → {})", d.id, d.version, d.state,
                        host_name(&l.hosts, d.primary_host_id, &d.primary_uri), host_name(&l.hosts, d.secondary_host_id, &d.secondary_uri)) }</li>
                }) }</ul>
            }
        </main>
    }
}

#[derive(Properties, PartialEq)]
pub struct BadgeProps {
    pub configuration: i64,
    pub deployment: Option<i64>,
    pub state: Option<String>,
}

/// A configuration's protection in the list: read from both hosts for a deployed pair (again
/// every 10 s), the deployment's state otherwise; a link to the deployments page.
#[component]
pub fn ProtectionBadge(p: &BadgeProps) -> Html {
    let status = use_state(|| None::<wire::ProtectionStatus>);
    let tick = use_state(|| 0u32);
    let deployed = matches!(p.state.as_deref(), Some("protected" | "failed-over"));
    {
        let (status, tick) = (status.clone(), tick.clone());
        use_effect_with((p.deployment, deployed, *tick), move |(d, deployed, _)| {
            let timer = d.filter(|_| *deployed).map(|did| {
                let status = status.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    if let Ok(s) = api::get(&format!("/api/v1/deployments/{did}/status")).await {
                        status.set(Some(s));
                    }
                });
                gloo_timers::callback::Timeout::new(10_000, move || tick.set(*tick + 1))
            });
            move || drop(timer)
        });
    }
    let href = crate::route::Route::Deployments(p.configuration).path();
    let label = match (&*status, p.state.as_deref()) {
        (Some(s), _) if deployed => {
            return html! {
                <a href={href} class={if s.protected { "badge good" } else { "badge bad" }}>
                    { if s.protected { "✔ Protected".to_owned() } else { format!("⚠ {}", s.summary) } }
                </a>
            }
        }
        (_, Some("queued" | "running")) => "deploying…",
        (_, Some(_)) => "checking…",
        (_, None) => "not deployed",
    };
    html! { <a href={href} class="badge">{ label }</a> }
}

#[derive(Properties, PartialEq)]
pub struct EditorBadgeProps {
    pub configuration: i64,
}

/// The protection badge for the editor: finds the configuration's active deployment first;
/// shows nothing when there is none.
#[component]
pub fn EditorBadge(p: &EditorBadgeProps) -> Html {
    let found = use_state(|| None::<(Option<i64>, Option<String>)>);
    {
        let found = found.clone();
        use_effect_with(p.configuration, move |cid| {
            let cid = *cid;
            wasm_bindgen_futures::spawn_local(async move {
                let list: Result<wire::DeploymentList, _> =
                    api::get(&format!("/api/v1/configurations/{cid}/deployments")).await;
                let d = list.ok().and_then(|l| {
                    l.deployments
                        .into_iter()
                        .find(|d| active(&d.state))
                        .map(|d| (Some(d.id), Some(d.state)))
                });
                found.set(Some(d.unwrap_or((None, None))));
            });
        });
    }
    // Nothing for a configuration that is not deployed: the Deploy button says enough.
    match &*found {
        Some((Some(d), st)) => html! {
            <ProtectionBadge configuration={p.configuration} deployment={Some(*d)} state={st.clone()} />
        },
        _ => html! {},
    }
}

/// The hosts (registered id and URI) running the primary and the secondary now.
fn hosts_now(d: &wire::Deployment, swapped: bool) -> [(Option<i64>, String); 2] {
    let p = (d.primary_host_id, d.primary_uri.clone());
    let s = (d.secondary_host_id, d.secondary_uri.clone());
    if swapped {
        [s, p]
    } else {
        [p, s]
    }
}

/// The sides whose address (primary, secondary) no registered host has, as the form says them:
/// "the primary's address 10.0.0.1".
fn unregistered(addresses: &[String; 2], hosts: &[wire::Host]) -> Vec<String> {
    ["primary", "secondary"]
        .iter()
        .zip(addresses)
        .filter(|(_, a)| !a.is_empty() && !hosts.iter().any(|h| same_address(&h.address, a)))
        .map(|(side, a)| format!("the {side}'s address {a}"))
        .collect()
}

/// A side's host as the team named it; its URI when it is not (or no longer) registered.
fn host_name(hosts: &[wire::Host], id: Option<i64>, uri: &str) -> String {
    hosts
        .iter()
        .find(|h| Some(h.id) == id)
        .map_or_else(|| uri.to_owned(), |h| h.name.clone())
}

/// The name of the host picked in select `id` (its value, a host's id).
fn picked_host(hosts: &[wire::Host], id: &str) -> String {
    let v = value(id);
    host_name(hosts, v.parse().ok(), &v)
}

/// An open event stream and its listeners; closed when dropped.
struct Follow {
    source: web_sys::EventSource,
    _listeners: [wasm_bindgen::closure::Closure<dyn FnMut(web_sys::MessageEvent)>; 2],
}

impl Drop for Follow {
    fn drop(&mut self) {
        self.source.close();
    }
}

/// Follows deployment `id`'s server-sent events: each `step` is added to `live` and drawn; the
/// `state` that ends the deploy closes the stream and reloads the page's data.
fn follow(
    id: i64,
    live: std::rc::Rc<std::cell::RefCell<Vec<wire::DeploymentStep>>>,
    reloads: std::rc::Rc<std::cell::RefCell<u32>>,
    tick: UseStateHandle<u32>,
    redraw: UseForceUpdateHandle,
) -> Option<Follow> {
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    let source = web_sys::EventSource::new(&format!("/api/v1/deployments/{id}/events")).ok()?;
    let data = |e: &web_sys::MessageEvent| e.data().as_string().unwrap_or_default();
    let on_step =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            if let Ok(step) = lockstep_shared::json::read::<wire::DeploymentStep>(&data(&e)) {
                live.borrow_mut().push(step);
                redraw.force_update();
            }
        });
    let closer = source.clone();
    let on_state =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            let Ok(d) = lockstep_shared::json::read::<wire::Deployment>(&data(&e)) else {
                return;
            };
            if !["queued", "running"].contains(&d.state.as_str()) {
                // The server ends the stream here; without close() the browser would reconnect.
                closer.close();
            }
            // A new state (running, then protected or failed): load the page's data again.
            let n = {
                let mut r = reloads.borrow_mut();
                *r += 1;
                *r
            };
            tick.set(1_000_000 + n);
        });
    source
        .add_event_listener_with_callback("step", on_step.as_ref().unchecked_ref())
        .ok()?;
    source
        .add_event_listener_with_callback("state", on_state.as_ref().unchecked_ref())
        .ok()?;
    Some(Follow {
        source,
        _listeners: [on_step, on_state],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preflight_checks_name_the_host_of_their_side() {
        let mut a = super::super::test_host("host-a", "192.0.2.1");
        a.id = 7;
        let checked = [7, 9].map(|id| host_name(&[a.clone()], Some(id), &id.to_string()));
        assert_eq!(checked, ["host-a".to_owned(), "9".to_owned()]);
        assert_eq!(check_side(Some("primary"), &checked), "primary: host-a");
        assert_eq!(check_side(Some("secondary"), &checked), "secondary: 9");
        assert_eq!(check_side(None, &checked), "pair");
    }

    #[test]
    fn sides_at_addresses_no_host_has_are_named() {
        let host = super::super::test_host;
        let hosts = [host("a", "192.0.2.1"), host("b", "COLO-B.example")];
        let at = |p: &str, s: &str| unregistered(&[p.to_owned(), s.to_owned()], &hosts);
        assert!(
            at("192.0.2.1", "colo-b.example.").is_empty(),
            "compared as the server does"
        );
        assert_eq!(
            at("10.0.0.1", "192.0.2.1"),
            ["the primary's address 10.0.0.1"]
        );
        assert_eq!(
            at("10.0.0.1", "10.0.0.2"),
            [
                "the primary's address 10.0.0.1",
                "the secondary's address 10.0.0.2"
            ]
        );
        assert!(
            unregistered(&Default::default(), &hosts).is_empty(),
            "no document read"
        );
    }
}
