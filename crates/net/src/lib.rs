//! berth-net: the network core.
//!
//! Owns network namespaces, netlink plumbing (links, addresses, routes,
//! neighbours/FDB, sysctls), IP address management persisted through
//! berth-store, and berth's own nftables tables (masquerade, published ports,
//! isolation). Every multi-step operation is transactional.
