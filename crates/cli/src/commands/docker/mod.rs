//! `berth <verb>`: Docker's verbs and flags, each translated into Docker
//! Engine API calls through `crate::client` (the API only, never the
//! engine's crates). One module per verb group.

mod build;
mod container_create;
mod container_exec;
mod container_files;
mod container_flags;
mod container_info;
mod container_lifecycle;
mod container_list;
mod container_logs;
mod container_run;
mod filters;
mod image;
mod inspect;
mod login;
mod network;
pub mod output;
mod resource_flags;
mod signals;
mod system;
mod volume;

use std::ffi::OsString;

use clap::{Parser, Subcommand};

use crate::client::{host, Client, ClientError};

/// An error that carries docker's exit code for it; `message` is printed
/// unless empty (the container's own status needs no message).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StatusError {
    pub code: i32,
    pub message: String,
}

impl StatusError {
    pub fn exit(code: i32, message: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(StatusError {
            code,
            message: message.into(),
        })
    }
}

/// What every verb gets: the API client.
pub struct Ctx {
    pub client: Client,
}

#[derive(Parser)]
#[command(
    name = "berth",
    about = "A self-sufficient runtime for containers",
    disable_help_subcommand = true
)]
struct Cli {
    /// Daemon socket to connect to (unix:///path)
    #[arg(short = 'H', long = "host", global = false)]
    host: Option<String>,
    /// Enable debug mode
    #[arg(short = 'D', long)]
    debug: bool,
    /// Set the logging level (accepted for compatibility)
    #[arg(short = 'l', long = "log-level")]
    log_level: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Show the berth version information
    Version(system::VersionArgs),
    /// Display system-wide information
    Info(system::InfoArgs),
    /// List containers
    #[command(alias = "ls")]
    Ps(container_list::PsArgs),
    #[command(flatten)]
    Container(ContainerVerb),
    /// Return low-level information on berth objects
    Inspect(inspect::InspectArgs),
    /// Get real time events from the server
    Events(system::EventsArgs),
    /// Manage containers
    #[command(subcommand, name = "container")]
    ContainerGroup(ContainerCmd),
    /// Manage volumes
    #[command(subcommand)]
    Volume(volume::VolumeCmd),
    /// Manage networks
    #[command(subcommand)]
    Network(network::NetworkCmd),
    /// Manage images
    #[command(subcommand)]
    Image(image::ImageCmd),
    /// Build an image from a Dockerfile
    Build(crate::commands::image::build::Args),
    /// List images
    Images(image::ImagesArgs),
    /// Download an image from a registry
    Pull(image::PullArgs),
    /// Upload an image to a registry
    Push(image::PushArgs),
    /// Load an image from a tar archive or STDIN
    Load(image::LoadArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(image::SaveArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(image::ImportArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(image::TagArgs),
    /// Remove one or more images
    Rmi(image::RmiArgs),
    /// Manage berth
    #[command(subcommand)]
    System(system::SystemCmd),
    /// Log in to a registry
    Login(login::LoginArgs),
    /// Log out from a registry
    Logout(login::LogoutArgs),
}

/// The container verbs docker offers both at top level and under
/// `container` (`berth stop x` = `berth container stop x`).
#[derive(Subcommand)]
enum ContainerVerb {
    /// Create and run a new container from an image
    Run(container_create::RunArgs),
    /// Create a new container
    Create(container_create::RunArgs),
    /// Start one or more stopped containers
    Start(container_run::StartArgs),
    /// Stop one or more running containers
    Stop(container_lifecycle::StopArgs),
    /// Kill one or more running containers
    Kill(container_lifecycle::KillArgs),
    /// Restart one or more containers
    Restart(container_lifecycle::StopArgs),
    /// Remove one or more containers
    #[command(alias = "remove")]
    Rm(container_lifecycle::RmArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(container_run::AttachArgs),
    /// Update configuration of one or more containers
    Update(container_lifecycle::UpdateArgs),
    /// Fetch the logs of a container
    Logs(container_logs::LogsArgs),
    /// Execute a command in a running container
    Exec(container_exec::ExecArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(container_lifecycle::NamesArgs),
    /// Pause all processes within one or more containers
    Pause(container_lifecycle::NamesArgs),
    /// Unpause all processes within one or more containers
    Unpause(container_lifecycle::NamesArgs),
    /// Rename a container
    Rename(container_lifecycle::RenameArgs),
    /// Display the running processes of a container
    Top(container_info::TopArgs),
    /// List port mappings or a specific mapping for the container
    Port(container_info::PortArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(container_info::StatsArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(container_files::CpArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(container_info::DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(container_files::ExportArgs),
}

/// `berth container <verb>`: the shared verbs plus the group's own.
// Parsed once per process: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum ContainerCmd {
    /// List containers
    #[command(alias = "ps", alias = "list")]
    Ls(container_list::PsArgs),
    /// Display detailed information on one or more containers
    Inspect(container_lifecycle::ContainerInspectArgs),
    /// Remove all stopped containers
    Prune(container_lifecycle::PruneArgs),
    #[command(flatten)]
    Verb(ContainerVerb),
}

impl Cmd {
    /// docker's exit code for a failure of this verb (daemon errors, bad
    /// values): 125 for run/create, as docker's `run` does; 1 otherwise.
    fn failure_code(&self) -> i32 {
        if self.is_run_or_create() {
            125
        } else {
            1
        }
    }

    fn prefix(&self) -> &'static str {
        if self.is_run_or_create() {
            "berth: "
        } else {
            ""
        }
    }

    fn is_run_or_create(&self) -> bool {
        matches!(
            self,
            Cmd::Container(ContainerVerb::Run(_) | ContainerVerb::Create(_))
                | Cmd::ContainerGroup(ContainerCmd::Verb(
                    ContainerVerb::Run(_) | ContainerVerb::Create(_)
                ))
        )
    }
}

/// Whether a daemon answers on the socket these args and the environment
/// name: the image verbs then go through it, and run daemonless on the
/// image store otherwise. An explicit store (`--root`, `BERTH_IMAGE_ROOT`)
/// always means daemonless.
pub fn daemon_reachable(args: &[OsString]) -> bool {
    let explicit_root = args
        .iter()
        .filter_map(|a| a.to_str())
        .any(|a| a == "--root" || a.starts_with("--root="));
    if explicit_root || std::env::var_os("BERTH_IMAGE_ROOT").is_some() {
        return false;
    }
    let Ok(socket) = host::resolve(
        None,
        std::env::var("BERTH_HOST").ok().as_deref(),
        std::env::var("DOCKER_HOST").ok().as_deref(),
    ) else {
        return false;
    };
    std::os::unix::net::UnixStream::connect(socket).is_ok()
}

/// Entry point for `berth <verb> ...` (args include argv[0]).
pub fn main(args: Vec<OsString>) -> i32 {
    // `berth logs x | head` should end quietly, as docker (a Go program) does.
    // SAFETY: restoring SIGPIPE's default disposition before any thread
    // starts; no handler is installed.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 125,
                // docker: flag and argument errors exit 125.
                _ => 125,
            };
            let _ = e.print();
            return code;
        }
    };
    let socket = match host::resolve(
        cli.host.as_deref(),
        std::env::var("BERTH_HOST").ok().as_deref(),
        std::env::var("DOCKER_HOST").ok().as_deref(),
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return 125;
        }
    };
    let _ = (cli.debug, cli.log_level);
    let cx = Ctx {
        client: Client::new(socket),
    };
    let code = cli.cmd.failure_code();
    let prefix = cli.cmd.prefix();
    match dispatch(&cx, cli.cmd) {
        Ok(c) => c,
        Err(e) => report(&e, code, prefix),
    }
}

fn report(e: &anyhow::Error, default_code: i32, prefix: &str) -> i32 {
    if let Some(s) = e.downcast_ref::<StatusError>() {
        if !s.message.is_empty() {
            eprintln!("{prefix}{}", s.message);
        }
        return s.code;
    }
    if let Some(ClientError::Connect { .. }) = e.downcast_ref::<ClientError>() {
        eprintln!("{prefix}{e:#}");
        return default_code;
    }
    eprintln!("{prefix}{e:#}");
    default_code
}

fn dispatch(cx: &Ctx, cmd: Cmd) -> anyhow::Result<i32> {
    match cmd {
        Cmd::Version(a) => system::version(cx, a),
        Cmd::Info(a) => system::info(cx, a),
        Cmd::Ps(a) | Cmd::ContainerGroup(ContainerCmd::Ls(a)) => container_list::ps(cx, a),
        Cmd::Container(v) | Cmd::ContainerGroup(ContainerCmd::Verb(v)) => container_verb(cx, v),
        Cmd::ContainerGroup(ContainerCmd::Inspect(a)) => container_lifecycle::inspect(cx, a),
        Cmd::ContainerGroup(ContainerCmd::Prune(a)) => container_lifecycle::prune(cx, a),
        Cmd::Inspect(a) => inspect::inspect(cx, a),
        Cmd::Events(a) => system::events(cx, a),
        Cmd::Volume(c) => volume::dispatch(cx, c),
        Cmd::Network(c) => network::dispatch(cx, c),
        Cmd::Image(image::ImageCmd::Build(a)) | Cmd::Build(a) => build::run(cx, a),
        Cmd::Image(c) => image::dispatch(cx, c),
        Cmd::Images(a) => image::ls(cx, a),
        Cmd::Pull(a) => image::pull(cx, a),
        Cmd::Push(a) => image::push(cx, a),
        Cmd::Load(a) => image::load(cx, a),
        Cmd::Save(a) => image::save(cx, a),
        Cmd::Import(a) => image::import(cx, a),
        Cmd::Tag(a) => image::tag(cx, a),
        Cmd::Rmi(a) => image::rmi(cx, a),
        Cmd::System(c) => system::dispatch(cx, c),
        Cmd::Login(a) => login::login(cx, a),
        Cmd::Logout(a) => login::logout(a),
    }
}

fn container_verb(cx: &Ctx, verb: ContainerVerb) -> anyhow::Result<i32> {
    match verb {
        ContainerVerb::Run(a) => container_run::run(cx, a),
        ContainerVerb::Create(a) => container_run::create(cx, a),
        ContainerVerb::Start(a) => container_run::start(cx, a),
        ContainerVerb::Stop(a) => container_lifecycle::stop(cx, a, "stop"),
        ContainerVerb::Restart(a) => container_lifecycle::stop(cx, a, "restart"),
        ContainerVerb::Kill(a) => container_lifecycle::kill(cx, a),
        ContainerVerb::Rm(a) => container_lifecycle::rm(cx, a),
        ContainerVerb::Attach(a) => container_run::attach(cx, a),
        ContainerVerb::Update(a) => container_lifecycle::update(cx, a),
        ContainerVerb::Wait(a) => container_lifecycle::wait(cx, a),
        ContainerVerb::Pause(a) => container_lifecycle::simple(cx, a, "pause"),
        ContainerVerb::Unpause(a) => container_lifecycle::simple(cx, a, "unpause"),
        ContainerVerb::Rename(a) => container_lifecycle::rename(cx, a),
        ContainerVerb::Logs(a) => container_logs::logs(cx, a),
        ContainerVerb::Exec(a) => container_exec::exec(cx, a),
        ContainerVerb::Top(a) => container_info::top(cx, a),
        ContainerVerb::Port(a) => container_info::port(cx, a),
        ContainerVerb::Stats(a) => container_info::stats(cx, a),
        ContainerVerb::Diff(a) => container_info::diff(cx, a),
        ContainerVerb::Cp(a) => container_files::cp(cx, a),
        ContainerVerb::Export(a) => container_files::export(cx, a),
    }
}

/// Run `f` on each name, printing errors as docker does and carrying on;
/// the verb fails (exit 1) if any failed.
pub fn for_each_name(
    names: &[String],
    mut f: impl FnMut(&str) -> anyhow::Result<()>,
) -> anyhow::Result<i32> {
    let mut failed = false;
    for n in names {
        if let Err(e) = f(n) {
            eprintln!("{e:#}");
            failed = true;
        }
    }
    Ok(if failed { 1 } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("berth").chain(args.iter().copied()))
    }

    #[test]
    fn global_host_flag_comes_before_the_verb() {
        let c = parse(&["-H", "unix:///x.sock", "ps", "-a"]).unwrap();
        assert_eq!(c.host.as_deref(), Some("unix:///x.sock"));
        assert!(matches!(c.cmd, Cmd::Ps(_)));
    }

    #[test]
    fn unknown_verbs_and_flags_are_errors() {
        assert!(parse(&["frobnicate"]).is_err());
        assert!(parse(&["ps", "--frob"]).is_err());
    }

    #[test]
    fn container_group_maps_to_the_same_verbs() {
        let c = parse(&["container", "ls", "-a"]).unwrap();
        assert!(matches!(c.cmd, Cmd::ContainerGroup(ContainerCmd::Ls(_))));
        assert_eq!(
            parse(&["container", "run", "busybox"])
                .unwrap()
                .cmd
                .failure_code(),
            125
        );
        assert!(parse(&["container", "prune", "-f"]).is_ok());
    }

    #[test]
    fn run_and_create_fail_with_125() {
        let c = parse(&["run", "busybox"]).unwrap();
        assert_eq!(c.cmd.failure_code(), 125);
        let c = parse(&["rm", "x"]).unwrap();
        assert_eq!(c.cmd.failure_code(), 1);
    }
}
