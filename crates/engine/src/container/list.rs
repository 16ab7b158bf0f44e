//! `GET /containers/json`: the records, filtered as Docker parses its
//! filters, newest first.

use bollard_stubs::models::ContainerSummary;

use super::inspect::parse_time;
use super::record::{ContainerRecord, Status};
use crate::error::{EngineError, Result};
use crate::filters::Filters;
use crate::Engine;

const KEYS: &[&str] = &[
    "id", "name", "label", "status", "exited", "ancestor", "before", "since", "network", "volume",
    "is-task", "health", "publish", "expose",
];

const STATUSES: &[&str] = &[
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];

fn created_key(r: &ContainerRecord) -> (i64, u32) {
    parse_time(&r.created).unwrap_or((0, 0))
}

impl Engine {
    pub fn list(
        &self,
        all: bool,
        limit: Option<i64>,
        f: &Filters,
    ) -> Result<Vec<ContainerSummary>> {
        f.check_keys(KEYS)?;
        for s in f.get("status").unwrap_or(&[]) {
            if !STATUSES.contains(&s.as_str()) {
                return Err(EngineError::Invalid(format!("invalid filter 'status={s}'")));
            }
        }
        for h in f.get("health").unwrap_or(&[]) {
            if !["starting", "healthy", "unhealthy", "none"].contains(&h.as_str()) {
                return Err(EngineError::Invalid(format!(
                    "Unrecognised filter value for health: {h}"
                )));
            }
        }
        let mut recs = self.list_records();
        recs.sort_by_key(|r| std::cmp::Reverse(created_key(r)));
        let anchor = |key: &str| -> Result<Option<(i64, u32)>> {
            match f.get(key).and_then(|v| v.first()) {
                None => Ok(None),
                Some(n) => Ok(Some(created_key(&self.lookup(n)?.record()))),
            }
        };
        let before = anchor("before")?;
        let since = anchor("since")?;
        // Any filter on status (or exited) lists stopped ones too, and so
        // does a limit (dockerd's "n last created", whatever their state).
        let all = all
            || limit.is_some_and(|l| l > 0)
            || f.get("status").is_some()
            || f.get("exited").is_some();
        let mut out = Vec::new();
        for r in recs {
            let st = r.state.status;
            if !all && !matches!(st, Status::Running | Status::Paused | Status::Restarting) {
                continue;
            }
            // Link names (`/parent/alias`) match too, as in dockerd.
            let link_names = if f.get("name").is_some() {
                self.link_names_of(&r.id)
            } else {
                Vec::new()
            };
            let keep = f.any("id", |v| r.id.starts_with(v))
                && f.any("name", |v| {
                    let v = v.strip_prefix('/').unwrap_or(v);
                    r.name.contains(v) || link_names.iter().any(|n| n[1..].contains(v))
                })
                && f.labels_match("label", &r.labels())
                && f.any("status", |v| v == st.as_str())
                && f.any("exited", |v| {
                    st == Status::Exited && v.parse::<i64>().ok() == Some(r.state.exit_code)
                })
                && f.any("ancestor", |v| {
                    r.image == v
                        || r.image_id == v
                        || r.image_id.trim_start_matches("sha256:").starts_with(v)
                        || r.image == format!("{v}:latest")
                })
                && f.any("volume", |v| {
                    r.mounts
                        .iter()
                        .any(|m| m.name == v || m.destination == v || m.source == v)
                })
                && f.any("network", |v| {
                    r.host_config.network_mode.as_deref() == Some(v)
                })
                && f.any("is-task", |v| v == "false")
                && f.any("health", |v| {
                    let word = r
                        .state
                        .health
                        .as_ref()
                        .filter(|_| st.is_live())
                        .map(super::health::status_word)
                        .unwrap_or("none");
                    v == word
                })
                && before.is_none_or(|b| created_key(&r) < b)
                && since.is_none_or(|s| created_key(&r) > s);
            if keep {
                out.push(self.summary(&r));
            }
        }
        if let Some(l) = limit.filter(|l| *l > 0) {
            out.truncate(l as usize);
        }
        Ok(out)
    }
}
