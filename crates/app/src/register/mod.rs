//! The processing-activity register at the edge: the live figures it is built from, read from
//! the store. The register itself is built by [`pdgate_core::register`].

pub use pdgate_core::register::*;

use pdgate_core::policy::Policy;
use pdgate_core::Millis;
use pdgate_store::{Oversight, Rights, Store};

/// Reads the live figures (a handful of aggregate queries).
pub async fn read_live(store: &Store, policy: &Policy, now: Millis) -> pdgate_store::Result<Live> {
    let purposes: Vec<&str> = policy.purposes.iter().map(|p| p.def.id.as_str()).collect();
    Ok(Live {
        figures: store.figures(&purposes, now).await?,
        last_sweep: store.sweeps(None, None, 1, true).await?.into_iter().next(),
        flows: store.flows(500).await?,
        notifications: store.notifications().await?,
    })
}
