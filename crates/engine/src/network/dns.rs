//! The embedded DNS server of user-defined bridge networks: one server in
//! berthd (not a process per network), answering on each network's gateway
//! address, port 53 (UDP), which containers get as their nameserver.
//!
//! It answers A queries for the container names, network aliases and short
//! ids of the containers on the asking container's networks (and only
//! those: the asker is known by its source address on the network the query
//! arrived on; other sources are refused), AAAA with no address (the
//! networks are IPv4 only), and forwards everything else, unchanged, to the
//! container's `--dns` servers or else the daemon's upstream resolvers
//! (none for `--internal` networks, as dockerd). Messages are parsed and
//! written with hickory-proto.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{RData, Record, RecordType};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Docker's TTL for container names.
const TTL: u32 = 600;
const FORWARD_TIMEOUT: Duration = Duration::from_secs(3);

/// One container on one network, as the resolver knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsEntry {
    pub container_id: String,
    pub name: String,
    pub aliases: Vec<String>,
    pub ip: Ipv4Addr,
    /// Its IPv6 address on an IPv6 network (AAAA answers).
    #[serde(default)]
    pub ip6: Option<Ipv6Addr>,
    /// The container's `--dns` servers (where its other queries go).
    pub dns: Vec<IpAddr>,
}

impl DnsEntry {
    /// Whether `name` (lower case, no trailing dot) is this container's.
    fn answers_to(&self, name: &str) -> bool {
        let short = &self.container_id[..12.min(self.container_id.len())];
        self.name.eq_ignore_ascii_case(name)
            || short == name
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }
}

struct Listener {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Shared {
    /// Entries by network name.
    entries: RwLock<HashMap<String, Vec<DnsEntry>>>,
    upstream: Vec<SocketAddr>,
}

/// The daemon's resolver.
pub struct Dns {
    shared: Arc<Shared>,
    listeners: Mutex<HashMap<String, Listener>>,
}

/// The nameservers of a resolv.conf text, as socket addresses.
pub fn nameservers(resolv_conf: &str) -> Vec<SocketAddr> {
    resolv_conf
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

impl Dns {
    pub fn new(upstream: Vec<SocketAddr>) -> Dns {
        Dns {
            shared: Arc::new(Shared {
                entries: RwLock::new(HashMap::new()),
                upstream,
            }),
            listeners: Mutex::new(HashMap::new()),
        }
    }

    /// Answers on `gateway:53` for `network` (idempotent).
    pub fn serve(
        &self,
        network: &str,
        gateway: IpAddr,
        subnet: IpNet,
        internal: bool,
    ) -> std::io::Result<()> {
        let mut l = self.listeners.lock().unwrap_or_else(|p| p.into_inner());
        if l.contains_key(network) {
            return Ok(());
        }
        let sock = UdpSocket::bind(SocketAddr::new(gateway, 53))?;
        // Wakes up to notice a stop.
        sock.set_read_timeout(Some(Duration::from_millis(500)))?;
        let stop = Arc::new(AtomicBool::new(false));
        let ctx = NetCtx {
            network: network.to_owned(),
            subnet,
            internal,
            shared: self.shared.clone(),
        };
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("dns-{network}"))
            .spawn(move || serve_loop(sock, ctx, flag))?;
        l.insert(
            network.to_owned(),
            Listener {
                stop,
                thread: Some(thread),
            },
        );
        Ok(())
    }

    /// Stops answering for `network` and forgets its entries.
    pub fn stop(&self, network: &str) {
        let listener = self
            .listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(network);
        if let Some(mut l) = listener {
            l.stop.store(true, Ordering::Relaxed);
            if let Some(t) = l.thread.take() {
                let _ = t.join();
            }
        }
        self.entries_mut().remove(network);
    }

    fn entries_mut(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Vec<DnsEntry>>> {
        self.shared
            .entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
    }

    pub fn add(&self, network: &str, entry: DnsEntry) {
        let mut e = self.entries_mut();
        let v = e.entry(network.to_owned()).or_default();
        v.retain(|x| x.container_id != entry.container_id);
        v.push(entry);
    }

    pub fn remove(&self, network: &str, container_id: &str) {
        if let Some(v) = self.entries_mut().get_mut(network) {
            v.retain(|x| x.container_id != container_id);
        }
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        let names: Vec<String> = self
            .listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        for n in names {
            self.stop(&n);
        }
    }
}

struct NetCtx {
    network: String,
    subnet: IpNet,
    internal: bool,
    shared: Arc<Shared>,
}

fn serve_loop(sock: UdpSocket, ctx: NetCtx, stop: Arc<AtomicBool>) {
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => {
                tracing::warn!(network = %ctx.network, "dns: receiving: {e}");
                continue;
            }
        };
        let query = &buf[..n];
        match answer(&ctx, query, from.ip()) {
            Reply::Now(bytes) => {
                let _ = sock.send_to(&bytes, from);
            }
            Reply::Forward(upstream) => {
                // The forward waits on another resolver: not on this loop.
                let (query, reply_sock) = (query.to_vec(), sock.try_clone());
                if let Ok(reply_sock) = reply_sock {
                    let _ = std::thread::Builder::new()
                        .name("dns-forward".into())
                        .spawn(move || {
                            let bytes = forward(&query, &upstream)
                                .or_else(|| failure(&query, ResponseCode::ServFail));
                            if let Some(b) = bytes {
                                let _ = reply_sock.send_to(&b, from);
                            }
                        });
                }
            }
            Reply::Drop => {}
        }
    }
}

