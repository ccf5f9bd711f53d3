//! `berth serve` as a user runs it: the real binary, a database (a file on disk, or a
//! PostgreSQL database), signals.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use serde_json::{Value, json};

use crate::common::{Place, start};

const TOKEN: &str = "serve-test-token-0123456789";

fn call(method: reqwest::Method, url: String, body: Option<Value>) -> (u16, Value) {
    let client = reqwest::blocking::Client::new();
    let mut request = client.request(method, url).bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().unwrap();
    let status = response.status().as_u16();
    let text = response.text().unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
}

#[test]
fn serve_seeds_the_demo_once_keeps_everything_across_restarts_and_stops_on_sigterm() {
    let place = Place::new();

    let first = start(&place, &["--demo-token", TOKEN]);
    let (status, group) = call(
        reqwest::Method::POST,
        format!("{}/v4/placement/groups", first.address),
        Some(
            json!({"label": "kept", "region": "us-mia", "placement_group_type": "anti_affinity:local", "placement_group_policy": "strict"}),
        ),
    );
    assert_eq!(status, 200, "{group}");
    let (status, linode) = call(
        reqwest::Method::POST,
        format!("{}/v4/linode/instances", first.address),
        Some(json!({"type": "g6-nanode-1", "region": "us-mia", "placement_group": {"id": group["id"]}})),
    );
    assert_eq!(status, 200, "{linode}");
    let output = first.stop();
    assert!(output.iter().any(|l| l.contains(&format!("Demo token (Linode): {TOKEN}"))), "{output:#?}");

    let credentials = place.credentials_file();
    let mode = std::fs::metadata(&credentials).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the credentials file is readable only by its owner");
    assert!(std::fs::read_to_string(&credentials).unwrap().contains(&format!("LINODE_TOKEN={TOKEN}")));

    // A second start neither seeds again nor changes the token, whatever the flag says.
    let second = start(&place, &["--demo-token", "another-token-0123456789"]);
    let (status, regions) = call(reqwest::Method::GET, format!("{}/v4/regions", second.address), None);
    assert_eq!(status, 200);
    assert_eq!(regions["results"], 6);
    let (status, kept) =
        call(reqwest::Method::GET, format!("{}/v4/placement/groups/{}", second.address, group["id"]), None);
    assert_eq!(status, 200);
    assert_eq!(kept["members"][0]["linode_id"], linode["id"]);
    let (status, kept) =
        call(reqwest::Method::GET, format!("{}/v4/linode/instances/{}", second.address, linode["id"]), None);
    assert_eq!(status, 200);
    assert_eq!(kept["host_uuid"], linode["host_uuid"]);
    let output = second.stop();
    assert!(!output.iter().any(|l| l.contains("Demo token")), "{output:#?}");
}

#[test]
fn a_bad_configuration_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("berth.db");
    let output = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["serve", "--listen", "127.0.0.1:0", "--demo-token", "short", "--database"])
        .arg(&database)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("demo token"));
    assert!(!database.exists(), "nothing was created");

    let output = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database", "mysql://localhost/berth"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unsupported database URL"), "{output:?}");
}

#[test]
fn a_second_process_on_one_sqlite_file_is_refused_and_the_file_is_free_again_once_the_first_ends() {
    let dir = tempfile::tempdir().unwrap();
    let place = Place::with_database(dir.path().join("berth.db").display().to_string());
    let first = start(&place, &["--demo-token", TOKEN]);

    let output = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &place.database])
        .current_dir(place.dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("another berth process (process {})", first.child.id())), "{stderr}");
    assert!(stderr.contains("use PostgreSQL"), "{stderr}");
    let (status, _) = call(reqwest::Method::GET, format!("{}/v4/regions", first.address), None);
    assert_eq!(status, 200, "the first process serves on");

    // A crash frees the file as well as a clean stop does.
    first.kill();
    let second = start(&place, &[]);
    let (status, regions) = call(reqwest::Method::GET, format!("{}/v4/regions", second.address), None);
    assert_eq!(status, 200);
    assert_eq!(regions["results"], 6);
    second.stop();
}
