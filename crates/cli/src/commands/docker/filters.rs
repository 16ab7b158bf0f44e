//! `--filter key=value` flags in the JSON form the daemon parses
//! (`{"key": {"value": true}}`, what docker's filters.Args marshals to).

use std::collections::BTreeMap;

use anyhow::bail;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Filters {
    args: BTreeMap<String, BTreeMap<String, bool>>,
}

impl Filters {
    pub fn parse(flags: &[String]) -> anyhow::Result<Filters> {
        let mut f = Filters::default();
        for flag in flags {
            let Some((k, v)) = flag.split_once('=') else {
                bail!("bad format of filter (expected name=value)");
            };
            let k = k.trim().to_ascii_lowercase();
            if k.is_empty() {
                bail!("bad format of filter (expected name=value)");
            }
            f.add(&k, v.trim());
        }
        Ok(f)
    }

    pub fn add(&mut self, key: &str, value: &str) {
        self.args
            .entry(key.to_owned())
            .or_default()
            .insert(value.to_owned(), true);
    }

    pub fn is_empty(&self) -> bool {
        self.args.is_empty()
    }

    /// The `filters` query parameter, if any filter was given.
    pub fn query(&self) -> Option<(&'static str, String)> {
        if self.is_empty() {
            return None;
        }
        Some((
            "filters",
            serde_json::to_string(&self.args).unwrap_or_else(|_| "{}".into()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_marshal_like_docker() {
        let f = Filters::parse(&[
            "status=running".into(),
            "label=a=b".into(),
            "status=exited".into(),
        ])
        .unwrap();
        let (k, v) = f.query().unwrap();
        assert_eq!(k, "filters");
        assert_eq!(
            v,
            r#"{"label":{"a=b":true},"status":{"exited":true,"running":true}}"#
        );
    }

    #[test]
    fn a_filter_without_equals_is_refused() {
        assert!(Filters::parse(&["running".into()]).is_err());
        assert!(Filters::parse(&["=x".into()]).is_err());
        assert!(Filters::default().query().is_none());
    }
}
