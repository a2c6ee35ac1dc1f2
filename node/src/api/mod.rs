//! The local HTTP/JSON API: every `minga` command is a client of it.
//!
//! It listens on loopback by default and answers only requests that carry the bearer token
//! kept in the data directory. Errors are JSON, `{"error": {"code", "message", "hint"}}`.
//! `GET /v1/events` is a server-sent event stream of records as they appear or change. The
//! reference is `docs/API.md`.

mod admin;
mod contacts;
mod csv_import;
mod error;
mod events;
mod funds;
mod input;
mod jsonld;
mod matching;
mod networks;
mod output;
mod records;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request, State};
use axum::http::{HeaderMap, request::Parts};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use minga_protocol::{CoopId, DeviceId, MemberSecret, MembershipError, Role, Timestamp};
use tokio::sync::watch;

pub use csv_import::{CSV_COLUMNS, CSV_INFO_COLUMNS, CsvError, read_listings_csv};
pub use error::ApiError;
pub use input::{ListingInput, PledgeInput};
pub use output::{status_name, verified as verified_json};

use crate::{NodeError, NodeHandle};

/// The shortest API token the node serves with: a shorter one (an empty file left by a crash,
/// say) would make the token guessable, so every request is refused instead.
pub const MIN_TOKEN_BYTES: usize = 32;

/// The largest request body accepted (an import of many rows).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Who this node writes as: the member key kept in the data directory and its device.
#[derive(Clone)]
pub struct LocalMember {
    /// The member's signing key.
    pub key: MemberSecret,
    /// This installation's device id (one log per member and device).
    pub device: DeviceId,
}

/// How the API answers.
#[derive(Clone)]
pub struct ApiConfig {
    /// The bearer token every request must carry.
    pub token: String,
    /// The member this node writes as (`None`: read-only).
    pub member: Option<LocalMember>,
    /// The co-op the member writes for; `None`: the one co-op that certifies the member.
    pub coop: Option<CoopId>,
    /// The co-op key, on the node that holds it: it signs what only the co-op key may
    /// (certifying and revoking admins, rotating itself).
    pub coop_key: Option<minga_protocol::CoopSecret>,
    /// Where `POST /v1/backup` writes the store's snapshot (the data directory); `None`: no
    /// backups through this API.
    pub snapshots: Option<std::path::PathBuf>,
    /// The file holding this co-op's contact details (`contact.json` in the data directory),
    /// sealed to the counterpart of each accepted pledge; `None`: contacts are not kept here.
    pub contact: Option<std::path::PathBuf>,
}

struct ApiState {
    node: NodeHandle,
    config: ApiConfig,
    /// The co-op key in use, replaced by a rotation.
    coop_key: std::sync::Mutex<Option<minga_protocol::CoopSecret>>,
    stopping: watch::Receiver<bool>,
    /// The `Host` values a request may name: the API's own address, by number or as
    /// localhost. Anything else is a page that reached the API through DNS rebinding.
    hosts: Vec<String>,
    /// The web page's sign-in links and sessions.
    web: crate::web::Sessions,
}

type Shared = Arc<ApiState>;

/// Serves the API on `listener` until `shutdown` completes. Open event streams end then too,
/// so shutdown never waits on a client.
pub async fn serve(
    listener: tokio::net::TcpListener,
    node: NodeHandle,
    config: ApiConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, stopping) = watch::channel(false);
    let bound = listener.local_addr()?;
    let hosts = allowed_hosts(bound);
    let state = Arc::new(ApiState {
        node,
        coop_key: std::sync::Mutex::new(config.coop_key.clone()),
        config,
        stopping: stopping.clone(),
        hosts,
        web: crate::web::Sessions::new(bound.port()),
    });
    let expiry = tokio::spawn(admin::revoke_expired(state.clone(), stopping.clone()));
    let reveal = tokio::spawn(contacts::reveal_on_acceptance(state.clone(), stopping));
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop.send(true);
        })
        .await;
    expiry.abort();
    let _ = expiry.await;
    reveal.abort();
    let _ = reveal.await;
    served
}

