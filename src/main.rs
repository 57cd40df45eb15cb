use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use jornada::{Config, telemetry};
use migration::{Migrator, MigratorTrait};
use sea_orm::EntityTrait;
use tokio::sync::watch;
use uuid::Uuid;

/// A request allocates and frees many small buffers (bodies, JSON values,
/// query arguments); mimalloc serves them with less of the CPU than the
/// system allocator, which under load spent a fifth of jornada's time in
/// `malloc` and `free`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "jornada",
    version,
    about = "Customer success and marketing automation for Hotmart sellers"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate, then run the API and the worker in one process (the default).
    Serve,
    /// Run only the HTTP API.
    Api,
    /// Run only the background worker.
    Worker,
    /// Apply or revert database migrations.
    Migrate {
        #[command(subcommand)]
        action: Option<MigrateAction>,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Mint a JWT signed with the configured secret.
    Token {
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Workspace id (required for `authenticated`).
        #[arg(long)]
        workspace: Option<Uuid>,
        /// Lifetime, e.g. 30m, 1h, 7d.
        #[arg(long, default_value = "1h", value_parser = jornada::config::parse_duration)]
        ttl: Duration,
        /// The `sub` claim (who the token is for).
        #[arg(long)]
        sub: Option<String>,
        /// Mint a read-only token (`scope: "read"`).
        #[arg(long)]
        read_only: bool,
    },
    /// Database roles for BI tools (PostgreSQL).
    Bi {
        #[command(subcommand)]
        action: BiAction,
    },
    /// The business figures' history (`analyticsSnapshots`).
    Analytics {
        #[command(subcommand)]
        action: AnalyticsAction,
    },
    /// Fill the `demo` workspace ("Escola Demo") with six months of a
    /// Hotmart school, through the real paths, and print a token for it.
    /// A second run changes nothing.
    Demo {
        /// Delete the demo workspace and fill it again.
        #[arg(long)]
        reset: bool,
        /// How many buyers the school has.
        #[arg(long, default_value_t = jornada::demo::DEFAULT_CUSTOMERS, value_parser = clap::value_parser!(u16).range(1..=5000))]
        customers: u16,
        /// How many days of history lead up to now.
        #[arg(long, default_value_t = jornada::demo::HISTORY_DAYS, value_parser = clap::value_parser!(i64).range(14..=730))]
        days: i64,
    },
}

#[derive(Subcommand, Clone)]
enum BiAction {
    /// Let a PostgreSQL login role read the `bi_*` views' rows of a
    /// workspace (creating the role, with a password printed once).
    Grant {
        /// The role's name: lower-case letters, digits and _.
        role: String,
        #[arg(long)]
        workspace: Uuid,
        /// The new role's password; one is made up when left out.
        #[arg(long)]
        password: Option<String>,
    },
    /// Take a workspace (every one when left out) back from a role; the
    /// role goes with its last workspace.
    Revoke {
        role: String,
        #[arg(long)]
        workspace: Option<Uuid>,
    },
}

#[derive(Subcommand, Clone)]
enum AnalyticsAction {
    /// Add a workspace's figures up again from scratch and snapshot every
    /// day from `--since` to yesterday, with their months. Running it again
    /// rewrites the same snapshots.
    Backfill {
        /// The first day to snapshot (YYYY-MM-DD, the workspace's calendar).
        #[arg(long)]
        since: chrono::NaiveDate,
        /// One workspace (its id or slug); every workspace when left out.
        #[arg(long)]
        workspace: Option<String>,
    },
}

