//! The one place logging is set up. Personal data (e-mails, phones,
//! documents) is never logged: handlers and jobs log ids and counts.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub const DEFAULT_FILTER: &str = "info,sqlx=warn,sea_orm=warn,tower_http=info";

/// What `jornada demo` logs unless `RUST_LOG` says otherwise: its own
/// progress and errors. The fill replays months of work whose every step
/// the app would log (and whose Chatwoot labels fail, as there is no
/// Chatwoot): that is not news to the person waiting for it.
pub const DEMO_FILTER: &str = "error,jornada::demo=info";

/// Installs the global subscriber: `RUST_LOG` filters, `format` is `text` or `json`.
pub fn init(format: &str) {
    init_with(format, DEFAULT_FILTER);
}

/// Like [`init`], with `default_filter` where `RUST_LOG` is not set.
pub fn init_with(format: &str, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, not in files and pipes.
        .with_ansi(std::io::stderr().is_terminal());
    let _ = if format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
