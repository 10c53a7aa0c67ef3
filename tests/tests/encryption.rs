//! Encryption on the event path, each case on the memory store and on JetStream (one
//! shared R1 server per binary; each case its own stream, prefix, key bucket and snapshot
//! bucket): `Pii` values are encrypted before they are stored and decrypted on every read
//! (load, subscription, repository, projection runners); a shred erases one data subject
//! in every aggregate that holds it while the chains still verify; and each way a read can
//! go wrong is its own typed error.
//!
//! The stores are reached through [`Backend`], so that each case is written once. What a
//! case reads "around the store" (every stored message's bytes, a store of forged
//! messages) goes through the memory store's raw access or async-nats directly.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cim_events::block::{EventBlock, cid_of};
use cim_events::crypto::{Crypto, CryptoError, Kek, KeyIdHash, KeyState, KeyStore, MemoryKeyStore};
use cim_events::jetstream::{
    JetStreamCheckpointStore, JetStreamKeyStore, JetStreamProjectionRunner, JetStreamSnapshotStore,
};
use cim_events::projection::{
    Checkpoint, MemoryCheckpointStore, Projection, ProjectionRunner, async_trait,
};
use cim_events::test_util::headers_of;
use cim_events::{
    CommandContext, CommandError, Error, Event, EventHeader, EventStore, ExpectedVersion,
    FaultKind, Ipld, JetStreamEventStore, LoadError, MemoryEventStore, MemorySnapshotStore, Pii,
    PreparedAppend, RawRecord, RecordedEvent, Repository, SealedEvent, SnapshotPolicy,
    SnapshotRejection, SnapshotStore, SnapshotUse, StartFrom, aggregate,
};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tests::nats::{NatsServer, connect, unique_names};

/// Generous bound for anything a runner or subscription must deliver; a hang fails.
const DELIVERY: Duration = Duration::from_secs(20);

// ---- the domain ----

/// A customer: the data subject is the aggregate id (the default).
#[derive(Event, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[event(aggregate = "Customer")]
enum CustomerEvent {
    Registered {
        #[event(id)]
        customer_id: String,
        email: Pii<String>,
        plan: String,
    },
    PlanChanged {
        #[event(id)]
        customer_id: String,
        plan: String,
    },
}

/// Orders and shipments hold a customer's data under the customer's key.
#[derive(Event, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[event(aggregate = "Order")]
enum OrderEvent {
    Placed {
        #[event(id)]
        order_id: String,
        #[event(data_subject)]
        customer_id: String,
        email: Pii<String>,
        total: u64,
    },
}

#[derive(Event, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[event(aggregate = "Shipment")]
enum ShipmentEvent {
    Dispatched {
        #[event(id)]
        shipment_id: String,
        #[event(data_subject)]
        customer_id: String,
        address: Pii<String>,
        email: Pii<String>,
        carrier: String,
    },
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Customer {
    email: Option<Pii<String>>,
    plan: String,
    events: u32,
}

#[derive(Debug, Clone)]
struct Register {
    email: String,
    plan: String,
}

#[derive(Debug, Clone)]
struct ChangePlan(String);

#[aggregate(events = CustomerEvent)]
impl Customer {
    #[command]
    fn register(
        &self,
        command: Register,
        ctx: &CommandContext<'_>,
    ) -> Result<CustomerEvent, Infallible> {
        Ok(CustomerEvent::Registered {
            customer_id: ctx.aggregate_id.to_owned(),
            email: Pii::Clear(command.email),
            plan: command.plan,
        })
    }

    #[command]
    fn change_plan(
        &self,
        ChangePlan(plan): ChangePlan,
        ctx: &CommandContext<'_>,
    ) -> Result<CustomerEvent, Infallible> {
        Ok(CustomerEvent::PlanChanged {
            customer_id: ctx.aggregate_id.to_owned(),
            plan,
        })
    }

    #[apply(Registered)]
    fn registered(&mut self, email: &Pii<String>, plan: &String) {
        self.email = Some(email.clone());
        self.plan.clone_from(plan);
        self.events += 1;
    }

    #[apply(PlanChanged)]
    fn plan_changed(&mut self, plan: &String) {
        self.plan.clone_from(plan);
        self.events += 1;
    }
}

fn registered(id: &str, email: &str, plan: &str) -> CustomerEvent {
    CustomerEvent::Registered {
        customer_id: id.into(),
        email: Pii::Clear(email.into()),
        plan: plan.into(),
    }
}

fn plan_changed(id: &str, plan: &str) -> CustomerEvent {
    CustomerEvent::PlanChanged {
        customer_id: id.into(),
        plan: plan.into(),
    }
}

/// The same event with its `Pii` values shredded.
fn shredded(event: &CustomerEvent) -> CustomerEvent {
    match event.clone() {
        CustomerEvent::Registered {
            customer_id, plan, ..
        } => CustomerEvent::Registered {
            customer_id,
            email: Pii::Shredded,
            plan,
        },
        other => other,
    }
}

// ---- the stores ----

/// Where a case's stores live: the memory store, or streams on the shared server.
trait Backend: Sized {
    type Store: EventStore + Clone + 'static;
    type Snapshots: SnapshotStore + Clone + 'static;

    async fn new() -> Self;

    /// A handle on the key store named `name`: the same name, the same keys (on
    /// JetStream, a new handle on the same bucket, as another process opens it).
    async fn keys(&self, name: &str) -> Arc<dyn KeyStore>;

    /// A fresh snapshot store.
    async fn snapshots(&self) -> Self::Snapshots;

    /// A fresh, empty event store, encrypting with `crypto` if given.
    async fn open(&self, crypto: Option<Crypto>) -> Self::Store;

    /// Another handle on `of`'s stored messages, with `crypto`: on JetStream a second
    /// store on the same stream; in memory a store holding a copy of every message.
    async fn reopen(&self, of: &Self::Store, crypto: Option<Crypto>) -> Self::Store;

    /// A fresh store with `crypto` holding exactly `records` (read from `of`), stored as
    /// a foreign writer would, around every check of the store.
    async fn forge(
        &self,
        of: &Self::Store,
        records: &[RawRecord],
        crypto: Option<Crypto>,
    ) -> Self::Store;

    /// Every message of `store`, exactly as stored, in stream order, read around the
    /// store: sequences 1 to the last, none missing.
    async fn stored(&self, store: &Self::Store) -> Vec<RawRecord>;

    /// What the server wrote to disk for `store`'s stream, once it holds `marker`
    /// (`None`: the store keeps nothing on disk).
    async fn on_disk(&self, store: &Self::Store, marker: &[u8]) -> Option<Vec<u8>>;

    /// The events the durable JetStream runner hands a projection, up to `sequence`
    /// (`None`: no such runner here).
    async fn durable_runner(
        &self,
        store: &Self::Store,
        sequence: u64,
    ) -> Option<Vec<CustomerEvent>>;
}

struct Memory {
    keys: Mutex<HashMap<String, MemoryKeyStore>>,
}

impl Backend for Memory {
    type Store = MemoryEventStore;
    type Snapshots = MemorySnapshotStore;

    async fn new() -> Self {
        Memory {
            keys: Mutex::new(HashMap::new()),
        }
    }

    async fn keys(&self, name: &str) -> Arc<dyn KeyStore> {
        let mut keys = self.keys.lock().expect("the key stores");
        Arc::new(keys.entry(name.to_owned()).or_default().clone())
    }

    async fn snapshots(&self) -> MemorySnapshotStore {
        MemorySnapshotStore::new()
    }

    async fn open(&self, crypto: Option<Crypto>) -> MemoryEventStore {
        let builder = MemoryEventStore::builder();
        match crypto {
            Some(crypto) => builder.encryption(crypto),
            None => builder,
        }
        .build()
        .expect("a memory store")
    }

