//! v2 hugetlb controller (also used on a hybrid host, whose cgroup2 mount
//! carries hugetlb when no v1 hierarchy does).

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
        let value = if l.limit() < 0 {
            "max".to_owned()
        } else {
            l.limit().to_string()
        };
        files::write(dir, &format!("hugetlb.{size}.max"), &value)?;
        // The spec prefers reservation limits where the kernel has them.
        files::write_if_exists(dir, &format!("hugetlb.{size}.rsvd.max"), &value)?;
    }
    Ok(())
}

pub(crate) fn stats(dir: &Path, out: &mut BTreeMap<String, Hugetlb>) -> Result<(), CgroupError> {
    for size in host_page_sizes() {
        let current = format!("hugetlb.{size}.current");
        if !dir.join(&current).exists() {
            continue;
        }
        let events = files::read_flat_keyed(dir, &format!("hugetlb.{size}.events"))?;
        out.insert(
            size,
            Hugetlb {
                usage: files::read_u64(dir, &current)?,
                max: 0,
                failcnt: files::keyed(&events, "max").unwrap_or(0),
            },
        );
    }
    Ok(())
}
