//! Watches: a chunked stream of `{"type":..,"object":..}` lines, filtered like the watch cache.
//!
//! A watch is a stream polled by the connection that carries it: no task of its own, nothing to
//! stop when the client goes, and the store is only ever locked inside synchronous calls. A
//! watch that falls behind the store's broadcast ends, and its client watches again from the
//! last resourceVersion it saw, as from a real server.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::status::ApiError;
use super::table::{self, Form};
use crate::api::resource::Resource;
use crate::api::selector::Selector;
use crate::api::store::{Event, EventType, Store};

/// The annotation on the BOOKMARK that ends a watch's initial events (`sendInitialEvents`).
const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";
/// Attempts to take a list and the events after it before giving up (only a burst of writes
/// larger than the store's whole history between two calls makes one fail).
const START_ATTEMPTS: usize = 3;

/// What a watch selects.
#[derive(Clone, Debug)]
pub struct Filter {
    pub resource: Resource,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub selector: Selector,
}

impl Filter {
    fn matches(&self, object: &Value) -> bool {
        let meta = &object["metadata"];
        self.namespace
            .as_deref()
            .is_none_or(|ns| meta["namespace"].as_str() == Some(ns))
            && self
                .name
                .as_deref()
                .is_none_or(|n| meta["name"].as_str() == Some(n))
            && self.selector.matches(object)
    }

    /// What this watch sends for a store event: an object that starts matching arrives as ADDED,
    /// one that stops matching leaves as DELETED (its last matching state, at the new version).
    fn translate(&self, event: &Event) -> Option<(&'static str, Arc<Value>)> {
        if event.resource != self.resource {
            return None;
        }
        let was = event.previous.as_deref().is_some_and(|p| self.matches(p));
        match event.kind {
            EventType::Added => self
                .matches(&event.object)
                .then(|| ("ADDED", event.object.clone())),
            EventType::Deleted => was.then(|| ("DELETED", event.object.clone())),
            EventType::Modified => match (was, self.matches(&event.object)) {
                (true, true) => Some(("MODIFIED", event.object.clone())),
                (false, true) => Some(("ADDED", event.object.clone())),
                (true, false) => {
                    let mut last = (**event.previous.as_ref()?).clone();
                    last["metadata"]["resourceVersion"] = json!(event.revision.to_string());
                    Some(("DELETED", Arc::new(last)))
                }
                (false, false) => None,
            },
        }
    }
}

/// How a watch starts and ends.
#[derive(Clone, Debug)]
pub struct Options {
    /// Start after this revision; `None`: send the current objects as ADDED first.
    pub from: Option<u64>,
    /// BOOKMARK events at this interval.
    pub bookmarks: Option<Duration>,
    /// Mark the end of the initial events with an annotated BOOKMARK.
    pub initial_events_end: bool,
    /// The watch ends at this moment; the client watches again.
    pub until: Instant,
    /// Objects as they are, or as table rows for kubectl.
    pub form: Form,
}

/// A running watch: its pending lines, its subscription and its position in the store's history.
#[derive(Debug)]
pub struct Watch {
    filter: Filter,
    pending: VecDeque<Bytes>,
    events: Option<broadcast::Receiver<Event>>,
    /// The last revision this watch has passed on or skipped: what a BOOKMARK may promise.
    position: u64,
    bookmarks: Option<Interval>,
    until: Instant,
    form: Form,
    /// Whether a table's column definitions went out (a watch sends them once).
    headers_sent: bool,
}

#[derive(Serialize)]
struct Line<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    object: &'a Value,
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut bytes = serde_json::to_vec(&Line { kind, object }).unwrap_or_default();
    bytes.push(b'\n');
    Bytes::from(bytes)
}

