//! A load harness: how many instances per second berth creates into strict anti-affinity
//! groups, and how many GETs of a group it answers, with many clients at once, in three setups:
//! one `berth serve` process on SQLite, one on PostgreSQL, and two processes sharing one
//! PostgreSQL database (the clients spread over both). Each figure is printed beside baselines
//! measured in the same run (below). It fails on wrong answers, never on slow ones (a load
//! harness is not a timed test; `docs/benchmarks.md` records its figures with their machine).
//!
//! Each setup starts the real binary on a fresh database through the binary tests' harness
//! (`tests/common`), builds a fleet of its own through `/v1` (by default 200 hosts of 64 vCPUs
//! over 10 racks) and 400 strict anti-affinity groups through the Linode dialect, then has every
//! client send creates of `g6-standard-2` (2 vCPUs) one after another: a few unmeasured ones
//! to warm up connections and caches, then the measured ones. The fleet is sized so that
//! neither capacity nor a group's one-member-per-host rule runs out, so every create should
//! succeed: the figure is the cost of a create (host choice, re-validation in the store's
//! transaction, the commit), not of refusals. At any moment the clients write to different
//! groups, as unrelated users would; they all belong to the demo account unless `--accounts`
//! spreads them over more. It reports creates, refusals, elapsed time, creates per second and
//! the latency of the measured requests (p50, p99); any other answer (a 5xx, a 400 other than
//! "no host") is printed and makes the harness exit non-zero, as does a violation that the
//! engine's `check()` finds in the region afterwards. Then the same clients send
//! `GET /v4/placement/groups/{id}` with their account's token (each client one group, through
//! the process it created through), a few unmeasured each and then as many as fit in
//! `--seconds`: GETs per second and their latency. A GET answered with anything but the group
//! asked for is a wrong answer too.
//!
//! Baselines, measured in the same run before the setups (this machine's speed drifts twofold
//! within an hour, so figures of another run are no yardstick), unless `--no-baselines`:
//!
//! - An axum hello-world: a bare axum 0.8 server (the framework berth's server is built on) in
//!   this process, on a Tokio runtime of its own with as many worker threads as berth's, so
//!   that it and the clients share the CPUs as berth and the clients do. It answers `GET /` with
//!   a short text. The clients, the HTTP client and the loop are those of berth's GETs: the
//!   same `--clients`, warm-up and `--seconds`. Berth's GETs per second are given as a share of
//!   the hello-world's: what is left of the bare server after berth's middleware, its
//!   authentication and its reads.
//! - A raw durable-insert loop: one connection to a SQLite file in a temporary directory (WAL,
//!   `synchronous = FULL`, as berth's store opens it), one table, rows inserted one after
//!   another for `--seconds` with a commit (and its fsync) after each insert, then for as long
//!   with 64 inserts per commit. With a PostgreSQL server, the same over one connection to a new
//!   database on it (with `synchronous_commit = on`). Each loop goes through the driver berth's
//!   store uses for that database (`rusqlite` for SQLite, sqlx for PostgreSQL), so that the
//!   driver costs both the same. A create is one commit (of
//!   several rows), so commits of one insert each are about the most creates per second that a
//!   single writer (berth on SQLite has one) could reach; batched inserts show how much of a
//!   commit is its fsync. A table holding other than the rows committed is a wrong answer.
//!
//! The table at the end puts each setup's creates per second beside the durable-insert
//! baselines of its database, and its GETs per second beside the hello-world's, each as a
//! percentage of its baseline.
//!
//! Run it with the release profile, after building the binary it starts (Cargo builds the
//! package's binaries for its tests and benchmarks, but not for its examples):
//!
//! ```text
//! url="$(scripts/postgres start /tmp/pg-load)"
//! cargo build --release -p berth --bin berth
//! cargo run --release -p berth --example load -- --postgres "$url" --clients 64 --per-client 40
//! scripts/postgres stop /tmp/pg-load && rm -rf /tmp/pg-load
//! ```
//!
//! Without `--postgres` (or `BERTH_TEST_POSTGRES_URL`) only the SQLite setup and baselines run.
//! The binary is taken from beside this example (`target/release/berth` for
//! `target/release/examples/load`), or from `BERTH_BINARY`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use axum::Router;
use clap::Parser;
use serde_json::{Value, json};
use sqlx::{AnyConnection, Connection};

#[path = "../tests/it/common/mod.rs"]
mod common;

use common::fleet::{Api, Outcome, TYPE, Tenant, race};
use common::{Place, Running, start};

