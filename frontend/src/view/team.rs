//! The team's hosts (list, add, edit, delete by role), members (list, invite or change a
//! role, remove: admins) with pending invitations, and the user's API tokens (create, shown
//! once with a copy button, list, revoke). Actions a role cannot take are not offered; the
//! page says which role can.

use super::app::Session;
use super::copy_text;
use crate::api;
use lockstep_shared::api as wire;
use serde::de::DeserializeOwned;

use yew::prelude::*;

/// Roles in order of what they may do.
pub const ROLES: [&str; 4] = ["viewer", "editor", "deployer", "admin"];

/// Whether `role` is at least `least`.
pub fn at_least(role: Option<&str>, least: &str) -> bool {
    let rank = |r: &str| ROLES.iter().position(|x| *x == r);
    matches!((role.and_then(rank), rank(least)), (Some(a), Some(b)) if a >= b)
}

/// The value of the input or select with this id.
pub fn value(id: &str) -> String {
    use wasm_bindgen::JsCast;
    super::window()
        .document()
        .and_then(|d| d.get_element_by_id(id))
        .and_then(|e| {
            e.dyn_ref::<web_sys::HtmlInputElement>()
                .map(|i| i.value())
                .or_else(|| e.dyn_ref::<web_sys::HtmlSelectElement>().map(|s| s.value()))
        })
        .unwrap_or_default()
}

/// Picks `value` in the select with this id.
pub fn set_value(id: &str, value: &str) {
    use wasm_bindgen::JsCast;
    if let Some(s) = super::window()
        .document()
        .and_then(|d| d.get_element_by_id(id))
        .and_then(|e| e.dyn_into::<web_sys::HtmlSelectElement>().ok())
    {
        s.set_value(value);
    }
}

/// Loads `path` as a `T`, and again whenever `reload` changes.
#[hook]
fn use_list<T: DeserializeOwned + 'static>(
    path: String,
    reload: u32,
) -> UseStateHandle<Option<Result<T, String>>> {
    let state = use_state(|| None);
    {
        let state = state.clone();
        use_effect_with((path, reload), move |(path, _)| {
            let path = path.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let r = api::get::<T>(&path).await;
                state.set(Some(r.map_err(|e| e.explain())));
            });
        });
    }
    state
}

/// A request body's text.
fn to_text<T: serde::Serialize>(v: &T) -> String {
    lockstep_shared::json::compact(v)
}

/// Runs one change, then reloads or reports what went wrong.
fn act(
    method: &'static str,
    path: String,
    body: String,
    reload: UseStateHandle<u32>,
    message: UseStateHandle<Option<(bool, String)>>,
    done: &'static str,
) {
    wasm_bindgen_futures::spawn_local(async move {
        match api::call(method, &path, Some(&body)).await {
            Ok(_) => {
                message.set(Some((true, done.to_owned())));
                reload.set(*reload + 1);
            }
            Err(e) => message.set(Some((false, e.explain()))),
        }
    });
}

#[derive(Properties, PartialEq)]
pub struct TeamProps {
    pub session: Session,
}

