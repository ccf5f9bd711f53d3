//! The operator's commands, run as the operator runs them: the `berth` binary against a live
//! `berth serve`.

use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::common::{Place, start};

const OPERATOR: &str = "cli-operator-token-0123456789";
const TOKEN: &str = "cli-demo-token-0123456789abcdef";

/// Runs `berth ARGS` against `url` with the operator's token.
fn berth(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["--url", url, "--token", OPERATOR])
        .args(args)
        .env_remove("BERTH_OPERATOR_TOKEN")
        .env_remove("BERTH_URL")
        .output()
        .expect("run berth")
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "berth failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn json_of(output: &Output) -> Value {
    serde_json::from_str(&stdout(output)).expect("--json prints JSON")
}

fn linode_create(url: &str, region: &str, group: Option<i64>) -> Value {
    let mut body = json!({"type": "g6-standard-1", "region": region});
    if let Some(group) = group {
        body["placement_group"] = json!({"id": group});
    }
    reqwest::blocking::Client::new()
        .post(format!("{url}/v4/linode/instances"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .unwrap()
        .json()
        .unwrap()
}

#[test]
fn the_operator_lists_shows_drains_and_reactivates_hosts_from_the_command_line() {
    let place = Place::new();
    let server = start(&place, &["--demo-token", TOKEN, "--operator-token", OPERATOR, "--migration-seconds", "0.2"]);
    let url = server.address.clone();

    let hosts = json_of(&berth(&url, &["hosts", "list", "--region", "us-mia", "--json"]));
    assert_eq!(hosts.as_array().unwrap().len(), 16);
    let table = stdout(&berth(&url, &["hosts", "list", "--region", "us-mia", "--state", "active"]));
    assert!(table.starts_with("ID"), "{table}");
    assert_eq!(table.lines().count(), 17, "a header and a line per host:\n{table}");

    let group: i64 = {
        let reply: Value = reqwest::blocking::Client::new()
            .post(format!("{url}/v4/placement/groups"))
            .bearer_auth(TOKEN)
            .json(&json!({"label": "cli", "region": "us-mia", "placement_group_type": "anti_affinity:local",
                "placement_group_policy": "strict"}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        reply["id"].as_i64().unwrap()
    };
    let linode = linode_create(&url, "us-mia", Some(group));
    let instance = json_of(&berth(&url, &["--json", "hosts", "list"]));
    let host =
        instance.as_array().unwrap().iter().find(|h| h["used"]["vcpus"] == 1).expect("the Linode's host")["name"]
            .as_str()
            .unwrap()
            .to_string();
    let shown = stdout(&berth(&url, &["hosts", "show", &host]));
    assert!(shown.contains(&format!("host      {host}")), "{shown}");
    assert!(shown.contains(&linode["label"].as_str().unwrap().to_string()), "{shown}");

    let drained = berth(&url, &["hosts", "drain", &host, "--wait", "--timeout", "60"]);
    let progress = stdout(&drained);
    assert!(progress.contains(&format!("draining {host} [")), "{progress}");
    assert!(progress.contains(&format!("{host} is drained")), "{progress}");
    let after = json_of(&berth(&url, &["hosts", "show", &host, "--json"]));
    assert_eq!(after["state"], "draining");
    assert_eq!(after["instances"], json!([]));
    let maintenance = stdout(&berth(&url, &["hosts", "maintenance", &host]));
    assert!(maintenance.contains("is in maintenance"), "{maintenance}");
    assert!(stdout(&berth(&url, &["hosts", "activate", &host])).contains("is active"));

    let migrations = json_of(&berth(&url, &["migrations", "list", "--reason", "drain", "--json"]));
    assert_eq!(migrations[0]["instance"], linode["id"]);
    assert_eq!(migrations[0]["state"], "succeeded");
    let listed = stdout(&berth(&url, &["migrations", "list"]));
    assert!(listed.contains("drain") && listed.contains("succeeded"), "{listed}");

    let groups = stdout(&berth(&url, &["groups", "list"]));
    assert!(groups.contains("cli") && groups.contains("strict anti-affinity"), "{groups}");
    let group_view = stdout(&berth(&url, &["groups", "show", &group.to_string()]));
    assert!(group_view.contains("compliant yes"), "{group_view}");

    let explained = stdout(&berth(
        &url,
        &["explain", "--region", "us-mia", "--type", "g6-standard-2", "--group", &group.to_string()],
    ));
    assert!(explained.contains("chosen    us-mia-"), "{explained}");
    assert!(explained.contains(&format!("excluded  1 holds a member of group {group} (cli)")), "{explained}");
    let headroom = stdout(&berth(&url, &["headroom", &group.to_string(), "--type", "g6-standard-1"]));
    assert!(headroom.contains("fit now                         4"), "the region's limit of five members: {headroom}");

    // Errors come back as one clear line and a failing exit code.
    let missing = berth(&url, &["hosts", "show", "no-such-host"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("host not found"), "{missing:?}");
    let refused = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["--url", &url, "--token", "wrong", "hosts", "list"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("operator token"), "{refused:?}");
    server.stop();
}
