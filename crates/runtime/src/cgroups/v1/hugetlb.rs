//! v1 hugetlb controller (when mounted as a v1 hierarchy; on a hybrid host
//! without it, the manager uses the cgroup2 controller instead).

use std::collections::BTreeMap;
use std::path::Path;

use oci_spec::runtime::LinuxHugepageLimit;

use super::super::convert::{check_page_size, host_page_sizes};
use super::super::error::CgroupError;
use super::super::files;
use super::super::stats::Hugetlb;

pub(crate) fn apply(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<(), CgroupError> {
    let host = host_page_sizes();
    for l in limits {
        let size = check_page_size(l.page_size(), &host)?;
        let value = l.limit().to_string();
        files::write(dir, &format!("hugetlb.{size}.limit_in_bytes"), &value)?;
        // The spec prefers reservation limits where the kernel has them.
        files::write_if_exists(dir, &format!("hugetlb.{size}.rsvd.limit_in_bytes"), &value)?;
    }
    Ok(())
}

pub(crate) fn stats(dir: &Path, out: &mut BTreeMap<String, Hugetlb>) -> Result<(), CgroupError> {
    for size in host_page_sizes() {
        let usage_file = format!("hugetlb.{size}.usage_in_bytes");
        if !dir.join(&usage_file).exists() {
            continue;
        }
        let entry = Hugetlb {
            usage: files::read_u64(dir, &usage_file)?,
            max: files::read_u64_or_zero(dir, &format!("hugetlb.{size}.max_usage_in_bytes"))?,
            failcnt: files::read_u64_or_zero(dir, &format!("hugetlb.{size}.failcnt"))?,
        };
        out.insert(size, entry);
    }
    Ok(())
}
