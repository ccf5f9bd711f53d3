//! The Linode dialect's instances: placement onto real hosts, capacity, deletion and migration.

use berth_core::{FleetSeed, RegionId};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{capacity, region, spawn_app, spawn_app_with};

async fn host_usage(app: &crate::common::TestApp, region: &str) -> Vec<(String, u32, u64)> {
    let hosts = app.berth.hosts(&RegionId::parse(region).unwrap()).await.unwrap();
    hosts.into_iter().map(|h| (h.uuid, h.used.vcpus, h.used.memory_mib)).collect()
}

#[tokio::test]
async fn a_new_linode_runs_on_a_host_of_its_region_holding_its_size() {
    let app = spawn_app().await;
    let linode = app.linode("us-ord", "g6-standard-2", None).await;
    assert_eq!(linode["status"], "running");
    assert_eq!(linode["region"], "us-ord");
    assert_eq!(linode["type"], "g6-standard-2");
    assert_eq!(linode["specs"]["vcpus"], 2);
    assert_eq!(linode["specs"]["memory"], 4096);
    assert_eq!(linode["placement_group"], Value::Null);
    let host = linode["host_uuid"].as_str().unwrap();
    let usage = host_usage(&app, "us-ord").await;
    let (_, vcpus, memory) = usage.iter().find(|(uuid, _, _)| uuid == host).expect("the host is in us-ord");
    assert_eq!((*vcpus, *memory), (2, 4096));
    assert_eq!(usage.iter().map(|(_, v, _)| v).sum::<u32>(), 2);

    let viewed = app.get(&format!("/v4/linode/instances/{}", linode["id"])).await;
    assert_eq!(viewed.body, linode);
    let listed = app.get("/v4/linode/instances").await;
    assert_eq!(listed.body["results"], 1);
    assert_eq!(listed.body["data"][0], linode);
}

#[tokio::test]
async fn a_linode_created_into_a_group_is_its_member_at_once() {
    let app = spawn_app().await;
    let id = app.group("created-into", "us-mia", "anti_affinity:local", "flexible").await;
    let linode = app.linode("us-mia", "g6-nanode-1", Some(id)).await;
    assert_eq!(
        linode["placement_group"],
        json!({"id": id, "label": "created-into", "placement_group_type": "anti_affinity:local",
               "placement_group_policy": "flexible", "migrating_to": null})
    );
    let group = app.get(&format!("/v4/placement/groups/{id}")).await;
    assert_eq!(group.body["members"], json!([{"linode_id": linode["id"], "is_compliant": true}]));
}

#[tokio::test]
async fn invalid_linode_creations_are_refused_naming_the_field_and_change_nothing() {
    let app = spawn_app().await;
    let other_region = app.group("ord-group", "us-ord", "anti_affinity:local", "strict").await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"region": "us-mia"}), "type"),
        (json!({"type": "g6-nanode-1"}), "region"),
        (json!({"type": "g6-huge-999", "region": "us-mia"}), "type"),
        (json!({"type": "g6-nanode-1", "region": "xx-nowhere"}), "region"),
        (json!({"type": "g6-nanode-1", "region": "us-mia", "label": "a"}), "label"),
        (json!({"type": "g6-nanode-1", "region": "us-mia", "label": "bad--label"}), "label"),
        (json!({"type": "g6-nanode-1", "region": "us-mia", "image": "linode/debian12"}), "root_pass"),
        (
            json!({"type": "g6-nanode-1", "region": "us-mia", "image": "linode/nothing", "root_pass": "aComplex@Password123"}),
            "image",
        ),
        (json!({"type": "g6-nanode-1", "region": "us-mia", "placement_group": {"id": 987654}}), "placement_group.id"),
        (json!({"type": "g6-nanode-1", "region": "us-mia", "placement_group": {}}), "placement_group.id"),
        (json!({"type": "g6-nanode-1", "region": "us-mia", "placement_group": {"id": "x"}}), "placement_group.id"),
        (
            json!({"type": "g6-nanode-1", "region": "us-mia", "placement_group": {"id": other_region}}),
            "placement_group.id",
        ),
        (json!({"type": "g6-nanode-1", "region": "us-mia", "firewall_id": 4242}), "firewall_id"),
        (json!({"type": "g6-nanode-1", "region": "us-mia", "tags": "one"}), "tags"),
        (json!({"type": "g6-nanode-1", "region": "us-mia", "booted": "yes"}), "booted"),
        (json!({"type": 1, "region": "us-mia"}), "type"),
    ];
    for (body, field) in cases {
        let reply = app.post("/v4/linode/instances", body.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}: {}", reply.body);
        assert_eq!(reply.field(), Some(field), "{body}: {}", reply.body);
    }
    assert_eq!(app.get("/v4/linode/instances").await.body["results"], 0);
    assert!(host_usage(&app, "us-mia").await.iter().all(|(_, v, m)| *v == 0 && *m == 0));
}

