//! The authorization matrix: every route of every dialect, called with each kind of credential,
//! against one table of expected statuses; and a check that the table lists every route berth
//! serves.

use berth_core::{Principal, Scopes, UserId};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestApp, exo_authorization, expires_soon, spawn_app};

/// The credentials of the matrix, in the order of the table's columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cell {
    /// No credential at all.
    Missing,
    /// A credential that cannot be read.
    Malformed,
    /// A credential that was good and has expired.
    Expired,
    /// A good credential of another account.
    OtherAccount,
    /// A good credential of a restricted user of the same account, holding no grant.
    Restricted,
    /// A good token of the same account whose scopes are all read-only.
    ReadOnly,
    /// The right credential.
    Right,
}

const CELLS: [Cell; 7] =
    [Cell::Missing, Cell::Malformed, Cell::Expired, Cell::OtherAccount, Cell::Restricted, Cell::ReadOnly, Cell::Right];

/// Not applicable: the dialect has no such credential.
const NA: u16 = 0;

/// dialect, method, path (under the dialect's prefix), and the status for each cell.
const TABLE: &[(&str, &str, &str, [u16; 7])] = &[
    ("health", "GET", "/healthz", [200, 200, 200, 200, 200, 200, 200]),
    ("health", "GET", "/readyz", [200, 200, 200, 200, 200, 200, 200]),
    // Linode: scopes at the gate, grants in core; a resource the caller may not see is 404.
    ("linode", "GET", "/placement/groups", [401, 401, 401, 200, 200, 200, 200]),
    ("linode", "POST", "/placement/groups", [401, 401, 401, 200, 403, 401, 200]),
    ("linode", "GET", "/placement/groups/{id}", [401, 401, 401, 404, 404, 200, 200]),
    ("linode", "PUT", "/placement/groups/{id}", [401, 401, 401, 404, 404, 401, 200]),
    ("linode", "DELETE", "/placement/groups/{id}", [401, 401, 401, 404, 404, 401, 200]),
    ("linode", "POST", "/placement/groups/{id}/assign", [401, 401, 401, 404, 404, 401, 200]),
    ("linode", "POST", "/placement/groups/{id}/unassign", [401, 401, 401, 404, 404, 401, 200]),
    ("linode", "GET", "/linode/instances", [401, 401, 401, 200, 200, 200, 200]),
    ("linode", "POST", "/linode/instances", [401, 401, 401, 200, 403, 401, 200]),
    ("linode", "GET", "/linode/instances/{id}", [401, 401, 401, 404, 404, 200, 200]),
    ("linode", "PUT", "/linode/instances/{id}", [401, 401, 401, 404, 404, 401, 200]),
    ("linode", "DELETE", "/linode/instances/{id}", [401, 401, 401, 404, 404, 401, 200]),
    ("linode", "POST", "/linode/instances/{id}/migrate", [401, 401, 401, 404, 404, 401, 200]),
    ("linode", "GET", "/linode/types", [200, 401, 401, 200, 200, 200, 200]),
    ("linode", "GET", "/linode/types/{id}", [200, 401, 401, 200, 200, 200, 200]),
    ("linode", "GET", "/regions", [200, 401, 401, 200, 200, 200, 200]),
    ("linode", "GET", "/regions/{id}", [200, 401, 401, 200, 200, 200, 200]),
    ("linode", "GET", "/images", [200, 401, 401, 200, 200, 200, 200]),
    ("linode", "GET", "/images/{*id}", [200, 401, 401, 200, 200, 200, 200]),
    ("linode", "GET", "/account", [401, 401, 401, 200, 200, 200, 200]),
    ("linode", "GET", "/account/availability", [401, 401, 401, 200, 200, 200, 200]),
    ("linode", "GET", "/account/events", [401, 401, 401, 200, 200, 200, 200]),
    ("linode", "GET", "/account/events/{id}", [401, 401, 401, 404, 404, 200, 200]),
    ("linode", "GET", "/profile", [401, 401, 401, 200, 200, 200, 200]),
    ("linode", "GET", "/profile/grants", [401, 401, 401, 204, 200, 204, 204]),
    ("linode", "GET", "/networking/firewalls", [401, 401, 401, 200, 200, 200, 200]),
    ("linode", "POST", "/networking/firewalls", [401, 401, 401, 200, 403, 401, 200]),
    ("linode", "GET", "/networking/firewalls/{id}", [401, 401, 401, 404, 404, 200, 200]),
    ("linode", "DELETE", "/networking/firewalls/{id}", [401, 401, 401, 404, 404, 401, 200]),
    ("linode", "GET", "/networking/firewalls/{id}/devices", [401, 401, 401, 404, 404, 200, 200]),
    // Exoscale: every route but the zone list is signed; API keys have no scopes.
    ("exoscale", "GET", "/zone", [200, 200, 200, 200, 200, NA, 200]),
    ("exoscale", "GET", "/anti-affinity-group", [403, 403, 403, 200, 200, NA, 200]),
    ("exoscale", "POST", "/anti-affinity-group", [403, 403, 403, 200, 403, NA, 200]),
    ("exoscale", "GET", "/anti-affinity-group/{id}", [403, 403, 403, 404, 404, NA, 200]),
    ("exoscale", "DELETE", "/anti-affinity-group/{id}", [403, 403, 403, 404, 404, NA, 200]),
    ("exoscale", "GET", "/operation/{id}", [403, 403, 403, 404, 200, NA, 200]),
    ("exoscale", "GET", "/instance", [403, 403, 403, 200, 200, NA, 200]),
    ("exoscale", "POST", "/instance", [403, 403, 403, 200, 403, NA, 200]),
    ("exoscale", "GET", "/instance/{id}", [403, 403, 403, 404, 404, NA, 200]),
    ("exoscale", "PUT", "/instance/{id}", [403, 403, 403, 404, 404, NA, 200]),
    ("exoscale", "DELETE", "/instance/{id}", [403, 403, 403, 404, 404, NA, 200]),
    ("exoscale", "GET", "/instance-type", [403, 403, 403, 200, 200, NA, 200]),
    ("exoscale", "GET", "/instance-type/{id}", [403, 403, 403, 200, 200, NA, 200]),
    ("exoscale", "GET", "/template", [403, 403, 403, 200, 200, NA, 200]),
    ("exoscale", "GET", "/template/{id}", [403, 403, 403, 200, 200, NA, 200]),
    // The operator API takes only the operator's token: any account's credential is refused.
    ("operator", "GET", "/openapi.json", [200, 200, NA, 200, 200, 200, 200]),
    ("operator", "GET", "/instances", [401, 401, NA, 401, 401, 401, 200]),
    ("operator", "GET", "/instances/{id}", [401, 401, NA, 401, 401, 401, 200]),
    ("operator", "GET", "/regions", [401, 401, NA, 401, 401, 401, 200]),
    ("operator", "POST", "/regions", [401, 401, NA, 401, 401, 401, 201]),
    ("operator", "GET", "/regions/{region}", [401, 401, NA, 401, 401, 401, 200]),
    ("operator", "GET", "/hosts", [401, 401, NA, 401, 401, 401, 200]),
    ("operator", "POST", "/hosts", [401, 401, NA, 401, 401, 401, 201]),
    ("operator", "GET", "/hosts/{host}", [401, 401, NA, 401, 401, 401, 200]),
    ("operator", "PATCH", "/hosts/{host}", [401, 401, NA, 401, 401, 401, 200]),
    ("operator", "POST", "/hosts/{host}/drain", [401, 401, NA, 401, 401, 401, 200]),
    ("operator", "POST", "/hosts/{host}/maintenance", [401, 401, NA, 401, 401, 401, 200]),
    ("operator", "POST", "/hosts/{host}/activate", [401, 401, NA, 401, 401, 401, 200]),
    ("operator", "POST", "/hosts/{host}/fail", [401, 401, NA, 401, 401, 401, 200]),
    ("operator", "GET", "/groups", [401, 401, NA, 401, 401, 401, 200]),
    ("operator", "GET", "/groups/{id}", [401, 401, NA, 401, 401, 401, 200]),
    ("operator", "GET", "/groups/{id}/headroom", [401, 401, NA, 401, 401, 401, 200]),
    ("operator", "POST", "/explain/placement", [401, 401, NA, 401, 401, 401, 200]),
    ("operator", "POST", "/explain/assignment", [401, 401, NA, 401, 401, 401, 200]),
    ("operator", "GET", "/migrations", [401, 401, NA, 401, 401, 401, 200]),
    ("operator", "GET", "/migrations/plan", [401, 401, NA, 401, 401, 401, 200]),
    ("operator", "GET", "/migrations/{id}", [401, 401, NA, 401, 401, 401, 200]),
    // The embedded executor runs migrations itself: agents have nothing to claim (409).
    ("operator", "POST", "/migration-jobs/claim", [401, 401, NA, 401, 401, 401, 409]),
    ("operator", "POST", "/migration-jobs/{id}/heartbeat", [401, 401, NA, 401, 401, 401, 409]),
    ("operator", "POST", "/migration-jobs/{id}/complete", [401, 401, NA, 401, 401, 401, 409]),
    ("operator", "POST", "/migration-jobs/{id}/fail", [401, 401, NA, 401, 401, 401, 409]),
    ("operator", "GET", "/accounts", [401, 401, NA, 401, 401, 401, 200]),
    ("operator", "POST", "/accounts", [401, 401, NA, 401, 401, 401, 201]),
    ("operator", "GET", "/accounts/{account}", [401, 401, NA, 401, 401, 401, 200]),
    ("operator", "GET", "/accounts/{account}/users", [401, 401, NA, 401, 401, 401, 200]),
    ("operator", "POST", "/accounts/{account}/users", [401, 401, NA, 401, 401, 401, 201]),
    ("operator", "GET", "/accounts/{account}/users/{user}", [401, 401, NA, 401, 401, 401, 200]),
    ("operator", "GET", "/accounts/{account}/users/{user}/tokens", [401, 401, NA, 401, 401, 401, 200]),
    ("operator", "POST", "/accounts/{account}/users/{user}/tokens", [401, 401, NA, 401, 401, 401, 201]),
    ("operator", "DELETE", "/accounts/{account}/tokens/{token}", [401, 401, NA, 401, 401, 401, 204]),
    ("operator", "GET", "/accounts/{account}/api-keys", [401, 401, NA, 401, 401, 401, 200]),
    ("operator", "POST", "/accounts/{account}/users/{user}/api-keys", [401, 401, NA, 401, 401, 401, 201]),
    ("operator", "DELETE", "/accounts/{account}/api-keys/{key}", [401, 401, NA, 401, 401, 401, 204]),
    ("operator", "GET", "/accounts/{account}/users/{user}/grants", [401, 401, NA, 401, 401, 401, 200]),
    ("operator", "PUT", "/accounts/{account}/users/{user}/grants", [401, 401, NA, 401, 401, 401, 200]),
];

