//! Typed form fields: each keeps what the user typed, checks it on every key, shows what is
//! wrong next to the field, and commits only a value that parses (on Enter or leaving the
//! field). Nothing typed is silently dropped: an invalid value stays visible with its error.

use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct TextFieldProps {
    pub id: AttrValue,
    pub label: AttrValue,
    /// The current value, as text.
    pub value: AttrValue,
    /// Checks a text: `Err` with what is wrong. Also called on commit.
    pub check: Callback<String, Result<(), String>>,
    /// Commits a text that passed `check`.
    pub commit: Callback<String>,
    #[prop_or_default]
    pub hint: AttrValue,
    #[prop_or_default]
    pub readonly: bool,
}

#[component]
pub fn TextField(p: &TextFieldProps) -> Html {
    let text = use_state(|| p.value.to_string());
    let error = use_state(|| None::<String>);
    {
        // The value changed elsewhere (undo, another panel): show it.
        let text = text.clone();
        let error = error.clone();
        use_effect_with(p.value.clone(), move |v| {
            text.set(v.to_string());
            error.set(None);
        });
    }
    let oninput = {
        let text = text.clone();
        let error = error.clone();
        let check = p.check.clone();
        Callback::from(move |e: InputEvent| {
            let v = e
                .target_unchecked_into::<web_sys::HtmlInputElement>()
                .value();
            error.set(check.emit(v.clone()).err());
            text.set(v);
        })
    };
    let onchange = {
        let check = p.check.clone();
        let commit = p.commit.clone();
        let error = error.clone();
        let current = p.value.clone();
        Callback::from(move |e: Event| {
            let v = e
                .target_unchecked_into::<web_sys::HtmlInputElement>()
                .value();
            match check.emit(v.clone()) {
                Ok(()) if v != current.as_str() => commit.emit(v),
                Ok(()) => {}
                Err(m) => error.set(Some(m)),
            }
        })
    };
    let err_id = format!("{}-error", p.id);
    html! {
        <div class={classes!("field", error.is_some().then_some("invalid"))}>
            <label for={p.id.clone()}>{ p.label.clone() }</label>
            <input id={p.id.clone()} type="text" value={(*text).clone()} {oninput} {onchange}
                readonly={p.readonly} aria-invalid={error.is_some().to_string()}
                aria-describedby={err_id.clone()} spellcheck="false" />
            if let Some(m) = &*error {
                <div class="field-error" id={err_id} role="alert">{ format!("✖ {m}") }</div>
            } else if !p.hint.is_empty() {
                <div class="field-hint" id={err_id}>{ p.hint.clone() }</div>
            }
        </div>
    }
}

#[derive(Properties, PartialEq)]
pub struct SelectFieldProps {
    pub id: AttrValue,
    pub label: AttrValue,
    pub value: AttrValue,
    /// (value, label) pairs.
    pub options: Vec<(AttrValue, AttrValue)>,
    pub commit: Callback<String>,
    #[prop_or_default]
    pub readonly: bool,
}

#[component]
pub fn SelectField(p: &SelectFieldProps) -> Html {
    let onchange = {
        let commit = p.commit.clone();
        Callback::from(move |e: Event| {
            commit.emit(
                e.target_unchecked_into::<web_sys::HtmlSelectElement>()
                    .value(),
            )
        })
    };
    html! {
        <div class="field">
            <label for={p.id.clone()}>{ p.label.clone() }</label>
            <select id={p.id.clone()} {onchange} disabled={p.readonly}>
                { for p.options.iter().map(|(v, l)| html! {
                    <option value={v.clone()} selected={*v == p.value}>{ l.clone() }</option>
                }) }
            </select>
        </div>
    }
}
