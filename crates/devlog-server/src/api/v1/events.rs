//! `/events`: the durable change feed, paged, and as a live server-sent event stream.
//!
//! The stream reads the same feed: it sends every event after its cursor, then waits for a
//! write through this server or the process's feed watcher (writes by other processes: the
//! CLI, an MCP client on stdio, a `git pull`, another server on the same database; PostgreSQL
//! notifies, other backends are polled, see `devlog_store::feed_watch`) and reads again. Each SSE event's id is the
//! event's `seq`, so a client that reconnects with `Last-Event-ID` resumes exactly after the
//! last event it saw. A slow client only slows its own reads; nothing is buffered for it.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use devlog_core::Event;
use devlog_store::feed_watch::FeedWatch;
use futures::Stream;
use serde::Serialize;
use tokio::sync::watch;

use super::schema::{EventDoc, EventFeedDoc};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Params;
use crate::state::AppState;

/// Events read from the store per query.
const BATCH: usize = 200;

/// How long a client waits before reconnecting after the stream ends.
const RETRY: Duration = Duration::from_secs(2);

/// A page of the feed.
#[derive(Debug, Serialize)]
pub struct EventFeed {
    pub events: Vec<Event>,
    pub next: u64,
}

/// The change feed
///
/// Every create, field change (with old and new values), status change, note, decision, link,
/// completion and deletion, oldest first, each with its sequence number `seq`. Ask again with
/// `since` set to `next` for more.
#[utoipa::path(
    get,
    path = "/events",
    tag = "events",
    params(
        ("since" = Option<u64>, Query, description = "Only events with a greater seq (default 0: from the start)"),
        ("limit" = Option<usize>, Query, description = "At most this many (1 to 1000, default 100)"),
    ),
    responses(
        (status = 200, description = "Events after `since`", body = EventFeedDoc),
        (status = 400, description = "A bad or unknown query parameter", body = ErrorBody),
    )
)]
pub async fn feed(State(s): State<AppState>, mut p: Params) -> Result<Json<EventFeed>, ApiError> {
    let since = p.take_seq("since")?.unwrap_or(0);
    let (limit, offset) = p.take_page(100)?;
    if offset != 0 {
        return Err(ApiError::bad_request(
            "the feed pages by `since`, not `offset`: pass the `next` of the previous page",
        ));
    }
    p.finish(&["since", "limit"])?;
    let events = s.app().events(since, limit).await?;
    let next = events.last().map_or(since, |e| e.seq);
    Ok(Json(EventFeed { events, next }))
}

/// The live event stream
///
/// Server-sent events (`text/event-stream`): each message's `data` is one event as in
/// `GET /events`, its `id` the event's `seq`. Without `Last-Event-ID` or `since` the stream
/// starts with the next change; with them it first sends every event after that seq, so a
/// reconnecting client misses nothing. Comments keep idle connections open. If the store
/// fails, an `event: stream-error` message carries the error and the stream ends; clients
/// reconnect with `Last-Event-ID`.
#[utoipa::path(
    get,
    path = "/events/stream",
    tag = "events",
    params(
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this seq (sent by EventSource when it reconnects)"),
        ("since" = Option<u64>, Query, description = "Start after this seq; Last-Event-ID wins when both are given"),
    ),
    responses(
        (status = 200, description = "The stream; each message is one event", content_type = "text/event-stream", body = EventDoc),
        (status = 400, description = "A bad Last-Event-ID or query parameter", body = ErrorBody),
    )
)]
pub async fn stream(
    State(s): State<AppState>,
    headers: HeaderMap,
    mut p: Params,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let since = p.take_seq("since")?;
    p.finish(&["since"])?;
    let resume = match headers.get("last-event-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .filter(|&seq| devlog_core::ops::check_seq("Last-Event-ID", seq).is_ok())
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "Last-Event-ID must be the seq (a whole number) of the last event received",
                    )
                })?,
        ),
    };
    let cursor = match resume.or(since) {
        Some(c) => c,
        None => crate::feed::tail(s.app().store().as_ref()).await?,
    };
    let tail = Tail {
        feed: s.feed_watch(),
        shutdown: s.shutdown(),
        state: s,
        cursor,
        buffered: VecDeque::new(),
        greeted: false,
        failed: false,
    };
    Ok(Sse::new(futures::stream::unfold(tail, Tail::next)).keep_alive(KeepAlive::default()))
}

/// One client's position in the feed.
struct Tail {
    state: AppState,
    feed: FeedWatch,
    shutdown: watch::Receiver<bool>,
    cursor: u64,
    buffered: VecDeque<Event>,
    greeted: bool,
    failed: bool,
}

impl Tail {
    async fn next(mut self) -> Option<(Result<SseEvent, Infallible>, Self)> {
        if !self.greeted {
            // A first message right away: the client knows it is connected, and learns how
            // soon to come back.
            self.greeted = true;
            let hello = SseEvent::default()
                .comment(format!("devlog events after seq {}", self.cursor))
                .retry(RETRY);
            return Some((Ok(hello), self));
        }
        loop {
            if let Some(ev) = self.buffered.pop_front() {
                self.cursor = ev.seq;
                return Some((Ok(message(&ev)), self));
            }
            if self.failed || *self.shutdown.borrow() {
                return None;
            }
            // Registered before reading, so a write that lands during the read still wakes us.
            let state = self.state.clone();
            let changed = state.changed().notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match state.app().store().events(self.cursor, BATCH).await {
                Ok(events) if !events.is_empty() => {
                    self.buffered.extend(events);
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    self.failed = true;
                    let err = ApiError::from(e);
                    let data = serde_json::json!({
                        "error": {"class": err.class, "message": err.message, "hint": err.hint}
                    });
                    let ev = SseEvent::default()
                        .event("stream-error")
                        .data(data.to_string());
                    return Some((Ok(ev), self));
                }
            }
            tokio::select! {
                () = &mut changed => {}
                () = self.feed.changed() => {}
                _ = self.shutdown.changed() => return None,
            }
        }
    }
}

fn message(ev: &Event) -> SseEvent {
    let data = serde_json::to_string(ev)
        .unwrap_or_else(|e| serde_json::json!({"seq": ev.seq, "error": e.to_string()}).to_string());
    SseEvent::default().id(ev.seq.to_string()).data(data)
}
