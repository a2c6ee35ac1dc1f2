//! The local API answers every bad request with a JSON error and the right status, without a
//! client library: raw HTTP/1.1 over a TCP socket on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use minga_node::api::{ApiConfig, LocalMember, serve};
use minga_node::{Node, NodeConfig};
use minga_protocol::{DeviceId, MemberSecret, NodeSecret};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Sends one request and returns the status code and the JSON body.
async fn call(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
) -> (u16, Value) {
    call_from(addr, &addr.to_string(), None, method, path, token, body).await
}

/// Sends one request naming `host`, and `origin` when given, as a browser would.
async fn call_from(
    addr: std::net::SocketAddr,
    host: &str,
    origin: Option<&str>,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
) -> (u16, Value) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let origin = origin.map_or(String::new(), |o| format!("Origin: {o}\r\n"));
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{origin}Authorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&out);
    let status: u16 = text[9..12].parse().unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// A node with its API on 127.0.0.1, and the means to stop the API.
struct Served {
    node: minga_node::NodeHandle,
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

async fn served(member: Option<LocalMember>) -> Served {
    served_with(member, TOKEN).await
}

async fn served_with(member: Option<LocalMember>, token: &str) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let mut config = NodeConfig::new(dir.path());
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    let node = Node::start(config, &NodeSecret::from_seed(&[1; 32]))
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let api = ApiConfig {
        token: token.into(),
        member,
        coop: None,
        coop_key: None,
        snapshots: None,
        contact: None,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, node.clone(), api, async move {
        let _ = stopped.await;
    }));
    Served {
        node,
        addr,
        stop,
        server,
        _dir: dir,
    }
}

#[tokio::test]
async fn bad_requests_get_json_errors_with_the_right_status() {
    let s = served(Some(LocalMember {
        key: MemberSecret::from_seed(&[2; 32]),
        device: DeviceId(1),
    }))
    .await;
    let code = |v: &Value| v["error"]["code"].as_str().unwrap_or("").to_string();
    let (status, v) = call(s.addr, "GET", "/v1/status", "wrong", "").await;
    assert_eq!((status, code(&v).as_str()), (401, "unauthorized"));
    assert!(v["error"]["hint"].as_str().unwrap().contains("api.token"));

    let (status, v) = call(s.addr, "GET", "/v1/status", TOKEN, "").await;
    assert_eq!(status, 200);
    assert_eq!(v["coop"], Value::Null, "no co-op certifies this member");

    let (status, v) = call(s.addr, "POST", "/v1/needs", TOKEN, "{not json").await;
    assert_eq!((status, code(&v).as_str()), (400, "bad_request"));

    let body = r#"{"title":"Rice","category":"food","quantity":"2 kg","colour":"red"}"#;
    let (status, v) = call(s.addr, "POST", "/v1/needs", TOKEN, body).await;
    assert_eq!((status, code(&v).as_str()), (400, "bad_request"));
    assert!(v["error"]["message"].as_str().unwrap().contains("colour"));

    let body = r#"{"title":"Rice","category":"food","quantity":"2 parsecs"}"#;
    let (status, v) = call(s.addr, "POST", "/v1/needs", TOKEN, body).await;
    assert_eq!((status, code(&v).as_str()), (400, "bad_request"));
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("quantity:")
    );

    // Well formed, but this member belongs to no co-op.
    let body = r#"{"title":"Rice","category":"food","quantity":"2 kg"}"#;
    let (status, v) = call(s.addr, "POST", "/v1/needs", TOKEN, body).await;
    assert_eq!((status, code(&v).as_str()), (409, "refused"));

    let (status, v) = call(s.addr, "GET", "/v1/records/zz", TOKEN, "").await;
    assert_eq!((status, code(&v).as_str()), (404, "not_found"));
    let (status, v) = call(s.addr, "GET", "/v1/records?radius=-1&near=1,1", TOKEN, "").await;
    assert_eq!((status, code(&v).as_str()), (400, "bad_request"));
    let (status, v) = call(s.addr, "GET", "/v1/nothing", TOKEN, "").await;
    assert_eq!((status, code(&v).as_str()), (404, "not_found"));

    let _ = s.stop.send(());
    s.server.await.unwrap().unwrap();
    s.node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_waiting_request_does_not_hold_up_shutdown() {
    let s = served(None).await;
    // A request that would wait ten minutes for a record that never comes.
    let mut waiting = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let req = format!(
        "GET /v1/records/abcdef12?wait=600 HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n",
        s.addr
    );
    waiting.write_all(req.as_bytes()).await.unwrap();
    // Once the server has answered a later request, it has read this one (connections are
    // accepted in order); had it not, the assertion below would still hold.
    let (status, _) = call(s.addr, "GET", "/v1/status", TOKEN, "").await;
    assert_eq!(status, 200);
    let _ = s.stop.send(());
    tokio::time::timeout(Duration::from_secs(30), s.server)
        .await
        .expect("shutdown waited for the waiting request")
        .unwrap()
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), waiting.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 503"),
        "{text}"
    );
    s.node.shutdown().await.unwrap();
}

#[tokio::test]
async fn foreign_hosts_and_origins_and_short_tokens_are_refused() {
    let s = served(None).await;
    let code = |v: &Value| v["error"]["code"].as_str().unwrap_or("").to_string();
    let port = s.addr.port();
    let at = |host: String, origin: Option<String>| async move {
        let (status, v) = call_from(
            s.addr,
            &host,
            origin.as_deref(),
            "GET",
            "/v1/status",
            TOKEN,
            "",
        )
        .await;
        (status, code(&v))
    };
    // A page that reached the API through DNS rebinding names its own host.
    assert_eq!(
        at(format!("rebound.example:{port}"), None).await,
        (403, "forbidden_origin".into())
    );
    // A page on another site sends its origin.
    let foreign = Some("http://rebound.example".to_string());
    assert_eq!(
        at(s.addr.to_string(), foreign).await,
        (403, "forbidden_origin".into())
    );
    // The API's own address, by number or as localhost, with or without its own origin.
    assert_eq!(at(s.addr.to_string(), None).await.0, 200);
    assert_eq!(at(format!("localhost:{port}"), None).await.0, 200);
    assert_eq!(
        at(s.addr.to_string(), Some(format!("http://{}", s.addr)))
            .await
            .0,
        200
    );

    // A token shorter than 32 bytes (an empty file left by a crash) is never accepted.
    for short in ["", "   ", "abc"] {
        let weak = served_with(None, short).await;
        let (status, v) = call(weak.addr, "GET", "/v1/status", short, "").await;
        assert_eq!(
            (status, code(&v).as_str()),
            (503, "token_too_short"),
            "{short:?}"
        );
    }
}