#[derive(Subcommand, Clone, Copy)]
enum MigrateAction {
    /// Apply every pending migration (the default).
    Up,
    /// Revert the last `steps` migrations.
    Down {
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List migrations and whether each is applied.
    Status,
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Anon,
    Authenticated,
    /// Written as in the token: `service_role`.
    #[value(name = "service_role")]
    ServiceRole,
}

impl From<RoleArg> for api::Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Anon => api::Role::Anon,
            RoleArg::Authenticated => api::Role::Authenticated,
            RoleArg::ServiceRole => api::Role::ServiceRole,
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load()?;
    match cli.command {
        Some(Command::Demo { .. }) => {
            telemetry::init_with(&config.log_format, telemetry::DEMO_FILTER)
        }
        _ => telemetry::init(&config.log_format),
    }
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => run(config, true, true).await,
        Command::Api => run(config, true, false).await,
        Command::Worker => run(config, false, true).await,
        Command::Migrate { action } => migrate(config, action.unwrap_or(MigrateAction::Up)).await,
        Command::Schema => {
            print!("{}", api::sdl());
            Ok(())
        }
        Command::Token {
            role,
            workspace,
            ttl,
            sub,
            read_only,
        } => {
            let role = api::Role::from(role);
            if role == api::Role::Authenticated && workspace.is_none() {
                anyhow::bail!("an authenticated token needs --workspace <uuid>");
            }
            let lifetimes = config.token_lifetimes()?;
            let ttl = chrono::Duration::from_std(ttl).context("ttl too large")?;
            if let Some(max) = lifetimes.for_role(role).filter(|max| ttl > *max) {
                anyhow::bail!(
                    "a {} token may live at most {} hours (JORNADA_JWT_MAX_TTL)",
                    role.as_str(),
                    max.num_hours()
                );
            }
            let jwt = api::JwtKeys::new(config.jwt_secret()?.expose().as_bytes());
            println!("{}", jwt.mint(role, workspace, sub, read_only, ttl));
            Ok(())
        }
        Command::Demo {
            reset,
            customers,
            days,
        } => demo(config, reset, usize::from(customers), days).await,
        Command::Analytics {
            action: AnalyticsAction::Backfill { since, workspace },
        } => backfill(config, since, workspace).await,
        Command::Bi { action } => bi(config, action).await,
    }
}

async fn bi(config: Config, action: BiAction) -> anyhow::Result<()> {
    let db = jornada::connect(&config.database_url, 2).await?;
    jornada::migrate(&db).await?;
    match action {
        BiAction::Grant {
            role,
            workspace,
            password,
        } => {
            let made_up = password.is_none();
            let password = password.unwrap_or_else(made_up_password);
            let granted = migration::bi::grant(&db, &role, workspace, &password).await?;
            println!("{role} reads the bi_* views of workspace {workspace}");
            if granted.created && made_up {
                println!("password (shown once): {password}");
            }
        }
        BiAction::Revoke { role, workspace } => {
            if migration::bi::revoke(&db, &role, workspace).await? {
                println!("{role} is gone");
            } else {
                println!("{role} keeps its other workspaces");
            }
        }
    }
    Ok(())
}

/// 24 letters and digits for a new BI role.
fn made_up_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..24)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

async fn backfill(
    config: Config,
    since: chrono::NaiveDate,
    workspace: Option<String>,
) -> anyhow::Result<()> {
    let db = jornada::connect(&config.database_url, 4).await?;
    jornada::migrate(&db).await?;
    let secrets = config.secret_key()?;
    let workspaces = match workspace {
        Some(name) => vec![
            entity::workspaces::find_by_slug_or_id(&db, &name)
                .await?
                .with_context(|| format!("no workspace `{name}`"))?,
        ],
        None => entity::workspace::Entity::find().all(&db).await?,
    };
    for workspace in workspaces {
        let written = entity::analytics::snapshots::backfill(
            &db,
            &secrets,
            &workspace,
            since,
            chrono::Utc::now(),
        )
        .await?;
        println!("{}: {written} snapshots written", workspace.slug);
    }
    Ok(())
}

/// How long the token `jornada demo` prints lives (less if the
/// configuration allows less).
const DEMO_TOKEN_TTL: chrono::Duration = chrono::Duration::days(7);