const TOKEN: &str = "load-harness-token-0123456789";
const OPERATOR: &str = "load-harness-operator-0123456789";
const REGION: &str = "load-1";
/// The vCPUs of one create ([`TYPE`]), to size the fleet.
const VCPUS_PER_CREATE: usize = 2;
/// Failed answers printed in full; the rest are counted.
const FAILURES_SHOWN: usize = 10;
/// What the hello-world baseline answers to `GET /`.
const HELLO_WORLD: &str = "Hello, world!";
/// The inserts that share one commit in the batched durable-insert baseline.
const INSERTS_PER_COMMIT: usize = 64;
/// What each row of the durable-insert baseline holds: about as much text as an instance row.
const PAYLOAD: &str = "g6-standard-2 in load-1, in placement group 123456, on host 42 of rack r7, running";

/// Instance creates and GETs of a group per second, on SQLite, on PostgreSQL, and with two
/// processes on one PostgreSQL database, beside an axum hello-world and a durable-insert loop.
#[derive(Debug, Parser)]
struct Args {
    /// Clients sending requests at once (creates, GETs, and the hello-world's GETs).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Measured creates per client, sent one after another.
    #[arg(long, default_value_t = 40)]
    per_client: usize,
    /// Unmeasured creates (and GETs, and commits of the insert loop) per client before the
    /// measured ones.
    #[arg(long, default_value_t = 5)]
    warm_up: usize,
    /// Seconds that each timed measurement runs: berth's GETs in each setup, the hello-world's
    /// GETs, and each durable-insert loop.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Skips the baselines (the axum hello-world and the durable-insert loops).
    #[arg(long)]
    no_baselines: bool,
    /// Hosts in the region.
    #[arg(long, default_value_t = 200)]
    hosts: usize,
    /// Racks the hosts are spread over.
    #[arg(long, default_value_t = 10)]
    racks: usize,
    /// vCPUs of each host.
    #[arg(long, default_value_t = 64)]
    vcpus: u32,
    /// Strict anti-affinity groups the creates are spread over (divided among the accounts).
    #[arg(long, default_value_t = 400)]
    groups: usize,
    /// Accounts the clients belong to (client `c` to account `c % accounts`): the demo account,
    /// and more made through `/v1`. A Linode create locks its account's row (labels are unique
    /// per account), so on PostgreSQL the creates of one account commit one at a time.
    #[arg(long, default_value_t = 1)]
    accounts: usize,
    /// A PostgreSQL server (a URL of any database on it, as a role that may create databases):
    /// each PostgreSQL setup, and the PostgreSQL durable-insert baseline, gets a new database on
    /// it. Without one, those are skipped.
    #[arg(long, env = "BERTH_TEST_POSTGRES_URL")]
    postgres: Option<String>,
}

/// The figures of one setup.
#[derive(Debug)]
struct Figures {
    setup: &'static str,
    engine: Engine,
    processes: usize,
    accounts: usize,
    clients: usize,
    /// The measured creates that succeeded.
    creates: Rate,
    refused: usize,
    /// Creates answered with anything but an instance or a "no host" refusal.
    failed: usize,
    violations: usize,
    /// The measured GETs of a group that got the group.
    gets: Rate,
    /// GETs answered with anything but the group.
    gets_failed: usize,
}

/// One measured stretch of work: how much was done, in how long, and how long each step took.
#[derive(Debug)]
struct Rate {
    /// Requests, creates or inserts done.
    count: usize,
    elapsed: Duration,
    /// The latency of each step (a request, or a commit), sorted.
    latencies: Vec<Duration>,
}

/// The baselines of this run; a baseline is missing when it was skipped or got a wrong answer.
#[derive(Debug, Default)]
struct Baselines {
    /// GETs of the axum hello-world.
    hello_world: Option<Rate>,
    sqlite: Option<DurableInserts>,
    postgres: Option<DurableInserts>,
    /// The wrong answers the baselines got, as sentences.
    failures: Vec<String>,
}

/// What the durable-insert loop measured on one database.
#[derive(Debug)]
struct DurableInserts {
    /// One insert per commit; its latencies are those of each commit.
    one_per_commit: Rate,
    /// [`INSERTS_PER_COMMIT`] inserts per commit; its count is of inserts, its latencies are
    /// those of each commit.
    batched: Rate,
}

/// The database a setup or a durable-insert loop runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Engine {
    Sqlite,
    Postgres,
}

/// One GET that a client of [`get_race`] sends again and again, and the answer it must get.
#[derive(Clone, Debug)]
struct Get {
    /// The server, and the HTTP client and token to reach it with.
    api: Api,
    /// The path, from the root of `api.base`.
    path: String,
    expected: Expected,
}