#[tokio::test]
async fn linode_labels_are_unique_and_generated_when_absent() {
    let app = spawn_app().await;
    let reply =
        app.post("/v4/linode/instances", json!({"type": "g6-nanode-1", "region": "us-mia", "label": "web-1"})).await;
    assert_eq!(reply.status, StatusCode::OK);
    let again =
        app.post("/v4/linode/instances", json!({"type": "g6-nanode-1", "region": "us-mia", "label": "web-1"})).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.field(), Some("label"));
    let generated = app.linode("us-mia", "g6-nanode-1", None).await;
    assert!(generated["label"].as_str().unwrap().len() >= 3);
    assert_eq!(app.get("/v4/linode/instances").await.body["results"], 2);
}

#[tokio::test]
async fn a_full_region_refuses_a_linode_with_the_reason_and_keeps_capacity_exact() {
    let app = spawn_app_with(FleetSeed { regions: vec![region("small-1", 2, 2, capacity(2, 8))] }).await;
    app.linode("small-1", "g6-standard-2", None).await;
    app.linode("small-1", "g6-standard-2", None).await;
    let reply = app.post("/v4/linode/instances", json!({"type": "g6-standard-2", "region": "small-1"})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.reason().ends_with("0 of 2 hosts: 2 lack vCPUs"), "{}", reply.reason());
    // A smaller plan still fits nowhere: every vCPU is taken.
    let usage = host_usage(&app, "small-1").await;
    assert!(usage.iter().all(|(_, vcpus, _)| *vcpus == 2), "{usage:?}");
    app.assert_consistent("small-1").await;
}

#[tokio::test]
async fn deleting_a_linode_releases_its_capacity_and_its_membership() {
    let app = spawn_app().await;
    let id = app.group("temp", "us-mia", "anti_affinity:local", "strict").await;
    let linode = app.linode("us-mia", "g6-standard-4", Some(id)).await;
    let reply = app.delete(&format!("/v4/linode/instances/{}", linode["id"])).await;
    assert_eq!((reply.status, reply.body), (StatusCode::OK, json!({})));
    assert!(host_usage(&app, "us-mia").await.iter().all(|(_, v, m)| *v == 0 && *m == 0));
    assert_eq!(app.get(&format!("/v4/placement/groups/{id}")).await.body["members"], json!([]));
    assert_eq!(app.get(&format!("/v4/linode/instances/{}", linode["id"])).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.delete(&format!("/v4/linode/instances/{}", linode["id"])).await.status, StatusCode::NOT_FOUND);
    app.assert_consistent("us-mia").await;
}

#[tokio::test]
async fn update_changes_label_and_tags() {
    let app = spawn_app().await;
    let linode = app.linode("us-mia", "g6-nanode-1", None).await;
    let path = format!("/v4/linode/instances/{}", linode["id"]);
    let reply = app.put(&path, json!({"label": "renamed", "tags": ["web", "prod"]})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["label"], "renamed");
    assert_eq!(reply.body["tags"], json!(["web", "prod"]));
    let bad = app.put(&path, json!({"label": "x"})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.get(&path).await.body["label"], "renamed");
}

