//! Docker's legacy container links (`--link NAME[:ALIAS]`).
//!
//! On the default bridge (and `none`), a link is registered at create: the
//! linker (parent) records the linked container (child) and the alias, and
//! the child answers to the link name `/<parent>/<alias>` (in lookups, in
//! its list entry's Names, in the name filter) until `rm --link` or either
//! container goes. At the parent's start the child must be running on the
//! bridge: the parent's /etc/hosts gets `IP\talias hostname [name]` and its
//! environment the `ALIAS_PORT*`, `ALIAS_NAME` and `ALIAS_ENV_*` variables
//! (as dockerd 28 sets them). When a child starts again, running parents'
//! /etc/hosts follow its new address.
//!
//! On a user-defined network mode nothing is registered: the links are the
//! endpoint's (`EndpointSettings.Links`), aliases only the linker's embedded
//! DNS resolves (see `network::dns`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use berth_net::firewall::{IccOpening, Protocol};

use super::record::{ContainerRecord, Status};
use crate::error::{EngineError, Result};
use crate::network::NetworkMode;
use crate::{lock, Engine};

/// One legacy link of a parent container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRecord {
    /// The linked container's full id.
    pub child_id: String,
    /// Its name when linked (without '/'), for messages once it is gone.
    pub child_name: String,
    /// The alias the parent knows it by (the link name is `/<parent>/<alias>`).
    pub alias: String,
}

impl LinkRecord {
    /// `/<parent>/<alias>`.
    pub fn name(&self, parent: &str) -> String {
        format!("/{parent}/{}", self.alias)
    }
}

/// `NAME[:ALIAS]` as dockerd reads it: (name, alias). The stored form of
/// an inspected container (`/name:/parent/alias`) reads back too.
pub fn parse(link: &str) -> Result<(String, String)> {
    if link.is_empty() {
        return Err(EngineError::Invalid(
            "empty string specified for links".into(),
        ));
    }
    let parts: Vec<&str> = link.split(':').collect();
    match parts[..] {
        [name] => Ok((name.to_owned(), name.to_owned())),
        [name, alias] => match name.strip_prefix('/') {
            Some(bare) => Ok((
                bare.to_owned(),
                alias.rsplit('/').next().unwrap_or(alias).to_owned(),
            )),
            None => Ok((name.to_owned(), alias.to_owned())),
        },
        _ => Err(EngineError::Invalid(format!(
            "bad format for links: {link}"
        ))),
    }
}

/// A port of `Config.ExposedPorts` (`80/tcp`, `53/udp`, `8080`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Port {
    num: u32,
    proto: String,
}

fn ports(exposed: &[String]) -> Vec<Port> {
    let mut out: Vec<Port> = exposed
        .iter()
        .filter_map(|p| {
            let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
            Some(Port {
                num: num.parse().ok()?,
                proto: proto.to_ascii_lowercase(),
            })
        })
        .collect();
    // TCP first, then by protocol, then by number: consecutive ports of one
    // protocol end up next to each other (ranges).
    out.sort_by(|a, b| {
        (a.proto != "tcp", &a.proto, a.num).cmp(&(b.proto != "tcp", &b.proto, b.num))
    });
    out
}