    async fn reopen(&self, of: &MemoryEventStore, crypto: Option<Crypto>) -> MemoryEventStore {
        let records = self.stored(of).await;
        self.forge(of, &records, crypto).await
    }

    async fn forge(
        &self,
        _: &MemoryEventStore,
        records: &[RawRecord],
        crypto: Option<Crypto>,
    ) -> MemoryEventStore {
        let store = self.open(crypto).await;
        for record in records {
            store.insert_raw(&record.subject, record.headers.clone(), record.data.clone());
        }
        store
    }

    async fn stored(&self, store: &MemoryEventStore) -> Vec<RawRecord> {
        let mut records = Vec::new();
        for id in store.aggregate_ids().await.expect("aggregate ids") {
            records.extend(store.read_raw(&id, 0).await.expect("raw messages"));
        }
        records.sort_by_key(|r| r.sequence);
        let last = store.last_sequence().await.expect("last sequence");
        let sequences: Vec<u64> = records.iter().map(|r| r.sequence).collect();
        assert_eq!(
            sequences,
            (1..=last).collect::<Vec<_>>(),
            "every message read"
        );
        records
    }

    async fn on_disk(&self, _: &MemoryEventStore, _: &[u8]) -> Option<Vec<u8>> {
        None
    }

    async fn durable_runner(&self, _: &MemoryEventStore, _: u64) -> Option<Vec<CustomerEvent>> {
        None
    }
}

struct JetStream {
    server: &'static NatsServer,
    context: async_nats::jetstream::Context,
    /// Names this case's buckets.
    id: String,
}

impl JetStream {
    /// Stores messages as a foreign writer would: only the headers a store writes (the
    /// store's publish preconditions are left out).
    async fn publish(&self, store: &JetStreamEventStore, of: &JetStreamEventStore, r: &RawRecord) {
        let subject = r
            .subject
            .strip_prefix(of.subject_prefix())
            .map(|rest| format!("{}{rest}", store.subject_prefix()))
            .expect("a subject under the store's prefix");
        let mut headers = async_nats::HeaderMap::new();
        for (name, value) in &r.headers {
            if name.starts_with("Cim-") || name == "Nats-Msg-Id" || name == "traceparent" {
                headers.insert(name.as_str(), value.as_str());
            }
        }
        store
            .context()
            .publish_with_headers(subject, headers, r.data.clone())
            .await
            .expect("publish")
            .await
            .expect("stored");
    }
}

impl Backend for JetStream {
    type Store = JetStreamEventStore;
    type Snapshots = JetStreamSnapshotStore;

    async fn new() -> Self {
        let server = NatsServer::shared().await;
        let (id, _) = unique_names();
        JetStream {
            server,
            context: connect(vec![server.addr()]).await,
            id,
        }
    }

    async fn keys(&self, name: &str) -> Arc<dyn KeyStore> {
        let context = connect(vec![self.server.addr()]).await;
        let keys = JetStreamKeyStore::new(context, &format!("{}_KEYS_{name}", self.id))
            .await
            .expect("open the key bucket");
        Arc::new(keys)
    }

    async fn snapshots(&self) -> JetStreamSnapshotStore {
        let (n, _) = unique_names();
        JetStreamSnapshotStore::new(self.context.clone(), &format!("{}_SNAPSHOTS_{n}", self.id))
            .await
            .expect("open the snapshot bucket")
    }

    async fn open(&self, crypto: Option<Crypto>) -> JetStreamEventStore {
        let (stream, prefix) = unique_names();
        let builder =
            JetStreamEventStore::builder(connect(vec![self.server.addr()]).await, &stream)
                .prefix(prefix);
        match crypto {
            Some(crypto) => builder.encryption(crypto),
            None => builder,
        }
        .build()
        .await
        .expect("provision the event stream")
    }

    async fn reopen(
        &self,
        of: &JetStreamEventStore,
        crypto: Option<Crypto>,
    ) -> JetStreamEventStore {
        let context = connect(vec![self.server.addr()]).await;
        let builder =
            JetStreamEventStore::builder(context, of.stream_name()).prefix(of.subject_prefix());
        match crypto {
            Some(crypto) => builder.encryption(crypto),
            None => builder,
        }
        .build()
        .await
        .expect("open the event stream again")
    }

    async fn forge(
        &self,
        of: &JetStreamEventStore,
        records: &[RawRecord],
        crypto: Option<Crypto>,
    ) -> JetStreamEventStore {
        let store = self.open(crypto).await;
        for record in records {
            self.publish(&store, of, record).await;
        }
        store
    }

    async fn stored(&self, store: &JetStreamEventStore) -> Vec<RawRecord> {
        let mut stream = self
            .context
            .get_stream(store.stream_name())
            .await
            .expect("the stream");
        let state = stream.info().await.expect("stream info").state.clone();
        assert_eq!(state.messages, state.last_sequence, "no message deleted");
        let mut records = Vec::new();
        for sequence in 1..=state.last_sequence {
            let message = stream
                .get_raw_message(sequence)
                .await
                .expect("a raw message");
            let mut headers = Vec::new();
            for (name, values) in message.headers.iter() {
                for value in values {
                    headers.push((name.to_string(), value.as_str().to_owned()));
                }
            }
            headers.sort();
            records.push(RawRecord {
                sequence: message.sequence,
                subject: message.subject.to_string(),
                headers,
                data: message.payload,
            });
        }
        records
    }

    async fn on_disk(&self, store: &JetStreamEventStore, marker: &[u8]) -> Option<Vec<u8>> {
        // The file store writes each message through to its block file; wait for the
        // marker rather than for a time.
        let deadline = tokio::time::Instant::now() + DELIVERY;
        loop {
            let mut bytes = Vec::new();
            read_tree(
                &self.server.store_dir(),
                &format!("streams/{}/", store.stream_name()),
                &mut bytes,
            );
            if contains(&bytes, marker) {
                return Some(bytes);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the stream's files never held the marker"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn durable_runner(
        &self,
        store: &JetStreamEventStore,
        sequence: u64,
    ) -> Option<Vec<CustomerEvent>> {
        let (n, _) = unique_names();
        let checkpoints =
            JetStreamCheckpointStore::new(self.context.clone(), &format!("{}_CP_{n}", self.id))
                .await
                .expect("open the checkpoint bucket");
        let collect = Collect::default();
        let running = JetStreamProjectionRunner::new(store, collect.clone(), checkpoints).spawn();
        Some(run_until(running, &collect, sequence).await)
    }
}

/// The bytes of every file under `dir` whose path contains `part`.
fn read_tree(dir: &Path, part: &str, out: &mut Vec<u8>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            read_tree(&path, part, out);
        } else if path.to_string_lossy().contains(part)
            && let Ok(bytes) = std::fs::read(&path)
        {
            out.extend(bytes);
        }
    }
}

/// Every case, on both stores.
macro_rules! on_memory_and_jetstream {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(&<super::Memory as super::Backend>::new().await).await;
                }
            )*
        }
        mod jetstream {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(&<super::JetStream as super::Backend>::new().await).await;
                }
            )*
        }
    };
}

on_memory_and_jetstream!(
    plaintext_is_never_stored,
    repository_and_projections_read_clear_values,
    a_shred_erases_one_subject_and_the_chain_still_verifies,
    a_snapshot_rebuilt_after_a_shred_is_used_again,
    a_snapshot_holds_no_plaintext_and_is_used,
    a_snapshot_from_before_a_shred_stays_refused_after_the_key_is_re_created,
    a_state_cached_elsewhere_is_dropped_after_a_shred_and_a_re_creation,
    one_shred_erases_a_data_subject_in_every_aggregate,
    a_wrong_kek_is_a_typed_error,
    a_tampered_ciphertext_is_a_cid_mismatch,
    a_tampered_and_resealed_ciphertext_fails_authentication,
    a_ciphertext_moved_to_another_event_is_misplaced,
    a_missing_key_store_is_a_typed_error_and_stores_nothing,
    an_unknown_key_id_is_a_typed_error,
    old_events_read_after_a_kek_rotation,
    an_append_after_a_shred_needs_the_key_re_created,
    whole_payload_mode_round_trip_and_shred,
    a_prepared_append_is_encrypted_once_and_stored_once,
);

