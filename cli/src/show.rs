//! How commands print: aligned tables for people, `--json` for scripts.

use futures::StreamExt;
use reqwest::Method;
use serde_json::Value;

use crate::client::Client;
use crate::{Failure, Output};

/// Digits of an id shown in tables: enough to be unique in practice, and accepted back.
const SHORT: usize = 12;

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn short(id: &str) -> String {
    id.chars().take(SHORT).collect()
}

/// Prints rows under a header, each column as wide as its widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(c);
            } else {
                out.push_str(&format!("{c:<w$}  "));
            }
        }
        outln!("{}", out.trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for r in rows {
        line(r.clone());
    }
}

fn json_out(v: &Value) {
    outln!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// Prints a JSON array as JSON, or as a table of one row per element (`empty` when none).
fn rows(v: &Value, out: Output, header: &[&str], empty: &str, row: impl Fn(&Value) -> Vec<String>) {
    if out.json {
        return json_out(v);
    }
    let rows: Vec<Vec<String>> = v.as_array().into_iter().flatten().map(row).collect();
    if rows.is_empty() {
        outln!("{empty}");
        return;
    }
    table(header, &rows);
}

/// The amount column: `120 kg of 200 kg` style for records with totals.
fn amount(v: &Value) -> String {
    let q = s(v, "quantity");
    let none = |t: &str| t.is_empty() || t.starts_with("0 ");
    let (pledged, delivered) = (s(v, "pledged"), s(v, "delivered"));
    let mut out = q.to_string();
    if matches!(s(v, "kind"), "need" | "offer") && !none(pledged) {
        out.push_str(&format!(", {pledged} pledged"));
    }
    if !none(delivered) {
        out.push_str(&format!(", {delivered} delivered"));
    }
    out
}

fn record_row(v: &Value) -> Vec<String> {
    let title = match s(v, "kind") {
        "acceptance" => s(v, "decision").to_string(),
        _ => s(v, "title").to_string(),
    };
    vec![
        short(s(v, "id")),
        s(v, "kind").to_string(),
        s(v, "status").to_string(),
        title,
        amount(v),
        s(v, "category").to_string(),
        short(s(v, "coop")),
    ]
}

const RECORD_HEADER: [&str; 7] = [
    "ID", "KIND", "STATUS", "TITLE", "AMOUNT", "CATEGORY", "COOP",
];

/// A listing.
pub fn records(v: &Value, out: Output) {
    rows(v, out, &RECORD_HEADER, "no records match", record_row);
}

/// One record, its fields, and the records that reference it.
pub fn detail(v: &Value, out: Output) {
    if out.json {
        return json_out(v);
    }
    outln!("{} {}", s(v, "kind"), s(v, "id"));
    let mut pairs: Vec<(String, String)> = vec![
        ("co-op".into(), s(v, "coop").into()),
        ("status".into(), s(v, "status").into()),
    ];
    if let Some(Value::Object(fields)) = v.get("record") {
        for (k, val) in fields {
            let text = match val {
                Value::Null => continue,
                Value::String(t) => t.clone(),
                other => other.to_string(),
            };
            if k == "statement" {
                continue;
            }
            pairs.push((k.replace('_', " "), text));
        }
    }
    for k in ["pledged", "delivered", "refers_to", "offer"] {
        if let Some(t) = v.get(k).and_then(Value::as_str) {
            pairs.push((k.replace('_', " "), t.to_string()));
        }
    }
    for (k, val) in pairs.iter().filter(|(_, val)| !val.is_empty()) {
        outln!("  {k:<12} {val}");
    }
    if let Some(st) = v
        .get("record")
        .and_then(|r| r.get("statement"))
        .and_then(Value::as_str)
    {
        outln!("signed statement:");
        for l in st.lines() {
            outln!("  {l}");
        }
    }
    let related: Vec<Vec<String>> = v
        .get("related")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(record_row)
        .collect();
    if !related.is_empty() {
        outln!();
        table(&RECORD_HEADER, &related);
    }
}

fn listing_line(l: &Value) -> String {
    format!(
        "{} {} — {} {} ({})",
        short(s(l, "id")),
        s(l, "title"),
        s(l, "remaining"),
        s(l, "category"),
        short(s(l, "coop")),
    )
}

/// Ranked matches, each with its reasons.
pub fn matches(v: &Value, out: Output) {
    if out.json {
        return json_out(v);
    }
    let needs = v.as_array().map(Vec::as_slice).unwrap_or_default();
    if needs.is_empty() {
        outln!("no open need has a candidate offer");
        return;
    }
    for (i, n) in needs.iter().enumerate() {
        if i > 0 {
            outln!();
        }
        let need = &n["need"];
        outln!("need {}  [{}]", listing_line(need), s(need, "urgency"));
        let found = n["matches"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        if found.is_empty() {
            outln!("  no candidate offer");
        }
        for m in found {
            let score = m.get("score").and_then(Value::as_f64).unwrap_or(0.0);
            outln!("  {score:>5.1}  offer {}", listing_line(&m["offer"]));
            for r in m["reasons"].as_array().into_iter().flatten() {
                outln!("         {:<8} {}", s(r, "factor"), s(r, "text"));
            }
        }
    }
}

/// The allocation plan.
pub fn plan(v: &Value, out: Output) {
    if out.json {
        return json_out(v);
    }
    let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    outln!(
        "{} open needs, {} open offers, {} candidate pairs: {} needs served",
        n("needs"),
        n("offers"),
        n("candidate_pairs"),
        n("needs_served")
    );
    let rows: Vec<Vec<String>> = v["proposals"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            vec![
                short(s(&p["need"], "id")),
                s(&p["need"], "title").to_string(),
                s(&p["need"], "urgency").to_string(),
                s(p, "quantity").to_string(),
                short(s(&p["offer"], "id")),
                s(&p["offer"], "title").to_string(),
                p.get("distance_km")
                    .and_then(Value::as_f64)
                    .map_or("?".into(), |d| format!("{d:.0} km")),
            ]
        })
        .collect();
    if rows.is_empty() {
        outln!("nothing to propose");
        return;
    }
    outln!();
    table(
        &[
            "NEED",
            "TITLE",
            "URGENCY",
            "PLEDGE",
            "FROM OFFER",
            "TITLE",
            "DISTANCE",
        ],
        &rows,
    );
    outln!();
    outln!(
        "to propose one: minga pledge NEED --quantity Q --offer OFFER (from the offering co-op's node)"
    );
}

/// Connected peers.
pub fn peers(v: &Value, out: Output) {
    let header = ["PEER", "ENTRIES IN", "ENTRIES OUT", "LAST SYNC"];
    rows(v, out, &header, "no peers connected", |p| {
        let n = |k: &str| p.get(k).and_then(Value::as_u64).unwrap_or(0).to_string();
        vec![
            s(p, "peer").to_string(),
            n("entries_in"),
            n("entries_out"),
            s(p, "last_synced").to_string(),
        ]
    });
}

/// Co-ops.
pub fn coops(v: &Value, out: Output) {
    let header = ["ID", "NAME", "MEMBERS", "ENTRIES"];
    rows(v, out, &header, "no co-ops trusted", |c| {
        let n = |k: &str| c.get(k).and_then(Value::as_u64).unwrap_or(0).to_string();
        let home = c.get("home").and_then(Value::as_bool) == Some(true);
        let mine = if home { " (this node's)" } else { "" };
        let frozen = match c.get("coop_key_frozen_at_rotation").and_then(Value::as_u64) {
            Some(n) => format!(" [co-op key frozen: two rotations numbered {n}]"),
            None => String::new(),
        };
        vec![
            s(c, "id").to_string(),
            format!("{}{mine}{frozen}", s(c, "name")),
            n("members"),
            n("entries"),
        ]
    });
}

/// Members.
pub fn members(v: &Value, out: Output) {
    rows(v, out, &["KEY", "ROLE", "REVOKED"], "no members", |m| {
        let founder = m.get("founder").and_then(Value::as_bool) == Some(true);
        let role = m.get("role").and_then(Value::as_str).unwrap_or("none");
        let revoked = s(m, "revoked");
        vec![
            s(m, "key").to_string(),
            format!("{role}{}", if founder { " (founder)" } else { "" }),
            if revoked.is_empty() {
                String::new()
            } else {
                format!("revoked {revoked}")
            },
        ]
    });
}

/// A number of a status answer's co-ops, summed over them.
pub fn coops_total(status: &Value, field: &str) -> u64 {
    status
        .get("coops")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get(field).and_then(Value::as_u64))
        .sum()
}

