//! `docker search`: a registry's v1 search API (Docker Hub's
//! `index.docker.io`, or the registry a term names, as in
//! `localhost:5000/name`), with dockerd's filters applied to the results.

use serde::Deserialize;

use super::RegistryOptions;
use crate::error::{ImageError, Result};

/// One repository a search found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SearchResult {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub star_count: i64,
    #[serde(default)]
    pub is_official: bool,
    #[serde(default)]
    pub is_automated: bool,
}

/// dockerd's search filters: `stars` (at least), `is-official`,
/// `is-automated`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchFilters {
    pub stars: Option<i64>,
    pub is_official: Option<bool>,
    pub is_automated: Option<bool>,
}

impl SearchFilters {
    fn keep(&self, r: &SearchResult) -> bool {
        self.stars.is_none_or(|s| r.star_count >= s)
            && self.is_official.is_none_or(|o| r.is_official == o)
            && self.is_automated.is_none_or(|a| r.is_automated == a)
    }
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    results: Vec<SearchResult>,
}

/// The registry a search term names and what to ask it: `host/rest` when
/// the first component is a host (has a `.` or `:`, or is `localhost`),
/// else Docker Hub, where `library/` is dropped (official images are
/// searched by their short name).
pub fn split_term(term: &str) -> (String, String) {
    if let Some((first, rest)) = term.split_once('/') {
        if first.contains('.') || first.contains(':') || first == "localhost" {
            if first == "docker.io" || first == "index.docker.io" {
                return ("docker.io".into(), hub_query(rest));
            }
            return (first.to_owned(), rest.to_owned());
        }
    }
    ("docker.io".into(), hub_query(term))
}

fn hub_query(q: &str) -> String {
    q.strip_prefix("library/").unwrap_or(q).to_owned()
}

/// Searches `term`'s registry for at most `limit` results, then keeps
/// those `filters` accept.
pub fn search(
    term: &str,
    limit: usize,
    filters: &SearchFilters,
    opts: &RegistryOptions,
) -> Result<Vec<SearchResult>> {
    let (host, query) = split_term(term);
    let client = opts.client(&host)?;
    let bytes = client.search_v1(&query, limit)?;
    let answer: Answer = serde_json::from_slice(&bytes)
        .map_err(|e| ImageError::corrupt(format!("search answer of {host}"), e))?;
    Ok(answer
        .results
        .into_iter()
        .filter(|r| filters.keep(r))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_term_names_its_registry() {
        assert_eq!(
            split_term("hello-world"),
            ("docker.io".into(), "hello-world".into())
        );
        assert_eq!(
            split_term("library/busybox"),
            ("docker.io".into(), "busybox".into())
        );
        assert_eq!(
            split_term("user/app"),
            ("docker.io".into(), "user/app".into())
        );
        assert_eq!(
            split_term("localhost:5000/x/y"),
            ("localhost:5000".into(), "x/y".into())
        );
        assert_eq!(
            split_term("docker.io/library/a"),
            ("docker.io".into(), "a".into())
        );
    }

    #[test]
    fn filters_keep_what_they_name() {
        let r = SearchResult {
            name: "a".into(),
            star_count: 5,
            is_official: true,
            ..Default::default()
        };
        assert!(SearchFilters::default().keep(&r));
        let f = |stars, official, automated| SearchFilters {
            stars,
            is_official: official,
            is_automated: automated,
        };
        assert!(f(Some(5), None, None).keep(&r));
        assert!(!f(Some(6), None, None).keep(&r));
        assert!(!f(None, Some(false), None).keep(&r));
        assert!(!f(None, None, Some(true)).keep(&r));
    }
}
