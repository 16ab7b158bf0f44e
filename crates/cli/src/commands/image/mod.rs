//! `berth image <verb>` and the top-level `berth load|save|import|images|
//! rmi|tag|history|pull|push|login|logout|build`: docker's image commands, daemonless on the image store
//! (as podman works without a daemon). One file per verb; each translates
//! flags into one berth-image call and prints the result as docker does,
//! or as JSON (`--format json`), or ids only (`--quiet`).

mod bars;
pub mod build;
mod history;
mod import;
mod inspect;
mod load;
mod login;
mod ls;
mod present;
mod prune;
mod pull;
mod push;
mod rm;
mod save;
mod tag;

use std::ffi::OsString;
use std::path::PathBuf;

use berth_image::ImageStore;
use clap::{Parser, Subcommand};

/// Where the image store lives unless `--root` or `BERTH_IMAGE_ROOT` says otherwise.
pub const DEFAULT_ROOT: &str = "/var/lib/berth/image";

/// berth's image commands.
#[derive(Debug, Parser)]
#[command(
    name = "berth image",
    about = "manage images (daemonless, on the image store)"
)]
pub struct Cli {
    /// The image store directory.
    #[arg(long, global = true, env = "BERTH_IMAGE_ROOT", default_value = DEFAULT_ROOT)]
    root: PathBuf,
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Debug, Subcommand)]
enum Verb {
    #[command(alias = "list")]
    Build(build::Args),
    Ls(ls::Args),
    Inspect(inspect::Args),
    #[command(alias = "remove")]
    Rm(rm::Args),
    Tag(tag::Args),
    History(history::Args),
    Prune(prune::Args),
    Load(load::Args),
    Save(save::Args),
    Import(import::Args),
    Pull(pull::Args),
    Push(push::Args),
    Login(login::Args),
    Logout(login::LogoutArgs),
}

/// Maps a top-level alias (`berth images`, `berth load`, ...) to its verb.
pub fn verb_for(top: &str) -> Option<&'static str> {
    Some(match top {
        "build" => "build",
        "images" => "ls",
        "rmi" => "rm",
        "load" => "load",
        "save" => "save",
        "import" => "import",
        "tag" => "tag",
        "history" => "history",
        "pull" => "pull",
        "push" => "push",
        "login" => "login",
        "logout" => "logout",
        _ => return None,
    })
}

/// Runs `berth image ...`; `args[0]` is the program name for clap.
pub fn main(args: Vec<OsString>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("berth: {e:#}");
            1
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    // These touch only the docker config, not the store.
    let verb = match cli.verb {
        Verb::Login(a) => return login::run(a),
        Verb::Logout(a) => return login::logout(a),
        v => v,
    };
    let store = ImageStore::open(&cli.root)
        .map_err(|e| anyhow::anyhow!("opening the image store at {}: {e}", cli.root.display()))?;
    match verb {
        Verb::Build(a) => build::run(&store, a),
        Verb::Ls(a) => ls::run(&store, a),
        Verb::Inspect(a) => inspect::run(&store, a),
        Verb::Rm(a) => rm::run(&store, a),
        Verb::Tag(a) => tag::run(&store, a),
        Verb::History(a) => history::run(&store, a),
        Verb::Prune(a) => prune::run(&store, a),
        Verb::Load(a) => load::run(&store, a),
        Verb::Save(a) => save::run(&store, a),
        Verb::Import(a) => import::run(&store, a),
        Verb::Pull(a) => pull::run(&store, a),
        Verb::Push(a) => push::run(&store, a),
        Verb::Login(_) | Verb::Logout(_) => Ok(0),
    }
}

/// Daemonless: no container of this store's users is known to the CLI, so
/// nothing counts as in use. (Through berthd, the engine answers this.)
fn no_containers(_: &str) -> bool {
    false
}
