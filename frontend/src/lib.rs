//! Lockstep's browser app. For now one page: edit a configuration document and see every
//! finding while typing (the `shared` validator compiled to WebAssembly), and, once the document
//! has no errors, the rendered domain XML, command lines and QMP plan.
//!
//! State logic lives in [`state`] (the page) and [`editor`] (the graph editor's document,
//! selection and undo history) and is plain Rust, tested natively; `main.rs` only wires it to
//! the DOM with Yew.

pub mod editor;
pub mod geometry;
pub mod state;
