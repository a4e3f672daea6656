//! The editor screen: canvas, findings, properties and previews around one document, either a
//! stored configuration (loaded from and saved to the server, with the conflict screen when
//! someone saved first) or the local sandbox (nothing is saved).

use super::app::{Session, DIRTY};
use super::canvas::Canvas;
use super::findings::{badge, Findings};
use super::panel::Panel;
use super::preview::Preview;
use super::EditorHandle;
use crate::api::{self, ApiError};
use crate::editor::{Editor, Item};
use crate::route::Route;
use crate::state::starter_document;
use lockstep_shared::api as wire;
use lockstep_shared::diff::{diff, ChangeKind, Diff};
use lockstep_shared::validate::validate;
use lockstep_shared::Document;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use yew::prelude::*;

thread_local! {
    /// When the first change since the last drawing happened (`performance.now()`).
    static EDIT_START: Cell<Option<f64>> = const { Cell::new(None) };
}

fn now() -> f64 {
    super::window()
        .performance()
        .map(|p| p.now())
        .unwrap_or(0.0)
}

/// Timing for `bench/browser.sh`: how long each change took until it was drawn (validate,
/// findings, canvas), appended to `window.lockstepEditTimes`; and the mark
/// `lockstep-editor-ready` once the first document is on the screen.
fn record_drawn(first: bool) {
    let w = super::window();
    if first {
        if let Some(p) = w.performance() {
            let _ = p.mark("lockstep-editor-ready");
        }
    }
    if let Some(t0) = EDIT_START.with(Cell::take) {
        let key = wasm_bindgen::JsValue::from_str("lockstepEditTimes");
        let list = js_sys::Reflect::get(&w, &key)
            .ok()
            .filter(|v| v.is_object())
            .unwrap_or_else(|| {
                let a = js_sys::Array::new();
                let _ = js_sys::Reflect::set(&w, &key, &a);
                a.into()
            });
        if let Ok(list) = list.dyn_into::<js_sys::Array>() {
            list.push(&(now() - t0).into());
        }
    }
}

/// A stored configuration as the editor holds it.
#[derive(Clone, PartialEq)]
struct Stored {
    id: i64,
    name: String,
    team_id: i64,
    /// The version the edit started from, and its document.
    base_version: i64,
    base: Document,
    archived: bool,
}

/// Someone saved first: their version, and what each side changed.
#[derive(Clone, PartialEq)]
struct Conflict {
    current_version: i64,
    current: Document,
    author: String,
    message: String,
    theirs: Diff,
    mine: Diff,
}

#[derive(Properties, PartialEq)]
pub struct EditorPageProps {
    /// `None`: the sandbox.
    pub id: Option<i64>,
    /// An older version, opened read-only; `None`: the current one, to edit.
    #[prop_or_default]
    pub version: Option<i64>,
    pub session: Option<Session>,
}

fn diff_list(d: &Diff, id: &str) -> Html {
    if d.changes.is_empty() {
        return html! { <p class="muted" id={id.to_owned()}>{ format!("No changes other than {} moved node(s).", d.layout_moves) }</p> };
    }
    html! {
        <ul class="diff" id={id.to_owned()}>
            { for d.changes.iter().map(|c| {
                let (class, sign) = match c.kind {
                    ChangeKind::Added => ("added", "+ added"),
                    ChangeKind::Removed => ("removed", "− removed"),
                    ChangeKind::Changed => ("changed", "~ changed"),
                };
                html! { <li class={class}>{ format!("{sign} {} {}{}", c.what, c.id,
                    if c.fields.is_empty() { String::new() } else { format!(" ({})", c.fields.join(", ")) }) }</li> }
            }) }
        </ul>
    }
}

/// A stored version's document.
fn version_doc(v: &wire::Version) -> Result<Document, String> {
    Document::from_json(v.document.get())
        .map_err(|e| format!("the stored document does not parse: {e}"))
}

/// A configuration and one of its versions (the current one, or `version`).
async fn load(
    id: i64,
    version: Option<i64>,
) -> Result<(wire::Configuration, wire::Version), String> {
    let c: wire::ConfigurationWithCurrent = api::get(&format!("/api/v1/configurations/{id}"))
        .await
        .map_err(|e| e.explain())?;
    let v: wire::Version = match version {
        Some(n) => api::get(&format!("/api/v1/configurations/{id}/versions/{n}"))
            .await
            .map_err(|e| e.explain())?,
        None => lockstep_shared::json::read(c.current.get()).map_err(|e| e.to_string())?,
    };
    Ok((c.configuration, v))
}

