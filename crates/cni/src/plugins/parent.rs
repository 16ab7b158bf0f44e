//! What macvlan and ipvlan share: a link made on a host parent interface
//! (`master`), created directly inside the container under CNI_IFNAME, with
//! optional IPAM. Only the link creation differs, so it is passed in.

use berth_net::{Link, NetNs, Netlink, NetlinkError};

use super::rollback::Rollback;
use super::{bridge, iface, ipam, netns};
use crate::plugin::{Plugin, Request};
use crate::types::{CniError, CniResult, ErrorCode};

/// The fields both plugins read.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParentConf {
    #[serde(default)]
    pub master: Option<String>,
    #[serde(default)]
    pub mtu: Option<u32>,
    #[serde(default)]
    pub link_in_container: bool,
}

pub fn setup(op: &str, e: impl std::fmt::Display) -> CniError {
    CniError::setup(format!("{op}: {e}"))
}

/// The parent link: `master`, or the host's default-route interface when
/// unset (as the reference plugins do).
pub fn find_master(host: &Netlink, c: &ParentConf) -> Result<Link, CniError> {
    if c.link_in_container {
        return Err(CniError::new(
            ErrorCode::UnsupportedField,
            "network config: field `linkInContainer`: true is not supported by berth",
        ));
    }
    let name = match &c.master {
        Some(m) => m.clone(),
        None => {
            let routes = host
                .routes(false)
                .map_err(|e| setup("listing host routes", e))?;
            let oif = routes
                .iter()
                .find(|r| r.dst.prefix_len() == 0)
                .and_then(|r| r.oif)
                .ok_or_else(|| {
                    CniError::invalid_config(
                        "network config: field `master` is required (the host has no default route to take it from)",
                    )
                })?;
            host.link_by_index(oif)
                .map_err(|e| setup("looking up default route link", e))?
                .map(|l| l.name)
                .ok_or_else(|| {
                    CniError::invalid_config("network config: field `master` is required")
                })?
        }
    };
    let master = host
        .link_by_name(&name)
        .map_err(|e| CniError::invalid_config(format!("network config: field `master`: {e}")))?
        .ok_or_else(|| {
            CniError::invalid_config(format!(
                "network config: field `master`: link {name:?} does not exist"
            ))
        })?;
    if let Some(mtu) = c.mtu {
        if mtu == 0 || mtu > master.mtu {
            return Err(CniError::invalid_config(format!(
                "network config: field `mtu`: {mtu} must be between 1 and the MTU of {name} ({})",
                master.mtu
            )));
        }
    }
    Ok(master)
}

/// ADD: `create` makes the link (named CNI_IFNAME) on `master` directly in
/// the container netns; then IPAM and addresses. Undone on any failure.
pub fn add(
    req: &Request,
    kind: &'static str,
    c: &ParentConf,
    create: impl FnOnce(&Netlink, &Link, &NetNs) -> Result<(), NetlinkError>,
) -> Result<CniResult, CniError> {
    let ns = netns::open_required(req)?;
    let host = Netlink::new().map_err(|e| setup("netlink", e))?;
    let cont = Netlink::for_netns(&ns).map_err(|e| setup("netlink in container", e))?;
    let master = find_master(&host, c)?;
    let ifname = &req.args.ifname;
    if cont
        .link_by_name(ifname)
        .map_err(|e| setup("looking up container interface", e))?
        .is_some()
    {
        return Err(CniError::invalid_env(format!(
            "CNI_IFNAME {ifname} already exists in the container"
        )));
    }
    let mut undo = Rollback::new();
    match add_steps(req, kind, &ns, &host, &cont, &master, create, &mut undo) {
        Ok(r) => {
            undo.commit();
            Ok(r)
        }
        Err(e) => Err(undo.fail(e)),
    }
}

#[allow(clippy::too_many_arguments)]
fn add_steps<'a>(
    req: &'a Request,
    kind: &'static str,
    ns: &'a NetNs,
    host: &'a Netlink,
    cont: &'a Netlink,
    master: &Link,
    create: impl FnOnce(&Netlink, &Link, &NetNs) -> Result<(), NetlinkError>,
    undo: &mut Rollback<'a>,
) -> Result<CniResult, CniError> {
    let ifname = &req.args.ifname;
    create(host, master, ns).map_err(|e| {
        if e.is_unsupported() {
            CniError::new(
                ErrorCode::KERNEL_UNSUPPORTED,
                format!("this kernel cannot create {kind} links ({e})"),
            )
        } else {
            setup(&format!("creating {kind} {ifname} on {}", master.name), e)
        }
    })?;
    undo.push("create link", move || {
        cont.delete_link_by_name(ifname)
            .map(|_| ())
            .map_err(|e| setup("deleting container link", e))
    });
    let mut result = match ipam::ipam_type(req) {
        Some(t) => {
            let r = ipam::add(req, t)?;
            undo.push("allocate addresses", move || ipam::del(req, t));
            r
        }
        None => CniResult::default(),
    };
    for ip in &mut result.ips {
        ip.interface = Some(0);
    }
    let link = cont
        .require_link(ifname)
        .map_err(|e| setup("finding container link", e))?;
    iface::configure(cont, &link, &result, 0, false)?;
    let link = cont
        .link_by_index(link.index)
        .map_err(|e| setup("reading container link", e))?
        .unwrap_or(link);
    result.interfaces = vec![bridge::describe(
        &link,
        Some(ns.path().display().to_string()),
    )];
    if !req.conf.dns.is_empty() {
        result.dns = req.conf.dns.clone();
    }
    Ok(result)
}