/// The variables a link `name` (`/parent/alias`) to a child at `child_ip`
/// puts in the parent's environment, in dockerd's order.
pub fn env_vars(
    name: &str,
    child_ip: &str,
    child_env: &[String],
    exposed: &[String],
) -> Vec<String> {
    let alias = name
        .rsplit('/')
        .next()
        .unwrap_or(name)
        .to_uppercase()
        .replace('-', "_");
    let ports = ports(exposed);
    let mut env = Vec::new();
    let url = |p: &Port| format!("{}://{child_ip}:{}", p.proto, p.num);
    let prefix = |p: &Port| format!("{alias}_PORT_{}_{}", p.num, p.proto.to_uppercase());
    if let Some(first) = ports.first() {
        let (mut start, mut end) = (first.clone(), first.clone());
        env.push(format!("{alias}_PORT={}", url(first)));
        for (i, p) in ports.iter().enumerate() {
            let pre = prefix(p);
            env.push(format!("{pre}={}", url(p)));
            env.push(format!("{pre}_ADDR={child_ip}"));
            env.push(format!("{pre}_PORT={}", p.num));
            env.push(format!("{pre}_PROTO={}", p.proto));
            if p.num == end.num + 1 && p.proto == end.proto {
                end = p.clone();
                if i < ports.len() - 1 {
                    continue;
                }
            }
            if end != start {
                let pre = prefix(&start);
                env.push(format!("{pre}_START={}", url(&start)));
                env.push(format!("{pre}_PORT_START={}", start.num));
                env.push(format!("{pre}_END={}", url(&end)));
                env.push(format!("{pre}_PORT_END={}", end.num));
            }
            (start, end) = (p.clone(), p.clone());
        }
    }
    env.push(format!("{alias}_NAME={name}"));
    for kv in child_env {
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        // Set by image builds, not the child's own.
        if k == "HOME" || k == "PATH" {
            continue;
        }
        env.push(format!("{alias}_ENV_{k}={v}"));
    }
    env
}

/// The /etc/hosts lines of a parent's links: `IP\talias hostname [name]`.
fn hosts_lines(alias: &str, child: &ContainerRecord) -> Vec<String> {
    let mut names = format!("{alias} {}", super::start::hostname_of(child));
    if alias != child.name {
        names.push(' ');
        names.push_str(&child.name);
    }
    let Some(ep) = child.endpoints.get("bridge") else {
        return Vec::new();
    };
    [&ep.ip_address, &ep.global_ipv6_address]
        .into_iter()
        .filter(|ip| !ip.is_empty())
        .map(|ip| format!("{ip}\t{names}"))
        .collect()
}

/// What a parent's start takes from its links.
#[derive(Debug, Default)]
pub(crate) struct Linked {
    pub env: Vec<String>,
    pub hosts: Vec<String>,
}

impl Engine {
    /// The links `hc` asks for a container created as `parent` (dockerd's
    /// registerLinks): none on a user-defined network; each child must exist
    /// (400 otherwise: a 404 would make the CLI pull the image), a child
    /// sharing another's netns stands for that one, and none may be on host.
    pub(crate) fn register_links(
        &self,
        parent: &str,
        mode: &NetworkMode,
        asked: &[String],
    ) -> Result<Vec<LinkRecord>> {
        if asked.is_empty() {
            return Ok(Vec::new());
        }
        match mode {
            NetworkMode::Container(_) => {
                return Err(EngineError::Invalid(
                    "conflicting options: container type network can't be used with links. This would result in undefined behavior".into(),
                ))
            }
            NetworkMode::Host => return Err(host_conflict()),
            NetworkMode::Network(n) if n != "bridge" => {
                for l in asked {
                    parse(l)?;
                }
                return Ok(Vec::new());
            }
            _ => {}
        }
        let mut out: Vec<LinkRecord> = Vec::new();
        for l in asked {
            let (name, alias) = parse(l)?;
            let missing = |n: &str, e: EngineError| match e {
                EngineError::NotFound(m) => {
                    EngineError::Invalid(format!("could not get container for {n}: {m}"))
                }
                e => e,
            };
            let mut child = self.lookup(&name).map_err(|e| missing(&name, e))?.record();
            let mut seen = 0;
            while let Ok(NetworkMode::Container(donor)) =
                NetworkMode::parse(child.host_config.network_mode.as_deref().unwrap_or(""))
            {
                seen += 1;
                if seen > 16 {
                    break;
                }
                child = self
                    .lookup(&donor)
                    .map_err(|e| missing(&donor, e))?
                    .record();
            }
            if child.host_config.network_mode.as_deref() == Some("host") {
                return Err(host_conflict());
            }
            // A link name already taken is skipped, as dockerd does.
            if out.iter().any(|o| o.alias == alias) {
                tracing::warn!("link /{parent}/{alias} already registered, ignoring {l}");
                continue;
            }
            out.push(LinkRecord {
                child_id: child.id.clone(),
                child_name: child.name.clone(),
                alias,
            });
        }
        Ok(out)
    }

