//! How hard jornada works its database, per backend, in one place: the
//! API's webhook intake and the worker's stages. SQLite has one writer: one
//! writer and one worker of each kind. PostgreSQL takes writers side by
//! side: several appliers and runners keep its cores busy while each waits
//! on its commits and round trips. `docs/operations.md` explains the figures.

use std::time::Duration;

use sea_orm::DbBackend;

/// Transactions the API's webhook intake keeps committing at once. PostgreSQL
/// overlaps several commits; SQLite has a single writer.
pub fn intake_writers(backend: DbBackend) -> usize {
    match backend {
        DbBackend::Postgres => 4,
        _ => 1,
    }
}

/// How many postbacks being stored at once the backend takes in its
/// stride; beyond that, the worker's appliers and dispatchers give way to
/// the door (`WorkSignals::in_turn_with_inbound`). SQLite's one writer is
/// shared with the door: any postback waiting is worth a pause. PostgreSQL
/// writes side by side, and a steady stream (a launch's thousand postbacks
/// a second) always has a few in flight: pausing for them would make every
/// partition's batches wait their turn, and events wait seconds. Only a
/// crowd (Hotmart retrying after an outage, a firehose) makes background
/// work wait.
pub fn inbound_crowd(backend: DbBackend) -> usize {
    match backend {
        DbBackend::Postgres => 16,
        _ => 0,
    }
}

/// How long running work gets to finish after shutdown is requested.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// How often an idle worker looks for work nothing announced.
pub const IDLE_POLL: Duration = Duration::from_millis(500);
/// How often the background-job worker looks at the job queue when no
/// notification woke it.
pub const JOB_POLL: Duration = Duration::from_millis(250);
/// Campaign recipients claimed per batch: the runner stores a batch's moves
/// and messages a few statements per round, so larger batches cost little more.
pub const RECIPIENT_BATCH: u64 = 1024;

/// Events (webhook or domain) claimed per batch, on either backend: a
/// batch's statements each take all of its events, so a large one spreads
/// their cost over more events. On SQLite every postback arriving meanwhile
/// waits for the whole batch to commit, a few milliseconds more at the
/// door; with smaller batches the one writer spends more of its turns on
/// each batch's own cost, and under a steady stream the queue behind it
/// grows instead.
pub const EVENT_BATCH: u64 = 256;

/// Webhook appliers running side by side, each taking and applying its own
/// partition of the queue, split by customer.
pub fn webhook_appliers(backend: DbBackend) -> u32 {
    match backend {
        DbBackend::Postgres => 3,
        _ => 1,
    }
}

/// Domain-event dispatchers running side by side, each delivering its own
/// partition of the events, split by customer.
pub fn domain_event_dispatchers(backend: DbBackend) -> u32 {
    match backend {
        DbBackend::Postgres => 2,
        _ => 1,
    }
}

/// Campaign runners running side by side; their claims skip each other's
/// locked recipients.
pub fn campaign_runners(backend: DbBackend) -> u32 {
    match backend {
        DbBackend::Postgres => 6,
        _ => 1,
    }
}
