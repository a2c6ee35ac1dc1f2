//! The web page in headless Chromium (Debian's `chromium` and `chromium-driver`), against two
//! co-ops' nodes run with the `minga` binary on 127.0.0.1: on A's page a coordinator finds B's
//! need on the board and the map, opens its matches and pledges from A's offer; on B's page,
//! open before, the pledge appears live in the inbox, is accepted and partly delivered; both
//! pages then show the same derived status. A tampered bundle dropped on Verify is refused, a
//! CSV with a bad row imports nothing and names the row, and requests from another site or
//! without a session are refused. Screenshots of each screen go to
//! `target/web-screenshots/`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use support::*;

/// A running chromedriver, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn driver() -> Driver {
    let bin = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("chromedriver is needed for this test (apt install chromium chromium-driver)");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(WAIT_SECS);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

/// A headless Chromium with a fresh profile that calls nowhere but the pages it is sent to.
async fn browser(driver: &Driver, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-default-apps",
                "--lang=en-US", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("could not start headless Chromium through chromedriver")
}

/// The API address a node's data directory names.
fn api_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("api.addr"))
        .unwrap()
        .trim()
        .to_string()
}

/// Signs a browser in to a node's page with a one-time link from `minga open`.
async fn sign_in(c: &Client, dir: &Path) {
    let url = ok(dir, &["open", "--print"]).trim().to_string();
    assert!(url.contains("/login?code="), "{url}");
    c.goto(&url).await.unwrap();
    wait_css(c, "nav a[aria-current=page]").await;
}

async fn wait_css(c: &Client, css: &str) -> fantoccini::elements::Element {
    match c
        .wait()
        .at_most(Duration::from_secs(WAIT_SECS))
        .for_element(Locator::Css(css))
        .await
    {
        Ok(e) => e,
        Err(e) => {
            let url = c
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default();
            let source = c.source().await.unwrap_or_default();
            panic!("{css} did not appear at {url}: {e}\n{source}")
        }
    }
}

