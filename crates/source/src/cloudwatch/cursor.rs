//! The read position of the CloudWatch source: windows, de-duplication, and the low-watermark
//! checkpoint (requirements R2, R3, R4, R7). Pure logic, no IO.
//!
//! # Invariants
//!
//! * `seen` holds the key of every event yielded with a timestamp `>= floor_ms`, and nothing
//!   older (memory is bounded by the overlap window).
//! * Every event with a timestamp in `[floor_ms, next_ms)` that was visible when its window was
//!   read has been yielded.
//! * A record's checkpoint is `{from_ms: F, seen: keys yielded up to and including it with
//!   timestamps >= F}` where `F = max(ts - overlap, floor)`. Resuming queries from `F` and
//!   drops what is in `seen`: every event before `F` was yielded before the record (windows are
//!   sorted), so nothing is lost and nothing is repeated.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Value, json};

use super::client::LogEvent;
use crate::checkpoint::{CheckpointError, LazyPosition, SourceIdentity};

/// Position format version inside the checkpoint.
pub(crate) const POSITION_VERSION: u64 = 1;

/// A de-duplication key: `(logStreamName, eventId)`, both opaque.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Key {
    pub stream: Arc<str>,
    pub event_id: Arc<str>,
}

pub(crate) type SeenMap = HashMap<Key, i64>;

/// See the module docs.
#[derive(Clone, Debug)]
pub(crate) struct Cursor {
    /// The first millisecond not yet covered by a settled window.
    pub next_ms: i64,
    /// No window starts below this; `seen` is complete from here on.
    pub floor_ms: i64,
    pub seen: Arc<SeenMap>,
}

/// An event that survived filtering and de-duplication, in emission order.
#[derive(Clone, Debug)]
pub(crate) struct Fresh {
    pub key: Key,
    pub event: LogEvent,
}

/// Sort order inside a window (R7): timestamp, ingestion time, stream, event id.
fn order(a: &LogEvent, b: &LogEvent) -> Ordering {
    (a.timestamp_ms, a.ingestion_time_ms, &a.stream, &a.event_id).cmp(&(
        b.timestamp_ms,
        b.ingestion_time_ms,
        &b.stream,
        &b.event_id,
    ))
}

impl Cursor {
    /// A cursor that starts reading at `start_ms` with nothing seen.
    pub(super) fn fresh(start_ms: i64) -> Self {
        Cursor {
            next_ms: start_ms,
            floor_ms: start_ms,
            seen: Arc::default(),
        }
    }

    /// Reads a checkpoint position.
    pub(super) fn from_position(
        position: &Value,
        identity: &SourceIdentity,
    ) -> Result<Self, CheckpointError> {
        let bad = |m: &str| CheckpointError::Position {
            identity: identity.to_string(),
            message: m.to_owned(),
        };
        let v = position.get("v").and_then(Value::as_u64);
        if v != Some(POSITION_VERSION) {
            return Err(bad(
                "unsupported CloudWatch position version (expected `\"v\": 1`)",
            ));
        }
        let from = position
            .get("from_ms")
            .and_then(Value::as_i64)
            .ok_or_else(|| bad("missing `from_ms`"))?;
        let mut seen = SeenMap::new();
        for entry in position
            .get("seen")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("missing `seen`"))?
        {
            let (Some(ts), Some(stream), Some(id)) = (
                entry.get(0).and_then(Value::as_i64),
                entry.get(1).and_then(Value::as_str),
                entry.get(2).and_then(Value::as_str),
            ) else {
                return Err(bad("`seen` entries must be `[timestamp, stream, eventId]`"));
            };
            seen.insert(
                Key {
                    stream: stream.into(),
                    event_id: id.into(),
                },
                ts,
            );
        }
        Ok(Cursor {
            next_ms: from,
            floor_ms: from,
            seen: Arc::new(seen),
        })
    }

    /// The next window `[start, end]` (inclusive) to read at wall-clock `now_ms`, or `None` when
    /// nothing new has settled yet.
    pub(super) fn window(
        &self,
        now_ms: i64,
        settle_ms: i64,
        overlap_ms: i64,
        max_window_ms: i64,
    ) -> Option<(i64, i64)> {
        let settled = now_ms.saturating_sub(settle_ms);
        let end = settled.min(self.next_ms.saturating_add(max_window_ms - 1));
        if end < self.next_ms {
            return None;
        }
        let start = self.next_ms.saturating_sub(overlap_ms).max(self.floor_ms);
        Some((start, end))
    }

    /// Starts reading the window beginning at `start`: forgets keys older than it (R3's bound).
    pub(super) fn begin(&mut self, start: i64) {
        if start > self.floor_ms {
            self.floor_ms = start;
            Arc::make_mut(&mut self.seen).retain(|_, ts| *ts >= start);
        }
    }

    /// Filters (stream prefix, and timestamps outside the window `[start, end]` the service
    /// should not have returned), de-duplicates and sorts a window's events. Returns the fresh
    /// events and the counts `(filtered_out, duplicates)`.
    pub(super) fn sift(
        &self,
        events: Vec<LogEvent>,
        prefix: Option<&str>,
        (start, end): (i64, i64),
    ) -> (Vec<Fresh>, u64, u64) {
        let mut filtered = 0;
        let mut dups = 0;
        let mut in_window: HashSet<Key> = HashSet::new();
        let mut fresh = Vec::with_capacity(events.len());
        for event in events {
            if prefix.is_some_and(|p| !event.stream.starts_with(p))
                || event.timestamp_ms < start
                || event.timestamp_ms > end
            {
                filtered += 1;
                continue;
            }
            let key = Key {
                stream: event.stream.as_str().into(),
                event_id: event.event_id.as_str().into(),
            };
            if self.seen.contains_key(&key) || !in_window.insert(key.clone()) {
                dups += 1;
                continue;
            }
            fresh.push(Fresh { key, event });
        }
        fresh.sort_by(|a, b| order(&a.event, &b.event));
        (fresh, filtered, dups)
    }

    /// Records a window `[_, end]` as done, with `batch` yielded.
    pub(super) fn commit(&mut self, batch: &[(Key, i64)], end: i64) {
        if !batch.is_empty() {
            let seen = Arc::make_mut(&mut self.seen);
            for (k, ts) in batch {
                seen.insert(k.clone(), *ts);
            }
        }
        self.next_ms = self.next_ms.max(end + 1);
    }

    /// The position of a cursor between windows (no record pending): used for tests and for the
    /// end-of-stream state.
    #[cfg(test)]
    pub(super) fn position(&self) -> Value {
        position_json(self.floor_ms, self.seen.iter().map(|(k, ts)| (k, *ts)))
    }
}

