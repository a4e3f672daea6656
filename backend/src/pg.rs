//! A private Postgres cluster for when no `DATABASE_URL` is given: created with the system's
//! `initdb` in a data folder of its own, started with `pg_ctl` on a unix socket only (no TCP),
//! and stopped when the guard is dropped.
//!
//! Postgres refuses to run as root, so when Lockstep runs as root the cluster runs as the
//! `postgres` system user (created by Debian's postgresql package).

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian puts the server binaries.
const PG_BIN_DIRS: &[&str] = &["/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin"];

fn pg_bin(name: &str) -> Result<PathBuf> {
    for d in PG_BIN_DIRS {
        let p = Path::new(d).join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    bail!("{name} not found in {PG_BIN_DIRS:?}; install the postgresql package or set DATABASE_URL")
}

/// Whether the server binaries are installed.
pub fn available() -> bool {
    pg_bin("initdb").is_ok() && pg_bin("pg_ctl").is_ok()
}

pub fn is_root() -> bool {
    // /proc/self/status lists the real, effective, saved and fs uids; the second is effective.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Runs a Postgres tool, as `postgres` when we are root.
fn run_pg(tool: &Path, args: &[&str]) -> Result<std::process::Output> {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(tool);
        c
    } else {
        Command::new(tool)
    };
    cmd.args(args)
        .output()
        .with_context(|| format!("run {}", tool.display()))
}

fn chown_postgres(path: &Path) -> Result<()> {
    if is_root() {
        let st = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path)
            .status()?;
        if !st.success() {
            bail!("chown postgres {} failed", path.display());
        }
    }
    Ok(())
}

/// A running private cluster; stopped on drop.
pub struct LocalPostgres {
    data: PathBuf,
    /// Whether this process started the cluster (and so stops it).
    owned: bool,
    /// Directory holding the unix socket.
    pub socket_dir: PathBuf,
    pub user: String,
}

impl LocalPostgres {
    /// Creates the cluster under `dir` if needed and starts it.
    pub fn start(dir: &Path) -> Result<LocalPostgres> {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let dir = dir.canonicalize()?;
        let data = dir.join("data");
        let socket_dir = dir.join("socket");
        std::fs::create_dir_all(&socket_dir)?;
        chown_postgres(&dir)?;
        let user = "lockstep".to_owned();
        if !data.join("PG_VERSION").is_file() {
            let out = run_pg(
                &pg_bin("initdb")?,
                &[
                    "-D",
                    &data.to_string_lossy(),
                    "-U",
                    &user,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-instructions",
                ],
            )?;
            if !out.status.success() {
                bail!("initdb failed: {}", String::from_utf8_lossy(&out.stderr));
            }
        }
        let pg_ctl = pg_bin("pg_ctl")?;
        let status = run_pg(&pg_ctl, &["-D", &data.to_string_lossy(), "status"])?;
        if status.status.success() {
            // Already running (another lockstep process started it): use it, leave it running.
            return Ok(LocalPostgres {
                data,
                owned: false,
                socket_dir,
                user,
            });
        }
        let log = dir.join("postgres.log");
        // Unix socket only; the socket directory is private to the cluster's owner.
        let opts = format!(
            "-c listen_addresses='' -c unix_socket_directories='{}' -c unix_socket_permissions=0700",
            socket_dir.display()
        );
        let out = run_pg(
            &pg_ctl,
            &[
                "-D",
                &data.to_string_lossy(),
                "-l",
                &log.to_string_lossy(),
                "-o",
                &opts,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )?;
        if !out.status.success() {
            bail!(
                "pg_ctl start failed: {}{}\nlog: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        Ok(LocalPostgres {
            data,
            owned: true,
            socket_dir,
            user,
        })
    }

    /// Connection options for one database of this cluster.
    pub fn options(&self, database: &str) -> sqlx::postgres::PgConnectOptions {
        sqlx::postgres::PgConnectOptions::new()
            .socket(&self.socket_dir)
            .username(&self.user)
            .database(database)
    }

    /// A shell command that stops this cluster (for a watchdog process).
    pub fn stop_command(&self) -> String {
        let pg_ctl = pg_bin("pg_ctl")
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "pg_ctl".into());
        let prefix = if is_root() {
            "runuser -u postgres -- "
        } else {
            ""
        };
        format!(
            "{prefix}{pg_ctl} -D '{}' -m fast -w stop",
            self.data.display().to_string().replace('\'', "")
        )
    }

    fn log(&self) -> PathBuf {
        self.data
            .parent()
            .map(|d| d.join("postgres.log"))
            .unwrap_or_else(|| self.data.join("postgres.log"))
    }

    /// Restarts the cluster (tests use it to check that servers recover).
    pub fn restart(&self) -> Result<()> {
        let opts = format!(
            "-c listen_addresses='' -c unix_socket_directories='{}' -c unix_socket_permissions=0700",
            self.socket_dir.display()
        );
        let out = run_pg(
            &pg_bin("pg_ctl")?,
            &[
                "-D",
                &self.data.to_string_lossy(),
                // With a log file, the server does not hold our stdout pipe open.
                "-l",
                &self.log().to_string_lossy(),
                "-m",
                "fast",
                "-w",
                "-o",
                &opts,
                "restart",
            ],
        )?;
        if !out.status.success() {
            bail!(
                "pg_ctl restart failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Stops the cluster now (also done on drop).
    pub fn stop(&self) {
        if let Ok(pg_ctl) = pg_bin("pg_ctl") {
            let _ = run_pg(
                &pg_ctl,
                &[
                    "-D",
                    &self.data.to_string_lossy(),
                    "-m",
                    "fast",
                    "-w",
                    "stop",
                ],
            );
        }
    }
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        if self.owned {
            self.stop();
        }
    }
}