#[component]
pub fn Hosts(p: &TeamProps) -> Html {
    let team = p.session.team.clone();
    let role = p.session.role();
    let reload = use_state(|| 0u32);
    let message = use_state(|| None::<(bool, String)>);
    let editing = use_state(|| None::<wire::Host>);
    let hosts = use_list::<wire::HostList>(format!("/api/v1/teams/{team}/hosts"), *reload);
    let (can_edit, can_delete) = (at_least(role, "editor"), at_least(role, "admin"));
    let rows = match &*hosts {
        None => html! { <tr><td colspan="6" class="muted">{ "Loading…" }</td></tr> },
        Some(Err(e)) => html! { <tr><td colspan="6" class="error-box">{ e }</td></tr> },
        Some(Ok(v)) if v.hosts.is_empty() => html! { <tr><td colspan="6" class="muted">{ "No hosts yet: add the two hosts a pair runs on." }</td></tr> },
        Some(Ok(v)) => v.hosts.iter().map(|h| {
            let id = h.id;
            let name = h.name.clone();
            let edit = { let editing = editing.clone(); let h = h.clone(); Callback::from(move |_: MouseEvent| editing.set(Some(h.clone()))) };
            let delete = {
                let (reload, message, name) = (reload.clone(), message.clone(), name.clone());
                Callback::from(move |_: MouseEvent| {
                    if super::window().confirm_with_message(&format!("Delete host {name}? Configurations keep their documents.")).unwrap_or(false) {
                        act("DELETE", format!("/api/v1/hosts/{id}"), "{}".to_owned(), reload.clone(), message.clone(), "Host deleted.");
                    }
                })
            };
            // What runs here: a host is not deleted while a deployment runs on it.
            let in_use = h.deployments.first().map(|u| format!(
                "Runs deployment {} of {}: tear it down, or re-protect it onto another host, before deleting this host",
                u.deployment_id, u.configuration
            ));
            html! {
                <tr>
                    <td>{ &name }</td>
                    <td><code>{ &h.libvirt_uri }</code></td>
                    <td>{ &h.address }</td>
                    <td class="uses">{ for h.deployments.iter().map(|u| html! {
                        <a href={crate::route::Route::Deployments(u.configuration_id).path()}>
                            { format!("{} ({}, {})", u.configuration, u.role, u.state) }</a>
                    }) }</td>
                    <td>{ &h.notes }</td>
                    <td>
                        if can_edit { <button onclick={edit} aria-label={format!("Edit {name}")}>{ "Edit" }</button> }
                        if can_delete { <button class="danger" onclick={delete} aria-label={format!("Delete {name}")}
                            disabled={!h.deployments.is_empty()} title={in_use}>{ "Delete" }</button> }
                    </td>
                </tr>
            }
        }).collect::<Html>(),
    };
    let form = can_edit.then(|| {
        let current = (*editing).clone();
        let onsubmit = {
            let (reload, message, editing, team, current) = (reload.clone(), message.clone(), editing.clone(), team.clone(), current.clone());
            Callback::from(move |e: SubmitEvent| {
                e.prevent_default();
                let body = to_text(&wire::HostFields {
                    name: value("host-name"),
                    libvirt_uri: value("host-uri"),
                    address: value("host-address"),
                    notes: value("host-notes"),
                });
                match current.as_ref().map(|h| h.id) {
                    Some(id) => act("PUT", format!("/api/v1/hosts/{id}"), body, reload.clone(), message.clone(), "Host saved."),
                    None => act("POST", format!("/api/v1/teams/{team}/hosts"), body, reload.clone(), message.clone(), "Host added."),
                }
                editing.set(None);
            })
        };
        let f = |k: &str| {
            current
                .as_ref()
                .map(|h| match k {
                    "name" => h.name.clone(),
                    "libvirt_uri" => h.libvirt_uri.clone(),
                    "address" => h.address.clone(),
                    _ => h.notes.clone(),
                })
                .unwrap_or_default()
        };
        html! {
            <form class="create" id="host-form" {onsubmit} key={f("name")} aria-label="Host">
                <h2>{ if current.is_some() { format!("Edit host {}", f("name")) } else { "Add a host".to_owned() } }</h2>
                <div class="two">
                    <div class="field"><label for="host-name">{ "Name" }</label><input id="host-name" value={f("name")} required=true /></div>
                    <div class="field"><label for="host-uri">{ "libvirt URI" }</label><input id="host-uri" value={f("libvirt_uri")} placeholder="qemu+ssh://root@colo-a/system" required=true aria-describedby="host-uri-hint" />
                        if current.as_ref().is_some_and(|h| !h.deployments.is_empty()) {
                            <div class="field-hint" id="host-uri-hint">{ "The deployments on this host follow a new URI (not while one is being deployed or acted on)." }</div>
                        }</div>
                    <div class="field"><label for="host-address">{ "Replication address" }</label><input id="host-address" value={f("address")} placeholder="10.0.0.1" required=true /></div>
                    <div class="field"><label for="host-notes">{ "Notes" }</label><input id="host-notes" value={f("notes")} /></div>
                </div>
                <div class="actions"><button type="submit" id="host-submit">{ if current.is_some() { "Save host" } else { "Add host" } }</button></div>
            </form>
        }
    });
    html! {
        <main class="page">
            <h1>{ format!("Hosts of {team}") }</h1>
            { super::banner(&message, "team-message") }
            if !can_edit { <p class="muted">{ "Editors add and edit hosts; admins delete them." }</p> }
            <table class="list" id="hosts">
                { super::head(&["Name", "libvirt URI", "Address", "Runs", "Notes"], true) }
                <tbody>{ rows }</tbody>
            </table>
            { for form }
        </main>
    }
}

