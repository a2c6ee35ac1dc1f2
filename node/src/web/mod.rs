//! The web page for coordinators: one HTML page, one script and one style sheet, built into
//! the binary and served by the node on its API address. The page is a client of the same
//! JSON API the CLI uses (`docs/API.md`), so there is one copy of every rule: the script only
//! asks and shows.
//!
//! Why this stack: a page that calls the API with plain JavaScript needs no framework, no
//! build step and no template engine, nothing fetched from elsewhere, and nothing that can
//! disagree with the CLI. The script is written for current browsers without a compiler.
//!
//! Signing in: `minga open` asks the node (with the API token) for a one-time link; opening it
//! sets an `HttpOnly`, `SameSite=Strict` session cookie. Requests that change something must
//! carry an `Origin` naming the node itself (see the API's `authorize`), so another site
//! cannot make the browser write.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The session cookie's name, before the API's port: cookies are kept per host, not per port,
/// so two nodes on one machine each need their own.
/// How long a sign-in link works.
const LINK_TTL: Duration = Duration::from_secs(5 * 60);
/// How long a session lasts.
const SESSION_TTL: Duration = Duration::from_secs(12 * 60 * 60);
/// The most unused sign-in links kept.
const MAX_LINKS: usize = 16;
/// The most sessions kept (the oldest goes first).
const MAX_SESSIONS: usize = 64;

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/app.css");

/// The paths the page is served on, answered without a token or a session (they hold no
/// data: the page asks the API for everything).
pub const PUBLIC_PATHS: [&str; 4] = ["/", "/app.js", "/app.css", "/login"];

pub const COOKIE: &str = "minga_session_";

/// Sign-in links and sessions, in memory: a restart signs everyone out.
pub struct Sessions {
    cookie: String,
    links: Mutex<HashMap<String, Instant>>,
    sessions: Mutex<HashMap<String, Instant>>,
}

fn secret() -> Option<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).ok()?;
    Some(URL_SAFE_NO_PAD.encode(bytes))
}

/// Keeps at most `max` live entries, dropping expired ones and then the oldest.
fn keep(map: &mut HashMap<String, Instant>, max: usize, now: Instant) {
    map.retain(|_, until| *until > now);
    while map.len() >= max {
        let Some(oldest) = map.iter().min_by_key(|(_, t)| **t).map(|(k, _)| k.clone()) else {
            break;
        };
        map.remove(&oldest);
    }
}

impl Sessions {
    /// No sessions yet, for the API listening on `port`.
    pub fn new(port: u16) -> Sessions {
        Sessions {
            cookie: format!("{COOKIE}{port}"),
            links: Mutex::default(),
            sessions: Mutex::default(),
        }
    }

    /// A new one-time sign-in code.
    pub fn new_link(&self) -> Option<String> {
        let code = secret()?;
        let now = Instant::now();
        let mut links = self.links.lock().ok()?;
        keep(&mut links, MAX_LINKS, now);
        links.insert(code.clone(), now + LINK_TTL);
        Some(code)
    }

    /// Uses up a sign-in code: a new session id, if the code was live.
    fn redeem(&self, code: &str) -> Option<String> {
        let now = Instant::now();
        let until = self.links.lock().ok()?.remove(code)?;
        if until <= now {
            return None;
        }
        let id = secret()?;
        let mut sessions = self.sessions.lock().ok()?;
        keep(&mut sessions, MAX_SESSIONS, now);
        sessions.insert(id.clone(), now + SESSION_TTL);
        Some(id)
    }

    /// Whether the request carries a live session cookie.
    pub fn signed_in(&self, headers: &HeaderMap) -> bool {
        let Some(id) = session_cookie(headers, &self.cookie) else {
            return false;
        };
        let now = Instant::now();
        self.sessions.lock().is_ok_and(|s| {
            s.iter()
                .any(|(k, until)| *until > now && same(k.as_bytes(), id.as_bytes()))
        })
    }
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn session_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then(|| v.to_string())
        })
}

/// What every page response carries: nothing but this node's own files may run or load, no
/// site may frame it, and it is never cached with data in it.
fn page_headers(content_type: &'static str) -> [(header::HeaderName, &'static str); 5] {
    [
        (header::CONTENT_TYPE, content_type),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ]
}

/// Serves one of the page's files.
pub fn asset(path: &str) -> Response {
    match path {
        "/app.js" => (page_headers("text/javascript; charset=utf-8"), SCRIPT).into_response(),
        "/app.css" => (page_headers("text/css; charset=utf-8"), STYLE).into_response(),
        _ => (page_headers("text/html; charset=utf-8"), INDEX).into_response(),
    }
}

/// `GET /login?code=…`: a live code becomes a session cookie and a redirect to the page; any
/// other answer says what to do.
pub fn login(sessions: &Sessions, code: Option<&str>) -> Response {
    match code.and_then(|c| sessions.redeem(c)) {
        Some(id) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, "/".to_string()),
                (
                    header::SET_COOKIE,
                    format!(
                        "{}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
                        sessions.cookie,
                        SESSION_TTL.as_secs()
                    ),
                ),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
        )
            .into_response(),
        None => (
            StatusCode::BAD_REQUEST,
            page_headers("text/html; charset=utf-8"),
            "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>minga</title>\
             <p>This sign-in link is used up or expired. Run <code>minga open</code> again.</p>\
             <p lang=\"es\">Este enlace ya se usó o venció. Ejecutá <code>minga open</code> de nuevo.</p></html>",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_link_signs_in_once_and_the_cookie_is_the_session() {
        let s = Sessions::new(7878);
        let code = s.new_link().unwrap();
        let answer = login(&s, Some(&code));
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        let cookie = answer.headers()[header::SET_COOKIE].to_str().unwrap();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        let id = cookie.split(';').next().unwrap().to_string();
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, format!("theme=dark; {id}").parse().unwrap());
        assert!(s.signed_in(&headers));
        // The code is used up, and a made-up cookie is no session.
        assert_eq!(login(&s, Some(&code)).status(), StatusCode::BAD_REQUEST);
        let mut forged = HeaderMap::new();
        forged.insert(header::COOKIE, format!("{COOKIE}7878=abc").parse().unwrap());
        // Another node's cookie on this machine is not this node's session.
        let mut other = HeaderMap::new();
        other.insert(
            header::COOKIE,
            id.replace("minga_session_7878", "minga_session_7879")
                .parse()
                .unwrap(),
        );
        assert!(!s.signed_in(&other));
        assert!(!s.signed_in(&forged));
        assert!(!s.signed_in(&HeaderMap::new()));
    }

    #[test]
    fn links_and_sessions_stay_bounded() {
        let s = Sessions::new(7878);
        for _ in 0..100 {
            s.new_link().unwrap();
        }
        assert!(s.links.lock().unwrap().len() <= MAX_LINKS);
        for _ in 0..100 {
            let code = s.new_link().unwrap();
            login(&s, Some(&code));
        }
        assert!(s.sessions.lock().unwrap().len() <= MAX_SESSIONS);
    }
}
