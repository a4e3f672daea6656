//! A save's body, parsed in one pass in the usual case.
//!
//! `web::Json` of a save kept the document as raw text (a scan of all of it), and the handler then
//! parsed that text again into a `Document`; under the save benchmark the scan alone was 3% of
//! the machine's CPU. [`SaveBody`] parses the body with the document typed. Only when that
//! fails does it read the body again as a [`Save`], keeping the document as text, so that every
//! answer stays as it was: a bad body is a `bad_json` 400 (from [`super::json_error`], the same
//! check of content type as `web::Json`; an oversized body is answered by
//! `guard` before this runs), and a bad document is a `bad_document` 400
//! with its line and column in the document, given only after the access check.

use super::docs::parse;
use super::errors::AppError;
use super::json_error;
use super::MAX_BODY;
use actix_web::error::JsonPayloadError;
use actix_web::{dev, mime, web, FromRequest, HttpMessage, HttpRequest};
use lockstep_shared::api;
use lockstep_shared::Document;
use serde_json::value::RawValue;
use std::future::Future;
use std::pin::Pin;

/// The body of a save, its document read in the same pass as the body when it parses (the
/// wire type is [`api::SaveConfiguration`]).
pub struct SaveBody(pub api::SaveConfiguration<Doc>);

/// The same body with another kind of document.
fn with_document<D, E>(
    b: api::SaveConfiguration<D>,
    f: impl FnOnce(D) -> E,
) -> api::SaveConfiguration<E> {
    api::SaveConfiguration {
        base_version: b.base_version,
        document: f(b.document),
        message: b.message,
    }
}

/// A save's document.
pub enum Doc {
    Parsed(Box<Document>),
    /// Its parse within the body failed: parsed alone, it gives the error in its own terms.
    Text(Box<RawValue>),
}

impl Doc {
    /// The document, or why it is not a valid configuration document.
    pub fn parse(self) -> Result<Document, AppError> {
        match self {
            Doc::Parsed(d) => Ok(*d),
            Doc::Text(t) => parse(t.get()),
        }
    }
}

/// Whether the body is declared as JSON, as `web::Json` requires.
fn is_json(req: &HttpRequest) -> bool {
    matches!(req.mime_type(), Ok(Some(m))
        if m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
}

impl FromRequest for SaveBody {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<SaveBody, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut dev::Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Payload::from_request(&req, payload).into_inner();
        Box::pin(async move {
            let refuse = |e: JsonPayloadError| Err(json_error(e, &req));
            if !is_json(&req) {
                return refuse(JsonPayloadError::ContentType);
            }
            // A body over the limit never gets here (`guard` answers it); this read keeps the
            // extractor safe on its own.
            let bytes = match body?.to_bytes_limited(MAX_BODY).await {
                Ok(read) => read?,
                Err(_) => return refuse(JsonPayloadError::Overflow { limit: MAX_BODY }),
            };
            // Checked as UTF-8 once, not string by string as `from_slice` does.
            let text = std::str::from_utf8(&bytes).ok();
            if let Some(Ok(s)) = text.map(serde_json::from_str::<api::SaveConfiguration<Document>>)
            {
                return Ok(SaveBody(with_document(s, |d| Doc::Parsed(Box::new(d)))));
            }
            match serde_json::from_slice::<api::SaveConfiguration>(&bytes) {
                Ok(s) => Ok(SaveBody(with_document(s, Doc::Text))),
                Err(e) => refuse(JsonPayloadError::Deserialize(e)),
            }
        })
    }
}
