//! Where the stream stands: its last sequence, for lag.

use crate::error::Result;

use super::errors::backend;
use super::store::Inner;

impl Inner {
    /// The stream's last sequence (0 when empty), from one stream info request.
    pub(crate) async fn last_sequence(&self) -> Result<u64> {
        let info = tokio::time::timeout(self.settings.request_timeout, self.stream.get_info())
            .await
            .map_err(|_| backend("read stream info", "timed out", true))?
            .map_err(|e| backend("read stream info", &e, true))?;
        Ok(info.state.last_sequence)
    }
}