#[tokio::test]
async fn migrating_into_a_group_of_another_region_shows_at_once_and_completes() {
    let app = spawn_app().await;
    let source = app.group("outbound", "us-mia", "anti_affinity:local", "flexible").await;
    let target = app.group("inbound", "us-ord", "anti_affinity:local", "flexible").await;
    let linode = app.linode("us-mia", "g6-nanode-1", Some(source)).await;
    let lid = linode["id"].as_i64().unwrap();
    let path = format!("/v4/linode/instances/{lid}");

    let reply = app
        .post(
            &format!("{path}/migrate"),
            json!({"region": "us-ord", "type": "cold", "placement_group": {"id": target}}),
        )
        .await;
    assert_eq!((reply.status, reply.body.clone()), (StatusCode::OK, json!({})), "{}", reply.body);

    let inbound = app.get(&format!("/v4/placement/groups/{target}")).await;
    let outbound = app.get(&format!("/v4/placement/groups/{source}")).await;
    assert_eq!(inbound.body["migrations"], json!({"inbound": [{"linode_id": lid}]}));
    assert_eq!(outbound.body["migrations"], json!({"outbound": [{"linode_id": lid}]}));
    assert_eq!(inbound.body["members"][0]["linode_id"], lid, "a migrating Linode is a member of both groups");
    assert_eq!(outbound.body["members"][0]["linode_id"], lid);
    let moving = app.get(&path).await;
    assert_eq!(moving.body["status"], "migrating");
    assert_eq!(moving.body["placement_group"]["id"], source);
    assert_eq!(moving.body["placement_group"]["migrating_to"], target);
    assert_eq!(moving.body["host_uuid"], linode["host_uuid"]);
    app.assert_consistent("us-mia").await;
    app.assert_consistent("us-ord").await;

    let busy = app.post(&format!("{path}/migrate"), json!({"region": "us-east"})).await;
    assert_eq!(busy.status, StatusCode::BAD_REQUEST);
    assert_eq!(busy.reason(), "Linode busy.");

    let done = app.wait_for(&path, |l| l["status"] == "running").await;
    assert_eq!(done["region"], "us-ord");
    assert_eq!(done["placement_group"]["id"], target);
    assert_eq!(done["placement_group"]["migrating_to"], Value::Null);
    assert_ne!(done["host_uuid"], linode["host_uuid"]);
    let inbound = app.get(&format!("/v4/placement/groups/{target}")).await;
    let outbound = app.get(&format!("/v4/placement/groups/{source}")).await;
    assert_eq!(inbound.body["migrations"], Value::Null);
    assert_eq!(outbound.body["migrations"], Value::Null);
    assert_eq!(outbound.body["members"], json!([]));
    assert!(host_usage(&app, "us-mia").await.iter().all(|(_, v, _)| *v == 0));
    assert_eq!(host_usage(&app, "us-ord").await.iter().map(|(_, v, _)| v).sum::<u32>(), 1);
    app.assert_consistent("us-mia").await;
    app.assert_consistent("us-ord").await;
}

