//! `GET /metrics` on a running `minga up`, read by the Prometheus project's own OpenMetrics
//! parser (Python's `prometheus_client`, Debian's `python3-prometheus-client`): the format is
//! valid, and the counts move with what the node did.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::*;

/// The metrics, as a raw HTTP client with the API token gets them.
fn scrape(dir: &Path, token: Option<&str>) -> (u16, String) {
    let addr = std::fs::read_to_string(dir.join("api.addr"))
        .unwrap()
        .trim()
        .to_string();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(WAIT_SECS)))
        .unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    // Chunked or not, the body is small: take the chunk's content if chunked.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let (_, rest) = body.split_once("\r\n").unwrap();
        rest.rsplit_once("\r\n0\r\n")
            .map_or(rest, |(b, _)| b)
            .to_string()
    } else {
        body.to_string()
    };
    (status, body)
}

/// Every sample, as the official parser reads them.
fn parse(text: &str) -> Vec<(String, Value, f64)> {
    let python = ["/usr/bin/python3", "python3"]
        .into_iter()
        .find(|p| {
            Command::new(p)
                .args(["-c", "import prometheus_client"])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect(
            "a Python with prometheus_client is needed (apt install python3-prometheus-client)",
        );
    let mut child = Command::new(python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/tools/parse_metrics.py"
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the OpenMetrics parser refused /metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s[0].as_str().unwrap().to_string(),
                s[1].clone(),
                s[2].as_f64().unwrap(),
            )
        })
        .collect()
}

fn value(samples: &[(String, Value, f64)], name: &str) -> f64 {
    samples
        .iter()
        .find(|(n, _, _)| n == name)
        .unwrap_or_else(|| panic!("no sample {name} in {samples:?}"))
        .2
}

#[test]
fn metrics_are_valid_openmetrics_and_count_what_the_node_did() {
    let root = tempfile::tempdir().unwrap();
    let a = root.path().join("a");
    found_coop(&a, "Panadería Oeste");
    let _node = up(&a, None);
    let token = std::fs::read_to_string(a.join("api.token"))
        .unwrap()
        .trim()
        .to_string();

    // Without the token: refused, like every API route.
    assert_eq!(scrape(&a, None).0, 401);

    let (status, text) = scrape(&a, Some(&token));
    assert_eq!(status, 200);
    let before = parse(&text);
    let applied = value(&before, "minga_entries_applied_total");
    let commits = value(&before, "minga_store_commit_seconds_count");

    for title in ["Harina", "Aceite", "Leche"] {
        write(
            &a,
            &[
                "need",
                "add",
                "--title",
                title,
                "--category",
                "food",
                "--quantity",
                "10 kg",
            ],
        );
    }
    let after = parse(&scrape(&a, Some(&token)).1);
    assert_eq!(value(&after, "minga_entries_applied_total"), applied + 3.0);
    assert!(value(&after, "minga_store_commit_seconds_count") >= commits + 3.0);
    assert!(value(&after, "minga_store_size_bytes") > 0.0);
    assert_eq!(value(&after, "minga_coops"), 1.0);
    // A histogram's buckets are cumulative and end at +Inf with the count.
    let inf = after
        .iter()
        .find(|(n, l, _)| n == "minga_store_commit_seconds_bucket" && l["le"] == "+Inf")
        .unwrap()
        .2;
    assert_eq!(inf, value(&after, "minga_store_commit_seconds_count"));
}
