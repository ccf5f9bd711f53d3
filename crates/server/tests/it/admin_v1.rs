//! The native operator API (`/v1`): its credential, its routes, and its OpenAPI document.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::spawn_app;

const DOCUMENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/v1.json");

#[test]
fn the_checked_in_openapi_document_matches_the_code() {
    let generated = server::openapi_document();
    if std::env::var_os("BERTH_UPDATE_OPENAPI").is_some() {
        std::fs::write(DOCUMENT, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(DOCUMENT).unwrap_or_default();
    assert!(
        checked_in == generated,
        "openapi/v1.json is out of date: run `BERTH_UPDATE_OPENAPI=1 cargo test -p berth-server --test it admin_v1` \
         and commit the result"
    );
}

#[tokio::test]
async fn the_served_document_is_the_checked_in_one() {
    let app = spawn_app().await;
    let reply = app.request_with(Method::GET, "/v1/openapi.json", None, None, &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    let checked_in: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(DOCUMENT).unwrap()).unwrap();
    assert_eq!(reply.body, checked_in);
}

#[tokio::test]
async fn instances_are_shown_to_the_operator_by_id_or_uuid_with_their_host() {
    let app = spawn_app().await;
    let group = app.group("ops-view", "us-ord", "anti_affinity:local", "strict").await;
    let linode = app.linode("us-ord", "g6-standard-1", Some(group)).await;
    let path = format!("/v1/instances/{}", linode["id"]);
    let by_id = app.request_with(Method::GET, &path, None, Some(&app.operator_token), &[]).await;
    assert_eq!(by_id.status, StatusCode::OK, "{}", by_id.body);
    assert_eq!(by_id.body["region"], "us-ord");
    assert_eq!(by_id.body["state"], "running");
    assert_eq!(by_id.body["host"]["uuid"], linode["host_uuid"]);
    assert_eq!(by_id.body["host"]["region"], "us-ord");
    assert_eq!(by_id.body["target_host"], serde_json::Value::Null);
    assert_eq!(by_id.body["groups"][0]["id"], group);
    assert_eq!(by_id.body["groups"][0]["region"], "us-ord");
    let uuid = by_id.body["uuid"].as_str().unwrap();
    let by_uuid =
        app.request_with(Method::GET, &format!("/v1/instances/{uuid}"), None, Some(&app.operator_token), &[]).await;
    assert_eq!(by_uuid.body, by_id.body);
}

#[tokio::test]
async fn the_operator_api_needs_the_operator_token_and_answers_errors_in_its_format() {
    let app = spawn_app().await;
    let linode = app.linode("us-mia", "g6-nanode-1", None).await;
    let path = format!("/v1/instances/{}", linode["id"]);
    for token in [None, Some(app.token.as_str()), Some("nope")] {
        let reply = app.request_with(Method::GET, &path, None, token, &[]).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(reply.body["error"]["code"], "unauthorized");
    }
    let missing = app.request_with(Method::GET, "/v1/instances/424242", None, Some(&app.operator_token), &[]).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.body, json!({"error": {"code": "not_found", "message": "instance not found"}}));
    let route = app.request_with(Method::GET, "/v1/nothing", None, Some(&app.operator_token), &[]).await;
    assert_eq!(route.status, StatusCode::NOT_FOUND);
    assert_eq!(route.body["error"]["code"], "not_found");
}

#[tokio::test]
async fn every_dialect_reads_its_bearer_credential_the_same_way() {
    let app = spawn_app().await;
    for scheme in ["Bearer", "bearer", "BEARER", "token"] {
        let operator = format!("{scheme} {}", app.operator_token);
        let reply = app.request_with(Method::GET, "/v1/regions", None, None, &[("authorization", &operator)]).await;
        assert_eq!(reply.status, StatusCode::OK, "/v1 with {scheme}: {}", reply.body);
        let linode = format!("{scheme} {}", app.token);
        let reply =
            app.request_with(Method::GET, "/v4/placement/groups", None, None, &[("authorization", &linode)]).await;
        assert_eq!(reply.status, StatusCode::OK, "/v4 with {scheme}: {}", reply.body);
    }
    let basic = format!("Basic {}", app.operator_token);
    let reply = app.request_with(Method::GET, "/v1/regions", None, None, &[("authorization", &basic)]).await;
    assert_eq!((reply.status, reply.body["error"]["code"].clone()), (StatusCode::UNAUTHORIZED, json!("unauthorized")));
}

#[tokio::test]
async fn a_body_the_operator_api_cannot_parse_is_refused_in_its_own_format() {
    let app = spawn_app().await;
    let token = Some(app.operator_token.as_str());
    let wrong = app.request_with(Method::POST, "/v1/regions", Some(json!({"id": 7})), token, &[]).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST, "{}", wrong.body);
    assert_eq!(
        (wrong.body["error"]["code"].clone(), wrong.body["error"]["field"].clone()),
        (json!("invalid_request"), json!("id"))
    );
    let method = app.request_with(Method::DELETE, "/v1/regions", None, token, &[]).await;
    assert_eq!(method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(method.body["error"]["code"], "method_not_allowed");
}
