//! The harness of the binary's tests: `berth serve` started for real on a free port, on a
//! fresh database: a SQLite file, or a new database on the PostgreSQL server that
//! `BERTH_TEST_POSTGRES_URL` names (`scripts/test` runs these tests both ways).

#![allow(dead_code)] // Each suite uses a different part of the harness, and some only with a feature.

pub mod fleet;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Where a test's berth processes keep their state: a temporary directory (their working
/// directory, with the secret key they share) and the database.
pub struct Place {
    pub dir: tempfile::TempDir,
    /// What `--database` is given: a SQLite file in `dir`, or a PostgreSQL URL.
    pub database: String,
}

impl Place {
    pub fn new() -> Place {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().to_path_buf();
        let database = block_on(async move { store::testing::fresh_database(&path).await }).expect("a fresh database");
        Place { dir, database }
    }

    /// A place whose database is `database`.
    pub fn with_database(database: String) -> Place {
        Place { dir: tempfile::tempdir().expect("a temporary directory"), database }
    }

    pub fn is_postgres(&self) -> bool {
        self.database.starts_with("postgres://")
    }

    /// Where berth writes the demo credentials when it seeds the demo.
    pub fn credentials_file(&self) -> PathBuf {
        if self.is_postgres() {
            self.dir.path().join("berth.credentials")
        } else {
            PathBuf::from(format!("{}.credentials", self.database))
        }
    }

    /// Every invariant of a region, as the engine's `check()` finds it over the database (and
    /// the hosts' usage counters against their instances): the violations, as sentences.
    pub fn region_check(&self, region: &str) -> Vec<String> {
        let database = self.database.clone();
        let region = berth_core::RegionId::parse(region).expect("a region id");
        block_on(async move {
            let store = store::Store::open(&database).await.expect("open the database");
            let berth = berth_core::Berth::new(store.clone(), berth_core::Settings::default());
            let violations = berth.region_check(&region).await.expect("check the region");
            store.close().await;
            violations
        })
    }
}

/// Runs a future to completion on a runtime of its own, on a thread of its own: callable from
/// blocking tests and from async ones alike.
pub fn block_on<F>(future: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime").block_on(future)
    })
    .join()
    .expect("the future completes")
}

pub struct Running {
    pub child: Child,
    pub address: String,
    output: mpsc::Receiver<String>,
}

/// Waits, up to a minute, until `done` holds, and panics naming `what` otherwise. The bound is
/// for a hung test, not a speed target.
pub async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The binary under test: the one Cargo built for the integration tests, or, for the load
/// harness (an example, for which Cargo builds no binary and sets no path), `$BERTH_BINARY` or
/// the `berth` beside the example (`target/<profile>/berth`).
pub fn berth_binary() -> PathBuf {
    if let Some(path) = option_env!("CARGO_BIN_EXE_berth") {
        return PathBuf::from(path);
    }
    let binary = match std::env::var_os("BERTH_BINARY") {
        Some(path) => PathBuf::from(path),
        None => {
            let example = std::env::current_exe().expect("the path of this program");
            let profile_dir =
                example.parent().and_then(|examples| examples.parent()).expect("target/<profile>/examples/");
            profile_dir.join(format!("berth{}", std::env::consts::EXE_SUFFIX))
        }
    };
    assert!(
        binary.is_file(),
        "{} is not a file: build the binary first (cargo build --release -p berth --bin berth), or set BERTH_BINARY",
        binary.display()
    );
    binary
}

/// Starts `berth serve` on a free port, on `place`, and waits for its ready line.
pub fn start(place: &Place, extra: &[&str]) -> Running {
    // `Running` waits for the child when it is dropped, which the lint cannot see.
    #[allow(clippy::zombie_processes)]
    let mut child = Command::new(berth_binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &place.database])
        .args(extra)
        .current_dir(place.dir.path())
        .env("RUST_LOG", "info")
        .env_remove("BERTH_DEMO_TOKEN")
        .env_remove("BERTH_DATABASE_URL")
        .env_remove("BERTH_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start berth");
    let (send, output) = mpsc::channel();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let send = send.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = send.send(line);
            }
        });
    }
    let mut seen = Vec::new();
    loop {
        let line =
            output.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| panic!("berth never got ready: {seen:#?}"));
        if let Some(at) = line.find("berth ready on http://") {
            let address = line[at + "berth ready on ".len()..].split_whitespace().next().unwrap().to_string();
            return Running { child, address, output: drain(output, seen) };
        }
        seen.push(line);
    }
}

/// Puts the lines read so far back in front of the rest.
fn drain(rest: mpsc::Receiver<String>, seen: Vec<String>) -> mpsc::Receiver<String> {
    let (send, receive) = mpsc::channel();
    for line in seen {
        let _ = send.send(line);
    }
    std::thread::spawn(move || {
        for line in rest {
            if send.send(line).is_err() {
                return;
            }
        }
    });
    receive
}

impl Drop for Running {
    /// A test that fails midway still leaves no berth running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Running {
    pub fn lines(&self) -> Vec<String> {
        self.output.try_iter().collect()
    }

    /// Kills the process at once, as a crash or a lost machine would.
    pub fn kill(mut self) {
        self.child.kill().expect("kill berth");
        self.child.wait().expect("reap berth");
    }

    /// Sends SIGTERM and requires a clean exit.
    pub fn stop(mut self) -> Vec<String> {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "berth exited with {status}");
                std::thread::sleep(Duration::from_millis(100));
                return self.lines();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        panic!("berth did not stop on SIGTERM");
    }
}