/// The right answer to a [`Get`]: a 200 with this body.
#[derive(Clone, Copy, Debug)]
enum Expected {
    /// [`HELLO_WORLD`], exactly.
    HelloWorld,
    /// A Linode placement group with this id.
    Group(i64),
}

/// When a client of [`get_race`], or the durable-insert loop, stops.
#[derive(Clone, Copy, Debug)]
enum Stop {
    /// After this many requests or commits.
    AfterCount(usize),
    /// Once this long has passed since the start.
    AfterTime(Duration),
}

/// What a race of GETs did.
#[derive(Debug)]
struct GetRace {
    /// The measured GETs that got the right answer.
    measured: Rate,
    /// Every wrong answer, measured or not, as a sentence. A client stops at its first.
    failures: Vec<String>,
}

/// The hello-world baseline's server: a bare axum router answering `GET /` with
/// [`HELLO_WORLD`], on a multi-threaded runtime of its own (as many worker threads as berth's,
/// one per CPU) that serves until [`HelloWorld::stop`].
#[derive(Debug)]
struct HelloWorld {
    /// `http://127.0.0.1:PORT`.
    base: String,
    runtime: tokio::runtime::Runtime,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(problem) = args.validate() {
        eprintln!("load: {problem}");
        return ExitCode::FAILURE;
    }
    let postgres = args.postgres.as_deref().filter(|url| !url.is_empty());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    println!(
        "load: {} clients of {} account(s) x ({} warm-up + {} measured) creates of {TYPE}, then {} s of GETs; \
         {} hosts of {} vCPUs over {} racks; {} strict anti-affinity groups; {} CPUs here",
        args.clients,
        args.accounts,
        args.warm_up,
        args.per_client,
        args.seconds,
        args.hosts,
        args.vcpus,
        args.racks,
        args.groups,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    if postgres.is_none() {
        println!(
            "load: the PostgreSQL setups and baseline are skipped: no server was named (give --postgres URL or set \
             BERTH_TEST_POSTGRES_URL; scripts/postgres start DIR runs one)"
        );
    }

    let baselines = if args.no_baselines { Baselines::default() } else { baselines_measure(&runtime, &args, postgres) };

    let mut results = Vec::new();
    // SQLite: a file in a temporary directory of our own, whatever BERTH_TEST_POSTGRES_URL says
    // (`Place::new` would follow it).
    let dir = tempfile::tempdir().expect("a temporary directory");
    let database = dir.path().join("berth.db").to_string_lossy().into_owned();
    results.push(run_setup(&runtime, &args, "sqlite", Engine::Sqlite, Place { dir, database }, 1));
    if let Some(server) = postgres {
        for (setup, processes) in [("postgres", 1), ("postgres, two processes", 2)] {
            let database = postgres_database(server);
            results.push(run_setup(
                &runtime,
                &args,
                setup,
                Engine::Postgres,
                Place::with_database(database),
                processes,
            ));
        }
    }

    print_table(&results);
    print_comparison(&results, &baselines);
    let mut wrong = false;
    if results.iter().any(|figures| figures.failed > 0 || figures.gets_failed > 0 || figures.violations > 0) {
        eprintln!("load: some creates or GETs failed, or the region broke an invariant (see above)");
        wrong = true;
    }
    if !baselines.failures.is_empty() {
        eprintln!("load: some baselines got wrong answers (see above)");
        wrong = true;
    }
    if wrong { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

impl Args {
    /// Refuses a load that would fill the fleet or a group: refusals would then be measured
    /// instead of creates.
    fn validate(&self) -> Result<(), String> {
        let counts = [self.clients, self.per_client, self.hosts, self.racks, self.groups, self.accounts];
        if counts.contains(&0) {
            return Err(
                "--clients, --per-client, --hosts, --racks, --groups and --accounts must be at least 1".to_string()
            );
        }
        if !(self.seconds.is_finite() && self.seconds > 0.0) {
            return Err(format!("--seconds must be a positive number of seconds, not {}", self.seconds));
        }
        if self.clients_per_account() > self.groups_per_account() {
            return Err(format!(
                "{} clients per account need at least as many groups each (--groups {} over {} accounts), so that \
                 they write to different groups",
                self.clients_per_account(),
                self.groups,
                self.accounts
            ));
        }
        let creates = self.clients * (self.warm_up + self.per_client);
        let slots = self.hosts * (self.vcpus as usize / VCPUS_PER_CREATE);
        // Half the fleet: the engine then always finds a host at once, as it does in a fleet
        // run with headroom, and no group comes near one member per host.
        if creates > slots / 2 {
            return Err(format!(
                "{creates} creates would fill more than half of the fleet's {slots} places: fewer creates, or \
                 more --hosts"
            ));
        }
        let per_group =
            (self.clients_per_account() * (self.warm_up + self.per_client)).div_ceil(self.groups_per_account());
        if per_group > self.hosts / 2 {
            return Err(format!(
                "{per_group} members per group would fill more than half of the {} hosts: more --groups",
                self.hosts
            ));
        }
        Ok(())
    }

    /// The most clients one account has.
    fn clients_per_account(&self) -> usize {
        self.clients.div_ceil(self.accounts)
    }

    /// The groups each account makes.
    fn groups_per_account(&self) -> usize {
        self.groups / self.accounts
    }

    /// How long each timed measurement runs.
    fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.seconds)
    }
}

/// A new, empty database on the PostgreSQL server at `server`: its URL.
fn postgres_database(server: &str) -> String {
    let server = server.to_string();
    common::block_on(async move { store::testing::postgres_database(&server).await })
        .expect("a new database on the PostgreSQL server")
}

/// Runs one setup from start to end: processes, fleet, groups, warm-up, the measured creates,
/// the GETs, a clean stop, and the region's check.
fn run_setup(
    runtime: &tokio::runtime::Runtime,
    args: &Args,
    setup: &'static str,
    engine: Engine,
    place: Place,
    processes: usize,
) -> Figures {
    println!("load: {setup}: starting {processes} process(es)");
    let server_args = ["--demo-token", TOKEN, "--operator-token", OPERATOR, "--rate-limit", "0", "--repair", "false"];
    let running: Vec<Running> = (0..processes).map(|_| start(&place, &server_args)).collect();
    let apis: Vec<Api> = running.iter().map(|process| Api::new(&process.address, TOKEN, OPERATOR)).collect();

    let (creates, refused, failures, gets) = runtime.block_on(async {
        apis[0].region_create(REGION, args.hosts, args.racks, args.vcpus).await;
        let mut tenants = Vec::with_capacity(args.accounts);
        for account in 0..args.accounts {
            let token = match account {
                0 => TOKEN.to_string(),
                _ => account_create(&apis[0], account).await,
            };
            let tenant_apis: Vec<Api> =
                running.iter().map(|process| Api::new(&process.address, &token, OPERATOR)).collect();
            let mut groups = Vec::with_capacity(args.groups_per_account());
            for number in 0..args.groups_per_account() {
                // Groups are made through every process, as the creates will be.
                let api = &tenant_apis[number % processes];
                groups.push(api.group_create(REGION, &format!("load-{account}-{number}")).await);
            }
            tenants.push(Tenant { apis: tenant_apis, groups });
        }
        let warm_up = race(&tenants, REGION, args.clients, 0, args.warm_up).await;
        let measured = race(&tenants, REGION, args.clients, args.warm_up, args.per_client).await;
        // A failed answer is wrong whether or not it was measured.
        let failures: Vec<Outcome> = warm_up.failed().into_iter().chain(measured.failed()).cloned().collect();
        let refused = measured.refused();
        let creates = Rate::new(measured.created(), measured.elapsed, measured.latencies);
        let gets = get_race(&group_gets(&tenants, args.clients), args.warm_up, args.duration()).await;
        (creates, refused, failures, gets)
    });

    for process in running {
        process.stop();
    }
    let violations = place.region_check(REGION);

    print_failures(setup, &failures.iter().map(|failure| format!("{failure:?}")).collect::<Vec<_>>());
    print_failures(setup, &gets.failures);
    for violation in &violations {
        println!("load: {setup}: violation: {violation}");
    }
    let figures = Figures {
        setup,
        engine,
        processes,
        accounts: args.accounts,
        clients: args.clients,
        creates,
        refused,
        failed: failures.len(),
        violations: violations.len(),
        gets: gets.measured,
        gets_failed: gets.failures.len(),
    };
    println!(
        "load: {setup}: {} created, {} refused, {} failed in {:.2} s: {:.0} creates/s, p50 {:.1} ms, p99 {:.1} ms; \
         {} violations",
        figures.creates.count,
        figures.refused,
        figures.failed,
        figures.creates.elapsed.as_secs_f64(),
        figures.creates.per_second(),
        milliseconds(figures.creates.percentile(0.50)),
        milliseconds(figures.creates.percentile(0.99)),
        figures.violations,
    );
    println!(
        "load: {setup}: {} GETs of a group, {} failed, in {:.2} s: {}",
        figures.gets.count,
        figures.gets_failed,
        figures.gets.elapsed.as_secs_f64(),
        figures.gets.summary("GETs")
    );
    figures
}

/// The GETs of berth's clients: client `c` reads a group of its tenant (`c % tenants`) through
/// the process it created through, as [`race`] spreads the clients.
fn group_gets(tenants: &[Tenant], clients: usize) -> Vec<Get> {
    (0..clients)
        .map(|client| {
            let tenant = &tenants[client % tenants.len()];
            let index = client / tenants.len();
            let group = tenant.groups[index % tenant.groups.len()];
            Get {
                api: tenant.apis[index % tenant.apis.len()].clone(),
                path: format!("/v4/placement/groups/{group}"),
                expected: Expected::Group(group),
            }
        })
        .collect()
}

/// A new account with one unrestricted user, made by the operator: the user's token.
async fn account_create(operator: &Api, number: usize) -> String {
    let account = operator.operator_post("/accounts", json!({"name": format!("load-{number}")})).await;
    let account = account["id"].as_i64().expect("an account id");
    let user = operator
        .operator_post(
            &format!("/accounts/{account}/users"),
            json!({"username": format!("load-{number}"), "email": format!("load-{number}@example.com")}),
        )
        .await;
    let user = user["id"].as_i64().expect("a user id");
    let token =
        operator.operator_post(&format!("/accounts/{account}/users/{user}/tokens"), json!({"label": "load"})).await;
    token["token"].as_str().expect("the new token").to_string()
}

/// Measures the baselines: the axum hello-world, then the durable-insert loop on SQLite and,
/// given a server, on PostgreSQL.
fn baselines_measure(runtime: &tokio::runtime::Runtime, args: &Args, postgres: Option<&str>) -> Baselines {
    let mut baselines = Baselines::default();

    println!("load: baseline: axum hello-world: {} clients", args.clients);
    let server = HelloWorld::start();
    let api = Api::new(&server.base, TOKEN, OPERATOR);
    let gets: Vec<Get> = (0..args.clients)
        .map(|_| Get { api: api.clone(), path: "/".to_string(), expected: Expected::HelloWorld })
        .collect();
    let hello_world = runtime.block_on(get_race(&gets, args.warm_up, args.duration()));
    server.stop();
    print_failures("baseline: axum hello-world", &hello_world.failures);
    println!(
        "load: baseline: axum hello-world: {} GETs, {} failed, in {:.2} s: {}",
        hello_world.measured.count,
        hello_world.failures.len(),
        hello_world.measured.elapsed.as_secs_f64(),
        hello_world.measured.summary("GETs")
    );
    if hello_world.failures.is_empty() {
        baselines.hello_world = Some(hello_world.measured);
    } else {
        baselines.failures.push(format!("the axum hello-world got {} wrong answers", hello_world.failures.len()));
    }

    let dir = tempfile::tempdir().expect("a temporary directory");
    let sqlite = dir.path().join("inserts.db").display().to_string();
    baselines.sqlite = durable_inserts_report(runtime, args, Engine::Sqlite, &sqlite, &mut baselines.failures);
    if let Some(server) = postgres {
        let database = postgres_database(server);
        baselines.postgres =
            durable_inserts_report(runtime, args, Engine::Postgres, &database, &mut baselines.failures);
    }
    baselines
}

/// Runs the durable-insert loop on the database at `url` and prints its figures, or adds its
/// wrong answer to `failures`.
fn durable_inserts_report(
    runtime: &tokio::runtime::Runtime,
    args: &Args,
    engine: Engine,
    url: &str,
    failures: &mut Vec<String>,
) -> Option<DurableInserts> {
    let name = engine.name();
    println!("load: baseline: {name}: durable inserts over one connection");
    let measured = match engine {
        Engine::Sqlite => sqlite_inserts_measure(url, args.warm_up, args.duration()),
        Engine::Postgres => runtime.block_on(postgres_inserts_measure(url, args.warm_up, args.duration())),
    };
    match measured {
        Ok(inserts) => {
            println!(
                "load: baseline: {name}: 1 insert per commit: {} in {:.2} s: {}",
                inserts.one_per_commit.count,
                inserts.one_per_commit.elapsed.as_secs_f64(),
                inserts.one_per_commit.summary("commits"),
            );
            println!(
                "load: baseline: {name}: {INSERTS_PER_COMMIT} inserts per commit: {} inserts in {:.2} s: {} (latency \
                 per commit)",
                inserts.batched.count,
                inserts.batched.elapsed.as_secs_f64(),
                inserts.batched.summary("inserts"),
            );
            Some(inserts)
        }
        Err(problem) => {
            println!("load: baseline: {name}: failed: {problem}");
            failures.push(format!("the {name} durable-insert loop: {problem}"));
            None
        }
    }
}

/// The durable-insert loop on a SQLite file, through the in-process binding berth's store uses
/// (`rusqlite`, a cached prepared statement): a table of its own, `warm_up` unmeasured commits,
/// then inserts for `duration` with one per commit and for as long again with
/// [`INSERTS_PER_COMMIT`] per commit. Fails when a statement fails, when SQLite does not make
/// its commits durable as berth's store has it do, or when the table holds other than the rows
/// committed.
fn sqlite_inserts_measure(path: &str, warm_up: usize, duration: Duration) -> Result<DurableInserts, String> {
    let sqlite_error = |what: &'static str| move |error: rusqlite::Error| format!("{what}: {error}");
    let conn = rusqlite::Connection::open(path).map_err(sqlite_error("opening"))?;
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;").map_err(sqlite_error("PRAGMA"))?;
    // A file system without shared memory keeps the rollback journal; FULL is 2.
    let journal: String =
        conn.query_row("PRAGMA journal_mode", [], |row| row.get(0)).map_err(sqlite_error("journal"))?;
    let synchronous: i64 =
        conn.query_row("PRAGMA synchronous", [], |row| row.get(0)).map_err(sqlite_error("synchronous"))?;
    if journal != "wal" || synchronous != 2 {
        return Err(format!("SQLite runs with journal_mode = {journal}, synchronous = {synchronous}"));
    }
    conn.execute_batch(Engine::Sqlite.create_table()).map_err(sqlite_error("creating the table"))?;
    let run = |per_commit: usize, stop: Stop| -> Result<Rate, String> {
        let started = Instant::now();
        let mut latencies = Vec::new();
        while !stop.reached(started, latencies.len()) {
            let began = Instant::now();
            conn.execute_batch("BEGIN").map_err(sqlite_error("BEGIN"))?;
            for _ in 0..per_commit {
                conn.prepare_cached("INSERT INTO inserts (payload) VALUES (?1)")
                    .and_then(|mut insert| insert.execute([PAYLOAD]))
                    .map_err(sqlite_error("INSERT"))?;
            }
            conn.execute_batch("COMMIT").map_err(sqlite_error("COMMIT"))?;
            latencies.push(began.elapsed());
        }
        Ok(Rate::new(latencies.len() * per_commit, started.elapsed(), latencies))
    };
    let warmed = run(1, Stop::AfterCount(warm_up))?;
    let one_per_commit = run(1, Stop::AfterTime(duration))?;
    let batched = run(INSERTS_PER_COMMIT, Stop::AfterTime(duration))?;
    let committed = warmed.count + one_per_commit.count + batched.count;
    let rows: i64 =
        conn.query_row("SELECT COUNT(*) FROM inserts", [], |row| row.get(0)).map_err(sqlite_error("counting"))?;
    if usize::try_from(rows) != Ok(committed) {
        return Err(format!("{committed} rows were committed, but the table holds {rows}"));
    }
    Ok(DurableInserts { one_per_commit, batched })
}

/// The durable-insert loop on the PostgreSQL database at `url`, through sqlx's driver as
/// berth's store reaches PostgreSQL: the same loop as [`sqlite_inserts_measure`], with
/// `synchronous_commit = on`.
async fn postgres_inserts_measure(url: &str, warm_up: usize, duration: Duration) -> Result<DurableInserts, String> {
    let engine = Engine::Postgres;
    sqlx::any::install_default_drivers();
    let mut conn = AnyConnection::connect(url).await.map_err(database_error("connecting"))?;
    sqlx::query("SET synchronous_commit = on")
        .execute(&mut conn)
        .await
        .map_err(database_error("synchronous_commit"))?;
    let fsync: String = sqlx::query_scalar("SHOW fsync").fetch_one(&mut conn).await.map_err(database_error("fsync"))?;
    if fsync != "on" {
        // Berth's commits on this server are no more durable: the comparison still holds.
        println!("load: baseline: postgres: the server runs with fsync = {fsync}: no commit on it is durable");
    }
    sqlx::query(engine.create_table()).execute(&mut conn).await.map_err(database_error("creating the table"))?;
    let warmed = inserts_committed(&mut conn, 1, Stop::AfterCount(warm_up)).await?;
    let one_per_commit = inserts_committed(&mut conn, 1, Stop::AfterTime(duration)).await?;
    let batched = inserts_committed(&mut conn, INSERTS_PER_COMMIT, Stop::AfterTime(duration)).await?;
    let committed = warmed.count + one_per_commit.count + batched.count;
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inserts")
        .fetch_one(&mut conn)
        .await
        .map_err(database_error("counting the rows"))?;
    conn.close().await.map_err(database_error("closing"))?;
    if usize::try_from(rows) != Ok(committed) {
        return Err(format!("{committed} rows were committed, but the table holds {rows}"));
    }
    Ok(DurableInserts { one_per_commit, batched })
}

/// Inserts rows over `conn`, `per_commit` to a transaction, until `stop` (which counts
/// commits): the inserts, with the latency of each commit.
async fn inserts_committed(conn: &mut AnyConnection, per_commit: usize, stop: Stop) -> Result<Rate, String> {
    let started = Instant::now();
    let mut latencies = Vec::new();
    while !stop.reached(started, latencies.len()) {
        let began = Instant::now();
        let mut transaction = conn.begin().await.map_err(database_error("BEGIN"))?;
        for _ in 0..per_commit {
            sqlx::query("INSERT INTO inserts (payload) VALUES ($1)")
                .bind(PAYLOAD)
                .execute(&mut *transaction)
                .await
                .map_err(database_error("INSERT"))?;
        }
        transaction.commit().await.map_err(database_error("COMMIT"))?;
        latencies.push(began.elapsed());
    }
    Ok(Rate::new(latencies.len() * per_commit, started.elapsed(), latencies))
}

/// Describes a failed statement of the durable-insert loop, saying which.
fn database_error(what: &'static str) -> impl FnOnce(sqlx::Error) -> String {
    move |error| format!("{what}: {error}")
}

/// Runs one client per element of `gets` at once, each sending its GET one after another:
/// `warm_up` unmeasured ones each (all clients warm up before any is measured), then as many
/// as fit in `duration`. Berth's GETs and the hello-world's go through this one loop, so that
/// their figures differ only by the server.
async fn get_race(gets: &[Get], warm_up: usize, duration: Duration) -> GetRace {
    let warm = get_round(gets, Stop::AfterCount(warm_up)).await;
    let measured = get_round(gets, Stop::AfterTime(duration)).await;
    let mut failures = warm.failures;
    failures.extend(measured.failures);
    GetRace { measured: measured.measured, failures }
}

/// One round of [`get_race`]: every client at once, until `stop`.
async fn get_round(gets: &[Get], stop: Stop) -> GetRace {
    let started = Instant::now();
    let clients: Vec<_> = gets.iter().cloned().map(|get| tokio::spawn(get_client(get, started, stop))).collect();
    let mut latencies = Vec::new();
    let mut failures = Vec::new();
    for client in clients {
        let (client_latencies, failure) = client.await.expect("a client runs to its end");
        latencies.extend(client_latencies);
        failures.extend(failure);
    }
    GetRace { measured: Rate::new(latencies.len(), started.elapsed(), latencies), failures }
}

/// One client of [`get_round`]: the latency of each right answer, until `stop` or the first
/// wrong answer (then that answer).
async fn get_client(get: Get, started: Instant, stop: Stop) -> (Vec<Duration>, Option<String>) {
    let url = format!("{}{}", get.api.base, get.path);
    let mut latencies = Vec::new();
    while !stop.reached(started, latencies.len()) {
        let sent = Instant::now();
        let answer = match get.api.client.get(&url).bearer_auth(&get.api.token).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                response.bytes().await.map(|body| (status, body))
            }
            Err(error) => Err(error),
        };
        let latency = sent.elapsed();
        let wrong = match answer {
            Ok((status, body)) => get.expected.mismatch(status, &body),
            Err(error) => Some(format!("no answer: {error}")),
        };
        if let Some(wrong) = wrong {
            return (latencies, Some(format!("GET {url}: {wrong}")));
        }
        latencies.push(latency);
    }
    (latencies, None)
}

