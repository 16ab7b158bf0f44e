//! The CNI 1.1 data types shared by both sides of the protocol: versions,
//! errors, configurations, results, runtime parameters and the environment.

pub mod config;
pub mod conflist;
pub mod decode;
pub mod env;
pub mod error;
pub mod result;
pub mod runtime;
pub mod version;

pub use config::{IpamSection, NetConf};
pub use conflist::{NetConfList, PluginConf};
pub use env::{CmdArgs, Command};
pub use error::{CniError, ErrorCode};
pub use result::{CniResult, Dns, Interface, IpConfig, Route};
pub use runtime::{GcAttachment, MacAddr, PortMapping, Protocol, RequestedIp, RuntimeConfig};
pub use version::CniVersion;
