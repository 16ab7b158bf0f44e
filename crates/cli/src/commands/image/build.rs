//! `build [-f FILE] [-t TAG]... [--build-arg K=V]... [--target S]
//! [--no-cache] [--network none|host|NET] [--label K=V]... [-q] PATH`:
//! a Dockerfile built on the image store (berth-build), RUN steps in
//! containers of berth's runtime (this binary as `berth-runc`).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use berth_build::{BuildOptions, Context, RuntimeExec};
use berth_image::ImageStore;
use indicatif::{ProgressBar, ProgressStyle};

/// Build an image from a Dockerfile.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The Dockerfile (default: PATH/Dockerfile; relative to the current
    /// directory, or `-` for stdin).
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// Name (and tag) of the result; may be given more than once.
    #[arg(short = 't', long = "tag")]
    pub tags: Vec<String>,
    /// A build-time variable (KEY=VALUE, or KEY to take it from the environment).
    #[arg(long = "build-arg")]
    pub build_args: Vec<String>,
    /// The stage to build up to.
    #[arg(long)]
    pub target: Option<String>,
    /// Run every step, using no cached result.
    #[arg(long)]
    pub no_cache: bool,
    /// Network of RUN steps: none (default) or host; through berthd also
    /// the name or id of one of its networks.
    #[arg(long)]
    pub network: Option<String>,
    /// A label for the image (KEY=VALUE).
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Print only the image id.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Write the image id to this file.
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
    /// Pull every FROM image, even one the store has.
    #[arg(long)]
    pub pull: bool,
    /// os/arch[/variant] of FROM images (FROM --platform= wins).
    #[arg(long)]
    pub platform: Option<String>,
    /// Remove the RUN containers of steps that worked (through berthd;
    /// `--rm=false` keeps them; a daemonless build always removes them).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub rm: bool,
    /// Remove RUN containers, a failed step's too (through berthd).
    #[arg(long = "force-rm")]
    pub force_rm: bool,
    /// An image whose steps the cache may reuse (only these, when given).
    #[arg(long = "cache-from")]
    pub cache_from: Vec<String>,
    /// A line for RUN's /etc/hosts (NAME:ADDR).
    #[arg(long = "add-host")]
    pub add_hosts: Vec<String>,
    /// A registry (host:port) FROM may pull from over plain HTTP.
    #[arg(long = "insecure-registry")]
    pub insecure: Vec<String>,
    /// The build context directory.
    pub path: PathBuf,
}

/// `KEY=VALUE` pairs; a bare `KEY` takes its value from the environment
/// (and is dropped when unset), as docker does.
pub fn build_args(list: &[String]) -> Vec<(String, String)> {
    list.iter()
        .filter_map(|a| match a.split_once('=') {
            Some((k, v)) => Some((k.to_string(), v.to_string())),
            None => std::env::var(a).ok().map(|v| (a.clone(), v)),
        })
        .collect()
}

/// `NAME:ADDR` hosts as (name, address).
pub fn extra_hosts(list: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    list.iter()
        .map(|h| match h.split_once(':') {
            Some((n, a)) if !n.is_empty() && a.parse::<std::net::IpAddr>().is_ok() => {
                Ok((n.to_string(), a.to_string()))
            }
            _ => anyhow::bail!("bad format for add-host: {h:?} (NAME:ADDR)"),
        })
        .collect()
}

/// `KEY=VALUE` labels (a bare key gets an empty value).
pub fn labels(list: &[String]) -> Vec<(String, String)> {
    list.iter()
        .map(|a| match a.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (a.clone(), String::new()),
        })
        .collect()
}

/// The Dockerfile's text: `-f` (`-` is stdin) or PATH/Dockerfile.
pub fn dockerfile_text(file: Option<&str>, context: &Path) -> anyhow::Result<String> {
    match file {
        Some("-") => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut s)
                .context("reading the Dockerfile from stdin")?;
            Ok(s)
        }
        Some(f) => {
            std::fs::read_to_string(f).with_context(|| format!("reading the Dockerfile {f}"))
        }
        None => {
            let p = context.join("Dockerfile");
            std::fs::read_to_string(&p)
                .with_context(|| format!("reading the Dockerfile {}", p.display()))
        }
    }
}