#[component]
pub fn EditorPage(p: &EditorPageProps) -> Html {
    let editor = use_mut_ref(|| None::<Rc<RefCell<Editor>>>);
    let stored = use_state(|| None::<Stored>);
    let load_error = use_state(|| None::<String>);
    let rev = use_state(|| 0u64);
    let notice = use_state(|| None::<String>);
    let focus = use_state(|| (0u64, Vec::<String>::new()));
    let message = use_state(String::new);
    let saving = use_state(|| false);
    let conflict = use_state(|| None::<Conflict>);
    let saved_note = use_state(|| None::<String>);

    // The team's registered hosts (name, replication address), offered for the document's.
    let registered = use_state(|| Rc::new(Vec::<(String, String)>::new()));
    // Load: the sandbox's starter document, or the configuration's current version.
    {
        let editor = editor.clone();
        let stored = stored.clone();
        let registered = registered.clone();
        let teams = p
            .session
            .as_ref()
            .map(|s| s.teams.clone())
            .unwrap_or_default();
        let load_error = load_error.clone();
        let rev = rev.clone();
        use_effect_with((p.id, p.version), move |(id, version)| {
            let version = *version;
            match *id {
                None => {
                    let doc = Document::from_json(&starter_document()).expect("starter");
                    *editor.borrow_mut() = Some(Rc::new(RefCell::new(Editor::new(doc))));
                    rev.set(*rev + 1);
                }
                Some(id) => {
                    wasm_bindgen_futures::spawn_local(async move {
                        match load(id, version).await {
                            Ok((c, v)) => match version_doc(&v) {
                                Ok(doc) => {
                                    stored.set(Some(Stored {
                                        id,
                                        name: c.name,
                                        team_id: c.team_id,
                                        base_version: v.version as i64,
                                        base: doc.clone(),
                                        archived: c.archived_at.is_some(),
                                    }));
                                    *editor.borrow_mut() =
                                        Some(Rc::new(RefCell::new(Editor::new(doc))));
                                    rev.set(*rev + 1);
                                    // Offered only where the document can be edited.
                                    let team = super::app::membership(&teams, c.team_id)
                                        .filter(|_| version.is_none());
                                    if let Some(t) = team {
                                        if let Ok(h) = api::team_hosts(&t.team).await {
                                            registered.set(Rc::new(
                                                h.into_iter()
                                                    .map(|h| (h.name, h.address))
                                                    .collect(),
                                            ));
                                        }
                                    }
                                }
                                Err(e) => load_error.set(Some(e)),
                            },
                            Err(e) => load_error.set(Some(e)),
                        }
                    });
                }
            }
        });
    }

    let Some(ed_rc) = editor.borrow().clone() else {
        return match &*load_error {
            Some(e) => {
                html! { <main class="page"><p class="error-box" role="alert">{ format!("Could not open the configuration: {e}") }</p></main> }
            }
            None => html! { <main class="page"><p class="muted">{ "Loading…" }</p></main> },
        };
    };

    let role = p
        .session
        .as_ref()
        .zip((*stored).as_ref())
        .and_then(|(s, c)| s.role_in(c.team_id));
    let can_save = role.is_some_and(|r| r != "viewer");
    let readonly = p.version.is_some()
        || p.id.is_some() && (!can_save || stored.as_ref().is_some_and(|s| s.archived));
    let handle = EditorHandle {
        editor: ed_rc.clone(),
        rev: *rev,
        changed: {
            let rev = rev.clone();
            let notice = notice.clone();
            let saved_note = saved_note.clone();
            Callback::from(move |_| {
                EDIT_START.with(|s| {
                    if s.get().is_none() {
                        s.set(Some(now()));
                    }
                });
                notice.set(None);
                saved_note.set(None);
                rev.set(*rev + 1);
            })
        },
        notice: {
            let notice = notice.clone();
            Callback::from(move |m| notice.set(Some(m)))
        },
        readonly,
    };
    let findings = {
        let ed_rc = ed_rc.clone();
        use_memo(*rev, move |_| Rc::new(validate(ed_rc.borrow().document())))
    };
    let findings: Rc<Vec<_>> = (*findings).clone();
    let (errors, warnings) = badge(&findings);
    let dirty = stored
        .as_ref()
        .is_some_and(|s| &s.base != ed_rc.borrow().document());

    {
        let first = use_mut_ref(|| true);
        use_effect_with(*rev, move |_| {
            let f = std::mem::replace(&mut *first.borrow_mut(), false);
            record_drawn(f);
        });
    }

    // Warn before leaving with unsaved changes.
    {
        use_effect_with(dirty, move |dirty| {
            DIRTY.with(|d| d.set(*dirty));
            let w = super::window();
            if *dirty {
                let f = Closure::<dyn Fn(web_sys::BeforeUnloadEvent)>::new(
                    |e: web_sys::BeforeUnloadEvent| {
                        e.prevent_default();
                        e.set_return_value("You have unsaved changes.");
                    },
                );
                w.set_onbeforeunload(Some(f.as_ref().unchecked_ref()));
                f.forget();
            } else {
                w.set_onbeforeunload(None);
            }
        });
    }

    let pick = {
        let handle = handle.clone();
        let focus = focus.clone();
        Callback::from(move |ids: Vec<String>| {
            let items: Vec<Item> = {
                let e = handle.editor.borrow();
                let d = e.document();
                ids.iter()
                    .filter_map(|id| {
                        if d.node(id).is_some() {
                            Some(Item::Node(id.clone()))
                        } else if d.edges.iter().any(|x| &x.id == id) {
                            Some(Item::Edge(id.clone()))
                        } else {
                            None
                        }
                    })
                    .collect()
            };
            // Centre on the nodes named, or on both ends of the edges named.
            let centre: Vec<String> = {
                let e = handle.editor.borrow();
                let d = e.document();
                ids.iter()
                    .flat_map(|id| match d.edges.iter().find(|x| &x.id == id) {
                        Some(x) => vec![x.from.clone(), x.to.clone()],
                        None => vec![id.clone()],
                    })
                    .collect()
            };
            handle.with(|e| e.select_all_of(items));
            focus.set((focus.0 + 1, centre));
        })
    };

    let save = {
        let stored = stored.clone();
        let ed_rc = ed_rc.clone();
        let message = message.clone();
        let saving = saving.clone();
        let conflict = conflict.clone();
        let notice = notice.clone();
        let saved_note = saved_note.clone();
        let rev = rev.clone();
        Callback::from(move |over: Option<i64>| {
            let Some(s) = (*stored).clone() else { return };
            let doc = ed_rc.borrow().document().clone();
            let base = over.unwrap_or(s.base_version);
            let body = wire::SaveConfiguration {
                base_version: base as i32,
                document: doc.clone(),
                message: (*message).clone(),
            };
            let (stored, saving, conflict, notice, saved_note, message, rev) = (
                stored.clone(),
                saving.clone(),
                conflict.clone(),
                notice.clone(),
                saved_note.clone(),
                message.clone(),
                rev.clone(),
            );
            saving.set(true);
            wasm_bindgen_futures::spawn_local(async move {
                let r: Result<wire::SavedVersion, _> =
                    api::send("PUT", &format!("/api/v1/configurations/{}", s.id), &body).await;
                saving.set(false);
                match r {
                    Ok(v) => {
                        let (version, e) = (v.version as i64, v.errors);
                        saved_note.set(Some(if e > 0 {
                            format!("Saved version {version} as a draft with {e} error(s): it cannot be deployed until they are fixed.")
                        } else {
                            format!("Saved version {version}.")
                        }));
                        stored.set(Some(Stored {
                            base_version: version,
                            base: doc,
                            ..s
                        }));
                        conflict.set(None);
                        message.set(String::new());
                        rev.set(*rev + 1);
                    }
                    Err(ApiError {
                        status: 409,
                        details,
                        message: m,
                        ..
                    }) if details["current"].is_object() => {
                        let theirs =
                            <wire::Version as serde::Deserialize>::deserialize(&details["current"])
                                .map_err(|e| e.to_string())
                                .and_then(|v| Ok((version_doc(&v)?, v)));
                        match theirs {
                            Ok((current, v)) => conflict.set(Some(Conflict {
                                current_version: v.version as i64,
                                theirs: diff(&s.base, &current),
                                mine: diff(&s.base, &doc),
                                author: v.author_name,
                                message: v.message,
                                current,
                            })),
                            Err(e) => notice.set(Some(format!("{m}; {e}"))),
                        }
                    }
                    Err(e) => notice.set(Some(format!("Not saved: {}", e.explain()))),
                }
            });
        })
    };

    let conflict_view = (*conflict).clone().map(|c| {
        let reload = {
            let conflict = conflict.clone();
            let stored = stored.clone();
            let ed_rc = ed_rc.clone();
            let rev = rev.clone();
            let c = c.clone();
            Callback::from(move |_: MouseEvent| {
                if let Some(s) = (*stored).clone() {
                    *ed_rc.borrow_mut() = Editor::new(c.current.clone());
                    stored.set(Some(Stored { base_version: c.current_version, base: c.current.clone(), ..s }));
                }
                conflict.set(None);
                rev.set(*rev + 1);
            })
        };
        let over = {
            let save = save.clone();
            let v = c.current_version;
            Callback::from(move |_: MouseEvent| save.emit(Some(v)))
        };
        let cancel = {
            let conflict = conflict.clone();
            Callback::from(move |_: MouseEvent| conflict.set(None))
        };
        html! {
            <div class="modal-backdrop">
                <div class="modal" role="dialog" aria-modal="true" aria-labelledby="conflict-title" id="conflict">
                    <h2 id="conflict-title">{ "Someone saved first" }</h2>
                    <p>{ format!("{} saved version {}{} while you were editing. Your changes are not saved yet.",
                        c.author, c.current_version,
                        if c.message.is_empty() { String::new() } else { format!(" (\u{201c}{}\u{201d})", c.message) }) }</p>
                    <div class="two">
                        <div><h3>{ "What they changed" }</h3>{ diff_list(&c.theirs, "their-changes") }</div>
                        <div><h3>{ "What you changed" }</h3>{ diff_list(&c.mine, "my-changes") }</div>
                    </div>
                    <div class="actions">
                        <button id="conflict-reload" onclick={reload}>{ "Load their version (discard mine)" }</button>
                        <button id="conflict-overwrite" class="danger" onclick={over}>{ format!("Save mine over version {}", c.current_version) }</button>
                        <button onclick={cancel}>{ "Keep editing" }</button>
                    </div>
                </div>
            </div>
        }
    });

    let title = match &*stored {
        Some(s) => format!("{} · version {}", s.name, s.base_version),
        None => "Sandbox: nothing here is saved".to_owned(),
    };
    let save_bar = match (&*stored, can_save) {
        (Some(s), _) if p.version.is_some() => html! { <span class="muted" id="readonly-reason">
        { "An older version, read-only. " }
        <a href={Route::Editor(s.id).path()}>{ "Open the current version" }</a></span> },
        (None, _) if p.session.is_some() => {
            html! { <span class="muted">{ "To keep a pair, create a configuration (" }
            <a href={Route::Configurations.path()}>{ "Configurations" }</a>{ "): it is saved with its history." }</span> }
        }
        (None, _) => {
            html! { <span class="muted">{ "Log in and open a configuration to save." }</span> }
        }
        (Some(s), _) if s.archived => {
            html! { <span class="muted" id="readonly-reason">{ "Archived: read-only." }</span> }
        }
        (Some(_), false) => {
            html! { <span class="muted" id="readonly-reason">{ format!("Read-only: your role in this team ({}) cannot save.", role.unwrap_or("none")) }</span> }
        }
        (Some(_), true) => {
            let onmessage = {
                let message = message.clone();
                Callback::from(move |e: InputEvent| {
                    message.set(
                        e.target_unchecked_into::<web_sys::HtmlInputElement>()
                            .value(),
                    )
                })
            };
            let onsave = {
                let save = save.clone();
                Callback::from(move |e: SubmitEvent| {
                    e.prevent_default();
                    save.emit(None);
                })
            };
            html! {
                <form class="save" onsubmit={onsave}>
                    <label for="save-message" class="sr">{ "Save message" }</label>
                    <input id="save-message" placeholder="What changed (optional)" value={(*message).clone()} oninput={onmessage} />
                    <button id="save" type="submit" disabled={*saving || !dirty}
                        title={if dirty { "Save a new version" } else { "No unsaved changes" }}>
                        { if *saving { "Saving…" } else if errors > 0 { "Save draft" } else { "Save" } }
                    </button>
                    if dirty { <span class="dirty" id="dirty">{ "● unsaved changes" }</span> }
                </form>
            }
        }
    };

    html! {
        <main class="editor-page">
            <div class="editor-head">
                <h1>{ title }</h1>
                <span id="badge" class={classes!("badge", if errors > 0 { "bad" } else { "good" })}
                    aria-label={format!("{errors} errors, {warnings} warnings")}>
                    { format!("✖ {errors}  ⚠ {warnings}") }
                </span>
                if errors > 0 {
                    <span class="not-deployable">{ "Not deployable" }</span>
                }
                if let Some(s) = &*stored {
                    <a class="button" id="history-link" href={Route::History(s.id).path()}>{ "History" }</a>
                    <a class="button" id="deployments-link" href={Route::Deployments(s.id).path()}>{ "Deploy" }</a>
                    <span id="editor-protection"><super::deploy::EditorBadge configuration={s.id} /></span>
                    if can_save && p.version.is_none() {
                        <super::templates::SaveAsTemplate configuration={s.id} version={s.base_version}
                            document={Rc::new(s.base.clone())}
                            done={{ let saved_note = saved_note.clone(); Callback::from(move |m: String| saved_note.set(Some(m))) }} />
                    }
                }
                { save_bar }
            </div>
            if let Some(n) = &*notice { <p class="notice" role="alert" id="notice">{ n }</p> }
            if let Some(n) = &*saved_note { <p class="saved" role="status" id="saved">{ n }</p> }
            <div class="editor-grid">
                <Canvas ed={handle.clone()} findings={findings.clone()} focus={(*focus).clone()} />
                <aside class="side">
                    <Findings findings={findings.clone()} {pick} />
                    <Panel ed={handle.clone()} registered={(*registered).clone()} />
                </aside>
                <Preview ed={handle.clone()} />
            </div>
            { for conflict_view }
        </main>
    }
}
