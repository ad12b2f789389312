//! pdgate's integration tests, one binary (so pdgate is linked once): the real `pdgate` binary on
//! port 0 with a real upstream that records what it gets (`pdgate-testkit`), the storage conformance
//! suite on SQLite and PostgreSQL, and checks of the shipped documents and deployment files.
//! Suites that need an outside tool are in `tests/tools`.
// Scenario tests read top to bottom; the 80-line rule (clippy.toml) is for production code.
#![allow(clippy::too_many_lines)]

#[macro_use]
extern crate pdgate_testkit;

mod deploy;
mod detectors;
mod doors;
mod edge;
mod faults;
mod fuzz;
mod gateway;
mod keys;
mod ledger;
mod oversight;
mod readme;
mod replicas;
mod requests;
mod storage;
mod trail;
