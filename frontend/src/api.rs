//! Calls to the Lockstep API from the browser: JSON in and out, the session cookie sent by
//! the browser, the CSRF token added to every change, and every failure turned into an
//! [`ApiError`] whose message a person can read (the server's `message`, or what went wrong
//! on the way).

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::cell::RefCell;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

thread_local! {
    /// The CSRF token of the current session (from log in or `/api/v1/me`).
    static CSRF: RefCell<Option<String>> = const { RefCell::new(None) };
}

pub fn set_csrf(token: Option<String>) {
    CSRF.with(|c| *c.borrow_mut() = token);
}

/// A failed call: the HTTP status (0 when no answer came), the server's error code and its
/// message, and the details (a 409's current version, for one).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub details: Box<Value>,
}

impl ApiError {
    fn local(message: impl Into<String>) -> ApiError {
        ApiError {
            status: 0,
            code: "network".to_owned(),
            message: message.into(),
            details: Box::new(Value::Null),
        }
    }

    /// The message and what to do about it, in plain words.
    pub fn explain(&self) -> String {
        let what_to_do = match (self.status, self.code.as_str()) {
            (0, _) => "Check that the Lockstep server is running and reachable, then try again.",
            (401, _) => "Log in again.",
            (403, _) => "Ask a team admin for a role that allows this.",
            (404, _) => "It may have been deleted or archived; go back to the list.",
            (409, _) => "Someone else changed it first; reload to see their version.",
            (429, _) => "Wait a few minutes before trying again.",
            (s, _) if s >= 500 => "This is a server fault; the server log has the request id.",
            _ => "",
        };
        if what_to_do.is_empty() {
            self.message.clone()
        } else {
            format!(
                "{} {what_to_do}",
                self.message.trim_end_matches('.').to_owned() + "."
            )
        }
    }
}

/// Sends one request with a JSON body's text; `Ok` with the answer's text on 2xx. Answers are
/// read straight from their text into their types (not through `Value`: each type's reader
/// would be compiled once more for it).
pub async fn call(method: &str, path: &str, body: Option<&str>) -> Result<String, ApiError> {
    let window = web_sys::window().ok_or_else(|| ApiError::local("no window"))?;
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    init.set_credentials(web_sys::RequestCredentials::SameOrigin);
    let headers = web_sys::Headers::new().map_err(js_error)?;
    headers
        .set("Accept", "application/json")
        .map_err(js_error)?;
    if let Some(b) = body {
        headers
            .set("Content-Type", "application/json")
            .map_err(js_error)?;
        init.set_body(&JsValue::from_str(b));
    }
    if method != "GET" {
        if let Some(t) = CSRF.with(|c| c.borrow().clone()) {
            headers.set("X-CSRF-Token", &t).map_err(js_error)?;
        }
    }
    init.set_headers(&headers);
    let request = web_sys::Request::new_with_str_and_init(path, &init).map_err(js_error)?;
    let answer = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(|_| ApiError::local("The server did not answer."))?;
    let response: web_sys::Response = answer.dyn_into().map_err(js_error)?;
    let text = JsFuture::from(response.text().map_err(js_error)?)
        .await
        .map_err(js_error)?
        .as_string()
        .unwrap_or_default();
    let status = response.status();
    if (200..300).contains(&status) {
        return Ok(text);
    }
    let json: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Err(error_from(
        status,
        &json,
        response.headers().get("Retry-After").ok().flatten(),
    ))
}

/// The error a non-2xx answer stands for.
pub fn error_from(status: u16, json: &Value, retry_after: Option<String>) -> ApiError {
    let text = |k: &str| json.get(k).and_then(Value::as_str).map(str::to_owned);
    let mut message = text("message").unwrap_or_else(|| match status {
        404 => "Not found.".to_owned(),
        s => format!("The server answered {s}."),
    });
    if let (429, Some(secs)) = (status, retry_after) {
        message = format!("{} (try again in {secs} s)", message.trim_end_matches('.'));
    }
    ApiError {
        status,
        code: text("code").unwrap_or_else(|| format!("http_{status}")),
        message,
        details: Box::new(json.get("details").cloned().unwrap_or(Value::Null)),
    }
}

fn js_error(e: JsValue) -> ApiError {
    ApiError::local(format!("The browser refused the request: {e:?}"))
}

/// Reads an answer as its `shared::api` type.
fn typed<T: DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    lockstep_shared::json::read(text)
        .map_err(|e| ApiError::local(format!("The server's answer was not understood ({e}).")))
}

/// `GET path` as a `shared::api` type.
pub async fn get<T: DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    typed(&call("GET", path, None).await?)
}

/// The hosts registered in `team`.
pub async fn team_hosts(team: &str) -> Result<Vec<lockstep_shared::api::Host>, ApiError> {
    get::<lockstep_shared::api::HostList>(&format!("/api/v1/teams/{team}/hosts"))
        .await
        .map(|l| l.hosts)
}

/// `method path` with a `shared::api` body, answered with another.
pub async fn send<B: Serialize, T: DeserializeOwned>(
    method: &str,
    path: &str,
    body: &B,
) -> Result<T, ApiError> {
    let body =
        lockstep_shared::json::try_compact(body).map_err(|e| ApiError::local(e.to_string()))?;
    typed(&call(method, path, Some(&body)).await?)
}

/// A body's JSON text.
pub fn text<B: Serialize>(body: &B) -> String {
    lockstep_shared::json::compact(body)
}

/// `method path` with a body already written as JSON text.
pub async fn send_text<T: DeserializeOwned>(
    method: &str,
    path: &str,
    body: &str,
) -> Result<T, ApiError> {
    typed(&call(method, path, Some(body)).await?)
}

/// `method path` without a body (an archive, a revoke, a delete): the answer is not needed.
pub async fn act(method: &str, path: &str) -> Result<(), ApiError> {
    call(method, path, Some("{}")).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_read_as_plain_words() {
        let e = error_from(
            409,
            &json!({"code": "conflict", "message": "version 1 is not the current version (2)", "details": {"current_version": 2}}),
            None,
        );
        assert_eq!(e.details["current_version"], 2);
        assert_eq!(
            e.explain(),
            "version 1 is not the current version (2). Someone else changed it first; reload to see their version."
        );
        let e = error_from(
            429,
            &json!({"code": "rate_limited", "message": "too many failed logins"}),
            Some("300".into()),
        );
        assert!(
            e.explain().contains("try again in 300 s"),
            "{}",
            e.explain()
        );
        let e = error_from(502, &json!("Bad Gateway"), None);
        assert_eq!(e.code, "http_502");
        assert!(e.explain().starts_with("The server answered 502."));
    }
}