impl Expected {
    /// Why `status` and `body` are not this answer, when they are not.
    fn mismatch(self, status: u16, body: &[u8]) -> Option<String> {
        let right = status == 200
            && match self {
                Expected::HelloWorld => body == HELLO_WORLD.as_bytes(),
                Expected::Group(id) => {
                    serde_json::from_slice::<Value>(body).is_ok_and(|group| group["id"].as_i64() == Some(id))
                }
            };
        (!right).then(|| format!("expected {self:?}, got {status}: {}", String::from_utf8_lossy(body)))
    }
}

impl Stop {
    /// Whether a loop that began at `started` and has done `done` steps stops now.
    fn reached(self, started: Instant, done: usize) -> bool {
        match self {
            Stop::AfterCount(count) => done >= count,
            Stop::AfterTime(duration) => started.elapsed() >= duration,
        }
    }
}

impl HelloWorld {
    /// Starts the server on a free port of 127.0.0.1.
    fn start() -> HelloWorld {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("a free port");
        let base = format!("http://{}", listener.local_addr().expect("the bound address"));
        let router = Router::new().route("/", axum::routing::get(|| async { HELLO_WORLD }));
        runtime.spawn(async move { axum::serve(listener, router).await.expect("the hello-world serves") });
        HelloWorld { base, runtime }
    }