enum Reply {
    Now(Vec<u8>),
    Forward(Vec<SocketAddr>),
    Drop,
}

fn failure(query: &[u8], code: ResponseCode) -> Option<Vec<u8>> {
    let q = Message::from_vec(query).ok()?;
    let mut m = Message::new();
    m.set_id(q.id())
        .set_message_type(MessageType::Response)
        .set_op_code(q.op_code())
        .set_recursion_desired(q.recursion_desired())
        .set_recursion_available(true)
        .set_response_code(code);
    m.add_queries(q.queries().to_vec());
    m.to_vec().ok()
}

/// The answer to one query from `src`, or where to forward it.
fn answer(ctx: &NetCtx, query: &[u8], src: IpAddr) -> Reply {
    let Ok(q) = Message::from_vec(query) else {
        return Reply::Drop;
    };
    if q.message_type() != MessageType::Query {
        return Reply::Drop;
    }
    let refuse = |code| failure(query, code).map_or(Reply::Drop, Reply::Now);
    // Only the network's own containers may ask (another network's
    // container can route to this gateway address, but must learn nothing).
    if !ctx.subnet.contains(&src) {
        return refuse(ResponseCode::Refused);
    }
    let entries = ctx.shared.entries.read().unwrap_or_else(|p| p.into_inner());
    let asker = entries
        .get(&ctx.network)
        .and_then(|v| v.iter().find(|e| IpAddr::V4(e.ip) == src))
        .cloned();
    let Some(asker) = asker else {
        return refuse(ResponseCode::Refused);
    };
    let (Some(question), OpCode::Query, 1) = (q.queries().first(), q.op_code(), q.queries().len())
    else {
        return refuse(ResponseCode::NotImp);
    };
    let qname = question.name().to_ascii().to_lowercase();
    let qname = qname.trim_end_matches('.');
    // The asker's networks: a name on any of them resolves.
    let mut hits: Vec<&DnsEntry> = Vec::new();
    for (net, v) in entries.iter() {
        if !v.iter().any(|e| e.container_id == asker.container_id) {
            continue;
        }
        // `name` and `name.<network>`, as dockerd.
        let bare = qname
            .strip_suffix(&format!(".{}", net.to_lowercase()))
            .unwrap_or(qname);
        hits.extend(v.iter().filter(|e| e.answers_to(bare)));
    }
    let v4: Vec<Ipv4Addr> = hits.iter().map(|e| e.ip).collect();
    let v6: Vec<Ipv6Addr> = hits.iter().filter_map(|e| e.ip6).collect();
    drop(entries);
    if v4.is_empty() && v6.is_empty() {
        if ctx.internal {
            return refuse(ResponseCode::ServFail);
        }
        let upstream = if asker.dns.is_empty() {
            ctx.shared.upstream.clone()
        } else {
            asker
                .dns
                .iter()
                .map(|ip| SocketAddr::new(*ip, 53))
                .collect()
        };
        if upstream.is_empty() {
            return refuse(ResponseCode::ServFail);
        }
        return Reply::Forward(upstream);
    }
    let mut m = Message::new();
    m.set_id(q.id())
        .set_message_type(MessageType::Response)
        .set_op_code(OpCode::Query)
        .set_authoritative(true)
        .set_recursion_desired(q.recursion_desired())
        .set_recursion_available(true)
        .set_response_code(ResponseCode::NoError);
    m.add_query(question.clone());
    let rdata: Vec<RData> = match question.query_type() {
        RecordType::A => v4.into_iter().map(|ip| RData::A(A(ip))).collect(),
        RecordType::AAAA => v6.into_iter().map(|ip| RData::AAAA(AAAA(ip))).collect(),
        // Other types of a known name: no data.
        _ => Vec::new(),
    };
    let mut rdata = rdata;
    rdata.sort_by_key(|r| r.to_string());
    rdata.dedup();
    for r in rdata {
        m.add_answer(Record::from_rdata(question.name().clone(), TTL, r));
    }
    m.to_vec().map_or(Reply::Drop, Reply::Now)
}