impl Watch {
    /// Starts a watch; history older than the store keeps gives a watch that sends one ERROR
    /// event (410 Expired) and ends, as kube-apiserver does.
    pub fn start(store: &Store, filter: Filter, options: Options) -> Watch {
        let mut watch = Watch {
            filter,
            pending: VecDeque::new(),
            events: None,
            position: 0,
            bookmarks: options.bookmarks.map(|period| {
                let mut interval = tokio::time::interval_at(Instant::now() + period, period);
                interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
                interval
            }),
            until: options.until,
            form: options.form,
            headers_sent: false,
        };
        match watch.subscribe(store, &options) {
            Ok(()) => {}
            Err(error) => watch.fail(&error),
        }
        watch
    }

    fn subscribe(&mut self, store: &Store, options: &Options) -> Result<(), ApiError> {
        let (past, events, position) = match options.from {
            Some(from) => {
                let (past, events) = store
                    .watch_from(from)
                    .map_err(|e| ApiError::from_store(e, self.filter.resource, ""))?;
                (past, events, from)
            }
            None => {
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    let (objects, revision) = store.list(self.filter.resource, None);
                    match store.watch_from(revision) {
                        Ok((past, events)) => {
                            for object in &objects {
                                if self.filter.matches(object) {
                                    self.send("ADDED", object);
                                }
                            }
                            break (past, events, revision);
                        }
                        Err(e) if attempt >= START_ATTEMPTS => {
                            return Err(ApiError::from_store(e, self.filter.resource, ""));
                        }
                        Err(_) => {}
                    }
                }
            }
        };
        self.position = position;
        if options.initial_events_end {
            self.pending.push_back(self.bookmark(true));
        }
        for event in &past {
            self.pass(event);
        }
        self.events = Some(events);
        Ok(())
    }

    fn fail(&mut self, error: &ApiError) {
        self.pending.push_back(line("ERROR", &error.status()));
        self.events = None;
    }

    fn pass(&mut self, event: &Event) {
        if event.revision <= self.position {
            return;
        }
        self.position = event.revision;
        if let Some((kind, object)) = self.filter.translate(event) {
            self.send(kind, &object);
        }
    }

    /// Queues an ADDED, MODIFIED or DELETED line in the watch's form.
    fn send(&mut self, kind: &str, object: &Value) {
        let line = match self.form {
            Form::Object => line(kind, object),
            Form::Table(include) => {
                let headers = !std::mem::replace(&mut self.headers_sent, true);
                let row = table::table(
                    self.filter.resource,
                    &[object],
                    include,
                    headers,
                    SystemTime::now(),
                );
                line(kind, &row)
            }
        };
        self.pending.push_back(line);
    }

    fn bookmark(&self, initial_events_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": self.position.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({INITIAL_EVENTS_END: "true"});
        }
        let resource = self.filter.resource;
        let object = json!({
            "kind": resource.kind(),
            "apiVersion": resource.api_version(),
            "metadata": metadata,
        });
        line("BOOKMARK", &object)
    }

    /// The next line to send; `None` ends the watch.
    pub async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(line) = self.pending.pop_front() {
                return Some(line);
            }
            let events = self.events.as_mut()?;
            tokio::select! {
                received = events.recv() => match received {
                    Ok(event) => self.pass(&event),
                    // Behind the store: end, the client resumes from its last version.
                    Err(RecvError::Lagged(_) | RecvError::Closed) => return None,
                },
                _ = tick(self.bookmarks.as_mut()) => {
                    let bookmark = self.bookmark(false);
                    self.pending.push_back(bookmark);
                }
                () = tokio::time::sleep_until(self.until) => return None,
            }
        }
    }

    /// The watch as the chunks of a response body.
    pub fn into_stream(
        self,
    ) -> impl futures_util::Stream<
        Item = Result<hyper::body::Frame<Bytes>, std::convert::Infallible>,
    > + Send
    + 'static {
        futures_util::stream::unfold(self, |mut watch| async move {
            let line = watch.next().await?;
            Some((Ok(hyper::body::Frame::data(line)), watch))
        })
    }
}

async fn tick(interval: Option<&mut Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
