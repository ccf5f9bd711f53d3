//! The Linode dialect's placement groups, end to end over HTTP.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use berth_core::FleetSeed;

use crate::common::{capacity, region, spawn_app, spawn_app_with};

fn group_body(label: &str) -> Value {
    json!({"label": label, "region": "us-mia", "placement_group_type": "anti_affinity:local", "placement_group_policy": "strict"})
}

#[tokio::test]
async fn a_new_group_has_exactly_the_reference_shape() {
    let app = spawn_app().await;
    let reply = app.post("/v4/placement/groups", group_body("web-tier")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let object = reply.body.as_object().unwrap();
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "id",
            "is_compliant",
            "label",
            "members",
            "migrations",
            "placement_group_policy",
            "placement_group_type",
            "region"
        ]
    );
    assert_eq!(reply.body["label"], "web-tier");
    assert_eq!(reply.body["region"], "us-mia");
    assert_eq!(reply.body["placement_group_type"], "anti_affinity:local");
    assert_eq!(reply.body["placement_group_policy"], "strict");
    assert_eq!(reply.body["is_compliant"], true);
    assert_eq!(reply.body["members"], json!([]));
    assert_eq!(reply.body["migrations"], Value::Null);

    let id = reply.body["id"].as_i64().unwrap();
    let viewed = app.get(&format!("/v4/placement/groups/{id}")).await;
    assert_eq!(viewed.body, reply.body);
}

#[tokio::test]
async fn v4_and_v4beta_serve_the_same_groups() {
    let app = spawn_app().await;
    let id = app.group("shared", "us-ord", "anti_affinity:local", "flexible").await;
    let v4 = app.get(&format!("/v4/placement/groups/{id}")).await;
    let beta = app.get(&format!("/v4beta/placement/groups/{id}")).await;
    assert_eq!(v4.status, StatusCode::OK);
    assert_eq!(v4.body, beta.body);
    assert_eq!(app.get("/v4beta/placement/groups").await.body["results"], 1);
}

#[tokio::test]
async fn affinity_groups_are_offered_beyond_linode() {
    let app = spawn_app().await;
    let id = app.group("together", "us-mia", "affinity:local", "strict").await;
    let reply = app.get(&format!("/v4/placement/groups/{id}")).await;
    assert_eq!(reply.body["placement_group_type"], "affinity:local");
}