// ---- helpers ----

fn kek(id: &str, byte: u8) -> Kek {
    Kek::from_bytes(id, [byte; 32]).expect("a valid KEK id")
}

/// A `Crypto` on the key store `keys` of `backend`.
async fn crypto<B: Backend>(backend: &B, keys: &str, kek: Kek) -> Crypto {
    Crypto::new(backend.keys(keys).await, kek)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every event of the aggregate, decoded.
async fn events<S: EventStore, E: Event>(store: &S, id: &str) -> Vec<E> {
    store
        .load(id)
        .await
        .expect("load")
        .iter()
        .map(|r| r.decode().expect("decode"))
        .collect()
}

/// The `CryptoError` of a result that must be one.
#[track_caller]
fn crypto_error<T: std::fmt::Debug>(result: Result<T, Error>) -> CryptoError {
    match result {
        Err(Error::Crypto(e)) => *e,
        other => panic!("expected a crypto error, got {other:?}"),
    }
}

/// The content of the first encrypted node in `payload`.
fn encrypted_node(payload: &Ipld) -> Option<&BTreeMap<String, Ipld>> {
    match payload {
        Ipld::Map(map) => match map.get("/cim-enc") {
            Some(Ipld::Map(content)) => Some(content),
            _ => map.values().find_map(encrypted_node),
        },
        Ipld::List(items) => items.iter().find_map(encrypted_node),
        _ => None,
    }
}

/// The encrypted node (the one-entry map) at field `field` of a map payload.
fn field_of(payload: &Ipld, field: &str) -> Ipld {
    let Ipld::Map(map) = payload else {
        panic!("a map payload: {payload:?}")
    };
    map.get(field).cloned().expect("the field")
}

fn bytes_of(node: &BTreeMap<String, Ipld>, key: &str) -> Vec<u8> {
    match node.get(key) {
        Some(Ipld::Bytes(bytes)) => bytes.clone(),
        other => panic!("`{key}` is not bytes: {other:?}"),
    }
}

/// A block sealed again after `change`: a valid block with its own CID and headers that
/// agree with it, as a writer holding no key could make.
fn resealed(record: &RawRecord, change: impl FnOnce(&mut EventBlock)) -> RawRecord {
    let mut block = EventBlock::decode(&record.data).expect("a block");
    change(&mut block);
    let bytes = block.encode().expect("encode");
    let sealed = SealedEvent {
        cid: cid_of(&bytes),
        bytes: bytes.into(),
        subject: record.subject.clone(),
        block,
        traceparent: None,
    };
    RawRecord {
        sequence: record.sequence,
        subject: record.subject.clone(),
        headers: headers_of(&sealed),
        data: sealed.bytes,
    }
}

/// Collects every event it is given, decoded.
#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<CustomerEvent>>>);

#[async_trait]
impl Projection for Collect {
    type Error = Error;
    fn name(&self) -> &str {
        "encryption-collect"
    }
    async fn apply(&mut self, event: &RecordedEvent, _: Checkpoint) -> Result<(), Self::Error> {
        let decoded = event.decode()?;
        self.0.lock().expect("collected").push(decoded);
        Ok(())
    }
}

/// Runs `running` until it has applied stream sequence `sequence`, stops it, and returns
/// what it collected.
async fn run_until<R: Stoppable>(
    running: R,
    collect: &Collect,
    sequence: u64,
) -> Vec<CustomerEvent> {
    running.until(sequence).await;
    collect.0.lock().expect("collected").clone()
}

/// A running projection of either runner.
trait Stoppable {
    async fn until(self, sequence: u64);
}

impl<R: Send + 'static, E: std::error::Error + Send + Sync + 'static> Stoppable
    for cim_events::projection::RunningProjection<R, E>
{
    async fn until(mut self, sequence: u64) {
        tokio::time::timeout(DELIVERY, self.wait_until_sequence(sequence))
            .await
            .expect("the runner caught up in time")
            .expect("the runner applied every event");
        self.stop().await.expect("a graceful stop");
    }
}

/// The events the generic runner hands a projection, up to `sequence`.
async fn generic_runner<S: EventStore + Clone + 'static>(
    store: &S,
    sequence: u64,
) -> Vec<CustomerEvent> {
    let collect = Collect::default();
    let running =
        ProjectionRunner::new(store.clone(), collect.clone(), MemoryCheckpointStore::new()).spawn();
    run_until(running, &collect, sequence).await
}

/// The first `n` events of a subscription from the beginning to `filter`, decoded.
async fn subscribed<S: EventStore>(store: &S, n: usize) -> Vec<CustomerEvent> {
    let filter = format!("{}.>", store.subject_prefix());
    let mut events = store
        .subscribe(&filter, StartFrom::Beginning)
        .await
        .expect("subscribe");
    let mut out = Vec::new();
    for _ in 0..n {
        let event = tokio::time::timeout(DELIVERY, events.next())
            .await
            .expect("delivered in time")
            .expect("the subscription goes on")
            .expect("an event");
        out.push(event.decode().expect("decode"));
    }
    out
}

// ---- (a) what is stored ----

/// No stored message — body or header — holds the plaintext of a `Pii` field, on the
/// store's own reads or read around it; the non-sensitive fields stay readable in the
/// block's payload. On JetStream the stream's files on disk are searched too.
async fn plaintext_is_never_stored<B: Backend>(backend: &B) {
    let email = format!("ann.{}@example.com", backend_tag::<B>());
    let plan = format!("plan-{}-visible", backend_tag::<B>());
    let crypto = crypto(backend, "k", kek("kek-1", 1)).await;
    let store = backend.open(Some(crypto)).await;
    // Through the store's append, and through the repository.
    store
        .append_event("c-1", registered("c-1", &email, &plan), None)
        .await
        .expect("append");
    Repository::<Customer, _>::new(store.clone())
        .execute(
            "c-2",
            Register {
                email: email.clone(),
                plan: plan.clone(),
            },
        )
        .await
        .expect("execute");

    let stored = backend.stored(&store).await;
    assert_eq!(stored.len(), 2);
    for record in &stored {
        assert!(
            !contains(&record.data, email.as_bytes()),
            "message {} holds the plaintext",
            record.sequence
        );
        for (name, value) in &record.headers {
            assert!(!value.contains(&email), "header {name} holds the plaintext");
        }
        let block = EventBlock::decode(&record.data).expect("a block");
        assert_eq!(field_of(&block.payload, "plan"), Ipld::String(plan.clone()));
        assert_eq!(
            field_of(&block.payload, "customer_id"),
            Ipld::String(block.aggregate_id.clone())
        );
        let Ipld::Map(email_field) = field_of(&block.payload, "email") else {
            panic!("the email field is a map")
        };
        assert_eq!(
            email_field.keys().collect::<Vec<_>>(),
            ["/cim-enc"],
            "the email field is one encrypted node"
        );
        let node = encrypted_node(&block.payload).expect("an encrypted node");
        assert_eq!(node["alg"], Ipld::String("xchacha20poly1305".into()));
        let kid = KeyIdHash::of(&block.aggregate_id);
        assert_eq!(node["kid"], Ipld::String(kid.as_str().to_owned()));
        assert_eq!(bytes_of(node, "nonce").len(), 24);
        // The value's DAG-CBOR (a text header of 2 bytes: 24 to 255 bytes of text) and
        // the 16-byte tag.
        assert!((24..=255).contains(&email.len()));
        assert_eq!(bytes_of(node, "ct").len(), 2 + email.len() + 16);
        assert!(contains(&record.data, plan.as_bytes()));
    }
    // Read back in clear, both.
    for id in ["c-1", "c-2"] {
        let read: Vec<CustomerEvent> = events(&store, id).await;
        assert_eq!(read, [registered(id, &email, &plan)]);
    }
    if let Some(disk) = backend.on_disk(&store, plan.as_bytes()).await {
        assert!(
            !contains(&disk, email.as_bytes()),
            "the stream's files hold the plaintext"
        );
    }
}

