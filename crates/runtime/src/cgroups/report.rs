//! The `berth runtime cgroups ID` listing: each cgroup directory of the
//! container with its controllers, then the main limit and usage files and
//! their contents, like `lscgroup` + `cgget` would show.

use std::fmt::Write;
use std::path::PathBuf;

use super::convert::host_page_sizes;
use super::error::CgroupError;
use super::files;
use super::layout::Layout;
use super::CgroupManager;

/// Files worth showing, in order; those a directory lacks are skipped.
const FILES: &[&str] = &[
    // v1
    "cpu.shares",
    "cpu.cfs_quota_us",
    "cpu.cfs_period_us",
    "cpuacct.usage",
    "cpuset.cpus",
    "cpuset.mems",
    "memory.limit_in_bytes",
    "memory.soft_limit_in_bytes",
    "memory.memsw.limit_in_bytes",
    "memory.usage_in_bytes",
    "memory.max_usage_in_bytes",
    "memory.failcnt",
    "memory.oom_control",
    "pids.max",
    "pids.current",
    "freezer.state",
    "blkio.weight",
    "blkio.bfq.weight",
    "devices.list",
    // v2
    "cgroup.controllers",
    "cpu.weight",
    "cpu.max",
    "cpuset.cpus.effective",
    "cpuset.mems.effective",
    "memory.max",
    "memory.low",
    "memory.swap.max",
    "memory.current",
    "memory.peak",
    "memory.events",
    "io.weight",
    "io.bfq.weight",
    "io.max",
    "cgroup.freeze",
];

fn describe(layout: &Layout) -> String {
    match layout {
        Layout::V1 {
            unified: Some(u), ..
        } => format!("cgroup v1, hybrid (cgroup2 at {})", u.mountpoint.display()),
        Layout::V1 { unified: None, .. } => "cgroup v1".to_owned(),
        Layout::V2(u) => format!("cgroup v2 at {}", u.mountpoint.display()),
    }
}

pub(crate) fn render(m: &CgroupManager) -> Result<String, CgroupError> {
    let mut out = String::new();
    let p = m.cgroup_path();
    let shown = if p.is_absolute() {
        format!("/{}", p.relative().display())
    } else {
        p.relative().display().to_string()
    };
    // Writing to a String cannot fail.
    let _ = writeln!(out, "cgroup {shown} ({})", describe(m.layout()));

    // Group controllers by directory, keeping first-seen order.
    let mut dirs: Vec<(PathBuf, Vec<String>)> = Vec::new();
    for (ctl, dir) in m.paths() {
        match dirs.iter_mut().find(|(d, _)| *d == dir) {
            Some((_, c)) => c.push(ctl),
            None => dirs.push((dir, vec![ctl])),
        }
    }
    let mut hugetlb_files = Vec::new();
    for size in host_page_sizes() {
        for suffix in ["limit_in_bytes", "usage_in_bytes", "max", "current"] {
            hugetlb_files.push(format!("hugetlb.{size}.{suffix}"));
        }
    }
    for (dir, controllers) in dirs {
        let _ = writeln!(out, "{}: {}", controllers.join(","), dir.display());
        if !dir.exists() {
            let _ = writeln!(out, "  (missing)");
            continue;
        }
        let names = FILES
            .iter()
            .copied()
            .chain(hugetlb_files.iter().map(String::as_str));
        for name in names {
            let Some(value) = files::read_opt(&dir, name)? else {
                continue;
            };
            let mut lines = value.lines();
            match (lines.next(), lines.clone().next()) {
                (None, _) => {
                    let _ = writeln!(out, "  {name}:");
                }
                (Some(first), None) => {
                    let _ = writeln!(out, "  {name}: {first}");
                }
                (Some(first), Some(_)) => {
                    let _ = writeln!(out, "  {name}:");
                    let _ = writeln!(out, "    {first}");
                    for l in lines {
                        let _ = writeln!(out, "    {l}");
                    }
                }
            }
        }
    }
    if let Layout::V2(_) = m.layout() {
        for (_, dir) in m.paths() {
            if dir.exists() {
                let n = super::v2::devices::attached_count(&dir)?;
                let _ = writeln!(out, "  device programs attached: {n}");
            }
        }
    }
    let pids = m.pids()?;
    let list: Vec<String> = pids.iter().map(i32::to_string).collect();
    let _ = writeln!(
        out,
        "processes: {}",
        if list.is_empty() {
            "none".to_owned()
        } else {
            list.join(" ")
        }
    );
    Ok(out)
}
