//! What the JetStream store reports about its connection: how many times the client has
//! connected ([`NATS_CONNECTS`]), so that reconnects show.

use std::sync::atomic::Ordering;

use crate::observe::NATS_CONNECTS;

/// Reports the client's connection count, as async-nats keeps it.
pub(crate) fn connects(client: &async_nats::Client) {
    let connects = client.statistics().connects.load(Ordering::Relaxed);
    metrics::counter!(NATS_CONNECTS).absolute(connects);
}
