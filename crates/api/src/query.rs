//! Query parameters as Docker reads them (booleans as 1/true/True).

use std::collections::HashMap;

use crate::error::{ApiError, ApiResult};

/// The raw query map with Docker's readers.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct Q(pub HashMap<String, String>);

impl Q {
    pub fn str(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    /// Docker's boolValue: absent, "", "0", "no", "false", "none" are false.
    pub fn bool(&self, k: &str) -> bool {
        match self.str(k) {
            None => false,
            Some(v) => !matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "" | "0" | "no" | "false" | "none"
            ),
        }
    }

    pub fn int(&self, k: &str) -> ApiResult<Option<i64>> {
        match self.str(k).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid value for {k}: {v}"))),
        }
    }
}

/// Every (key, value) of a URI's query, decoded, repeated keys kept in
/// order (Docker clients repeat `t`, `names`, `changes`).
pub fn pairs(uri: &axum::http::Uri) -> Vec<(String, String)> {
    form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Every value of `key` in a URI's query, in order.
pub fn repeated(uri: &axum::http::Uri, key: &str) -> Vec<String> {
    pairs(uri)
        .into_iter()
        .filter_map(|(k, v)| (k == key).then_some(v))
        .collect()
}
