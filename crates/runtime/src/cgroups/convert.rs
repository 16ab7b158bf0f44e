//! Conversions between the OCI (cgroup v1 shaped) resource values and what
//! cgroup v2 files take, matching runc so the same config.json means the same
//! limits under either runtime.

use std::path::Path;

use super::error::CgroupError;

/// cpu.shares bounds the v1 kernel enforces (by silently clamping).
pub const MIN_SHARES: u64 = 2;
pub const MAX_SHARES: u64 = 262_144;

/// OCI cpu shares → cgroup v2 cpu.weight (runc's linear mapping of
/// [2, 262144] onto [1, 10000]).
pub fn shares_to_weight(shares: u64) -> Result<u64, CgroupError> {
    if !(MIN_SHARES..=MAX_SHARES).contains(&shares) {
        return Err(CgroupError::InvalidValue {
            what: "cpu shares",
            value: shares.to_string(),
            reason: format!("must be between {MIN_SHARES} and {MAX_SHARES}"),
        });
    }
    Ok(1 + ((shares - 2) * 9999) / 262_142)
}

/// cgroup v2 cpu.weight → the cpu shares it stands for (the inverse of
/// [`shares_to_weight`], for reports).
pub fn weight_to_shares(weight: u64) -> u64 {
    if weight == 0 {
        return 0;
    }
    2 + ((weight.clamp(1, 10_000) - 1) * 262_142) / 9999
}

/// OCI blkio weight [10, 1000] → cgroup v2 io.weight [1, 10000] (runc).
pub fn blkio_weight_to_io_weight(weight: u16) -> Result<u64, CgroupError> {
    check_blkio_weight("blkio weight", weight)?;
    Ok(1 + (u64::from(weight) - 10) * 9999 / 990)
}

/// The OCI range of blkio weights; the kernel rejects others with EINVAL,
/// but saying why is kinder.
pub fn check_blkio_weight(what: &'static str, weight: u16) -> Result<(), CgroupError> {
    if !(10..=1000).contains(&weight) {
        return Err(CgroupError::InvalidValue {
            what,
            value: weight.to_string(),
            reason: "must be between 10 and 1000".to_owned(),
        });
    }
    Ok(())
}

/// OCI memory.swap (memory+swap, v1 memsw semantics) → cgroup v2
/// memory.swap.max (swap alone). `None` means "do not write the file";
/// `Some(-1)` means "max". Same rules as runc.
pub fn swap_to_v2(swap: Option<i64>, limit: Option<i64>) -> Result<Option<i64>, CgroupError> {
    let memory = limit.unwrap_or(0);
    let swap = swap.unwrap_or(0);
    // Unlimited memory with swap unset: unlimited swap too, as on v1.
    if memory == -1 && swap == 0 {
        return Ok(Some(-1));
    }
    if swap == 0 {
        return Ok(None);
    }
    if swap == -1 {
        return Ok(Some(-1));
    }
    let invalid = |reason: &str| CgroupError::InvalidValue {
        what: "memory swap",
        value: swap.to_string(),
        reason: reason.to_owned(),
    };
    if swap < 0 {
        return Err(invalid("must be -1 (unlimited) or a byte count"));
    }
    if memory == 0 || memory == -1 {
        return Err(invalid("a swap limit needs a memory limit"));
    }
    if memory < 0 {
        return Err(CgroupError::InvalidValue {
            what: "memory limit",
            value: memory.to_string(),
            reason: "must be -1 (unlimited) or a byte count".to_owned(),
        });
    }
    if swap < memory {
        return Err(invalid(&format!(
            "memory+swap must be at least the memory limit {memory}"
        )));
    }
    Ok(Some(swap - memory))
}

/// "max" for -1 (and any negative), the number otherwise.
pub fn limit_str(v: i64) -> String {
    if v < 0 {
        "max".to_owned()
    } else {
        v.to_string()
    }
}

/// Parses an OCI hugepage size ("2MB", "1GB", "64KB") into bytes.
pub fn parse_page_size(s: &str) -> Option<u64> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = num.parse().ok()?;
    let mult = match unit {
        "KB" | "kB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// Bytes → the kernel's hugetlb file name form ("2MB", "1GB", "64KB").
pub fn page_size_name(bytes: u64) -> String {
    if bytes >= 1 << 30 && bytes.is_multiple_of(1 << 30) {
        format!("{}GB", bytes >> 30)
    } else if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{}MB", bytes >> 20)
    } else {
        format!("{}KB", bytes >> 10)
    }
}