#[test]
fn the_table_lists_every_route_berth_serves_and_nothing_else() {
    let mut served = Vec::new();
    for dialect in server::dialects() {
        for route in dialect.routes {
            served.push((dialect.name, route.method, route.path));
        }
    }
    for route in &served {
        assert!(
            TABLE.iter().any(|(d, m, p, _)| (*d, *m, *p) == *route),
            "{route:?} is served but the authorization table does not list it"
        );
    }
    for (dialect, method, path, _) in TABLE {
        assert!(served.contains(&(*dialect, *method, *path)), "the table lists {method} {path}, which is not served");
    }
}

/// The accounts, users and credentials the matrix uses.
struct World {
    app: TestApp,
    owner: Principal,
    /// A token of a restricted user of the same account, with no grant.
    restricted_token: String,
    restricted_key: (String, String),
    /// Every scope, read-only.
    read_only_token: String,
    expired_token: String,
    other_token: String,
    other_key: (String, String),
    /// Users whose grants the matrix may replace.
    grants_user: UserId,
}

async fn world() -> World {
    let app = spawn_app().await;
    let owner = app.principal().await;
    let account = owner.account;
    let berth = &app.berth;
    let restricted = berth.user_create(account, "restricted", "restricted@example.com", true).await.unwrap();
    let (_, restricted_token) =
        berth.token_create(account, restricted.id, "matrix", Scopes::all(), None).await.unwrap();
    let (key, secret) = berth.api_key_issue(account, restricted.id, "matrix").await.unwrap();
    let restricted_key = (key.key, secret);
    let read_only: Vec<String> = server::SCOPE_AREAS.iter().map(|area| format!("{area}:read_only")).collect();
    let (_, read_only_token) = berth
        .token_create(
            account,
            owner.user,
            "read-only",
            Scopes::parse(&read_only.join(" "), server::SCOPE_AREAS).unwrap(),
            None,
        )
        .await
        .unwrap();
    // A token whose expiry has passed, written straight to the store: the API refuses to
    // create one.
    let expired_token = "expired-token-0123456789abcdef".to_string();
    {
        let store = store::Store::open(&app.database).await.unwrap();
        let mut tx = store.write().await.unwrap();
        let hash = berth_core::auth::token_hash(&expired_token);
        tx.db().tenant(account.0).token_insert(owner.user.0, "expired", &hash, "*", 0, Some(1)).await.unwrap();
        tx.commit().await.unwrap();
        store.close().await;
    }
    let other_token = "other-account-token-0123456789ab".to_string();
    let other = berth.account_seed("other", "other-user", "other@example.com", &other_token).await.unwrap();
    let (key, secret) = berth.api_key_issue(other.account, other.user, "other").await.unwrap();
    let other_key = (key.key, secret);
    let grants_user = berth.user_create(account, "granted", "granted@example.com", true).await.unwrap().id;
    World {
        app,
        owner,
        restricted_token,
        restricted_key,
        read_only_token,
        expired_token,
        other_token,
        other_key,
        grants_user,
    }
}

