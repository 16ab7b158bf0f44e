//! One query against the names its asker may see: a local answer, or
//! "forward it". Pure (no sockets), so every rule is unit-tested.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::DnsEntry;

/// Docker's TTL for container names.
const TTL: u32 = 600;
/// The UDP payload a client without EDNS accepts (RFC 1035).
const UDP_MIN: usize = 512;

/// What to do with one query.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Send these bytes back.
    Answer(Vec<u8>),
    /// Not a name of the asker's networks: ask the upstream resolvers.
    Forward,
    /// Not a query (or not parseable): say nothing.
    Drop,
}

/// A reply with no records and `code` (SERVFAIL, REFUSED, ...).
pub(super) fn failure(query: &[u8], code: ResponseCode) -> Option<Vec<u8>> {
    let q = Message::from_vec(query).ok()?;
    let mut m = reply_to(&q);
    m.set_response_code(code);
    m.to_vec().ok()
}

fn reply_to(q: &Message) -> Message {
    let mut m = Message::new();
    m.set_id(q.id())
        .set_message_type(MessageType::Response)
        .set_op_code(q.op_code())
        .set_recursion_desired(q.recursion_desired())
        .set_recursion_available(true)
        .set_response_code(ResponseCode::NoError);
    m.add_queries(q.queries().to_vec());
    m
}

/// The address of a full reverse name (`4.3.2.1.in-addr.arpa`, 32 nibbles
/// then `ip6.arpa`); `None` for anything else.
fn arpa_address(qname: &str) -> Option<IpAddr> {
    if let Some(rest) = qname.strip_suffix(".in-addr.arpa") {
        let mut octets: Vec<u8> = rest
            .split('.')
            .map(|l| l.parse::<u8>().ok())
            .collect::<Option<_>>()?;
        if octets.len() != 4 {
            return None;
        }
        octets.reverse();
        return Some(IpAddr::V4(Ipv4Addr::new(
            octets[0], octets[1], octets[2], octets[3],
        )));
    }
    let rest = qname.strip_suffix(".ip6.arpa")?;
    let nibbles: Vec<u32> = rest
        .split('.')
        .map(|l| {
            let mut c = l.chars();
            match (c.next(), c.next()) {
                (Some(d), None) => d.to_digit(16),
                _ => None,
            }
        })
        .collect::<Option<_>>()?;
    if nibbles.len() != 32 {
        return None;
    }
    let v = nibbles
        .iter()
        .rev()
        .fold(0u128, |acc, n| (acc << 4) | u128::from(*n));
    Some(IpAddr::V6(Ipv6Addr::from(v)))
}

/// The answer to `query` from container `asker`, seeing the entries of
/// the networks it is on (`nets`: entries by network name).
pub(super) fn answer(
    nets: &HashMap<String, Vec<DnsEntry>>,
    asker: &str,
    query: &[u8],
    tcp: bool,
) -> Outcome {
    let Ok(q) = Message::from_vec(query) else {
        return Outcome::Drop;
    };
    if q.message_type() != MessageType::Query {
        return Outcome::Drop;
    }
    let fail = |code| failure(query, code).map_or(Outcome::Drop, Outcome::Answer);
    let (Some(question), OpCode::Query, 1) = (q.queries().first(), q.op_code(), q.queries().len())
    else {
        return fail(ResponseCode::NotImp);
    };
    // The asker's networks: only their names resolve.
    let shared: Vec<(&String, &Vec<DnsEntry>)> = nets
        .iter()
        .filter(|(_, v)| v.iter().any(|e| e.container_id == asker))
        .collect();
    let Some(me) = shared
        .iter()
        .find_map(|(_, v)| v.iter().find(|e| e.container_id == asker))
    else {
        return fail(ResponseCode::Refused);
    };
    let qname = question.name().to_ascii().to_lowercase();
    let qname = qname.trim_end_matches('.');
    let mut m = reply_to(&q);
    m.set_authoritative(true);
    let qtype = question.query_type();
    if qtype == RecordType::PTR {
        let Some(ip) = arpa_address(qname) else {
            return Outcome::Forward;
        };
        let found = shared.iter().find_map(|(net, v)| {
            v.iter()
                .find(|e| IpAddr::V4(e.ip) == ip || e.ip6.map(IpAddr::V6) == Some(ip))
                .map(|e| (e, *net))
        });
        let Some((e, net)) = found else {
            return Outcome::Forward;
        };
        // As dockerd: `<container name>.<network>.`
        let Ok(target) = Name::from_ascii(format!("{}.{}.", e.name, net)) else {
            return fail(ResponseCode::ServFail);
        };
        m.add_answer(Record::from_rdata(
            question.name().clone(),
            TTL,
            RData::PTR(PTR(target)),
        ));
        return finish(m, &q, tcp);
    }
    // `name` and `name.<network>`, as dockerd.
    let bare = |net: &str| {
        qname
            .strip_suffix(&format!(".{}", net.to_lowercase()))
            .unwrap_or(qname)
            .to_owned()
    };
    let my_link = |v: &[DnsEntry], name: &str| {
        v.iter()
            .find(|e| e.container_id == asker)
            .and_then(|e| e.links.get(name).cloned())
    };
    let mut hits: Vec<&DnsEntry> = Vec::new();
    // The asker's link aliases first (dockerd's "local container alias").
    for (net, v) in &shared {
        if let Some(target) = my_link(v, &bare(net)) {
            hits.extend(v.iter().filter(|e| e.answers_to(&target)));
        }
    }
    if hits.is_empty() {
        for (net, v) in &shared {
            let name = bare(net);
            // One of its link aliases there is not a container name there.
            if my_link(v, &name).is_none() {
                hits.extend(v.iter().filter(|e| e.answers_to(&name)));
            }
        }
    }
    if hits.is_empty() {
        // A single label the resolver's search list will extend: with a
        // user-set ndots, dockerd answers "no data" instead of forwarding.
        let single = !qname.contains('.');
        if me.ndots_set && single && matches!(qtype, RecordType::A | RecordType::AAAA) {
            return finish(m, &q, tcp);
        }
        return Outcome::Forward;
    }
    let mut rdata: Vec<RData> = match qtype {
        RecordType::A => hits.iter().map(|e| RData::A(A(e.ip))).collect(),
        RecordType::AAAA => hits
            .iter()
            .filter_map(|e| e.ip6)
            .map(|ip| RData::AAAA(AAAA(ip)))
            .collect(),
        // Other types of a known name: no data (MX: "implicit MX").
        _ => Vec::new(),
    };
    rdata.sort_by_key(|r| r.to_string());
    rdata.dedup();
    for r in rdata {
        m.add_answer(Record::from_rdata(question.name().clone(), TTL, r));
    }
    finish(m, &q, tcp)
}