/// The hugepage sizes this kernel supports, in the kernel's naming.
pub fn host_page_sizes() -> Vec<String> {
    let dir = Path::new("/sys/kernel/mm/hugepages");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut sizes: Vec<(u64, String)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let kb: u64 = name
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            let bytes = kb.checked_mul(1024)?;
            Some((bytes, page_size_name(bytes)))
        })
        .collect();
    sizes.sort();
    sizes.into_iter().map(|(_, n)| n).collect()
}

/// Checks an OCI page size against the host's and returns the kernel's name.
pub fn check_page_size(page_size: &str, host: &[String]) -> Result<String, CgroupError> {
    let name = parse_page_size(page_size).map(page_size_name);
    match name {
        Some(n) if host.contains(&n) => Ok(n),
        _ => Err(CgroupError::InvalidValue {
            what: "hugepage size",
            value: page_size.to_owned(),
            reason: format!("this host supports {}", host.join(", ")),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn shares_weight_matches_runc() {
        // Values from runc's ConvertCPUSharesToCgroupV2Value.
        assert_eq!(shares_to_weight(2).unwrap(), 1);
        assert_eq!(shares_to_weight(1024).unwrap(), 39);
        assert_eq!(shares_to_weight(262_144).unwrap(), 10_000);
        assert!(shares_to_weight(1).is_err());
        assert!(shares_to_weight(262_145).is_err());
        assert_eq!(weight_to_shares(1), 2);
        assert_eq!(weight_to_shares(10_000), 262_144);
        // Round trip stays close (integer division loses a little).
        let back = weight_to_shares(shares_to_weight(1024).unwrap());
        assert!(back.abs_diff(1024) < 30, "{back}");
    }

    #[test]
    fn blkio_weight_conversion() {
        assert_eq!(blkio_weight_to_io_weight(10).unwrap(), 1);
        assert_eq!(blkio_weight_to_io_weight(1000).unwrap(), 10_000);
        assert_eq!(
            blkio_weight_to_io_weight(500).unwrap(),
            1 + 490 * 9999 / 990
        );
        assert!(blkio_weight_to_io_weight(5).is_err());
        assert!(blkio_weight_to_io_weight(1001).is_err());
    }

    #[test]
    fn swap_conversion_matches_runc() {
        assert_eq!(swap_to_v2(None, None).unwrap(), None);
        assert_eq!(swap_to_v2(None, Some(-1)).unwrap(), Some(-1));
        assert_eq!(swap_to_v2(Some(-1), Some(100)).unwrap(), Some(-1));
        assert_eq!(swap_to_v2(Some(300), Some(100)).unwrap(), Some(200));
        assert_eq!(swap_to_v2(Some(100), Some(100)).unwrap(), Some(0));
        assert!(swap_to_v2(Some(50), Some(100)).is_err());
        assert!(swap_to_v2(Some(50), None).is_err());
        assert!(swap_to_v2(Some(50), Some(-1)).is_err());
        assert!(swap_to_v2(Some(-5), Some(100)).is_err());
        assert!(swap_to_v2(Some(300), Some(-7)).is_err());
    }

    #[test]
    fn page_sizes() {
        assert_eq!(parse_page_size("2MB"), Some(2 << 20));
        assert_eq!(parse_page_size("1GB"), Some(1 << 30));
        assert_eq!(parse_page_size("64KB"), Some(64 << 10));
        assert_eq!(parse_page_size("2mb"), None);
        assert_eq!(parse_page_size("MB"), None);
        assert_eq!(page_size_name(2048 * 1024), "2MB");
        assert_eq!(page_size_name(1 << 30), "1GB");
        assert_eq!(page_size_name(64 << 10), "64KB");
        let host = vec!["2MB".to_owned(), "1GB".to_owned()];
        assert_eq!(check_page_size("2MB", &host).unwrap(), "2MB");
        assert_eq!(check_page_size("1024MB", &host).unwrap(), "1GB");
        assert!(check_page_size("4MB", &host).is_err());
    }

    #[test]
    fn limit_strings() {
        assert_eq!(limit_str(-1), "max");
        assert_eq!(limit_str(0), "0");
        assert_eq!(limit_str(4096), "4096");
    }
}