/// A tag that tells the two stores' data apart on the shared server's disk.
fn backend_tag<B: Backend>() -> String {
    let name = std::any::type_name::<B>();
    let name = name.rsplit("::").next().unwrap_or(name).to_lowercase();
    let (n, _) = unique_names();
    format!("{name}-{}", n.to_lowercase())
}

// ---- (b) round trips ----

/// Commands through the repository, then every read path: load, the repository's state,
/// a subscription, the generic projection runner and (JetStream) the durable one. Each
/// gives the clear values.
async fn repository_and_projections_read_clear_values<B: Backend>(backend: &B) {
    let crypto = crypto(backend, "k", kek("kek-1", 1)).await;
    let store = backend.open(Some(crypto)).await;
    let customers = Repository::<Customer, _>::new(store.clone());
    let outcome = customers
        .execute(
            "c-1",
            Register {
                email: "ann@example.com".into(),
                plan: "basic".into(),
            },
        )
        .await
        .expect("register");
    assert_eq!(
        outcome.state.email,
        Some(Pii::Clear("ann@example.com".into()))
    );
    customers
        .execute("c-1", ChangePlan("gold".into()))
        .await
        .expect("change plan");
    customers
        .execute(
            "c-2",
            Register {
                email: "bob@example.com".into(),
                plan: "basic".into(),
            },
        )
        .await
        .expect("register");

    let expected = vec![
        registered("c-1", "ann@example.com", "basic"),
        plan_changed("c-1", "gold"),
        registered("c-2", "bob@example.com", "basic"),
    ];
    let mut loaded: Vec<CustomerEvent> = events(&store, "c-1").await;
    loaded.extend(events::<_, CustomerEvent>(&store, "c-2").await);
    assert_eq!(loaded, expected);

    let fresh = Repository::<Customer, _>::new(store.clone());
    let state = fresh.load("c-1").await.expect("load");
    assert_eq!(
        (state.version, &state.state),
        (
            2,
            &Customer {
                email: Some(Pii::Clear("ann@example.com".into())),
                plan: "gold".into(),
                events: 2,
            }
        )
    );

    assert_eq!(subscribed(&store, 3).await, expected);
    let last = store.last_sequence().await.expect("last sequence");
    assert_eq!(last, 3);
    assert_eq!(generic_runner(&store, last).await, expected);
    if let Some(durable) = backend.durable_runner(&store, last).await {
        assert_eq!(durable, expected);
    }
    for id in ["c-1", "c-2"] {
        let report = store.verify_chain(id).await.expect("verify");
        assert!(report.is_valid(), "{report:?}");
    }
}

/// A snapshot of a state built from decrypted values is sealed under the data keys it was
/// built from: its stored bytes hold no plaintext, it names those keys, and it is used
/// while they are live.
async fn a_snapshot_holds_no_plaintext_and_is_used<B: Backend>(backend: &B) {
    let crypto = crypto(backend, "k", kek("kek-1", 1)).await;
    let store = backend.open(Some(crypto.clone())).await;
    let snapshots = backend.snapshots().await;
    let customers = Repository::<Customer, _>::new(store.clone())
        .with_snapshots(snapshots.clone(), SnapshotPolicy::EveryNEvents(1));
    customers
        .execute(
            "c-1",
            Register {
                email: "ann@example.com".into(),
                plan: "basic".into(),
            },
        )
        .await
        .expect("register");
    let snapshot = snapshots
        .load_snapshot("Customer", "c-1")
        .await
        .expect("load snapshot")
        .expect("a snapshot after the command");
    let plaintext = b"ann@example.com";
    assert!(
        !snapshot
            .state
            .windows(plaintext.len())
            .any(|w| w == plaintext),
        "the snapshot state holds the plaintext"
    );
    assert_eq!(snapshot.data_keys.len(), 1);
    assert!(
        snapshot.data_keys[0].starts_with(&format!("{}:", KeyIdHash::of("c-1"))),
        "{:?}",
        snapshot.data_keys
    );
    let loaded = customers.load("c-1").await.expect("load");
    assert_eq!(loaded.snapshot, SnapshotUse::Used { version: 1 });
    assert_eq!(
        loaded.state.email,
        Some(Pii::Clear("ann@example.com".to_owned()))
    );
    // A store without encryption cannot open it, and does not serve it.
    let plain = Repository::<Customer, _>::new(backend.reopen(&store, None).await)
        .with_snapshots(snapshots, SnapshotPolicy::Never);
    let err = plain
        .load("c-1")
        .await
        .expect_err("encrypted events, no key store");
    assert!(matches!(err, LoadError::Decode { .. }), "{err:?}");
}

// ---- (c) shredding ----

/// After one subject's shred: its `Pii` fields read as shredded on every read path, its
/// other fields decode, another subject's data still decrypts, the stored blocks are
/// untouched and verify, a snapshot taken before the shred is refused and the state
/// rebuilt, and a cached state is not served.
async fn a_shred_erases_one_subject_and_the_chain_still_verifies<B: Backend>(backend: &B) {
    let crypto = crypto(backend, "k", kek("kek-1", 1)).await;
    let store = backend.open(Some(crypto.clone())).await;
    let snapshots = backend.snapshots().await;
    let customers = Repository::<Customer, _>::new(store.clone())
        .with_snapshots(snapshots.clone(), SnapshotPolicy::EveryNEvents(1));
    let cached = Repository::<Customer, _>::new(store.clone()).with_cache(10);
    for (id, email) in [("c-1", "ann@example.com"), ("c-2", "bob@example.com")] {
        customers
            .execute(
                id,
                Register {
                    email: email.into(),
                    plan: "basic".into(),
                },
            )
            .await
            .expect("register");
        customers
            .execute(id, ChangePlan("gold".into()))
            .await
            .expect("change plan");
    }
    // The cached repository holds c-1's state, with the plaintext.
    let warm = cached
        .execute("c-1", ChangePlan("platinum".into()))
        .await
        .expect("change plan");
    assert_eq!(warm.state.email, Some(Pii::Clear("ann@example.com".into())));
    let loaded = customers.load("c-1").await.expect("load");
    assert_eq!(loaded.snapshot, SnapshotUse::Used { version: 2 });
    let before = backend.stored(&store).await;

    let report = crypto.shred("c-1", &kek("kek-2", 2)).await.expect("shred");
    assert_eq!(report.kids, [KeyIdHash::of("c-1")]);
    assert_eq!((report.kek_id.as_str(), report.rewrapped), ("kek-2", 1));
    assert_eq!(
        crypto.key_state("c-1").await.expect("state"),
        KeyState::Shredded
    );

    // The stored messages are exactly as before.
    assert_eq!(backend.stored(&store).await, before);
    let c1 = vec![
        shredded(&registered("c-1", "ann@example.com", "basic")),
        plan_changed("c-1", "gold"),
        plan_changed("c-1", "platinum"),
    ];
    let c2 = vec![
        registered("c-2", "bob@example.com", "basic"),
        plan_changed("c-2", "gold"),
    ];
    assert_eq!(events::<_, CustomerEvent>(&store, "c-1").await, c1);
    assert_eq!(events::<_, CustomerEvent>(&store, "c-2").await, c2);
    for (id, count) in [("c-1", 3), ("c-2", 2)] {
        let report = store.verify_chain(id).await.expect("verify");
        assert_eq!(
            (report.events, report.faults.len()),
            (count, 0),
            "{report:?}"
        );
    }

    // Subscriptions and both runners, in stream order.
    let in_stream_order = vec![
        c1[0].clone(),
        c1[1].clone(),
        c2[0].clone(),
        c2[1].clone(),
        c1[2].clone(),
    ];
    assert_eq!(subscribed(&store, 5).await, in_stream_order);
    assert_eq!(generic_runner(&store, 5).await, in_stream_order);
    if let Some(durable) = backend.durable_runner(&store, 5).await {
        assert_eq!(durable, in_stream_order);
    }

    // The snapshot taken before the shred is refused; the state is rebuilt.
    let loaded = customers.load("c-1").await.expect("load");
    assert!(
        matches!(
            loaded.snapshot,
            SnapshotUse::Ignored(SnapshotRejection::Shredded { version: 2, ref data_key })
                if data_key.starts_with(&format!("{}:", KeyIdHash::of("c-1")))
        ),
        "{:?}",
        loaded.snapshot
    );
    assert_eq!(
        (loaded.version, loaded.state),
        (
            3,
            Customer {
                email: Some(Pii::Shredded),
                plan: "platinum".into(),
                events: 3,
            }
        )
    );
    let other = customers.load("c-2").await.expect("load");
    assert_eq!(other.snapshot, SnapshotUse::Used { version: 2 });
    assert_eq!(
        other.state.email,
        Some(Pii::Clear("bob@example.com".into()))
    );

    // The cached state (built before the shred) is not served.
    let after = cached
        .execute("c-1", ChangePlan("gold".into()))
        .await
        .expect("change plan");
    assert_eq!(after.state.email, Some(Pii::Shredded));
    assert_eq!(after.state.events, 4);
}

