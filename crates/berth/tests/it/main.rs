//! The integration tests of the `berth` binary, in one binary: each test runs `berth serve`
//! for real on a free port and a fresh database, through the harness in `common`. The outage
//! and failover tests need a PostgreSQL server and compile only with the `postgres-tests`
//! feature.

mod common;

mod cli;
mod concurrency;
mod failover;
mod outage;
mod serve;