/// The `Host` header values that name this API: its address, and `localhost` with its port.
fn allowed_hosts(addr: std::net::SocketAddr) -> Vec<String> {
    let port = addr.port();
    let mut hosts = vec![addr.to_string(), format!("localhost:{port}")];
    if addr.ip().is_unspecified() {
        hosts.push(format!("127.0.0.1:{port}"));
        hosts.push(format!("[::1]:{port}"));
    }
    hosts
}

fn router(state: Shared) -> Router {
    let page = |uri: axum::http::Uri| async move { crate::web::asset(uri.path()) };
    Router::new()
        .route("/", get(page))
        .route("/app.js", get(page))
        .route("/app.css", get(page))
        .route(
            "/login",
            get(
                |State(s): State<Shared>, axum::extract::RawQuery(q): axum::extract::RawQuery| async move {
                    let code = q.as_deref().and_then(|q| {
                        q.split('&').find_map(|kv| kv.strip_prefix("code="))
                    });
                    crate::web::login(&s.web, code)
                },
            ),
        )
        .route("/v1/web/link", post(web_link))
        .route("/metrics", get(metrics))
        .route("/v1/status", get(admin::status))
        .route("/v1/peers", get(admin::peers))
        .route("/v1/equivocations", get(admin::equivocations))
        .route("/v1/coops", get(admin::coops).post(admin::trust))
        .route("/v1/coops/{coop}", get(admin::coop).delete(admin::untrust))
        .route("/v1/members", get(admin::members).post(admin::add_member))
        .route("/v1/members/revoke", post(admin::revoke))
        .route("/v1/coop/rotate", post(admin::rotate))
        .route("/v1/backup", post(admin::backup))
        .route(
            "/v1/coop/key",
            put(admin::bring_coop_key).delete(admin::drop_coop_key),
        )
        .route("/v1/devices", post(admin::add_device))
        .route("/v1/devices/revoke", post(admin::revoke_device))
        .route("/v1/events", get(events::events))
        .route("/v1/match", get(matching::matches))
        .route("/v1/plan", get(matching::allocation))
        .route("/v1/records", get(records::list))
        .route("/v1/records/{id}", get(records::show).patch(records::edit))
        .route("/v1/verify", post(records::verify))
        .route("/v1/import.csv", post(records::import_csv))
        .route("/v1/records/{id}/bundle", get(records::bundle))
        .route("/v1/records/{id}/document", get(records::document))
        .route("/v1/records/{id}/withdraw", post(records::withdraw))
        .route("/v1/offers", post(records::add_offer))
        .route("/v1/needs", post(records::add_need))
        .route("/v1/pledges", post(records::pledge))
        .route("/v1/pledges/{id}/answer", post(records::answer))
        .route("/v1/pledges/{id}/deliveries", post(records::deliver))
        .route("/v1/pledges/{id}/cancel", post(records::cancel))
        .route("/v1/pledges/{id}/contacts", get(contacts::of_pledge))
        .route("/v1/contact", get(contacts::mine).put(contacts::set))
        .route("/v1/import", post(records::import))
        .route("/v1/export.jsonld", get(jsonld::export))
        .route("/v1/networks", get(networks::list).post(networks::create))
        .route("/v1/networks/join", post(networks::join))
        .route("/v1/networks/{id}", get(networks::show))
        .route("/v1/networks/{id}/invite", post(networks::invite))
        .route("/v1/networks/{id}/vouches", post(networks::vouch))
        .route("/v1/networks/{id}/unvouch", post(networks::unvouch))
        .route("/v1/networks/{id}/expulsions", post(networks::expel))
        .route(
            "/v1/blocked/{coop}",
            put(networks::block).delete(networks::unblock),
        )
        .route("/v1/funds", get(funds::list).post(funds::create))
        .route("/v1/funds/{id}", get(funds::show))
        .route("/v1/funds/{id}/contributions", post(funds::contribute))
        .route("/v1/funds/{id}/loans", post(funds::propose))
        .route("/v1/loans/{id}", get(funds::loan))
        .route("/v1/loans/{id}/history.csv", get(funds::history_csv))
        .route("/v1/loans/{id}/decisions", post(funds::decide))
        .route("/v1/loans/{id}/disbursements", post(funds::disburse))
        .route("/v1/loans/{id}/reports", post(funds::report))
        .route("/v1/loans/{id}/repayments", post(funds::repay))
        .route("/v1/transfers/{id}/confirm", post(funds::confirm))
        .fallback(|| async {
            ApiError::not_found("no such endpoint", "see docs/API.md for the endpoints")
        })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .with_state(state)
}

