//! Queries the resolver cannot answer, sent on to upstream resolvers over
//! the transport the client used (UDP or TCP). As dockerd: the host's
//! resolvers are asked from the daemon's netns, a container's `--dns`
//! servers from the container's own netns (so a server on its network,
//! or on its 127.0.0.1, works); SERVFAIL and REFUSED move on to the next.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use berth_net::NetNs;
use hickory_proto::op::{Message, ResponseCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// dockerd's: per upstream and exchange.
pub(super) const TIMEOUT: Duration = Duration::from_secs(4);
/// At most this many upstreams are tried.
const MAX_UPSTREAMS: usize = 3;

/// One upstream resolver and where it is reached from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Upstream {
    pub addr: SocketAddr,
    /// From the asking container's netns (its `--dns`), not the daemon's.
    pub from_container: bool,
}

fn unspecified(of: &SocketAddr) -> SocketAddr {
    let ip = if of.is_ipv4() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    };
    SocketAddr::new(ip, 0)
}

/// Runs `f` on a short-lived thread inside `ns` (a socket made there stays
/// in that netns), off the async workers.
async fn in_netns<T, F>(ns: Arc<NetNs>, f: F) -> std::io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> std::io::Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(move || super::listen::on_thread_in(&ns, f))
        .await
        .map_err(std::io::Error::other)?
}

async fn udp_socket(up: &Upstream, ns: &Arc<NetNs>) -> std::io::Result<UdpSocket> {
    let bind = unspecified(&up.addr);
    let std = if up.from_container {
        in_netns(ns.clone(), move || std::net::UdpSocket::bind(bind)).await?
    } else {
        std::net::UdpSocket::bind(bind)?
    };
    std.set_nonblocking(true)?;
    UdpSocket::from_std(std)
}

async fn tcp_stream(up: &Upstream, ns: &Arc<NetNs>) -> std::io::Result<TcpStream> {
    if !up.from_container {
        return tokio::time::timeout(TIMEOUT, TcpStream::connect(up.addr))
            .await
            .map_err(|_| std::io::ErrorKind::TimedOut)?;
    }
    let addr = up.addr;
    let std = in_netns(ns.clone(), move || {
        std::net::TcpStream::connect_timeout(&addr, TIMEOUT)
    })
    .await?;
    std.set_nonblocking(true)?;
    TcpStream::from_std(std)
}

async fn exchange_udp(query: &[u8], id: u16, up: &Upstream, ns: &Arc<NetNs>) -> Option<Vec<u8>> {
    let s = udp_socket(up, ns).await.ok()?;
    s.connect(up.addr).await.ok()?;
    s.send(query).await.ok()?;
    let mut buf = vec![0u8; 65535];
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let n = tokio::time::timeout_at(deadline, s.recv(&mut buf))
            .await
            .ok()?
            .ok()?;
        // A stray datagram (another id) is not the answer.
        if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
            buf.truncate(n);
            return Some(buf);
        }
    }
}

async fn exchange_tcp(query: &[u8], up: &Upstream, ns: &Arc<NetNs>) -> Option<Vec<u8>> {
    let len = u16::try_from(query.len()).ok()?;
    let mut s = tcp_stream(up, ns).await.ok()?;
    let io = async {
        let mut framed = len.to_be_bytes().to_vec();
        framed.extend_from_slice(query);
        s.write_all(&framed).await?;
        let mut l = [0u8; 2];
        s.read_exact(&mut l).await?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(l))];
        s.read_exact(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    };
    tokio::time::timeout(TIMEOUT, io).await.ok()?.ok()
}

/// The first good upstream reply to `query`, or `None` (the caller
/// answers SERVFAIL).
pub(super) async fn forward(
    query: &[u8],
    tcp: bool,
    upstream: &[Upstream],
    ns: &Arc<NetNs>,
) -> Option<Vec<u8>> {
    let id = u16::from_be_bytes([*query.first()?, *query.get(1)?]);
    for up in upstream.iter().take(MAX_UPSTREAMS) {
        let reply = if tcp {
            exchange_tcp(query, up, ns).await
        } else {
            exchange_udp(query, id, up, ns).await
        };
        let Some(reply) = reply else {
            tracing::debug!(upstream = %up.addr, tcp, "dns: no answer from upstream");
            continue;
        };
        match Message::from_vec(&reply).map(|m| m.response_code()) {
            Ok(ResponseCode::ServFail | ResponseCode::Refused) | Err(_) => continue,
            Ok(_) => return Some(reply),
        }
    }
    None
}