#[tokio::test]
async fn invalid_group_creations_are_refused_naming_the_field_and_change_nothing() {
    let app = spawn_app().await;
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"region": "us-mia", "placement_group_type": "anti_affinity:local", "placement_group_policy": "strict"}),
            "label",
        ),
        (
            json!({"label": "a", "placement_group_type": "anti_affinity:local", "placement_group_policy": "strict"}),
            "region",
        ),
        (json!({"label": "a", "region": "us-mia", "placement_group_policy": "strict"}), "placement_group_type"),
        (
            json!({"label": "a", "region": "us-mia", "placement_group_type": "anti_affinity:local"}),
            "placement_group_policy",
        ),
        (group_body("-starts-with-dash"), "label"),
        (group_body("has space"), "label"),
        (group_body(&"x".repeat(65)), "label"),
        (group_body(""), "label"),
        (
            json!({"label": 5, "region": "us-mia", "placement_group_type": "anti_affinity:local", "placement_group_policy": "strict"}),
            "label",
        ),
        (
            json!({"label": "a", "region": "xx-nowhere", "placement_group_type": "anti_affinity:local", "placement_group_policy": "strict"}),
            "region",
        ),
        (
            json!({"label": "a", "region": "US MIA", "placement_group_type": "anti_affinity:local", "placement_group_policy": "strict"}),
            "region",
        ),
        (
            json!({"label": "a", "region": "us-mia", "placement_group_type": "anti-affinity:local", "placement_group_policy": "strict"}),
            "placement_group_type",
        ),
        (
            json!({"label": "a", "region": "us-mia", "placement_group_type": "anti_affinity:local", "placement_group_policy": "loose"}),
            "placement_group_policy",
        ),
        (
            json!({"label": "a", "region": "us-mia", "placement_group_type": ["anti_affinity:local"], "placement_group_policy": "strict"}),
            "placement_group_type",
        ),
    ];
    for (body, field) in cases {
        let reply = app.post("/v4/placement/groups", body.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}: {}", reply.body);
        assert_eq!(reply.field(), Some(field), "{body}: {}", reply.body);
        assert!(!reply.reason().is_empty());
    }
    for raw in [&b"{not json"[..], b"[1, 2]", b"\"label\"", b"{\"label\": \"a\"} trailing"] {
        let reply = app.raw(Method::POST, "/v4/placement/groups", raw.to_vec()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", String::from_utf8_lossy(raw));
        assert!(!reply.reason().is_empty());
    }
    let huge = format!("{{\"label\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let reply = app.raw(Method::POST, "/v4/placement/groups", huge.into_bytes()).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(!reply.reason().is_empty());

    assert_eq!(app.get("/v4/placement/groups").await.body["results"], 0);
}

#[tokio::test]
async fn labels_are_unique_among_an_accounts_groups() {
    let app = spawn_app().await;
    app.group("only-one", "us-mia", "anti_affinity:local", "strict").await;
    let reply = app.post("/v4/placement/groups", group_body("only-one")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.field(), Some("label"));
    assert_eq!(app.get("/v4/placement/groups").await.body["results"], 1);
}

#[tokio::test]
async fn update_changes_the_label_and_nothing_else() {
    let app = spawn_app().await;
    let id = app.group("before", "us-mia", "anti_affinity:local", "strict").await;
    let reply = app
        .put(&format!("/v4/placement/groups/{id}"), json!({"label": "after", "placement_group_policy": "flexible"}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["label"], "after");
    assert_eq!(reply.body["placement_group_policy"], "strict");
    let bad = app.put(&format!("/v4/placement/groups/{id}"), json!({"label": "no spaces allowed"})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.field(), Some("label"));
    let missing = app.put(&format!("/v4/placement/groups/{id}"), json!({})).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.get(&format!("/v4/placement/groups/{id}")).await.body["label"], "after");
}

#[tokio::test]
async fn lists_are_paginated_with_the_linode_envelope() {
    let app = spawn_app().await;
    let empty = app.get("/v4/placement/groups").await;
    assert_eq!(empty.body, json!({"data": [], "page": 1, "pages": 1, "results": 0}));
    for n in 0..30 {
        app.group(&format!("pg-{n:02}"), "us-mia", "anti_affinity:local", "flexible").await;
    }
    let all = app.get("/v4/placement/groups").await;
    assert_eq!(all.body["results"], 30);
    assert_eq!(all.body["pages"], 1);
    assert_eq!(all.body["data"].as_array().unwrap().len(), 30);

    let first = app.get("/v4/placement/groups?page_size=25").await;
    assert_eq!((first.body["page"].as_i64(), first.body["pages"].as_i64()), (Some(1), Some(2)));
    assert_eq!(first.body["data"].as_array().unwrap().len(), 25);
    let second = app.get("/v4/placement/groups?page=2&page_size=25").await;
    assert_eq!(second.body["data"].as_array().unwrap().len(), 5);
    assert_eq!(second.body["data"][0]["label"], "pg-25");

    for (query, field) in [
        ("page_size=10", "page_size"),
        ("page_size=501", "page_size"),
        ("page_size=abc", "page_size"),
        ("page=0", "page"),
        ("page=3&page_size=25", "page"),
        ("page=-1", "page"),
        ("page=99999999999999999999999", "page"),
    ] {
        let reply = app.get(&format!("/v4/placement/groups?{query}")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(reply.field(), Some(field), "{query}");
    }
}

#[tokio::test]
async fn single_object_reads_ignore_paging_parameters() {
    let app = spawn_app().await;
    let id = app.group("one", "us-mia", "anti_affinity:local", "strict").await;
    let reply = app.get(&format!("/v4/placement/groups/{id}?page=1&page_size=100")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = app.get(&format!("/v4/placement/groups/{id}?page=7&page_size=3")).await;
    assert_eq!(reply.status, StatusCode::OK);
}

async fn filtered(app: &crate::common::TestApp, filter: &str) -> crate::common::Reply {
    app.request_with(Method::GET, "/v4/placement/groups", None, Some(&app.token), &[("X-Filter", filter)]).await
}

fn labels(reply: &crate::common::Reply) -> Vec<String> {
    reply.body["data"].as_array().unwrap().iter().map(|g| g["label"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn x_filter_selects_and_orders_as_the_clients_send_it() {
    let app = spawn_app().await;
    app.group("alpha", "us-mia", "anti_affinity:local", "strict").await;
    app.group("bravo", "us-ord", "anti_affinity:local", "flexible").await;
    app.group("charlie", "us-mia", "anti_affinity:local", "flexible").await;

    assert_eq!(labels(&filtered(&app, r#"{"label": "bravo"}"#).await), ["bravo"]);
    assert_eq!(
        labels(&filtered(&app, r#"{"region": "us-mia", "+order_by": "label", "+order": "desc"}"#).await),
        ["charlie", "alpha"]
    );
    assert_eq!(
        labels(&filtered(&app, r#"{"+and":[{"region":"us-mia"},{"+order_by":"label","+order":"desc"}]}"#).await),
        ["charlie", "alpha"]
    );
    assert_eq!(
        labels(&filtered(&app, r#"{"+and":[{"label":{"+contains":"ar"}},{"region":"us-mia"}]}"#).await),
        ["charlie"]
    );
    assert_eq!(labels(&filtered(&app, r#"{"+or":[{"label":"alpha"},{"label":"bravo"}]}"#).await), ["alpha", "bravo"]);
    assert_eq!(
        labels(&filtered(&app, r#"{"placement_group_policy": "flexible", "+order_by": "id"}"#).await),
        ["bravo", "charlie"]
    );
    assert_eq!(labels(&filtered(&app, r#"{"id": {"+gte": 2}}"#).await), ["bravo", "charlie"]);
    assert_eq!(
        labels(&filtered(&app, r#"{"is_compliant": true, "label": {"+neq": "alpha"}}"#).await),
        ["bravo", "charlie"]
    );

    let unknown = filtered(&app, r#"{"foo": 1}"#).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.reason(), "Cannot filter on foo");
    assert_eq!(unknown.field(), Some("X-Filter"));
    for bad in [
        r#"{"label": "#,
        "[1]",
        r#"{"+and": 5}"#,
        r#"{"+order_by": "members"}"#,
        r#"{"label": {"+gt": "x", "+bogus": 1}}"#,
    ] {
        let reply = filtered(&app, bad).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(reply.field(), Some("X-Filter"), "{bad}");
    }
}

#[tokio::test]
async fn unknown_and_foreign_groups_are_not_found() {
    let app = spawn_app().await;
    let id = app.group("mine", "us-mia", "anti_affinity:local", "strict").await;
    let other = "another-account-token-0123456789";
    app.berth.account_seed("other", "someone", "someone@example.com", other).await.unwrap();
    for path in ["/v4/placement/groups/999", "/v4/placement/groups/abc", "/v4/placement/groups/-1"] {
        let reply = app.get(path).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.reason(), "Not found");
    }
    let path = format!("/v4/placement/groups/{id}");
    for method in [Method::GET, Method::DELETE] {
        let reply = app.request_with(method.clone(), &path, None, Some(other), &[]).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method}");
    }
    let reply = app.request_with(Method::PUT, &path, Some(json!({"label": "stolen"})), Some(other), &[]).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let listed = app.request_with(Method::GET, "/v4/placement/groups", None, Some(other), &[]).await;
    assert_eq!(listed.body["results"], 0);
    assert_eq!(app.get(&path).await.body["label"], "mine");
}

#[tokio::test]
async fn a_group_with_members_cannot_be_deleted_until_they_leave() {
    let app = spawn_app().await;
    let id = app.group("busy", "us-mia", "anti_affinity:local", "strict").await;
    let linode = app.linode("us-mia", "g6-nanode-1", Some(id)).await;
    let reply = app.delete(&format!("/v4/placement/groups/{id}")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.reason().contains("member"), "{}", reply.reason());
    assert_eq!(app.get(&format!("/v4/placement/groups/{id}")).await.status, StatusCode::OK);

    // Deleting the Linode releases its membership, as the SDK's teardown relies on.
    let deleted = app.delete(&format!("/v4/linode/instances/{}", linode["id"])).await;
    assert_eq!(deleted.body, json!({}));
    let reply = app.delete(&format!("/v4/placement/groups/{id}")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, json!({}));
    assert_eq!(app.get(&format!("/v4/placement/groups/{id}")).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn assign_and_unassign_keep_both_sides_consistent() {
    let app = spawn_app().await;
    let id = app.group("pair", "us-mia", "anti_affinity:local", "strict").await;
    let linode = app.linode("us-mia", "g6-nanode-1", None).await;
    let lid = linode["id"].as_i64().unwrap();
    assert_eq!(linode["placement_group"], Value::Null);

    let assigned = app
        .post(&format!("/v4/placement/groups/{id}/assign"), json!({"linodes": [lid], "compliant_only": false}))
        .await;
    assert_eq!(assigned.status, StatusCode::OK, "{}", assigned.body);
    assert_eq!(assigned.body["members"], json!([{"linode_id": lid, "is_compliant": true}]));
    let viewed = app.get(&format!("/v4/linode/instances/{lid}")).await;
    assert_eq!(viewed.body["placement_group"]["id"], id);
    assert_eq!(viewed.body["placement_group"]["label"], "pair");
    assert_eq!(viewed.body["placement_group"]["migrating_to"], Value::Null);

    let again = app.post(&format!("/v4/placement/groups/{id}/assign"), json!({"linodes": [lid]})).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);

    let unassigned = app.post(&format!("/v4/placement/groups/{id}/unassign"), json!({"linodes": [lid]})).await;
    assert_eq!(unassigned.status, StatusCode::OK);
    assert_eq!(unassigned.body["members"], json!([]));
    assert_eq!(app.get(&format!("/v4/linode/instances/{lid}")).await.body["placement_group"], Value::Null);

    let not_member = app.post(&format!("/v4/placement/groups/{id}/unassign"), json!({"linodes": [lid]})).await;
    assert_eq!(not_member.status, StatusCode::BAD_REQUEST);
    assert_eq!(not_member.field(), Some("linodes"));
    app.assert_consistent("us-mia").await;
}

#[tokio::test]
async fn assign_refuses_bad_lists_other_regions_and_a_second_group() {
    let app = spawn_app().await;
    let first = app.group("first", "us-mia", "anti_affinity:local", "flexible").await;
    let second = app.group("second", "us-mia", "anti_affinity:local", "flexible").await;
    let elsewhere = app.group("elsewhere", "us-ord", "anti_affinity:local", "flexible").await;
    let linode = app.linode("us-mia", "g6-nanode-1", Some(first)).await;
    let lid = linode["id"].as_i64().unwrap();

    for (group, body) in [
        (second, json!({"linodes": [lid]})),
        (elsewhere, json!({"linodes": [lid]})),
        (second, json!({"linodes": []})),
        (second, json!({})),
        (second, json!({"linodes": ["one"]})),
        (second, json!({"linodes": [424242]})),
        (second, json!({"linodes": lid})),
    ] {
        let reply = app.post(&format!("/v4/placement/groups/{group}/assign"), body.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}: {}", reply.body);
        assert!(reply.field().unwrap_or_default().starts_with("linodes"), "{body}: {}", reply.body);
    }
    assert_eq!(app.get(&format!("/v4/placement/groups/{second}")).await.body["members"], json!([]));
    assert_eq!(app.get(&format!("/v4/linode/instances/{lid}")).await.body["placement_group"]["id"], first);
}

/// Two Linodes on one host, made so through an affinity group, then freed of it.
async fn two_linodes_on_one_host(app: &crate::common::TestApp) -> (i64, i64) {
    let together = app.group("together", "us-mia", "affinity:local", "strict").await;
    let a = app.linode("us-mia", "g6-nanode-1", Some(together)).await;
    let b = app.linode("us-mia", "g6-nanode-1", Some(together)).await;
    assert_eq!(a["host_uuid"], b["host_uuid"], "an affinity group keeps its members on one host");
    let (a, b) = (a["id"].as_i64().unwrap(), b["id"].as_i64().unwrap());
    let reply = app.post(&format!("/v4/placement/groups/{together}/unassign"), json!({"linodes": [a, b]})).await;
    assert_eq!(reply.status, StatusCode::OK);
    (a, b)
}

#[tokio::test]
async fn a_strict_group_refuses_an_assignment_that_would_break_it() {
    let app = spawn_app().await;
    let (a, b) = two_linodes_on_one_host(&app).await;
    let strict = app.group("apart", "us-mia", "anti_affinity:local", "strict").await;
    let reply = app.post(&format!("/v4/placement/groups/{strict}/assign"), json!({"linodes": [a, b]})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.field(), Some("linodes"));
    assert!(
        reply.reason().contains(&format!("Linode {b} cannot join strict placement group {strict}")),
        "{}",
        reply.reason()
    );
    assert!(reply.reason().contains("shares host"), "{}", reply.reason());
    // All or nothing: the first Linode, which fitted, did not join either.
    assert_eq!(app.get(&format!("/v4/placement/groups/{strict}")).await.body["members"], json!([]));
}

#[tokio::test]
async fn a_flexible_group_accepts_the_assignment_and_the_later_joiner_is_non_compliant() {
    let app = spawn_app().await;
    let (a, b) = two_linodes_on_one_host(&app).await;
    let flexible = app.group("loose", "us-mia", "anti_affinity:local", "flexible").await;

    let refused = app
        .post(&format!("/v4/placement/groups/{flexible}/assign"), json!({"linodes": [a, b], "compliant_only": true}))
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "compliant_only refuses a breaking assignment");

    let first = app.post(&format!("/v4/placement/groups/{flexible}/assign"), json!({"linodes": [a]})).await;
    assert_eq!(first.body["is_compliant"], true);
    let second = app.post(&format!("/v4/placement/groups/{flexible}/assign"), json!({"linodes": [b]})).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.body["is_compliant"], false);
    assert_eq!(
        second.body["members"],
        json!([{"linode_id": a, "is_compliant": true}, {"linode_id": b, "is_compliant": false}])
    );
    let listed = app.get("/v4/placement/groups").await;
    let listed = listed.body["data"].as_array().unwrap().iter().find(|g| g["id"] == flexible).unwrap().clone();
    assert_eq!(listed["is_compliant"], false);

    // Compliance is derived from placements: when the later joiner leaves, the group is whole.
    let reply = app.post(&format!("/v4/placement/groups/{flexible}/unassign"), json!({"linodes": [b]})).await;
    assert_eq!(reply.body["is_compliant"], true);
}

#[tokio::test]
async fn a_regions_member_limit_is_enforced() {
    let app = spawn_app().await;
    let id = app.group("five", "us-east", "anti_affinity:local", "flexible").await;
    for _ in 0..5 {
        app.linode("us-east", "g6-nanode-1", Some(id)).await;
    }
    let sixth = app
        .post(
            "/v4/linode/instances",
            json!({"type": "g6-nanode-1", "region": "us-east", "placement_group": {"id": id}}),
        )
        .await;
    assert_eq!(sixth.status, StatusCode::BAD_REQUEST);
    assert!(sixth.reason().contains("at most 5"), "{}", sixth.reason());
    let spare = app.linode("us-east", "g6-nanode-1", None).await;
    let reply = app.post(&format!("/v4/placement/groups/{id}/assign"), json!({"linodes": [spare["id"]]})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.get("/v4/linode/instances").await.body["results"], 6);
}

#[tokio::test]
async fn members_of_a_strict_group_land_on_distinct_hosts_until_none_is_left() {
    let mut seed = region("tiny-1", 1, 3, capacity(16, 64));
    seed.max_members_per_group = 10;
    let app = spawn_app_with(FleetSeed { regions: vec![seed] }).await;
    let id = app.group("spread", "tiny-1", "anti_affinity:local", "strict").await;
    let mut hosts = Vec::new();
    for _ in 0..3 {
        hosts.push(app.linode("tiny-1", "g6-nanode-1", Some(id)).await["host_uuid"].as_str().unwrap().to_string());
    }
    hosts.sort();
    hosts.dedup();
    assert_eq!(hosts.len(), 3);

    let fourth = app
        .post("/v4/linode/instances", json!({"type": "g6-nanode-1", "region": "tiny-1", "placement_group": {"id": id}}))
        .await;
    assert_eq!(fourth.status, StatusCode::BAD_REQUEST);
    assert_eq!(fourth.field(), Some("placement_group.id"));
    assert!(
        fourth.reason().ends_with(&format!("0 of 3 hosts: 3 hold a member of group {id} (spread)")),
        "{}",
        fourth.reason()
    );
    assert_eq!(app.get("/v4/linode/instances").await.body["results"], 3);
    app.assert_consistent("tiny-1").await;
}

#[tokio::test]
async fn deleting_a_group_refuses_while_members_remain_and_reports_group_compliance() {
    let app = spawn_app().await;
    let (a, b) = two_linodes_on_one_host(&app).await;
    let flexible = app.group("messy", "us-mia", "anti_affinity:local", "flexible").await;
    app.post(&format!("/v4/placement/groups/{flexible}/assign"), json!({"linodes": [a]})).await;
    app.post(&format!("/v4/placement/groups/{flexible}/assign"), json!({"linodes": [b]})).await;
    let reply = app.delete(&format!("/v4/placement/groups/{flexible}")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.get(&format!("/v4/placement/groups/{flexible}")).await.status, StatusCode::OK);
}