/// Sends the query to each upstream in turn; the first reply wins.
fn forward(query: &[u8], upstream: &[SocketAddr]) -> Option<Vec<u8>> {
    for up in upstream {
        let bind: SocketAddr = if up.is_ipv4() {
            "0.0.0.0:0".parse().ok()?
        } else {
            "[::]:0".parse().ok()?
        };
        let Ok(s) = UdpSocket::bind(bind) else {
            continue;
        };
        if s.set_read_timeout(Some(FORWARD_TIMEOUT)).is_err() || s.connect(up).is_err() {
            continue;
        }
        if s.send(query).is_err() {
            continue;
        }
        let mut buf = vec![0u8; 4096];
        if let Ok(n) = s.recv(&mut buf) {
            buf.truncate(n);
            return Some(buf);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;
    use hickory_proto::rr::Name;

    fn ctx(entries: Vec<(&str, DnsEntry)>) -> NetCtx {
        let mut map: HashMap<String, Vec<DnsEntry>> = HashMap::new();
        for (n, e) in entries {
            map.entry(n.to_owned()).or_default().push(e);
        }
        NetCtx {
            network: "n1".into(),
            subnet: "10.1.0.0/24".parse().expect("net"),
            internal: false,
            shared: Arc::new(Shared {
                entries: RwLock::new(map),
                upstream: vec!["10.9.9.9:53".parse().expect("addr")],
            }),
        }
    }

    fn entry(id: &str, name: &str, aliases: &[&str], ip: [u8; 4]) -> DnsEntry {
        DnsEntry {
            container_id: id.repeat(64 / id.len()),
            name: name.into(),
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
            ip: Ipv4Addr::from(ip),
            ip6: None,
            dns: Vec::new(),
        }
    }

    fn query(name: &str, t: RecordType) -> Vec<u8> {
        let mut m = Message::new();
        m.set_id(7).set_recursion_desired(true);
        m.add_query(Query::query(Name::from_ascii(name).expect("name"), t));
        m.to_vec().expect("encode")
    }

    fn ips(r: Reply) -> Vec<Ipv4Addr> {
        let Reply::Now(b) = r else {
            panic!("not answered here")
        };
        let m = Message::from_vec(&b).expect("decode");
        assert_eq!(m.id(), 7);
        m.answers()
            .iter()
            .filter_map(|r| match r.data() {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn names_aliases_and_short_ids_of_the_askers_networks() {
        let c = ctx(vec![
            ("n1", entry("a", "web", &["www"], [10, 1, 0, 2])),
            ("n1", entry("b", "client", &[], [10, 1, 0, 3])),
            ("n2", entry("c", "hidden", &[], [10, 2, 0, 2])),
        ]);
        let src: IpAddr = "10.1.0.3".parse().expect("ip");
        assert_eq!(
            ips(answer(&c, &query("web.", RecordType::A), src)),
            [Ipv4Addr::new(10, 1, 0, 2)]
        );
        assert_eq!(
            ips(answer(&c, &query("WWW", RecordType::A), src)),
            [Ipv4Addr::new(10, 1, 0, 2)]
        );
        assert_eq!(
            ips(answer(&c, &query("aaaaaaaaaaaa", RecordType::A), src)).len(),
            1
        );
        assert_eq!(
            ips(answer(&c, &query("web.n1", RecordType::A), src)).len(),
            1
        );
        assert!(ips(answer(&c, &query("web", RecordType::AAAA), src)).is_empty());
        // A name on a network the asker is not on is forwarded, not answered.
        assert!(matches!(
            answer(&c, &query("hidden", RecordType::A), src),
            Reply::Forward(_)
        ));
        // Strangers are refused.
        let Reply::Now(b) = answer(
            &c,
            &query("web", RecordType::A),
            "10.2.0.2".parse().expect("ip"),
        ) else {
            panic!("no reply")
        };
        assert_eq!(
            Message::from_vec(&b).expect("decode").response_code(),
            ResponseCode::Refused
        );
    }

    #[test]
    fn resolv_conf_nameservers() {
        assert_eq!(
            nameservers("# x\nnameserver 10.0.0.1\nsearch a\nnameserver ::1\n"),
            [
                "10.0.0.1:53".parse::<SocketAddr>().expect("a"),
                "[::1]:53".parse().expect("b")
            ]
        );
    }
}
