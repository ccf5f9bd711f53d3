//! Driving berth over HTTP as many clients at once: a fleet of our own through `/v1`, strict
//! groups and instance creates through the Linode dialect. The concurrency test and the load
//! harness (`examples/load.rs`) share it.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The instance type every create asks for: 2 vCPUs, 4 GiB of memory, 80 GiB of disk.
pub const TYPE: &str = "g6-standard-2";

/// One berth process, as the demo account and the operator reach it.
#[derive(Clone, Debug)]
pub struct Api {
    pub client: reqwest::Client,
    pub base: String,
    pub token: String,
    pub operator: String,
}

/// What became of one create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Created {
        id: i64,
        group: i64,
    },
    /// A 400 saying no host can take it: the refusal a full fleet gives.
    Refused {
        group: i64,
        reason: String,
    },
    /// Anything else: an answer berth should never give here.
    Failed {
        group: i64,
        status: u16,
        body: String,
    },
}

impl Api {
    pub fn new(base: &str, token: &str, operator: &str) -> Api {
        let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().expect("an HTTP client");
        Api { client, base: base.to_string(), token: token.to_string(), operator: operator.to_string() }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.expect("berth answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// `POST /v1/...` as the operator; panics unless it succeeds.
    pub async fn operator_post(&self, path: &str, body: Value) -> Value {
        let request = self.client.post(format!("{}/v1{path}", self.base)).bearer_auth(&self.operator).json(&body);
        let (status, reply) = self.send(request).await;
        assert!((200..300).contains(&status), "POST /v1{path} answered {status}: {reply}");
        reply
    }

    /// `GET /v1/...` as the operator; panics unless it succeeds.
    pub async fn operator_get(&self, path: &str) -> Value {
        let request = self.client.get(format!("{}/v1{path}", self.base)).bearer_auth(&self.operator);
        let (status, reply) = self.send(request).await;
        assert_eq!(status, 200, "GET /v1{path}: {reply}");
        reply
    }

    /// A region of `hosts` hosts spread over `racks` racks, each of `vcpus` vCPUs and two
    /// GiB of memory per vCPU (so vCPUs run out first).
    pub async fn region_create(&self, region: &str, hosts: usize, racks: usize, vcpus: u32) {
        self.operator_post(
            "/regions",
            json!({"id": region, "label": region, "country": "us", "max_members_per_group": 1000}),
        )
        .await;
        for host in 0..hosts {
            self.operator_post(
                "/hosts",
                json!({
                    "region": region,
                    "rack": format!("r{}", host % racks),
                    "capacity": {"vcpus": vcpus, "memory_mib": u64::from(vcpus) * 2048, "disk_mib": 4_194_304},
                }),
            )
            .await;
        }
    }

    /// A strict anti-affinity group (one member per host) in `region`.
    pub async fn group_create(&self, region: &str, label: &str) -> i64 {
        let request = self
            .client
            .post(format!("{}/v4/placement/groups", self.base))
            .bearer_auth(&self.token)
            .json(&json!({"label": label, "region": region, "placement_group_type": "anti_affinity:local",
                "placement_group_policy": "strict"}));
        let (status, reply) = self.send(request).await;
        assert_eq!(status, 200, "creating group {label}: {reply}");
        reply["id"].as_i64().expect("a group id")
    }

    /// Creates one Linode of [`TYPE`] in `region`, in `group`.
    pub async fn linode_create(&self, region: &str, group: i64) -> Outcome {
        let request = self
            .client
            .post(format!("{}/v4/linode/instances", self.base))
            .bearer_auth(&self.token)
            .json(&json!({"type": TYPE, "region": region, "placement_group": {"id": group}}));
        let (status, reply) = self.send(request).await;
        let reason = reply["errors"][0]["reason"].as_str().unwrap_or_default().to_string();
        match status {
            200 => Outcome::Created { id: reply["id"].as_i64().expect("a Linode id"), group },
            400 if reason.starts_with("No host in ") => Outcome::Refused { group, reason },
            _ => Outcome::Failed { group, status, body: reply.to_string() },
        }
    }

    /// One page of 500 of the demo account's Linodes (`page` counts from 1); panics unless it
    /// is answered.
    pub async fn linodes_page(&self, page: usize) -> Value {
        let request = self
            .client
            .get(format!("{}/v4/linode/instances?page={page}&page_size=500", self.base))
            .bearer_auth(&self.token);
        let (status, reply) = self.send(request).await;
        assert_eq!(status, 200, "GET /v4/linode/instances?page={page}: {reply}");
        reply
    }

    /// Whether the engine, asked now, finds a host for one more member of `group`.
    pub async fn fits(&self, region: &str, group: i64) -> bool {
        let explained =
            self.operator_post("/explain/placement", json!({"region": region, "type": TYPE, "groups": [group]})).await;
        !explained["chosen"].is_null()
    }
}

/// One account's clients: its view of every process (in the order of the processes), and the
/// groups its creates go to.
#[derive(Clone, Debug)]
pub struct Tenant {
    pub apis: Vec<Api>,
    pub groups: Vec<i64>,
}

/// What a race of creates did.
#[derive(Debug)]
pub struct Race {
    pub outcomes: Vec<Outcome>,
    /// How long each create took, as its client saw it; in the order of `outcomes`.
    pub latencies: Vec<Duration>,
    pub elapsed: Duration,
}

impl Race {
    pub fn created(&self) -> usize {
        self.outcomes.iter().filter(|o| matches!(o, Outcome::Created { .. })).count()
    }

    pub fn refused(&self) -> usize {
        self.outcomes.iter().filter(|o| matches!(o, Outcome::Refused { .. })).count()
    }

    pub fn failed(&self) -> Vec<&Outcome> {
        self.outcomes.iter().filter(|o| matches!(o, Outcome::Failed { .. })).collect()
    }
}

/// `clients` clients at once, each sending `count` creates into `region` one after another.
/// Client `c` belongs to tenant `c % tenants` and talks to its process `(c / tenants) %
/// processes`; its `n`th create (counting from `first`, so that a second race goes on where a
/// first stopped) goes to its tenant's group `(c / tenants + n * clients per tenant) % groups`,
/// so that the clients of one round write to different groups while there are enough.
pub async fn race(tenants: &[Tenant], region: &str, clients: usize, first: usize, count: usize) -> Race {
    let clients_per_tenant = clients.div_ceil(tenants.len());
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for client in 0..clients {
        let tenant = &tenants[client % tenants.len()];
        let index = client / tenants.len();
        let api = tenant.apis[index % tenant.apis.len()].clone();
        let groups = tenant.groups.clone();
        let region = region.to_string();
        tasks.push(tokio::spawn(async move {
            let mut timed = Vec::with_capacity(count);
            for n in first..first + count {
                let group = groups[(index + n * clients_per_tenant) % groups.len()];
                let sent = Instant::now();
                let outcome = api.linode_create(&region, group).await;
                timed.push((outcome, sent.elapsed()));
            }
            timed
        }));
    }
    let mut race = Race { outcomes: Vec::new(), latencies: Vec::new(), elapsed: Duration::ZERO };
    for task in tasks {
        for (outcome, latency) in task.await.expect("a client runs to its end") {
            race.outcomes.push(outcome);
            race.latencies.push(latency);
        }
    }
    race.elapsed = started.elapsed();
    race
}