/// Encodes `m`, cut to what the client takes over UDP (it retries over
/// TCP on the truncated bit).
fn finish(m: Message, q: &Message, tcp: bool) -> Outcome {
    let Ok(bytes) = m.to_vec() else {
        return failure_of(q);
    };
    let limit = if tcp {
        usize::from(u16::MAX)
    } else {
        q.extensions()
            .as_ref()
            .map_or(UDP_MIN, |e| usize::from(e.max_payload()).max(UDP_MIN))
    };
    if bytes.len() <= limit {
        return Outcome::Answer(bytes);
    }
    m.truncate().to_vec().map_or(Outcome::Drop, Outcome::Answer)
}

fn failure_of(q: &Message) -> Outcome {
    let mut m = reply_to(q);
    m.set_response_code(ResponseCode::ServFail);
    m.to_vec().map_or(Outcome::Drop, Outcome::Answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;

    fn entry(id: &str, name: &str, aliases: &[&str], ip: [u8; 4]) -> DnsEntry {
        DnsEntry {
            container_id: id.repeat(64 / id.len()),
            name: name.into(),
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
            ip: Ipv4Addr::from(ip),
            ip6: None,
            dns: Vec::new(),
            netns: None,
            internal: false,
            ndots_set: false,
            links: Default::default(),
        }
    }

    fn nets(entries: Vec<(&str, DnsEntry)>) -> HashMap<String, Vec<DnsEntry>> {
        let mut map: HashMap<String, Vec<DnsEntry>> = HashMap::new();
        for (n, e) in entries {
            map.entry(n.to_owned()).or_default().push(e);
        }
        map
    }

    fn query(name: &str, t: RecordType) -> Vec<u8> {
        let mut m = Message::new();
        m.set_id(7).set_recursion_desired(true);
        m.add_query(Query::query(Name::from_ascii(name).expect("name"), t));
        m.to_vec().expect("encode")
    }

    fn reply(o: Outcome) -> Message {
        let Outcome::Answer(b) = o else {
            panic!("not answered here: {o:?}")
        };
        let m = Message::from_vec(&b).expect("decode");
        assert_eq!(m.id(), 7);
        m
    }

    fn ips(o: Outcome) -> Vec<Ipv4Addr> {
        reply(o)
            .answers()
            .iter()
            .filter_map(|r| match r.data() {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect()
    }

    fn sample() -> HashMap<String, Vec<DnsEntry>> {
        nets(vec![
            ("n1", entry("a", "web", &["www"], [10, 1, 0, 2])),
            ("n1", entry("b", "client", &[], [10, 1, 0, 3])),
            ("n2", entry("c", "hidden", &[], [10, 2, 0, 2])),
        ])
    }

    #[test]
    fn names_aliases_and_short_ids_of_the_askers_networks() {
        let n = sample();
        let me = "b".repeat(64);
        let web = [Ipv4Addr::new(10, 1, 0, 2)];
        assert_eq!(
            ips(answer(&n, &me, &query("web.", RecordType::A), false)),
            web
        );
        assert_eq!(
            ips(answer(&n, &me, &query("WWW", RecordType::A), false)),
            web
        );
        assert_eq!(
            ips(answer(
                &n,
                &me,
                &query("aaaaaaaaaaaa", RecordType::A),
                false
            )),
            web
        );
        assert_eq!(
            ips(answer(&n, &me, &query("web.n1", RecordType::A), true)),
            web
        );
        // A known name with no IPv6 address: no data, not forwarded.
        assert!(ips(answer(&n, &me, &query("web", RecordType::AAAA), false)).is_empty());
        // A name on a network the asker is not on is forwarded, not answered.
        assert!(matches!(
            answer(&n, &me, &query("hidden", RecordType::A), false),
            Outcome::Forward
        ));
        // An asker the resolver does not know is refused.
        let r = reply(answer(&n, "nobody", &query("web", RecordType::A), false));
        assert_eq!(r.response_code(), ResponseCode::Refused);
    }

    #[test]
    fn reverse_names_of_shared_networks_only() {
        let mut n = sample();
        if let Some(v) = n.get_mut("n1") {
            v[0].ip6 = Some("fd00::2".parse().expect("v6"));
        }
        let me = "b".repeat(64);
        let ptr = |o: Outcome| -> Vec<String> {
            reply(o)
                .answers()
                .iter()
                .filter_map(|r| match r.data() {
                    RData::PTR(p) => Some(p.0.to_ascii()),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(
            ptr(answer(
                &n,
                &me,
                &query("2.0.1.10.in-addr.arpa.", RecordType::PTR),
                false
            )),
            ["web.n1."]
        );
        let v6 = "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.";
        assert_eq!(
            ptr(answer(&n, &me, &query(v6, RecordType::PTR), false)),
            ["web.n1."]
        );
        // Another network's address, or an unknown one: upstream's to say.
        for other in [
            "2.0.2.10.in-addr.arpa.",
            "9.9.9.9.in-addr.arpa.",
            "1.10.in-addr.arpa.",
        ] {
            assert!(
                matches!(
                    answer(&n, &me, &query(other, RecordType::PTR), false),
                    Outcome::Forward
                ),
                "{other}"
            );
        }
    }

    #[test]
    fn link_aliases_resolve_for_the_linker_only() {
        let mut n = sample();
        if let Some(v) = n.get_mut("n1") {
            v[1].links.insert("db".into(), "web".into());
            // An alias shadows a container of that name for the linker.
            v[1].links.insert("www".into(), "client".into());
        }
        let me = "b".repeat(64);
        let web = [Ipv4Addr::new(10, 1, 0, 2)];
        assert_eq!(
            ips(answer(&n, &me, &query("db", RecordType::A), false)),
            web
        );
        assert_eq!(
            ips(answer(&n, &me, &query("db.n1.", RecordType::A), false)),
            web
        );
        assert_eq!(
            ips(answer(&n, &me, &query("www", RecordType::A), false)),
            [Ipv4Addr::new(10, 1, 0, 3)]
        );
        // Another container on the network does not see the alias.
        let other = "a".repeat(64);
        assert!(matches!(
            answer(&n, &other, &query("db", RecordType::A), false),
            Outcome::Forward
        ));
        // An alias for a container not (yet) on the network: not answered here.
        if let Some(v) = n.get_mut("n1") {
            v[1].links.insert("later".into(), "upstream".into());
        }
        assert!(matches!(
            answer(&n, &me, &query("later", RecordType::A), false),
            Outcome::Forward
        ));
    }

    #[test]
    fn user_ndots_keeps_single_labels_local() {
        let mut n = sample();
        if let Some(v) = n.get_mut("n1") {
            v[1].ndots_set = true;
        }
        let me = "b".repeat(64);
        let r = reply(answer(&n, &me, &query("nosuch", RecordType::A), false));
        assert_eq!(r.response_code(), ResponseCode::NoError);
        assert!(r.answers().is_empty());
        assert!(matches!(
            answer(&n, &me, &query("nosuch.example", RecordType::A), false),
            Outcome::Forward
        ));
    }

    #[test]
    fn big_udp_answers_are_truncated() {
        let mut entries = Vec::new();
        for i in 0..60u8 {
            entries.push((
                "n1",
                entry(
                    &format!("{i:02}"),
                    &format!("c{i}"),
                    &["many"],
                    [10, 1, 1, i],
                ),
            ));
        }
        let n = nets(entries);
        let me = "00".repeat(32);
        let udp = reply(answer(&n, &me, &query("many", RecordType::A), false));
        assert!(udp.truncated() && udp.answers().is_empty());
        assert_eq!(
            ips(answer(&n, &me, &query("many", RecordType::A), true)).len(),
            60
        );
    }

    #[test]
    fn arpa_names_parse() {
        assert_eq!(
            arpa_address("4.3.2.1.in-addr.arpa"),
            Some("1.2.3.4".parse().expect("ip"))
        );
        assert_eq!(arpa_address("x.3.2.1.in-addr.arpa"), None);
        assert_eq!(arpa_address("1.ip6.arpa"), None);
    }
}
