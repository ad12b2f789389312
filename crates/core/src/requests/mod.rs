//! Data subject requests (SPEC 7): the legal clock (working-day calendar, due times per type and
//! regime) as plain functions, what erasure destroys and proves in [`erasure`], and the access
//! report in [`report`]. A request's life and the webhook outbox run at the edge (`pdgate::requests`).

pub mod calendar;
pub mod deadline;
pub mod erasure;
pub mod notice;
pub mod notify;
pub mod report;
