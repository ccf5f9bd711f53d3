//! Leadership: which of the berth processes sharing a database runs the background work (the
//! reconciler, the embedded migration executor, the purge of old operations).
//!
//! The processes agree through a lease row in the database, timed by the database's clock:
//! the holder renews it well before it runs out; when the holder dies, the lease runs out and
//! the next process to ask takes it. A process acts as leader only while its last renewal is
//! younger than the lease by a margin on its own clock, so that it stops before another can
//! take over, even when it cannot reach the database to learn it lost the lease.
//!
//! Exclusivity keeps the work from being done twice, not correctness: every step of the
//! background work re-validates what it does in its own transaction, as any change does.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::Berth;
use crate::error::Result;
use crate::fleets::lock;

/// The name of the lease on background work.
const BACKGROUND: &str = "background";

/// This process's view of its own lease.
#[derive(Debug, Default)]
pub(crate) struct LeaseState {
    /// When this process last renewed the lease, on its own clock, if it holds it.
    renewed: Mutex<Option<Instant>>,
}

impl Berth {
    /// The name this process goes by in the lease table: unique per process start.
    pub fn process_id(&self) -> &str {
        &self.process_id
    }

    /// Takes the lease on background work, or renews it if this process holds it. Returns
    /// whether this process may run the background work now. A failure to reach the database
    /// leaves the process leader only until its margin runs out.
    pub async fn leadership_renew(&self) -> Result<bool> {
        let ttl = i64::try_from(self.settings.leader_lease.as_millis()).unwrap_or(i64::MAX);
        let asked = Instant::now();
        // Through a change, like every write: on SQLite only the one writer may write.
        let outcome = async {
            let mut tx = self.store.write().await?;
            let lease = tx.db().lease_acquire(BACKGROUND, &self.process_id, ttl).await?;
            tx.commit().await?;
            Ok::<_, crate::Error>(lease)
        }
        .await;
        let mut renewed = lock(&self.lease.renewed);
        match outcome {
            Ok(Some(_)) => {
                if renewed.is_none() {
                    tracing::info!(process = %self.process_id, "this process now runs the background work");
                }
                *renewed = Some(asked);
                Ok(true)
            }
            Ok(None) => {
                if renewed.take().is_some() {
                    tracing::warn!(process = %self.process_id, "another process took over the background work");
                }
                Ok(false)
            }
            Err(error) => {
                let leader = self.leader_margin_holds(&renewed);
                if !leader && renewed.take().is_some() {
                    tracing::warn!(process = %self.process_id, "stopped the background work: the lease could not be renewed");
                }
                Err(error)
            }
        }
    }

    /// Whether this process holds the lease and may run background work right now.
    pub fn is_leader(&self) -> bool {
        self.leader_margin_holds(&lock(&self.lease.renewed))
    }

    /// Gives the lease up (at shutdown), so that another process takes over at once.
    pub async fn leadership_release(&self) -> Result<()> {
        let held = lock(&self.lease.renewed).take().is_some();
        if held {
            let mut tx = self.store.write().await?;
            tx.db().lease_release(BACKGROUND, &self.process_id).await?;
            tx.commit().await?;
            tracing::info!(process = %self.process_id, "gave up the background work");
        }
        Ok(())
    }

    /// A lease renewed at `renewed` is trusted for the lease's length less a third: time
    /// enough for clocks that run at slightly different rates, and for the renewal's own trip.
    fn leader_margin_holds(&self, renewed: &Option<Instant>) -> bool {
        let trusted = self.settings.leader_lease.saturating_sub(self.settings.leader_lease / 3);
        renewed.is_some_and(|at| at.elapsed() < trusted)
    }
}

/// How often a process renews a lease it holds, or asks for one it does not: often enough that
/// a holder renews twice or more within its trusted margin.
pub fn renew_interval(lease: Duration) -> Duration {
    (lease / 5).max(Duration::from_millis(100))
}
