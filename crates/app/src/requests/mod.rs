//! Data subject requests (SPEC 7) at the edge: each request's life in [`flow`], the report's reads
//! in [`report`], and the webhook outbox in [`outbox`]. The legal clock, erasure plans and the
//! report itself are decisions in [`pdgate_core::requests`].

pub use pdgate_core::requests::*;

pub mod flow;
pub mod links;
pub mod outbox;
pub mod report;
