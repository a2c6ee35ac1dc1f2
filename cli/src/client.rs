//! The client of a running node's local API, as every command but `init`, `up` and offline
//! `verify` uses it.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::home::Home;
use crate::{Failure, exit};

/// A connection to the local API.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    /// The API of the node that keeps its data in `home` (or at `--api`).
    pub fn new(home: &Home, api: Option<&str>) -> Result<Client, Failure> {
        let addr = match api {
            Some(a) => a.to_string(),
            None => home.api_addr()?,
        };
        let base = if addr.starts_with("http://") || addr.starts_with("https://") {
            addr.trim_end_matches('/').to_string()
        } else {
            format!("http://{addr}")
        };
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| {
                Failure::user(format!("cannot set up HTTP: {e}"), "report this as a bug")
            })?;
        Ok(Client {
            http,
            base,
            token: home.token(false)?,
        })
    }

    fn unreachable(&self, e: &reqwest::Error) -> Failure {
        Failure {
            api_code: None,
            message: format!("the node's API at {} is not reachable: {}", self.base, root(e)),
            hint: Some(
                "start the node with `minga up` (same --data-dir), or point at it with --api HOST:PORT"
                    .into(),
            ),
            code: exit::UNREACHABLE,
        }
    }

    /// Sends a request and returns the response if it succeeded.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<reqwest::Response, Failure> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .timeout(timeout);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| self.unreachable(&e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        Err(api_failure(status, &text))
    }

    /// A JSON request with the default timeout.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Failure> {
        self.json_within(method, path, body, Duration::from_secs(60))
            .await
    }

    /// A JSON request that may take up to `timeout`.
    pub async fn json_within(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<Value, Failure> {
        let resp = self.send(method, path, body, timeout).await?;
        resp.json().await.map_err(|e| Failure {
            api_code: None,
            message: format!("the node answered something that is not JSON: {}", root(&e)),
            hint: Some("is --api pointing at a minga node?".into()),
            code: exit::UNREACHABLE,
        })
    }

    /// GET as JSON.
    pub async fn get(&self, path: &str) -> Result<Value, Failure> {
        self.json(Method::GET, path, None).await
    }

    /// POST JSON.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        self.json(Method::POST, path, Some(body)).await
    }

    /// POSTs a command that may need the co-op key. If the node answers that it does not hold
    /// it and this data directory keeps it encrypted, the key is brought in for this one
    /// command: its passphrase asked, the key handed to the node, the command sent again, and
    /// the node told to forget the key, whatever the command's outcome.
    pub async fn post_as_coop(
        &self,
        home: &Home,
        path: &str,
        body: &Value,
    ) -> Result<Value, Failure> {
        match self.post(path, body).await {
            Err(f)
                if f.api_code.as_deref() == Some("coop_key_needed")
                    && home.coop_key_protected()? =>
            {
                let Some(key) = home.coop_key()? else {
                    return Err(f);
                };
                self.with_coop_key(&key, || self.post(path, body)).await
            }
            other => other,
        }
    }

    /// Runs `f` while the node holds `key` (the co-op key), then has it forget the key.
    pub async fn with_coop_key<F, Fut>(
        &self,
        key: &minga_protocol::CoopSecret,
        f: F,
    ) -> Result<Value, Failure>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Value, Failure>>,
    {
        let pem = serde_json::json!({ "key": key.0.to_pkcs8_pem() });
        self.json(Method::PUT, "/v1/coop/key", Some(&pem)).await?;
        let result = f().await;
        let forgot = self.json(Method::DELETE, "/v1/coop/key", None).await;
        let v = result?;
        forgot?;
        Ok(v)
    }

    /// GET raw bytes.
    pub async fn bytes(&self, path: &str) -> Result<Vec<u8>, Failure> {
        let resp = self
            .send(Method::GET, path, None, Duration::from_secs(60))
            .await?;
        resp.bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| self.unreachable(&e))
    }
}

/// The innermost cause: reqwest's own message is generic.
fn root(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// An API error as a CLI failure, with the exit code its kind calls for.
fn api_failure(status: StatusCode, text: &str) -> Failure {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    let err = parsed.as_ref().and_then(|v| v.get("error"));
    let field = |k: &str| {
        err.and_then(|e| e.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let mut message = field("message").unwrap_or_else(|| format!("the node answered {status}"));
    if let Some(rows) = err.and_then(|e| e.get("rows")).and_then(Value::as_array) {
        for r in rows.iter().take(20) {
            message.push_str(&format!(
                "\n  row {}: {}",
                r.get("row").and_then(Value::as_u64).unwrap_or(0),
                r.get("message").and_then(Value::as_str).unwrap_or("")
            ));
        }
        if rows.len() > 20 {
            message.push_str(&format!("\n  … and {} more", rows.len() - 20));
        }
    }
    let code = match status {
        StatusCode::NOT_FOUND => exit::NOT_FOUND,
        StatusCode::UNAUTHORIZED => exit::USER_ERROR,
        s if s.is_server_error() => exit::UNREACHABLE,
        _ => exit::USER_ERROR,
    };
    Failure {
        api_code: field("code"),
        message,
        hint: field("hint"),
        code,
    }
}
