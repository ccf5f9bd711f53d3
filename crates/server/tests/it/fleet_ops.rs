//! Fleet operations end to end: repair of non-compliant groups, draining and failing hosts, the
//! external executor, and the operator's fleet API (hosts, explain, headroom, migrations).

use std::time::Duration;

use berth_core::{Executor, FleetSeed, Settings};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Setup, TestApp, capacity, region, spawn};

fn setup(regions: Vec<berth_core::RegionSeed>, core: Settings) -> Setup {
    Setup { fleet: Some(FleetSeed { regions }), core, ..Setup::default() }
}

fn repairing() -> Settings {
    Settings { migration_duration: Duration::from_millis(400), repair: true, ..Settings::default() }
}

async fn operator(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> crate::common::Reply {
    app.request_with(method, path, body, Some(&app.operator_token), &[]).await
}

/// Waits, up to thirty seconds, until `done` holds for what `probe` returns.
async fn eventually<T, F, Fut>(what: &str, mut probe: F, done: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    for _ in 0..300 {
        let value = probe().await;
        if done(&value) {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} never happened");
}

/// Two Linodes on one host, made so through an affinity group, then freed of it.
async fn two_on_one_host(app: &TestApp, region: &str) -> (i64, i64) {
    let together = app.group("together", region, "affinity:local", "strict").await;
    let a = app.linode(region, "g6-nanode-1", Some(together)).await["id"].as_i64().unwrap();
    let b = app.linode(region, "g6-nanode-1", Some(together)).await["id"].as_i64().unwrap();
    app.post(&format!("/v4/placement/groups/{together}/unassign"), json!({"linodes": [a, b]})).await;
    app.delete(&format!("/v4/placement/groups/{together}")).await;
    (a, b)
}

#[tokio::test]
async fn a_flexible_group_broken_by_an_assignment_is_repaired_with_the_fewest_migrations() {
    let app = &spawn(setup(vec![region("rep-1", 2, 4, capacity(16, 64))], repairing())).await;
    let (a, b) = two_on_one_host(app, "rep-1").await;
    let group = app.group("loose", "rep-1", "anti_affinity:local", "flexible").await;
    let assigned = app.post(&format!("/v4/placement/groups/{group}/assign"), json!({"linodes": [a, b]})).await;
    assert_eq!(assigned.body["is_compliant"], false);

    // While the repair migration runs, the Linode dialect shows it on the group and the Linode.
    let moving = eventually(
        "the repair migration shows",
        || async move { app.get(&format!("/v4/placement/groups/{group}")).await },
        |reply| !reply.body["migrations"].is_null(),
    )
    .await;
    assert_eq!(moving.body["migrations"]["inbound"], json!([{"linode_id": b}]), "{}", moving.body);
    assert_eq!(moving.body["migrations"]["outbound"], json!([{"linode_id": b}]));
    let linode = app.get(&format!("/v4/linode/instances/{b}")).await;
    assert_eq!(linode.body["status"], "migrating");
    assert_eq!(linode.body["placement_group"]["migrating_to"], group);

    let repaired = eventually(
        "the group is compliant",
        || async move { app.get(&format!("/v4/placement/groups/{group}")).await },
        |reply| reply.body["is_compliant"] == true && reply.body["migrations"].is_null(),
    )
    .await;
    assert_eq!(
        repaired.body["members"],
        json!([{"linode_id": a, "is_compliant": true}, {"linode_id": b, "is_compliant": true}])
    );
    let migrations = operator(app, Method::GET, "/v1/migrations?reason=repair", None).await;
    let migrations = migrations.body.as_array().unwrap().clone();
    assert_eq!(migrations.len(), 1, "one move is the fewest: {migrations:?}");
    assert_eq!(migrations[0]["instance"], b, "the later joiner moves");
    assert_eq!(migrations[0]["state"], "succeeded");
    let events = app
        .request_with(
            Method::GET,
            "/v4/account/events",
            None,
            Some(&app.token),
            &[("X-Filter", &json!({"entity.id": group, "action": "placement_group_became_compliant"}).to_string())],
        )
        .await;
    assert_eq!(events.body["results"], 1);
    app.assert_consistent("rep-1").await;
}

#[tokio::test]
async fn a_group_that_cannot_be_repaired_stays_non_compliant_with_a_reason() {
    let app = &spawn(setup(vec![region("tight-1", 1, 2, capacity(2, 8))], repairing())).await;
    // Two hosts of two vCPUs each hold two Linodes; a third pair shares a host.
    let (a, b) = two_on_one_host(app, "tight-1").await;
    let filler = app.linode("tight-1", "g6-standard-2", None).await;
    assert_ne!(filler["host_uuid"], app.get(&format!("/v4/linode/instances/{a}")).await.body["host_uuid"]);
    let group = app.group("stuck", "tight-1", "anti_affinity:local", "flexible").await;
    app.post(&format!("/v4/placement/groups/{group}/assign"), json!({"linodes": [a, b]})).await;
    let detail = eventually(
        "repair gives up with a reason",
        || async move { operator(app, Method::GET, &format!("/v1/groups/{group}"), None).await },
        |reply| reply.body["repair_note"].is_string(),
    )
    .await;
    assert_eq!(detail.body["is_compliant"], false);
    assert!(detail.body["repair_note"].as_str().unwrap().contains("lack"), "{}", detail.body);
    assert_eq!(detail.body["members"][1]["is_compliant"], false);
    assert!(detail.body["members"][1]["reason"].as_str().unwrap().contains("shares host"));
    let migrations = operator(app, Method::GET, "/v1/migrations?reason=repair", None).await;
    assert_eq!(migrations.body, json!([]), "no plan, no migration");
}

#[tokio::test]
async fn draining_a_host_keeps_strict_groups_compliant_at_every_step_until_it_is_empty() {
    let core = Settings { migration_duration: Duration::from_millis(200), max_concurrent_migrations: 2, ..repairing() };
    let app = spawn(setup(vec![region("drain-1", 3, 6, capacity(8, 32))], core)).await;
    let groups = [
        app.group("web", "drain-1", "anti_affinity:local", "strict").await,
        app.group("db", "drain-1", "anti_affinity:local", "strict").await,
    ];
    for group in groups {
        for _ in 0..4 {
            app.linode("drain-1", "g6-standard-1", Some(group)).await;
        }
    }
    for _ in 0..3 {
        app.linode("drain-1", "g6-standard-2", None).await;
    }
    let hosts = operator(&app, Method::GET, "/v1/hosts?region=drain-1", None).await;
    let busiest =
        hosts.body.as_array().unwrap().iter().max_by_key(|h| h["used"]["vcpus"].as_u64().unwrap()).unwrap()["name"]
            .as_str()
            .unwrap()
            .to_string();

    let refused = operator(&app, Method::POST, &format!("/v1/hosts/{busiest}/maintenance"), None).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "an active host does not go straight to maintenance");
    let drained = operator(&app, Method::POST, &format!("/v1/hosts/{busiest}/drain"), None).await;
    assert_eq!(drained.status, StatusCode::OK, "{}", drained.body);
    assert_eq!(drained.body["state"], "draining");
    let held = drained.body["instances"].as_array().unwrap().len();
    assert!(held > 0);
    // Nothing new lands on a draining host.
    for _ in 0..3 {
        let linode = app.linode("drain-1", "g6-nanode-1", None).await;
        let host = operator(&app, Method::GET, &format!("/v1/instances/{}", linode["id"]), None).await;
        assert_ne!(host.body["host"]["name"], busiest.as_str());
    }
    let mut steps = 0;
    loop {
        app.assert_consistent("drain-1").await;
        for group in groups {
            let reply = app.get(&format!("/v4/placement/groups/{group}")).await;
            assert_eq!(reply.body["is_compliant"], true, "strict group {group} broke during the drain");
        }
        let detail = operator(&app, Method::GET, &format!("/v1/hosts/{busiest}"), None).await;
        if detail.body["instances"].as_array().unwrap().is_empty() {
            break;
        }
        steps += 1;
        assert!(steps < 300, "the drain never finished: {}", detail.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let moved = operator(&app, Method::GET, "/v1/migrations?reason=drain&state=succeeded", None).await;
    assert_eq!(moved.body.as_array().unwrap().len(), held);
    let maintenance = operator(&app, Method::POST, &format!("/v1/hosts/{busiest}/maintenance"), None).await;
    assert_eq!((maintenance.status, maintenance.body["state"].clone()), (StatusCode::OK, json!("maintenance")));
    let active = operator(&app, Method::POST, &format!("/v1/hosts/{busiest}/activate"), None).await;
    assert_eq!(active.body["state"], "active");
    app.assert_consistent("drain-1").await;
}

#[tokio::test]
async fn failing_a_host_in_a_small_fleet_leaves_instances_offline_with_reasons_until_a_host_is_added() {
    let app = &spawn(setup(vec![region("small-f", 3, 3, capacity(4, 16))], repairing())).await;
    let group = app.group("trio", "small-f", "anti_affinity:local", "strict").await;
    let members: Vec<Value> = {
        let mut members = Vec::new();
        for _ in 0..3 {
            members.push(app.linode("small-f", "g6-standard-1", Some(group)).await);
        }
        members
    };
    let victim = operator(app, Method::GET, &format!("/v1/instances/{}", members[0]["id"]), None).await;
    let host = victim.body["host"]["name"].as_str().unwrap().to_string();
    // A Linode in no group on the same host can go elsewhere.
    let loose = loop {
        let linode = app.linode("small-f", "g6-nanode-1", None).await;
        let placed = operator(app, Method::GET, &format!("/v1/instances/{}", linode["id"]), None).await;
        if placed.body["host"]["name"] == host.as_str() {
            break linode;
        }
    };

    let failed = operator(app, Method::POST, &format!("/v1/hosts/{host}/fail"), None).await;
    assert_eq!(failed.status, StatusCode::OK, "{}", failed.body);
    assert_eq!(failed.body["state"], "failed");
    assert_eq!(failed.body["instances"], json!([]));
    let stuck = failed.body["stuck"].as_array().unwrap();
    assert_eq!(stuck.len(), 1, "{}", failed.body);
    assert_eq!(stuck[0]["instance"], members[0]["id"]);
    let reason = stuck[0]["reason"].as_str().unwrap();
    assert!(reason.contains(&format!("0 of 2 other hosts: 2 hold a member of group {group}")), "{reason}");

    let offline = operator(app, Method::GET, &format!("/v1/instances/{}", members[0]["id"]), None).await;
    assert_eq!(offline.body["state"], "offline");
    assert_eq!(offline.body["host"], Value::Null);
    assert!(offline.body["offline_reason"].as_str().unwrap().contains("failed"));
    assert_eq!(app.get(&format!("/v4/linode/instances/{}", members[0]["id"])).await.body["status"], "offline");
    let moved = operator(app, Method::GET, &format!("/v1/instances/{}", loose["id"]), None).await;
    assert_eq!(moved.body["state"], "running");
    assert_ne!(moved.body["host"]["name"], host.as_str());
    // The strict group was never broken: the offline member stands nowhere.
    assert_eq!(app.get(&format!("/v4/placement/groups/{group}")).await.body["is_compliant"], true);
    app.assert_consistent("small-f").await;

    let added = operator(
        app,
        Method::POST,
        "/v1/hosts",
        Some(json!({"region": "small-f", "rack": "r4", "capacity": {"vcpus": 4, "memory_mib": 16384, "disk_mib": 409600}})),
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    let back = eventually(
        "the offline member is placed on the new host",
        || {
            let id = members[0]["id"].clone();
            async move { operator(app, Method::GET, &format!("/v1/instances/{id}"), None).await }
        },
        |reply| reply.body["state"] == "running",
    )
    .await;
    assert_eq!(back.body["host"]["name"], added.body["name"]);
    assert_eq!(back.body["offline_reason"], Value::Null);
    assert_eq!(app.get(&format!("/v4/placement/groups/{group}")).await.body["is_compliant"], true);
    app.assert_consistent("small-f").await;
}

fn external() -> Settings {
    Settings { executor: Executor::External { lease: Duration::from_millis(1500) }, ..Settings::default() }
}

#[tokio::test]
async fn an_external_agent_claims_renews_and_completes_a_migration() {
    let app = spawn(Setup { core: external(), ..Setup::default() }).await;
    let linode = app.linode("us-mia", "g6-nanode-1", None).await;
    let id = linode["id"].as_i64().unwrap();
    app.post(&format!("/v4/linode/instances/{id}/migrate"), json!({})).await;
    let claimed = operator(&app, Method::POST, "/v1/migration-jobs/claim", Some(json!({"agent": "hv-1"}))).await;
    assert_eq!(claimed.status, StatusCode::OK, "{}", claimed.body);
    let job = claimed.body["migration"]["id"].as_i64().unwrap();
    assert_eq!(claimed.body["migration"]["claimed_by"], "hv-1");
    let nothing = operator(&app, Method::POST, "/v1/migration-jobs/claim", Some(json!({"agent": "hv-2"}))).await;
    assert_eq!(nothing.status, StatusCode::NO_CONTENT, "a live lease is not given to another agent");
    let stolen =
        operator(&app, Method::POST, &format!("/v1/migration-jobs/{job}/complete"), Some(json!({"agent": "hv-2"})))
            .await;
    assert_eq!(stolen.status, StatusCode::CONFLICT);
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let renewed = operator(
            &app,
            Method::POST,
            &format!("/v1/migration-jobs/{job}/heartbeat"),
            Some(json!({"agent": "hv-1"})),
        )
        .await;
        assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.body);
    }
    assert_eq!(app.get(&format!("/v4/linode/instances/{id}")).await.body["status"], "migrating");
    let done =
        operator(&app, Method::POST, &format!("/v1/migration-jobs/{job}/complete"), Some(json!({"agent": "hv-1"})))
            .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["state"], "succeeded");
    let after = app.get(&format!("/v4/linode/instances/{id}")).await;
    assert_eq!(after.body["status"], "running");
    assert_ne!(after.body["host_uuid"], linode["host_uuid"]);
    app.assert_consistent("us-mia").await;
}

#[tokio::test]
async fn a_failed_or_expired_job_is_rolled_back_and_retried_elsewhere() {
    let app = &spawn(Setup { core: external(), ..Setup::default() }).await;
    let linode = app.linode("us-mia", "g6-nanode-1", None).await;
    let id = linode["id"].as_i64().unwrap();
    app.post(&format!("/v4/linode/instances/{id}/migrate"), json!({})).await;
    let first = operator(app, Method::POST, "/v1/migration-jobs/claim", Some(json!({"agent": "hv-1"}))).await;
    let first_target = first.body["migration"]["target_host"].clone();
    let job = first.body["migration"]["id"].as_i64().unwrap();
    let failed = operator(
        app,
        Method::POST,
        &format!("/v1/migration-jobs/{job}/fail"),
        Some(json!({"agent": "hv-1", "reason": "disk copy failed"})),
    )
    .await;
    assert_eq!(failed.status, StatusCode::OK, "{}", failed.body);
    assert_eq!(
        (failed.body["state"].clone(), failed.body["failure"].clone()),
        (json!("failed"), json!("disk copy failed"))
    );
    // The retry runs at once, towards another host.
    let second = operator(app, Method::POST, "/v1/migration-jobs/claim", Some(json!({"agent": "hv-2"}))).await;
    assert_eq!(second.status, StatusCode::OK, "the retry waits for an agent: {}", second.body);
    assert_ne!(second.body["migration"]["target_host"], first_target);
    assert_eq!(second.body["migration"]["instance"], id);
    app.assert_consistent("us-mia").await;

    // hv-2 goes silent: its lease runs out, the reconciler rolls the move back and retries.
    let second_target = second.body["migration"]["target_host"].clone();
    let third = eventually(
        "the expired job is retried",
        || async move { operator(app, Method::POST, "/v1/migration-jobs/claim", Some(json!({"agent": "hv-3"}))).await },
        |reply| reply.status == StatusCode::OK,
    )
    .await;
    assert_ne!(third.body["migration"]["target_host"], second_target);
    assert_ne!(third.body["migration"]["target_host"], first_target);
    let expired = operator(app, Method::GET, &format!("/v1/migrations/{}", second.body["migration"]["id"]), None).await;
    assert_eq!(expired.body["state"], "failed");
    assert!(expired.body["failure"].as_str().unwrap().contains("lease"), "{}", expired.body);
    let late = operator(
        app,
        Method::POST,
        &format!("/v1/migration-jobs/{}/complete", second.body["migration"]["id"]),
        Some(json!({"agent": "hv-2"})),
    )
    .await;
    assert_eq!(late.status, StatusCode::CONFLICT, "a lost lease cannot complete the job");
    app.assert_consistent("us-mia").await;
}

#[tokio::test]
async fn the_operator_registers_regions_and_hosts_and_moves_hosts_through_their_states() {
    let app = spawn(Setup::default()).await;
    let region = operator(
        &app,
        Method::POST,
        "/v1/regions",
        Some(json!({"id": "eu-west", "label": "Paris, FR", "country": "FR", "max_members_per_group": 8})),
    )
    .await;
    assert_eq!(region.status, StatusCode::CREATED, "{}", region.body);
    assert_eq!(operator(&app, Method::GET, "/v1/regions/eu-west", None).await.body["max_members_per_group"], 8);
    assert!(app.get("/v4/regions").await.body["data"].as_array().unwrap().iter().any(|r| r["id"] == "eu-west"));
    for (body, status) in [
        (json!({"id": "eu-west", "label": "again", "country": "fr"}), 409),
        (json!({"id": "Not Valid", "label": "x", "country": "fr"}), 400),
        (json!({"id": "eu-x", "label": "x", "country": "france"}), 400),
    ] {
        assert_eq!(operator(&app, Method::POST, "/v1/regions", Some(body)).await.status.as_u16(), status);
    }

    let host = operator(
        &app,
        Method::POST,
        "/v1/hosts",
        Some(json!({"region": "eu-west", "rack": "a1", "name": "par-a1-h01",
            "capacity": {"vcpus": 32, "memory_mib": 131072, "disk_mib": 2097152, "gpus": 0}, "labels": {"row": "a"}})),
    )
    .await;
    assert_eq!(host.status, StatusCode::CREATED, "{}", host.body);
    assert_eq!(host.body["state"], "active");
    assert_eq!(host.body["free"]["vcpus"], 32);
    let linode = app.linode("eu-west", "g6-standard-4", None).await;
    let shown = operator(&app, Method::GET, "/v1/hosts/par-a1-h01", None).await;
    assert_eq!(shown.body["instances"][0]["id"], linode["id"]);
    assert_eq!(shown.body["free"]["vcpus"], 28);
    assert_eq!(
        operator(&app, Method::GET, &format!("/v1/hosts/{}", host.body["id"]), None).await.body["name"],
        "par-a1-h01"
    );
    for (query, count) in
        [("region=eu-west", 1), ("region=eu-west&rack=a1", 1), ("region=eu-west&state=draining", 0), ("rack=zz", 0)]
    {
        let listed = operator(&app, Method::GET, &format!("/v1/hosts?{query}"), None).await;
        assert_eq!(listed.body.as_array().unwrap().len(), count, "{query}");
    }
    assert_eq!(operator(&app, Method::GET, "/v1/hosts?state=sleeping", None).await.status, StatusCode::BAD_REQUEST);

    let shrunk = operator(
        &app,
        Method::PATCH,
        "/v1/hosts/par-a1-h01",
        Some(json!({"capacity": {"vcpus": 2, "memory_mib": 4096, "disk_mib": 102400}})),
    )
    .await;
    assert_eq!(shrunk.status, StatusCode::CONFLICT, "capacity cannot go below what is used");
    let moved = operator(&app, Method::PATCH, "/v1/hosts/par-a1-h01", Some(json!({"rack": "a2"}))).await;
    assert_eq!(moved.body["rack"], "a2");
    assert_eq!(operator(&app, Method::POST, "/v1/hosts/par-a1-h01/activate", None).await.status, StatusCode::OK);
    assert_eq!(operator(&app, Method::POST, "/v1/hosts/nope/drain", None).await.status, StatusCode::NOT_FOUND);
    // A host that fails while holding a Linode with nowhere to go leaves it offline.
    let failed = operator(&app, Method::POST, "/v1/hosts/par-a1-h01/fail", None).await;
    assert_eq!(failed.body["stuck"][0]["instance"], linode["id"]);
    assert!(
        failed.body["stuck"][0]["reason"].as_str().unwrap().ends_with("the region has no other host"),
        "{}",
        failed.body
    );
    let drain_failed = operator(&app, Method::POST, "/v1/hosts/par-a1-h01/drain", None).await;
    assert_eq!(drain_failed.status, StatusCode::CONFLICT);
    let offline = operator(&app, Method::GET, "/v1/instances?offline=true", None).await;
    assert_eq!(offline.body.as_array().unwrap().len(), 1);
    let back = operator(&app, Method::POST, "/v1/hosts/par-a1-h01/activate", None).await;
    assert_eq!(back.body["state"], "active");
}

#[tokio::test]
async fn explain_shows_the_choice_and_every_excluded_host_grouped_by_reason() {
    let app = spawn(Setup {
        fleet: Some(FleetSeed { regions: vec![region("ex-1", 2, 4, capacity(4, 16))] }),
        ..Setup::default()
    })
    .await;
    let group = app.group("apart", "ex-1", "anti_affinity:local", "strict").await;
    app.linode("ex-1", "g6-standard-1", Some(group)).await;
    app.linode("ex-1", "g6-standard-1", Some(group)).await;
    app.linode("ex-1", "g6-standard-4", None).await;
    let explained = operator(
        &app,
        Method::POST,
        "/v1/explain/placement",
        Some(json!({"region": "ex-1", "type": "g6-standard-2", "groups": [group]})),
    )
    .await;
    assert_eq!(explained.status, StatusCode::OK, "{}", explained.body);
    let excluded = explained.body["excluded"].as_array().unwrap();
    let reasons: Vec<(String, u64)> =
        excluded.iter().map(|e| (e["reason"].as_str().unwrap().to_string(), e["count"].as_u64().unwrap())).collect();
    assert_eq!(reasons, [("lacks vCPUs".to_string(), 1), (format!("hold a member of group {group} (apart)"), 2)]);
    assert_eq!(explained.body["candidates"].as_array().unwrap().len(), 1);
    assert_eq!(explained.body["chosen"]["name"], explained.body["candidates"][0]["host"]["name"]);
    assert!(explained.body["why"].as_str().unwrap().contains("fewest"));

    let none = operator(
        &app,
        Method::POST,
        "/v1/explain/placement",
        Some(json!({"region": "ex-1", "size": {"vcpus": 64, "memory_mib": 1024, "disk_mib": 0}})),
    )
    .await;
    assert_eq!(none.body["chosen"], Value::Null);
    assert_eq!(none.body["why"], "0 of 4 hosts: 4 lack vCPUs");
    for body in [
        json!({"region": "ex-1"}),
        json!({"region": "ex-1", "type": "g9-none"}),
        json!({"region": "zz-9", "type": "g6-nanode-1"}),
        json!({"region": "ex-1", "type": "g6-nanode-1", "groups": [4242]}),
    ] {
        assert_eq!(
            operator(&app, Method::POST, "/v1/explain/placement", Some(body.clone())).await.status,
            StatusCode::BAD_REQUEST,
            "{body}"
        );
    }

    // An assignment dry run: a Linode on a host that already holds a member is refused.
    let members = app.get(&format!("/v4/placement/groups/{group}")).await.body["members"].clone();
    let first = operator(&app, Method::GET, &format!("/v1/instances/{}", members[0]["linode_id"]), None).await;
    let neighbour = loop {
        let linode = app.linode("ex-1", "g6-nanode-1", None).await;
        let placed = operator(&app, Method::GET, &format!("/v1/instances/{}", linode["id"]), None).await;
        if placed.body["host"]["id"] == first.body["host"]["id"] {
            break linode;
        }
    };
    let verdict = operator(
        &app,
        Method::POST,
        "/v1/explain/assignment",
        Some(json!({"instance": neighbour["id"], "group": group})),
    )
    .await;
    assert_eq!(verdict.body["verdict"], "refused", "{}", verdict.body);
    assert!(verdict.body["reason"].as_str().unwrap().contains("shares host"));
    assert_eq!(
        app.get(&format!("/v4/placement/groups/{group}")).await.body["members"].as_array().unwrap().len(),
        2,
        "nothing changed"
    );
}

#[tokio::test]
async fn headroom_counts_what_fits_now_and_after_losing_the_worst_host_and_rack() {
    let app = spawn(Setup {
        fleet: Some(FleetSeed { regions: vec![region("hr-1", 2, 4, capacity(8, 32))] }),
        ..Setup::default()
    })
    .await;
    let group = app.group("spread", "hr-1", "anti_affinity:local", "strict").await;
    app.linode("hr-1", "g6-standard-1", Some(group)).await;
    let headroom = operator(&app, Method::GET, &format!("/v1/groups/{group}/headroom?type=g6-standard-1"), None).await;
    assert_eq!(headroom.status, StatusCode::OK, "{}", headroom.body);
    // Four hosts, one per member: three more now. Losing the member's host re-places it on
    // one of the other three, leaving two; losing its rack (two hosts) leaves one.
    assert_eq!(headroom.body["now"], 3, "{}", headroom.body);
    assert_eq!(headroom.body["after_worst_host"], 2);
    assert_eq!(headroom.body["after_worst_rack"], 1);
    assert!(headroom.body["worst_host"]["name"].is_string());
    assert!(headroom.body["worst_rack"].as_str().unwrap().starts_with('r'));
    let limited =
        operator(&app, Method::GET, &format!("/v1/groups/{group}/headroom?vcpus=8&memory_mib=1024"), None).await;
    assert_eq!(limited.body["now"], 3, "a whole host each still fits on the three empty hosts");
    for query in ["", "?type=nope", "?vcpus=2", "?type=g6-nanode-1&vcpus=1&memory_mib=1"] {
        let reply = operator(&app, Method::GET, &format!("/v1/groups/{group}/headroom{query}"), None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
    }
    assert_eq!(
        operator(&app, Method::GET, "/v1/groups/4242/headroom?type=g6-nanode-1", None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn groups_and_instances_of_every_account_show_hosts_compliance_and_reasons() {
    let app = spawn(Setup::default()).await;
    let group = app.group("watched", "us-ord", "anti_affinity:local", "flexible").await;
    let linode = app.linode("us-ord", "g6-nanode-1", Some(group)).await;
    let listed = operator(&app, Method::GET, "/v1/groups?region=us-ord", None).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    let shown = operator(&app, Method::GET, &format!("/v1/groups/{group}"), None).await;
    assert_eq!(shown.body["members"][0]["instance"], linode["id"]);
    assert_eq!(shown.body["members"][0]["is_compliant"], true);
    assert!(shown.body["members"][0]["host"]["name"].as_str().unwrap().starts_with("us-ord-"));
    assert_eq!(shown.body["policy"], "flexible");
    let instances = operator(
        &app,
        Method::GET,
        &format!("/v1/instances?account={}&region=us-ord", app.principal().await.account.0),
        None,
    )
    .await;
    assert_eq!(instances.body.as_array().unwrap().len(), 1);
    assert_eq!(operator(&app, Method::GET, "/v1/instances?account=999", None).await.body, json!([]));
    assert_eq!(operator(&app, Method::GET, "/v1/groups?compliant=maybe", None).await.status, StatusCode::BAD_REQUEST);
}
