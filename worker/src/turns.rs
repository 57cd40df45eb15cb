//! Workers that take turns at work claimed from jornada's own tables: the
//! webhook appliers, the domain-event dispatcher and the campaign runners.
//! Their queues are the tables themselves (a row's status is its state, a
//! batch is claimed with `SKIP LOCKED` inside the transaction that works
//! it), so their apalis backend hands out no stored tasks: it hands out
//! [`Turn`]s, one at a time. A turn claims and works one batch and says how
//! it went; the next turn comes at once when it found work, when the stage
//! before announces work ([`Wake`]), or after the idle poll, the fallback.
//! The Monitor runs them beside the queue and cron workers, with the same
//! names in the log, restarts and graceful shutdown: a turn in progress
//! finishes, no new one starts.

use std::task::{Context, Poll};
use std::time::Duration;

use apalis::prelude::*;
use apalis_core::backend::BackendConfig;
use apalis_core::backend::finalize::Ephemeral;
use apalis_core::layers::Identity;
use apalis_core::task::task_id::RandomId;
use futures::Stream;
use futures::stream::BoxStream;
use tokio::sync::mpsc;

/// One turn: claim a batch and work it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Turn;

/// How a turn went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnOutcome {
    /// It worked a batch: there may be more.
    Worked,
    /// Nothing was due.
    Idle,
    /// It failed (logged); the next turn waits the idle poll.
    Failed,
}

/// What ends an idle wait before the poll interval.
pub enum Wake {
    /// Announcements of one kind of work (webhooks, domain events).
    Arrivals(entity::work_signals::Arrivals),
    /// Announcements of campaign work, which wake one runner each.
    CampaignWork(entity::WorkSignals),
    /// The same announcements, for the dispatch sender.
    DispatchSends(entity::WorkSignals),
}

impl Wake {
    async fn wait(&mut self, at_most: Duration) {
        match self {
            Wake::Arrivals(arrivals) => arrivals.wait(at_most).await,
            Wake::CampaignWork(signals) => signals.wait_for_campaign_work(at_most).await,
            Wake::DispatchSends(signals) => signals.wait_for_dispatch_sends(at_most).await,
        }
    }
}

/// Where a turn tells its backend how it went; a handler's `Data`.
#[derive(Clone)]
pub struct TurnReport(mpsc::UnboundedSender<TurnOutcome>);

impl TurnReport {
    pub fn send(&self, outcome: TurnOutcome) {
        let _ = self.0.send(outcome);
    }

    /// Reports a turn's result, logging a failure as `what` failed.
    pub fn result<E: std::fmt::Display>(&self, what: &str, worked: Result<usize, E>) {
        self.send(match worked {
            Ok(0) => TurnOutcome::Idle,
            Ok(_) => TurnOutcome::Worked,
            Err(err) => {
                tracing::error!(error = %err, "{what} failed");
                TurnOutcome::Failed
            }
        });
    }
}

/// The backend of a worker that works in turns.
pub struct Turns {
    stream: BoxStream<'static, Result<Task<Turn>, TurnsClosed>>,
}

struct TurnsState {
    outcomes: mpsc::UnboundedReceiver<TurnOutcome>,
    wake: Wake,
    idle_poll: Duration,
    first: bool,
}

/// The handler's report channel closed: the worker is gone.
#[derive(Debug, thiserror::Error)]
#[error("the worker's turns ended")]
pub struct TurnsClosed;

impl Turns {
    /// A backend giving turns, woken by `wake`, and the report its handler
    /// sends each turn's outcome to.
    pub fn new(wake: Wake, idle_poll: Duration) -> (Turns, TurnReport) {
        let (report, outcomes) = mpsc::unbounded_channel();
        let state = TurnsState {
            outcomes,
            wake,
            idle_poll,
            first: true,
        };
        (
            Turns {
                stream: Box::pin(Self::turns(state)),
            },
            TurnReport(report),
        )
    }

    fn turns(state: TurnsState) -> impl Stream<Item = Result<Task<Turn>, TurnsClosed>> {
        futures::stream::unfold(state, |mut state| async move {
            if !state.first {
                // The previous turn's outcome decides when the next comes.
                match state.outcomes.recv().await? {
                    TurnOutcome::Worked => {}
                    TurnOutcome::Idle => state.wake.wait(state.idle_poll).await,
                    TurnOutcome::Failed => tokio::time::sleep(state.idle_poll).await,
                }
            }
            state.first = false;
            Some((Ok(Task::new(Turn)), state))
        })
    }
}

impl Backend for Turns {
    type Task = Task<Turn>;
    type Error = TurnsClosed;

    fn poll_ready(
        &mut self,
        _: &mut Context<'_>,
        _: &WorkerContext,
    ) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        _: &WorkerContext,
    ) -> Poll<Option<Result<Self::Task, Self::Error>>> {
        self.stream.as_mut().poll_next(cx)
    }

    fn poll_close(
        &mut self,
        _: &mut Context<'_>,
        _: &WorkerContext,
    ) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
}

impl BackendConfig for Turns {
    type Args = Turn;
    type Id = RandomId;
    type Kind = Ephemeral;
    type Config = ();
    type Layer = Identity;

    fn config(&self) -> &Self::Config {
        &()
    }

    fn middleware(&mut self, _: &mut WorkerContext) -> Self::Layer {
        Identity::new()
    }
}
