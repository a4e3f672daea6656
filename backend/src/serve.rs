//! `lockstep serve`: the HTTP server with the built web app.
//!
//! Today it serves the stateless API over the shared core (schema, validate, render) and the
//! frontend bundle; accounts, persistence and deploy arrive with the server issue.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: String,
    /// Directory of the built frontend (index.html, lockstep.js, lockstep_bg.wasm).
    #[arg(long, default_value = "dist")]
    static_dir: PathBuf,
}

pub fn run(a: ServeArgs) -> ExitCode {
    if !a.static_dir.join("index.html").is_file() {
        eprintln!(
            "error: {} has no index.html; build the frontend first (scripts/build-frontend.sh)",
            a.static_dir.display()
        );
        return ExitCode::from(2);
    }
    let sys = actix_web::rt::System::new();
    match sys.block_on(crate::http::serve(&a.bind, a.static_dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot serve on {}: {e}", a.bind);
            ExitCode::from(1)
        }
    }
}
