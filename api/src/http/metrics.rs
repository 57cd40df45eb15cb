//! Prometheus text exposition of request counts, latencies and pool state,
//! kept per app instance (no global registry).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use sea_orm::{DatabaseConnection, DbBackend};

use super::AppState;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Registry {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    counters: BTreeMap<(String, String), u64>,
}

#[derive(Default)]
pub struct Metrics {
    registry: Mutex<Registry>,
}

impl Metrics {
    pub fn observe_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let mut registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        *registry
            .requests
            .entry((route.to_owned(), method.to_owned(), status))
            .or_default() += 1;
        let histogram = registry.latency.entry(route.to_owned()).or_default();
        histogram.count += 1;
        histogram.sum += seconds;
        for (bound, count) in BUCKETS.iter().zip(histogram.counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
    }

    /// Counts an event such as a rejected webhook: `name{label="value"}`.
    pub fn count(&self, name: &str, label: &str, value: &str) {
        let mut registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        *registry
            .counters
            .entry((name.to_owned(), format!("{label}=\"{value}\"")))
            .or_default() += 1;
    }

    pub fn render(&self, db: &DatabaseConnection) -> String {
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        out.push_str(
            "# HELP jornada_http_requests_total HTTP requests by route, method and status.\n",
        );
        out.push_str("# TYPE jornada_http_requests_total counter\n");
        for ((route, method, status), count) in &registry.requests {
            let _ = writeln!(
                out,
                "jornada_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {count}"
            );
        }
        out.push_str(
            "# HELP jornada_http_request_duration_seconds HTTP request latency by route.\n",
        );
        out.push_str("# TYPE jornada_http_request_duration_seconds histogram\n");
        for (route, h) in &registry.latency {
            for (bound, count) in BUCKETS.iter().zip(h.counts.iter()) {
                let _ = writeln!(
                    out,
                    "jornada_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "jornada_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "jornada_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "jornada_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        let mut last_name = "";
        for ((name, labels), count) in &registry.counters {
            if name != last_name {
                let _ = writeln!(out, "# TYPE {name} counter");
                last_name = name;
            }
            let _ = writeln!(out, "{name}{{{labels}}} {count}");
        }
        let (size, idle) = pool_state(db);
        out.push_str("# HELP jornada_db_pool_connections Database pool connections by state.\n");
        out.push_str("# TYPE jornada_db_pool_connections gauge\n");
        let _ = writeln!(out, "jornada_db_pool_connections{{state=\"idle\"}} {idle}");
        let _ = writeln!(
            out,
            "jornada_db_pool_connections{{state=\"in_use\"}} {}",
            size.saturating_sub(idle)
        );
        out
    }
}

fn pool_state(db: &DatabaseConnection) -> (u32, u32) {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle() as u32)
        }
        DbBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle() as u32)
        }
        _ => (0, 0),
    }
}

/// Middleware recording every request under its route template (never the
/// raw path, which may carry identifiers).
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    state.metrics.observe_request(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}
