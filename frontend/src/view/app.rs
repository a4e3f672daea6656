//! The app shell: who is logged in and in which team, the header, client-side routing (the
//! address bar and the back button), and the log in screen.

use super::configs::Configurations;
use super::editor_page::EditorPage;
use crate::api;
use crate::route::Route;
use lockstep_shared::api as wire;
use std::cell::Cell;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use yew::prelude::*;

thread_local! {
    /// The open editor has unsaved changes (leaving asks first).
    pub static DIRTY: Cell<bool> = const { Cell::new(false) };
}

/// The logged-in user, their teams and the team being worked in.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub user: String,
    pub teams: Vec<wire::Membership>,
    pub team: String,
}

impl Session {
    /// From `/api/v1/login` or `/api/v1/me`; keeps `team` when the user is still in it.
    pub fn new(info: wire::SessionInfo, team: Option<&str>) -> Session {
        let team = team
            .filter(|t| info.teams.iter().any(|x| x.team == *t))
            .map(str::to_owned)
            .or_else(|| info.teams.first().map(|t| t.team.clone()))
            .unwrap_or_default();
        crate::api::set_csrf(Some(info.csrf_token));
        Session {
            user: info.user,
            teams: info.teams,
            team,
        }
    }

    pub fn role_in(&self, team_id: i64) -> Option<&str> {
        membership(&self.teams, team_id).map(|t| t.role.as_str())
    }

    /// The role in the current team.
    pub fn role(&self) -> Option<&str> {
        self.teams
            .iter()
            .find(|t| t.team == self.team)
            .map(|t| t.role.as_str())
    }
}

/// What every screen may use: the session and a way to move to another screen.
#[derive(Clone, PartialEq)]
pub struct Nav {
    pub go: Callback<Route>,
}

fn current_route() -> Route {
    Route::parse(&super::window().location().pathname().unwrap_or_default())
}

/// The user's membership in team `team_id`, if any.
pub fn membership(teams: &[wire::Membership], team_id: i64) -> Option<&wire::Membership> {
    teams.iter().find(|t| t.team_id == team_id)
}

#[component]
pub fn App() -> Html {
    let route = use_state(current_route);
    // `None` while asking the server; `Some(None)` when nobody is logged in.
    let session = use_state(|| None::<Option<Session>>);

    {
        let session = session.clone();
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                let s = api::get::<wire::SessionInfo>("/api/v1/me")
                    .await
                    .ok()
                    .map(|v| Session::new(v, None));
                session.set(Some(s));
            });
        });
    }
    {
        // The back and forward buttons.
        let route = route.clone();
        use_effect_with((), move |_| {
            let f = Closure::<dyn Fn()>::new(move || route.set(current_route()));
            super::window().set_onpopstate(Some(f.as_ref().unchecked_ref()));
            f.forget();
        });
    }

    let go = {
        let route = route.clone();
        Callback::from(move |r: Route| {
            if DIRTY.with(Cell::get)
                && !super::window()
                    .confirm_with_message(
                        "You have unsaved changes. Leave this page and lose them?",
                    )
                    .unwrap_or(false)
            {
                return;
            }
            DIRTY.with(|d| d.set(false));
            super::window().set_onbeforeunload(None);
            if let Ok(h) = super::window().history() {
                let _ = h.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&r.path()));
            }
            route.set(r);
        })
    };
    let nav = Nav { go: go.clone() };

    let Some(s) = (*session).clone() else {
        return html! { <main class="page"><p class="muted">{ "Loading…" }</p></main> };
    };
    let r = (*route).clone();
    let page = match (&r, &s) {
        (Route::Login, _) | (_, None) if r.needs_session() || r == Route::Login => {
            let session = session.clone();
            let go = go.clone();
            let after = if r == Route::Login {
                Route::Configurations
            } else {
                r.clone()
            };
            let on_login = Callback::from(move |s: Session| {
                session.set(Some(Some(s)));
                go.emit(after.clone());
            });
            html! { <Login {on_login} /> }
        }
        (Route::Configurations, Some(s)) => {
            html! { <Configurations session={s.clone()} nav={nav.clone()} /> }
        }
        (Route::Editor(id), s) => html! { <EditorPage id={Some(*id)} session={s.clone()} /> },
        (Route::Version(id, v), s) => {
            html! { <EditorPage id={Some(*id)} version={Some(*v)} session={s.clone()} /> }
        }
        (Route::History(id), _) => html! { <super::history::History id={*id} /> },
        (Route::Deployments(id), Some(s)) => {
            html! { <super::deploy::Deployments id={*id} session={s.clone()} /> }
        }
        (Route::Audit, Some(s)) => html! { <super::audit::Audit session={s.clone()} /> },
        (Route::Hosts, Some(s)) => html! { <super::team::Hosts session={s.clone()} /> },
        (Route::Members, Some(s)) => html! { <super::team::Members session={s.clone()} /> },
        (Route::Tokens, Some(s)) => html! { <super::team::Tokens session={s.clone()} /> },
        (Route::Templates, Some(s)) => {
            html! { <super::templates::Templates session={s.clone()} nav={nav.clone()} /> }
        }
        (Route::Sandbox, s) => html! { <EditorPage id={None::<i64>} session={s.clone()} /> },
        (Route::NotFound(p), _) => html! {
            <main class="page"><h1>{ "Not found" }</h1><p>{ format!("There is no page at {p}. ") }
                <a href={Route::Configurations.path()}>{ "Go to the configurations" }</a></p></main>
        },
        _ => html! {},
    };

    let link = |label: &str, to: Route| {
        let go = go.clone();
        let current = r == to;
        let href = to.path();
        html! {
            <a href={href} aria-current={current.then_some("page")} onclick={Callback::from(move |e: MouseEvent| {
                e.prevent_default();
                go.emit(to.clone());
            })}>{ label.to_owned() }</a>
        }
    };
    let user = match &s {
        Some(sess) => {
            let on_team = {
                let session = session.clone();
                let sess = sess.clone();
                let go = go.clone();
                Callback::from(move |e: Event| {
                    let t = e
                        .target_unchecked_into::<web_sys::HtmlSelectElement>()
                        .value();
                    session.set(Some(Some(Session {
                        team: t,
                        ..sess.clone()
                    })));
                    go.emit(Route::Configurations);
                })
            };
            let logout = {
                let session = session.clone();
                let go = go.clone();
                Callback::from(move |_: MouseEvent| {
                    let session = session.clone();
                    let go = go.clone();
                    wasm_bindgen_futures::spawn_local(async move {
                        let _ = api::act("POST", "/api/v1/logout").await;
                        api::set_csrf(None);
                        session.set(Some(None));
                        go.emit(Route::Login);
                    });
                })
            };
            html! {
                <div class="user">
                    <label for="team">{ "Team" }</label>
                    <select id="team" onchange={on_team}>
                        { for sess.teams.iter().map(|t| html! {
                            <option value={t.team.clone()} selected={t.team == sess.team}>{ format!("{} ({})", t.team, t.role) }</option>
                        }) }
                    </select>
                    <span id="who">{ format!("Signed in as {}", sess.user) }</span>
                    <button id="logout" onclick={logout}>{ "Log out" }</button>
                </div>
            }
        }
        None => html! { <div class="user">{ link("Log in", Route::Login) }</div> },
    };

    let invitations = s.as_ref().map(|_| {
        let session = session.clone();
        let changed = Callback::from(move |_| {
            let session = session.clone();
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(v) = api::get::<wire::SessionInfo>("/api/v1/me").await {
                    let keep = session
                        .as_ref()
                        .and_then(|s| s.as_ref())
                        .map(|s| s.team.clone());
                    session.set(Some(Some(Session::new(v, keep.as_deref()))));
                }
            });
        });
        html! { <super::team::Invitations {changed} /> }
    });
    html! {
        <>
            <header class="top">
                <span class="brand">{ "Lockstep" }</span>
                <nav aria-label="Main">
                    if s.is_some() {
                        { link("Configurations", Route::Configurations) }
                        { link("Templates", Route::Templates) }
                        { link("Hosts", Route::Hosts) }
                        { link("Members", Route::Members) }
                        { link("Audit", Route::Audit) }
                        { link("Tokens", Route::Tokens) }
                    }
                    { link("Sandbox", Route::Sandbox) }
                </nav>
                { user }
            </header>
            { for invitations }
            { page }
        </>
    }
}

