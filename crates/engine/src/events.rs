//! The event bus behind `/events`: every action on a container, image,
//! volume or network is published here; subscribers get a live stream,
//! and the last events are kept for `since`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;

use crate::filters::Filters;

/// How many past events `since` can reach back to.
const KEPT: usize = 1024;

/// One event, in the terms Docker's EventMessage uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// container, image, volume, network, daemon.
    pub kind: &'static str,
    pub action: String,
    pub actor_id: String,
    pub attributes: HashMap<String, String>,
    pub time_nano: i64,
}

impl Event {
    pub fn new(kind: &'static str, action: &str, actor_id: &str) -> Event {
        let time_nano = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        Event {
            kind,
            action: action.to_owned(),
            actor_id: actor_id.to_owned(),
            attributes: HashMap::new(),
            time_nano,
        }
    }

    pub fn attr(mut self, k: &str, v: impl Into<String>) -> Event {
        self.attributes.insert(k.to_owned(), v.into());
        self
    }

    /// Whether this event passes Docker's event filters (type, event,
    /// container, image, volume, network, label, scope).
    pub fn matches(&self, f: &Filters) -> bool {
        let action_base = self.action.split(':').next().unwrap_or(&self.action);
        let name = self.attributes.get("name").map(String::as_str);
        let by_actor = |key: &str, kind: &str| {
            if self.kind != kind {
                return f.get(key).is_none();
            }
            f.any(key, |v| {
                self.actor_id == v || self.actor_id.starts_with(v) || name == Some(v)
            })
        };
        f.any("type", |v| v == self.kind)
            && f.any("event", |v| v == self.action || v == action_base)
            && f.any("scope", |v| v == "local")
            && by_actor("container", "container")
            && (f.get("image").is_none()
                || f.any("image", |v| {
                    self.attributes.get("image").map(String::as_str) == Some(v)
                        || (self.kind == "image" && (self.actor_id == v || name == Some(v)))
                }))
            && by_actor("volume", "volume")
            && by_actor("network", "network")
            && f.labels_match("label", &self.attributes)
    }
}

/// Publishes events to subscribers and keeps the recent ones.
pub struct EventBus {
    tx: broadcast::Sender<Event>,
    recent: Mutex<VecDeque<Event>>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus {
            tx: broadcast::channel(256).0,
            recent: Mutex::new(VecDeque::with_capacity(KEPT)),
        }
    }
}

impl EventBus {
    pub fn publish(&self, e: Event) {
        tracing::debug!(kind = e.kind, action = %e.action, id = %e.actor_id, "event");
        if let Ok(mut r) = self.recent.lock() {
            if r.len() == KEPT {
                r.pop_front();
            }
            r.push_back(e.clone());
        }
        let _ = self.tx.send(e);
    }

    /// The kept events at or after `since_nano`, and a live receiver
    /// subscribed before they were copied (so nothing falls between).
    pub fn subscribe(&self, since_nano: Option<i64>) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let rx = self.tx.subscribe();
        let past = match (since_nano, self.recent.lock()) {
            (Some(since), Ok(r)) => r.iter().filter(|e| e.time_nano >= since).cloned().collect(),
            _ => Vec::new(),
        };
        (past, rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_select_events() {
        let e = Event::new("container", "start", "abc123").attr("name", "web");
        let f = |s: &str| Filters::parse(Some(s)).expect("filters");
        assert!(e.matches(&Filters::default()));
        assert!(e.matches(&f(r#"{"type":["container"],"event":["start"]}"#)));
        assert!(e.matches(&f(r#"{"container":["web"]}"#)));
        assert!(e.matches(&f(r#"{"container":["abc"]}"#)));
        assert!(!e.matches(&f(r#"{"event":["die"]}"#)));
        assert!(!e.matches(&f(r#"{"type":["image"]}"#)));
        assert!(!e.matches(&f(r#"{"label":["x=1"]}"#)));
        let exec = Event::new("container", "exec_start: sh", "abc123");
        assert!(exec.matches(&f(r#"{"event":["exec_start"]}"#)));
    }

    #[test]
    fn since_replays_kept_events() {
        let bus = EventBus::default();
        bus.publish(Event::new("container", "create", "a"));
        let (past, _rx) = bus.subscribe(Some(0));
        assert_eq!(past.len(), 1);
        let (none, _rx) = bus.subscribe(None);
        assert!(none.is_empty());
    }
}
