//! The handle the API uses to tell an in-process worker that work arrived.
//! The database is the queue; this only shortens the wait. Workers in other
//! processes find the same work by polling.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

#[derive(Clone, Default)]
pub struct WorkQueue {
    arrived: Arc<Notify>,
}

impl WorkQueue {
    /// Called after work was durably stored.
    pub fn notify(&self) {
        self.arrived.notify_one();
    }

    /// Waits until work is announced or `at_most` passes.
    pub async fn wait(&self, at_most: Duration) {
        let _ = tokio::time::timeout(at_most, self.arrived.notified()).await;
    }
}