#[tokio::test]
async fn migrating_within_a_region_moves_the_linode_to_another_host() {
    let app = spawn_app().await;
    let id = app.group("stay", "us-mia", "anti_affinity:local", "strict").await;
    let linode = app.linode("us-mia", "g6-nanode-1", Some(id)).await;
    let path = format!("/v4/linode/instances/{}", linode["id"]);
    let reply = app.post(&format!("{path}/migrate"), json!({})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    // Capacity is held on both hosts while the move runs.
    assert_eq!(host_usage(&app, "us-mia").await.iter().map(|(_, v, _)| v).sum::<u32>(), 2);
    let done = app.wait_for(&path, |l| l["status"] == "running").await;
    assert_ne!(done["host_uuid"], linode["host_uuid"]);
    assert_eq!(done["placement_group"]["id"], id);
    assert_eq!(host_usage(&app, "us-mia").await.iter().map(|(_, v, _)| v).sum::<u32>(), 1);
    app.assert_consistent("us-mia").await;
}

#[tokio::test]
async fn deleting_a_migrating_linode_cancels_the_move_and_frees_both_hosts() {
    let app = spawn_app().await;
    let source = app.group("leaving", "us-mia", "anti_affinity:local", "flexible").await;
    let target = app.group("arriving", "us-ord", "anti_affinity:local", "flexible").await;
    let linode = app.linode("us-mia", "g6-nanode-1", Some(source)).await;
    let path = format!("/v4/linode/instances/{}", linode["id"]);
    app.post(&format!("{path}/migrate"), json!({"region": "us-ord", "placement_group": {"id": target}})).await;
    assert_eq!(app.delete(&path).await.status, StatusCode::OK);
    for group in [source, target] {
        let reply = app.get(&format!("/v4/placement/groups/{group}")).await;
        assert_eq!(reply.body["members"], json!([]));
        assert_eq!(reply.body["migrations"], Value::Null);
        assert_eq!(app.delete(&format!("/v4/placement/groups/{group}")).await.status, StatusCode::OK);
    }
    assert!(host_usage(&app, "us-mia").await.iter().all(|(_, v, _)| *v == 0));
    assert!(host_usage(&app, "us-ord").await.iter().all(|(_, v, _)| *v == 0));
    // The background worker finds nothing left to complete.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    app.assert_consistent("us-mia").await;
    app.assert_consistent("us-ord").await;
}

#[tokio::test]
async fn invalid_migrations_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let elsewhere = app.group("elsewhere", "us-ord", "anti_affinity:local", "strict").await;
    let linode = app.linode("us-mia", "g6-nanode-1", None).await;
    let path = format!("/v4/linode/instances/{}/migrate", linode["id"]);
    for (body, field) in [
        (json!({"region": "xx-nowhere"}), "region"),
        (json!({"type": "hot"}), "type"),
        (json!({"placement_group": {"id": elsewhere}}), "placement_group.id"),
        (json!({"region": "us-mia", "placement_group": {"id": 31337}}), "placement_group.id"),
        (json!({"placement_group": {"compliant_only": true}}), "placement_group.id"),
    ] {
        let reply = app.post(&path, body.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}: {}", reply.body);
        assert_eq!(reply.field(), Some(field), "{body}");
    }
    assert_eq!(app.get(&format!("/v4/linode/instances/{}", linode["id"])).await.body, linode);
}

#[tokio::test]
async fn concurrent_creates_into_strict_groups_never_break_them_or_overcommit_a_host() {
    let mut seed = region("race-1", 2, 4, capacity(2, 8));
    seed.max_members_per_group = 10;
    let app = spawn_app_with(FleetSeed { regions: vec![seed] }).await;
    let groups = [
        app.group("race-a", "race-1", "anti_affinity:local", "strict").await,
        app.group("race-b", "race-1", "anti_affinity:local", "strict").await,
    ];
    let mut tasks = Vec::new();
    for n in 0..24 {
        let client = app.client.clone();
        let url = format!("{}/v4/linode/instances", app.address);
        let token = app.token.clone();
        let group = groups[n % 2];
        tasks.push(tokio::spawn(async move {
            let response = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"type": "g6-standard-1", "region": "race-1", "placement_group": {"id": group}}))
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            (status, body)
        }));
    }
    let mut created = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            StatusCode::OK => created += 1,
            StatusCode::BAD_REQUEST => {
                let reason = body["errors"][0]["reason"].as_str().unwrap();
                assert!(reason.contains("hosts:"), "a refusal says why: {reason}");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    // Four hosts of two vCPUs, one-vCPU Linodes, two groups of at most one member per host.
    assert_eq!(created, 8);
    for group in groups {
        let reply = app.get(&format!("/v4/placement/groups/{group}")).await;
        assert_eq!(reply.body["members"].as_array().unwrap().len(), 4);
        assert_eq!(reply.body["is_compliant"], true);
    }
    app.assert_consistent("race-1").await;
}

