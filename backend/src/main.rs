//! The `lockstep` binary: the command-line tools over the shared core, and the server.
//!
//! `audit verify` exits 1 naming the first bad event. Exit codes of the document commands: 0 success, 1 the document has errors, 2 the input could
//! not be read or parsed (or the arguments were wrong).

use lockstep_backend::{admin, cli, serve};

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: the server allocates many small objects per request
/// (JSON trees), and glibc's allocator took about a tenth of the server's CPU during saves
/// under load (profile of bench/load.sh).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "lockstep",
    version,
    about = "Configure and deploy QEMU COLO fault-tolerant VMs"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print every finding of a configuration document.
    Validate {
        file: PathBuf,
        /// Print findings as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write primary.xml, secondary.xml, plan.json, primary.cmdline and secondary.cmdline.
    Render {
        file: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the JSON Schema of the configuration document.
    Schema,
    /// Print the standard COLO pair for some disks on two hosts.
    New(Box<cli::NewArgs>),
    /// Print the validation rules table (Markdown).
    Rules,
    /// Print the document of the pair with its roles swapped (what runs after a failover to
    /// the secondary and a re-protect).
    Swap { file: PathBuf },
    /// Check both hosts for a deploy without changing anything.
    Preflight(cli::hosts::PairArgs),
    /// Deploy the pair to two hosts through libvirt; exit 0 once protected.
    Deploy(cli::hosts::PairArgs),
    /// Print "Protected" or "Not protected: reason"; exit 0 only when protected.
    Status(cli::hosts::PairArgs),
    /// Fail over to one side (the other must be gone, unless --force).
    Failover(cli::hosts::FailoverArgs),
    /// After a failover: build a fresh secondary on the other host and protect again (after a
    /// failover to the secondary the roles swap).
    Reprotect(cli::hosts::PairArgs),
    /// Stop both sides and remove their domains and the secondary's overlays.
    Teardown(cli::hosts::PairArgs),
    /// Remove what the guest left on a host that no longer belongs to the pair (its stopped
    /// domain and the overlays); refused while the guest runs there.
    ForgetHost {
        file: PathBuf,
        /// libvirt URI of the host that left the pair.
        #[arg(long)]
        host: String,
    },
    /// Serve the web app and its API.
    Serve(serve::ServeArgs),
    /// Administration: users.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(admin::AuditCommand),
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(e) = lockstep_backend::deploy::host::monitor_limit() {
        eprintln!("lockstep: {e}");
        return ExitCode::from(2);
    }
    match args.command {
        Command::Validate { file, json } => cli::validate(&file, json),
        Command::Render { file, out } => cli::render(&file, &out),
        Command::Schema => cli::schema(),
        Command::Swap { file } => cli::swap(&file),
        Command::New(a) => cli::new(&a),
        Command::Rules => {
            print!("{}", lockstep_shared::validate::rules_markdown());
            ExitCode::SUCCESS
        }
        Command::Preflight(a) => cli::hosts::preflight(&a),
        Command::Deploy(a) => cli::hosts::deploy(&a),
        Command::Status(a) => cli::hosts::status(&a),
        Command::Failover(a) => cli::hosts::failover(&a),
        Command::Reprotect(a) => cli::hosts::reprotect(&a),
        Command::Teardown(a) => cli::hosts::teardown(&a),
        Command::ForgetHost { file, host } => cli::hosts::forget_host(&file, &host),
        Command::Serve(a) => serve::run(a),
        Command::Admin(c) => admin::admin(c),
        Command::Audit(c) => admin::audit_cmd(c),
    }
}
