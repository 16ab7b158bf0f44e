//! `berth-leakcheck snapshot FILE` records the root namespaces' state;
//! `berth-leakcheck check FILE` compares the state now with it and exits 1,
//! listing each leak and how to remove it, if anything new is still there.
//!
//! Run both from the machine's root namespaces (scripts/test.sh does, around
//! the whole test suite).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use berth_testsupport::leaks::{Leak, LeakSnapshot};

const USAGE: &str = "usage: berth-leakcheck snapshot FILE | check FILE";

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("berth-leakcheck: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (verb, file) = match args.as_slice() {
        [verb, file] => (verb.as_str(), Path::new(file)),
        _ => bail!("{USAGE}"),
    };
    match verb {
        "snapshot" => {
            let snap = LeakSnapshot::take().context("taking a snapshot")?;
            snap.save(file)?;
            println!(
                "leak snapshot: {} links, {} netns, {} mounts, {} cgroups, {} nft tables, {} watched processes -> {}",
                snap.links.len(),
                snap.netns.len(),
                snap.mounts.len(),
                snap.cgroups.len(),
                snap.nft_tables.as_ref().map_or(0, |t| t.len()),
                snap.processes.len(),
                file.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        "check" => {
            let before = LeakSnapshot::load(file)?;
            let mut leaks = before.leaks_since().context("taking the second snapshot")?;
            // The snapshot file itself may sit in the temp dir: it is ours.
            let own = std::fs::canonicalize(file).ok();
            leaks
                .items
                .retain(|l| !matches!(l, Leak::TempEntry { path } if Some(path) == own.as_ref()));
            if leaks.is_empty() {
                println!("leak check: nothing leaked");
                Ok(ExitCode::SUCCESS)
            } else {
                println!("leak check FAILED: {leaks}");
                Ok(ExitCode::from(1))
            }
        }
        other => bail!("unknown command '{other}'; {USAGE}"),
    }
}