/// After a shred the repository refuses the old snapshot and writes a new one from the
/// rebuilt state, which holds no erased data: that one is used from then on.
/// (A replay records only the keys of values that decrypted; a shredded value left no
/// plaintext behind.)
async fn a_snapshot_rebuilt_after_a_shred_is_used_again<B: Backend>(backend: &B) {
    let crypto = crypto(backend, "k", kek("kek-1", 1)).await;
    let store = backend.open(Some(crypto.clone())).await;
    let customers = Repository::<Customer, _>::new(store.clone())
        .with_snapshots(backend.snapshots().await, SnapshotPolicy::EveryNEvents(1));
    customers
        .execute(
            "c-1",
            Register {
                email: "ann@example.com".into(),
                plan: "basic".into(),
            },
        )
        .await
        .expect("register");
    crypto.shred("c-1", &kek("kek-2", 2)).await.expect("shred");
    let loaded = customers.load("c-1").await.expect("load");
    assert!(
        matches!(
            loaded.snapshot,
            SnapshotUse::Ignored(SnapshotRejection::Shredded { version: 1, .. })
        ),
        "{:?}",
        loaded.snapshot
    );
    // A command after the shred: the state it snapshots was rebuilt with the email
    // shredded.
    let outcome = customers
        .execute("c-1", ChangePlan("gold".into()))
        .await
        .expect("change plan");
    assert_eq!(outcome.state.email, Some(Pii::Shredded));
    let again = customers.load("c-1").await.expect("load");
    assert_eq!(
        again.snapshot,
        SnapshotUse::Used { version: 2 },
        "the snapshot written after the shred holds no erased data, yet it is refused: \
         every later load replays the whole aggregate"
    );
}

/// A snapshot taken before a shred holds the erased plaintext. Re-creating the subject's
/// key (the customer comes back) must not make it servable again: the values it was
/// built from are under the destroyed data key, whatever the key id's state now.
/// (A snapshot names each data key with its version, and a re-created key has another.)
async fn a_snapshot_from_before_a_shred_stays_refused_after_the_key_is_re_created<B: Backend>(
    backend: &B,
) {
    let crypto = crypto(backend, "k", kek("kek-1", 1)).await;
    let store = backend.open(Some(crypto.clone())).await;
    let customers = Repository::<Customer, _>::new(store.clone())
        .with_snapshots(backend.snapshots().await, SnapshotPolicy::EveryNEvents(1));
    customers
        .execute(
            "c-1",
            Register {
                email: "ann@example.com".into(),
                plan: "basic".into(),
            },
        )
        .await
        .expect("register");
    crypto.shred("c-1", &kek("kek-2", 2)).await.expect("shred");
    crypto.recreate_key("c-1").await.expect("re-create");
    let loaded = customers.load("c-1").await.expect("load");
    assert_eq!(
        loaded.state.email,
        Some(Pii::Shredded),
        "the state holds the erased e-mail address again (snapshot: {:?})",
        loaded.snapshot
    );
    assert!(
        matches!(loaded.snapshot, SnapshotUse::Ignored(_)),
        "{:?}",
        loaded.snapshot
    );
}

/// Another process's repository caches a state built from a subject's plaintext. After
/// a shred and a re-creation of the key there, its cache must not serve that state: with
/// a key cache TTL of zero it checks the key store before every use.
///
async fn a_state_cached_elsewhere_is_dropped_after_a_shred_and_a_re_creation<B: Backend>(
    backend: &B,
) {
    let crypto = crypto(backend, "k", kek("kek-1", 1)).await;
    let store = backend.open(Some(crypto.clone())).await;
    let other_process = Crypto::with_key_cache(
        backend.keys("k").await,
        kek("kek-1", 1),
        100,
        Duration::ZERO,
    );
    let elsewhere = backend.reopen(&store, Some(other_process.clone())).await;
    let cached = Repository::<Customer, _>::new(elsewhere).with_cache(10);
    let warm = cached
        .execute(
            "c-1",
            Register {
                email: "ann@example.com".into(),
                plan: "basic".into(),
            },
        )
        .await
        .expect("register");
    assert_eq!(warm.state.email, Some(Pii::Clear("ann@example.com".into())));

    // Without a re-creation, the shred is seen at once (TTL zero). Every process switches
    // to the KEK a shred rotates to (see docs/encryption.md).
    crypto.shred("c-1", &kek("kek-2", 2)).await.expect("shred");
    other_process.use_kek(&kek("kek-2", 2));
    let after = cached
        .execute("c-1", ChangePlan("gold".into()))
        .await
        .expect("change plan");
    assert_eq!(after.state.email, Some(Pii::Shredded));

    // Once more, with the key re-created before the cached state is next used.
    let warm = cached
        .execute(
            "c-2",
            Register {
                email: "bob@example.com".into(),
                plan: "basic".into(),
            },
        )
        .await
        .expect("register");
    assert_eq!(warm.state.email, Some(Pii::Clear("bob@example.com".into())));
    crypto.shred("c-2", &kek("kek-3", 3)).await.expect("shred");
    other_process.use_kek(&kek("kek-3", 3));
    crypto.recreate_key("c-2").await.expect("re-create");
    let after = cached
        .execute("c-2", ChangePlan("gold".into()))
        .await
        .expect("change plan");
    assert_eq!(
        after.state.email,
        Some(Pii::Shredded),
        "the cached state with the erased e-mail address was served"
    );
}

// ---- (d) the data subject ----

