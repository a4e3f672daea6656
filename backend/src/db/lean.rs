//! Connections for the hottest one-statement queries (a configuration row, a save's lookup, the
//! health check), handed back without a round trip.
//!
//! sqlx's pool pings every connection it takes back, one more round trip for every query: that
//! is how it notices a connection left in the middle of a statement by a dropped future. Here a
//! connection goes back only when its statement finished ([`Lean::run`]); one dropped before
//! that (a client went away mid-query, or the statement failed) is closed instead. A
//! connection idle for [`IDLE_PING_AFTER`] is pinged before use and replaced when that fails
//! (Postgres restarted), as the pool's are.

use super::IDLE_PING_AFTER;
use anyhow::{Context, Result};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::Connection;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, SemaphorePermit};

/// How long a caller waits for a free connection before its request fails.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections are closed after this long (as the pool's are), so none lives forever.
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);

pub struct Lean {
    options: PgConnectOptions,
    /// Connections not in use.
    idle: Mutex<Vec<Idle>>,
    /// One per connection that may exist.
    permits: Semaphore,
}

struct Idle {
    conn: PgConnection,
    opened: Instant,
    last_used: Instant,
}

/// A statement running on a connection of the set (see [`Lean::run`]).
pub type Statement<'c, T> = Pin<Box<dyn Future<Output = Result<T, sqlx::Error>> + Send + 'c>>;

/// A connection in use; see the module documentation.
struct Leased<'a> {
    lean: &'a Lean,
    conn: Option<(PgConnection, Instant)>,
    _permit: SemaphorePermit<'a>,
}

impl Lean {
    /// At most `size` connections, opened when first needed.
    pub fn new(options: PgConnectOptions, size: usize) -> Lean {
        Lean {
            options,
            idle: Mutex::new(Vec::with_capacity(size)),
            permits: Semaphore::new(size),
        }
    }

    /// Runs one statement on a connection of the set: `statement` makes it, for example
    /// `|c| Box::pin(query.fetch_one(c))` (binding owned values). The connection goes back to
    /// the set only when the statement finished.
    pub async fn run<T>(
        &self,
        statement: impl for<'c> FnOnce(&'c mut PgConnection) -> Statement<'c, T>,
    ) -> Result<T> {
        let mut lease = self.acquire().await?;
        let answer = statement(lease.conn()).await?;
        lease.finished();
        Ok(answer)
    }

    async fn acquire(&self) -> Result<Leased<'_>> {
        let permit = tokio::time::timeout(ACQUIRE_TIMEOUT, self.permits.acquire())
            .await
            .context("no database connection became free")?
            .context("the connection set is closed")?;
        loop {
            let idle = self.idle.lock().ok().and_then(|mut v| v.pop());
            let Some(mut i) = idle else {
                let conn = PgConnection::connect_with(&self.options)
                    .await
                    .context("connect to Postgres")?;
                return Ok(self.lease(conn, Instant::now(), permit));
            };
            if i.opened.elapsed() >= MAX_LIFETIME {
                continue;
            }
            if i.last_used.elapsed() < IDLE_PING_AFTER || i.conn.ping().await.is_ok() {
                return Ok(self.lease(i.conn, i.opened, permit));
            }
            // Dead (Postgres restarted, say): dropped; try the next one.
        }
    }

    fn lease<'a>(
        &'a self,
        conn: PgConnection,
        opened: Instant,
        permit: SemaphorePermit<'a>,
    ) -> Leased<'a> {
        Leased {
            lean: self,
            conn: Some((conn, opened)),
            _permit: permit,
        }
    }
}

impl Leased<'_> {
    fn conn(&mut self) -> &mut PgConnection {
        &mut self
            .conn
            .as_mut()
            .expect("a lease holds its connection until it is finished or dropped")
            .0
    }

    /// The statement finished: the connection may serve the next one.
    fn finished(mut self) {
        if let (Some((conn, opened)), Ok(mut idle)) = (self.conn.take(), self.lean.idle.lock()) {
            idle.push(Idle {
                conn,
                opened,
                last_used: Instant::now(),
            });
        }
    }
}
