//! A load harness: how many instances per second berth creates into strict anti-affinity
//! groups, with many clients at once, in three setups: one `berth serve` process on SQLite,
//! one on PostgreSQL, and two processes sharing one PostgreSQL database (the clients spread
//! over both). It prints figures and fails on wrong answers, never on slow ones (a load
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
//! engine's `check()` finds in the region afterwards.
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
//! Without `--postgres` (or `BERTH_TEST_POSTGRES_URL`) only the SQLite setup runs. The binary
//! is taken from beside this example (`target/release/berth` for `target/release/examples/load`),
//! or from `BERTH_BINARY`.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use serde_json::json;

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

/// Instance creates per second into strict anti-affinity groups, on SQLite, on PostgreSQL,
/// and with two processes on one PostgreSQL database.
#[derive(Debug, Parser)]
struct Args {
    /// Clients sending creates at once.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Measured creates per client, sent one after another.
    #[arg(long, default_value_t = 40)]
    per_client: usize,
    /// Unmeasured creates per client before the measured ones.
    #[arg(long, default_value_t = 5)]
    warm_up: usize,
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
    /// each PostgreSQL setup gets a new database on it. Without one, those setups are skipped.
    #[arg(long, env = "BERTH_TEST_POSTGRES_URL")]
    postgres: Option<String>,
}

/// The figures of one setup.
#[derive(Debug)]
struct Figures {
    setup: &'static str,
    processes: usize,
    accounts: usize,
    clients: usize,
    created: usize,
    refused: usize,
    failed: usize,
    elapsed: Duration,
    /// Every measured request's latency, sorted.
    latencies: Vec<Duration>,
    violations: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(problem) = args.validate() {
        eprintln!("load: {problem}");
        return ExitCode::FAILURE;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    println!(
        "load: {} clients of {} account(s) x ({} warm-up + {} measured) creates of {TYPE}; {} hosts of {} vCPUs \
         over {} racks; {} strict anti-affinity groups; {} CPUs here",
        args.clients,
        args.accounts,
        args.warm_up,
        args.per_client,
        args.hosts,
        args.vcpus,
        args.racks,
        args.groups,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );

    let mut results = Vec::new();

    // SQLite: a file in a temporary directory of our own, whatever BERTH_TEST_POSTGRES_URL says
    // (`Place::new` would follow it).
    let dir = tempfile::tempdir().expect("a temporary directory");
    let database = dir.path().join("berth.db").to_string_lossy().into_owned();
    results.push(run_setup(&runtime, &args, "sqlite", Place { dir, database }, 1));

    match args.postgres.as_deref().filter(|url| !url.is_empty()) {
        Some(server) => {
            for (setup, processes) in [("postgres", 1), ("postgres, two processes", 2)] {
                let server = server.to_string();
                let database = common::block_on(async move { store::testing::postgres_database(&server).await })
                    .expect("a new database on the PostgreSQL server");
                results.push(run_setup(&runtime, &args, setup, Place::with_database(database), processes));
            }
        }
        None => println!(
            "load: the PostgreSQL setups are skipped: no server was named (give --postgres URL or set \
             BERTH_TEST_POSTGRES_URL; scripts/postgres start DIR runs one)"
        ),
    }

    print_table(&results);
    if results.iter().any(|figures| figures.failed > 0 || figures.violations > 0) {
        eprintln!("load: some creates failed or the region broke an invariant (see above)");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
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
}

/// Runs one setup from start to end: processes, fleet, groups, warm-up, the measured creates,
/// a clean stop, and the region's check.
fn run_setup(
    runtime: &tokio::runtime::Runtime,
    args: &Args,
    setup: &'static str,
    place: Place,
    processes: usize,
) -> Figures {
    println!("load: {setup}: starting {processes} process(es)");
    let server_args = ["--demo-token", TOKEN, "--operator-token", OPERATOR, "--rate-limit", "0", "--repair", "false"];
    let running: Vec<Running> = (0..processes).map(|_| start(&place, &server_args)).collect();
    let apis: Vec<Api> = running.iter().map(|process| Api::new(&process.address, TOKEN, OPERATOR)).collect();

    let (created, refused, failures, elapsed, latencies) = runtime.block_on(async {
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
        let mut latencies = measured.latencies.clone();
        latencies.sort();
        (measured.created(), measured.refused(), failures, measured.elapsed, latencies)
    });

    for process in running {
        process.stop();
    }
    let violations = place.region_check(REGION);

    for failure in failures.iter().take(FAILURES_SHOWN) {
        println!("load: {setup}: failed: {failure:?}");
    }
    if failures.len() > FAILURES_SHOWN {
        println!("load: {setup}: ... and {} more failures", failures.len() - FAILURES_SHOWN);
    }
    for violation in &violations {
        println!("load: {setup}: violation: {violation}");
    }
    let figures = Figures {
        setup,
        processes,
        accounts: args.accounts,
        clients: args.clients,
        created,
        refused,
        failed: failures.len(),
        elapsed,
        latencies,
        violations: violations.len(),
    };
    println!(
        "load: {setup}: {} created, {} refused, {} failed in {:.2} s: {:.0} creates/s, p50 {:.1} ms, p99 {:.1} ms; \
         {} violations",
        figures.created,
        figures.refused,
        figures.failed,
        figures.elapsed.as_secs_f64(),
        figures.creates_per_second(),
        milliseconds(figures.percentile(0.50)),
        milliseconds(figures.percentile(0.99)),
        figures.violations,
    );
    figures
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

impl Figures {
    fn creates_per_second(&self) -> f64 {
        self.created as f64 / self.elapsed.as_secs_f64()
    }

    /// The latency that a `share` of the measured requests did not exceed (nearest rank).
    fn percentile(&self, share: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = (share * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
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
            figures.created,
            figures.refused,
            figures.failed,
            figures.elapsed.as_secs_f64(),
            figures.creates_per_second(),
            milliseconds(figures.percentile(0.50)),
            milliseconds(figures.percentile(0.99)),
        );
    }
}
