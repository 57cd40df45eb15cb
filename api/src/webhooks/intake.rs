//! Group commit for inbound webhooks: postbacks arriving together are stored
//! together, in one multi-row INSERT, and each request is answered only after
//! the statement holding its event has committed.
//!
//! A launch day sends thousands of postbacks a minute; one commit per
//! postback would make the disk flush the bottleneck. Here a flush carries
//! every postback that arrived while the previous one was being written, so
//! the batch grows with the load and latency stays about one commit.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use entity::webhook_events::{self, Accepted, Inbound};
use sea_orm::DatabaseConnection;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Most events written by one statement.
const MAX_BATCH: usize = 128;
/// Postbacks waiting for a writer before new ones wait for room.
const QUEUE_CAPACITY: usize = 4096;

type Reply = oneshot::Sender<Result<Accepted, entity::Error>>;

/// The handle request handlers store events through.
#[derive(Clone)]
pub struct WebhookIntake {
    queue: mpsc::Sender<(Inbound, Reply)>,
    /// Tells in-process appliers to give way while events are being stored.
    work_signals: entity::WorkSignals,
}

/// Why an event was not stored; the sender should retry.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Store(#[from] entity::Error),
    #[error("the webhook intake has stopped")]
    Stopped,
}

impl WebhookIntake {
    /// Starts the writer task; it runs until every handle is dropped.
    pub fn start(
        db: DatabaseConnection,
        work_signals: entity::WorkSignals,
        clock: entity::Clock,
    ) -> Self {
        let writers = entity::tuning::intake_writers(db.get_database_backend());
        let (queue, arrivals) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(write_batches(db, clock, arrivals, writers));
        WebhookIntake {
            queue,
            work_signals,
        }
    }

    /// Stores `event` durably (or finds it already stored).
    pub async fn accept(&self, event: Inbound) -> Result<Accepted, IntakeError> {
        let _storing = self.work_signals.storing_inbound();
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((event, reply))
            .await
            .map_err(|_| IntakeError::Stopped)?;
        Ok(answer.await.map_err(|_| IntakeError::Stopped)??)
    }
}

async fn write_batches(
    db: DatabaseConnection,
    clock: entity::Clock,
    mut arrivals: mpsc::Receiver<(Inbound, Reply)>,
    writers: usize,
) {
    let writers = Arc::new(Semaphore::new(writers));
    while let Some(first) = arrivals.recv().await {
        // While every writer is busy, postbacks pile up into the next batch.
        let Ok(writer) = writers.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match arrivals.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (db, received_at) = (db.clone(), clock.now());
        tokio::spawn(async move {
            write(&db, batch, received_at).await;
            drop(writer);
        });
    }
}

async fn write(db: &DatabaseConnection, batch: Vec<(Inbound, Reply)>, received_at: DateTime<Utc>) {
    let (events, replies): (Vec<Inbound>, Vec<Reply>) = batch.into_iter().unzip();
    let outcomes = match webhook_events::accept_many(db, &events, received_at).await {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
        Err(err) if events.len() > 1 => {
            // One event the database refuses must not fail the others: store
            // them one by one, so only the culprit is answered with an error.
            tracing::warn!(error = %err, events = events.len(), "storing a webhook batch failed; storing one by one");
            let mut outcomes = Vec::with_capacity(events.len());
            for event in &events {
                let stored =
                    webhook_events::accept_many(db, std::slice::from_ref(event), received_at).await;
                outcomes.push(stored.map(|mut one| one.remove(0)));
            }
            outcomes
        }
        Err(err) => vec![Err(err)],
    };
    for (reply, outcome) in replies.into_iter().zip(outcomes) {
        // A sender that hung up gets no answer; its event is stored all the same.
        let _ = reply.send(outcome);
    }
}
