//! A projection and a live subscription: balances per account, kept up to date by a
//! projection runner, while a subscription prints every deposit as it is stored. Both
//! select `Account` events by their aggregate type too, so another aggregate's events of
//! the same name never reach them.
//!
//! Runs with no server: `cargo run --example projection`. With `NATS_URL` set
//! (`NATS_URL=nats://127.0.0.1:4222 cargo run --example projection`) it runs on JetStream,
//! in stream `PROJECTION_EXAMPLE` under prefix `bank`, with the projection on a durable
//! consumer named `balances`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use cim_events::jetstream::{JetStreamEventStore, JetStreamProjectionRunner, async_nats};
use cim_events::projection::{
    Checkpoint, MemoryCheckpointStore, Projection, ProjectionRunner, RunningProjection, async_trait,
};
use cim_events::{Event, EventStore, MemoryEventStore, RecordedEvent, StartFrom};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

/// Everything that can happen to an account. Each variant is stored as its own event
/// type (`Opened`, `Deposited`, `Withdrawn`), under the account's id, which the events
/// do not hold: it is in the block (`RecordedEvent::aggregate_id`).
#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[event(aggregate = "Account")]
enum AccountEvent {
    Opened { owner: String },
    Deposited { amount: u64 },
    Withdrawn { amount: u64 },
}

/// The read model: each account's balance.
type Balances = Arc<Mutex<BTreeMap<String, i64>>>;

/// Keeps [`Balances`] up to date. The read model lives in memory, so its checkpoint does
/// too (`MemoryCheckpointStore`): every run rebuilds it from the first event. A read model
/// in a database would keep its checkpoint in the same transaction and resume instead.
struct BalancesProjection(Balances);

#[async_trait]
impl Projection for BalancesProjection {
    type Error = Infallible;

    fn name(&self) -> &str {
        "balances"
    }

    async fn apply(&mut self, recorded: &RecordedEvent, _: Checkpoint) -> Result<(), Infallible> {
        // The runner feeds `Account` events only (`select`); one of a version this code
        // does not know is not this projection's business.
        let Ok(event) = recorded.decode::<AccountEvent>() else {
            return Ok(());
        };
        let mut balances = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let balance = balances
            .entry(recorded.aggregate_id().to_owned())
            .or_insert(0);
        match event {
            AccountEvent::Opened { .. } => {}
            AccountEvent::Deposited { amount } => *balance += amount as i64,
            AccountEvent::Withdrawn { amount } => *balance -= amount as i64,
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let balances = Balances::default();
    let projection = BalancesProjection(Arc::clone(&balances));
    let checkpoints = MemoryCheckpointStore::new();
    match std::env::var("NATS_URL") {
        Ok(url) => {
            let jetstream = async_nats::jetstream::new(async_nats::connect(&url).await?);
            let store = JetStreamEventStore::builder(jetstream, "PROJECTION_EXAMPLE")
                .prefix("bank")
                .build()
                .await?;
            println!(
                "store: JetStream at {url} (stream PROJECTION_EXAMPLE, prefix bank); \
                 projection on durable consumer `balances`"
            );
            let running = JetStreamProjectionRunner::new(&store, projection, checkpoints)
                .select(AccountEvent::selector())
                .spawn();
            // The stream outlives this run: new accounts each time.
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
            demo(&store, running, &balances, &format!("{}", now.as_millis())).await
        }
        Err(_) => {
            let store = MemoryEventStore::builder().prefix("bank").build()?;
            println!("store: in-memory (no server)");
            let running = ProjectionRunner::new(store.clone(), projection, checkpoints)
                .select(AccountEvent::selector())
                .spawn();
            demo(&store, running, &balances, "1").await
        }
    }
}

async fn demo<S: EventStore, R: Send + 'static>(
    store: &S,
    mut running: RunningProjection<R, Infallible>,
    balances: &Balances,
    run: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let (alice, bob) = (format!("alice-{run}"), format!("bob-{run}"));

    // A live subscription to the accounts' deposits only: it sees what is stored from now on.
    let deposited = AccountEvent::selector_deposited();
    let mut deposits = store.subscribe_selected(&deposited, StartFrom::Now).await?;

    let events = [
        (
            &alice,
            AccountEvent::Opened {
                owner: "Alice".into(),
            },
        ),
        (
            &bob,
            AccountEvent::Opened {
                owner: "Bob".into(),
            },
        ),
        (&alice, AccountEvent::Deposited { amount: 100 }),
        (&bob, AccountEvent::Deposited { amount: 40 }),
        (&alice, AccountEvent::Withdrawn { amount: 30 }),
        (&alice, AccountEvent::Deposited { amount: 5 }),
    ];
    let mut last = 0;
    for (account, event) in events {
        last = store.append_event(account, event, None).await?.sequence;
    }

    for _ in 0..3 {
        let Some(deposit) = deposits.next().await else {
            break;
        };
        let deposit = deposit?;
        if let AccountEvent::Deposited { amount } = deposit.decode()? {
            println!(
                "live: {} deposited {amount} (stream sequence {}, {})",
                deposit.aggregate_id(),
                deposit.sequence,
                deposit.cid
            );
        }
    }

    // Wait until the projection has applied the last event, then read the model. A runner
    // that fails meanwhile makes this return its error (a `ProjectionError`), not a closed
    // channel. The lag is what the store holds beyond the checkpoint.
    let caught_up = running.wait_until_sequence(last).await?;
    let lag = store.last_sequence().await? - caught_up.checkpoint.map_or(0, |c| c.sequence);
    println!("projection caught up (lag {lag})");
    {
        let balances = balances.lock().unwrap_or_else(|p| p.into_inner());
        for account in [&alice, &bob] {
            println!(
                "balance of {account}: {}",
                balances.get(account).unwrap_or(&0)
            );
        }
    }

    let progress = running.stop().await?;
    if let Some(checkpoint) = progress.checkpoint {
        println!(
            "projection `balances` stopped after applying {} events; checkpoint: stream sequence {} ({})",
            progress.applied, checkpoint.sequence, checkpoint.cid
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The stored shapes of the events this example writes, locked in
    /// `projection.schema.lock` (see `cim-events/docs/evolving-events.md`).
    #[test]
    fn schema_lock() {
        cim_events::assert_schema_lock!(super::AccountEvent; path: "projection.schema.lock");
    }
}
