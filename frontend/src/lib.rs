//! Lockstep's browser app: log in, the team's configurations, and the graph editor for a COLO
//! pair (SVG canvas, properties, live findings from the `shared` validator compiled to
//! WebAssembly, previews rendered in the browser, save with conflict handling).
//!
//! State logic is plain Rust, tested natively: [`editor`] (document, selection, undo),
//! [`geometry`] and [`drawing`] (layout and what the canvas draws), [`forms`] (what fields
//! accept), [`route`] and [`state`]. [`view`] wires it to the DOM with Yew; [`api`] talks to
//! the server.

pub mod api;
pub mod deploying;
pub mod drawing;
pub mod editor;
pub mod forms;
pub mod geometry;
pub mod route;
pub mod state;
pub mod view;
