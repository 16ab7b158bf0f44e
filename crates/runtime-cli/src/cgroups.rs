//! `cgroups ID`: the container's cgroup directories with limits and usage
//! (like lscgroup + cgget).

use berth_runtime::Runtime;

/// Show a container's cgroups.
#[derive(Debug, clap::Args)]
pub struct Args {
    pub id: String,
}

pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    print!("{}", rt.cgroup(&a.id)?.report()?);
    Ok(0)
}
