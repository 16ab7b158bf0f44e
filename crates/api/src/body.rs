//! Request bodies: JSON decoded into Docker's typed models, with a 400
//! that says what was wrong.

use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult};

/// Decodes a JSON body; an empty body is the type's default when `optional`.
pub fn json<T: DeserializeOwned + Default>(b: &Bytes, optional: bool) -> ApiResult<T> {
    if b.iter().all(|c| c.is_ascii_whitespace()) {
        if optional {
            return Ok(T::default());
        }
        return Err(ApiError::bad_request("invalid JSON: request body is empty"));
    }
    serde_json::from_slice(b).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

/// A JSON response body.
pub fn reply<T: serde::Serialize>(status: u16, v: &T) -> axum::response::Response {
    let code = axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::OK);
    match serde_json::to_vec(v) {
        Ok(bytes) => (
            code,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            bytes,
        )
            .into_response_compat(),
        Err(e) => ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding response: {e}"),
        )
        .into_response_compat(),
    }
}

/// `IntoResponse` under a name that does not clash with imports.
pub trait IntoResponseCompat {
    fn into_response_compat(self) -> axum::response::Response;
}

impl<T: axum::response::IntoResponse> IntoResponseCompat for T {
    fn into_response_compat(self) -> axum::response::Response {
        self.into_response()
    }
}
