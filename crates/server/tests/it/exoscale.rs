//! The Exoscale dialect end to end over HTTP: request signing, anti-affinity groups,
//! operations, instances, catalogs, and what the Linode dialect sees of them.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use berth_core::FleetSeed;
use server::catalog::{EXOSCALE_TYPES, TEMPLATES};

use crate::common::{capacity, exo_authorization, expires_soon, region, spawn_app, spawn_app_with};

fn small_type() -> &'static str {
    EXOSCALE_TYPES.iter().find(|t| t.family == "standard" && t.size == "small").unwrap().id
}

fn gpu_type() -> &'static str {
    EXOSCALE_TYPES.iter().find(|t| t.family == "gpu2" && t.size == "medium").unwrap().id
}

fn ubuntu() -> &'static str {
    TEMPLATES[0].id
}

fn instance_body(name: &str, groups: &[&str]) -> Value {
    json!({
        "name": name,
        "instance-type": {"id": small_type()},
        "template": {"id": ubuntu()},
        "disk-size": 10,
        "anti-affinity-groups": groups.iter().map(|g| json!({"id": g})).collect::<Vec<_>>(),
    })
}

/// Creates an anti-affinity group and returns its id.
async fn group(app: &crate::common::TestApp, name: &str) -> String {
    let reply = app.exo_json(Method::POST, "/v2/anti-affinity-group", json!({"name": name})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["state"], "success");
    reply.body["reference"]["id"].as_str().unwrap().to_string()
}

