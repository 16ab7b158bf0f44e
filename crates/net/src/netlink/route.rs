//! Routes (main table by default), IPv4 and IPv6, with or without gateway.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::AddressFamily;
use rtnetlink::RouteMessageBuilder;

use super::{Netlink, NetlinkError};

/// A route. `dst` `0.0.0.0/0` (or `::/0`) is the default route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Destination prefix.
    pub dst: IpNet,
    /// Next hop; `None` for a directly connected (link-scope) route.
    pub gateway: Option<IpAddr>,
    /// Output link index.
    pub oif: Option<u32>,
    /// Metric (`RTA_PRIORITY`).
    pub metric: Option<u32>,
    /// Preferred source address.
    pub src: Option<IpAddr>,
    /// Routing table; main when `None`.
    pub table: Option<u32>,
    /// Treat the gateway as directly reachable on `oif` even if no address
    /// covers it (`onlink`).
    pub onlink: bool,
}

impl Route {
    /// A route to `dst`, nothing else set.
    pub fn to(dst: IpNet) -> Self {
        Route {
            dst,
            gateway: None,
            oif: None,
            metric: None,
            src: None,
            table: None,
            onlink: false,
        }
    }

    /// The default route (v4 or v6 following `gw`) via `gw`.
    pub fn default_via(gw: IpAddr) -> Self {
        let dst = match gw {
            IpAddr::V4(_) => IpNet::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            IpAddr::V6(_) => IpNet::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
        };
        // A zero prefix is valid for both families.
        let dst = dst.unwrap_or_default();
        Route {
            gateway: Some(gw),
            ..Route::to(dst)
        }
    }

    /// Sets the gateway.
    pub fn via(mut self, gw: IpAddr) -> Self {
        self.gateway = Some(gw);
        self
    }

    /// Sets the output link.
    pub fn dev(mut self, oif: u32) -> Self {
        self.oif = Some(oif);
        self
    }

    /// Sets the metric.
    pub fn metric(mut self, metric: u32) -> Self {
        self.metric = Some(metric);
        self
    }

    fn message(&self, for_delete: bool) -> Result<RouteMessage, NetlinkError> {
        let mut b = RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(self.dst.network(), self.dst.prefix_len())
            .map_err(invalid)?;
        if let Some(gw) = self.gateway {
            if gw.is_ipv4() != self.dst.addr().is_ipv4() {
                return Err(NetlinkError::Invalid {
                    what: "route",
                    detail: format!("gateway {gw} is not of the family of {}", self.dst),
                });
            }
            b = b.gateway(gw).map_err(invalid)?;
        }
        if let Some(src) = self.src {
            b = b.pref_source(src).map_err(invalid)?;
        }
        if let Some(oif) = self.oif {
            b = b.output_interface(oif);
        }
        if let Some(m) = self.metric {
            b = b.priority(m);
        }
        if let Some(t) = self.table {
            b = b.table_id(t);
        }
        if self.onlink {
            b = b.onlink();
        }
        if for_delete {
            // The kernel matches a delete on every field that is set: leave
            // protocol, scope and type open so routes made by others match.
            b = b
                .protocol(RouteProtocol::Unspec)
                .scope(RouteScope::NoWhere)
                .kind(RouteType::Unspec);
        } else if self.gateway.is_none() && self.dst.addr().is_ipv4() && self.oif.is_some() {
            // As `ip route add <net> dev <if>` does: a connected route.
            b = b.scope(RouteScope::Link);
        }
        Ok(b.build())
    }

    fn from_message(m: &RouteMessage) -> Option<Route> {
        let mut dst_addr = None;
        let mut route = Route::to(IpNet::default());
        let mut table = u32::from(m.header.table);
        for a in &m.attributes {
            match a {
                RouteAttribute::Destination(d) => dst_addr = route_ip(d),
                RouteAttribute::Gateway(g) => route.gateway = route_ip(g),
                RouteAttribute::Oif(i) => route.oif = Some(*i),
                RouteAttribute::Priority(p) => route.metric = Some(*p),
                RouteAttribute::PrefSource(s) => route.src = route_ip(s),
                RouteAttribute::Table(t) => table = *t,
                _ => {}
            }
        }
        let dst_addr = match (dst_addr, m.header.address_family) {
            (Some(a), _) => a,
            (None, AddressFamily::Inet) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            (None, AddressFamily::Inet6) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            _ => return None,
        };
        route.dst = IpNet::new(dst_addr, m.header.destination_prefix_length).ok()?;
        route.table = (table != u32::from(RouteHeader::RT_TABLE_MAIN)).then_some(table);
        Some(route)
    }
}

fn invalid(e: impl std::fmt::Display) -> NetlinkError {
    NetlinkError::Invalid {
        what: "route",
        detail: e.to_string(),
    }
}

fn route_ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

impl Netlink {
    /// Adds `route`; `EEXIST` if an identical one exists.
    pub fn add_route(&self, route: &Route) -> Result<(), NetlinkError> {
        let msg = route.message(false)?;
        self.exec(
            || format!("add route {}", describe(route)),
            self.handle.route().add(msg).execute(),
        )
    }

    /// Adds or replaces `route` (idempotent).
    pub fn replace_route(&self, route: &Route) -> Result<(), NetlinkError> {
        let msg = route.message(false)?;
        self.exec(
            || format!("replace route {}", describe(route)),
            self.handle.route().add(msg).replace().execute(),
        )
    }

    /// Deletes `route` (matching on the fields set in it).
    pub fn del_route(&self, route: &Route) -> Result<(), NetlinkError> {
        let msg = route.message(true)?;
        self.exec(
            || format!("delete route {}", describe(route)),
            self.handle.route().del(msg).execute(),
        )
    }

    /// Unicast routes of the main table, IPv4 (`v6 == false`) or IPv6.
    pub fn routes(&self, v6: bool) -> Result<Vec<Route>, NetlinkError> {
        let filter = if v6 {
            RouteMessageBuilder::<Ipv6Addr>::new().build()
        } else {
            RouteMessageBuilder::<Ipv4Addr>::new().build()
        };
        let msgs = self.collect(
            || "list routes".to_string(),
            self.handle.route().get(filter).execute(),
        )?;
        Ok(msgs
            .iter()
            .filter(|m| m.header.kind == RouteType::Unicast)
            .filter_map(Route::from_message)
            .filter(|r| r.table.is_none())
            .collect())
    }
}

fn describe(r: &Route) -> String {
    let mut s = r.dst.to_string();
    if let Some(gw) = r.gateway {
        s.push_str(&format!(" via {gw}"));
    }
    if let Some(oif) = r.oif {
        s.push_str(&format!(" dev #{oif}"));
    }
    s
}