/// DEL: release addresses, delete the container link if the netns is still
/// there; keeps going after a failure and returns the first.
pub fn del(req: &Request) -> Result<(), CniError> {
    let mut first_err = None;
    if let Some(t) = ipam::ipam_type(req) {
        if let Err(e) = ipam::del(req, t) {
            first_err = Some(e);
        }
    }
    if let Some(ns) = netns::open_for_del(req)? {
        if let Err(e) = berth_net::netlink::unlist::delete_link_by_name(&ns, &req.args.ifname) {
            first_err.get_or_insert(setup(
                &format!("deleting {} in the container", req.args.ifname),
                e,
            ));
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// CHECK: the link, its addresses and routes as in `prevResult`; the parent
/// still exists; IPAM agrees.
pub fn check(req: &Request, kind: &str, c: &ParentConf) -> Result<(), CniError> {
    let prev = req.conf.prev_result.as_ref().ok_or_else(|| {
        CniError::invalid_config("network config: field `prevResult` is required for CHECK")
    })?;
    let ns = netns::open_required(req)?;
    let host = Netlink::new().map_err(|e| setup("netlink", e))?;
    let cont = Netlink::for_netns(&ns).map_err(|e| setup("netlink in container", e))?;
    find_master(&host, c)?;
    iface::check(
        &cont,
        &req.args.ifname,
        kind,
        prev,
        &ns.path().display().to_string(),
    )?;
    if let Some(t) = ipam::ipam_type(req) {
        ipam::check(req, t)?;
    }
    Ok(())
}

pub fn status(req: &Request) -> Result<(), CniError> {
    match ipam::ipam_type(req) {
        Some(t) => ipam::status(req, t),
        None => Ok(()),
    }
}

pub fn gc(req: &Request) -> Result<(), CniError> {
    match ipam::ipam_type(req) {
        Some(t) => ipam::gc(req, t),
        None => Ok(()),
    }
}

/// A link kind made on a parent: its name, its `mode` field and how the
/// link is created. Every such kind is a [`Plugin`] through [`OnParent`].
pub trait ParentKind: Send + Sync {
    const KIND: &'static str;
    const DEFAULT_MODE: &'static str;
    type Mode: std::str::FromStr<Err: std::fmt::Display>;
    /// What `create` needs beyond the parent, read from the request first.
    type Spec;

    fn spec(req: &Request, c: &ParentConf, mode: Self::Mode) -> Result<Self::Spec, CniError>;

    fn create(
        req: &Request,
        spec: Self::Spec,
        host: &Netlink,
        master: &Link,
        ns: &NetNs,
    ) -> Result<(), NetlinkError>;
}

#[derive(Debug, serde::Deserialize)]
struct ModeConf {
    #[serde(default)]
    mode: Option<String>,
}

fn parse<K: ParentKind>(req: &Request) -> Result<(ParentConf, K::Mode), CniError> {
    let c: ParentConf = req.conf.section()?;
    let m: ModeConf = req.conf.section()?;
    let mode = m
        .mode
        .as_deref()
        .unwrap_or(K::DEFAULT_MODE)
        .parse::<K::Mode>()
        .map_err(|e| CniError::invalid_config(format!("network config: field `mode`: {e}")))?;
    Ok((c, mode))
}

/// The plugin for a [`ParentKind`].
pub struct OnParent<K>(pub K);

impl<K: ParentKind> Plugin for OnParent<K> {
    fn add(&self, req: &Request) -> Result<CniResult, CniError> {
        let (c, mode) = parse::<K>(req)?;
        let spec = K::spec(req, &c, mode)?;
        add(req, K::KIND, &c, |host, master, ns| {
            K::create(req, spec, host, master, ns)
        })
    }

    fn del(&self, req: &Request) -> Result<(), CniError> {
        parse::<K>(req)?;
        del(req)
    }

    fn check(&self, req: &Request) -> Result<(), CniError> {
        let (c, _) = parse::<K>(req)?;
        check(req, K::KIND, &c)
    }

    fn status(&self, req: &Request) -> Result<(), CniError> {
        parse::<K>(req)?;
        status(req)
    }

    fn gc(&self, req: &Request) -> Result<(), CniError> {
        parse::<K>(req)?;
        gc(req)
    }
}