fn position_json<'a>(from_ms: i64, keys: impl Iterator<Item = (&'a Key, i64)>) -> Value {
    let mut list: Vec<(i64, &Key)> = keys
        .filter(|(_, ts)| *ts >= from_ms)
        .map(|(k, ts)| (ts, k))
        .collect();
    list.sort();
    json!({
        "v": POSITION_VERSION,
        "from_ms": from_ms,
        "seen": list
            .into_iter()
            .map(|(ts, k)| json!([ts, &*k.stream, &*k.event_id]))
            .collect::<Vec<_>>(),
    })
}

/// The checkpoint of the `upto`-th record of a window, built only when serialized.
#[derive(Debug)]
pub(crate) struct WindowPosition {
    pub from_ms: i64,
    pub base: Arc<SeenMap>,
    pub batch: Arc<[(Key, i64)]>,
    pub upto: usize,
}

impl LazyPosition for WindowPosition {
    fn to_value(&self) -> Value {
        let upto = (self.upto + 1).min(self.batch.len());
        position_json(
            self.from_ms,
            self.base
                .iter()
                .map(|(k, ts)| (k, *ts))
                .chain(self.batch[..upto].iter().map(|(k, ts)| (k, *ts))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(stream: &str, id: &str, ts: i64) -> LogEvent {
        LogEvent {
            stream: stream.into(),
            timestamp_ms: ts,
            ingestion_time_ms: ts + 5,
            event_id: id.into(),
            message: format!("{{\"id\":\"{id}\"}}"),
        }
    }

    #[test]
    fn r2_window_is_settled_bounded_and_overlapping() {
        let mut c = Cursor::fresh(1_000);
        // Nothing settled yet.
        assert_eq!(c.window(1_020, 30, 60, 500), None);
        // Settled up to now - settle; bounded by max_window; starts at the floor.
        assert_eq!(c.window(10_000, 30, 60, 500), Some((1_000, 1_499)));
        c.commit(&[], 1_499);
        assert_eq!(c.window(10_000, 30, 60, 500), Some((1_440, 1_999)));
        c.begin(1_440);
        assert_eq!(c.floor_ms, 1_440);
    }

    #[test]
    fn r3_sift_drops_seen_and_in_window_duplicates_and_other_streams() {
        let mut c = Cursor::fresh(0);
        c.commit(
            &[(
                Key {
                    stream: "kube-apiserver-audit-a".into(),
                    event_id: "1".into(),
                },
                10,
            )],
            20,
        );
        let (fresh, filtered, dups) = c.sift(
            vec![
                ev("kube-apiserver-audit-b", "3", 12),
                ev("kube-apiserver-audit-a", "1", 10),
                ev("authenticator-x", "9", 11),
                ev("kube-apiserver-audit-a", "2", 12),
                ev("kube-apiserver-audit-a", "2", 12),
            ],
            Some("kube-apiserver-audit"),
            (0, 20),
        );
        let ids: Vec<&str> = fresh.iter().map(|f| f.event.event_id.as_str()).collect();
        assert_eq!(ids, vec!["2", "3"]);
        assert_eq!((filtered, dups), (1, 2));
    }

    #[test]
    fn r4_position_round_trip_and_eviction() {
        let mut c = Cursor::fresh(0);
        let k = |s: &str, i: &str| Key {
            stream: s.into(),
            event_id: i.into(),
        };
        c.commit(
            &[(k("s", "a"), 5), (k("s", "b"), 50), (k("t", "c"), 70)],
            80,
        );
        c.begin(40);
        let pos = c.position();
        assert_eq!(
            pos,
            json!({"v": 1, "from_ms": 40, "seen": [[50, "s", "b"], [70, "t", "c"]]})
        );
        let id = SourceIdentity::new("cloudwatch");
        let back = Cursor::from_position(&pos, &id).unwrap();
        assert_eq!((back.next_ms, back.floor_ms, back.seen.len()), (40, 40, 2));
        let err = Cursor::from_position(&json!({"v": 2}), &id).unwrap_err();
        assert_eq!(
            err.to_string(),
            "checkpoint position is invalid for `cloudwatch()`: unsupported CloudWatch position version (expected `\"v\": 1`)"
        );
    }
}
