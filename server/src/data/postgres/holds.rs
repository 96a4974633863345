//! Holds across replicas on PostgreSQL: a session advisory lock (two-key form, namespace
//! `HOLDS`, keyed by the hash of `Exclusive::name`) taken on a connection of the holds
//! pool and kept on it while the hold lives. Dropping the hold unlocks and gives the
//! connection back; if that fails the connection is closed, and closing a session (or
//! the replica dying, its sockets with it) makes PostgreSQL release its locks.
//!
//! Holds have a pool of their own: a PATCH keeps its connection for as long as its body
//! takes, and must never starve the operations it calls meanwhile of connections.

use std::time::{Duration, Instant};

use sqlx_core::pool::PoolConnection;
use sqlx_core::row::Row;
use sqlx_postgres::Postgres;

use super::{PgData, q};
use crate::data::holds::{Exclusive, Held, Holds};
use crate::error::Result;

/// The advisory-lock namespace of holds (the stories' is `stories::STORY_LOCKS`; the
/// feed's lock is a one-key lock, a space of its own).
const HOLDS: i32 = 0x686f_6c64;
/// How often a hold that is taken is tried again while its caller waits.
const RETRY_EVERY: Duration = Duration::from_millis(25);
/// Connections kept for holds per replica: PATCHes in flight at once, and a HEAD's brief
/// wait; more wait for one.
pub const HOLD_CONNECTIONS: u32 = 24;

struct PgHeld {
    conn: Option<PoolConnection<Postgres>>,
    name: String,
    runtime: tokio::runtime::Handle,
}

impl Held for PgHeld {}

impl Drop for PgHeld {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let name = std::mem::take(&mut self.name);
        self.runtime.spawn(async move {
            let unlocked = q("SELECT pg_advisory_unlock($1, hashtext($2))")
                .bind(HOLDS)
                .bind(&name)
                .fetch_one(&mut *conn)
                .await
                .and_then(|row| row.try_get::<bool, _>(0));
            if !matches!(unlocked, Ok(true)) {
                // Never hand a connection that may still hold the lock back to the pool.
                tracing::warn!(hold = %name, "a hold did not unlock; closing its connection");
                let _ = conn.close().await;
            }
        });
    }
}

impl Holds for PgData {
    fn hold(&self, what: Exclusive<'_>, wait: Duration) -> Result<Option<Box<dyn Held>>> {
        let name = what.name();
        let runtime = self.runtime_handle();
        self.run(async {
            let deadline = Instant::now() + wait;
            let mut conn = self.holds_pool().acquire().await?;
            loop {
                let taken: bool = q("SELECT pg_try_advisory_lock($1, hashtext($2))")
                    .bind(HOLDS)
                    .bind(&name)
                    .fetch_one(&mut *conn)
                    .await?
                    .try_get(0)?;
                if taken {
                    let held: Box<dyn Held> = Box::new(PgHeld {
                        conn: Some(conn),
                        name,
                        runtime,
                    });
                    return Ok(Some(held));
                }
                if Instant::now() >= deadline {
                    return Ok(None);
                }
                tokio::time::sleep(RETRY_EVERY).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use tellus_testkit::services::{or_skip, postgres::Postgres};

    use super::*;

    fn advisory_locks(server: &Postgres) -> i64 {
        server
            .psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(-1)
    }

    fn until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if condition() {
                return true;
            }
            std::thread::yield_now();
        }
        condition()
    }

    fn held(data: &PgData, what: Exclusive<'_>, wait: Duration) -> Option<Box<dyn Held>> {
        data.hold(what, wait).expect("the hold is asked")
    }

    #[test]
    fn a_hold_keeps_other_replicas_out_until_dropped_or_its_replica_dies() {
        let Some(server) = or_skip(Postgres::start(), "pg holds") else {
            return;
        };
        // Two replicas on one database.
        let a = PgData::connect(server.url()).expect("replica A connects");
        let b = PgData::connect(server.url()).expect("replica B connects");
        let none = Duration::ZERO;

        let upload = held(&a, Exclusive::Upload("u1"), none).expect("A holds u1");
        assert!(
            held(&b, Exclusive::Upload("u1"), none).is_none(),
            "B must not write u1 too"
        );
        assert!(held(&b, Exclusive::Upload("u1"), Duration::from_millis(200)).is_none());
        // Other names are other holds, whatever their kind.
        let other = held(&b, Exclusive::Upload("u2"), none).expect("u2 is free");
        let copy = held(&b, Exclusive::Copy("u1"), none).expect("a copy named u1 is free");
        assert!(held(&a, Exclusive::Copy("u1"), none).is_none());

        // B waits while A finishes, and gets it once A lets go.
        std::thread::scope(|scope| {
            let waiting =
                scope.spawn(|| held(&b, Exclusive::Upload("u1"), Duration::from_secs(30)));
            drop(upload);
            let got = waiting.join().expect("the waiting replica");
            assert!(got.is_some(), "released on drop");
        });
        drop((other, copy));
        assert!(
            until(Duration::from_secs(30), || advisory_locks(&server) == 0),
            "dropped holds are unlocked, not left on pooled connections"
        );

        // A replica that dies holding the sweep: its session ends (here: is ended, as
        // when the process's sockets close) and PostgreSQL releases its locks.
        let sweep = held(&a, Exclusive::Sweep, none).expect("A sweeps");
        assert!(
            held(&b, Exclusive::Sweep, none).is_none(),
            "one sweeper at a time"
        );
        server
            .psql("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'")
            .expect("end the holder's session");
        assert!(
            held(&b, Exclusive::Sweep, Duration::from_secs(30)).is_some(),
            "the dead session's sweep is released"
        );
        // Letting go on a connection that is gone closes it instead of pooling it.
        drop(sweep);
        assert!(
            held(&a, Exclusive::Upload("u3"), none).is_some(),
            "A still holds"
        );
    }

    #[test]
    fn many_holds_in_turn_reuse_the_pool() {
        let Some(server) = or_skip(Postgres::start(), "pg holds pool") else {
            return;
        };
        let data = PgData::connect(server.url()).expect("connect");
        // More holds than the pool has connections: each one's connection comes back.
        for i in 0..(3 * HOLD_CONNECTIONS) {
            let name = format!("u{i}");
            let hold = held(&data, Exclusive::Upload(&name), Duration::from_secs(30));
            assert!(hold.is_some(), "hold {i}");
        }
        assert!(until(Duration::from_secs(30), || advisory_locks(&server) == 0));
    }
}
