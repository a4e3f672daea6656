//! The browser app: embedded in the binary at build time (`backend/build.rs` from `dist/`), or
//! read from `--static-dir` for frontend work.
//!
//! Every path that is not an API route answers the app's `index.html` (client-side routes: a
//! reload on any route works), except the app's own files. Files with a content hash in their
//! name are cached for a year (`immutable`); `index.html` is revalidated every time. Embedded
//! files are sent brotli- or gzip-compressed when the client accepts it (compressed at build
//! time, never per request).

use super::errors::AppError;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use std::path::PathBuf;

/// One file of the built app, with its precompressed forms.
pub struct Asset {
    pub name: &'static str,
    pub identity: &'static [u8],
    pub gzip: Option<&'static [u8]>,
    pub brotli: Option<&'static [u8]>,
}

/// The app as built into this binary (empty when `dist/` did not exist at build time).
pub static EMBEDDED: &[Asset] = include!(concat!(env!("OUT_DIR"), "/app.rs"));

/// Where the app's files come from.
#[derive(Clone)]
pub enum AppSource {
    Embedded,
    Dir(PathBuf),
}

impl AppSource {
    /// Why the app cannot be served, if it cannot.
    pub fn problem(&self) -> Option<String> {
        match self {
            AppSource::Embedded if !EMBEDDED.iter().any(|a| a.name == "index.html") => Some(
                "this lockstep binary was built without the web app (no dist/ at build time); \
                 build it with scripts/run, or pass --static-dir with a built app"
                    .to_owned(),
            ),
            AppSource::Dir(d) if !d.join("index.html").is_file() => Some(format!(
                "{} has no index.html; build the frontend first (scripts/run does)",
                d.display()
            )),
            AppSource::Embedded | AppSource::Dir(_) => None,
        }
    }
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, e)| e) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// Whether a file name carries a content hash (`lockstep-0123456789ab.js`): its content never
/// changes under that name.
fn is_hashed(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or_default();
    stem.rsplit_once('-')
        .is_some_and(|(_, h)| h.len() == 12 && h.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Whether the client accepts `coding` (a listed coding or `*`, without `q=0`).
fn accepts(req: &HttpRequest, coding: &str) -> bool {
    req.headers()
        .get_all(header::ACCEPT_ENCODING)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case(coding) || name == "*") && !refused
        })
}

fn respond(
    req: &HttpRequest,
    name: &str,
    body: Bytes,
    coding: Option<&'static str>,
) -> HttpResponse {
    let mut r = HttpResponse::Ok();
    r.insert_header((header::CONTENT_TYPE, content_type(name)))
        .insert_header((header::VARY, HeaderValue::from_static("Accept-Encoding")))
        .insert_header((
            header::CACHE_CONTROL,
            if is_hashed(name) {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            },
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if let Some(c) = coding {
        r.insert_header((header::CONTENT_ENCODING, c));
    }
    if req.method() == actix_web::http::Method::HEAD {
        return r.finish();
    }
    r.body(body)
}

/// The app's file `name`, or `None`.
fn file(source: &AppSource, req: &HttpRequest, name: &str) -> Option<HttpResponse> {
    match source {
        AppSource::Embedded => {
            let a = EMBEDDED.iter().find(|a| a.name == name)?;
            let (body, coding) = match (a.brotli, a.gzip) {
                (Some(b), _) if accepts(req, "br") => (b, Some("br")),
                (_, Some(g)) if accepts(req, "gzip") => (g, Some("gzip")),
                _ => (a.identity, None),
            };
            // Served from the binary's own bytes, never copied.
            Some(respond(req, name, Bytes::from_static(body), coding))
        }
        AppSource::Dir(dir) => {
            // Only plain names inside the folder: no separators, no parent references.
            if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
                return None;
            }
            let body = std::fs::read(dir.join(name)).ok()?;
            Some(respond(req, name, Bytes::from(body), None))
        }
    }
}

/// Everything that is not an API route: the app's files, else its `index.html`.
pub async fn serve_app(
    req: HttpRequest,
    source: web::Data<AppSource>,
) -> Result<HttpResponse, AppError> {
    let path = req.path();
    if path == "/api" || path.starts_with("/api/") {
        return Err(AppError::NotFound("API route".into()));
    }
    if !matches!(req.method().as_str(), "GET" | "HEAD") {
        return Err(AppError::NotFound(format!("{} {path}", req.method())));
    }
    let name = path.trim_start_matches('/');
    if let Some(r) = file(&source, &req, name) {
        return Ok(r);
    }
    file(&source, &req, "index.html").ok_or_else(|| AppError::NotFound("the web app".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_are_recognised() {
        assert!(is_hashed("lockstep-0123456789ab.js"));
        assert!(is_hashed("lockstep_bg-abcdef012345.wasm"));
        assert!(!is_hashed("index.html"));
        assert!(!is_hashed("lockstep.js"));
        assert!(!is_hashed("lockstep-0123.js"));
    }

    #[test]
    fn accept_encoding_is_parsed_with_q_values() {
        let req = |v: &str| {
            actix_web::test::TestRequest::default()
                .insert_header((header::ACCEPT_ENCODING, v))
                .to_http_request()
        };
        assert!(accepts(&req("gzip, deflate, br"), "br"));
        assert!(accepts(&req("gzip, deflate, br"), "gzip"));
        assert!(!accepts(&req("gzip;q=1.0, br;q=0"), "br"));
        assert!(accepts(&req("*"), "br"));
        assert!(!accepts(&req("identity"), "gzip"));
    }
}
