//! Announcements between processes on PostgreSQL: every announcement is
//! also sent as `NOTIFY jornada_work, '<work>'`, and every process listens
//! on that channel and wakes its own workers. So a postback stored by a
//! `jornada api` wakes the appliers of a `jornada worker` elsewhere at
//! once. Notifications are a shortcut, not a promise: one lost while a
//! listener reconnects only leaves the work to the workers' polling, and a
//! listener that reconnected wakes every worker of its process once.

use sea_orm::sqlx::postgres::{PgListener, PgPool};
use sea_orm::{DatabaseConnection, DbBackend};
use tokio::sync::mpsc;

use std::borrow::Cow;

use uuid::Uuid;

use super::{Changed, Work, WorkSignals};

/// The channel jornada's processes notify each other on.
const CHANNEL: &str = "jornada_work";
/// The least time between two rounds of NOTIFYs from one process.
const NOTIFY_GAP: std::time::Duration = std::time::Duration::from_millis(10);
/// Waits after a failure to listen, before trying again.
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// The payload announcing a change anywhere; one in a workspace is
/// `changed:<workspace id>`.
const CHANGED_ANYWHERE: &str = "changed:*";

impl Work {
    fn payload(self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Work::Webhooks => "webhooks",
            Work::DomainEvents => "domain_events",
            Work::Campaigns => "campaigns",
            Work::Changed(Changed::Anywhere) => CHANGED_ANYWHERE,
            Work::Changed(Changed::Workspace(id)) => return Cow::Owned(format!("changed:{id}")),
        })
    }

    fn parse(text: &str) -> Option<Work> {
        if text == CHANGED_ANYWHERE {
            return Some(Work::Changed(Changed::Anywhere));
        }
        if let Some(id) = text.strip_prefix("changed:") {
            return Uuid::parse_str(id)
                .ok()
                .map(|id| Work::Changed(Changed::Workspace(id)));
        }
        [Work::Webhooks, Work::DomainEvents, Work::Campaigns]
            .into_iter()
            .find(|work| work.payload() == text)
    }
}

impl WorkSignals {
    /// Signals whose announcements also reach, and come from, every other
    /// jornada process on the same PostgreSQL database (one pooled
    /// connection listens). On SQLite, whose database one process serves,
    /// the plain in-process signals. Must be called inside a Tokio runtime.
    pub fn across_processes(db: &DatabaseConnection) -> WorkSignals {
        let mut signals = WorkSignals::for_backend(db.get_database_backend());
        if db.get_database_backend() != DbBackend::Postgres {
            return signals;
        }
        let pool = db.get_postgres_connection_pool().clone();
        tokio::spawn(listen(pool.clone(), signals.clone()));
        let (broadcast, announced) = mpsc::unbounded_channel();
        tokio::spawn(notify(pool, announced));
        signals.broadcast = Some(broadcast);
        signals
    }
}

/// Sends this process's announcements to the others, at most one round of
/// NOTIFYs every [`NOTIFY_GAP`]: announcements made meanwhile (a launch
/// day's postbacks announce every group commit) are folded into one per
/// kind of work, so the database is not asked for thousands a second.
async fn notify(pool: PgPool, mut announced: mpsc::UnboundedReceiver<Work>) {
    while let Some(first) = announced.recv().await {
        let mut pending = vec![first];
        while let Ok(more) = announced.try_recv() {
            if !pending.contains(&more) {
                pending.push(more);
            }
        }
        for work in pending {
            let sent = sea_orm::sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(work.payload().into_owned())
                .execute(&pool)
                .await;
            if let Err(err) = sent {
                if pool.is_closed() {
                    return;
                }
                tracing::debug!(error = %err, "work announcement not sent to other processes");
            }
        }
        tokio::time::sleep(NOTIFY_GAP).await;
    }
}

/// Wakes this process's workers when another process announces work,
/// until the pool closes.
async fn listen(pool: PgPool, signals: WorkSignals) {
    loop {
        match listen_once(&pool, &signals).await {
            Ok(()) => return,
            Err(err) => {
                if pool.is_closed() {
                    return;
                }
                tracing::warn!(error = %err, "listening for work announcements failed; retrying");
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    }
}

async fn listen_once(pool: &PgPool, signals: &WorkSignals) -> Result<(), sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    wake_everyone(signals);
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                if let Some(work) = Work::parse(notification.payload()) {
                    signals.wake(work);
                }
            }
            // The connection was lost and made again: what was announced
            // meanwhile is unknown.
            Ok(None) => wake_everyone(signals),
            Err(sea_orm::sqlx::Error::PoolClosed) => return Ok(()),
            Err(err) => return Err(err),
        }
    }
}

fn wake_everyone(signals: &WorkSignals) {
    for work in [
        Work::Webhooks,
        Work::DomainEvents,
        Work::Campaigns,
        Work::Changed(Changed::Anywhere),
    ] {
        signals.wake(work);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_read_back_as_sent() {
        let workspace = Uuid::new_v4();
        for work in [
            Work::Webhooks,
            Work::DomainEvents,
            Work::Campaigns,
            Work::Changed(Changed::Anywhere),
            Work::Changed(Changed::Workspace(workspace)),
        ] {
            assert_eq!(Work::parse(&work.payload()), Some(work));
        }
        assert_eq!(Work::parse("changed:not-a-workspace"), None);
        assert_eq!(Work::parse("something else"), None);
    }
}