#[derive(Properties, PartialEq)]
struct LoginProps {
    on_login: Callback<Session>,
}

#[component]
fn Login(p: &LoginProps) -> Html {
    let user = use_node_ref();
    let password = use_node_ref();
    let error = use_state(|| None::<String>);
    let busy = use_state(|| false);
    let onsubmit = {
        let (user, password, error, busy, on_login) = (
            user.clone(),
            password.clone(),
            error.clone(),
            busy.clone(),
            p.on_login.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let value = |r: &NodeRef| {
                r.cast::<web_sys::HtmlInputElement>()
                    .map(|i| i.value())
                    .unwrap_or_default()
            };
            let body = wire::Login {
                user: value(&user),
                password: value(&password),
            };
            let (error, busy, on_login) = (error.clone(), busy.clone(), on_login.clone());
            busy.set(true);
            wasm_bindgen_futures::spawn_local(async move {
                let r = api::send::<_, wire::SessionInfo>("POST", "/api/v1/login", &body).await;
                busy.set(false);
                match r {
                    Ok(v) => on_login.emit(Session::new(v, None)),
                    Err(e) if e.status == 401 => {
                        error.set(Some("Wrong user name or password.".to_owned()))
                    }
                    Err(e) => error.set(Some(e.explain())),
                }
            });
        })
    };
    html! {
        <main class="page narrow">
            <h1>{ "Log in to Lockstep" }</h1>
            <form id="login" {onsubmit}>
                <div class="field">
                    <label for="login-user">{ "User name" }</label>
                    <input id="login-user" ref={user} autocomplete="username" required=true />
                </div>
                <div class="field">
                    <label for="login-password">{ "Password" }</label>
                    <input id="login-password" ref={password} type="password" autocomplete="current-password" required=true />
                </div>
                if let Some(e) = &*error { <p class="error-box" role="alert" id="login-error">{ e }</p> }
                <button type="submit" disabled={*busy}>{ if *busy { "Logging in…" } else { "Log in" } }</button>
            </form>
            <p class="muted">{ "Or try the editor in the sandbox: nothing there is saved." }</p>
        </main>
    }
}
