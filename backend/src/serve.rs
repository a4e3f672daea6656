//! `lockstep serve`: placeholder until the server issue lands.
use clap::Args;
use std::process::ExitCode;

#[derive(Args)]
pub struct ServeArgs {}

pub fn run(_a: ServeArgs) -> ExitCode {
    ExitCode::from(2)
}
