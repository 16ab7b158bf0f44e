//! Docker's `filters` query parameter: a JSON object mapping a key to a
//! list of values (`{"status":["running"]}`) or, in the old form, to a set
//! (`{"status":{"running":true}}`).

use std::collections::BTreeMap;

use crate::error::{EngineError, Result};

/// Parsed filters: key -> accepted values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters(pub BTreeMap<String, Vec<String>>);

impl Filters {
    pub fn parse(text: Option<&str>) -> Result<Filters> {
        let Some(text) = text.filter(|t| !t.is_empty()) else {
            return Ok(Filters::default());
        };
        let v: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| EngineError::Invalid(format!("invalid filter: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| EngineError::Invalid("invalid filter: not an object".into()))?;
        let mut out = BTreeMap::new();
        for (k, vals) in obj {
            let list: Vec<String> = match vals {
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect(),
                serde_json::Value::Object(m) => m
                    .iter()
                    .filter(|(_, on)| on.as_bool().unwrap_or(false))
                    .map(|(k, _)| k.clone())
                    .collect(),
                _ => return Err(EngineError::Invalid(format!("invalid filter '{k}'"))),
            };
            out.insert(k.clone(), list);
        }
        Ok(Filters(out))
    }

    /// Refuses keys outside `known` (Docker answers 400 "invalid filter").
    pub fn check_keys(&self, known: &[&str]) -> Result<()> {
        for k in self.0.keys() {
            if !known.contains(&k.as_str()) {
                return Err(EngineError::Invalid(format!("invalid filter '{k}'")));
            }
        }
        Ok(())
    }

    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.0.get(key).map(Vec::as_slice).filter(|v| !v.is_empty())
    }

    /// No values for `key`, or one of them satisfies `pred`.
    pub fn any(&self, key: &str, pred: impl Fn(&str) -> bool) -> bool {
        match self.get(key) {
            None => true,
            Some(vals) => vals.iter().any(|v| pred(v)),
        }
    }

    /// Docker's label filter: every `key` or `key=value` given must match.
    pub fn labels_match(
        &self,
        key: &str,
        labels: &std::collections::HashMap<String, String>,
    ) -> bool {
        let Some(vals) = self.get(key) else {
            return true;
        };
        vals.iter().all(|want| match want.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
            None => labels.contains_key(want.as_str()),
        })
    }

    /// Docker's `label!` filter: values given and every one matches (so
    /// the object is left out), as dockerd's prunes read it.
    pub fn labels_exclude(
        &self,
        key: &str,
        labels: &std::collections::HashMap<String, String>,
    ) -> bool {
        self.get(key).is_some() && self.labels_match(key, labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_parse() {
        let a = Filters::parse(Some(r#"{"status":["running","exited"]}"#)).expect("parse");
        assert_eq!(a.get("status").map(|v| v.len()), Some(2));
        let b = Filters::parse(Some(r#"{"status":{"running":true}}"#)).expect("parse");
        assert_eq!(b.get("status"), Some(&["running".to_owned()][..]));
        assert!(Filters::parse(Some("[1]")).is_err());
        assert!(Filters::parse(Some("{bad")).is_err());
        assert!(b.check_keys(&["name"]).is_err());
    }

    #[test]
    fn labels_need_every_value() {
        let f = Filters::parse(Some(r#"{"label":["a","b=2"]}"#)).expect("parse");
        let mut l = std::collections::HashMap::new();
        l.insert("a".to_owned(), "x".to_owned());
        assert!(!f.labels_match("label", &l));
        l.insert("b".to_owned(), "2".to_owned());
        assert!(f.labels_match("label", &l));
    }

    #[test]
    fn label_not_leaves_out_what_matches_every_value() {
        let f = Filters::parse(Some(r#"{"label!":["keep=1"]}"#)).expect("parse");
        let mut l = std::collections::HashMap::new();
        assert!(!f.labels_exclude("label!", &l));
        l.insert("keep".to_owned(), "2".to_owned());
        assert!(!f.labels_exclude("label!", &l));
        l.insert("keep".to_owned(), "1".to_owned());
        assert!(f.labels_exclude("label!", &l));
        assert!(!Filters::default().labels_exclude("label!", &l));
    }
}
