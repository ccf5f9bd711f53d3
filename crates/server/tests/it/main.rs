//! The integration tests of `berth-server`, in one binary: each test starts the real
//! application on `127.0.0.1:0` with a fresh database, through the harness in `common`.

mod common;

mod admin_v1;
mod authorization;
mod exoscale;
mod fleet_ops;
mod linode_groups;
mod linode_instances;
mod linode_misc;
mod tenancy;
