//! The operator's commands over `/v1`: tables for people, `--json` for scripts.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

/// Where berth is and the operator's token.
#[derive(Debug, Args)]
pub struct Connection {
    /// berth's base URL.
    #[arg(long, env = "BERTH_URL", default_value = "http://127.0.0.1:8080", global = true)]
    pub url: String,
    /// The operator's token [default: BERTH_OPERATOR_TOKEN from ./berth.db.credentials].
    #[arg(long, env = "BERTH_OPERATOR_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Print the JSON berth answered instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum HostCommand {
    /// Lists hosts.
    List {
        #[arg(long)]
        region: Option<String>,
        #[arg(long)]
        rack: Option<String>,
        /// active, draining, maintenance or failed.
        #[arg(long)]
        state: Option<String>,
    },
    /// Shows a host (by id or name) with its instances and free capacity.
    Show { host: String },
    /// Drains a host: nothing new lands on it and its instances move away.
    Drain {
        host: String,
        /// Wait until the host is empty, showing progress.
        #[arg(long)]
        wait: bool,
        /// Give up waiting after this many seconds.
        #[arg(long)]
        timeout: Option<u64>,
    },
    /// Puts a drained host in maintenance.
    Maintenance { host: String },
    /// Fails a host: its instances start elsewhere at once, or wait offline.
    Fail { host: String },
    /// Returns a host to service.
    Activate { host: String },
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Lists the groups of every account.
    List {
        #[arg(long)]
        account: Option<i64>,
        #[arg(long)]
        region: Option<String>,
    },
    /// Shows a group with each member's host, compliance and reason.
    Show { id: i64 },
}