/// Two aggregates of other types hold one customer's data under `#[event(data_subject)]
/// customer_id`: encrypted under the customer's key (not the aggregate ids'), and one
/// shred of the customer erases it in both, and nowhere else.
async fn one_shred_erases_a_data_subject_in_every_aggregate<B: Backend>(backend: &B) {
    let crypto = crypto(backend, "k", kek("kek-1", 1)).await;
    let store = backend.open(Some(crypto.clone())).await;
    let placed = |order: &str, customer: &str, email: &str| OrderEvent::Placed {
        order_id: order.into(),
        customer_id: customer.into(),
        email: Pii::Clear(email.into()),
        total: 4200,
    };
    let dispatched = ShipmentEvent::Dispatched {
        shipment_id: "s-1".into(),
        customer_id: "cust-9".into(),
        address: Pii::Clear("1 High Street".into()),
        email: Pii::Clear("nine@example.com".into()),
        carrier: "DHL".into(),
    };
    store
        .append_event("o-1", placed("o-1", "cust-9", "nine@example.com"), None)
        .await
        .expect("append");
    store
        .append_event("s-1", dispatched.clone(), None)
        .await
        .expect("append");
    store
        .append_event("o-2", placed("o-2", "cust-8", "eight@example.com"), None)
        .await
        .expect("append");

    for (id, subject) in [("o-1", "cust-9"), ("s-1", "cust-9"), ("o-2", "cust-8")] {
        let records = store.load(id).await.expect("load");
        assert_eq!(records[0].data_keys(), [KeyIdHash::of(subject)], "{id}");
    }
    for id in ["o-1", "s-1", "o-2"] {
        assert_eq!(
            crypto.key_state(id).await.expect("state"),
            KeyState::Absent,
            "no key for the aggregate id {id}"
        );
    }

    crypto
        .shred("cust-9", &kek("kek-2", 2))
        .await
        .expect("shred");

    let orders: Vec<OrderEvent> = events(&store, "o-1").await;
    assert_eq!(
        orders,
        [OrderEvent::Placed {
            order_id: "o-1".into(),
            customer_id: "cust-9".into(),
            email: Pii::Shredded,
            total: 4200,
        }]
    );
    let shipments: Vec<ShipmentEvent> = events(&store, "s-1").await;
    assert_eq!(
        shipments,
        [ShipmentEvent::Dispatched {
            shipment_id: "s-1".into(),
            customer_id: "cust-9".into(),
            address: Pii::Shredded,
            email: Pii::Shredded,
            carrier: "DHL".into(),
        }]
    );
    let other: Vec<OrderEvent> = events(&store, "o-2").await;
    assert_eq!(other, [placed("o-2", "cust-8", "eight@example.com")]);
    for id in ["o-1", "s-1", "o-2"] {
        let report = store.verify_chain(id).await.expect("verify");
        assert_eq!((report.events, report.faults.len()), (1, 0), "{report:?}");
    }
}

// ---- (e) typed errors ----

/// A second handle whose KEK is not the one the data keys are wrapped under: every read
/// path fails with `WrongKek`, naming both KEK ids (or the same id when only the bytes
/// differ).
async fn a_wrong_kek_is_a_typed_error<B: Backend>(backend: &B) {
    let crypto = crypto(backend, "k", kek("kek-1", 1)).await;
    let store = backend.open(Some(crypto)).await;
    store
        .append_event("c-1", registered("c-1", "ann@example.com", "basic"), None)
        .await
        .expect("append");

    let other = Crypto::new(backend.keys("k").await, kek("kek-other", 9));
    let wrong = backend.reopen(&store, Some(other)).await;
    assert_eq!(
        crypto_error(wrong.load("c-1").await),
        CryptoError::WrongKek {
            kid: KeyIdHash::of("c-1"),
            wrapped_with: "kek-1".into(),
            held: "kek-other".into(),
        }
    );
    // The same id with other bytes.
    let forged = Crypto::new(backend.keys("k").await, kek("kek-1", 9));
    let wrong = backend.reopen(&store, Some(forged)).await;
    assert_eq!(
        crypto_error(wrong.load("c-1").await),
        CryptoError::WrongKek {
            kid: KeyIdHash::of("c-1"),
            wrapped_with: "kek-1".into(),
            held: "kek-1".into(),
        }
    );
    // A subscription hands out the error as an item; the repository as a decode error.
    let filter = format!("{}.>", wrong.subject_prefix());
    let mut events = wrong
        .subscribe(&filter, StartFrom::Beginning)
        .await
        .expect("subscribe");
    let first = tokio::time::timeout(DELIVERY, events.next())
        .await
        .expect("delivered in time")
        .expect("an item");
    assert!(
        matches!(crypto_error(first), CryptoError::WrongKek { .. }),
        "a subscription item"
    );
    match Repository::<Customer, _>::new(wrong).load("c-1").await {
        Err(LoadError::Decode {
            version: 1, source, ..
        }) => assert!(
            matches!(&*source, Error::Crypto(e) if matches!(**e, CryptoError::WrongKek { .. })),
            "{source:?}"
        ),
        other => panic!("expected a decode error, got {other:?}"),
    }
}

/// A byte flipped inside the ciphertext of a stored block: the block no longer hashes to
/// the CID it was stored under. Verification reports a hash mismatch (and does not blame
/// the next event); a load never decrypts it: it fails with a broken chain naming the
/// altered message.
async fn a_tampered_ciphertext_is_a_cid_mismatch<B: Backend>(backend: &B) {
    let crypto = crypto(backend, "k", kek("kek-1", 1)).await;
    let store = backend.open(Some(crypto)).await;
    store
        .append_events(
            "c-1",
            vec![
                registered("c-1", "ann@example.com", "basic"),
                plan_changed("c-1", "gold"),
            ],
            ExpectedVersion::NoStream,
        )
        .await
        .expect("append");
    let mut records = backend.stored(&store).await;
    let original = cid_of(&records[0].data);
    let block = EventBlock::decode(&records[0].data).expect("a block");
    let ct = bytes_of(encrypted_node(&block.payload).expect("a node"), "ct");
    let mut data = records[0].data.to_vec();
    let at = data
        .windows(ct.len())
        .position(|w| w == ct.as_slice())
        .expect("the ciphertext in the block's bytes");
    data[at + ct.len() / 2] ^= 0x01;
    records[0].data = data.into();
    let tampered = cid_of(&records[0].data);

    let forged = backend
        .forge(&store, &records, Some(crypto_for(backend, "k").await))
        .await;
    let report = forged.verify_chain("c-1").await.expect("verify");
    assert!(!report.is_valid());
    assert_eq!(report.faults.len(), 1, "{report:?}");
    assert_eq!(report.faults[0].sequence, 1);
    assert_eq!(
        report.faults[0].kind,
        FaultKind::HashMismatch {
            claimed: original.to_string(),
            actual: tampered,
        }
    );
    match forged.load("c-1").await {
        // The altered event is named: version 1 is there, but not as its CID says.
        Err(Error::BrokenChain(broken)) => assert_eq!(
            (
                broken.sequence,
                broken.expected_version,
                broken.found_version
            ),
            (1, 1, 1)
        ),
        other => panic!("expected a broken chain, got {other:?}"),
    }
    match Repository::<Customer, _>::new(forged).load("c-1").await {
        Err(LoadError::BrokenChain(broken)) => assert_eq!(broken.sequence, 1),
        other => panic!("expected a broken chain, got {other:?}"),
    }
}

/// A second handle on the key store `keys` with the KEK the data keys are wrapped under.
async fn crypto_for<B: Backend>(backend: &B, keys: &str) -> Crypto {
    crypto(backend, keys, kek("kek-1", 1)).await
}