pub fn run(store: &ImageStore, a: Args) -> anyhow::Result<i32> {
    let ctx = Context::open(&a.path)?;
    let dockerfile = dockerfile_text(a.file.as_deref(), &a.path)?;
    let work = store.root().join("build");
    let opts = BuildOptions {
        dockerfile,
        tags: a.tags.clone(),
        build_args: build_args(&a.build_args),
        target: a.target.clone(),
        no_cache: a.no_cache,
        network: a.network.clone(),
        labels: labels(&a.labels),
        runtime: RuntimeExec {
            binary: std::env::current_exe().context("finding berth's own binary")?,
            root: work.join("runtime"),
            bundles: work.join("bundles"),
            cgroup_parent: None,
        },
        cancel: Some(berth_build::Cancel(std::sync::Arc::new(
            interrupted::requested,
        ))),
        // FROM pulls an image the store lacks, as `berth pull` would.
        registry: Some(berth_image::registry::RegistryOptions {
            insecure_registries: a.insecure.clone(),
            ..Default::default()
        }),
        pull: a.pull,
        cache_from: a.cache_from.clone(),
        extra_hosts: extra_hosts(&a.add_hosts)?,
        run_network: None,
        // RUN containers are the runtime's alone without a daemon: they go.
        removal: berth_build::Removal::Always,
        containers: None,
        platform: a
            .platform
            .as_deref()
            .map(berth_image::platform::Platform::parse)
            .transpose()?,
    };
    interrupted::install();
    let bar = (!a.quiet && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template("{prefix:.bold} [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        b.set_prefix("building");
        b
    });
    let quiet = a.quiet;
    let mut progress = |s: &str| {
        if quiet {
            return;
        }
        match &bar {
            Some(b) => {
                if let Some((n, m)) = step_numbers(s) {
                    b.set_length(m);
                    b.set_position(n.saturating_sub(1));
                    b.set_message(
                        s.split_once(" : ")
                            .map(|x| x.1)
                            .unwrap_or("")
                            .trim()
                            .to_string(),
                    );
                }
                for l in s.lines() {
                    b.println(l);
                }
            }
            None => print!("{s}"),
        }
    };
    let res = berth_build::build(store, &ctx, &opts, &mut progress);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let built = res?;
    if a.quiet {
        println!("{}", built.id);
    }
    if let Some(f) = &a.iidfile {
        std::fs::write(f, &built.id).with_context(|| format!("writing {}", f.display()))?;
    }
    Ok(0)
}

/// Ctrl-C (SIGINT) or SIGTERM during a build: the build stops before its
/// next step and cleans up (a RUN's container gets the signal from the
/// runtime, which forwards it, so the step ends too).
mod interrupted {
    use std::sync::atomic::{AtomicBool, Ordering};

    static FLAG: AtomicBool = AtomicBool::new(false);

    extern "C" fn on_signal(_: libc::c_int) {
        // Only an atomic store: async-signal-safe.
        FLAG.store(true, Ordering::SeqCst);
    }

    pub fn install() {
        for sig in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: sigaction with a zeroed struct, an empty mask and a
            // handler that only stores to an atomic.
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                libc::sigemptyset(&mut sa.sa_mask);
                libc::sigaction(sig, &sa, std::ptr::null_mut());
            }
        }
    }

    pub fn requested() -> bool {
        FLAG.load(Ordering::SeqCst)
    }
}

/// `Step 2/5 : ...` → (2, 5).
fn step_numbers(s: &str) -> Option<(u64, u64)> {
    let rest = s.strip_prefix("Step ")?;
    let (nm, _) = rest.split_once(" : ")?;
    let (n, m) = nm.split_once('/')?;
    Some((n.parse().ok()?, m.parse().ok()?))
}
