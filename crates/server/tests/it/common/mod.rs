//! The harness of the server's integration tests: the real application on `127.0.0.1:0` with a
//! fresh database, and typed helpers to call it. The database is a SQLite file, or a new
//! database on the PostgreSQL server that `BERTH_TEST_POSTGRES_URL` names (`scripts/test` runs
//! the suite both ways).

#![allow(dead_code)] // Each suite uses a different part of the harness, and some only with a feature.

use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_core::{Berth, DemoOptions, FleetSeed, Principal, RackSeed, RegionId, RegionSeed, Resources, Settings};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::watch;

pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    /// The test account's Linode token.
    pub token: String,
    /// The test account's Exoscale API key and secret.
    pub api_key: String,
    pub api_secret: String,
    /// The operator's token for `/v1`.
    pub operator_token: String,
    pub berth: Arc<Berth>,
    /// What `store::Store::open` takes to reach the application's database, for a test that
    /// writes what no API call would.
    pub database: String,
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

/// How to start the application for a test.
pub struct Setup {
    /// The fleet instead of the demo's (with one account instead of the demo account).
    pub fleet: Option<FleetSeed>,
    pub server: server::Settings,
    /// The domain's settings. Tests leave repair off unless they test it, so that nothing
    /// moves under their feet.
    pub core: Settings,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            fleet: None,
            server: server::Settings::default(),
            core: Settings {
                migration_duration: Duration::from_millis(300),
                repair: false,
                api_key_prefix: server::API_KEY_PREFIX.to_string(),
                ..Settings::default()
            },
        }
    }
}

/// The application on the demo fleet, with the demo account.
pub async fn spawn_app() -> TestApp {
    spawn(Setup::default()).await
}

/// The application on the given fleet instead of the demo's, with one account.
pub async fn spawn_app_with(fleet: FleetSeed) -> TestApp {
    spawn(Setup { fleet: Some(fleet), ..Setup::default() }).await
}

/// The application on the demo fleet, with these HTTP settings.
pub async fn spawn_app_with_settings(settings: server::Settings) -> TestApp {
    spawn(Setup { server: settings, ..Setup::default() }).await
}

pub async fn spawn(setup: Setup) -> TestApp {
    let Setup { fleet, server: server_settings, core: settings } = setup;
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = store::testing::fresh_database(dir.path()).await.expect("a fresh database");
    let store = store::Store::open(&url).await.expect("open the store");
    let database = url.clone();
    let berth = Arc::new(Berth::new(store, settings));
    let token = "test-token-0123456789abcdef".to_string();
    let api_key = "EXOtest0123456789abcdef0".to_string();
    let api_secret = "test-secret-0123456789abcdefghijklmnopqrstu".to_string();
    let operator_token = "operator-token-0123456789abcdef".to_string();
    match fleet {
        None => {
            let options = DemoOptions {
                token: Some(token.clone()),
                api_key: Some(api_key.clone()),
                api_secret: Some(api_secret.clone()),
                operator_token: Some(operator_token.clone()),
            };
            berth.demo_seed(&server::demo_fleet(), options).await.expect("seed the demo");
        }
        Some(fleet) => {
            berth.fleet_seed(&fleet).await.expect("seed the fleet");
            let principal =
                berth.account_seed("test", "tester", "tester@example.com", &token).await.expect("seed the account");
            berth
                .api_key_create(&principal, "test", Some(api_key.clone()), Some(api_secret.clone()))
                .await
                .expect("give the account an API key");
            berth.operator_token_create("test", &operator_token).await.expect("create the operator token");
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
    let router = server::router(berth.clone(), server_settings);
    tokio::spawn(server::serve(listener, router, async move {
        let _ = stopped_server.wait_for(|s| *s).await;
    }));
    // Serve once ready, as a client that waits on `/readyz` would: the background work loads
    // the region fleets first.
    let loading = Instant::now();
    while !berth.fleets_loaded() {
        assert!(loading.elapsed() < Duration::from_secs(30), "the region fleets did not load");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    TestApp {
        address,
        token,
        api_key,
        api_secret,
        operator_token,
        database,
        berth,
        client: reqwest::Client::new(),
        stop,
        _dir: dir,
    }
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

/// An EXO2-HMAC-SHA256 `Authorization` header, written here independently of the server's
/// verifier: `names` are listed as the signed query arguments and `values` is the line of
/// their values as the signer computed it.
#[allow(clippy::too_many_arguments)] // One argument per part of the signed message.
pub fn exo_authorization(
    key: &str,
    secret: &str,
    method: &str,
    path: &str,
    body: &[u8],
    names: &[&str],
    values: &str,
    expires: &str,
) -> String {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let mut message = format!("{method} {path}\n").into_bytes();
    message.extend_from_slice(body);
    message.extend_from_slice(format!("\n{values}\n\n{expires}").as_bytes());
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&message);
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let args = if names.is_empty() { String::new() } else { format!(",signed-query-args={}", names.join(";")) };
    format!("EXO2-HMAC-SHA256 credential={key}{args},expires={expires},signature={signature}")
}

/// Ten minutes from now, as clients sign.
pub fn expires_soon() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    i64::try_from(now).unwrap() + 600
}

impl TestApp {
    /// A request signed with the test account's API key; `path` is the full path as sent,
    /// `query` the raw query string (without repeated names), and every query argument is
    /// signed.
    pub async fn exo(&self, method: Method, path: &str, query: &str, body: &[u8]) -> Reply {
        let mut pairs = form_urlencoded_pairs(query);
        pairs.sort();
        let names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        let values: String = pairs.iter().map(|(_, v)| v.as_str()).collect();
        let expires = expires_soon().to_string();
        let authorization =
            exo_authorization(&self.api_key, &self.api_secret, method.as_str(), path, body, &names, &values, &expires);
        self.exo_with(method, path, query, body.to_vec(), Some(&authorization)).await
    }

    /// A request with the given `Authorization` header (or none).
    pub async fn exo_with(
        &self,
        method: Method,
        path: &str,
        query: &str,
        body: Vec<u8>,
        authorization: Option<&str>,
    ) -> Reply {
        let url = if query.is_empty() {
            format!("{}{path}", self.address)
        } else {
            format!("{}{path}?{query}", self.address)
        };
        let mut request = self.client.request(method, url).body(body).header("content-type", "application/json");
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        reply(request.send().await.expect("send the request")).await
    }

    /// A signed JSON request.
    pub async fn exo_json(&self, method: Method, path: &str, body: Value) -> Reply {
        self.exo(method, path, "", body.to_string().as_bytes()).await
    }
}

fn form_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key), decode(value))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.replace('+', " ").into_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
