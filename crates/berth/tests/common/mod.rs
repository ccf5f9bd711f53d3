//! The harness of the binary's tests: `berth serve` started for real on a free port.

#![allow(dead_code)] // Each test binary uses a different part of the harness.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub struct Running {
    pub child: Child,
    pub address: String,
    output: mpsc::Receiver<String>,
}

/// Starts `berth serve` on a free port and waits for its ready line.
pub fn start(database: &Path, extra: &[&str]) -> Running {
    // `Running` waits for the child when it is dropped, which the lint cannot see.
    #[allow(clippy::zombie_processes)]
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database"])
        .arg(database)
        .args(extra)
        .env("RUST_LOG", "info")
        .env_remove("BERTH_DEMO_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start berth");
    let (send, output) = mpsc::channel();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let send = send.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = send.send(line);
            }
        });
    }
    let mut seen = Vec::new();
    loop {
        let line =
            output.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| panic!("berth never got ready: {seen:#?}"));
        if let Some(at) = line.find("berth ready on http://") {
            let address = line[at + "berth ready on ".len()..].split_whitespace().next().unwrap().to_string();
            return Running { child, address, output: drain(output, seen) };
        }
        seen.push(line);
    }
}

/// Puts the lines read so far back in front of the rest.
fn drain(rest: mpsc::Receiver<String>, seen: Vec<String>) -> mpsc::Receiver<String> {
    let (send, receive) = mpsc::channel();
    for line in seen {
        let _ = send.send(line);
    }
    std::thread::spawn(move || {
        for line in rest {
            if send.send(line).is_err() {
                return;
            }
        }
    });
    receive
}

impl Drop for Running {
    /// A test that fails midway still leaves no berth running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Running {
    pub fn lines(&self) -> Vec<String> {
        self.output.try_iter().collect()
    }

    /// Sends SIGTERM and requires a clean exit.
    pub fn stop(mut self) -> Vec<String> {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "berth exited with {status}");
                std::thread::sleep(Duration::from_millis(100));
                return self.lines();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        panic!("berth did not stop on SIGTERM");
    }
}
