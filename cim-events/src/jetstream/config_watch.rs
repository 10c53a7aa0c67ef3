//! Keeping an eye on the stream's settings after `build`: an operator (or another
//! program) can update a stream at any time, for example set a per-subject limit under
//! which the server deletes old events on every append. The store checks the settings
//! again every [`config_check_interval`](super::JetStreamEventStoreBuilder::config_check_interval)
//! and right after the connection comes back, and refuses appends with
//! [`Error::Config`] while they are unsafe.

use std::sync::{RwLock, Weak};
use std::time::Duration;

use async_nats::connection::State;

use crate::error::{Error, Result};

use super::provision::{Wanted, check_existing};
use super::store::Inner;

/// How often the connection state is looked at (for a check right after a reconnect).
const POLL: Duration = Duration::from_secs(1);

/// The verdict of the last check of the stream's settings.
#[derive(Debug, Default)]
pub(crate) struct ConfigHealth {
    /// The unsafe setting and why, if the last check found one.
    unsafe_setting: RwLock<Option<(String, String)>>,
}

impl ConfigHealth {
    /// `Err(Error::Config)` naming the setting if the last check found the stream unsafe.
    pub(crate) fn check(&self) -> Result<()> {
        let found = self
            .unsafe_setting
            .read()
            .unwrap_or_else(|p| p.into_inner());
        match &*found {
            None => Ok(()),
            Some((setting, problem)) => Err(Error::Config {
                setting: setting.clone(),
                problem: format!("{problem} (the stream was changed after the store opened it)"),
            }),
        }
    }

    /// Records the verdict of a check.
    fn record(&self, verdict: Result<()>) {
        let found = match verdict {
            Ok(()) => None,
            Err(Error::Config { setting, problem }) => Some((setting, problem)),
            // `check_existing` only returns config errors; anything else proves nothing.
            Err(_) => return,
        };
        let mut slot = self
            .unsafe_setting
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if *slot != found {
            match &found {
                Some((setting, problem)) => {
                    tracing::error!(%setting, %problem, "event stream settings became unsafe; appends are refused")
                }
                None => tracing::info!("event stream settings are safe again; appends resume"),
            }
        }
        *slot = found;
    }
}

impl Inner {
    /// Reads the stream's settings from the server and records whether they are safe.
    /// A failed request changes nothing: the previous verdict stands.
    pub(crate) async fn recheck_config(&self) {
        let info = tokio::time::timeout(self.settings.request_timeout, self.stream.get_info());
        match info.await {
            Ok(Ok(info)) => {
                let wanted = Wanted {
                    name: &self.stream_name,
                    prefix: &self.prefix,
                    replicas: self.settings.replicas,
                    duplicate_window: info.config.duplicate_window,
                };
                self.health.record(check_existing(&info.config, &wanted));
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "stream settings not checked"),
            Err(_) => tracing::debug!("stream settings not checked in time"),
        }
    }
}

/// Checks the stream's settings every `interval` and after every reconnect, until the
/// store is dropped (the task holds only a weak reference between checks).
pub(crate) async fn watch(store: Weak<Inner>, interval: Duration) {
    let poll = interval.min(POLL);
    let mut waited = Duration::ZERO;
    let mut was_connected = true;
    loop {
        tokio::time::sleep(poll).await;
        waited += poll;
        let Some(inner) = store.upgrade() else {
            return;
        };
        super::observe::connects(&inner.context.client());
        let connected = inner.context.client().connection_state() == State::Connected;
        let reconnected = connected && !was_connected;
        was_connected = connected;
        if connected && (reconnected || waited >= interval) {
            waited = Duration::ZERO;
            inner.recheck_config().await;
        }
    }
}
