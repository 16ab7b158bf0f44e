//! Reading image archives: staging the tar ([`staging`]) and working out
//! what it holds ([`plan`]).

pub mod plan;
pub mod staging;
