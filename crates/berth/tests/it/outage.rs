//! The database goes away under a running berth and comes back: meanwhile every dialect answers
//! 503 with a JSON error in its own format and `Retry-After`, `/readyz` fails, and nothing is
//! half-done; afterwards berth serves again by itself, with every change it acknowledged. A berth
//! started while the database is away waits for it.
//!
//! The outage is real: berth reaches PostgreSQL through a TCP proxy in this test, which cuts
//! every connection and refuses new ones, then lets them through again. It needs the server that
//! `BERTH_TEST_POSTGRES_URL` names and the `postgres-tests` feature.

#![cfg(feature = "postgres-tests")]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use crate::common::fleet::{Api, Outcome, TYPE};
use crate::common::{Place, eventually, start};

const TOKEN: &str = "outage-token-0123456789";
const OPERATOR: &str = "outage-operator-0123456789";
const REGION: &str = "out-1";

/// A TCP proxy to the database server that can cut it off and let it back.
struct Proxy {
    address: SocketAddr,
    cut: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port for the proxy");
        let address = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (accept_cut, accept_links) = (cut.clone(), links.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else { continue };
                // While cut, a connection is closed as soon as it is made: the database is away.
                if accept_cut.load(Ordering::SeqCst) {
                    continue;
                }
                let upstream = upstream.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                accept_links.lock().unwrap().push(link.abort_handle());
            }
        });
        Proxy { address, cut, links }
    }

    /// Closes every connection and refuses new ones.
    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

/// A new database on the test server, reached through a proxy: the proxy, and a place whose
/// database URL (`postgres://USER@HOST:PORT/NAME`) names the proxy instead of the server.
async fn proxied_database() -> (Proxy, Place) {
    let server = store::testing::postgres_server()
        .unwrap_or_else(|| panic!("set {} to a PostgreSQL server's URL", store::testing::POSTGRES_URL_VARIABLE));
    let database = store::testing::postgres_database(&server).await.expect("a new database");
    let (scheme, rest) = database.split_once("://").expect("a URL");
    let (user, rest) = rest.split_once('@').expect("a user in the URL");
    let (upstream, name) = rest.split_once('/').expect("a database in the URL");
    let proxy = Proxy::start(upstream.to_string()).await;
    let place = Place::with_database(format!("{scheme}://{user}@{}/{name}", proxy.address));
    (proxy, place)
}

async fn get(api: &Api, path: &str, auth: Option<&str>) -> (StatusCode, Option<String>, Value) {
    let mut request = api.client.get(format!("{}{path}", api.base)).timeout(Duration::from_secs(30));
    if let Some(header) = auth {
        request = request.header("authorization", header);
    }
    let response = request.send().await.expect("berth answers, database or not");
    let status = response.status();
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    let body = response.json().await.unwrap_or(Value::Null);
    (status, retry_after, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_the_database_goes_away_berth_answers_503_and_recovers_by_itself_losing_nothing() {
    let (proxy, place) = proxied_database().await;

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
    ];
    let berth = start(&place, &args);
    let api = Api::new(&berth.address, TOKEN, OPERATOR);
    api.region_create(REGION, 4, 2, 16).await;
    let group = api.group_create(REGION, "apart").await;
    let mut acknowledged = Vec::new();
    for _ in 0..2 {
        match api.linode_create(REGION, group).await {
            Outcome::Created { id, .. } => acknowledged.push(id),
            other => panic!("{other:?}"),
        }
    }
    let exoscale_key = std::fs::read_to_string(place.credentials_file())
        .expect("the demo credentials")
        .lines()
        .find_map(|line| line.strip_prefix("EXOSCALE_API_KEY=").map(str::to_string))
        .expect("the demo API key");
    // A well-formed signature by the demo key: berth must read the key's secret to judge it.
    let expires = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 600;
    let exoscale_auth =
        format!("EXO2-HMAC-SHA256 credential={exoscale_key},expires={expires},signature=c2lnbmF0dXJlIG9mIG5vdGhpbmc=");

    proxy.cut();

    // Linode: {"errors": [{"reason"}]}.
    let (status, retry_after, body) = get(&api, "/v4/placement/groups", Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert!(body["errors"][0]["reason"].as_str().unwrap().contains("database"), "{body}");
    // A change is refused whole: nothing of it is kept once the database is back.
    let refused = api
        .client
        .post(format!("{}/v4/linode/instances", api.base))
        .bearer_auth(TOKEN)
        .json(&json!({"type": TYPE, "region": REGION, "label": "during-the-outage", "placement_group": {"id": group}}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Exoscale: {"message"}.
    let (status, retry_after, body) = get(&api, "/v2/anti-affinity-group", Some(&exoscale_auth)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert!(body["message"].as_str().unwrap().contains("database"), "{body}");
    // The operator API: {"error": {"code", "message"}}.
    let (status, retry_after, body) = get(&api, "/v1/hosts", Some(&format!("Bearer {OPERATOR}"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    // Readiness fails; liveness does not (the process is fine).
    let (status, _, body) = get(&api, "/readyz", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let (status, _, _) = get(&api, "/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    // The background work notices too, and waits.
    let mut lines = Vec::new();
    eventually("the background work notices", || {
        lines.extend(berth.lines());
        let noticed = lines.iter().any(|l| l.contains("cannot reach the database"));
        async move { noticed }
    })
    .await;

    let restored_at = Instant::now();
    proxy.restore();
    eventually("berth is ready again", || async { get(&api, "/readyz", None).await.0 == StatusCode::OK }).await;
    let recovered = restored_at.elapsed();
    eventually("the background work resumes", || {
        lines.extend(berth.lines());
        let resumed = lines.iter().any(|l| l.contains("the database is reachable again"));
        async move { resumed }
    })
    .await;

    // Everything acknowledged is there; the refused create left nothing behind.
    let view = api.operator_get(&format!("/groups/{group}")).await;
    let mut members: Vec<i64> =
        view["members"].as_array().unwrap().iter().map(|m| m["instance"].as_i64().unwrap()).collect();
    members.sort_unstable();
    assert_eq!(members, acknowledged, "{view}");
    let (status, _, listed) = get(&api, "/v4/linode/instances", Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!listed["data"].as_array().unwrap().iter().any(|l| l["label"] == "during-the-outage"), "{listed}");
    // And berth takes changes again.
    assert!(matches!(api.linode_create(REGION, group).await, Outcome::Created { .. }));
    let (status, _, _) = get(&api, "/v2/anti-affinity-group", Some(&exoscale_auth)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the made-up signature is judged, and refused, again");
    let violations = place.region_check(REGION);
    assert!(violations.is_empty(), "{violations:#?}");
    berth.stop();
    println!("ready again {recovered:?} after the database came back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn berth_started_while_the_database_is_away_waits_for_it_and_then_serves() {
    let (proxy, place) = proxied_database().await;
    proxy.cut();
    let place = Arc::new(place);
    let starting = {
        let place = place.clone();
        tokio::task::spawn_blocking(move || start(&place, &["--demo-token", TOKEN]))
    };
    // It cannot get ready without its database, however long it is given.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!starting.is_finished(), "berth got ready without its database");
    proxy.restore();
    let berth = starting.await.expect("berth gets ready once the database is back");
    let lines = berth.lines();
    assert!(lines.iter().any(|l| l.contains("the database cannot be reached yet; retrying")), "{lines:#?}");
    let api = Api::new(&berth.address, TOKEN, OPERATOR);
    let (status, _, body) = get(&api, "/readyz", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = get(&api, "/v4/regions", Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    berth.stop();
}
