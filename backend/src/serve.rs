//! `lockstep serve` and the database the commands use.
//!
//! With `DATABASE_URL` set, that Postgres is used. Without it, a private cluster is created
//! and started in the data folder (`--data-dir`), on a unix socket only,
//! and stopped on exit. Migrations run at start.

use crate::db::Db;
use crate::http::{self, AppState};
use crate::pg::LocalPostgres;
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Clone)]
pub struct DbArgs {
    /// Folder of the private Postgres cluster used when DATABASE_URL is not set (default:
    /// /var/lib/lockstep as root, where the postgres user can reach it; ./.lockstep otherwise).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

impl DbArgs {
    pub fn data_dir(&self) -> PathBuf {
        match &self.data_dir {
            Some(d) => d.clone(),
            None if crate::pg::is_root() => PathBuf::from("/var/lib/lockstep"),
            None => PathBuf::from(".lockstep"),
        }
    }
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: String,
    /// Serve the web app from this folder (a built `dist/`) instead of the one built into this
    /// binary; for frontend work.
    #[arg(long)]
    static_dir: Option<PathBuf>,
    /// Mark session cookies Secure (when served behind HTTPS).
    #[arg(long)]
    secure_cookies: bool,
    #[command(flatten)]
    db: DbArgs,
}

/// The database, migrated; plus the private cluster when one was started (stopped on drop).
pub async fn open_database(args: &DbArgs) -> Result<(Db, Option<LocalPostgres>)> {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        let db = Db::connect(Db::options_from_url(&url)?).await?;
        db.migrate().await?;
        return Ok((db, None));
    }
    let pg = LocalPostgres::start(&args.data_dir().join("postgres"))
        .context("start the private Postgres cluster (set DATABASE_URL to use another one)")?;
    {
        let admin = Db::connect(pg.options("postgres")).await?;
        Db::ensure_database(&admin.pool, "lockstep").await?;
        admin.pool.close().await;
    }
    let db = Db::connect(pg.options("lockstep")).await?;
    db.migrate().await?;
    Ok((db, Some(pg)))
}

pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOCKSTEP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn run_async(a: ServeArgs) -> Result<()> {
    let (db, pg) = open_database(&a.db).await?;
    let refreshed = refresh_claims(&db)
        .await
        .context("store the claims of existing configurations")?;
    if refreshed > 0 {
        tracing::info!(configurations = refreshed, "stored host claims");
    }
    if db.count_users().await? == 0 {
        println!(
            "lockstep: no users yet. Create the first one with:\n  \
             LOCKSTEP_PASSWORD=... {} admin create-user --data-dir {} --team ops --role admin alice",
            std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "lockstep".into()),
            a.db.data_dir().display()
        );
    }
    let pruning = spawn_pruning(db.clone());
    let jobs = actix_web::rt::spawn(crate::jobs::worker(db.clone()));
    let auth = std::sync::Arc::new(crate::auth::cache::AuthCache::default());
    let watcher = {
        let (db, auth) = (db.clone(), auth.clone());
        actix_web::rt::spawn(async move {
            db.watch_auth_changes(|live| auth.set_live(live), || auth.invalidate())
                .await
        })
    };
    let state = AppState {
        saves: crate::db::batch::Saves::spawn(db.clone()),
        versions: Default::default(),
        db,
        auth,
        secure_cookies: a.secure_cookies,
    };
    let r = http::serve(&a.bind, app_source(&a), state).await;
    // The background tasks hold database connections: end them while the runtime still runs
    // (dropped later, outside it, sqlx panics and the process aborts instead of exiting).
    for task in [pruning, watcher, jobs] {
        task.abort();
        let _ = task.await;
    }
    drop(pg);
    r.with_context(|| format!("serve on {}", a.bind))
}

/// Stores the host claims of active configurations saved before claims existed (or by an
/// older server); once at start, before serving.
async fn refresh_claims(db: &Db) -> Result<usize> {
    use lockstep_shared::validate::cross;
    let mut n = 0;
    for (cid, version, text) in db.configurations_needing_claims().await? {
        // A document the current model cannot read claims nothing (it cannot be deployed).
        let claims = lockstep_shared::Document::from_json(&text)
            .map(|d| cross::claims(&d))
            .unwrap_or_default();
        let mut tx = db.begin().await?;
        if crate::db::configs::refresh_claims(&mut tx, cid, version, &claims).await? {
            n += 1;
        }
        tx.commit().await?;
    }
    Ok(n)
}

/// How often expired sessions and old failed logins are deleted (also once at start).
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(600);
/// Failed logins are kept this long (the rate limit looks back 5 minutes).
const KEEP_FAILED_LOGINS_SECS: i64 = 24 * 3600;

/// Deletes expired sessions and old failed logins now and every [`PRUNE_EVERY`]. Any number of
/// servers may do it at once.
fn spawn_pruning(db: crate::db::Db) -> actix_web::rt::task::JoinHandle<()> {
    actix_web::rt::spawn(async move {
        let mut every = actix_web::rt::time::interval(PRUNE_EVERY);
        loop {
            every.tick().await;
            match db.prune(KEEP_FAILED_LOGINS_SECS).await {
                Ok((sessions, failed)) if sessions + failed > 0 => {
                    tracing::info!(sessions, failed_logins = failed, "pruned")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = format!("{e:#}"), "pruning failed"),
            }
        }
    })
}

fn app_source(a: &ServeArgs) -> http::AppSource {
    match &a.static_dir {
        Some(d) => http::AppSource::Dir(d.clone()),
        None => http::AppSource::Embedded,
    }
}

pub fn run(a: ServeArgs) -> ExitCode {
    init_logging();
    if let Some(problem) = app_source(&a).problem() {
        eprintln!("error: {problem}");
        return ExitCode::from(2);
    }
    block_on(run_async(a))
}

/// Runs a command's future on a fresh runtime, printing its error chain on failure.
pub fn block_on<F: std::future::Future<Output = Result<()>>>(f: F) -> ExitCode {
    let rt = actix_web::rt::System::new();
    match rt.block_on(f) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Where the database is, for messages.
pub fn describe(args: &DbArgs) -> String {
    match std::env::var("DATABASE_URL") {
        Ok(_) => "DATABASE_URL".to_owned(),
        Err(_) => args.data_dir().join("postgres").display().to_string(),
    }
}
