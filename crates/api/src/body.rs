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

/// A blocking writer whose bytes become a streamed response body.
pub struct ChannelWriter(pub tokio::sync::mpsc::Sender<bytes::Bytes>);

impl std::io::Write for ChannelWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(bytes::Bytes::copy_from_slice(b))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))?;
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A body streamed from a blocking writer, and the writer.
pub fn streamed(content_type: &'static str) -> (axum::response::Response, ChannelWriter) {
    let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(16);
    let body = futures::StreamExt::map(
        tokio_stream::wrappers::ReceiverStream::new(rx),
        Ok::<_, std::convert::Infallible>,
    );
    let resp = axum::response::Response::builder()
        .header(axum::http::header::CONTENT_TYPE, content_type)
        .body(axum::body::Body::from_stream(body))
        .unwrap_or_default();
    (resp, ChannelWriter(tx))
}