async fn demo(config: Config, reset: bool, customers: usize, days: i64) -> anyhow::Result<()> {
    let db = jornada::connect(&config.database_url, 4).await?;
    jornada::migrate(&db).await?;
    let lifetimes = config.token_lifetimes()?;
    let ttl = lifetimes
        .for_role(api::Role::Authenticated)
        .map_or(DEMO_TOKEN_TTL, |max| max.min(DEMO_TOKEN_TTL));
    let demo = jornada::demo::Demo {
        db: db.clone(),
        secrets: config.secret_key()?,
        jwt: api::JwtKeys::new(config.jwt_secret()?.expose().as_bytes()),
        public_url: config.public_url(),
        customers,
        until: chrono::Utc::now(),
        days,
    };
    if !reset && jornada::demo::find(&db).await?.is_none() {
        println!(
            "Filling the demo workspace with {customers} customers over {days} days; this takes a few minutes..."
        );
    }
    let started = std::time::Instant::now();
    let (workspace, outcome) = jornada::demo::run(&demo, reset).await?;
    let summary = jornada::demo::summary(&demo, workspace).await?;
    let token = demo.jwt.mint(
        api::Role::Authenticated,
        Some(workspace),
        Some("demo".into()),
        false,
        ttl,
    );
    match outcome {
        jornada::demo::Outcome::Filled => println!(
            "Escola Demo is ready (filled in {} s).",
            started.elapsed().as_secs()
        ),
        jornada::demo::Outcome::AlreadyFilled => println!(
            "Escola Demo was already filled; nothing changed (`jornada demo --reset` starts over)."
        ),
    }
    println!("  workspace:  {workspace} (slug `{}`)", jornada::demo::SLUG);
    println!(
        "  holds:      {} customers, {} purchases ({} refunded), {} items pending in the dispatch queue",
        summary.customers, summary.purchases, summary.refunds, summary.pending_items
    );
    println!(
        "  note:       the fill's WhatsApp messages went to a local sandbox, never to Meta; the workspace now has no WhatsApp credentials, so approving an item is refused until you set yours"
    );
    println!(
        "  token:      {token}\n              (authenticated for this workspace, {} days)",
        ttl.num_days()
    );
    println!(
        "  GraphiQL:   http://{}/graphql   (start the server with `jornada serve`)",
        config.bind
    );
    db.close().await.ok();
    Ok(())
}

async fn run(config: Config, with_api: bool, with_worker: bool) -> anyhow::Result<()> {
    let db = jornada::connect(&config.database_url, config.max_connections).await?;
    if with_api && with_worker {
        jornada::migrate(&db).await?;
    }
    let secrets = config.secret_key()?;
    let (stop, stopped) = watch::channel(false);
    let wait_for_stop = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let mut tasks = tokio::task::JoinSet::new();
    let work_signals = entity::WorkSignals::across_processes(&db);
    if with_worker {
        let worker = worker::Worker {
            db: db.clone(),
            secrets: secrets.clone(),
            signals: work_signals.clone(),
            public_url: config.public_url(),
            lease: chrono::Duration::seconds(i64::from(config.worker_lease_seconds.max(1))),
            clock: entity::Clock::system(),
        };
        let signal = wait_for_stop(stopped.clone());
        tasks.spawn(async move { worker.run(signal).await.map_err(anyhow::Error::from) });
    }
    if with_api {
        let jwt = api::JwtKeys::new(config.jwt_secret()?.expose().as_bytes())
            .with_lifetimes(config.token_lifetimes()?);
        let limits = config.http_limits()?;
        let cors_origins = config.cors_origins()?;
        let listener = tokio::net::TcpListener::bind(&config.bind)
            .await
            .with_context(|| format!("cannot listen on {}", config.bind))?;
        let address = listener.local_addr()?;
        let router = jornada::api_router(
            db.clone(),
            jwt,
            secrets,
            work_signals,
            entity::Clock::system(),
        );
        let router = api::http::cors::with_cors(router, &cors_origins);
        tasks.spawn(jornada::serve_http(
            listener,
            router,
            limits,
            wait_for_stop(stopped.clone()),
        ));
        println!("jornada is listening on http://{address}");
        println!("  GraphiQL:      http://{address}/graphql");
        println!(
            "  mint a token:  jornada token --role service_role   (or: cargo run -- token --role service_role)"
        );
        tracing::info!(%address, "api listening");
    }
    tokio::select! {
        _ = jornada::shutdown_signal() => {}
        Some(finished) = tasks.join_next() => {
            // A part stopped on its own: stop the rest and report why.
            let _ = stop.send(true);
            finished.context("a task panicked")??;
        }
    }
    let _ = stop.send(true);
    while let Some(finished) = tasks.join_next().await {
        finished.context("a task panicked")??;
    }
    db.close().await.ok();
    tracing::info!("stopped");
    Ok(())
}

async fn migrate(config: Config, action: MigrateAction) -> anyhow::Result<()> {
    let db = jornada::connect(&config.database_url, 2).await?;
    match action {
        MigrateAction::Up => {
            jornada::migrate(&db).await?;
            println!("all migrations applied");
        }
        MigrateAction::Down { steps } => {
            Migrator::down(&db, Some(steps)).await?;
            println!("reverted {steps} migration(s)");
        }
        MigrateAction::Status => {
            for migration in Migrator::get_migration_with_status(&db).await? {
                println!(
                    "{:<12} {}",
                    format!("{:?}", migration.status()),
                    migration.name()
                );
            }
        }
    }
    Ok(())
}
