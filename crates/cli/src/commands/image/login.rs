//! `login [-u USER] [-p PASS | --password-stdin] [SERVER]` and `logout [SERVER]`:
//! credentials in Docker's config.json.

use std::io::Read;

use berth_image::registry::{self, Credentials, RegistryOptions};

/// Log in to a registry.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// User name.
    #[arg(short = 'u', long)]
    pub username: String,
    /// Password (prefer --password-stdin).
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// Read the password from stdin.
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    /// A registry (host:port) to reach over plain HTTP.
    #[arg(long = "insecure-registry")]
    pub insecure: Vec<String>,
    /// The registry (default docker.io).
    #[arg(default_value = "docker.io")]
    pub server: String,
}

/// Log out of a registry.
#[derive(Debug, clap::Args)]
pub struct LogoutArgs {
    /// The registry (default docker.io).
    #[arg(default_value = "docker.io")]
    pub server: String,
}

pub fn run(a: Args) -> anyhow::Result<i32> {
    let password = match (a.password, a.password_stdin) {
        (Some(_), true) => anyhow::bail!("--password and --password-stdin are mutually exclusive"),
        (Some(p), false) => p,
        (None, true) => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            s.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) => anyhow::bail!("a password is needed: -p or --password-stdin"),
    };
    let opts = RegistryOptions {
        insecure_registries: a.insecure,
        ..RegistryOptions::default()
    };
    let server = host_of(&a.server);
    registry::login(
        &server,
        &Credentials {
            username: a.username,
            password,
        },
        &opts,
    )?;
    println!("Login Succeeded");
    Ok(0)
}

pub fn logout(a: LogoutArgs) -> anyhow::Result<i32> {
    let server = host_of(&a.server);
    registry::logout(&server, &RegistryOptions::default())?;
    println!("Removing login credentials for {server}");
    Ok(0)
}

/// `http://host:5000/` -> `host:5000`, as docker login accepts.
fn host_of(server: &str) -> String {
    server
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}
