//! The Linode dialect's companions and edges: regions, types, images, account, profile,
//! firewalls, authentication, and the error format on every path.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::spawn_app;

#[tokio::test]
async fn the_demo_fleet_offers_four_core_regions_with_placement_groups() {
    let app = spawn_app().await;
    let reply = app.request_with(Method::GET, "/v4/regions", None, None, &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "regions are public");
    let regions = reply.body["data"].as_array().unwrap();
    let ids: Vec<&str> = regions.iter().map(|r| r["id"].as_str().unwrap()).collect();
    for id in ["us-mia", "us-ord", "us-east", "eu-central"] {
        assert!(ids.contains(&id), "{id} is missing from {ids:?}");
        let hosts = app.berth.hosts(&berth_core::RegionId::parse(id).unwrap()).await.unwrap();
        assert!(hosts.len() >= 12, "{id} has {} hosts", hosts.len());
        let mut racks: Vec<&str> = hosts.iter().map(|h| h.rack.as_str()).collect();
        racks.sort();
        racks.dedup();
        assert!(racks.len() >= 3, "{id} has racks {racks:?}");
    }
    for region in regions {
        assert!(region["capabilities"].as_array().unwrap().contains(&json!("Placement Group")));
        assert!(region["capabilities"].as_array().unwrap().contains(&json!("Linodes")));
        assert_eq!(region["site_type"], "core");
        assert_eq!(region["status"], "ok");
        assert_eq!(region["placement_group_limits"]["maximum_linodes_per_pg"], 5);
        assert_eq!(region["placement_group_limits"]["maximum_pgs_per_customer"], Value::Null);
    }
    let one = app.get("/v4/regions/us-mia").await;
    assert_eq!(one.body["id"], "us-mia");
    assert_eq!(app.get("/v4/regions/xx-nowhere").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn types_and_images_are_listed_and_filtered() {
    let app = spawn_app().await;
    let types = app.request_with(Method::GET, "/v4/linode/types?page=1&page_size=100", None, None, &[]).await;
    assert_eq!(types.body["data"][0]["id"], "g6-nanode-1");
    assert_eq!(types.body["data"][0]["memory"], 1024);
    assert_eq!(types.body["data"][0]["price"]["monthly"], 5.0);
    assert_eq!(app.get("/v4/linode/types/g6-standard-2").await.body["vcpus"], 2);
    assert_eq!(app.get("/v4/linode/types/g0-none").await.status, StatusCode::NOT_FOUND);

    let public = app
        .request_with(
            Method::GET,
            "/v4/images?page=1&page_size=100",
            None,
            None,
            &[("X-Filter", r#"{"is_public": true}"#)],
        )
        .await;
    assert!(public.body["results"].as_u64().unwrap() >= 1);
    assert!(public.body["data"].as_array().unwrap().iter().all(|i| i["is_public"] == true));
    let private =
        app.request_with(Method::GET, "/v4/images", None, None, &[("X-Filter", r#"{"is_public": false}"#)]).await;
    assert_eq!(private.body["results"], 0);
    assert_eq!(app.get("/v4/images/linode/debian12").await.body["id"], "linode/debian12");
    assert_eq!(app.get("/v4/images/linode/nothing").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn profile_account_grants_and_availability_answer_like_linode() {
    let app = spawn_app().await;
    assert_eq!(app.get("/v4/profile").await.body["username"], "demo");
    assert_eq!(app.get("/v4/profile").await.body["restricted"], false);
    let grants = app.get("/v4/profile/grants").await;
    assert_eq!((grants.status, grants.body), (StatusCode::NO_CONTENT, Value::Null));
    assert!(app.get("/v4/account").await.body["capabilities"].as_array().unwrap().contains(&json!("Placement Group")));
    let availability = app.get("/v4/account/availability").await;
    assert_eq!(availability.body["results"], 6);
}

#[tokio::test]
async fn requests_without_a_valid_token_get_invalid_token() {
    let app = spawn_app().await;
    for token in [None, Some("not-a-real-token"), Some("")] {
        let reply = app.request_with(Method::GET, "/v4/placement/groups", None, token, &[]).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(reply.body, json!({"errors": [{"reason": "Invalid Token"}]}));
    }
    let basic =
        app.request_with(Method::GET, "/v4/profile", None, None, &[("Authorization", "Basic Zm9vOmJhcg==")]).await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
    let reply =
        app.request_with(Method::POST, "/v4/placement/groups", Some(json!({"label": "x"})), Some("nope"), &[]).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_linode_format() {
    let app = spawn_app().await;
    let missing = app.get("/v4/no/such/thing").await;
    assert_eq!((missing.status, missing.reason()), (StatusCode::NOT_FOUND, "Not found"));
    let method = app.request(Method::PATCH, "/v4/placement/groups", Some(json!({}))).await;
    assert_eq!(method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(!method.reason().is_empty());
    let root = app.get("/nothing-here").await;
    assert_eq!(root.status, StatusCode::NOT_FOUND);
    assert!(root.body.is_object());
}

#[tokio::test]
async fn firewalls_are_kept_and_attach_to_linodes() {
    let app = spawn_app().await;
    let body = json!({"label": "cloud_firewall_1", "rules": {"outbound": [], "outbound_policy": "ACCEPT", "inbound": [], "inbound_policy": "DROP"}, "status": "enabled"});
    let created = app.post("/v4/networking/firewalls", body).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert_eq!(created.body["status"], "enabled");
    assert_eq!(created.body["rules"]["inbound_policy"], "DROP");
    let id = created.body["id"].as_i64().unwrap();

    let linode = app
        .post(
            "/v4/linode/instances",
            json!({"type": "g6-nanode-1", "region": "us-mia", "firewall_id": id, "label": "guarded"}),
        )
        .await;
    assert_eq!(linode.status, StatusCode::OK);
    let viewed = app.get(&format!("/v4/networking/firewalls/{id}")).await;
    assert_eq!(viewed.body["entities"][0]["label"], "guarded");
    assert_eq!(app.get(&format!("/v4/networking/firewalls/{id}/devices")).await.body["results"], 1);
    assert_eq!(app.get("/v4/networking/firewalls").await.body["results"], 1);

    for bad in [
        json!({"label": "x", "rules": {"inbound_policy": "DROP", "outbound_policy": "ACCEPT"}}),
        json!({"label": "fw-ok"}),
        json!({"label": "fw-ok", "rules": {"inbound_policy": "MAYBE", "outbound_policy": "ACCEPT"}}),
        json!({"label": "fw-ok", "rules": {"inbound_policy": "DROP", "outbound_policy": "ACCEPT", "inbound": 3}}),
    ] {
        let reply = app.post("/v4/networking/firewalls", bad.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(app.delete(&format!("/v4/networking/firewalls/{id}")).await.body, json!({}));
    assert_eq!(app.get(&format!("/v4/networking/firewalls/{id}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/v4/linode/instances/{}", linode.body["id"])).await.status, StatusCode::OK);
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app().await;
    assert_eq!(app.request_with(Method::GET, "/healthz", None, None, &[]).await.status, StatusCode::OK);
    assert_eq!(app.request_with(Method::GET, "/readyz", None, None, &[]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let reply = app.get("/v4/placement/groups").await;
    assert!(reply.headers.get("x-request-id").is_some());
}

#[tokio::test]
async fn no_malformed_request_to_any_route_gets_a_server_error() {
    let app = spawn_app().await;
    let group = app.group("target", "us-mia", "anti_affinity:local", "flexible").await;
    let linode = app.linode("us-mia", "g6-nanode-1", Some(group)).await["id"].as_i64().unwrap();
    let routes: Vec<(Method, String)> = vec![
        (Method::POST, "/v4/placement/groups".into()),
        (Method::PUT, format!("/v4/placement/groups/{group}")),
        (Method::POST, format!("/v4/placement/groups/{group}/assign")),
        (Method::POST, format!("/v4/placement/groups/{group}/unassign")),
        (Method::POST, "/v4/linode/instances".into()),
        (Method::PUT, format!("/v4/linode/instances/{linode}")),
        (Method::POST, format!("/v4/linode/instances/{linode}/migrate")),
        (Method::POST, "/v4/networking/firewalls".into()),
        (Method::POST, "/v4/placement/groups/99999999999999999999/assign".into()),
        (Method::PUT, "/v4/linode/instances/0".into()),
    ];
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"{}".to_vec(),
        b"[]".to_vec(),
        b"null".to_vec(),
        b"\"text\"".to_vec(),
        b"{\"label\": {\"nested\": 1}, \"region\": [], \"linodes\": [1e300]}".to_vec(),
        b"{\"linodes\": [-1, 0, 9223372036854775807], \"type\": \"\", \"region\": \"\"}".to_vec(),
        b"{\"placement_group\": {\"id\": -5}, \"type\": \"g6-nanode-1\", \"region\": \"us-mia\"}".to_vec(),
        b"{\"label\": \"\\u0000\\u0001\", \"tags\": [\"\\n\"]}".to_vec(),
        b"{\"label\": \"caf\xc3\xa9\"}".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x7b],
        deep.into_bytes(),
    ];
    for (method, path) in &routes {
        for body in &bodies {
            let reply = app.raw(method.clone(), path, body.clone()).await;
            let shown = String::from_utf8_lossy(body);
            assert!(
                reply.status.is_client_error() || reply.status.is_success(),
                "{method} {path} {shown}: {}",
                reply.status
            );
            if reply.status.is_client_error() {
                assert!(!reply.reason().is_empty(), "{method} {path} {shown}");
            }
        }
    }
    for filter in [
        "\u{e9}t\u{e9}",
        "{\"label\": {\"+contains\": 5}}",
        &format!("{}{}", "{\"+and\":[".repeat(100), "]}".repeat(100)),
    ] {
        let reply = app
            .request_with(Method::GET, "/v4/placement/groups", None, Some(&app.token), &[("X-Filter", filter)])
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{filter}");
    }
    app.assert_consistent("us-mia").await;
}

/// Until every region's fleet is in the cache, `/readyz` says the process is loading, so that
/// a load balancer sends it no change that would wait for a large region's load.
#[tokio::test]
async fn readiness_waits_until_the_region_fleets_are_loaded() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = store::testing::fresh_database(dir.path()).await.expect("a fresh database");
    let store = store::Store::open(&url).await.expect("open the store");
    let berth = std::sync::Arc::new(berth_core::Berth::new(store, berth_core::Settings::default()));
    berth.fleet_seed(&server::demo_fleet()).await.expect("seed the fleet");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = format!("http://{}", listener.local_addr().unwrap());
    let router = server::router(berth.clone(), server::Settings::default());
    tokio::spawn(server::serve(listener, router, std::future::pending()));
    let client = reqwest::Client::new();
    let loading = client.get(format!("{address}/readyz")).send().await.unwrap();
    assert_eq!(loading.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = loading.json().await.unwrap();
    assert_eq!(body["status"], "loading", "{body}");
    assert_eq!(berth.fleets_load().await.expect("load the fleets"), server::demo_fleet().regions.len());
    let ready = client.get(format!("{address}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.json::<Value>().await.unwrap()["status"], "ready");
}
