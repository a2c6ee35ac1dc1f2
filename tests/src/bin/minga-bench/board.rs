//! The web page's board at scale: a node holding N needs answers the queries the page makes,
//! through the real HTTP API (token, JSON, the page's filters, sort and paging), timed from a
//! client on the same machine. The baseline in the same run is the API's smallest answer
//! (`/v1/status`), which is what HTTP and authorization alone cost.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use minga_node::api::{ApiConfig, LocalMember};
use minga_node::{Node, NodeHandle};
use minga_protocol::*;
use minga_tests::{World, config};
use serde_json::json;

use crate::{figure, ms, quantile};

const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef";

/// A need like the ones co-ops post: ten categories, every urgency, points around Rosario.
fn need(i: usize) -> Record {
    const CATEGORIES: [&str; 10] = [
        "food/grain/rice",
        "food/grain/wheat",
        "food/flour",
        "food/oil",
        "food/milk",
        "labour/electrical",
        "labour/building",
        "materials/wood",
        "materials/cement",
        "tools",
    ];
    let urgency = [
        Urgency::Low,
        Urgency::Normal,
        Urgency::High,
        Urgency::Critical,
    ][i % 4];
    Record::Need(Need {
        title: format!("need {i}"),
        category: CATEGORIES[i % CATEGORIES.len()].parse().unwrap(),
        quantity: format!("{} kg", 10 + i % 500).parse().unwrap(),
        location: Some(Location {
            point: format!("-3{}.{:02},-60.{:02}", 2 + i % 3, i % 100, (i * 7) % 100)
                .parse()
                .unwrap(),
            place: None,
            radius_km: None,
        }),
        needed: TimeWindow::default(),
        urgency,
        expires: None,
        notes: None,
        withdrawn: false,
    })
}

fn get(addr: &str, path: &str) -> usize {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = Vec::new();
    s.read_to_end(&mut body).unwrap();
    assert!(
        body.starts_with(b"HTTP/1.1 200"),
        "{path}: {}",
        String::from_utf8_lossy(&body[..body.len().min(200)])
    );
    body.len()
}

async fn fill(node: &NodeHandle, world: &World, listings: usize) {
    let mut done = 0;
    while done < listings {
        let n = (listings - done).min(minga_node::MAX_EDITS);
        let edits = (done..done + n).map(|i| (None, need(i))).collect();
        node.write_all(world.coop(), &world.founder, DeviceId(1), edits)
            .await
            .unwrap();
        done += n;
    }
}

pub async fn run(listings: usize, queries: usize) {
    let dir = tempfile::tempdir().unwrap();
    let world = World::new(1);
    let node = Node::start(config(dir.path(), &world), &NodeSecret::from_seed(&[7; 32]))
        .await
        .unwrap();
    let t0 = Instant::now();
    fill(&node, &world, listings).await;
    eprintln!(
        "wrote {listings} needs in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let api = ApiConfig {
        token: TOKEN.into(),
        member: Some(LocalMember {
            key: world.founder.clone(),
            device: DeviceId(1),
        }),
        coop: Some(world.coop()),
        coop_key: None,
        snapshots: None,
        contact: None,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(minga_node::api::serve(listener, node.clone(), api, async {
        let _ = stopped.await;
    }));
    let middle = listings / 2;
    let cases = [
        ("baseline: GET /v1/status", "/v1/status".to_string()),
        (
            "board, first page (most urgent first)",
            "/v1/records?kind=need&sort=urgency&limit=50".to_string(),
        ),
        (
            "board, a middle page",
            format!("/v1/records?kind=need&sort=urgency&limit=50&offset={middle}"),
        ),
        (
            "board, filtered (category, urgency, 50 km of a point, not yet pledged)",
            "/v1/records?kind=need&category=food&urgency=high&near=-32.95,-60.66&radius=50&status=open&sort=urgency&limit=50".to_string(),
        ),
        (
            "map: every need with a location",
            "/v1/records?kind=need&limit=10000".to_string(),
        ),
    ];
    for (name, path) in cases {
        let a = addr.clone();
        let (mut samples, bytes) = tokio::task::spawn_blocking(move || {
            let mut samples = Vec::with_capacity(queries);
            let mut bytes = 0;
            for _ in 0..queries {
                let t = Instant::now();
                bytes = get(&a, &path);
                samples.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            (samples, bytes)
        })
        .await
        .unwrap();
        samples.sort_by(f64::total_cmp);
        figure(
            "board",
            &[
                ("listings", json!(listings)),
                ("query", json!(name)),
                ("p50_ms", ms(quantile(&samples, 0.5))),
                ("p99_ms", ms(quantile(&samples, 0.99))),
                ("bytes", json!(bytes)),
            ],
        );
    }
    let _ = stop.send(());
    let _ = served.await;
    node.shutdown().await.unwrap();
}
