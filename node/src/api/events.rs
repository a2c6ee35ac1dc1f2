//! `GET /v1/events`: server-sent events of records as they appear or change, of peers, and of
//! matches that a newly arrived need or offer creates.

use std::collections::VecDeque;
use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use minga_protocol::{RecordId, RecordKind};
use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;

use super::{Shared, matching, output};
use crate::NodeEvent;

/// Node events taken at once before matches are computed for the new listings among them.
const BATCH: usize = 256;
/// More new listings than this in one batch is a bulk arrival (a catch-up): matching each
/// against a snapshot would cost more than it tells, so one `matches_skipped` event says so.
const MAX_ANNOUNCED: usize = 32;

struct Feed {
    state: Shared,
    rx: broadcast::Receiver<NodeEvent>,
    stopping: watch::Receiver<bool>,
    ready: VecDeque<Event>,
}

impl Feed {
    /// The SSE event for a node event, and the new need or offer it announces, if any.
    fn convert(
        &self,
        got: Result<NodeEvent, RecvError>,
    ) -> (Option<Event>, Option<(RecordKind, RecordId)>) {
        match got {
            Ok(NodeEvent::Record { view, new }) => {
                let fresh = (new && matches!(view.kind, RecordKind::Need | RecordKind::Offer))
                    .then_some((view.kind, view.id));
                let data = json!({ "new": new, "record": output::view(&view, None, None) });
                (
                    Some(Event::default().event("record").data(data.to_string())),
                    fresh,
                )
            }
            Ok(NodeEvent::Connected(p)) | Ok(NodeEvent::Disconnected(p)) => {
                let connected = matches!(got, Ok(NodeEvent::Connected(_)));
                let data = json!({ "peer": p.to_string(), "connected": connected });
                (
                    Some(Event::default().event("peer").data(data.to_string())),
                    None,
                )
            }
            Ok(_) => (None, None),
            Err(RecvError::Lagged(n)) => (
                Some(
                    Event::default()
                        .event("lagged")
                        .data(json!({ "missed": n }).to_string()),
                ),
                None,
            ),
            Err(RecvError::Closed) => (None, None),
        }
    }

    /// Waits for the next node events, converts up to [`BATCH`] of them, and queues the
    /// matches their new listings make. `false` when the stream should end.
    async fn fill(&mut self) -> bool {
        let first = tokio::select! {
            r = self.rx.recv() => r,
            _ = self.stopping.wait_for(|stop| *stop) => return false,
        };
        if matches!(first, Err(RecvError::Closed)) {
            return false;
        }
        let mut fresh = Vec::new();
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(got) = next.take() {
            let (event, new) = self.convert(got);
            self.ready.extend(event);
            fresh.extend(new);
            taken += 1;
            if taken < BATCH {
                next = match self.rx.try_recv() {
                    Err(broadcast::error::TryRecvError::Empty) => None,
                    Err(broadcast::error::TryRecvError::Closed) => None,
                    Err(broadcast::error::TryRecvError::Lagged(n)) => {
                        Some(Err(RecvError::Lagged(n)))
                    }
                    Ok(e) => Some(Ok(e)),
                };
            }
        }
        if fresh.len() > MAX_ANNOUNCED {
            let data = json!({
                "new_listings": fresh.len(),
                "hint": "many needs and offers arrived at once; run `minga match` to see their matches",
            });
            self.ready.push_back(
                Event::default()
                    .event("matches_skipped")
                    .data(data.to_string()),
            );
        } else if !fresh.is_empty() {
            for m in matching::announce(&self.state, fresh).await {
                self.ready
                    .push_back(Event::default().event("match").data(m.to_string()));
            }
        }
        true
    }
}

/// Server-sent events: `record` for each record that appears or changes, `match` for each
/// match scoring at least [`matching::EVENT_SCORE`] that a new need or offer creates, `peer`
/// for connections, `lagged` when this client fell behind and missed some. The stream ends
/// when the node stops.
pub(super) async fn events(
    State(s): State<Shared>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let feed = Feed {
        rx: s.node.subscribe(),
        stopping: s.stopping.clone(),
        state: s,
        ready: VecDeque::new(),
    };
    let stream = futures::stream::unfold(feed, |mut feed| async move {
        loop {
            if let Some(e) = feed.ready.pop_front() {
                return Some((Ok(e), feed));
            }
            if !feed.fill().await {
                return None;
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
