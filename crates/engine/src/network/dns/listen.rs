//! The resolver's sockets in a container's netns: UDP and TCP on
//! 127.0.0.11:53 (Docker's address), made from a short-lived thread that
//! joined the netns (sockets stay in the netns they were made in), then
//! served by the resolver's runtime with the container as the scope.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use berth_net::NetNs;
use hickory_proto::op::ResponseCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::watch;

use super::answer::{failure, Outcome};
use super::forward::{forward, Upstream};
use super::Shared;

/// Docker's embedded DNS address.
pub const RESOLVER_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);
/// An idle TCP client is dropped after this (RFC 7766 suggests seconds).
const TCP_IDLE: Duration = Duration::from_secs(10);

/// Runs `f` on a new thread that joined `ns`; the thread ends with `f`.
pub(super) fn on_thread_in<T, F>(ns: &NetNs, f: F) -> std::io::Result<T>
where
    T: Send,
    F: FnOnce() -> std::io::Result<T> + Send,
{
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("berth-dns-netns".into())
            .spawn_scoped(s, || ns.run_in(f).map_err(std::io::Error::other))?
            .join()
            .map_err(|_| std::io::Error::other("netns thread panicked"))?
    })?
}

/// Binds UDP and TCP 127.0.0.11:53 in `ns`. A listener closed a moment
/// ago in the same netns (disconnect then connect) may still hold the
/// port while its task winds down: retried briefly.
pub(super) fn bind_in(ns: &NetNs) -> std::io::Result<(std::net::UdpSocket, std::net::TcpListener)> {
    let at = SocketAddr::from((RESOLVER_ADDR, 53));
    let mut tries = 0;
    loop {
        let r = on_thread_in(ns, || {
            let u = std::net::UdpSocket::bind(at)?;
            // std sets SO_REUSEADDR on TCP listeners.
            let t = std::net::TcpListener::bind(at)?;
            u.set_nonblocking(true)?;
            t.set_nonblocking(true)?;
            Ok((u, t))
        });
        match r {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tries < 20 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            r => return r,
        }
    }
}

/// One container's view of the resolver.
pub(super) struct Scope {
    pub container_id: String,
    pub shared: Arc<Shared>,
    pub netns: Arc<NetNs>,
}

enum Step {
    Reply(Vec<u8>),
    Forward(Vec<Upstream>),
    Nothing,
}

impl Scope {
    fn step(&self, query: &[u8], tcp: bool) -> Step {
        let nets = self
            .shared
            .entries
            .read()
            .unwrap_or_else(|p| p.into_inner());
        match super::answer::answer(&nets, &self.container_id, query, tcp) {
            Outcome::Answer(b) => Step::Reply(b),
            Outcome::Drop => Step::Nothing,
            Outcome::Forward => {
                let mine = nets
                    .values()
                    .flatten()
                    .filter(|e| e.container_id == self.container_id);
                let (mut dns, mut external) = (Vec::new(), false);
                for e in mine {
                    external |= !e.internal;
                    if dns.is_empty() {
                        dns.clone_from(&e.dns);
                    }
                }
                let ups: Vec<Upstream> = if !dns.is_empty() {
                    dns.iter()
                        .map(|ip| Upstream {
                            addr: SocketAddr::new(*ip, 53),
                            from_container: true,
                        })
                        .collect()
                } else if external {
                    // Only a container with a way out may make the daemon
                    // ask for it (dockerd: none for --internal networks).
                    self.shared
                        .upstream
                        .iter()
                        .map(|a| Upstream {
                            addr: *a,
                            from_container: false,
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                if ups.is_empty() {
                    failure(query, ResponseCode::ServFail).map_or(Step::Nothing, Step::Reply)
                } else {
                    Step::Forward(ups)
                }
            }
        }
    }

    /// The reply to `query`, forwarding if need be (SERVFAIL when no
    /// upstream answers, REFUSED when too many forwards are in flight).
    async fn resolve(&self, query: &[u8], tcp: bool) -> Option<Vec<u8>> {
        match self.step(query, tcp) {
            Step::Reply(b) => Some(b),
            Step::Nothing => None,
            Step::Forward(ups) => {
                let Ok(_permit) = self.shared.forwards.try_acquire() else {
                    return failure(query, ResponseCode::Refused);
                };
                match forward(query, tcp, &ups, &self.netns).await {
                    Some(b) => Some(b),
                    None => failure(query, ResponseCode::ServFail),
                }
            }
        }
    }
}

pub(super) async fn serve_udp(
    sock: std::net::UdpSocket,
    scope: Arc<Scope>,
    mut stop: watch::Receiver<bool>,
) {
    let sock = match UdpSocket::from_std(sock) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            tracing::warn!(container = %scope.container_id, "dns: udp socket: {e}");
            return;
        }
    };
    let mut buf = vec![0u8; 65535];
    loop {
        let (n, from) = tokio::select! {
            r = sock.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::debug!(container = %scope.container_id, "dns: receiving: {e}");
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let query = &buf[..n];
        match scope.step(query, false) {
            Step::Reply(b) => {
                let _ = sock.send_to(&b, from).await;
            }
            Step::Nothing => {}
            Step::Forward(_) => {
                // The forward waits on another resolver: not on this loop.
                let (q, s, sc) = (query.to_vec(), sock.clone(), scope.clone());
                tokio::spawn(async move {
                    if let Some(b) = sc.resolve(&q, false).await {
                        let _ = s.send_to(&b, from).await;
                    }
                });
            }
        }
    }
}

pub(super) async fn serve_tcp(
    l: std::net::TcpListener,
    scope: Arc<Scope>,
    mut stop: watch::Receiver<bool>,
) {
    let l = match TcpListener::from_std(l) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(container = %scope.container_id, "dns: tcp listener: {e}");
            return;
        }
    };
    loop {
        tokio::select! {
            r = l.accept() => match r {
                Ok((s, _)) => {
                    tokio::spawn(serve_conn(s, scope.clone(), stop.clone()));
                }
                Err(e) => {
                    tracing::debug!(container = %scope.container_id, "dns: accepting: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            _ = stop.changed() => return,
        }
    }
}

/// Length-prefixed messages (RFC 1035 4.2.2), one after another.
async fn serve_conn(mut s: TcpStream, scope: Arc<Scope>, mut stop: watch::Receiver<bool>) {
    loop {
        let read = async {
            let mut l = [0u8; 2];
            s.read_exact(&mut l).await?;
            let mut q = vec![0u8; usize::from(u16::from_be_bytes(l))];
            s.read_exact(&mut q).await?;
            Ok::<_, std::io::Error>(q)
        };
        let q = tokio::select! {
            r = tokio::time::timeout(TCP_IDLE, read) => match r {
                Ok(Ok(q)) => q,
                _ => return,
            },
            _ = stop.changed() => return,
        };
        let Some(reply) = scope.resolve(&q, true).await else {
            continue;
        };
        let Ok(len) = u16::try_from(reply.len()) else {
            return;
        };
        let mut framed = len.to_be_bytes().to_vec();
        framed.extend_from_slice(&reply);
        if s.write_all(&framed).await.is_err() {
            return;
        }
    }
}