/// A request ready to send: its path (with ids filled in) and body.
struct Prepared {
    path: String,
    body: Option<Value>,
}

/// Fills in a route's path and body, creating (as the owner) whatever a destructive route
/// consumes, so that every cell acts on a resource of its own.
async fn prepare(world: &World, dialect: &str, method: &str, path: &str) -> Prepared {
    let app = &world.app;
    let owner = &world.owner;
    let account = owner.account.0;
    let group = || async {
        let label = format!("pg-{}", uuid_fragment());
        app.group(&label, "us-mia", "anti_affinity:local", "flexible").await
    };
    let linode = || async { app.linode("us-mia", "g6-nanode-1", None).await["id"].as_i64().unwrap() };
    let filled = |path: &str, id: &dyn std::fmt::Display| path.replace("{id}", &id.to_string());
    match (dialect, method, path) {
        ("linode", "POST", "/placement/groups") => Prepared {
            path: path.into(),
            body: Some(json!({"label": format!("new-{}", uuid_fragment()), "region": "us-mia",
                "placement_group_type": "anti_affinity:local", "placement_group_policy": "flexible"})),
        },
        ("linode", "PUT", "/placement/groups/{id}") => Prepared {
            path: filled(path, &group().await),
            body: Some(json!({"label": format!("l-{}", uuid_fragment())})),
        },
        ("linode", "POST", "/placement/groups/{id}/assign") => {
            let body = json!({"linodes": [linode().await]});
            Prepared { path: filled(path, &group().await), body: Some(body) }
        }
        ("linode", "POST", "/placement/groups/{id}/unassign") => {
            let id = group().await;
            let member = app.linode("us-mia", "g6-nanode-1", Some(id)).await["id"].clone();
            Prepared { path: filled(path, &id), body: Some(json!({"linodes": [member]})) }
        }
        ("linode", _, "/placement/groups/{id}") => Prepared { path: filled(path, &group().await), body: None },
        ("linode", "POST", "/linode/instances") => {
            Prepared { path: path.into(), body: Some(json!({"type": "g6-nanode-1", "region": "us-ord"})) }
        }
        ("linode", "PUT", "/linode/instances/{id}") => {
            Prepared { path: filled(path, &linode().await), body: Some(json!({"tags": ["matrix"]})) }
        }
        ("linode", "POST", "/linode/instances/{id}/migrate") => {
            Prepared { path: filled(path, &linode().await), body: Some(json!({"region": "us-ord"})) }
        }
        ("linode", _, "/linode/instances/{id}") => Prepared { path: filled(path, &linode().await), body: None },
        ("linode", _, "/linode/types/{id}") => Prepared { path: filled(path, &"g6-nanode-1"), body: None },
        ("linode", _, "/regions/{id}") => Prepared { path: filled(path, &"us-mia"), body: None },
        ("linode", _, "/images/{*id}") => Prepared { path: "/images/linode/debian12".into(), body: None },
        ("linode", _, "/account/events/{id}") => {
            // An event about a group the owner just created.
            group().await;
            let events = app.berth.events(owner).await.unwrap();
            Prepared { path: filled(path, &events[0].id), body: None }
        }
        ("linode", "POST", "/networking/firewalls") => Prepared {
            path: path.into(),
            body: Some(json!({"label": format!("fw-{}", uuid_fragment()),
                "rules": {"inbound_policy": "DROP", "outbound_policy": "ACCEPT"}})),
        },
        ("linode", _, p) if p.starts_with("/networking/firewalls/{id}") => {
            let created = app
                .post(
                    "/v4/networking/firewalls",
                    json!({"label": format!("fw-{}", uuid_fragment()),
                        "rules": {"inbound_policy": "DROP", "outbound_policy": "ACCEPT"}}),
                )
                .await;
            Prepared { path: filled(path, &created.body["id"]), body: None }
        }
        ("exoscale", "POST", "/anti-affinity-group") => {
            Prepared { path: path.into(), body: Some(json!({"name": format!("aag-{}", uuid_fragment())})) }
        }
        ("exoscale", _, "/anti-affinity-group/{id}") => {
            let reply = app
                .exo_json(Method::POST, "/v2/anti-affinity-group", json!({"name": format!("aag-{}", uuid_fragment())}))
                .await;
            Prepared { path: filled(path, &reply.body["reference"]["id"].as_str().unwrap()), body: None }
        }
        ("exoscale", _, "/operation/{id}") => {
            let reply = app.exo_json(Method::POST, "/v2/anti-affinity-group", json!({"name": "op"})).await;
            Prepared { path: filled(path, &reply.body["id"].as_str().unwrap()), body: None }
        }
        ("exoscale", "POST", "/instance") => Prepared { path: path.into(), body: Some(exoscale_instance()) },
        ("exoscale", method, "/instance/{id}") => {
            let reply = app.exo_json(Method::POST, "/v2/instance", exoscale_instance()).await;
            let body = (method == "PUT").then(|| json!({"name": "renamed"}));
            Prepared { path: filled(path, &reply.body["reference"]["id"].as_str().unwrap()), body }
        }
        ("exoscale", _, "/instance-type/{id}") => {
            Prepared { path: filled(path, &server::catalog::EXOSCALE_TYPES[0].id), body: None }
        }
        ("exoscale", _, "/template/{id}") => {
            Prepared { path: filled(path, &server::catalog::TEMPLATES[0].id), body: None }
        }
        ("operator", _, "/instances/{id}") => Prepared { path: filled(path, &linode().await), body: None },
        ("operator", "POST", "/regions") => Prepared {
            path: path.into(),
            body: Some(json!({"id": format!("r-{}", uuid_fragment()), "label": "New", "country": "fr"})),
        },
        ("operator", _, "/regions/{region}") => Prepared { path: path.replace("{region}", "us-mia"), body: None },
        ("operator", "POST", "/hosts") => Prepared {
            path: path.into(),
            body: Some(json!({"region": "us-mia", "rack": "r9",
                "capacity": {"vcpus": 8, "memory_mib": 16384, "disk_mib": 102400}})),
        },
        ("operator", method, p) if p.starts_with("/hosts/{host}") => {
            let host = app
                .berth
                .host_register(berth_core::HostCreate {
                    region: berth_core::RegionId::parse("us-mia").unwrap(),
                    name: None,
                    rack: "r9".into(),
                    capacity: berth_core::Resources { vcpus: 8, memory_mib: 16384, disk_mib: 102_400, gpus: 0 },
                    labels: Default::default(),
                })
                .await
                .unwrap();
            if p.ends_with("/maintenance") {
                app.berth.host_drain(&host.name).await.unwrap();
            }
            let body = match method {
                "PATCH" => Some(json!({"labels": {"row": "a"}})),
                "POST" => Some(json!({})),
                _ => None,
            };
            Prepared { path: path.replace("{host}", &host.name), body }
        }
        ("operator", _, p) if p.starts_with("/groups/{id}") => {
            let id = group().await;
            let path = if p.ends_with("/headroom") {
                format!("/groups/{id}/headroom?type=g6-nanode-1")
            } else {
                filled(path, &id)
            };
            Prepared { path, body: None }
        }
        ("operator", _, "/explain/placement") => {
            Prepared { path: path.into(), body: Some(json!({"region": "us-mia", "type": "g6-nanode-1"})) }
        }
        ("operator", _, "/explain/assignment") => {
            let body = json!({"instance": linode().await, "group": group().await});
            Prepared { path: path.into(), body: Some(body) }
        }
        ("operator", _, "/migrations/{id}") => {
            let id = linode().await;
            app.post(&format!("/v4/linode/instances/{id}/migrate"), json!({})).await;
            let filter =
                berth_core::MigrationFilter { instance: Some(berth_core::InstanceId(id)), ..Default::default() };
            let migration = app.berth.migrations(&filter).await.unwrap().remove(0);
            Prepared { path: filled(path, &migration.id.0), body: None }
        }
        ("operator", _, p) if p.starts_with("/migration-jobs") => {
            Prepared { path: filled(path, &1), body: Some(json!({"agent": "matrix"})) }
        }
        ("operator", "POST", "/accounts") => {
            Prepared { path: path.into(), body: Some(json!({"name": format!("acct-{}", uuid_fragment())})) }
        }
        ("operator", "POST", "/accounts/{account}/users") => Prepared {
            path: path.replace("{account}", &account.to_string()),
            body: Some(json!({"username": format!("user-{}", uuid_fragment()), "email": "new@example.com"})),
        },
        ("operator", "POST", "/accounts/{account}/users/{user}/tokens") => Prepared {
            path: path.replace("{account}", &account.to_string()).replace("{user}", &owner.user.0.to_string()),
            body: Some(json!({"label": "matrix", "scopes": "linodes:read_only"})),
        },
        ("operator", "POST", "/accounts/{account}/users/{user}/api-keys") => Prepared {
            path: path.replace("{account}", &account.to_string()).replace("{user}", &owner.user.0.to_string()),
            body: Some(json!({"name": "matrix"})),
        },
        ("operator", "DELETE", "/accounts/{account}/tokens/{token}") => {
            let (token, _) =
                app.berth.token_create(owner.account, owner.user, "doomed", Scopes::all(), None).await.unwrap();
            Prepared {
                path: path.replace("{account}", &account.to_string()).replace("{token}", &token.id.to_string()),
                body: None,
            }
        }
        ("operator", "DELETE", "/accounts/{account}/api-keys/{key}") => {
            let (key, _) = app.berth.api_key_issue(owner.account, owner.user, "doomed").await.unwrap();
            Prepared { path: path.replace("{account}", &account.to_string()).replace("{key}", &key.key), body: None }
        }
        ("operator", method, p) if p.ends_with("/grants") => Prepared {
            path: path.replace("{account}", &account.to_string()).replace("{user}", &world.grants_user.0.to_string()),
            body: (method == "PUT").then(|| json!({"global": ["add_linodes"]})),
        },
        ("operator", _, p) => Prepared {
            path: p.replace("{account}", &account.to_string()).replace("{user}", &owner.user.0.to_string()),
            body: None,
        },
        _ => Prepared { path: path.into(), body: None },
    }
}