/// A size, by type or by amounts.
#[derive(Debug, Args)]
pub struct SizeArgs {
    /// A Linode or Exoscale instance type.
    #[arg(long = "type")]
    pub type_id: Option<String>,
    /// The disk in GiB, for an Exoscale type.
    #[arg(long)]
    pub disk_gib: Option<u64>,
    #[arg(long)]
    pub vcpus: Option<u32>,
    #[arg(long)]
    pub memory_mib: Option<u64>,
    #[arg(long)]
    pub disk_mib: Option<u64>,
    #[arg(long)]
    pub gpus: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub enum MigrationCommand {
    /// Lists migrations, newest first.
    List {
        /// queued, running, succeeded, failed or cancelled.
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        instance: Option<i64>,
        #[arg(long)]
        group: Option<i64>,
        /// user_request, repair, drain or failure.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Shows the migrations queued to run.
    Plan,
}

/// A client of `/v1`.
struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    fn new(connection: &Connection) -> anyhow::Result<Client> {
        let token = match &connection.token {
            Some(token) => token.clone(),
            None => token_from_credentials().context(
                "no operator token: pass --token, set BERTH_OPERATOR_TOKEN, or run where berth.db.credentials is",
            )?,
        };
        Ok(Client { http: reqwest::Client::new(), base: connection.url.trim_end_matches('/').to_string(), token })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut request = self.http.request(method, format!("{}/v1{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.with_context(|| format!("reaching berth at {}", self.base))?;
        let status = response.status();
        let text = response.text().await?;
        let value: Value =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        if !status.is_success() {
            let message = value["error"]["message"].as_str().map_or_else(|| value.to_string(), str::to_string);
            bail!("{message} ({status})");
        }
        Ok(value)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
}

/// The operator token from `berth.db.credentials` in the current directory.
fn token_from_credentials() -> Option<String> {
    let text = std::fs::read_to_string("berth.db.credentials").ok()?;
    text.lines().find_map(|line| line.strip_prefix("BERTH_OPERATOR_TOKEN=")).map(|t| t.trim().to_string())
}

/// Builds a query string from the pairs that are set.
fn query(pairs: &[(&str, Option<String>)]) -> String {
    let set: Vec<String> =
        pairs.iter().filter_map(|(key, value)| value.as_ref().map(|v| format!("{key}={}", encode(v)))).collect();
    if set.is_empty() { String::new() } else { format!("?{}", set.join("&")) }
}

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Prints rows as aligned columns under a header.
fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> =
            cells.iter().enumerate().map(|(i, c)| format!("{c:<width$}", width = widths[i])).collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_uppercase()).collect());
    for row in rows {
        line(row.clone());
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn gib(mib: &Value) -> String {
    mib.as_u64().map_or_else(|| "-".to_string(), |m| format!("{}G", m / 1024))
}

fn print_host(host: &Value) {
    println!("host      {} (id {}, {})", text(&host["name"]), host["id"], text(&host["uuid"]));
    println!("region    {}   rack {}   state {}", text(&host["region"]), text(&host["rack"]), text(&host["state"]));
    for (label, key) in [("capacity", "capacity"), ("used", "used"), ("free", "free")] {
        let c = &host[key];
        println!(
            "{label:<9} {} vCPUs, {} memory, {} disk, {} GPUs",
            text(&c["vcpus"]),
            gib(&c["memory_mib"]),
            gib(&c["disk_mib"]),
            text(&c["gpus"])
        );
    }
    let instances = host["instances"].as_array().cloned().unwrap_or_default();
    println!("instances {}", instances.len());
    if !instances.is_empty() {
        let rows: Vec<Vec<String>> = instances
            .iter()
            .map(|i| {
                vec![
                    text(&i["id"]),
                    text(&i["label"]),
                    text(&i["account"]),
                    format!("{} vCPUs / {}", text(&i["size"]["vcpus"]), gib(&i["size"]["memory_mib"])),
                    if i["arriving"] == true { "arriving".into() } else { "running".into() },
                ]
            })
            .collect();
        table(&["id", "label", "account", "size", "here"], &rows);
    }
    for stuck in host["stuck"].as_array().cloned().unwrap_or_default() {
        println!("stuck     instance {}: {}", text(&stuck["instance"]), text(&stuck["reason"]));
    }
}

pub async fn hosts(connection: &Connection, command: HostCommand) -> anyhow::Result<()> {
    let client = Client::new(connection)?;
    match command {
        HostCommand::List { region, rack, state } => {
            let hosts = client
                .get(&format!("/hosts{}", query(&[("region", region), ("rack", rack), ("state", state)])))
                .await?;
            if connection.json {
                return print_json(&hosts);
            }
            let rows: Vec<Vec<String>> = hosts
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|h| {
                    vec![
                        text(&h["id"]),
                        text(&h["name"]),
                        text(&h["region"]),
                        text(&h["rack"]),
                        text(&h["state"]),
                        format!("{}/{}", text(&h["free"]["vcpus"]), text(&h["capacity"]["vcpus"])),
                        format!("{}/{}", gib(&h["free"]["memory_mib"]), gib(&h["capacity"]["memory_mib"])),
                    ]
                })
                .collect();
            table(&["id", "name", "region", "rack", "state", "free vcpus", "free memory"], &rows);
        }
        HostCommand::Show { host } => {
            let detail = client.get(&format!("/hosts/{}", encode(&host))).await?;
            if connection.json {
                return print_json(&detail);
            }
            print_host(&detail);
        }
        HostCommand::Drain { host, wait, timeout } => {
            let detail = client.post(&format!("/hosts/{}/drain", encode(&host)), json!({})).await?;
            if !wait {
                if connection.json {
                    return print_json(&detail);
                }
                println!(
                    "{} is draining: {} instance(s) to move",
                    text(&detail["name"]),
                    array_len(&detail["instances"])
                );
                return Ok(());
            }
            let drained = wait_for_drain(&client, &host, timeout.map(Duration::from_secs), connection.json).await?;
            if connection.json {
                return print_json(&drained);
            }
        }
        HostCommand::Maintenance { host } => {
            let detail = client.post(&format!("/hosts/{}/maintenance", encode(&host)), json!({})).await?;
            report(connection, &detail, "is in maintenance")?;
        }
        HostCommand::Fail { host } => {
            let detail = client.post(&format!("/hosts/{}/fail", encode(&host)), json!({})).await?;
            if connection.json {
                return print_json(&detail);
            }
            println!("{} failed; its instances were started elsewhere", text(&detail["name"]));
            for stuck in detail["stuck"].as_array().cloned().unwrap_or_default() {
                println!("offline   instance {}: {}", text(&stuck["instance"]), text(&stuck["reason"]));
            }
        }
        HostCommand::Activate { host } => {
            let detail = client.post(&format!("/hosts/{}/activate", encode(&host)), json!({})).await?;
            report(connection, &detail, "is active")?;
        }
    }
    Ok(())
}

fn report(connection: &Connection, detail: &Value, what: &str) -> anyhow::Result<()> {
    if connection.json {
        return print_json(detail);
    }
    println!("{} {what}", text(&detail["name"]));
    Ok(())
}

fn array_len(value: &Value) -> usize {
    value.as_array().map_or(0, Vec::len)
}

/// Polls a draining host until it is empty, showing progress: on one line that updates itself
/// on a terminal, a line per change otherwise.
async fn wait_for_drain(client: &Client, host: &str, timeout: Option<Duration>, quiet: bool) -> anyhow::Result<Value> {
    let started = Instant::now();
    let terminal = std::io::stdout().is_terminal() && !quiet;
    let mut last = String::new();
    let mut total: Option<usize> = None;
    loop {
        let detail = client.get(&format!("/hosts/{}", encode(host))).await?;
        let instances = detail["instances"].as_array().cloned().unwrap_or_default();
        let left = instances.iter().filter(|i| i["arriving"] != true).count();
        let total = *total.get_or_insert(left.max(1));
        let stuck = array_len(&detail["stuck"]);
        let moving = client
            .get(&format!(
                "/migrations{}",
                query(&[("state", Some("running".into())), ("reason", Some("drain".into()))])
            ))
            .await?
            .as_array()
            .map_or(0, |m| m.iter().filter(|m| m["source_host"] == detail["id"]).count());
        let done = total.saturating_sub(left);
        let bar_width = 24;
        let filled = done * bar_width / total;
        let line = format!(
            "draining {} [{}{}] {done}/{total} moved, {moving} migrating, {stuck} stuck, {:.0}s",
            text(&detail["name"]),
            "#".repeat(filled),
            ".".repeat(bar_width - filled),
            started.elapsed().as_secs_f64()
        );
        if !quiet && line != last {
            if terminal {
                print!("\r{line}\x1b[K");
                std::io::stdout().flush()?;
            } else {
                println!("{line}");
            }
            last = line;
        }
        if left == 0 {
            if !quiet {
                if terminal {
                    println!();
                }
                println!("{} is drained: it can enter maintenance", text(&detail["name"]));
            }
            return Ok(detail);
        }
        if timeout.is_some_and(|limit| started.elapsed() >= limit) {
            if terminal {
                println!();
            }
            for stuck in detail["stuck"].as_array().cloned().unwrap_or_default() {
                eprintln!("stuck: instance {}: {}", text(&stuck["instance"]), text(&stuck["reason"]));
            }
            bail!("{} still holds {left} instance(s) after {}s", text(&detail["name"]), started.elapsed().as_secs());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub async fn groups(connection: &Connection, command: GroupCommand) -> anyhow::Result<()> {
    let client = Client::new(connection)?;
    match command {
        GroupCommand::List { account, region } => {
            let groups = client
                .get(&format!("/groups{}", query(&[("account", account.map(|a| a.to_string())), ("region", region)])))
                .await?;
            if connection.json {
                return print_json(&groups);
            }
            let rows: Vec<Vec<String>> = groups
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|g| {
                    vec![
                        text(&g["id"]),
                        text(&g["label"]),
                        text(&g["account"]),
                        text(&g["region"]),
                        format!("{} {}", text(&g["policy"]), text(&g["kind"])),
                        text(&g["failure_domain"]),
                        array_len(&g["members"]).to_string(),
                        if g["is_compliant"] == true { "yes".into() } else { "NO".into() },
                    ]
                })
                .collect();
            table(&["id", "label", "account", "region", "kind", "domain", "members", "compliant"], &rows);
        }
        GroupCommand::Show { id } => {
            let group = client.get(&format!("/groups/{id}")).await?;
            if connection.json {
                return print_json(&group);
            }
            println!(
                "group     {} (id {}, account {}), {} {} per {}, at most {} per {}",
                text(&group["label"]),
                group["id"],
                group["account"],
                text(&group["policy"]),
                text(&group["kind"]),
                text(&group["failure_domain"]),
                text(&group["max_per_domain"]),
                text(&group["failure_domain"])
            );
            println!("region    {}", text(&group["region"]));
            println!("compliant {}", if group["is_compliant"] == true { "yes" } else { "no" });
            if let Some(note) = group["repair_note"].as_str() {
                println!("repair    {note}");
            }
            let rows: Vec<Vec<String>> = group["members"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|m| {
                    vec![
                        text(&m["instance"]),
                        text(&m["host"]["name"]),
                        text(&m["host"]["rack"]),
                        if m["is_compliant"] == true { "yes".into() } else { "no".into() },
                        text(&m["reason"]),
                    ]
                })
                .collect();
            table(&["instance", "host", "rack", "compliant", "reason"], &rows);
        }
    }
    Ok(())
}

fn size_body(size: &SizeArgs) -> anyhow::Result<Value> {
    Ok(match (&size.type_id, size.vcpus, size.memory_mib) {
        (Some(type_id), None, None) => json!({"type": type_id, "disk_gib": size.disk_gib}),
        (None, Some(vcpus), Some(memory)) => json!({"size": {
            "vcpus": vcpus, "memory_mib": memory, "disk_mib": size.disk_mib.unwrap_or(0), "gpus": size.gpus.unwrap_or(0)
        }}),
        _ => bail!("give --type, or --vcpus and --memory-mib"),
    })
}

pub async fn explain(
    connection: &Connection,
    region: String,
    size: SizeArgs,
    groups: Vec<i64>,
    compliant_only: bool,
) -> anyhow::Result<()> {
    let client = Client::new(connection)?;
    let mut body = size_body(&size)?;
    body["region"] = json!(region);
    body["groups"] = json!(groups);
    body["compliant_only"] = json!(compliant_only);
    let explained = client.post("/explain/placement", body).await?;
    if connection.json {
        return print_json(&explained);
    }
    match explained["chosen"]["name"].as_str() {
        Some(host) => println!("chosen    {host} (rack {})", text(&explained["chosen"]["rack"])),
        None => println!("chosen    none"),
    }
    println!("why       {}", text(&explained["why"]));
    for breach in explained["breaches"].as_array().cloned().unwrap_or_default() {
        println!("breaks    group {}: {}", text(&breach["group"]), text(&breach["reason"]));
    }
    let candidates = explained["candidates"].as_array().cloned().unwrap_or_default();
    println!("candidates {}", candidates.len());
    let rows: Vec<Vec<String>> = candidates
        .iter()
        .take(10)
        .map(|c| {
            vec![
                text(&c["host"]["name"]),
                text(&c["host"]["rack"]),
                text(&c["flexible_breaches"]),
                text(&c["free"]["vcpus"]),
                gib(&c["free"]["memory_mib"]),
            ]
        })
        .collect();
    if !rows.is_empty() {
        table(&["host", "rack", "breaks", "free vcpus", "free memory"], &rows);
    }
    for group in explained["excluded"].as_array().cloned().unwrap_or_default() {
        let names: Vec<String> =
            group["hosts"].as_array().cloned().unwrap_or_default().iter().map(|h| text(&h["name"])).collect();
        println!("excluded  {} {}: {}", text(&group["count"]), text(&group["reason"]), names.join(", "));
    }
    Ok(())
}

pub async fn headroom(
    connection: &Connection,
    group: i64,
    size: SizeArgs,
    region: Option<String>,
) -> anyhow::Result<()> {
    let client = Client::new(connection)?;
    let size_query = match (&size.type_id, size.vcpus, size.memory_mib) {
        (Some(type_id), None, None) => {
            vec![("type", Some(type_id.clone())), ("disk_gib", size.disk_gib.map(|d| d.to_string()))]
        }
        (None, Some(vcpus), Some(memory)) => vec![
            ("vcpus", Some(vcpus.to_string())),
            ("memory_mib", Some(memory.to_string())),
            ("disk_mib", size.disk_mib.map(|d| d.to_string())),
            ("gpus", size.gpus.map(|g| g.to_string())),
        ],
        _ => bail!("give --type, or --vcpus and --memory-mib"),
    };
    let mut pairs = size_query;
    pairs.push(("region", region));
    let headroom = client.get(&format!("/groups/{group}/headroom{}", query(&pairs))).await?;
    if connection.json {
        return print_json(&headroom);
    }
    println!(
        "group {} in {}: members of {} vCPUs / {}",
        headroom["group"],
        text(&headroom["region"]),
        text(&headroom["size"]["vcpus"]),
        gib(&headroom["size"]["memory_mib"])
    );
    println!("fit now                         {}", text(&headroom["now"]));
    println!(
        "after losing the worst host     {} (host {})",
        text(&headroom["after_worst_host"]),
        text(&headroom["worst_host"]["name"])
    );
    println!(
        "after losing the worst rack     {} (rack {})",
        text(&headroom["after_worst_rack"]),
        text(&headroom["worst_rack"])
    );
    Ok(())
}

pub async fn migrations(connection: &Connection, command: MigrationCommand) -> anyhow::Result<()> {
    let client = Client::new(connection)?;
    let list = match command {
        MigrationCommand::List { state, instance, group, reason } => {
            client
                .get(&format!(
                    "/migrations{}",
                    query(&[
                        ("state", state),
                        ("instance", instance.map(|i| i.to_string())),
                        ("group", group.map(|g| g.to_string())),
                        ("reason", reason),
                    ])
                ))
                .await?
        }
        MigrationCommand::Plan => client.get("/migrations/plan").await?,
    };
    if connection.json {
        return print_json(&list);
    }
    let rows: Vec<Vec<String>> = list
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|m| {
            vec![
                text(&m["id"]),
                text(&m["instance"]),
                format!("{} -> {}", text(&m["source_host"]), text(&m["target_host"])),
                text(&m["reason"]),
                text(&m["state"]),
                text(&m["plan"]),
                text(&m["failure"]),
            ]
        })
        .collect();
    table(&["id", "instance", "hosts", "reason", "state", "plan", "failure"], &rows);
    Ok(())
}

fn print_json(value: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_keep_only_what_is_set_and_encode_it() {
        assert_eq!(query(&[("a", None), ("b", None)]), "");
        assert_eq!(
            query(&[("region", Some("us-mia".into())), ("rack", None), ("q", Some("a b/c".into()))]),
            "?region=us-mia&q=a%20b%2Fc"
        );
    }
}
