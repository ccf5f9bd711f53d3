//! The integration tests of the placement engine, in one binary: readable scenarios, and
//! property tests against brute-force oracles (the small generated world in `common`).

mod common;

mod evacuate;
mod headroom;
mod oracle;
mod repair;
mod scenarios;
