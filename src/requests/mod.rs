//! Data subject requests (SPEC 7). So far: the legal clock — working-day calendar and due times
//! per type and regime — as plain functions; the requests API, reports and erasure build on it.

pub mod calendar;
pub mod deadline;
