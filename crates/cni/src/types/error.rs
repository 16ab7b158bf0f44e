//! The spec's error codes and its JSON error form.
//!
//! A plugin that fails prints `{"cniVersion", "code", "msg", "details"}` on
//! stdout and exits non-zero; the runtime reads the code to decide what to do
//! (11 means retry, 3 means nothing to clean up). Codes 0-99 belong to the
//! spec; berth's plugin-specific codes start at 100.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::version::CniVersion;

/// A CNI error code: the spec's well-known ones, or a plugin-specific one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 1: the `cniVersion` asked for is not one the plugin speaks, or the verb
    /// does not exist in that version.
    IncompatibleVersion,
    /// 2: a field the plugin cannot honour; the message names key and value.
    UnsupportedField,
    /// 3: the container is unknown; the runtime need not clean up.
    UnknownContainer,
    /// 4: a `CNI_*` environment variable is missing or invalid; the message
    /// names the variables.
    InvalidEnvironment,
    /// 5: reading stdin or another I/O failed.
    IoFailure,
    /// 6: the input could not be decoded (malformed JSON, a field of the wrong
    /// type).
    DecodingFailure,
    /// 7: the configuration decodes but is invalid (a range outside its
    /// subnet, a missing parent interface).
    InvalidNetworkConfig,
    /// 11: a transient condition; the runtime should retry later.
    TryAgainLater,
    /// 50 (STATUS): the plugin cannot accept ADDs now.
    PluginNotAvailable,
    /// 51 (STATUS): not available, and existing containers may have limited
    /// connectivity.
    LimitedConnectivity,
    /// 100 and up: berth's plugin-specific failures (see the constants below).
    Plugin(u32),
}

impl ErrorCode {
    /// A kernel or netlink operation failed while setting up or tearing down.
    pub const SETUP_FAILED: ErrorCode = ErrorCode::Plugin(100);
    /// IP address management failed (no free address, store unavailable).
    pub const IPAM_FAILED: ErrorCode = ErrorCode::Plugin(101);
    /// CHECK found the container's networking not as ADD left it.
    pub const CHECK_FAILED: ErrorCode = ErrorCode::Plugin(102);
    /// A delegated plugin (IPAM) could not be run or misbehaved.
    pub const DELEGATE_FAILED: ErrorCode = ErrorCode::Plugin(103);
    /// The kernel lacks a feature the configuration needs.
    pub const KERNEL_UNSUPPORTED: ErrorCode = ErrorCode::Plugin(104);

    pub fn as_u32(self) -> u32 {
        match self {
            ErrorCode::IncompatibleVersion => 1,
            ErrorCode::UnsupportedField => 2,
            ErrorCode::UnknownContainer => 3,
            ErrorCode::InvalidEnvironment => 4,
            ErrorCode::IoFailure => 5,
            ErrorCode::DecodingFailure => 6,
            ErrorCode::InvalidNetworkConfig => 7,
            ErrorCode::TryAgainLater => 11,
            ErrorCode::PluginNotAvailable => 50,
            ErrorCode::LimitedConnectivity => 51,
            ErrorCode::Plugin(n) => n,
        }
    }

    pub fn from_u32(n: u32) -> ErrorCode {
        match n {
            1 => ErrorCode::IncompatibleVersion,
            2 => ErrorCode::UnsupportedField,
            3 => ErrorCode::UnknownContainer,
            4 => ErrorCode::InvalidEnvironment,
            5 => ErrorCode::IoFailure,
            6 => ErrorCode::DecodingFailure,
            7 => ErrorCode::InvalidNetworkConfig,
            11 => ErrorCode::TryAgainLater,
            50 => ErrorCode::PluginNotAvailable,
            51 => ErrorCode::LimitedConnectivity,
            n => ErrorCode::Plugin(n),
        }
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.as_u32())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(ErrorCode::from_u32(u32::deserialize(d)?))
    }
}

/// A CNI error: what a plugin reports, and what a client receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniError {
    pub code: ErrorCode,
    pub msg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

impl fmt::Display for CniError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (CNI code {})", self.msg, self.code.as_u32())?;
        if let Some(d) = &self.details {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CniError {}

impl CniError {
    pub fn new(code: ErrorCode, msg: impl Into<String>) -> CniError {
        CniError {
            code,
            msg: msg.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: impl Into<String>) -> CniError {
        self.details = Some(details.into());
        self
    }

    pub fn decode(msg: impl Into<String>) -> CniError {
        CniError::new(ErrorCode::DecodingFailure, msg)
    }

    pub fn invalid_config(msg: impl Into<String>) -> CniError {
        CniError::new(ErrorCode::InvalidNetworkConfig, msg)
    }

    pub fn invalid_env(msg: impl Into<String>) -> CniError {
        CniError::new(ErrorCode::InvalidEnvironment, msg)
    }

    pub fn setup(msg: impl Into<String>) -> CniError {
        CniError::new(ErrorCode::SETUP_FAILED, msg)
    }

    pub fn ipam(msg: impl Into<String>) -> CniError {
        CniError::new(ErrorCode::IPAM_FAILED, msg)
    }

    pub fn check(msg: impl Into<String>) -> CniError {
        CniError::new(ErrorCode::CHECK_FAILED, msg)
    }

    /// The error in the spec's JSON form, for a plugin's stdout.
    pub fn to_json(&self, version: CniVersion) -> serde_json::Value {
        let mut v = serde_json::json!({
            "cniVersion": version.as_str(),
            "code": self.code.as_u32(),
            "msg": self.msg,
        });
        if let Some(d) = &self.details {
            v["details"] = serde_json::Value::String(d.clone());
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_form_has_spec_fields() {
        let e = CniError::invalid_config("bad range").with_details("10.0.0.0/8");
        let v = e.to_json(CniVersion::V1_1_0);
        assert_eq!(v["cniVersion"], "1.1.0");
        assert_eq!(v["code"], 7);
        assert_eq!(v["msg"], "bad range");
        assert_eq!(v["details"], "10.0.0.0/8");
        let back: CniError = serde_json::from_value(v).expect("round trip");
        assert_eq!(back, e);
    }

    #[test]
    fn codes_round_trip() {
        for n in [1, 2, 3, 4, 5, 6, 7, 11, 50, 51, 100, 999] {
            assert_eq!(ErrorCode::from_u32(n).as_u32(), n);
        }
    }
}
