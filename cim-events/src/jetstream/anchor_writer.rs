//! Writing anchors off the command path: a successful publish only notes the aggregate's new
//! head in memory ([`Anchors::enqueue`]); a background task writes the noted heads to the
//! bucket in batches — the newest head per aggregate per flush, all of a flush's writes in
//! flight together — at most once every
//! [`anchor_flush_interval`](super::JetStreamEventStoreBuilder::anchor_flush_interval).
//!
//! The task holds only a weak reference to the queue, which the store owns: when the last
//! handle to the store is dropped, heads still noted are written by one last task, and the
//! writer ends.
//!
//! The window in which a lost tail can go unseen is the time from an acknowledgement to its
//! anchor being stored: at most the flush interval plus the time of one batch of writes.
//! A head whose write fails (bucket unavailable) is noted again for the next flush, unless a
//! newer head of that aggregate was noted meanwhile.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use async_nats::jetstream::kv;
use futures::StreamExt;
use tokio::sync::Notify;

use crate::cache::Lru;
use crate::head::Head;

use super::anchor::{Stored, key, write};

/// How many anchor writes of one flush are in flight at once.
const WRITES_IN_FLIGHT: usize = 64;

/// The store's side of the anchor writer: the bucket and the heads waiting to be written.
pub(crate) struct Anchors {
    queue: Arc<Queue>,
    wake: Arc<Notify>,
}

/// Heads noted since the last flush, newest per aggregate.
struct Queue {
    kv: kv::Store,
    pending: Mutex<HashMap<String, Head>>,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Head>> {
        // Every update is one insert or one swap: a poisoned lock still holds a whole map.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes `head` unless a newer head of the aggregate is noted already.
    fn note(&self, aggregate_id: &str, head: Head) {
        let mut pending = self.lock();
        match pending.get_mut(aggregate_id) {
            Some(noted) if noted.version >= head.version => {}
            Some(noted) => *noted = head,
            None => {
                pending.insert(aggregate_id.to_owned(), head);
            }
        }
    }

    fn take(&self) -> HashMap<String, Head> {
        std::mem::take(&mut *self.lock())
    }
}

impl Anchors {
    /// Starts the writer of anchors to `kv`, flushing at most once every `interval`, and
    /// remembering the revisions of up to `remembered` keys (so that a write costs one
    /// request).
    pub(crate) fn start(kv: kv::Store, interval: Duration, remembered: usize) -> Anchors {
        let queue = Arc::new(Queue {
            kv,
            pending: Mutex::new(HashMap::new()),
        });
        let wake = Arc::new(Notify::new());
        tokio::spawn(run(
            Arc::downgrade(&queue),
            Arc::clone(&wake),
            interval,
            remembered,
        ));
        Anchors { queue, wake }
    }

    /// The bucket anchors are written to.
    pub(crate) fn kv(&self) -> &kv::Store {
        &self.queue.kv
    }

    /// Notes the aggregate's new head, acknowledged by the server, for the next flush. No
    /// I/O: a lock, a map insert and a wake-up.
    pub(crate) fn enqueue(&self, aggregate_id: &str, head: Head) {
        self.queue.note(aggregate_id, head);
        self.wake.notify_one();
    }
}

impl Drop for Anchors {
    fn drop(&mut self) {
        // The last heads noted are still owed their anchors.
        let pending = self.queue.take();
        if !pending.is_empty() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let kv = self.queue.kv.clone();
                runtime.spawn(async move {
                    let mut remembered = Lru::new(0);
                    flush(&kv, pending, &mut remembered).await;
                });
            }
        }
        // Lets the writer see that the store is gone.
        self.wake.notify_one();
    }
}

/// The writer: waits for heads, flushes them, then rests for `interval` so that the
/// heads noted meanwhile go in one batch.
async fn run(queue: Weak<Queue>, wake: Arc<Notify>, interval: Duration, remembered: usize) {
    let mut stored = Lru::new(remembered);
    loop {
        wake.notified().await;
        let Some(queue) = queue.upgrade() else {
            return;
        };
        let batch = queue.take();
        for (aggregate_id, head) in flush(&queue.kv, batch, &mut stored).await {
            queue.note(&aggregate_id, head);
            wake.notify_one();
        }
        drop(queue);
        tokio::time::sleep(interval).await;
    }
}

/// Writes one batch, all at once; returns the heads whose write failed.
async fn flush(
    kv: &kv::Store,
    batch: HashMap<String, Head>,
    stored: &mut Lru<String, Stored>,
) -> Vec<(String, Head)> {
    let writes = batch.into_iter().map(|(aggregate_id, head)| {
        let known = stored.get(&aggregate_id).copied();
        async move {
            let result = write(kv, &key(&aggregate_id), head, known).await;
            (aggregate_id, head, result)
        }
    });
    let results: Vec<_> = futures::stream::iter(writes)
        .buffer_unordered(WRITES_IN_FLIGHT)
        .collect()
        .await;
    let mut failed = Vec::new();
    for (aggregate_id, head, result) in results {
        match result {
            Ok(now) => stored.insert(aggregate_id, now),
            Err(error) => {
                tracing::warn!(aggregate_id, %error, "anchor not written; retried at the next flush");
                stored.remove(&aggregate_id);
                failed.push((aggregate_id, head));
            }
        }
    }
    failed
}
