//! A bank account on the embedded store: open it, move money, verify the chain and print
//! the CIDs. Runs with no server: `cargo run --example quickstart`. With `NATS_URL` set
//! (`NATS_URL=nats://127.0.0.1:4222 cargo run --example quickstart`) it runs on JetStream,
//! in stream `QUICKSTART` under prefix `quickstart`.

use cim_events::jetstream::{JetStreamEventStore, async_nats};
use cim_events::{Event, EventStore, ExpectedVersion, MemoryEventStore};
use serde::{Deserialize, Serialize};

/// Everything that can happen to an account.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum AccountEvent {
    Opened { account_id: String, owner: String },
    Deposited { account_id: String, amount: u64 },
    Withdrawn { account_id: String, amount: u64 },
}

impl Event for AccountEvent {
    fn event_type(&self) -> &str {
        match self {
            AccountEvent::Opened { .. } => "Opened",
            AccountEvent::Deposited { .. } => "Deposited",
            AccountEvent::Withdrawn { .. } => "Withdrawn",
        }
    }

    fn aggregate_id(&self) -> &str {
        match self {
            AccountEvent::Opened { account_id, .. }
            | AccountEvent::Deposited { account_id, .. }
            | AccountEvent::Withdrawn { account_id, .. } => account_id,
        }
    }

    fn aggregate_type(&self) -> &str {
        "Account"
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::var("NATS_URL") {
        Ok(url) => {
            let jetstream = async_nats::jetstream::new(async_nats::connect(&url).await?);
            let store = JetStreamEventStore::builder(jetstream, "QUICKSTART")
                .prefix("quickstart")
                .build()
                .await?;
            println!("store: JetStream at {url} (stream QUICKSTART, prefix quickstart)");
            // The stream outlives this run: a new account each time.
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
            let id = format!("acc-{}", now.as_millis());
            Ok(run(store, &id).await?)
        }
        Err(_) => {
            println!("store: in-memory (no server)");
            Ok(run(MemoryEventStore::new(), "acc-123").await?)
        }
    }
}

async fn run<S: EventStore>(store: S, id: &str) -> Result<(), cim_events::Error> {
    let account_id = id.to_owned();

    let opened = store
        .append_events(
            id,
            vec![AccountEvent::Opened {
                account_id: account_id.clone(),
                owner: "Alice".into(),
            }],
            ExpectedVersion::NoStream,
        )
        .await?;
    let mut previous = opened[0].cid;
    for event in [
        AccountEvent::Deposited {
            account_id: account_id.clone(),
            amount: 100,
        },
        AccountEvent::Withdrawn {
            account_id: account_id.clone(),
            amount: 30,
        },
        AccountEvent::Deposited {
            account_id: account_id.clone(),
            amount: 5,
        },
    ] {
        // Passing the previous CID makes the append fail if anyone else wrote meanwhile.
        previous = store.append_event(id, event, Some(previous)).await?.cid;
    }

    let mut balance = 0u64;
    for recorded in store.load(id).await? {
        let event: AccountEvent = recorded.decode()?;
        match &event {
            AccountEvent::Opened { .. } => {}
            AccountEvent::Deposited { amount, .. } => balance += amount,
            AccountEvent::Withdrawn { amount, .. } => balance -= amount,
        }
        println!(
            "v{} {:<9} {} prev={}",
            recorded.version(),
            recorded.event_type(),
            recorded.cid,
            recorded
                .block
                .prev
                .map_or("-".to_owned(), |c| c.to_string())
        );
    }
    println!("balance: {balance}");

    let report = store.verify_chain(id).await?;
    println!(
        "chain of {} events verified: {}",
        report.events,
        if report.is_valid() {
            "intact"
        } else {
            "BROKEN"
        }
    );
    Ok(())
}
