//! Two berth processes on one database: only the one that holds the lease runs the background
//! work, and when it dies in the middle of a drain, the other takes the work over and finishes
//! the drain, keeping the strict group compliant.
//!
//! Several processes share a database only on PostgreSQL (a SQLite file serves one process:
//! `serve.rs` checks that a second one is refused), so this test needs the server that
//! `BERTH_TEST_POSTGRES_URL` names and the `postgres-tests` feature.

#![cfg(feature = "postgres-tests")]

use std::time::Instant;

use serde_json::{Value, json};

use crate::common::fleet::{Api, Outcome, TYPE};
use crate::common::{Place, Running, eventually, start};

const TOKEN: &str = "failover-token-0123456789";
const OPERATOR: &str = "failover-operator-0123456789";
const REGION: &str = "fo-1";

/// What `/readyz` says of a process's part in the background work.
async fn role(api: &Api) -> String {
    let reply: Value = api.client.get(format!("{}/readyz", api.base)).send().await.unwrap().json().await.unwrap();
    reply["background"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_the_leader_dies_during_a_drain_the_other_process_finishes_it() {
    let place = Place::new();
    assert!(place.is_postgres(), "set {} to a PostgreSQL server's URL", store::testing::POSTGRES_URL_VARIABLE);
    let args = [
        "--demo-token",
        TOKEN,
        "--operator-token",
        OPERATOR,
        "--rate-limit",
        "0",
        "--repair",
        "false",
        "--leader-lease-seconds",
        "2",
        "--migration-seconds",
        "1",
        "--max-concurrent-migrations",
        "1",
    ];
    let mut running: Vec<Option<Running>> = vec![Some(start(&place, &args)), Some(start(&place, &args))];
    let apis: Vec<Api> = running.iter().map(|r| Api::new(&r.as_ref().unwrap().address, TOKEN, OPERATOR)).collect();

    // Exactly one process leads.
    eventually("one process leads", || async {
        let roles = [role(&apis[0]).await, role(&apis[1]).await];
        roles.iter().filter(|r| *r == "leader").count() == 1 && roles.iter().any(|r| r == "standby")
    })
    .await;
    let leader = if role(&apis[0]).await == "leader" { 0 } else { 1 };
    let survivor = 1 - leader;

    // Four hosts; a strict group of three members and five other instances.
    apis[0].region_create(REGION, 4, 2, 16).await;
    let group = apis[0].group_create(REGION, "kept-apart").await;
    for _ in 0..3 {
        assert!(matches!(apis[0].linode_create(REGION, group).await, Outcome::Created { .. }));
    }
    for _ in 0..5 {
        let reply = apis[1]
            .client
            .post(format!("{}/v4/linode/instances", apis[1].base))
            .bearer_auth(TOKEN)
            .json(&json!({"type": TYPE, "region": REGION}))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
    }

    // Drain the busiest host of the group's three, through the process that does not lead.
    let hosts = apis[survivor].operator_get(&format!("/hosts?region={REGION}")).await;
    let busiest = hosts.as_array().unwrap().iter().max_by_key(|h| h["used"]["vcpus"].as_u64().unwrap()).unwrap()["id"]
        .as_i64()
        .unwrap();
    let before = apis[survivor].operator_get(&format!("/hosts/{busiest}")).await;
    let to_move = before["instances"].as_array().unwrap().len();
    assert!(to_move >= 2, "{before}");
    apis[survivor].operator_post(&format!("/hosts/{busiest}/drain"), json!({})).await;

    // Once the leader runs the first move, it dies.
    eventually("the leader starts moving instances", || async {
        let running = apis[survivor].operator_get("/migrations?state=running").await;
        !running.as_array().unwrap().is_empty()
    })
    .await;
    running[leader].take().unwrap().kill();
    let killed_at = Instant::now();

    eventually("the survivor takes the background work over", || async { role(&apis[survivor]).await == "leader" })
        .await;
    let takeover = killed_at.elapsed();
    eventually("the drained host is empty and nothing moves", || async {
        let host = apis[survivor].operator_get(&format!("/hosts/{busiest}")).await;
        let moving = apis[survivor].operator_get("/migrations?state=running").await;
        let queued = apis[survivor].operator_get("/migrations?state=queued").await;
        host["instances"].as_array().unwrap().is_empty()
            && moving.as_array().unwrap().is_empty()
            && queued.as_array().unwrap().is_empty()
    })
    .await;
    let drained = killed_at.elapsed();

    let moved = apis[survivor].operator_get("/migrations?state=succeeded").await;
    assert!(moved.as_array().unwrap().len() >= to_move, "{moved}");
    apis[survivor].operator_post(&format!("/hosts/{busiest}/maintenance"), json!({})).await;
    let view = apis[survivor].operator_get(&format!("/groups/{group}")).await;
    assert_eq!(view["is_compliant"], true, "{view}");
    let violations = place.region_check(REGION);
    assert!(violations.is_empty(), "{violations:#?}");
    println!("took over {takeover:?} after the kill; the drain of {to_move} instances ended {drained:?} after it");
}