/// Refuses any request without the right bearer token, any whose `Host` is not this API's
/// address, and any from a web page (`Origin`) served elsewhere.
async fn authorize(
    State(state): State<Shared>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    let refuse = |status, code, message: &str, hint: &str| {
        axum::response::IntoResponse::into_response(ApiError {
            status,
            code,
            message: message.into(),
            hint: hint.into(),
        })
    };
    let header = |name| headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"));
    let host_ok =
        header(axum::http::header::HOST).is_some_and(|h| state.hosts.iter().any(|a| a == h));
    let origin_ok = header(axum::http::header::ORIGIN)
        .is_none_or(|o| state.hosts.iter().any(|a| o == format!("http://{a}")));
    if !host_ok || !origin_ok {
        return refuse(
            axum::http::StatusCode::FORBIDDEN,
            "forbidden_origin",
            "the request names another host or comes from another site",
            "call the API at the address in the data directory's api.addr",
        );
    }
    if state.config.token.len() < MIN_TOKEN_BYTES {
        return refuse(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "token_too_short",
            "the node's API token is too short to be safe",
            "restart `minga up`: it makes a new one",
        );
    }
    // The page's files hold no data; everything else needs the token or a session.
    if crate::web::PUBLIC_PATHS.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given.is_none() && state.web.signed_in(&headers) {
        // A session is a cookie the browser sends by itself: a request that changes
        // something must also say, by its Origin, that this node's own page made it.
        let reads = matches!(
            *req.method(),
            axum::http::Method::GET | axum::http::Method::HEAD
        );
        if !reads && header(axum::http::header::ORIGIN).is_none() {
            return refuse(
                axum::http::StatusCode::FORBIDDEN,
                "forbidden_origin",
                "a change made with the page's session must come from the page",
                "use the page, or the API token from a program",
            );
        }
        // Sign-in links are made with the token only.
        if req.uri().path() != "/v1/web/link" {
            return next.run(req).await;
        }
    }
    let given = given.unwrap_or_default();
    if !same(given.as_bytes(), state.config.token.as_bytes()) {
        return axum::response::IntoResponse::into_response(ApiError {
            status: axum::http::StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: "missing or wrong API token".into(),
            hint: "send `Authorization: Bearer <token>` with the token in the data directory's api.token".into(),
        });
    }
    next.run(req).await
}

/// `GET /metrics`: the node's metrics in the Prometheus text format (OpenMetrics), for a
/// scraper that sends the API token (Prometheus's `authorization` setting).
async fn metrics(State(s): State<Shared>) -> Response {
    let m = s.node.metrics();
    if let Some(dir) = s.config.snapshots.as_deref() {
        m.store_bytes.set(crate::disk::size_of(&dir.join("store")));
    }
    axum::response::IntoResponse::into_response((
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.encode(),
    ))
}

/// `POST /v1/web/link`: a one-time link that signs a browser in to the page (`minga open`).
async fn web_link(State(s): State<Shared>) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let code = s.web.new_link().ok_or_else(|| ApiError {
        status: axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        code: "internal",
        message: "no randomness for a sign-in code".into(),
        hint: "see the node's log".into(),
    })?;
    // A listener on every interface is reached on loopback from this machine.
    let host = s
        .hosts
        .iter()
        .find(|h| !h.starts_with("0.0.0.0:") && !h.starts_with("[::]:"))
        .cloned()
        .unwrap_or_default();
    Ok(axum::Json(serde_json::json!({
        "url": format!("http://{host}/login?code={code}"),
        "page": format!("http://{host}/"),
        "expires_in_seconds": 300,
    })))
}

/// Compares without stopping at the first difference, so timing tells nothing of the token.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A JSON body whose errors are API errors.
pub(crate) struct Body<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        axum::Json::<T>::from_request(req, state)
            .await
            .map(|j| Body(j.0))
            .map_err(|e| ApiError::bad(e.body_text(), "send a JSON body as docs/API.md shows"))
    }
}

/// A query string whose errors are API errors.
pub(crate) struct Params<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Params(q.0))
            .map_err(|e| ApiError::bad(e.body_text(), "see docs/API.md for the parameters"))
    }
}

