//! The conformance suite against `MemoryEventStore`.

async fn fresh() -> cim_events::MemoryEventStore {
    cim_events::MemoryEventStore::new()
}

tests::conformance_suite!(fresh);