/// Creates an instance through `prefix` (`/v2` or `/{zone}/v2`) and returns its operation.
async fn instance(app: &crate::common::TestApp, prefix: &str, body: Value) -> Value {
    let reply = app.exo_json(Method::POST, &format!("{prefix}/instance"), body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

#[tokio::test]
async fn zones_are_listed_without_a_signature_and_point_back_at_berth() {
    let app = spawn_app().await;
    let reply = app.exo_with(Method::GET, "/v2/zone", "", Vec::new(), None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let zones = reply.body["zones"].as_array().unwrap();
    let host = app.address.trim_start_matches("http://");
    for name in ["ch-gva-2", "de-fra-1"] {
        let zone = zones.iter().find(|z| z["name"] == name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(zone["api-endpoint"], format!("http://{host}/{name}/v2"));
    }
    let endpoints: Vec<&str> = zones.iter().map(|z| z["api-endpoint"].as_str().unwrap()).collect();
    let mut distinct = endpoints.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), endpoints.len(), "every zone has its own endpoint");
    assert_eq!(app.exo_with(Method::GET, "/de-fra-1/v2/zone", "", Vec::new(), None).await.status, StatusCode::OK);
    let unknown = app.exo_with(Method::GET, "/xx-none-9/v2/zone", "", Vec::new(), None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(unknown.body["message"].is_string());
}

#[tokio::test]
async fn every_other_route_refuses_a_missing_malformed_expired_or_wrong_signature() {
    let app = spawn_app().await;
    let path = "/v2/anti-affinity-group";
    let expires = expires_soon().to_string();
    let sign =
        |key: &str, secret: &str, expires: &str| exo_authorization(key, secret, "GET", path, b"", &[], "", expires);
    let past = (expires_soon() - 1200).to_string();
    let cases: Vec<Option<String>> = vec![
        None,
        Some("Bearer something".into()),
        Some("EXO2-HMAC-SHA256 credential=EXOnobody,expires=1".into()),
        Some("EXO2-HMAC-SHA256 credential=x,expires=later,signature=AAAA".into()),
        Some(sign(&app.api_key, "the-wrong-secret-0123456789", &expires)),
        Some(sign("EXOunknown000000000000000", &app.api_secret, &expires)),
        Some(sign(&app.api_key, &app.api_secret, &past)),
    ];
    for authorization in cases {
        let reply = app.exo_with(Method::GET, path, "", Vec::new(), authorization.as_deref()).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{authorization:?}");
        assert!(!reply.body["message"].as_str().unwrap().is_empty());
    }
    let good = sign(&app.api_key, &app.api_secret, &expires);
    assert_eq!(app.exo_with(Method::GET, path, "", Vec::new(), Some(&good)).await.status, StatusCode::OK);
    // An unsigned request is refused before its path is judged.
    for path in ["/v2/instance/not-a-uuid", "/v2/operation/123", "/de-fra-1/v2/instance"] {
        assert_eq!(app.exo_with(Method::GET, path, "", Vec::new(), None).await.status, StatusCode::FORBIDDEN, "{path}");
    }
}

#[tokio::test]
async fn the_signature_covers_the_raw_body_the_path_as_sent_and_the_listed_query_values() {
    let app = spawn_app().await;
    let expires = expires_soon().to_string();
    let (key, secret) = (app.api_key.clone(), app.api_secret.clone());
    let post = |path: &str, body: &[u8]| exo_authorization(&key, &secret, "POST", path, body, &[], "", &expires);

    // The same group signed with Python's spacing and with Go's compact JSON.
    for body in
        [&br#"{"name": "spaced", "description": "web tier"}"#[..], br#"{"description":"web tier","name":"compact"}"#]
    {
        let reply = app
            .exo_with(
                Method::POST,
                "/v2/anti-affinity-group",
                "",
                body.to_vec(),
                Some(&post("/v2/anti-affinity-group", body)),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(body));
    }
    // Non-ASCII: Python escapes it, Go sends UTF-8; both are verified on the bytes received.
    for body in [r#"{"name": "caf\u00e9"}"#.as_bytes(), r#"{"name":"café ☕"}"#.as_bytes()] {
        let reply = app
            .exo_with(
                Method::POST,
                "/v2/anti-affinity-group",
                "",
                body.to_vec(),
                Some(&post("/v2/anti-affinity-group", body)),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(body));
    }
    let names: Vec<String> =
        app.exo(Method::GET, "/v2/anti-affinity-group", "", b"").await.body["anti-affinity-groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap().to_string())
            .collect();
    assert_eq!(names, ["spaced", "compact", "café", "café ☕"]);

    // A body re-serialised after signing no longer matches.
    let signed = br#"{"name": "altered"}"#;
    let sent = br#"{"name":"altered"}"#;
    let reply = app
        .exo_with(
            Method::POST,
            "/v2/anti-affinity-group",
            "",
            sent.to_vec(),
            Some(&post("/v2/anti-affinity-group", signed)),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);

    // A zone's endpoint is signed with its prefix, as the client sends it.
    let zoned = "/de-fra-1/v2/anti-affinity-group";
    let get = |path: &str| exo_authorization(&key, &secret, "GET", path, b"", &[], "", &expires);
    assert_eq!(app.exo_with(Method::GET, zoned, "", Vec::new(), Some(&get(zoned))).await.status, StatusCode::OK);
    let unprefixed = get("/v2/anti-affinity-group");
    assert_eq!(app.exo_with(Method::GET, zoned, "", Vec::new(), Some(&unprefixed)).await.status, StatusCode::FORBIDDEN);

    // Query values: Python lists a repeated name without a value and leaves out a blank one;
    // Go lists a blank one with its empty value.
    let template = "/v2/template";
    let sign_query =
        |names: &[&str], values: &str| exo_authorization(&key, &secret, "GET", template, b"", names, values, &expires);
    let python_repeated = sign_query(&["family", "visibility"], "public");
    let reply = app
        .exo_with(
            Method::GET,
            template,
            "family=ubuntu&family=debian&visibility=public",
            Vec::new(),
            Some(&python_repeated),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let python_blank = sign_query(&["visibility"], "public");
    let reply = app.exo_with(Method::GET, template, "family=&visibility=public", Vec::new(), Some(&python_blank)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let go_blank = sign_query(&["family", "visibility"], "public");
    let reply = app.exo_with(Method::GET, template, "family=&visibility=public", Vec::new(), Some(&go_blank)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let encoded = sign_query(&["family"], "ubuntu linux/x");
    let reply = app.exo_with(Method::GET, template, "family=ubuntu+linux%2Fx", Vec::new(), Some(&encoded)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let wrong_value = sign_query(&["family"], "debian");
    let reply = app.exo_with(Method::GET, template, "family=ubuntu", Vec::new(), Some(&wrong_value)).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn anti_affinity_groups_are_validated_global_and_shaped_as_the_reference_says() {
    let app = spawn_app().await;
    for body in [
        json!({}),
        json!({"name": ""}),
        json!({"name": "x".repeat(256)}),
        json!({"name": "ok", "description": "y".repeat(256)}),
        json!({"name": 5}),
        json!([]),
    ] {
        let reply = app.exo_json(Method::POST, "/v2/anti-affinity-group", body.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(reply.body["message"].is_string());
    }
    let id = group(&app, "web").await;
    let operation = app.exo(Method::GET, "/v2/operation/", "", b"").await;
    assert_eq!(operation.status, StatusCode::NOT_FOUND);
    let one = app.exo(Method::GET, &format!("/v2/anti-affinity-group/{id}"), "", b"").await;
    assert_eq!(one.body, json!({"id": id, "name": "web", "description": "", "instances": []}));
    // Groups are account-wide: every zone's endpoint lists the same set.
    let listed = app.exo(Method::GET, "/de-fra-1/v2/anti-affinity-group", "", b"").await;
    assert_eq!(listed.body, json!({"anti-affinity-groups": [one.body]}));
    // The Linode dialect cannot show a global group, and Exoscale cannot show a regional one.
    assert_eq!(app.get("/v4/placement/groups").await.body["results"], 0);
    let regional = app.group("regional", "us-mia", "anti_affinity:local", "strict").await;
    let regional_uuid = app
        .berth
        .group_get(&app.principal().await, &berth_core::GroupKey::Regional(berth_core::GroupId(regional)))
        .await
        .unwrap()
        .group
        .uuid;
    let hidden = app.exo(Method::GET, &format!("/v2/anti-affinity-group/{regional_uuid}"), "", b"").await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    let deleted = app.exo(Method::DELETE, &format!("/v2/anti-affinity-group/{regional_uuid}"), "", b"").await;
    assert_eq!(deleted.status, StatusCode::NOT_FOUND);
    // Nor does any Linode route reach the global group by its integer id.
    let global = app.berth.group_get(&app.principal().await, &berth_core::GroupKey::Global(id.clone())).await.unwrap();
    let path = format!("/v4/placement/groups/{}", global.group.id);
    assert_eq!(app.get(&path).await.status, StatusCode::NOT_FOUND);
    let relabel = app.request(Method::PUT, &path, Some(json!({"label": "renamed"}))).await;
    assert_eq!(relabel.status, StatusCode::NOT_FOUND);
    let assign = app.request(Method::POST, &format!("{path}/assign"), Some(json!({"linodes": [1]}))).await;
    assert_eq!(assign.status, StatusCode::NOT_FOUND);
    assert_eq!(app.request(Method::DELETE, &path, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.exo(Method::GET, &format!("/v2/anti-affinity-group/{id}"), "", b"").await.status, StatusCode::OK);
    assert_eq!(
        app.exo(Method::GET, "/v2/anti-affinity-group", "", b"").await.body["anti-affinity-groups"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    for missing in
        ["/v2/anti-affinity-group/not-a-uuid", "/v2/anti-affinity-group/00000000-0000-0000-0000-000000000000"]
    {
        let reply = app.exo(Method::GET, missing, "", b"").await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{missing}");
        assert!(reply.body["message"].is_string());
    }
    let method = app.exo(Method::PUT, &format!("/v2/anti-affinity-group/{id}"), "", b"{}").await;
    assert_eq!(method.status, StatusCode::METHOD_NOT_ALLOWED, "there is no update endpoint");
}

#[tokio::test]
async fn instances_of_a_group_land_on_distinct_hosts_and_the_ninth_is_refused() {
    let app = spawn_app().await;
    let id = group(&app, "eight").await;
    let mut hosts = Vec::new();
    let mut instances = Vec::new();
    for n in 0..8 {
        let operation = instance(&app, "/v2", instance_body(&format!("vm-{n}"), &[&id])).await;
        assert_eq!(operation["state"], "success", "{operation}");
        assert_eq!(operation["reference"]["command"], "get-instance");
        let uuid = operation["reference"]["id"].as_str().unwrap().to_string();
        // The operation stays readable after it finished.
        let again =
            app.exo(Method::GET, &format!("/v2/operation/{}", operation["id"].as_str().unwrap()), "", b"").await;
        assert_eq!(again.body, operation);
        let detail =
            app.request_with(Method::GET, &format!("/v1/instances/{uuid}"), None, Some(&app.operator_token), &[]).await;
        assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
        assert_eq!(detail.body["region"], "ch-gva-2");
        hosts.push(detail.body["host"]["id"].as_i64().unwrap());
        instances.push(uuid);
    }
    let mut distinct = hosts.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 8, "hosts {hosts:?}");

    let ninth = app.exo_json(Method::POST, "/v2/instance", instance_body("vm-9", &[&id])).await;
    assert_eq!(ninth.status, StatusCode::BAD_REQUEST, "{}", ninth.body);
    assert!(ninth.body["message"].as_str().unwrap().contains("at most 8"), "{}", ninth.body);
    assert_eq!(app.exo(Method::GET, "/v2/instance", "", b"").await.body["instances"].as_array().unwrap().len(), 8);

    let members =
        app.exo(Method::GET, &format!("/v2/anti-affinity-group/{id}"), "", b"").await.body["instances"].clone();
    assert_eq!(members, instances.iter().map(|i| json!({"id": i})).collect::<Value>());
    let shown = app.exo(Method::GET, &format!("/v2/instance/{}", instances[0]), "", b"").await;
    assert_eq!(shown.body["anti-affinity-groups"], json!([{"id": id}]));
    assert_eq!(shown.body["state"], "running");
    assert_eq!(shown.body["disk-size"], 10);
    assert_eq!(shown.body["instance-type"]["id"], small_type());
    app.assert_consistent("ch-gva-2").await;
}

#[tokio::test]
async fn a_group_that_no_host_can_satisfy_fails_the_operation_as_unavailable_and_leaves_nothing() {
    let app = spawn_app().await;
    let id = group(&app, "gpus").await;
    let gpu = |name: &str| json!({"name": name, "instance-type": {"id": gpu_type()}, "template": {"id": ubuntu()}, "disk-size": 50, "anti-affinity-groups": [{"id": id}]});
    for name in ["gpu-a", "gpu-b"] {
        assert_eq!(instance(&app, "/de-fra-1/v2", gpu(name)).await["state"], "success");
    }
    let failed = instance(&app, "/de-fra-1/v2", gpu("gpu-c")).await;
    assert_eq!(failed["state"], "failure");
    assert_eq!(failed["reason"], "unavailable");
    let message = failed["message"].as_str().unwrap();
    assert!(message.contains("0 of 16 hosts: 14 lack GPUs, 2 hold a member of group"), "{message}");
    let read =
        app.exo(Method::GET, &format!("/de-fra-1/v2/operation/{}", failed["id"].as_str().unwrap()), "", b"").await;
    assert_eq!(read.body, failed);
    let listed = app.exo(Method::GET, "/de-fra-1/v2/instance", "", b"").await;
    assert_eq!(listed.body["instances"].as_array().unwrap().len(), 2);
    let members = app.exo(Method::GET, &format!("/v2/anti-affinity-group/{id}"), "", b"").await;
    assert_eq!(members.body["instances"].as_array().unwrap().len(), 2);
    app.assert_consistent("de-fra-1").await;
}

#[tokio::test]
async fn the_constraint_holds_among_the_members_in_each_zone() {
    let app = spawn_app_with(FleetSeed {
        regions: vec![region("ch-gva-2", 1, 1, capacity(16, 64)), region("de-fra-1", 1, 1, capacity(16, 64))],
    })
    .await;
    let id = group(&app, "across").await;
    assert_eq!(instance(&app, "/ch-gva-2/v2", instance_body("one", &[&id])).await["state"], "success");
    assert_eq!(instance(&app, "/de-fra-1/v2", instance_body("two", &[&id])).await["state"], "success");
    let third = instance(&app, "/de-fra-1/v2", instance_body("three", &[&id])).await;
    assert_eq!(third["state"], "failure", "one host in de-fra-1 already holds a member");
    assert_eq!(
        app.exo(Method::GET, &format!("/v2/anti-affinity-group/{id}"), "", b"").await.body["instances"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn invalid_instance_creations_are_refused_with_400_and_create_nothing() {
    let app = spawn_app().await;
    let id = group(&app, "valid").await;
    let base = instance_body("ok", &[&id]);
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    let without = |key: &str| {
        let mut body = base.clone();
        body.as_object_mut().unwrap().remove(key);
        body
    };
    let cases = vec![
        with("disk-size", json!(9)),
        with("disk-size", json!(51201)),
        with("disk-size", json!("10")),
        with("disk-size", json!(10.5)),
        without("disk-size"),
        without("instance-type"),
        without("template"),
        with("instance-type", json!({"id": "00000000-0000-0000-0000-000000000000"})),
        with("instance-type", json!({"id": "standard.small"})),
        with("template", json!({"id": "11111111-1111-1111-1111-111111111111"})),
        with("name", json!("under_score")),
        with("name", json!("-dash")),
        with("name", json!("")),
        with("anti-affinity-groups", json!([{"id": "00000000-0000-0000-0000-000000000000"}])),
        with("anti-affinity-groups", json!([{"id": id}, {"id": id}])),
        with("anti-affinity-groups", json!([{}])),
        with("labels", json!({"Bad Key": "v"})),
        with("labels", json!({"k": 5})),
        with("user-data", json!("not base64!")),
        with("public-ip-assignment", json!("inet6")),
        with("auto-start", json!("yes")),
    ];
    for body in cases {
        let reply = app.exo_json(Method::POST, "/v2/instance", body.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}: {}", reply.body);
        assert!(!reply.body["message"].as_str().unwrap().is_empty());
    }
    let disk = app.exo_json(Method::POST, "/v2/instance", with("disk-size", json!(5))).await;
    assert_eq!(
        disk.body["message"],
        "Invalid value in disk-size (description: `Instance disk size in GiB`) - should be an Integer between 10 51200"
    );
    assert_eq!(app.exo(Method::GET, "/v2/instance", "", b"").await.body["instances"], json!([]));
    // The CLI sends whole objects as references: their other fields are ignored.
    let mut full = base.clone();
    full["instance-type"] = json!({"id": small_type(), "size": "small", "family": "standard", "cpus": 2});
    full["security-groups"] = json!([{"id": "22222222-2222-2222-2222-222222222222"}]);
    full["labels"] = json!({"tier": "web", "team/owner": "ops"});
    full["auto-start"] = json!(false);
    let operation = instance(&app, "/v2", full).await;
    assert_eq!(operation["state"], "success", "{operation}");
    let shown = app
        .exo(Method::GET, &format!("/v2/instance/{}", operation["reference"]["id"].as_str().unwrap()), "", b"")
        .await;
    assert_eq!(shown.body["labels"], json!({"tier": "web", "team/owner": "ops"}));
    assert_eq!(shown.body["state"], "stopped");
}

#[tokio::test]
async fn instances_live_in_their_zone_and_deleting_one_frees_its_host_and_group() {
    let app = spawn_app().await;
    let id = group(&app, "zoned").await;
    let operation = instance(&app, "/de-fra-1/v2", instance_body("zoned-1", &[&id])).await;
    let uuid = operation["reference"]["id"].as_str().unwrap().to_string();
    assert_eq!(app.exo(Method::GET, &format!("/de-fra-1/v2/instance/{uuid}"), "", b"").await.status, StatusCode::OK);
    assert_eq!(app.exo(Method::GET, &format!("/v2/instance/{uuid}"), "", b"").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.exo(Method::GET, "/v2/instance", "", b"").await.body["instances"], json!([]));

    let renamed = app
        .exo_json(
            Method::PUT,
            &format!("/de-fra-1/v2/instance/{uuid}"),
            json!({"name": "renamed", "labels": {"a": "b"}}),
        )
        .await;
    assert_eq!(renamed.body["state"], "success", "{}", renamed.body);
    let shown = app.exo(Method::GET, &format!("/de-fra-1/v2/instance/{uuid}"), "", b"").await;
    assert_eq!((shown.body["name"].clone(), shown.body["labels"].clone()), (json!("renamed"), json!({"a": "b"})));

    let refused = app.exo(Method::DELETE, &format!("/v2/anti-affinity-group/{id}"), "", b"").await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.body["message"].as_str().unwrap().contains("instance"));

    let deleted = app.exo(Method::DELETE, &format!("/de-fra-1/v2/instance/{uuid}"), "", b"").await;
    assert_eq!(deleted.body["state"], "success");
    assert_eq!(deleted.body["reference"]["id"], uuid);
    assert_eq!(
        app.exo(Method::GET, &format!("/de-fra-1/v2/instance/{uuid}"), "", b"").await.status,
        StatusCode::NOT_FOUND
    );
    let hosts = app.berth.hosts(&berth_core::RegionId::parse("de-fra-1").unwrap()).await.unwrap();
    assert!(hosts.iter().all(|h| h.used.vcpus == 0 && h.used.disk_mib == 0));
    assert_eq!(
        app.exo(Method::GET, &format!("/v2/anti-affinity-group/{id}"), "", b"").await.body["instances"],
        json!([])
    );
    let gone = app.exo(Method::DELETE, &format!("/v2/anti-affinity-group/{id}"), "", b"").await;
    assert_eq!(gone.body["state"], "success");
    assert_eq!(
        app.exo(Method::GET, &format!("/v2/anti-affinity-group/{id}"), "", b"").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn each_dialect_shows_the_other_dialects_instances() {
    let app = spawn_app().await;
    let operation = instance(&app, "/de-fra-1/v2", instance_body("from-exoscale", &[])).await;
    let uuid = operation["reference"]["id"].as_str().unwrap();
    let linodes = app.get("/v4/linode/instances").await;
    let shown =
        linodes.body["data"].as_array().unwrap().iter().find(|l| l["label"] == "from-exoscale").unwrap().clone();
    assert_eq!(shown["region"], "de-fra-1");
    assert_eq!(shown["type"], small_type());
    assert_eq!(shown["placement_group"], Value::Null);

    let linode = app.linode("us-mia", "g6-nanode-1", None).await;
    let detail = app
        .request_with(Method::GET, &format!("/v1/instances/{}", linode["id"]), None, Some(&app.operator_token), &[])
        .await;
    let linode_uuid = detail.body["uuid"].as_str().unwrap().to_string();
    let in_mia = app.exo(Method::GET, "/us-mia/v2/instance", "", b"").await;
    assert_eq!(in_mia.body["instances"][0]["id"], linode_uuid);
    assert_eq!(in_mia.body["instances"][0]["name"], linode["label"]);
    let one = app.exo(Method::GET, &format!("/us-mia/v2/instance/{linode_uuid}"), "", b"").await;
    assert_eq!(one.body["instance-type"]["id"], "g6-nanode-1");
    assert_eq!(one.body["anti-affinity-groups"], json!([]));
    assert_eq!(app.exo(Method::GET, &format!("/de-fra-1/v2/instance/{uuid}"), "", b"").await.status, StatusCode::OK);
}

#[tokio::test]
async fn catalogs_list_instance_types_and_templates_with_their_filters() {
    let app = spawn_app().await;
    let types = app.exo(Method::GET, "/v2/instance-type", "", b"").await;
    let small =
        types.body["instance-types"].as_array().unwrap().iter().find(|t| t["id"] == small_type()).unwrap().clone();
    assert_eq!(
        (small["family"].clone(), small["size"].clone(), small["cpus"].clone()),
        (json!("standard"), json!("small"), json!(2))
    );
    assert_eq!(small["memory"], 2u64 * 1024 * 1024 * 1024, "memory is in bytes");
    assert_eq!(small["authorized"], true);
    assert!(small["zones"].as_array().unwrap().contains(&json!("de-fra-1")));
    assert_eq!(app.exo(Method::GET, &format!("/v2/instance-type/{}", small_type()), "", b"").await.body, small);
    assert_eq!(
        app.exo(Method::GET, "/v2/instance-type/00000000-0000-0000-0000-000000000000", "", b"").await.status,
        StatusCode::NOT_FOUND
    );

    let ubuntu = app.exo(Method::GET, "/v2/template", "visibility=public&family=ubuntu", b"").await;
    let templates = ubuntu.body["templates"].as_array().unwrap();
    assert!(!templates.is_empty());
    assert!(templates.iter().all(|t| t["family"] == "ubuntu" && t["visibility"] == "public"));
    let all = app.exo(Method::GET, "/v2/template", "", b"").await.body["templates"].as_array().unwrap().len();
    assert!(all > templates.len());
    assert_eq!(app.exo(Method::GET, "/v2/template", "visibility=private", b"").await.body, json!({"templates": []}));
    assert_eq!(app.exo(Method::GET, "/v2/template", "visibility=secret", b"").await.status, StatusCode::BAD_REQUEST);
    let one = app.exo(Method::GET, &format!("/v2/template/{}", templates[0]["id"].as_str().unwrap()), "", b"").await;
    assert_eq!(&one.body, &templates[0]);
}

#[tokio::test]
async fn no_malformed_request_to_any_exoscale_route_gets_a_server_error() {
    let app = spawn_app().await;
    let id = group(&app, "target").await;
    let operation = instance(&app, "/v2", instance_body("target", &[&id])).await;
    let uuid = operation["reference"]["id"].as_str().unwrap().to_string();
    let routes: Vec<(Method, String)> = vec![
        (Method::POST, "/v2/anti-affinity-group".into()),
        (Method::POST, "/v2/instance".into()),
        (Method::POST, "/de-fra-1/v2/instance".into()),
        (Method::PUT, format!("/v2/instance/{uuid}")),
        (Method::DELETE, "/v2/instance/00000000-0000-0000-0000-000000000000".into()),
        (Method::GET, "/v2/operation/zzz".into()),
    ];
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"{}".to_vec(),
        b"[]".to_vec(),
        b"null".to_vec(),
        b"{\"name\": {\"x\": 1}, \"disk-size\": 1e300, \"instance-type\": []}".to_vec(),
        b"{\"anti-affinity-groups\": {\"id\": 1}, \"labels\": []}".to_vec(),
        b"{\"name\": \"\\u0000\"}".to_vec(),
        vec![0xff, 0xfe, 0x7b],
        deep.into_bytes(),
    ];
    for (method, path) in &routes {
        for body in &bodies {
            let reply = app.exo(method.clone(), path, "", body).await;
            let shown = String::from_utf8_lossy(body);
            assert!(
                reply.status.is_client_error() || reply.status.is_success(),
                "{method} {path} {shown}: {}",
                reply.status
            );
            assert!(reply.body.is_object(), "{method} {path} {shown}: every answer is a JSON object");
        }
    }
    app.assert_consistent("ch-gva-2").await;
}

#[tokio::test]
async fn a_change_and_its_operation_are_stored_together_or_not_at_all() {
    let app = spawn_app().await;
    let group_id = group(&app, "together").await;
    let zone = berth_core::RegionId::parse("ch-gva-2").unwrap();

    // A failure injected between the change and its operation: the operation's insert fails
    // inside the change's transaction.
    store::testing::refuse_inserts(&app.database, "operations").await.unwrap();
    let failed = app.exo_json(Method::POST, "/v2/instance", instance_body("together-1", &[&group_id])).await;
    assert!(failed.status.is_server_error(), "{} {}", failed.status, failed.body);
    let kept = app.exo(Method::DELETE, &format!("/v2/anti-affinity-group/{group_id}"), "", b"").await;
    assert!(kept.status.is_server_error(), "{} {}", kept.status, kept.body);
    store::testing::allow_inserts(&app.database, "operations").await.unwrap();

    // Neither change happened: no instance, no capacity taken, the group still there and empty.
    assert_eq!(app.exo(Method::GET, "/v2/instance", "", b"").await.body["instances"], json!([]));
    assert!(app.berth.hosts(&zone).await.unwrap().iter().all(|h| h.used.vcpus == 0));
    let shown = app.exo(Method::GET, &format!("/v2/anti-affinity-group/{group_id}"), "", b"").await;
    assert_eq!((shown.status, shown.body["instances"].clone()), (StatusCode::OK, json!([])));

    // Once the operation can be written, the same requests make both the change and its
    // operation, which names what changed.
    let operation = instance(&app, "/v2", instance_body("together-1", &[&group_id])).await;
    let uuid = operation["reference"]["id"].as_str().unwrap().to_string();
    let polled = app.exo(Method::GET, &format!("/v2/operation/{}", operation["id"].as_str().unwrap()), "", b"").await;
    assert_eq!((polled.status, polled.body["state"].clone()), (StatusCode::OK, json!("success")));
    assert_eq!(polled.body["reference"]["id"], uuid);
    assert_eq!(app.exo(Method::GET, &format!("/v2/instance/{uuid}"), "", b"").await.status, StatusCode::OK);

    // The same holds for a delete: refused with its operation, the instance stays.
    store::testing::refuse_inserts(&app.database, "operations").await.unwrap();
    let failed = app.exo(Method::DELETE, &format!("/v2/instance/{uuid}"), "", b"").await;
    assert!(failed.status.is_server_error(), "{} {}", failed.status, failed.body);
    store::testing::allow_inserts(&app.database, "operations").await.unwrap();
    assert_eq!(app.exo(Method::GET, &format!("/v2/instance/{uuid}"), "", b"").await.status, StatusCode::OK);
    let deleted = app.exo(Method::DELETE, &format!("/v2/instance/{uuid}"), "", b"").await;
    assert_eq!(deleted.body["state"], "success", "{}", deleted.body);
    assert_eq!(app.exo(Method::GET, &format!("/v2/instance/{uuid}"), "", b"").await.status, StatusCode::NOT_FOUND);
}
