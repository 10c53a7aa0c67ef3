//! Projections on the embedded store: the projection suite against `ProjectionRunner` on
//! `MemoryEventStore` with `MemoryCheckpointStore`.

mod projection_suite;

use std::sync::Arc;

use cim_events::MemoryEventStore;
use cim_events::projection::{
    CheckpointStore, MemoryCheckpointStore, Projection, ProjectionRunner,
};
use projection_suite::{Harness, Options, Running, projection_suite};

/// A fresh memory store; its checkpoints survive "restarts" the way a database would.
struct Memory {
    store: MemoryEventStore,
    checkpoints: MemoryCheckpointStore,
}

async fn fresh() -> Memory {
    Memory {
        store: MemoryEventStore::new(),
        checkpoints: MemoryCheckpointStore::new(),
    }
}

impl Harness for Memory {
    type Store = MemoryEventStore;

    fn store(&self) -> &MemoryEventStore {
        &self.store
    }

    async fn checkpoints(&self) -> Arc<dyn CheckpointStore> {
        Arc::new(self.checkpoints.clone())
    }

    fn start<P, C>(&self, projection: P, checkpoints: C, options: &Options) -> Running<P>
    where
        P: Projection + 'static,
        C: CheckpointStore + 'static,
    {
        let mut runner = ProjectionRunner::new(self.store.clone(), projection, checkpoints)
            .verify_chain(options.verify_chain);
        if let Some(filter) = &options.filter {
            runner = runner.filter(filter.clone());
        }
        let (shutdown, progress) = (runner.shutdown_handle(), runner.progress());
        let task = tokio::spawn(async move {
            let result = runner.run().await;
            (result, runner.into_projection())
        });
        Running {
            task,
            shutdown,
            progress,
        }
    }

    async fn forge(&self, subject: String, headers: Vec<(String, String)>, data: Vec<u8>) -> u64 {
        self.store.insert_raw(&subject, headers, data.into())
    }
}

projection_suite!(fresh);