/// The same flipped byte, and the block sealed again so that its CID is valid: the chain
/// verifies, and the AEAD refuses the value: `Tampered`.
async fn a_tampered_and_resealed_ciphertext_fails_authentication<B: Backend>(backend: &B) {
    let crypto = crypto(backend, "k", kek("kek-1", 1)).await;
    let store = backend.open(Some(crypto)).await;
    store
        .append_event("c-1", registered("c-1", "ann@example.com", "basic"), None)
        .await
        .expect("append");
    let records = backend.stored(&store).await;
    let forged = resealed(&records[0], |block| {
        let Ipld::Map(payload) = &mut block.payload else {
            panic!("a map payload")
        };
        let Some(Ipld::Map(email)) = payload.get_mut("email") else {
            panic!("the email node")
        };
        let Some(Ipld::Map(node)) = email.get_mut("/cim-enc") else {
            panic!("an encrypted node")
        };
        let Some(Ipld::Bytes(ct)) = node.get_mut("ct") else {
            panic!("the ciphertext")
        };
        ct[0] ^= 0x01;
    });
    let forged = backend
        .forge(&store, &[forged], Some(crypto_for(backend, "k").await))
        .await;
    let report = forged.verify_chain("c-1").await.expect("verify");
    assert_eq!((report.events, report.faults.len()), (1, 0), "{report:?}");
    match crypto_error(forged.load("c-1").await) {
        CryptoError::Tampered { path, .. } => assert_eq!(path, "$.email"),
        other => panic!("expected Tampered, got {other:?}"),
    }
}

/// An intact encrypted value copied from one event into another event of the same
/// subject, whose block is sealed again (valid CID, valid chain): it does not decrypt
/// there, and says so: `Misplaced`.
async fn a_ciphertext_moved_to_another_event_is_misplaced<B: Backend>(backend: &B) {
    let crypto = crypto(backend, "k", kek("kek-1", 1)).await;
    let store = backend.open(Some(crypto)).await;
    store
        .append_events(
            "c-1",
            vec![
                registered("c-1", "ann@example.com", "basic"),
                registered("c-1", "ann.new@example.com", "gold"),
            ],
            ExpectedVersion::NoStream,
        )
        .await
        .expect("append");
    let records = backend.stored(&store).await;
    let first = EventBlock::decode(&records[0].data).expect("a block");
    let node = field_of(&first.payload, "email");
    let moved = resealed(&records[1], |block| {
        let Ipld::Map(payload) = &mut block.payload else {
            panic!("a map payload")
        };
        payload.insert("email".into(), node);
    });
    let forged = backend
        .forge(
            &store,
            &[records[0].clone(), moved],
            Some(crypto_for(backend, "k").await),
        )
        .await;
    let report = forged.verify_chain("c-1").await.expect("verify");
    assert_eq!((report.events, report.faults.len()), (2, 0), "{report:?}");
    assert_eq!(
        crypto_error(forged.load("c-1").await),
        CryptoError::Misplaced {
            kid: KeyIdHash::of("c-1"),
            path: "$.email".into(),
        }
    );
}

/// Encrypted data read by a store without encryption: the events load, and decoding
/// them fails with `MissingKeyStore`. An append holding `Pii` on such a store fails the
/// same way, and stores nothing.
async fn a_missing_key_store_is_a_typed_error_and_stores_nothing<B: Backend>(backend: &B) {
    let crypto = crypto(backend, "k", kek("kek-1", 1)).await;
    let store = backend.open(Some(crypto)).await;
    store
        .append_event("c-1", registered("c-1", "ann@example.com", "basic"), None)
        .await
        .expect("append");
    let plain = backend.reopen(&store, None).await;
    let records = plain.load("c-1").await.expect("the blocks load");
    assert_eq!(records.len(), 1);
    match crypto_error(records[0].decode::<CustomerEvent>()) {
        CryptoError::MissingKeyStore { path } => assert_eq!(path, "$.email"),
        other => panic!("expected MissingKeyStore, got {other:?}"),
    }
    match Repository::<Customer, _>::new(plain.clone())
        .load("c-1")
        .await
    {
        Err(LoadError::Decode { source, .. }) => assert!(
            matches!(&*source, Error::Crypto(e) if matches!(**e, CryptoError::MissingKeyStore { .. })),
            "{source:?}"
        ),
        other => panic!("expected a decode error, got {other:?}"),
    }

    // Writing.
    let before = backend.stored(&plain).await;
    match crypto_error(
        plain
            .append_event("c-9", registered("c-9", "eve@example.com", "basic"), None)
            .await,
    ) {
        CryptoError::MissingKeyStore { path } => assert_eq!(path, "$.email"),
        other => panic!("expected MissingKeyStore, got {other:?}"),
    }
    match Repository::<Customer, _>::new(plain.clone())
        .execute(
            "c-8",
            Register {
                email: "eve@example.com".into(),
                plan: "basic".into(),
            },
        )
        .await
    {
        Err(CommandError::Store(Error::Crypto(e))) => {
            assert!(matches!(*e, CryptoError::MissingKeyStore { .. }), "{e:?}");
        }
        other => panic!("expected MissingKeyStore, got {other:?}"),
    }
    let after = backend.stored(&plain).await;
    assert_eq!(after, before, "nothing stored");
    assert!(plain.load("c-9").await.expect("load").is_empty());
    // An event without `Pii` is stored as ever.
    plain
        .append_event("c-9", plan_changed("c-9", "gold"), None)
        .await
        .expect("append");
}

/// A key store that never held the subject's key (another one, or one wiped): the read
/// fails with `UnknownKey`, naming the key id hash and the field.
async fn an_unknown_key_id_is_a_typed_error<B: Backend>(backend: &B) {
    let crypto = crypto(backend, "k", kek("kek-1", 1)).await;
    let store = backend.open(Some(crypto)).await;
    store
        .append_event("c-1", registered("c-1", "ann@example.com", "basic"), None)
        .await
        .expect("append");
    let elsewhere = crypto_for(backend, "other").await;
    let wrong = backend.reopen(&store, Some(elsewhere)).await;
    assert_eq!(
        crypto_error(wrong.load("c-1").await),
        CryptoError::UnknownKey {
            kid: KeyIdHash::of("c-1"),
            path: "$.email".into(),
        }
    );
}

// ---- (f) KEK rotation ----

/// A rotation re-wraps the data keys and touches no event: the stored messages are the
/// same bytes, the same handle reads them, a new handle given the new KEK reads them,
/// and one still holding the old KEK cannot.
async fn old_events_read_after_a_kek_rotation<B: Backend>(backend: &B) {
    let crypto = crypto(backend, "k", kek("kek-1", 1)).await;
    let store = backend.open(Some(crypto.clone())).await;
    for (id, email) in [("c-1", "ann@example.com"), ("c-2", "bob@example.com")] {
        store
            .append_event(id, registered(id, email, "basic"), None)
            .await
            .expect("append");
    }
    let before = backend.stored(&store).await;
    let report = crypto.rotate_kek(&kek("kek-2", 2)).await.expect("rotate");
    assert_eq!((report.kek_id.as_str(), report.rewrapped), ("kek-2", 2));
    assert_eq!(backend.stored(&store).await, before, "no event touched");

    let expected = |id: &str, email: &str| vec![registered(id, email, "basic")];
    assert_eq!(
        events::<_, CustomerEvent>(&store, "c-1").await,
        expected("c-1", "ann@example.com")
    );
    let next = Crypto::new(backend.keys("k").await, kek("kek-2", 2));
    let reader = backend.reopen(&store, Some(next)).await;
    assert_eq!(
        events::<_, CustomerEvent>(&reader, "c-1").await,
        expected("c-1", "ann@example.com")
    );
    assert_eq!(
        events::<_, CustomerEvent>(&reader, "c-2").await,
        expected("c-2", "bob@example.com")
    );
    let stale = Crypto::new(backend.keys("k").await, kek("kek-1", 1));
    let stale = backend.reopen(&store, Some(stale)).await;
    assert_eq!(
        crypto_error(stale.load("c-2").await),
        CryptoError::WrongKek {
            kid: KeyIdHash::of("c-2"),
            wrapped_with: "kek-2".into(),
            held: "kek-1".into(),
        }
    );
}