    /// Stops serving: the runtime's tasks are dropped and its threads end.
    fn stop(self) {
        self.runtime.shutdown_background();
    }
}

impl Engine {
    fn name(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        }
    }

    /// The durable-insert loop's one table.
    fn create_table(self) -> &'static str {
        match self {
            Engine::Sqlite => "CREATE TABLE inserts (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)",
            Engine::Postgres => {
                "CREATE TABLE inserts (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload TEXT NOT NULL)"
            }
        }
    }
}

impl Rate {
    fn new(count: usize, elapsed: Duration, mut latencies: Vec<Duration>) -> Rate {
        latencies.sort();
        Rate { count, elapsed, latencies }
    }

    fn per_second(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64()
    }

    /// The latency that a `share` of the steps did not exceed (nearest rank).
    fn percentile(&self, share: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = (share * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }

    /// "N `what`/s, p50 X ms, p99 Y ms".
    fn summary(&self, what: &str) -> String {
        format!(
            "{:.0} {what}/s, p50 {:.2} ms, p99 {:.2} ms",
            self.per_second(),
            milliseconds(self.percentile(0.50)),
            milliseconds(self.percentile(0.99))
        )
    }
}

/// Prints the first [`FAILURES_SHOWN`] of `failures` and counts the rest.
fn print_failures(what: &str, failures: &[String]) {
    for failure in failures.iter().take(FAILURES_SHOWN) {
        println!("load: {what}: failed: {failure}");
    }
    if failures.len() > FAILURES_SHOWN {
        println!("load: {what}: ... and {} more failures", failures.len() - FAILURES_SHOWN);
    }
}

fn milliseconds(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn print_table(results: &[Figures]) {
    println!();
    println!(
        "{:<24} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7} {:>8} {:>10} {:>7} {:>7}",
        "setup",
        "processes",
        "accounts",
        "clients",
        "creates",
        "refused",
        "failed",
        "seconds",
        "creates/s",
        "p50 ms",
        "p99 ms"
    );
    for figures in results {
        println!(
            "{:<24} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7} {:>8.2} {:>10.0} {:>7.1} {:>7.1}",
            figures.setup,
            figures.processes,
            figures.accounts,
            figures.clients,
            figures.creates.count,
            figures.refused,
            figures.failed,
            figures.creates.elapsed.as_secs_f64(),
            figures.creates.per_second(),
            milliseconds(figures.creates.percentile(0.50)),
            milliseconds(figures.creates.percentile(0.99)),
        );
    }
}

/// Each setup's figures, each followed by its baselines from this run and the figure as a
/// percentage of each.
fn print_comparison(results: &[Figures], baselines: &Baselines) {
    println!();
    println!(
        "{:<48} {:>10} {:>8} {:>8} {:>17}",
        "figure (baselines from this run)", "per second", "p50 ms", "p99 ms", "berth / baseline"
    );
    for figures in results {
        let setup = figures.setup;
        print_row(&format!("{setup}: creates"), &figures.creates, None);
        let inserts = match figures.engine {
            Engine::Sqlite => baselines.sqlite.as_ref(),
            Engine::Postgres => baselines.postgres.as_ref(),
        };
        if let Some(inserts) = inserts {
            let name = figures.engine.name();
            print_row(
                &format!("  baseline: {name}, commits of 1 insert"),
                &inserts.one_per_commit,
                Some(&figures.creates),
            );
            print_row(
                &format!("  baseline: {name}, inserts, {INSERTS_PER_COMMIT} per commit"),
                &inserts.batched,
                Some(&figures.creates),
            );
        }
        print_row(&format!("{setup}: GETs of a group"), &figures.gets, None);
        if let Some(hello_world) = &baselines.hello_world {
            print_row("  baseline: axum hello-world GETs", hello_world, Some(&figures.gets));
        }
    }
}

/// One row of [`print_comparison`]: `rate`, and, for a baseline, `berth` as a percentage of it.
fn print_row(label: &str, rate: &Rate, berth: Option<&Rate>) {
    let share = berth.map_or(String::new(), |berth| format!("{:.1}%", 100.0 * berth.per_second() / rate.per_second()));
    let row = format!(
        "{label:<48} {:>10.0} {:>8.2} {:>8.2} {share:>17}",
        rate.per_second(),
        milliseconds(rate.percentile(0.50)),
        milliseconds(rate.percentile(0.99)),
    );
    println!("{}", row.trim_end());
}