#[component]
pub fn Members(p: &TeamProps) -> Html {
    let team = p.session.team.clone();
    let admin = at_least(p.session.role(), "admin");
    let reload = use_state(|| 0u32);
    let message = use_state(|| None::<(bool, String)>);
    let state = use_state(|| None::<Result<wire::MemberList, String>>);
    {
        let state = state.clone();
        use_effect_with((team.clone(), *reload), move |(team, _)| {
            let team = team.clone();
            wasm_bindgen_futures::spawn_local(async move {
                state.set(Some(
                    api::get(&format!("/api/v1/teams/{team}/members"))
                        .await
                        .map_err(|e| e.explain()),
                ));
            });
        });
    }
    let role_select = |id: String, current: &str, onchange: Option<Callback<Event>>| {
        html! {
            <select id={id.clone()} aria-label="Role" disabled={onchange.is_none()} onchange={onchange.unwrap_or_default()}>
                { for ROLES.iter().map(|r| html! { <option value={*r} selected={*r == current}>{ *r }</option> }) }
            </select>
        }
    };
    let body = match &*state {
        None => html! { <p class="muted">{ "Loading…" }</p> },
        Some(Err(e)) => html! { <p class="error-box">{ e }</p> },
        Some(Ok(v)) => {
            let (members, invitations) = (&v.members, &v.invitations);
            html! { <>
                <table class="list" id="members">
                    { super::head(&["User", "Role"], true) }
                    <tbody>
                    { for members.iter().map(|m| {
                        let user = m.user.clone();
                        let change = admin.then(|| {
                            let (reload, message, team, user) = (reload.clone(), message.clone(), team.clone(), user.clone());
                            Callback::from(move |e: Event| {
                                let role = e.target_unchecked_into::<web_sys::HtmlSelectElement>().value();
                                act("PUT", format!("/api/v1/teams/{team}/members/{user}"), to_text(&wire::SetRole { role }), reload.clone(), message.clone(), "Role changed.");
                            })
                        });
                        let remove = {
                            let (reload, message, team, user) = (reload.clone(), message.clone(), team.clone(), user.clone());
                            Callback::from(move |_: MouseEvent| {
                                if super::window().confirm_with_message(&format!("Remove {user} from {team}?")).unwrap_or(false) {
                                    act("DELETE", format!("/api/v1/teams/{team}/members/{user}"), "{}".to_owned(), reload.clone(), message.clone(), "Member removed.");
                                }
                            })
                        };
                        html! { <tr>
                            <td>{ &user }</td>
                            <td>{ role_select(format!("role-{user}"), &m.role, change) }</td>
                            <td>if admin { <button class="danger" onclick={remove} aria-label={format!("Remove {user}")}>{ "Remove" }</button> }</td>
                        </tr> }
                    }) }
                    </tbody>
                </table>
                if !invitations.is_empty() {
                    <h2>{ "Invited, not yet accepted" }</h2>
                    <ul>{ for invitations.iter().map(|i| html! { <li>{ format!("{} as {} (by {})", i.user, i.role, i.invited_by) }</li> }) }</ul>
                }
            </> }
        }
    };
    let invite = admin.then(|| {
        let onsubmit = {
            let (reload, message, team) = (reload.clone(), message.clone(), team.clone());
            Callback::from(move |e: SubmitEvent| {
                e.prevent_default();
                let user = value("invite-user");
                act("PUT", format!("/api/v1/teams/{team}/members/{user}"), to_text(&wire::SetRole { role: value("invite-role") }), reload.clone(), message.clone(),
                    "Done: a member's role changes at once; anyone else is invited and joins when they accept.");
            })
        };
        html! {
            <form class="create" id="invite-form" {onsubmit} aria-label="Add a member">
                <h2>{ "Add a member" }</h2>
                <div class="two">
                    <div class="field"><label for="invite-user">{ "User name" }</label><input id="invite-user" required=true /></div>
                    <div class="field"><label for="invite-role">{ "Role" }</label>{ role_select("invite-role".to_owned(), "viewer", Some(Callback::noop())) }</div>
                </div>
                <p class="muted">{ "Joining takes consent: the user accepts the invitation when they log in." }</p>
                <button type="submit">{ "Invite" }</button>
            </form>
        }
    });
    html! {
        <main class="page">
            <h1>{ format!("Members of {team}") }</h1>
            { super::banner(&message, "team-message") }
            if !admin { <p class="muted">{ "Only admins change members and roles." }</p> }
            { body }
            { for invite }
        </main>
    }
}

