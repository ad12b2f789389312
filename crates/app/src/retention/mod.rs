//! Retention at the edge: the sweeper that applies the rule ([`pdgate_core::retention`]) to the
//! vault on a schedule.

pub use pdgate_core::retention::*;

pub mod sweep;
