//! The app's screens, drawn with Yew from the plain-Rust state in the crate's other modules.

pub mod app;
pub mod audit;
pub mod canvas;
pub mod configs;
pub mod deploy;
pub mod editor_page;
pub mod fields;
pub mod findings;
pub mod history;
pub mod panel;
pub mod preview;
pub mod team;
pub mod templates;

use crate::editor::{Edit, Editor};
use std::cell::RefCell;
use std::rc::Rc;
use yew::prelude::*;

/// The editor shared by the canvas, the panels and the page: its state, a revision that
/// changes with every change (so components redraw), and where refused edits are reported.
#[derive(Clone)]
pub struct EditorHandle {
    pub editor: Rc<RefCell<Editor>>,
    pub rev: u64,
    /// Redraw after a change (bumps `rev`).
    pub changed: Callback<()>,
    /// A message for the user (an edit that could not apply, say why).
    pub notice: Callback<String>,
    /// Viewers and old versions: nothing may change.
    pub readonly: bool,
}

impl PartialEq for EditorHandle {
    fn eq(&self, other: &Self) -> bool {
        self.rev == other.rev
            && self.readonly == other.readonly
            && Rc::ptr_eq(&self.editor, &other.editor)
    }
}

impl EditorHandle {
    /// Applies an edit; a refused one is reported, and nothing changes.
    pub fn apply(&self, edit: Edit) {
        if self.readonly {
            self.notice
                .emit("This version is read-only: nothing was changed.".to_owned());
            return;
        }
        let r = self.editor.borrow_mut().apply(edit);
        match r {
            Ok(()) => self.changed.emit(()),
            Err(e) => self.notice.emit(format!("Not changed: {e}.")),
        }
    }

    /// Runs `f` on the editor (selection, undo, drag end) and redraws.
    pub fn with(&self, f: impl FnOnce(&mut Editor)) {
        f(&mut self.editor.borrow_mut());
        self.changed.emit(());
    }
}

/// The browser window (always there in the app).
pub fn window() -> web_sys::Window {
    web_sys::window().expect("a window")
}

/// Writes `text` to the clipboard.
pub fn copy_text(text: &str) {
    let _ = window().navigator().clipboard().write_text(text);
}

/// Offers `text` as a file download named `name`.
pub fn download(name: &str, text: &str) {
    use wasm_bindgen::JsCast;
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type("text/plain");
    let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &opts) else {
        return;
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
        return;
    };
    if let Some(doc) = window().document() {
        if let Ok(a) = doc.create_element("a") {
            if let Ok(a) = a.dyn_into::<web_sys::HtmlAnchorElement>() {
                a.set_href(&url);
                a.set_download(name);
                a.click();
            }
        }
    }
    let _ = web_sys::Url::revoke_object_url(&url);
}

/// A table's head: a header cell per column, then, with `actions`, the column of a row's
/// buttons (named for screen readers only).
pub fn head(columns: &[&'static str], actions: bool) -> Html {
    html! {
        <thead><tr>
            { for columns.iter().map(|c| html! { <th>{ *c }</th> }) }
            if actions { <th><span class="sr">{ "Actions" }</span></th> }
        </tr></thead>
    }
}

/// The outcome of the last action: done (a status) or what went wrong (an alert).
pub fn banner(m: &Option<(bool, String)>, id: &'static str) -> Html {
    match m {
        Some((true, t)) => html! { <p class="saved" role="status" {id}>{ t }</p> },
        Some((false, t)) => html! { <p class="error-box" role="alert" {id}>{ t }</p> },
        None => html! {},
    }
}

/// A registered host as the server lists it, for tests of what pages make of hosts.
#[cfg(test)]
pub fn test_host(name: &str, address: &str) -> lockstep_shared::api::Host {
    lockstep_shared::api::Host {
        id: 1,
        team_id: 1,
        name: name.to_owned(),
        libvirt_uri: format!("qemu+ssh://root@{name}/system"),
        address: address.to_owned(),
        notes: String::new(),
        created_at: Default::default(),
        updated_at: Default::default(),
        deployments: Vec::new(),
    }
}