/// The node's status.
pub fn status(v: &Value, out: Output) {
    if out.json {
        return json_out(v);
    }
    outln!("node        {}", s(v, "node"));
    if let Some(state) = crate::service::state() {
        outln!("service     {state} ({})", crate::service::UNIT);
    }
    outln!("member      {}", s(v, "member"));
    match v.get("coop").and_then(Value::as_str) {
        Some(c) => outln!("co-op       {c} ({})", s(v, "role")),
        None => outln!("co-op       none: no trusted co-op certifies this member yet"),
    }
    for a in v
        .get("listen")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        outln!("listening   {}", a.as_str().unwrap_or(""));
    }
    outln!(
        "peers       {}",
        v.get("peers").and_then(Value::as_u64).unwrap_or(0)
    );
    for n in v
        .get("networks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let count = |k: &str| n.get(k).and_then(Value::as_u64).unwrap_or(0);
        let id = s(n, "id");
        outln!(
            "network     {} {}: {} admitted, {} vouched for, {} asking here{}",
            &id[..id.len().min(12)],
            n.get("name")
                .and_then(Value::as_str)
                .unwrap_or("(learning it)"),
            count("admitted"),
            count("pending"),
            count("requests"),
            if n.get("joining").and_then(Value::as_bool) == Some(true) {
                "; this co-op waits for vouches"
            } else {
                ""
            }
        );
    }
    if let Some(bytes) = v.get("store_bytes").and_then(Value::as_u64) {
        let free = v.get("disk_free_bytes").and_then(Value::as_u64);
        let low = v.get("disk_low").and_then(Value::as_bool) == Some(true);
        outln!(
            "store       {} MiB{}{}",
            bytes >> 20,
            free.map(|f| format!(", {} MiB free on its disk", f >> 20))
                .unwrap_or_default(),
            if low {
                " — nearly full: make space"
            } else {
                ""
            }
        );
    }
    match v.get("sync_lag_seconds").and_then(Value::as_u64) {
        Some(lag) => outln!("last sync   {lag} s ago"),
        None => outln!("last sync   never"),
    }
    let total = |field: &str| coops_total(v, field);
    let equivocations = total("equivocations");
    if equivocations > 0 {
        outln!(
            "equivocations {equivocations}: keys that signed two entries at one position; their logs stop there (GET /v1/equivocations)"
        );
    }
    let waiting = total("waiting_entries");
    if waiting > 0 {
        outln!("waiting     {waiting} entries wait for what they depend on");
    }
    let missing = total("missing_payloads");
    if missing > 0 {
        outln!("missing     {missing} payloads still to fetch from peers");
    }
    outln!();
    coops(
        v.get("coops").unwrap_or(&Value::Null),
        Output { json: false },
    );
}

