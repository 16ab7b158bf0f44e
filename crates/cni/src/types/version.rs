//! CNI spec versions and their negotiation.
//!
//! berth speaks 0.3.1, 0.4.0, 1.0.0 and 1.1.0. The versions differ in the
//! verbs they allow (CHECK from 0.4.0, STATUS and GC from 1.1.0) and in the
//! result's wire form (0.3.x/0.4.0 carry `version` on each IP; 1.x drop it
//! and 1.1.0 add MTU and route attributes), so a version is parsed once into
//! this type and everything else asks it questions.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The spec versions berth implements, oldest first, as the `VERSION` verb
/// reports them.
pub const SUPPORTED_VERSIONS: [CniVersion; 4] = [
    CniVersion::V0_3_1,
    CniVersion::V0_4_0,
    CniVersion::V1_0_0,
    CniVersion::V1_1_0,
];

/// One spec version berth implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CniVersion {
    V0_3_1,
    V0_4_0,
    V1_0_0,
    V1_1_0,
}

/// A version string that is malformed, or well-formed but not one berth speaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("cniVersion {0:?} is not a semantic version")]
    Malformed(String),
    #[error("cniVersion {found:?} is not supported (supported: 0.3.1, 0.4.0, 1.0.0, 1.1.0)")]
    Unsupported { found: String },
    #[error(
        "none of cniVersions {offered:?} is supported (supported: 0.3.1, 0.4.0, 1.0.0, 1.1.0)"
    )]
    NoneSupported { offered: Vec<String> },
}

impl CniVersion {
    /// The newest version berth speaks, used where no version was asked for.
    pub const LATEST: CniVersion = CniVersion::V1_1_0;

    pub fn as_str(self) -> &'static str {
        match self {
            CniVersion::V0_3_1 => "0.3.1",
            CniVersion::V0_4_0 => "0.4.0",
            CniVersion::V1_0_0 => "1.0.0",
            CniVersion::V1_1_0 => "1.1.0",
        }
    }

    /// Results of this version carry the pre-1.0 form (`version` on each IP).
    pub fn legacy_result(self) -> bool {
        self < CniVersion::V1_0_0
    }

    /// CHECK exists from 0.4.0 on, as does `prevResult` on DEL.
    pub fn has_check(self) -> bool {
        self >= CniVersion::V0_4_0
    }

    /// STATUS and GC exist from 1.1.0 on.
    pub fn has_status_and_gc(self) -> bool {
        self >= CniVersion::V1_1_0
    }

    /// All supported versions as strings, for the `VERSION` answer.
    pub fn supported_strings() -> Vec<&'static str> {
        SUPPORTED_VERSIONS.iter().map(|v| v.as_str()).collect()
    }

    /// Picks the version to use for a configuration that states `cniVersion`
    /// and optionally `cniVersions` (1.1.0): the highest listed version berth
    /// supports; without a list, `cniVersion` itself.
    pub fn negotiate(
        cni_version: &str,
        cni_versions: Option<&[String]>,
    ) -> Result<CniVersion, VersionError> {
        if let Some(list) = cni_versions.filter(|l| !l.is_empty()) {
            let mut best: Option<CniVersion> = None;
            for v in list {
                // A malformed entry is an error; an unknown but well-formed one
                // is simply a version this side does not speak.
                let sv = SemVer::parse(v).ok_or_else(|| VersionError::Malformed(v.clone()))?;
                if let Some(known) = CniVersion::from_semver(sv) {
                    best = Some(best.map_or(known, |b| b.max(known)));
                }
            }
            return best.ok_or_else(|| VersionError::NoneSupported {
                offered: list.to_vec(),
            });
        }
        cni_version.parse()
    }

    fn from_semver(v: SemVer) -> Option<CniVersion> {
        match (v.major, v.minor, v.patch) {
            (0, 3, 1) => Some(CniVersion::V0_3_1),
            (0, 4, 0) => Some(CniVersion::V0_4_0),
            (1, 0, 0) => Some(CniVersion::V1_0_0),
            (1, 1, 0) => Some(CniVersion::V1_1_0),
            _ => None,
        }
    }
}

impl fmt::Display for CniVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CniVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let sv = SemVer::parse(s).ok_or_else(|| VersionError::Malformed(s.to_owned()))?;
        CniVersion::from_semver(sv).ok_or_else(|| VersionError::Unsupported {
            found: s.to_owned(),
        })
    }
}

impl Serialize for CniVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CniVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A semantic version triple; pre-release and build suffixes are not used by
/// any CNI version and are rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SemVer {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl SemVer {
    pub fn parse(s: &str) -> Option<SemVer> {
        let mut parts = s.split('.');
        let num = |p: Option<&str>| -> Option<u64> {
            let p = p?;
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            p.parse().ok()
        };
        let v = SemVer {
            major: num(parts.next())?,
            minor: num(parts.next())?,
            patch: num(parts.next())?,
        };
        parts.next().is_none().then_some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_four_supported_versions() {
        for v in SUPPORTED_VERSIONS {
            assert_eq!(v.as_str().parse::<CniVersion>(), Ok(v));
        }
    }

    #[test]
    fn rejects_unknown_and_malformed() {
        assert!(matches!(
            "0.2.0".parse::<CniVersion>(),
            Err(VersionError::Unsupported { .. })
        ));
        assert!(matches!(
            "1.1".parse::<CniVersion>(),
            Err(VersionError::Malformed(_))
        ));
        assert!(matches!(
            "1.1.0-rc1".parse::<CniVersion>(),
            Err(VersionError::Malformed(_))
        ));
        assert!(matches!(
            "".parse::<CniVersion>(),
            Err(VersionError::Malformed(_))
        ));
    }

    #[test]
    fn negotiation_picks_highest_common_version() {
        let list = vec!["1.0.0".to_owned(), "1.1.0".to_owned(), "2.0.0".to_owned()];
        assert_eq!(
            CniVersion::negotiate("1.0.0", Some(&list)),
            Ok(CniVersion::V1_1_0)
        );
        let none = vec!["2.0.0".to_owned()];
        assert!(matches!(
            CniVersion::negotiate("1.0.0", Some(&none)),
            Err(VersionError::NoneSupported { .. })
        ));
        assert_eq!(CniVersion::negotiate("0.4.0", None), Ok(CniVersion::V0_4_0));
    }

    #[test]
    fn verbs_by_version() {
        assert!(!CniVersion::V0_3_1.has_check());
        assert!(CniVersion::V0_4_0.has_check());
        assert!(!CniVersion::V1_0_0.has_status_and_gc());
        assert!(CniVersion::V1_1_0.has_status_and_gc());
        assert!(CniVersion::V0_4_0.legacy_result());
        assert!(!CniVersion::V1_0_0.legacy_result());
    }
}