impl ApiState {
    fn coop_key(&self) -> Option<minga_protocol::CoopSecret> {
        self.coop_key.lock().ok()?.clone()
    }

    fn set_coop_key(&self, key: Option<minga_protocol::CoopSecret>) {
        if let Ok(mut k) = self.coop_key.lock() {
            *k = key;
        }
    }

    fn member(&self) -> Result<&LocalMember, ApiError> {
        self.config.member.as_ref().ok_or_else(|| {
            ApiError::refused(
                "this node has no member key",
                "run `minga init` to create one",
            )
        })
    }

    /// The co-op this node's member writes for, and the member's role in it now.
    /// Runs `work` (a wait for something to arrive), but answers [`NodeError::Stopped`] as
    /// soon as the node starts stopping, so a long wait never holds up a shutdown.
    async fn unless_stopping<T>(
        &self,
        work: impl Future<Output = Result<T, NodeError>>,
    ) -> Result<T, NodeError> {
        let mut stopping = self.stopping.clone();
        tokio::select! {
            r = work => r,
            _ = stopping.wait_for(|stop| *stop) => Err(NodeError::Stopped),
        }
    }

    async fn home(&self) -> Result<(CoopId, Role), ApiError> {
        let member = self.member()?;
        let now = Timestamp::now();
        if let Some(coop) = self.config.coop {
            let m = self.node.membership(coop).await?;
            let role = m.role_at(&member.key.public(), now).map_err(|e| {
                ApiError::refused(
                    format!("this node's member key cannot write for its co-op: {e}"),
                    "ask an admin to run `minga member add` with this node's key",
                )
            })?;
            return Ok((coop, role));
        }
        let mut found = Vec::new();
        let mut revoked = None;
        for c in self.node.coops().await? {
            let coop = c.genesis.coop_id();
            let m = self.node.membership(coop).await?;
            match m.role_at(&member.key.public(), now) {
                Ok(role) => found.push((coop, role)),
                Err(e @ MembershipError::KeyRevoked { .. }) => {
                    revoked = Some((c.genesis.value().name.clone(), e))
                }
                Err(_) => {}
            }
        }
        if let ([], Some((name, e))) = (found.as_slice(), revoked) {
            return Err(ApiError::refused(
                format!("this node's member cannot write for {name}: {e}"),
                "make a new key (`minga init` in a new data directory) and ask an admin to certify it",
            ));
        }
        match found.as_slice() {
            [one] => Ok(*one),
            [] => Err(ApiError::refused(
                format!(
                    "member key {} holds no certificate in any co-op this node trusts",
                    member.key.public()
                ),
                "ask an admin to run `minga member add <your key>`, and trust the co-op with `minga coop trust FILE`",
            )),
            _ => Err(ApiError::refused(
                "this member belongs to several co-ops",
                "set `coop` in config.toml to the one this node writes for",
            )),
        }
    }

    /// A trusted co-op by its id or a unique prefix.
    async fn coop(&self, given: &str) -> Result<CoopId, ApiError> {
        let given = given.trim().to_ascii_lowercase();
        let matches = self
            .node
            .coops()
            .await?
            .into_iter()
            .map(|c| c.genesis.coop_id());
        one_by_prefix(
            &given,
            matches,
            ToString::to_string,
            "co-ops",
            ApiError::not_found(
                format!("no trusted co-op {given}"),
                "list them with `minga coop show`",
            ),
        )
    }
}

/// The one item whose id begins with `given` (at least 4 characters): `missing` when none does
/// (or `given` is shorter), a request for more digits when several do.
pub(crate) fn one_by_prefix<T>(
    given: &str,
    items: impl IntoIterator<Item = T>,
    id: impl Fn(&T) -> String,
    what: &str,
    missing: ApiError,
) -> Result<T, ApiError> {
    let mut found: Vec<T> = items
        .into_iter()
        .filter(|i| id(i).starts_with(given))
        .collect();
    match found.len() {
        1 if given.len() >= 4 => Ok(found.remove(0)),
        0 | 1 => Err(missing),
        _ => Err(ApiError::bad(
            format!("{given} names several {what}"),
            "give more digits of the id",
        )),
    }
}