/// Prints records as they appear or change, from the node's event stream.
pub async fn watch(api: &Client, out: Output) -> Result<(), Failure> {
    let resp = api
        .send(
            Method::GET,
            "/v1/events",
            None,
            std::time::Duration::from_secs(365 * 86_400),
        )
        .await?;
    // The node subscribed before it answered, so from here on nothing is missed; scripts
    // wait for this line.
    eprintln!("watching for new and changed records; Ctrl-C to stop");
    let mut stream = resp.bytes_stream();
    let mut buf: Vec<u8> = Vec::new();
    let mut event = String::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Failure {
            api_code: None,
            message: format!("the event stream broke: {e}"),
            hint: Some("is the node still running?".into()),
            code: crate::exit::UNREACHABLE,
        })?;
        buf.extend_from_slice(&chunk);
        // An event is bounded: a line longer than this is not from a minga node.
        if buf.len() > 1 << 20 {
            buf.clear();
        }
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            let line = String::from_utf8_lossy(&line).trim_end().to_string();
            if let Some(e) = line.strip_prefix("event:") {
                event = e.trim().to_string();
            } else if let Some(data) = line.strip_prefix("data:") {
                print_event(&event, data.trim(), out);
            }
        }
    }
    Ok(())
}

fn print_event(event: &str, data: &str, out: Output) {
    if out.json {
        outln!(
            "{{\"event\":{},\"data\":{data}}}",
            Value::String(event.into())
        );
        return;
    }
    let Ok(v) = serde_json::from_str::<Value>(data) else {
        return;
    };
    match event {
        "record" => {
            let r = v.get("record").unwrap_or(&Value::Null);
            let new = v.get("new").and_then(Value::as_bool) == Some(true);
            outln!(
                "{} {} {} {} {}",
                if new { "new    " } else { "changed" },
                s(r, "kind"),
                short(s(r, "id")),
                s(r, "title"),
                s(r, "quantity")
            );
        }
        "peer" => outln!(
            "peer    {} {}",
            s(&v, "peer"),
            if v.get("connected").and_then(Value::as_bool) == Some(true) {
                "connected"
            } else {
                "disconnected"
            }
        ),
        "match" => {
            let score = v.get("score").and_then(Value::as_f64).unwrap_or(0.0);
            outln!(
                "match   {score:.1}  need {}  ⇐  offer {}",
                listing_line(&v["need"]),
                listing_line(&v["offer"])
            );
        }
        "lagged" => outln!(
            "(missed {} events)",
            v.get("missed").and_then(Value::as_u64).unwrap_or(0)
        ),
        _ => {}
    }
}
