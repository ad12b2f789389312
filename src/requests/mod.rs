//! Data subject requests (SPEC 7): the legal clock (working-day calendar, due times per type and
//! regime) as plain functions, each request's life in [`flow`], what erasure destroys and proves
//! in [`erasure`], the access report in [`report`], and the webhook outbox in [`outbox`].

pub mod calendar;
pub mod deadline;
pub mod erasure;
pub mod flow;
pub mod outbox;
pub mod report;