#[component]
pub fn Tokens(p: &TeamProps) -> Html {
    let reload = use_state(|| 0u32);
    let message = use_state(|| None::<(bool, String)>);
    let created = use_state(|| None::<String>);
    let tokens = use_list::<wire::TokenList>("/api/v1/tokens".to_owned(), *reload);
    let rows = match &*tokens {
        None => html! { <tr><td colspan="6" class="muted">{ "Loading…" }</td></tr> },
        Some(Err(e)) => html! { <tr><td colspan="6" class="error-box">{ e }</td></tr> },
        Some(Ok(v)) if v.tokens.is_empty() => html! { <tr><td colspan="6" class="muted">{ "No tokens yet." }</td></tr> },
        Some(Ok(v)) => v.tokens.iter().map(|t| {
            let id = t.id;
            let name = t.name.clone();
            let revoked = t.revoked_at.is_some();
            let revoke = {
                let (reload, message, name) = (reload.clone(), message.clone(), name.clone());
                Callback::from(move |_: MouseEvent| {
                    if super::window().confirm_with_message(&format!("Revoke token {name}? Programs using it stop working.")).unwrap_or(false) {
                        act("DELETE", format!("/api/v1/tokens/{id}"), "{}".to_owned(), reload.clone(), message.clone(), "Token revoked.");
                    }
                })
            };
            let day = |t: Option<&wire::Timestamp>| t.map_or_else(|| "never".to_owned(), wire::Timestamp::minute);
            html! { <tr>
                <td>{ &name }</td><td>{ &t.team }</td>
                <td>{ day(Some(&t.created_at)) }</td><td>{ day(t.last_used_at.as_ref()) }</td>
                <td>{ if revoked { format!("revoked {}", day(t.revoked_at.as_ref())) } else { "active".to_owned() } }</td>
                <td>if !revoked { <button class="danger" onclick={revoke} aria-label={format!("Revoke {name}")}>{ "Revoke" }</button> }</td>
            </tr> }
        }).collect::<Html>(),
    };
    let onsubmit = {
        let (reload, message, created, team) = (
            reload.clone(),
            message.clone(),
            created.clone(),
            p.session.team.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let body = wire::CreateToken {
                name: value("token-name"),
                team: team.clone(),
            };
            let (reload, message, created) = (reload.clone(), message.clone(), created.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match api::send::<_, wire::NewToken>("POST", "/api/v1/tokens", &body).await {
                    Ok(v) => {
                        created.set(Some(v.token));
                        message.set(None);
                        reload.set(*reload + 1);
                    }
                    Err(e) => message.set(Some((false, e.explain()))),
                }
            });
        })
    };
    html! {
        <main class="page">
            <h1>{ "API tokens" }</h1>
            <p class="muted">{ "A token acts for you in one team with your role there, for scripts and the CLI (Authorization: Bearer)." }</p>
            { super::banner(&message, "team-message") }
            if let Some(t) = &*created {
                <div class="saved" role="status" id="new-token">
                    <p>{ "Copy the token now: it is shown only once." }</p>
                    <code id="token-value">{ t }</code>{ " " }
                    <button onclick={{ let t = t.clone(); Callback::from(move |_: MouseEvent| copy_text(&t)) }}>{ "Copy" }</button>
                </div>
            }
            <form class="create" id="token-form" {onsubmit} aria-label="New token">
                <div class="field"><label for="token-name">{ format!("Name of a new token for {}", p.session.team) }</label><input id="token-name" required=true /></div>
                <button type="submit">{ "Create token" }</button>
            </form>
            <table class="list" id="tokens">
                { super::head(&["Name", "Team", "Created", "Last used", "State"], true) }
                <tbody>{ rows }</tbody>
            </table>
        </main>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_rank() {
        assert!(at_least(Some("admin"), "editor"));
        assert!(at_least(Some("editor"), "editor"));
        assert!(!at_least(Some("viewer"), "editor"));
        assert!(!at_least(None, "viewer"));
        assert!(!at_least(Some("root"), "viewer"));
    }
}

