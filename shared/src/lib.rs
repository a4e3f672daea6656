//! Lockstep's pure core: the COLO configuration document, its validator and its renderers.
//!
//! Nothing here does I/O, reads a clock or draws randomness, so the same code runs natively in the
//! server and CLI and as WebAssembly in the browser, and gives identical findings in both.
//!
//! The flow is parse, then trust: a [`model::Document`] is what arrived on the wire; [`validate`]
//! reports every finding; [`render::Validated`] is only constructed from a document without errors,
//! and the renderers accept nothing else.

pub mod api;
pub mod diff;
pub mod json;
pub mod model;
pub mod render;
pub mod template;
pub mod text;
pub mod validate;
pub mod wizard;

pub use model::Document;
pub use validate::{validate, Finding, Severity};
