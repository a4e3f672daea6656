//! Lockstep's backend as a library: the `lockstep` binary is a thin CLI over it, and the
//! integration tests use its Postgres helper.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod db;
pub mod deploy;
pub mod digest;
pub mod http;
pub mod jobs;
pub mod pg;
pub mod serve;