#[derive(Properties, PartialEq)]
pub struct InvitationsProps {
    /// After accepting: the session must be read again (a new team).
    pub changed: Callback<()>,
}

/// The user's pending invitations, each with Accept and Decline (joining takes consent).
#[component]
pub fn Invitations(p: &InvitationsProps) -> Html {
    let reload = use_state(|| 0u32);
    let message = use_state(|| None::<(bool, String)>);
    let list = use_list::<wire::InvitationList>("/api/v1/invitations".to_owned(), *reload);
    let Some(Ok(list)) = &*list else {
        return html! {};
    };
    if list.invitations.is_empty() && message.is_none() {
        return html! {};
    }
    let answer = |team: String, accept: bool| {
        let (reload, message, changed) = (reload.clone(), message.clone(), p.changed.clone());
        Callback::from(move |_: MouseEvent| {
            let (reload, message, changed, team) = (
                reload.clone(),
                message.clone(),
                changed.clone(),
                team.clone(),
            );
            wasm_bindgen_futures::spawn_local(async move {
                let r = if accept {
                    api::act("POST", &format!("/api/v1/invitations/{team}/accept")).await
                } else {
                    api::act("DELETE", &format!("/api/v1/invitations/{team}")).await
                };
                match r {
                    Ok(()) => {
                        message.set(Some((
                            true,
                            if accept {
                                format!("You joined {team}.")
                            } else {
                                format!("Invitation to {team} declined.")
                            },
                        )));
                        reload.set(*reload + 1);
                        changed.emit(());
                    }
                    Err(e) => message.set(Some((false, e.explain()))),
                }
            });
        })
    };
    html! {
        <section class="invitations" id="invitations" aria-label="Invitations">
            { super::banner(&message, "team-message") }
            { for list.invitations.iter().map(|i| html! {
                <p>
                    { format!("{} invited you to {} as {}. ", i.invited_by, i.team, i.role) }
                    <button onclick={answer(i.team.clone(), true)}>{ format!("Join {}", i.team) }</button>{ " " }
                    <button onclick={answer(i.team.clone(), false)}>{ "Decline" }</button>
                </p>
            }) }
        </section>
    }
}
