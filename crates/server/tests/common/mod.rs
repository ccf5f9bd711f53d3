//! The harness of the server's integration tests: the real application on `127.0.0.1:0` with a
//! fresh SQLite database, and typed helpers to call it.

#![allow(dead_code)] // Each test binary uses a different part of the harness.

use std::sync::Arc;
use std::time::Duration;

use berth_core::{Berth, DemoOptions, FleetSeed, Principal, RackSeed, RegionId, RegionSeed, Resources, Settings};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::watch;

pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    /// The demo account's token.
    pub token: String,
    pub berth: Arc<Berth>,
    pub client: reqwest::Client,
    stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// The reply to a request: its status and its body as JSON (`Null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// The `reason` of the first error of a Linode error body.
    pub fn reason(&self) -> &str {
        self.body["errors"][0]["reason"].as_str().unwrap_or_else(|| panic!("no error reason in {}", self.body))
    }

    pub fn field(&self) -> Option<&str> {
        self.body["errors"][0]["field"].as_str()
    }
}

/// The application on the demo fleet, with the demo account.
pub async fn spawn_app() -> TestApp {
    spawn(None).await
}

/// The application on the given fleet instead of the demo's, with one account.
pub async fn spawn_app_with(fleet: FleetSeed) -> TestApp {
    spawn(Some(fleet)).await
}

async fn spawn(fleet: Option<FleetSeed>) -> TestApp {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("berth.db");
    let store = store::Store::open(path.to_str().unwrap()).await.expect("open the store");
    let settings = Settings { migration_duration: Duration::from_millis(300), ..Settings::default() };
    let berth = Arc::new(Berth::new(store, settings));
    let token = "test-token-0123456789abcdef".to_string();
    match fleet {
        None => {
            let options = DemoOptions { token: Some(token.clone()), ..DemoOptions::default() };
            berth.demo_seed(options).await.expect("seed the demo");
        }
        Some(fleet) => {
            berth.fleet_seed(&fleet).await.expect("seed the fleet");
            berth.account_seed("test", "tester", "tester@example.com", &token).await.expect("seed the account");
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = watch::channel(false);
    let mut stopped_background = stopped.clone();
    tokio::spawn(server::run_background(berth.clone(), async move {
        let _ = stopped_background.wait_for(|s| *s).await;
    }));
    let mut stopped_server = stopped;
    let router = server::router(berth.clone(), server::Settings::default());
    tokio::spawn(server::serve(listener, router, async move {
        let _ = stopped_server.wait_for(|s| *s).await;
    }));
    TestApp { address, token, berth, client: reqwest::Client::new(), stop, _dir: dir }
}

/// One region of `hosts` hosts spread over `racks` racks, each host with `capacity`.
pub fn region(id: &str, racks: usize, hosts: usize, capacity: Resources) -> RegionSeed {
    RegionSeed {
        id: id.to_string(),
        label: format!("Region {id}"),
        country: "us".to_string(),
        max_members_per_group: 5,
        max_groups_per_account: None,
        racks: (0..racks)
            .map(|rack| RackSeed {
                name: format!("r{}", rack + 1),
                hosts: (0..hosts).filter(|h| h % racks == rack).map(|_| capacity).collect(),
            })
            .collect(),
    }
}

pub fn capacity(vcpus: u32, memory_gib: u64) -> Resources {
    Resources { vcpus, memory_mib: memory_gib * 1024, disk_mib: 4096 * 1024, gpus: 0 }
}

impl TestApp {
    pub async fn request(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.request_with(method, path, body, Some(&self.token), &[]).await
    }

    pub async fn request_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("send the request");
        reply(response).await
    }

    pub async fn raw(&self, method: Method, path: &str, body: Vec<u8>) -> Reply {
        let response = self
            .client
            .request(method, format!("{}{path}", self.address))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("send the request");
        reply(response).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.request(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.request(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.request(Method::DELETE, path, None).await
    }

    /// Creates a placement group and returns its id.
    pub async fn group(&self, label: &str, region: &str, kind: &str, policy: &str) -> i64 {
        let reply = self
            .post(
                "/v4/placement/groups",
                serde_json::json!({"label": label, "region": region, "placement_group_type": kind, "placement_group_policy": policy}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "creating group {label}: {}", reply.body);
        reply.body["id"].as_i64().unwrap()
    }

    /// Creates a Linode (in `group` when given) and returns its JSON.
    pub async fn linode(&self, region: &str, kind: &str, group: Option<i64>) -> Value {
        let mut body = serde_json::json!({"type": kind, "region": region});
        if let Some(group) = group {
            body["placement_group"] = serde_json::json!({"id": group});
        }
        let reply = self.post("/v4/linode/instances", body).await;
        assert_eq!(reply.status, StatusCode::OK, "creating a Linode: {}", reply.body);
        reply.body
    }

    /// The principal of the test account.
    pub async fn principal(&self) -> Principal {
        self.berth.authenticate_token(&self.token).await.unwrap()
    }

    /// Every invariant of the region holds in the store.
    pub async fn assert_consistent(&self, region: &str) {
        let violations = self.berth.region_check(&RegionId::parse(region).unwrap()).await.unwrap();
        assert!(violations.is_empty(), "region {region} is inconsistent: {violations:#?}");
    }

    /// Waits until `done` holds for a GET of `path`, for at most ten seconds.
    pub async fn wait_for(&self, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..100 {
            let reply = self.get(path).await;
            if done(&reply.body) {
                return reply.body;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{path} never reached the expected state");
    }
}

async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("read the body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("body is not JSON: {}", String::from_utf8_lossy(&bytes)))
    };
    Reply { status, body, headers }
}