/// Waits until the text of the first element matching `css` satisfies `check`.
async fn wait_text(c: &Client, css: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(WAIT_SECS);
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await
            && let Ok(text) = e.text().await
            && check(&text)
        {
            return text;
        }
        let body = c
            .find(Locator::Css("main"))
            .await
            .ok()
            .map(|m| async move { m.text().await.unwrap_or_default() });
        if Instant::now() >= deadline {
            let body = match body {
                Some(b) => b.await,
                None => String::new(),
            };
            panic!("{css} never showed the expected text; the page says:\n{body}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Types into the field `css` (clearing it first, unless it is a file input), finding it again
/// when the page redrew itself meanwhile (a live update).
async fn type_in(c: &Client, css: &str, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(WAIT_SECS);
    loop {
        let done = async {
            let e = c.find(Locator::Css(css)).await?;
            if e.attr("type").await?.as_deref() != Some("file") {
                e.clear().await?;
            }
            e.send_keys(text).await
        };
        match done.await {
            Ok(()) => return,
            Err(e) if Instant::now() >= deadline => panic!("could not type into {css}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// An attribute of the first element `css` finds, once it is there (found again if redrawn).
async fn attr_of(c: &Client, css: &str, name: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(WAIT_SECS);
    loop {
        let got = async { c.find(Locator::Css(css)).await?.attr(name).await };
        match got.await {
            Ok(Some(v)) => return v,
            Ok(None) | Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            other => panic!("{css} has no {name}: {other:?}"),
        }
    }
}

/// Clicks the first element `locator` finds, finding it again if the page redrew it.
async fn click(c: &Client, locator: Locator<'_>) {
    let deadline = Instant::now() + Duration::from_secs(WAIT_SECS);
    loop {
        let done = async { c.find(locator).await?.click().await };
        match done.await {
            Ok(()) => return,
            Err(e) if Instant::now() >= deadline => panic!("could not click {locator:?}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn go(c: &Client, dir: &Path, hash: &str) {
    c.goto(&format!("http://{}/{hash}", api_of(dir)))
        .await
        .unwrap();
}

async fn screenshot(c: &Client, name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/web-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a screenshot is a PNG");
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// One raw HTTP request to a node's API: the status code.
fn http(dir: &Path, request: &str) -> u16 {
    let mut s = TcpStream::connect(api_of(dir)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(WAIT_SECS)))
        .unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {answer}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_matches_pledges_and_confirms_in_two_browsers() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    found_coop(&a, "Panadería Oeste");
    let b_id = found_coop(&b, "Comedor Los Pibes");
    let _node_a = up(&a, None);
    let _node_b = up(&b, None);
    ok(&a, &["network", "create", "Red Rosario"]);
    let invite = ok(&a, &["invite"]).trim().to_string();
    ok(&b, &["join", &invite]);
    let wait = WAIT_SECS.to_string();
    ok(&a, &["coop", "vouch", &b_id, "--wait", &wait]);
    let offer = write(
        &a,
        &[
            "offer",
            "add",
            "--title",
            "Harina 000",
            "--category",
            "food/flour",
            "--quantity",
            "300 kg",
            "--location",
            "-32.95,-60.66",
            "--radius",
            "30",
        ],
    );
    let need = write(
        &b,
        &[
            "need",
            "add",
            "--title",
            "Harina para el comedor",
            "--category",
            "food/flour",
            "--quantity",
            "100 kg",
            "--urgency",
            "high",
            "--location",
            "-32.94,-60.65",
        ],
    );
    arrived(&[&a, &b], &offer);
    arrived(&[&a, &b], &need);

    let drv = driver();
    let (pa, pb) = (root.path().join("chrome-a"), root.path().join("chrome-b"));
    let ca = browser(&drv, &pa).await;
    let cb = browser(&drv, &pb).await;
    sign_in(&ca, &a).await;
    sign_in(&cb, &b).await;

    // B's inbox is open before anything is pledged.
    go(&cb, &b, "#/inbox").await;
    wait_text(&cb, "main h1", |t| t == "Inbox").await;
    assert!(
        cb.find_all(Locator::Css(".card.pledge"))
            .await
            .unwrap()
            .is_empty()
    );

    // On A's page: B's need on the board, most urgent first, and on the map.
    go(&ca, &a, "#/board").await;
    wait_text(&ca, &format!("a[href='#/record/{need}']"), |t| {
        t == "Harina para el comedor"
    })
    .await;
    wait_text(&ca, "#count", |t| t.contains("of 1")).await;
    screenshot(&ca, "board").await;
    go(&ca, &a, "#/map").await;
    let label = attr_of(
        &ca,
        &format!("svg.map a[href='#/record/{need}']"),
        "aria-label",
    )
    .await;
    assert!(label.contains("Harina para el comedor"), "{label}");
    screenshot(&ca, "map").await;
    click(
        &ca,
        Locator::Css(&format!("svg.map a[href='#/record/{need}']")),
    )
    .await;
    wait_text(&ca, "main h1", |t| t.contains("Harina para el comedor")).await;
    screenshot(&ca, "record").await;

    // Its matches, with reasons; A pledges 60 kg from its offer.
    click(&ca, Locator::Css("a[href^='#/matches/']")).await;
    wait_css(&ca, "main form input[name=quantity]").await;
    assert!(
        !ca.find_all(Locator::Css(".reasons li"))
            .await
            .unwrap()
            .is_empty()
    );
    screenshot(&ca, "matches").await;
    type_in(&ca, "main form input[name=quantity]", "60 kg").await;
    click(&ca, Locator::Css("main form button[type=submit]")).await;
    // Said at once, then the pledge's own record event may replace the words.
    wait_text(&ca, "#live", |t| {
        t.contains("Pledged") || t.contains("pledge")
    })
    .await;

    // On B's page, without reloading: the pledge arrives, is accepted, then 25 kg delivered.
    let pledge = attr_of(&cb, ".card.pledge", "data-id").await;
    wait_text(&cb, ".card.pledge .status", |t| t == "proposed").await;
    screenshot(&cb, "inbox").await;
    click(
        &cb,
        Locator::XPath("//div[contains(@class,'pledge')]//button[.='Accept']"),
    )
    .await;
    wait_text(&cb, ".card.pledge .status", |t| t == "accepted").await;
    wait_css(&cb, ".card.pledge input[name=quantity]").await;
    type_in(&cb, ".card.pledge input[name=quantity]", "25 kg").await;
    click(&cb, Locator::Css(".card.pledge button[type=submit]")).await;
    wait_text(&cb, ".card.pledge .status", |t| t == "partly fulfilled").await;

    // Both pages derive the same status for the pledge.
    for (c, dir) in [(&ca, &a), (&cb, &b)] {
        go(c, dir, &format!("#/record/{pledge}")).await;
        wait_text(c, "main dl.fields", |t| t.contains("partly fulfilled")).await;
    }

    // Verify: the pledge's bundle is valid; with one byte changed it is refused.
    let bundle = root.path().join("pledge.json");
    ok(
        &b,
        &["export", "bundle", &pledge, "-o", bundle.to_str().unwrap()],
    );
    // One character of the signed statement's base64 changed, as the README's sed does.
    let text = std::fs::read_to_string(&bundle).unwrap();
    let at = text.find("\"statement\": \"").unwrap() + "\"statement\": \"".len();
    let was = &text[at..=at];
    let changed = format!(
        "{}{}{}",
        &text[..at],
        if was == "X" { "Y" } else { "X" },
        &text[at + 1..]
    );
    assert!(changed != text, "the copy differs by one character");
    let tampered = root.path().join("tampered.json");
    std::fs::write(&tampered, changed).unwrap();
    go(&cb, &b, "#/verify").await;
    wait_css(&cb, "#bundle-file").await;
    type_in(&cb, "#bundle-file", bundle.to_str().unwrap()).await;
    wait_text(&cb, "#verdict", |t| t.starts_with("Valid: pledge")).await;
    type_in(&cb, "#bundle-file", tampered.to_str().unwrap()).await;
    wait_text(&cb, "#verdict", |t| t.starts_with("INVALID")).await;
    screenshot(&cb, "verify").await;

    // Import: one bad row imports nothing, and the message names the row.
    let before = json(&b, &["list", "--all"]).as_array().unwrap().len();
    let csv = root.path().join("rows.csv");
    std::fs::write(
        &csv,
        "kind,title,category,quantity\nneed,Aceite,food/oil,20 l\nneed,Leche,food/milk,lots\n",
    )
    .unwrap();
    go(&cb, &b, "#/import").await;
    wait_css(&cb, "#csv-file").await;
    type_in(&cb, "#csv-file", csv.to_str().unwrap()).await;
    click(&cb, Locator::Css("main form button[type=submit]")).await;
    let said = wait_text(&cb, "#import-result", |t| !t.is_empty()).await;
    assert!(said.contains("row 3"), "{said}");
    screenshot(&cb, "import").await;
    assert_eq!(
        json(&b, &["list", "--all"]).as_array().unwrap().len(),
        before
    );

    // Editing: the page changes the offer's title, the CLI its notes; both stand.
    go(&ca, &a, &format!("#/record/{offer}")).await;
    wait_css(&ca, "form input[name=title]").await;
    type_in(&ca, "form input[name=title]", "Harina 000, bolsas de 25 kg").await;
    click(&ca, Locator::Css("form.card button[type=submit]")).await;
    wait_text(&ca, "main h1", |t| {
        t.ends_with("Harina 000, bolsas de 25 kg")
    })
    .await;
    ok(
        &a,
        &["offer", "edit", &offer, "--notes", "retirar por la mañana"],
    );
    let shown = json(&a, &["show", &offer]);
    assert_eq!(shown["record"]["title"], "Harina 000, bolsas de 25 kg");
    assert_eq!(shown["record"]["notes"], "retirar por la mañana");
    go(&cb, &b, &format!("#/record/{offer}")).await;
    wait_text(&cb, "main dl.fields", |t| {
        t.contains("retirar por la mañana")
    })
    .await;

    // In Spanish, with the switch.
    go(&cb, &b, "#/board").await;
    wait_css(&cb, "#lang").await;
    click(&cb, Locator::Css("#lang")).await;
    wait_text(&cb, "nav a[aria-current=page]", |t| t == "Tablero").await;
    wait_text(&cb, "main h1", |t| t == "Tablero").await;
    screenshot(&cb, "board-es").await;

    // The co-op screen, and a narrow screen (a phone).
    go(&ca, &a, "#/coop").await;
    wait_text(&ca, "main", |t| t.contains("Red Rosario")).await;
    screenshot(&ca, "coop").await;
    ca.set_window_size(390, 844).await.unwrap();
    go(&ca, &a, "#/board").await;
    wait_css(&ca, &format!("a[href='#/record/{need}']")).await;
    screenshot(&ca, "board-phone").await;

    // Without a session, or from another site, nothing is answered or changed.
    let host = api_of(&a);
    let cookies = ca.get_all_cookies().await.unwrap();
    let session = cookies
        .iter()
        .find(|c| c.name().starts_with("minga_session_"))
        .expect("the page's session cookie");
    assert_eq!(session.http_only(), Some(true));
    let cookie = format!("{}={}", session.name(), session.value());
    let body = r#"{"title":"x","category":"food","quantity":"1 kg"}"#;
    let post = |extra: &str| {
        format!(
            "POST /v1/offers HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
            body.len()
        )
    };
    assert_eq!(
        http(
            &a,
            &format!("GET /v1/records HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
        ),
        401
    );
    assert_eq!(
        http(
            &a,
            &post(&format!(
                "Cookie: {cookie}\r\nOrigin: http://evil.example\r\n"
            ))
        ),
        403
    );
    assert_eq!(http(&a, &post(&format!("Cookie: {cookie}\r\n"))), 403);
    assert_eq!(
        http(
            &a,
            &format!(
                "GET /v1/records HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
            )
        ),
        200
    );
    let offers: Value = json(&a, &["offer", "list"]);
    assert_eq!(offers.as_array().unwrap().len(), 1, "nothing was written");

    ca.close().await.unwrap();
    cb.close().await.unwrap();
}
