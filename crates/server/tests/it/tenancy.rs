//! Tenancy end to end: the operator's tenancy API, scopes, grants of restricted users,
//! credential expiry and revocation, rate limits, and the audit trail.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{exo_authorization, expires_soon, spawn_app, spawn_app_with_settings};

/// Calls `/v1` with the operator's token.
async fn operator(
    app: &crate::common::TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> crate::common::Reply {
    app.request_with(method, path, body, Some(&app.operator_token), &[]).await
}

/// Creates a user through `/v1` and a token for it; returns (user id, token).
async fn user_with_token(
    app: &crate::common::TestApp,
    username: &str,
    restricted: bool,
    scopes: &str,
) -> (i64, String) {
    let account = app.principal().await.account.0;
    let user = operator(
        app,
        Method::POST,
        &format!("/v1/accounts/{account}/users"),
        Some(json!({"username": username, "email": format!("{username}@example.com"), "restricted": restricted})),
    )
    .await;
    assert_eq!(user.status, StatusCode::CREATED, "{}", user.body);
    let id = user.body["id"].as_i64().unwrap();
    let token = operator(
        app,
        Method::POST,
        &format!("/v1/accounts/{account}/users/{id}/tokens"),
        Some(json!({"label": "test", "scopes": scopes})),
    )
    .await;
    assert_eq!(token.status, StatusCode::CREATED, "{}", token.body);
    (id, token.body["token"].as_str().unwrap().to_string())
}

async fn set_grants(app: &crate::common::TestApp, user: i64, grants: Value) -> crate::common::Reply {
    let account = app.principal().await.account.0;
    operator(app, Method::PUT, &format!("/v1/accounts/{account}/users/{user}/grants"), Some(grants)).await
}

#[tokio::test]
async fn the_operator_creates_accounts_users_tokens_and_keys_and_secrets_are_shown_once() {
    let app = spawn_app().await;
    let account = operator(&app, Method::POST, "/v1/accounts", Some(json!({"name": "acme"}))).await;
    assert_eq!(account.status, StatusCode::CREATED, "{}", account.body);
    let id = account.body["id"].as_i64().unwrap();
    assert_eq!(operator(&app, Method::GET, &format!("/v1/accounts/{id}"), None).await.body["name"], "acme");
    let listed = operator(&app, Method::GET, "/v1/accounts", None).await;
    assert!(listed.body.as_array().unwrap().iter().any(|a| a["name"] == "acme"));

    let user = operator(
        &app,
        Method::POST,
        &format!("/v1/accounts/{id}/users"),
        Some(json!({"username": "wile", "email": "wile@acme.example"})),
    )
    .await;
    assert_eq!(user.status, StatusCode::CREATED);
    assert_eq!(user.body["restricted"], false);
    let user_id = user.body["id"].as_i64().unwrap();
    let token = operator(
        &app,
        Method::POST,
        &format!("/v1/accounts/{id}/users/{user_id}/tokens"),
        Some(json!({"label": "ci", "scopes": "linodes:read_write"})),
    )
    .await;
    assert_eq!(token.status, StatusCode::CREATED);
    let secret = token.body["token"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 64);
    assert_eq!(token.body["scopes"], "linodes:read_write");
    let tokens = operator(&app, Method::GET, &format!("/v1/accounts/{id}/users/{user_id}/tokens"), None).await;
    assert_eq!(tokens.body.as_array().unwrap().len(), 1);
    assert!(tokens.body[0].get("token").is_none(), "a token's secret is shown only at its creation");

    // The new account's token works in its own, empty account.
    let groups = app.request_with(Method::GET, "/v4/placement/groups", None, Some(&secret), &[]).await;
    assert_eq!(groups.status, StatusCode::OK);
    assert_eq!(groups.body["results"], 0);

    let key = operator(
        &app,
        Method::POST,
        &format!("/v1/accounts/{id}/users/{user_id}/api-keys"),
        Some(json!({"name": "terraform"})),
    )
    .await;
    assert_eq!(key.status, StatusCode::CREATED);
    let (api_key, api_secret) =
        (key.body["key"].as_str().unwrap().to_string(), key.body["secret"].as_str().unwrap().to_string());
    assert!(api_key.starts_with("EXO"));
    let keys = operator(&app, Method::GET, &format!("/v1/accounts/{id}/api-keys"), None).await;
    assert!(keys.body[0].get("secret").is_none());
    let sign = |expires: i64| {
        exo_authorization(&api_key, &api_secret, "GET", "/v2/anti-affinity-group", b"", &[], "", &expires.to_string())
    };
    let signed =
        app.exo_with(Method::GET, "/v2/anti-affinity-group", "", Vec::new(), Some(&sign(expires_soon()))).await;
    assert_eq!(signed.status, StatusCode::OK);

    // Revoked credentials stop working at once.
    let revoked = operator(&app, Method::DELETE, &format!("/v1/accounts/{id}/api-keys/{api_key}"), None).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let refused =
        app.exo_with(Method::GET, "/v2/anti-affinity-group", "", Vec::new(), Some(&sign(expires_soon()))).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let token_id = token.body["id"].as_i64().unwrap();
    assert_eq!(
        operator(&app, Method::DELETE, &format!("/v1/accounts/{id}/tokens/{token_id}"), None).await.status,
        StatusCode::NO_CONTENT
    );
    let gone = app.request_with(Method::GET, "/v4/placement/groups", None, Some(&secret), &[]).await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        operator(&app, Method::DELETE, &format!("/v1/accounts/{id}/tokens/{token_id}"), None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_operator_api_refuses_bad_input_with_the_field_and_creates_nothing() {
    let app = spawn_app().await;
    let account = app.principal().await.account.0;
    let user = app.principal().await.user.0;
    for (method, path, body, status, field) in [
        (Method::POST, "/v1/accounts".to_string(), json!({"name": "has space"}), 400, Some("name")),
        (Method::POST, "/v1/accounts".to_string(), json!({"name": "demo"}), 409, Some("name")),
        (Method::POST, "/v1/accounts".to_string(), json!({}), 400, None),
        (
            Method::POST,
            format!("/v1/accounts/{account}/users"),
            json!({"username": "x", "email": "nope"}),
            400,
            Some("email"),
        ),
        (
            Method::POST,
            format!("/v1/accounts/{account}/users"),
            json!({"username": "demo", "email": "d@example.com"}),
            409,
            Some("username"),
        ),
        (
            Method::POST,
            "/v1/accounts/999/users".to_string(),
            json!({"username": "x", "email": "x@example.com"}),
            404,
            None,
        ),
        (
            Method::POST,
            format!("/v1/accounts/{account}/users/{user}/tokens"),
            json!({"label": "t", "scopes": "linodes:write"}),
            400,
            Some("scopes"),
        ),
        (
            Method::POST,
            format!("/v1/accounts/{account}/users/{user}/tokens"),
            json!({"label": "t", "expiry": "yesterday"}),
            400,
            Some("expiry"),
        ),
        (
            Method::POST,
            format!("/v1/accounts/{account}/users/{user}/tokens"),
            json!({"label": "t", "expiry": "2001-01-01T00:00:00Z"}),
            400,
            Some("expiry"),
        ),
        (
            Method::PUT,
            format!("/v1/accounts/{account}/users/{user}/grants"),
            json!({"global": ["add_linodes"]}),
            400,
            Some("user"),
        ),
        (Method::GET, "/v1/accounts/abc".to_string(), json!(null), 404, None),
    ] {
        let body = (method != Method::GET).then_some(body);
        let reply = operator(&app, method.clone(), &path, body).await;
        assert_eq!(reply.status.as_u16(), status, "{method} {path}: {}", reply.body);
        assert!(reply.body["error"]["message"].is_string(), "{path}");
        if let Some(field) = field {
            assert_eq!(reply.body["error"]["field"], field, "{path}: {}", reply.body);
        }
    }
    assert_eq!(operator(&app, Method::GET, "/v1/accounts", None).await.body.as_array().unwrap().len(), 1);
    assert_eq!(
        operator(&app, Method::GET, &format!("/v1/accounts/{account}/users"), None)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_read_only_token_can_list_but_not_create_and_says_why() {
    let app = spawn_app().await;
    let (_, token) = user_with_token(&app, "reader", false, "linodes:read_only").await;
    let listed = app.request_with(Method::GET, "/v4/placement/groups", None, Some(&token), &[]).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.headers["x-oauth-scopes"], "linodes:read_only");
    assert_eq!(listed.headers["x-accepted-oauth-scopes"], "linodes:read_only");
    let body = json!({"label": "nope", "region": "us-mia", "placement_group_type": "anti_affinity:local", "placement_group_policy": "strict"});
    let created = app.request_with(Method::POST, "/v4/placement/groups", Some(body), Some(&token), &[]).await;
    assert_eq!(created.status, StatusCode::UNAUTHORIZED);
    assert_eq!(created.reason(), "Your OAuth token is not authorized to use this endpoint.");
    assert_eq!(created.headers["x-accepted-oauth-scopes"], "linodes:read_write");
    let firewalls = app.request_with(Method::GET, "/v4/networking/firewalls", None, Some(&token), &[]).await;
    assert_eq!(firewalls.status, StatusCode::UNAUTHORIZED, "the token reaches only the linodes area");
    assert_eq!(app.get("/v4/placement/groups").await.body["results"], 0);
    assert_eq!(app.get("/v4/placement/groups").await.headers["x-oauth-scopes"], "*");
}

#[tokio::test]
async fn a_token_stops_working_when_it_expires() {
    let app = spawn_app().await;
    let principal = app.principal().await;
    let expiry = time_in(Duration::from_secs(2));
    let created = operator(
        &app,
        Method::POST,
        &format!("/v1/accounts/{}/users/{}/tokens", principal.account.0, principal.user.0),
        Some(json!({"label": "short", "expiry": expiry})),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let token = created.body["token"].as_str().unwrap().to_string();
    assert_eq!(app.request_with(Method::GET, "/v4/profile", None, Some(&token), &[]).await.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let expired = app.request_with(Method::GET, "/v4/profile", None, Some(&token), &[]).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(expired.reason(), "Invalid Token");
}

fn time_in(delay: Duration) -> String {
    let at = time::OffsetDateTime::now_utc() + delay;
    at.format(&time::format_description::well_known::Rfc3339).unwrap()
}

#[tokio::test]
async fn a_restricted_user_sees_only_what_it_has_grants_on_and_changes_only_read_write() {
    let app = spawn_app().await;
    let seen = app.group("seen", "us-mia", "anti_affinity:local", "strict").await;
    let writable = app.group("writable", "us-mia", "anti_affinity:local", "flexible").await;
    let _hidden = app.group("hidden", "us-mia", "anti_affinity:local", "strict").await;
    let linode = app.linode("us-mia", "g6-nanode-1", None).await["id"].as_i64().unwrap();
    let (user, token) = user_with_token(&app, "limited", true, "*").await;
    let as_user = |method: Method, path: String, body: Option<Value>| {
        let token = token.clone();
        let app = &app;
        async move { app.request_with(method, &path, body, Some(&token), &[]).await }
    };

    let none = as_user(Method::GET, "/v4/placement/groups".into(), None).await;
    assert_eq!(none.body["results"], 0, "no grant, nothing to see");
    let grants = set_grants(
        &app,
        user,
        json!({"placement_group": [{"id": seen, "permissions": "read_only"}, {"id": writable, "permissions": "read_write"}]}),
    )
    .await;
    assert_eq!(grants.status, StatusCode::OK, "{}", grants.body);
    let listed = as_user(Method::GET, "/v4/placement/groups".into(), None).await;
    let labels: Vec<&str> =
        listed.body["data"].as_array().unwrap().iter().map(|g| g["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["seen", "writable"]);

    let read_only =
        as_user(Method::PUT, format!("/v4/placement/groups/{seen}"), Some(json!({"label": "renamed"}))).await;
    assert_eq!(read_only.status, StatusCode::FORBIDDEN);
    let writable_update =
        as_user(Method::PUT, format!("/v4/placement/groups/{writable}"), Some(json!({"label": "renamed"}))).await;
    assert_eq!(writable_update.status, StatusCode::OK);

    let body = json!({"label": "mine", "region": "us-mia", "placement_group_type": "anti_affinity:local", "placement_group_policy": "strict"});
    assert_eq!(
        as_user(Method::POST, "/v4/placement/groups".into(), Some(body.clone())).await.status,
        StatusCode::FORBIDDEN
    );
    // Assigning needs add_linodes and read_write on the Linode.
    let assign =
        as_user(Method::POST, format!("/v4/placement/groups/{writable}/assign"), Some(json!({"linodes": [linode]})))
            .await;
    assert_eq!(assign.status, StatusCode::FORBIDDEN);
    set_grants(
        &app,
        user,
        json!({"global": ["add_linodes"], "linode": [{"id": linode, "permissions": "read_only"}],
               "placement_group": [{"id": writable, "permissions": "read_write"}]}),
    )
    .await;
    let assign =
        as_user(Method::POST, format!("/v4/placement/groups/{writable}/assign"), Some(json!({"linodes": [linode]})))
            .await;
    assert_eq!(assign.status, StatusCode::FORBIDDEN, "read_only on the Linode is not enough: {}", assign.body);
    set_grants(
        &app,
        user,
        json!({"global": ["add_linodes"], "linode": [{"id": linode, "permissions": "read_write"}],
               "placement_group": [{"id": writable, "permissions": "read_write"}]}),
    )
    .await;
    let assign =
        as_user(Method::POST, format!("/v4/placement/groups/{writable}/assign"), Some(json!({"linodes": [linode]})))
            .await;
    assert_eq!(assign.status, StatusCode::OK, "{}", assign.body);

    // What the user creates is its own to change.
    let created = as_user(Method::POST, "/v4/placement/groups".into(), Some(body)).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let mine = created.body["id"].as_i64().unwrap();
    assert_eq!(as_user(Method::DELETE, format!("/v4/placement/groups/{mine}"), None).await.status, StatusCode::OK);

    let profile = as_user(Method::GET, "/v4/profile/grants".into(), None).await;
    assert_eq!(profile.status, StatusCode::OK);
    assert_eq!(profile.body["global"]["add_linodes"], true);
    assert_eq!(profile.body["global"]["add_firewalls"], false);
    let groups = profile.body["placement_group"].as_array().unwrap();
    let permission = |id: i64| groups.iter().find(|g| g["id"] == id).map(|g| g["permissions"].clone());
    assert_eq!(permission(writable), Some(json!("read_write")));
    assert_eq!(permission(seen), Some(Value::Null), "every group of the account is listed, ungranted ones with null");
    assert_eq!(profile.body["linode"][0]["permissions"], "read_write");

    let hidden_events = as_user(Method::GET, "/v4/account/events".into(), None).await;
    let entities: Vec<i64> =
        hidden_events.body["data"].as_array().unwrap().iter().map(|e| e["entity"]["id"].as_i64().unwrap()).collect();
    assert!(entities.iter().all(|id| *id == writable || *id == linode || *id == mine), "{entities:?}");
}

#[tokio::test]
async fn grants_name_only_resources_of_the_account() {
    let app = spawn_app().await;
    let (user, _) = user_with_token(&app, "limited", true, "*").await;
    let bad = set_grants(&app, user, json!({"placement_group": [{"id": 424242, "permissions": "read_only"}]})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let bad = set_grants(&app, user, json!({"global": ["do_anything"]})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let group = app.group("g", "us-mia", "anti_affinity:local", "strict").await;
    let bad = set_grants(&app, user, json!({"placement_group": [{"id": group, "permissions": "admin"}]})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let viewed = operator(
        &app,
        Method::GET,
        &format!("/v1/accounts/{}/users/{user}/grants", app.principal().await.account.0),
        None,
    )
    .await;
    assert_eq!(viewed.body["placement_group"], json!([{"id": group, "label": "g", "permissions": null}]));
}

#[tokio::test]
async fn a_credential_over_its_rate_limit_gets_429_with_retry_after_in_each_dialect() {
    let settings = server::Settings {
        rate_limit: Some(server::RateLimit { requests: 3, window: Duration::from_secs(60) }),
        ..server::Settings::default()
    };
    let app = spawn_app_with_settings(settings).await;
    for n in 0..3 {
        let reply = app.get("/v4/placement/groups").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.headers["x-ratelimit-limit"], "3");
        assert_eq!(reply.headers["x-ratelimit-remaining"], (2 - n).to_string());
        assert!(reply.headers["x-ratelimit-reset"].to_str().unwrap().parse::<i64>().unwrap() > 1_700_000_000);
    }
    let limited = app.get("/v4/placement/groups").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.reason(), "Too many requests");
    let retry: u64 = limited.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    // Another credential has its own window.
    for _ in 0..3 {
        assert_eq!(app.exo(Method::GET, "/v2/anti-affinity-group", "", b"").await.status, StatusCode::OK);
    }
    let limited = app.exo(Method::GET, "/v2/anti-affinity-group", "", b"").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers.contains_key("retry-after"));
    assert_eq!(limited.body["message"], "Too many requests");
}

#[tokio::test]
async fn every_change_is_recorded_and_the_linode_dialect_serves_the_placement_group_events() {
    let app = spawn_app().await;
    let flexible = app.group("audited", "us-mia", "anti_affinity:local", "flexible").await;
    app.put(&format!("/v4/placement/groups/{flexible}"), json!({"label": "audited-2"})).await;
    // Two Linodes on one host, through an affinity group, then into the flexible group.
    let together = app.group("together", "us-mia", "affinity:local", "strict").await;
    let a = app.linode("us-mia", "g6-nanode-1", Some(together)).await["id"].as_i64().unwrap();
    let b = app.linode("us-mia", "g6-nanode-1", Some(together)).await["id"].as_i64().unwrap();
    app.post(&format!("/v4/placement/groups/{together}/unassign"), json!({"linodes": [a, b]})).await;
    app.post(&format!("/v4/placement/groups/{flexible}/assign"), json!({"linodes": [a]})).await;
    app.post(&format!("/v4/placement/groups/{flexible}/assign"), json!({"linodes": [b]})).await;
    app.post(&format!("/v4/placement/groups/{flexible}/unassign"), json!({"linodes": [b]})).await;
    app.post(&format!("/v4/placement/groups/{flexible}/unassign"), json!({"linodes": [a]})).await;
    app.delete(&format!("/v4/placement/groups/{flexible}")).await;

    let filter = json!({"entity.id": flexible, "entity.type": "placement_group", "+order_by": "id", "+order": "asc"})
        .to_string();
    let events =
        app.request_with(Method::GET, "/v4/account/events", None, Some(&app.token), &[("X-Filter", &filter)]).await;
    assert_eq!(events.status, StatusCode::OK);
    let actions: Vec<(String, Option<i64>)> = events.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap().to_string(), e["secondary_entity"]["id"].as_i64()))
        .collect();
    let expected: Vec<(String, Option<i64>)> = [
        ("placement_group_create", None),
        ("placement_group_update", None),
        ("placement_group_assign", Some(a)),
        ("placement_group_assign", Some(b)),
        ("placement_group_became_non_compliant", Some(b)),
        ("placement_group_unassign", Some(b)),
        ("placement_group_became_compliant", Some(b)),
        ("placement_group_unassign", Some(a)),
        ("placement_group_delete", None),
    ]
    .into_iter()
    .map(|(action, secondary)| (action.to_string(), secondary))
    .collect();
    assert_eq!(actions, expected);
    let first = &events.body["data"][0];
    assert_eq!(first["entity"]["url"], format!("/v4/placement/groups/{flexible}"));
    assert_eq!(first["entity"]["label"], "audited");
    assert_eq!(first["username"], "demo");
    let one = app.get(&format!("/v4/account/events/{}", first["id"])).await;
    assert_eq!(&one.body, first);

    // Every other change is recorded too, newest first.
    let all = app.get("/v4/account/events?page_size=25").await;
    assert_eq!(all.body["data"][0]["action"], "placement_group_delete");
    let linode_events = app
        .request_with(
            Method::GET,
            "/v4/account/events",
            None,
            Some(&app.token),
            &[("X-Filter", r#"{"action": "linode_create"}"#)],
        )
        .await;
    assert_eq!(linode_events.body["results"], 2);
    assert_eq!(app.get("/v4/account/events/999999").await.status, StatusCode::NOT_FOUND);
}
