//! The audit log at the edge: exporting and verifying what the store holds. The events and the
//! hash chain are [`pdgate_core::audit`].

pub use pdgate_core::audit::*;

pub mod completeness;
pub mod export;
pub mod publish;