// ---- (g) writing after a shred ----

/// After a shred, an event holding the subject's `Pii` is refused (`Shredded`) and
/// nothing is stored — by this handle and by another process's — until the key is
/// re-created explicitly; events without `Pii` are stored as ever. The data written
/// before the shred stays shredded after the re-creation.
async fn an_append_after_a_shred_needs_the_key_re_created<B: Backend>(backend: &B) {
    let crypto = crypto(backend, "k", kek("kek-1", 1)).await;
    let store = backend.open(Some(crypto.clone())).await;
    store
        .append_event("c-1", registered("c-1", "ann@example.com", "basic"), None)
        .await
        .expect("append");
    crypto.shred("c-1", &kek("kek-2", 2)).await.expect("shred");
    let before = backend.stored(&store).await;

    assert_eq!(
        crypto_error(
            store
                .append_event("c-1", registered("c-1", "ann@example.com", "gold"), None)
                .await
        ),
        CryptoError::Shredded {
            kid: KeyIdHash::of("c-1")
        }
    );
    match Repository::<Customer, _>::new(store.clone())
        .execute(
            "c-1",
            Register {
                email: "ann@example.com".into(),
                plan: "gold".into(),
            },
        )
        .await
    {
        Err(CommandError::Store(Error::Crypto(e))) => assert_eq!(
            *e,
            CryptoError::Shredded {
                kid: KeyIdHash::of("c-1")
            }
        ),
        other => panic!("expected Shredded, got {other:?}"),
    }
    // Another process, with the KEK the shred rotated to.
    let other = Crypto::new(backend.keys("k").await, kek("kek-2", 2));
    let other = backend.reopen(&store, Some(other)).await;
    assert!(matches!(
        crypto_error(
            other
                .append_event("c-1", registered("c-1", "ann@example.com", "gold"), None)
                .await
        ),
        CryptoError::Shredded { .. }
    ));
    assert_eq!(backend.stored(&store).await, before, "nothing stored");

    store
        .append_event("c-1", plan_changed("c-1", "gold"), None)
        .await
        .expect("an event without Pii");
    crypto.recreate_key("c-1").await.expect("re-create");
    assert_eq!(
        crypto.key_state("c-1").await.expect("state"),
        KeyState::Live
    );
    store
        .append_event(
            "c-1",
            registered("c-1", "ann@example.com", "platinum"),
            None,
        )
        .await
        .expect("append under the new key");
    assert_eq!(
        events::<_, CustomerEvent>(&store, "c-1").await,
        [
            shredded(&registered("c-1", "ann@example.com", "basic")),
            plan_changed("c-1", "gold"),
            registered("c-1", "ann@example.com", "platinum"),
        ]
    );
    // Same key id, another data key (its version differs).
    let records = store.load("c-1").await.expect("load");
    let version = |r: &RecordedEvent| {
        bytes_of(
            encrypted_node(&r.block.payload).expect("an encrypted node"),
            "key",
        )
    };
    assert_eq!(records[0].data_keys(), records[2].data_keys());
    assert_ne!(version(&records[0]), version(&records[2]));
    let report = store.verify_chain("c-1").await.expect("verify");
    assert_eq!((report.events, report.faults.len()), (3, 0), "{report:?}");
}

// ---- encrypting once ----

/// A prepared append is encrypted once, when it is first sealed: appended again (as after
/// an unknown outcome) it gives the same CIDs and is stored once. Two appends of equal
/// values get their own nonces, so their ciphertexts differ.
async fn a_prepared_append_is_encrypted_once_and_stored_once<B: Backend>(backend: &B) {
    let crypto = crypto(backend, "k", kek("kek-1", 1)).await;
    let store = backend.open(Some(crypto)).await;
    let written = [
        registered("c-1", "ann@example.com", "basic"),
        registered("c-1", "ann@example.com", "basic"),
    ];
    let prepared = PreparedAppend::new("c-1", &written, &EventHeader::default()).expect("prepare");
    let first = store
        .append_prepared(&prepared, ExpectedVersion::NoStream)
        .await
        .expect("append");
    let before = backend.stored(&store).await;
    let again = store
        .append_prepared(&prepared, ExpectedVersion::NoStream)
        .await
        .expect("the same append again");
    assert_eq!(
        again.iter().map(|m| m.cid).collect::<Vec<_>>(),
        first.iter().map(|m| m.cid).collect::<Vec<_>>()
    );
    assert_eq!(backend.stored(&store).await, before, "stored once");
    let records = store.load("c-1").await.expect("load");
    let node = |i: usize| {
        encrypted_node(&records[i].block.payload)
            .expect("a node")
            .clone()
    };
    assert_ne!(bytes_of(&node(0), "nonce"), bytes_of(&node(1), "nonce"));
    assert_ne!(bytes_of(&node(0), "ct"), bytes_of(&node(1), "ct"));
    assert_eq!(events::<_, CustomerEvent>(&store, "c-1").await, written);
}

// ---- (h) whole payloads ----

/// Whole-payload mode: the payload is one encrypted node (nothing of it readable, the
/// plan included, and events without `Pii` too); it reads back whole; after a shred each
/// of the subject's events fails to decode with `Shredded`, and the chain verifies.
async fn whole_payload_mode_round_trip_and_shred<B: Backend>(backend: &B) {
    let crypto = crypto(backend, "k", kek("kek-1", 1)).await.whole_payloads();
    let store = backend.open(Some(crypto.clone())).await;
    let plan = format!("plan-{}", backend_tag::<B>());
    let written = vec![
        registered("c-1", "ann@example.com", &plan),
        plan_changed("c-1", &plan),
    ];
    store
        .append_events("c-1", written.clone(), ExpectedVersion::NoStream)
        .await
        .expect("append");
    store
        .append_event("c-2", registered("c-2", "bob@example.com", "basic"), None)
        .await
        .expect("append");

    for record in backend.stored(&store).await {
        assert!(!contains(&record.data, b"ann@example.com"));
        assert!(!contains(&record.data, plan.as_bytes()));
        let block = EventBlock::decode(&record.data).expect("a block");
        let Ipld::Map(payload) = &block.payload else {
            panic!("a map payload")
        };
        assert_eq!(payload.keys().collect::<Vec<_>>(), ["/cim-enc"]);
    }
    assert_eq!(events::<_, CustomerEvent>(&store, "c-1").await, written);

    crypto.shred("c-1", &kek("kek-2", 2)).await.expect("shred");
    let records = store.load("c-1").await.expect("the blocks load");
    assert_eq!(records.len(), 2);
    for record in &records {
        assert_eq!(
            crypto_error(record.decode::<CustomerEvent>()),
            CryptoError::Shredded {
                kid: KeyIdHash::of("c-1")
            }
        );
    }
    assert_eq!(
        events::<_, CustomerEvent>(&store, "c-2").await,
        [registered("c-2", "bob@example.com", "basic")]
    );
    let report = store.verify_chain("c-1").await.expect("verify");
    assert_eq!((report.events, report.faults.len()), (2, 0), "{report:?}");
    match Repository::<Customer, _>::new(store.clone())
        .load("c-1")
        .await
    {
        Err(LoadError::Decode {
            version: 1, source, ..
        }) => assert!(
            matches!(&*source, Error::Crypto(e) if matches!(**e, CryptoError::Shredded { .. })),
            "{source:?}"
        ),
        other => panic!("expected a decode error, got {other:?}"),
    }
}
