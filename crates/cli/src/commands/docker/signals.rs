//! While attached: signals berth receives go to the container (docker's
//! `--sig-proxy`, without a tty), and terminal size changes become resize
//! calls (with a tty). A dedicated thread `sigwait`s for them, so no
//! handler runs in signal context.

use nix::sys::signal::{SigSet, Signal};

use crate::client::{tty, Client, NO_BODY};

/// What the forwarded signals act on.
pub enum Target {
    Container(String),
    Exec(String),
}

impl Target {
    fn resize_path(&self) -> String {
        match self {
            Target::Container(id) => format!("/containers/{id}/resize"),
            Target::Exec(id) => format!("/exec/{id}/resize"),
        }
    }
}

/// Signals forwarded to the container (what a user sends to a foreground
/// `docker run`).
const PROXIED: &[Signal] = &[
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGQUIT,
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// Block the signals in this thread (and so in every thread started after
/// it) and start the thread that handles them. Call before starting the
/// attach threads.
pub fn start(client: &Client, target: Target, proxy: bool, tty_mode: bool) -> nix::Result<()> {
    let mut set = SigSet::empty();
    if tty_mode {
        set.add(Signal::SIGWINCH);
    }
    // Exec processes cannot be signalled through the API.
    let proxy = proxy && !tty_mode && matches!(target, Target::Container(_));
    if proxy {
        for s in PROXIED {
            set.add(*s);
        }
    }
    if set.iter().next().is_none() {
        return Ok(());
    }
    set.thread_block()?;
    let client = client.with_headers(client.extra_headers.clone());
    std::thread::spawn(move || loop {
        let Ok(sig) = set.wait() else { return };
        match sig {
            Signal::SIGWINCH => {
                if let Some((h, w)) = tty::window_size() {
                    let _ = client.post(
                        &target.resize_path(),
                        &[("h", h.to_string()), ("w", w.to_string())],
                        NO_BODY,
                    );
                }
            }
            other => {
                if let Target::Container(id) = &target {
                    let _ = client.post(
                        &format!("/containers/{id}/kill"),
                        &[("signal", other.as_str().to_owned())],
                        NO_BODY,
                    );
                }
            }
        }
    });
    Ok(())
}
