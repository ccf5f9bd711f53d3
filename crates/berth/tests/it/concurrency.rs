//! Many clients creating members of strict groups at once, through one berth process on
//! SQLite or two processes sharing one PostgreSQL database, on a fleet too small for them all:
//! afterwards no strict group is broken, no host is overcommitted, and every request either
//! succeeded or was refused for a reason that still holds.

use std::collections::BTreeSet;

use crate::common::fleet::{Api, Outcome, TYPE, Tenant, race};
use crate::common::{Place, start};

const TOKEN: &str = "concurrency-token-0123456789";
const OPERATOR: &str = "concurrency-operator-0123456789";
const REGION: &str = "race-1";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_never_break_a_strict_group_nor_overcommit_a_host() {
    let place = Place::new();
    // Two processes share a PostgreSQL database; SQLite serves one.
    let processes = if place.is_postgres() { 2 } else { 1 };
    let args = ["--demo-token", TOKEN, "--operator-token", OPERATOR, "--rate-limit", "0", "--repair", "false"];
    let running: Vec<_> = (0..processes).map(|_| start(&place, &args)).collect();
    let apis: Vec<Api> = running.iter().map(|r| Api::new(&r.address, TOKEN, OPERATOR)).collect();

    // 12 hosts of 8 vCPUs over 3 racks: 48 instances of 2 vCPUs fit, and six strict groups
    // could take 72 between them, so capacity runs out first; 64 clients ask for 192.
    apis[0].region_create(REGION, 12, 3, 8).await;
    let mut groups = Vec::new();
    for number in 0..6 {
        groups.push(apis[number % apis.len()].group_create(REGION, &format!("race-{number}")).await);
    }
    let tenant = Tenant { apis: apis.clone(), groups: groups.clone() };
    let outcome = race(&[tenant], REGION, 64, 0, 3).await;

    assert!(outcome.failed().is_empty(), "answers other than success or a refusal: {:#?}", outcome.failed());
    assert_eq!(outcome.created() + outcome.refused(), 192);
    assert!(outcome.created() <= 48, "{} created where 48 fit", outcome.created());
    assert!(outcome.created() >= 36, "only {} of 48 places were taken", outcome.created());

    // Nothing is broken or overcommitted, as the engine's check() finds it over the database.
    let violations = place.region_check(REGION);
    assert!(violations.is_empty(), "{violations:#?}");

    // Every instance acknowledged exists, where a group member should be; nothing else exists.
    let listed = apis[0]
        .client
        .get(format!("{}/v4/linode/instances?page_size=500", apis[0].base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let stored: BTreeSet<i64> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|linode| linode["region"] == REGION)
        .map(|linode| linode["id"].as_i64().unwrap())
        .collect();
    let acknowledged: BTreeSet<i64> = outcome
        .outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Created { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(stored, acknowledged);

    // Every refusal was right: capacity only shrinks and groups only grow here, so a group
    // refused during the race still finds no host now.
    let refused: BTreeSet<i64> = outcome
        .outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Refused { group, .. } => Some(*group),
            _ => None,
        })
        .collect();
    for group in refused {
        assert!(!apis[1 % apis.len()].fits(REGION, group).await, "group {group} was refused but has room");
    }
    for group in &groups {
        let view = apis[0].operator_get(&format!("/groups/{group}")).await;
        assert_eq!(view["is_compliant"], true, "{view}");
    }
    println!(
        "{processes} process(es): {} created, {} refused in {:?}",
        outcome.created(),
        outcome.refused(),
        outcome.elapsed
    );
}

/// Every create berth acknowledged before it was killed (SIGKILL, in the middle of a race of
/// creates) is there after a restart, and the region it left holds no broken group and no
/// overcommitted host: on SQLite a create is acknowledged only once the group of changes it
/// was committed with is durable, and a group is kept whole or not at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_create_acknowledged_before_a_kill_is_kept() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let place = Place::new();
    let args = ["--demo-token", TOKEN, "--operator-token", OPERATOR, "--rate-limit", "0", "--repair", "false"];
    let running = start(&place, &args);
    let api = Api::new(&running.address, TOKEN, OPERATOR);
    // Room for every create the clients can send: 40 hosts of 64 vCPUs, 32 strict groups.
    api.region_create(REGION, 40, 4, 64).await;
    let mut groups = Vec::new();
    for number in 0..32 {
        groups.push(api.group_create(REGION, &format!("kill-{number}")).await);
    }

    // 32 clients create one Linode after another until berth stops answering.
    let acknowledged_count = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for (client, group) in groups.iter().copied().enumerate() {
        let api = api.clone();
        let counted = acknowledged_count.clone();
        clients.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for _ in 0..40 {
                let sent = api
                    .client
                    .post(format!("{}/v4/linode/instances", api.base))
                    .bearer_auth(&api.token)
                    .json(&serde_json::json!({"type": TYPE, "region": REGION, "placement_group": {"id": group}}))
                    .send()
                    .await;
                let Ok(response) = sent else { break };
                let status = response.status().as_u16();
                let Ok(body) = response.json::<serde_json::Value>().await else { break };
                assert_eq!(status, 200, "client {client}: {body}");
                acknowledged.push(body["id"].as_i64().expect("a Linode id"));
                counted.fetch_add(1, Ordering::Relaxed);
            }
            acknowledged
        }));
    }
    while acknowledged_count.load(Ordering::Relaxed) < 200 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    running.kill();
    let mut acknowledged = BTreeSet::new();
    for client in clients {
        acknowledged.extend(client.await.expect("a client runs to its end"));
    }

    let restarted = start(&place, &args);
    let api = Api::new(&restarted.address, TOKEN, OPERATOR);
    let mut stored = BTreeSet::new();
    for page in 1.. {
        let listed = api.linodes_page(page).await;
        stored.extend(
            listed["data"]
                .as_array()
                .expect("a page")
                .iter()
                .filter(|linode| linode["region"] == REGION)
                .map(|linode| linode["id"].as_i64().expect("an id")),
        );
        if listed["page"] == listed["pages"] {
            break;
        }
    }
    let lost: Vec<_> = acknowledged.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged before the kill, missing after it: {lost:?}");
    // What was committed but not yet answered when the process died may be there too: at most
    // one create per client.
    assert!(
        stored.len() <= acknowledged.len() + groups.len(),
        "{} stored, {} acknowledged",
        stored.len(),
        acknowledged.len()
    );
    restarted.stop();
    let violations = place.region_check(REGION);
    assert!(violations.is_empty(), "{violations:#?}");
    println!("{} creates acknowledged before the kill, {} stored after it", acknowledged.len(), stored.len());
}