fn exoscale_instance() -> Value {
    json!({"instance-type": {"id": server::catalog::EXOSCALE_TYPES[0].id},
        "template": {"id": server::catalog::TEMPLATES[0].id}, "disk-size": 10})
}

fn uuid_fragment() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}

/// Sends a prepared request with the credential of `cell`; `None` when the cell does not apply.
async fn send(
    world: &World,
    dialect: &str,
    method: &str,
    prefix: &str,
    prepared: &Prepared,
    cell: Cell,
) -> Option<StatusCode> {
    let app = &world.app;
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let path = format!("{prefix}{}", prepared.path);
    let body = prepared.body.as_ref().map(|b| b.to_string().into_bytes()).unwrap_or_default();
    if dialect == "exoscale" {
        let sign = |key: &str, secret: &str, expires: i64| {
            exo_authorization(key, secret, method.as_str(), &path, &body, &[], "", &expires.to_string())
        };
        let authorization = match cell {
            Cell::Missing => None,
            Cell::Malformed => Some("EXO2-HMAC-SHA256 credential=,,,".to_string()),
            Cell::Expired => Some(sign(&app.api_key, &app.api_secret, expires_soon() - 1200)),
            Cell::OtherAccount => Some(sign(&world.other_key.0, &world.other_key.1, expires_soon())),
            Cell::Restricted => Some(sign(&world.restricted_key.0, &world.restricted_key.1, expires_soon())),
            Cell::ReadOnly => return None,
            Cell::Right => Some(sign(&app.api_key, &app.api_secret, expires_soon())),
        };
        return Some(app.exo_with(method, &path, "", body, authorization.as_deref()).await.status);
    }
    let token = match (dialect, cell) {
        (_, Cell::Missing) => None,
        (_, Cell::Malformed) => Some("%%%not a token%%%".to_string()),
        ("operator", Cell::Expired) => return None,
        (_, Cell::Expired) => Some(world.expired_token.clone()),
        (_, Cell::OtherAccount) => Some(world.other_token.clone()),
        (_, Cell::Restricted) => Some(world.restricted_token.clone()),
        (_, Cell::ReadOnly) => Some(world.read_only_token.clone()),
        ("operator", Cell::Right) => Some(app.operator_token.clone()),
        (_, Cell::Right) => Some(app.token.clone()),
    };
    Some(app.request_with(method, &path, prepared.body.clone(), token.as_deref(), &[]).await.status)
}

