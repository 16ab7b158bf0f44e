//! Strict decoding that names the offending field.
//!
//! serde_json alone says "invalid type: string, expected a boolean at line 1
//! column 40"; CNI users need to know *which* field, so every decode goes
//! through serde_path_to_error and the error message leads with the path
//! (`ipam.ranges[0][0].subnet`).

use serde::de::DeserializeOwned;

use super::error::CniError;

/// Decodes `bytes` as JSON into `T`; a syntax error or a field of the wrong
/// type becomes a decoding failure (code 6) naming the field.
pub fn decode_bytes<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, CniError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| path_error(what, e))
}

/// Decodes an already-parsed JSON value into `T` (see [`decode_bytes`]).
pub fn decode_value<T: DeserializeOwned>(
    value: &serde_json::Value,
    what: &str,
) -> Result<T, CniError> {
    serde_path_to_error::deserialize(value).map_err(|e| path_error(what, e))
}

fn path_error(what: &str, e: serde_path_to_error::Error<serde_json::Error>) -> CniError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if path.is_empty() || path == "." {
        CniError::decode(format!("{what}: {inner}"))
    } else {
        CniError::decode(format!("{what}: field `{path}`: {inner}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        inner: Inner,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        flag: bool,
    }

    #[test]
    fn wrong_type_names_the_field() {
        let err = decode_bytes::<Outer>(br#"{"inner":{"flag":"yes"}}"#, "network config")
            .expect_err("must fail");
        assert_eq!(err.code.as_u32(), 6);
        assert!(err.msg.contains("inner.flag"), "{}", err.msg);
    }

    #[test]
    fn malformed_json_is_decoding_failure() {
        let err = decode_bytes::<Outer>(b"{not json", "network config").expect_err("must fail");
        assert_eq!(err.code.as_u32(), 6);
        assert!(err.msg.starts_with("network config"), "{}", err.msg);
    }
}