#[tokio::test]
async fn of_concurrent_creates_with_one_label_exactly_one_wins_and_the_others_hear_why() {
    let app = spawn_app().await;
    let mut tasks = Vec::new();
    for n in 0..12 {
        let client = app.client.clone();
        let url = format!("{}/v4/linode/instances", app.address);
        let token = app.token.clone();
        // Half want the contested label; the others a label of their own, which never waits.
        let label = if n % 2 == 0 { "contested".to_string() } else { format!("own-{n}") };
        tasks.push(tokio::spawn(async move {
            let response = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"type": "g6-nanode-1", "region": "us-mia", "label": label}))
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            (status, body)
        }));
    }
    let (mut won, mut refused) = (0, 0);
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            StatusCode::OK => won += 1,
            StatusCode::BAD_REQUEST => {
                assert_eq!(body["errors"][0]["field"], "label", "{body}");
                assert!(body["errors"][0]["reason"].as_str().unwrap().contains("unique"), "{body}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((won, refused), (7, 5), "one contested create and the six others win");
    let listed = app.get("/v4/linode/instances?page_size=500").await;
    let contested = listed.body["data"].as_array().unwrap().iter().filter(|l| l["label"] == "contested").count();
    assert_eq!(contested, 1);
}

/// A list without `X-Filter` is cut into pages where it is read; its pages say the same as a
/// filtered list's would.
#[tokio::test]
async fn the_linode_list_pages_in_id_order_with_and_without_a_filter() {
    let app = spawn_app().await;
    let mut made = Vec::new();
    for _ in 0..27 {
        made.push(app.linode("us-ord", "g6-nanode-1", None).await["id"].as_i64().unwrap());
    }
    made.sort_unstable();
    let ids =
        |body: &Value| body["data"].as_array().unwrap().iter().map(|l| l["id"].as_i64().unwrap()).collect::<Vec<_>>();
    let first = app.get("/v4/linode/instances?page_size=25").await;
    assert_eq!(
        (first.body["page"].as_i64(), first.body["pages"].as_i64(), first.body["results"].as_i64()),
        (Some(1), Some(2), Some(27))
    );
    assert_eq!(ids(&first.body), made[..25]);
    let second = app.get("/v4/linode/instances?page=2&page_size=25").await;
    assert_eq!(ids(&second.body), made[25..]);
    let beyond = app.get("/v4/linode/instances?page=3&page_size=25").await;
    assert_eq!(beyond.status, StatusCode::BAD_REQUEST, "{}", beyond.body);
    assert_eq!(beyond.body["errors"][0]["field"], "page");
    let filtered = app
        .request_with(
            reqwest::Method::GET,
            "/v4/linode/instances?page=2&page_size=25",
            None,
            Some(&app.token),
            &[("X-Filter", r#"{"region": "us-ord"}"#)],
        )
        .await;
    assert_eq!(
        (filtered.body["pages"].as_i64(), filtered.body["results"].as_i64()),
        (Some(2), Some(27)),
        "{}",
        filtered.body
    );
    assert_eq!(ids(&filtered.body), made[25..]);
}

/// A filter that names the label or region of every Linode it wants is answered from those
/// Linodes alone, and says what the same filter over the whole list would.
#[tokio::test]
async fn a_filter_by_label_or_region_finds_what_the_whole_list_would() {
    let app = spawn_app().await;
    let ord = app.linode("us-ord", "g6-nanode-1", None).await;
    app.linode("us-mia", "g6-nanode-1", None).await;
    let label = ord["label"].as_str().unwrap();
    let filtered = |filter: String| {
        let app = &app;
        async move {
            app.request_with(
                reqwest::Method::GET,
                "/v4/linode/instances",
                None,
                Some(&app.token),
                &[("X-Filter", &filter)],
            )
            .await
        }
    };
    let by_label = filtered(format!(r#"{{"label": "{label}"}}"#)).await;
    assert_eq!(by_label.body["results"], 1, "{}", by_label.body);
    assert_eq!(by_label.body["data"][0]["id"], ord["id"]);
    let by_region = filtered(r#"{"region": "us-ord", "+order_by": "id"}"#.to_string()).await;
    assert_eq!(by_region.body["results"], 1, "{}", by_region.body);
    let both = filtered(format!(r#"{{"+and": [{{"region": "us-mia"}}, {{"label": "{label}"}}]}}"#)).await;
    assert_eq!(both.body["results"], 0, "{}", both.body);
    let by_id = filtered(format!(r#"{{"id": {}, "label": {{"+contains": "linode"}}}}"#, ord["id"])).await;
    assert_eq!(by_id.body["results"], 1, "{}", by_id.body);
    let either = filtered(r#"{"+or": [{"region": "us-ord"}, {"region": "us-mia"}]}"#.to_string()).await;
    assert_eq!(either.body["results"], 2, "{}", either.body);
}