    /// The link names (`/parent/alias`) other containers know `child_id` by.
    pub(crate) fn link_names_of(&self, child_id: &str) -> Vec<String> {
        lock(&self.inner.containers)
            .values()
            .flat_map(|e| {
                let r = lock(&e.rec);
                r.links
                    .iter()
                    .filter(|l| l.child_id == child_id)
                    .map(|l| l.name(&r.name))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The child a link name (`parent/alias`, with or without a leading
    /// '/') stands for, while it exists.
    pub(crate) fn link_target(&self, name: &str) -> Option<String> {
        let name = name.strip_prefix('/').unwrap_or(name);
        let (parent, alias) = name.rsplit_once('/')?;
        let map = lock(&self.inner.containers);
        let child = map.values().find_map(|e| {
            let r = lock(&e.rec);
            (r.name == parent)
                .then(|| r.links.iter().find(|l| l.alias == alias).cloned())
                .flatten()
        })?;
        map.contains_key(&child.child_id).then_some(child.child_id)
    }

    /// `HostConfig.Links` as dockerd shows it: `/child:/parent/alias`.
    pub(crate) fn inspect_links(&self, rec: &ContainerRecord) -> Option<Vec<String>> {
        let map = lock(&self.inner.containers);
        let v: Vec<String> = rec
            .links
            .iter()
            .map(|l| {
                let child = map
                    .get(&l.child_id)
                    .map(|e| lock(&e.rec).name.clone())
                    .unwrap_or_else(|| l.child_name.clone());
                format!("/{child}:{}", l.name(&rec.name))
            })
            .collect();
        Some(v).filter(|v| !v.is_empty())
    }

    /// The env and hosts lines a parent starting on the bridge gets from
    /// its links (nothing off the bridge). Fails as dockerd's start does
    /// (500) when a child is not on the bridge or not running.
    pub(crate) fn linked(&self, rec: &ContainerRecord, on_bridge: bool) -> Result<Linked> {
        let mut out = Linked::default();
        if rec.links.is_empty() || !on_bridge {
            return Ok(out);
        }
        let children: Vec<(&LinkRecord, Option<ContainerRecord>)> = rec
            .links
            .iter()
            .map(|l| (l, self.lookup(&l.child_id).ok().map(|e| e.record())))
            .collect();
        if let Some(c) = children
            .iter()
            .filter_map(|(_, c)| c.as_ref())
            .find(|c| !c.networks.contains_key("bridge"))
        {
            return Err(EngineError::Internal(format!(
                "Cannot link to /{}, as it does not belong to the default network",
                c.name
            )));
        }
        for (l, child) in children {
            let name = l.name(&rec.name);
            let child = match child {
                Some(c) if c.state.status == Status::Running => c,
                c => {
                    let cname = c.map(|c| c.name).unwrap_or_else(|| l.child_name.clone());
                    return Err(EngineError::Internal(format!(
                        "Cannot link to a non running container: /{cname} AS {name}"
                    )));
                }
            };
            let Some(ep) = child.endpoints.get("bridge") else {
                return Err(EngineError::Internal(format!(
                    "container {} not attached to default bridge network",
                    child.id
                )));
            };
            out.hosts.extend(hosts_lines(&l.alias, &child));
            out.env.extend(env_vars(
                &name,
                &ep.ip_address,
                child.config.env.as_deref().unwrap_or(&[]),
                child.config.exposed_ports.as_deref().unwrap_or(&[]),
            ));
        }
        Ok(out)
    }

    /// `DELETE /containers/{parent/alias}?link=1`: removes the link, not the
    /// container; a running parent's /etc/hosts loses its lines.
    pub async fn remove_link(&self, name: &str) -> Result<()> {
        self.lookup(name)?;
        let full = if name.starts_with('/') {
            name.to_owned()
        } else {
            format!("/{name}")
        };
        let (parent, alias) = full.rsplit_once('/').unwrap_or(("", &full));
        if parent.is_empty() {
            return Err(EngineError::Internal(
                "Conflict, cannot remove the default link name of the container".into(),
            ));
        }
        let entry = self.lookup(parent).map_err(|_| {
            EngineError::Internal(format!("Cannot get parent {parent} for link name {full}"))
        })?;
        let before = entry.record();
        let rec = self.update(&entry, |r| r.links.retain(|l| l.alias != alias))?;
        if matches!(rec.state.status, Status::Running | Status::Paused) {
            self.rewrite_hosts(&rec);
            self.set_link_openings(&before, false);
            self.set_link_openings(&rec, true);
        }
        Ok(())
    }

    /// The holes `parent`'s links need on the default bridge when it blocks
    /// inter-container traffic (`--icc=false`), as dockerd's links open
    /// them: the parent may reach each running child's exposed ports.
    fn link_openings_of(&self, parent: &ContainerRecord) -> Vec<IccOpening> {
        let bridge_ip = |r: &ContainerRecord| {
            r.endpoints
                .get("bridge")
                .and_then(|e| e.ip_address.parse::<std::net::Ipv4Addr>().ok())
        };
        let Some(client) = bridge_ip(parent) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for l in &parent.links {
            let Ok(entry) = self.lookup(&l.child_id) else {
                continue;
            };
            let child = entry.record();
            let Some(server) = bridge_ip(&child).filter(|_| child.state.status.is_live()) else {
                continue;
            };
            for p in ports(child.config.exposed_ports.as_deref().unwrap_or(&[])) {
                let protocol = match p.proto.as_str() {
                    "udp" => Protocol::Udp,
                    "sctp" => Protocol::Sctp,
                    _ => Protocol::Tcp,
                };
                if let Ok(port) = u16::try_from(p.num) {
                    out.push(IccOpening {
                        client,
                        server,
                        protocol,
                        port,
                    });
                }
            }
        }
        out
    }

    /// Opens (`open`) or closes the ICC holes of `parent`'s links; best
    /// effort, logged (a network with ICC on has nothing to do).
    pub(crate) fn set_link_openings(&self, parent: &ContainerRecord, open: bool) {
        let openings = self.link_openings_of(parent);
        if let Err(e) = self.inner.attacher.link_openings("bridge", &openings, open) {
            tracing::warn!(container = %parent.id, open, "link openings: {e}");
        }
    }

    /// At a container's exit: closes its own links' holes and those its
    /// running parents have to it (its address goes back to the pool).
    pub(crate) fn close_link_openings(&self, rec: &ContainerRecord) {
        self.set_link_openings(rec, false);
        for p in self.parents_of(&rec.id) {
            let openings: Vec<IccOpening> = self
                .link_openings_of(&p)
                .into_iter()
                .filter(|o| {
                    rec.endpoints
                        .get("bridge")
                        .is_some_and(|e| e.ip_address == o.server.to_string())
                })
                .collect();
            if let Err(e) = self
                .inner
                .attacher
                .link_openings("bridge", &openings, false)
            {
                tracing::warn!(container = %p.id, "closing link openings: {e}");
            }
        }
    }

    /// Puts back every running container's link holes (after the firewall
    /// was repaired: a flushed ruleset lost them).
    pub(crate) fn reopen_all_links(&self) {
        for r in self.list_records() {
            if r.state.status.is_live() && !r.links.is_empty() {
                self.set_link_openings(&r, true);
            }
        }
    }

    fn parents_of(&self, child_id: &str) -> Vec<ContainerRecord> {
        self.list_records()
            .into_iter()
            .filter(|r| matches!(r.state.status, Status::Running | Status::Paused))
            .filter(|r| r.links.iter().any(|l| l.child_id == child_id))
            .collect()
    }

    /// Rewrites the /etc/hosts of the running parents of `child_id` (its
    /// address changed with a new start).
    pub(crate) fn refresh_parents(&self, child_id: &str) {
        for p in self.parents_of(child_id) {
            self.rewrite_hosts(&p);
            self.set_link_openings(&p, true);
        }
    }

    /// Writes a running container's /etc/hosts again from its record and
    /// its links' current addresses (in place: the file is bind-mounted).
    fn rewrite_hosts(&self, rec: &ContainerRecord) {
        let on_bridge = rec.endpoints.contains_key("bridge");
        let mut links = Vec::new();
        if on_bridge {
            for l in &rec.links {
                if let Ok(c) = self.lookup(&l.child_id) {
                    links.extend(hosts_lines(&l.alias, &c.record()));
                }
            }
        }
        let text = super::start::hosts_of(rec, &links);
        let path = self.inner.cfg.container_dir(&rec.id).join("hosts");
        if let Err(e) = std::fs::write(&path, text) {
            tracing::warn!(container = %rec.id, "rewriting /etc/hosts for links: {e}");
        }
    }
}

fn host_conflict() -> EngineError {
    EngineError::Invalid(
        "conflicting options: host type networking can't be used with links. This would result in undefined behavior".into(),
    )
}

/// The link aliases of an endpoint (`EndpointSettings.Links`) for the
/// embedded DNS: alias → the name it stands for.
pub(crate) fn dns_links(links: &[String]) -> Result<BTreeMap<String, String>> {
    links
        .iter()
        .map(|l| parse(l).map(|(name, alias)| (alias.to_lowercase(), name.to_lowercase())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_parse_as_dockerd_reads_them() {
        assert_eq!(parse("web").ok(), Some(("web".into(), "web".into())));
        assert_eq!(parse("web:w").ok(), Some(("web".into(), "w".into())));
        assert_eq!(parse("/web:/app/w").ok(), Some(("web".into(), "w".into())));
        assert!(matches!(parse(""), Err(EngineError::Invalid(_))));
        let e = parse("a:b:c").map(|_| ()).unwrap_err();
        assert_eq!(e.to_string(), "bad format for links: a:b:c");
    }

    #[test]
    fn env_has_ports_name_and_child_env() {
        let env = env_vars(
            "/app/db-1",
            "172.17.0.2",
            &[
                "PATH=/bin".into(),
                "FOO=1".into(),
                "HOME=/root".into(),
                "X=a=b".into(),
            ],
            &["5432/tcp".into()],
        );
        assert_eq!(
            env,
            [
                "DB_1_PORT=tcp://172.17.0.2:5432",
                "DB_1_PORT_5432_TCP=tcp://172.17.0.2:5432",
                "DB_1_PORT_5432_TCP_ADDR=172.17.0.2",
                "DB_1_PORT_5432_TCP_PORT=5432",
                "DB_1_PORT_5432_TCP_PROTO=tcp",
                "DB_1_NAME=/app/db-1",
                "DB_1_ENV_FOO=1",
                "DB_1_ENV_X=a=b",
            ]
        );
    }

    #[test]
    fn consecutive_ports_make_ranges_and_tcp_comes_first() {
        let env = env_vars(
            "/p/w",
            "10.0.0.2",
            &[],
            &[
                "53/udp".into(),
                "81/tcp".into(),
                "80/tcp".into(),
                "90/tcp".into(),
            ],
        );
        assert_eq!(env[0], "W_PORT=tcp://10.0.0.2:80");
        let range: Vec<&String> = env
            .iter()
            .filter(|e| e.contains("_START") || e.contains("_END"))
            .collect();
        assert_eq!(
            range,
            [
                "W_PORT_80_TCP_START=tcp://10.0.0.2:80",
                "W_PORT_80_TCP_PORT_START=80",
                "W_PORT_80_TCP_END=tcp://10.0.0.2:81",
                "W_PORT_80_TCP_PORT_END=81",
            ]
        );
        let order: Vec<&str> = env
            .iter()
            .filter(|e| e.ends_with("_PROTO=tcp") || e.ends_with("_PROTO=udp"))
            .map(String::as_str)
            .collect();
        assert_eq!(
            order,
            [
                "W_PORT_80_TCP_PROTO=tcp",
                "W_PORT_81_TCP_PROTO=tcp",
                "W_PORT_90_TCP_PROTO=tcp",
                "W_PORT_53_UDP_PROTO=udp",
            ]
        );
        assert_eq!(env.last().map(String::as_str), Some("W_NAME=/p/w"));
    }

    #[test]
    fn endpoint_links_map_aliases_to_names() {
        let m = dns_links(&["Web:W".into(), "db".into()]).expect("links");
        assert_eq!(m.get("w").map(String::as_str), Some("web"));
        assert_eq!(m.get("db").map(String::as_str), Some("db"));
        assert!(dns_links(&["a:b:c".into()]).is_err());
    }
}