#[tokio::test]
async fn every_route_answers_every_credential_as_the_table_says() {
    let world = world().await;
    let mut mismatches = Vec::new();
    for (dialect, method, path, expected) in TABLE {
        let prefix = match *dialect {
            "linode" => "/v4",
            "exoscale" => "/v2",
            "operator" => "/v1",
            _ => "",
        };
        for (cell, expected) in CELLS.iter().zip(expected) {
            let prepared = prepare(&world, dialect, method, path).await;
            let Some(status) = send(&world, dialect, method, prefix, &prepared, *cell).await else {
                assert_eq!(*expected, NA, "{dialect} {method} {path} {cell:?} must be n/a");
                continue;
            };
            if status.as_u16() != *expected {
                mismatches
                    .push(format!("{dialect} {method} {} {cell:?}: expected {expected}, got {status}", prepared.path));
            }
        }
    }
    assert!(mismatches.is_empty(), "{} cells differ:\n{}", mismatches.len(), mismatches.join("\n"));
    world.app.assert_consistent("us-mia").await;
}

#[tokio::test]
async fn the_other_prefixes_of_each_dialect_are_guarded_the_same_way() {
    let world = world().await;
    let app = &world.app;
    for path in ["/v4beta/placement/groups", "/v4beta/linode/instances"] {
        assert_eq!(app.request_with(Method::GET, path, None, None, &[]).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(app.request_with(Method::GET, path, None, Some(&app.token), &[]).await.status, StatusCode::OK);
    }
    let zoned = app.exo_with(Method::GET, "/de-fra-1/v2/anti-affinity-group", "", Vec::new(), None).await;
    assert_eq!(zoned.status, StatusCode::FORBIDDEN);
}
