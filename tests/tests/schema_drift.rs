//! Schema drift caught at start-up: two store handles on one store register different
//! shapes for one `(aggregate type, event type, schema)`; the second gets
//! `Error::SchemaDrift` naming both fingerprints, and stores nothing. On the memory store
//! (clones) and on JetStream (two handles on one stream, each with its own connection).
//!
//! The event types implement `Event` by hand with `event_shapes`, as `#[derive(Event)]`
//! will: `LedgerV1` and `Retyped` are two builds' ideas of `Ledger/Deposited` schema 1.

use std::time::Duration;

use cim_events::jetstream::async_nats;
use cim_events::schema::{EventShape, FieldShape, Fingerprint};
use cim_events::{
    Aggregate, CommandContext, CommandError, Error, Event, EventStore, Handle, JetStreamEventStore,
    MemoryEventStore, Repository,
};
use serde::{Deserialize, Serialize};
use tests::domain::Noted;
use tests::nats::{JetStreamFixture, NatsServer, connect};

const AMOUNT_U64: &[FieldShape] = &[FieldShape {
    name: "amount",
    ty: "u64",
}];
const AMOUNT_I64: &[FieldShape] = &[FieldShape {
    name: "amount",
    ty: "i64",
}];

fn deposited(schema: u32, fields: &'static [FieldShape]) -> EventShape {
    shape("Deposited", schema, fields)
}

fn shape(event_type: &'static str, schema: u32, fields: &'static [FieldShape]) -> EventShape {
    EventShape {
        aggregate_type: "Ledger",
        event_type,
        aliases: &[],
        schema,
        fields,
    }
}

/// An event type of aggregate `Ledger` stored as `Deposited` under `$schema` with
/// `$fields`, and an aggregate that produces it.
macro_rules! ledger_event {
    ($event:ident, $aggregate:ident, $amount:ty, $schema:expr, $fields:expr) => {
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        struct $event {
            id: String,
            amount: $amount,
        }

        impl Event for $event {
            fn event_type(&self) -> &str {
                "Deposited"
            }
            fn aggregate_id(&self) -> &str {
                &self.id
            }
            fn aggregate_type(&self) -> &str {
                "Ledger"
            }
            fn schema_version(&self) -> u32 {
                $schema
            }
            fn event_shapes() -> Vec<EventShape> {
                vec![deposited($schema, $fields)]
            }
        }

        #[derive(Debug, Default)]
        struct $aggregate;

        impl Aggregate for $aggregate {
            type Event = $event;
            type Error = std::convert::Infallible;
            const AGGREGATE_TYPE: &'static str = "Ledger";
            fn apply(&mut self, _: &$event) {}
        }

        impl Handle<Deposit> for $aggregate {
            fn handle(
                &self,
                command: Deposit,
                ctx: &CommandContext<'_>,
            ) -> Result<Vec<$event>, std::convert::Infallible> {
                Ok(vec![$event {
                    id: ctx.aggregate_id.to_owned(),
                    amount: command.0.into(),
                }])
            }
        }
    };
}

#[derive(Clone)]
struct Deposit(u32);

ledger_event!(LedgerV1, LedgerV1Aggregate, u64, 1, AMOUNT_U64);
// Another build changed the field's type and kept schema 1: drift.
ledger_event!(Retyped, RetypedAggregate, i64, 1, AMOUNT_I64);
// The same change, done right: schema 2.
ledger_event!(LedgerV2, LedgerV2Aggregate, i64, 2, AMOUNT_I64);

fn v1(id: &str) -> LedgerV1 {
    LedgerV1 {
        id: id.into(),
        amount: 1,
    }
}

fn retyped(id: &str) -> Retyped {
    Retyped {
        id: id.into(),
        amount: -1,
    }
}

/// The drift of `result`, which must be one.
fn drift<T: std::fmt::Debug>(
    result: cim_events::Result<T>,
) -> Box<cim_events::schema::SchemaDrift> {
    match result {
        Err(Error::SchemaDrift(drift)) => drift,
        other => panic!("expected schema drift, got {other:?}"),
    }
}

/// The drift names the triple and both fingerprints: `registered` first, `ours` second.
fn assert_drift(
    drift: &cim_events::schema::SchemaDrift,
    registered: Fingerprint,
    ours: Fingerprint,
) {
    assert_eq!(
        (
            drift.aggregate_type.as_str(),
            drift.event_type.as_str(),
            drift.schema
        ),
        ("Ledger", "Deposited", 1)
    );
    assert_eq!((drift.registered, drift.ours), (registered, ours));
    let message = drift.to_string();
    for part in [registered.to_string(), ours.to_string()] {
        assert!(message.contains(&part), "{message:?} lacks {part}");
    }
}

// The cases, written once against two handles `a` and `b` of one store.

/// `a` appends v1 (registering it on its first append); `b`'s first append of the
/// retyped shape is refused with a drift, and nothing of it is stored.
async fn second_shape_is_drift_and_stores_nothing<S: EventStore>(a: &S, b: &S) {
    a.append_event("l-1", v1("l-1"), None)
        .await
        .expect("v1 appends");
    let before = b.last_sequence().await.expect("last sequence");
    let error = drift(b.append_event("l-2", retyped("l-2"), None).await);
    assert_drift(
        &error,
        deposited(1, AMOUNT_U64).fingerprint(),
        deposited(1, AMOUNT_I64).fingerprint(),
    );
    assert!(b.load("l-2").await.expect("load").is_empty());
    assert!(a.load("l-2").await.expect("load").is_empty());
    assert_eq!(b.last_sequence().await.expect("last sequence"), before);
    // Refused every time, not only the first.
    drift(b.append_event("l-1", retyped("l-1"), None).await);
    assert_eq!(a.load("l-1").await.expect("load").len(), 1);
    // The handle that drifted still appends what matches the registry.
    b.append_event("l-1", v1("l-1"), None)
        .await
        .expect("v1 from b");
}

/// The same shape registered twice, through both handles, is fine.
async fn same_shape_twice_is_fine<S: EventStore>(a: &S, b: &S) {
    let shape = deposited(1, AMOUNT_U64);
    a.register_schema(&[shape]).await.expect("first");
    a.register_schema(&[shape])
        .await
        .expect("again, same handle");
    b.register_schema(&[shape])
        .await
        .expect("again, other handle");
    b.register::<LedgerV1>().await.expect("by type");
    b.append_event("l-1", v1("l-1"), None)
        .await
        .expect("append");
    a.append_event("l-1", v1("l-1"), None)
        .await
        .expect("append");
    assert_eq!(a.load("l-1").await.expect("load").len(), 2);
}

/// A new schema version of the same event registers beside the old one, and both are
/// refused a changed shape under their own version.
async fn new_schema_version_registers<S: EventStore>(a: &S, b: &S) {
    a.register::<LedgerV1>().await.expect("v1");
    b.register::<LedgerV2>().await.expect("v2 beside v1");
    let v2 = LedgerV2 {
        id: "l-1".into(),
        amount: -5,
    };
    b.append_event("l-1", v2, None).await.expect("v2 appends");
    a.append_event("l-1", v1("l-1"), None)
        .await
        .expect("v1 still appends");
    drift(b.register::<Retyped>().await);
    let changed_v2 = shape("Deposited", 2, AMOUNT_U64);
    let error = drift(a.register_schema(&[changed_v2]).await);
    assert_eq!(error.schema, 2);
    assert_eq!(error.registered, deposited(2, AMOUNT_I64).fingerprint());
}

/// `Repository::execute` registers on its first append: the drifting command stores
/// nothing.
async fn execute_registers_on_its_first_append<S: EventStore + Clone + 'static>(a: &S, b: &S) {
    let ledgers = Repository::<LedgerV1Aggregate, _>::new(a.clone());
    let outcome = ledgers
        .execute("l-1", Deposit(3))
        .await
        .expect("v1 command");
    assert_eq!(outcome.version, 1);
    let drifting = Repository::<RetypedAggregate, _>::new(b.clone());
    match drifting.execute("l-2", Deposit(4)).await {
        Err(CommandError::Store(Error::SchemaDrift(error))) => assert_drift(
            &error,
            deposited(1, AMOUNT_U64).fingerprint(),
            deposited(1, AMOUNT_I64).fingerprint(),
        ),
        other => panic!("expected schema drift, got {other:?}"),
    }
    assert!(b.load("l-2").await.expect("load").is_empty());
    let upgraded = Repository::<LedgerV2Aggregate, _>::new(b.clone());
    upgraded
        .execute("l-2", Deposit(5))
        .await
        .expect("v2 command");
    assert_eq!(a.load("l-2").await.expect("load").len(), 1);
}

/// Two handles register different shapes for one triple at once, twenty times over:
/// each time exactly one wins, and the other's drift names the winner's fingerprint.
async fn racing_shapes_have_exactly_one_winner<S: EventStore + Clone + 'static>(a: &S, b: &S) {
    for schema in 1..=20 {
        let ours = shape("Raced", schema, AMOUNT_U64);
        let theirs = shape("Raced", schema, AMOUNT_I64);
        let (a, b) = (a.clone(), b.clone());
        let first = tokio::spawn(async move { a.register_schema(&[ours]).await });
        let second = tokio::spawn(async move { b.register_schema(&[theirs]).await });
        let (first, second) = (first.await.expect("task"), second.await.expect("task"));
        let (winner, loser) = match (first, second) {
            (Ok(()), Err(Error::SchemaDrift(drift))) => (ours, drift),
            (Err(Error::SchemaDrift(drift)), Ok(())) => (theirs, drift),
            other => panic!("schema {schema}: expected one winner and one drift, got {other:?}"),
        };
        assert_eq!(loser.registered, winner.fingerprint(), "schema {schema}");
        assert_eq!(loser.schema, schema);
    }
}

/// Shapes that are not subject tokens are refused before anything is registered.
async fn invalid_names_register_nothing<S: EventStore>(a: &S, _b: &S) {
    let bad = EventShape {
        event_type: "Deposited.Twice",
        ..deposited(1, AMOUNT_I64)
    };
    let good = deposited(1, AMOUNT_U64);
    assert!(matches!(
        a.register_schema(&[good, bad]).await,
        Err(Error::InvalidToken(_))
    ));
    // `good` was not registered either: the other shape still may be.
    a.register_schema(&[deposited(1, AMOUNT_I64)])
        .await
        .expect("nothing was registered");
}

macro_rules! cases {
    ($pair:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let (a, b) = $pair().await;
                super::$case(&a, &b).await;
            }
        )*
    };
}

macro_rules! all_cases {
    ($pair:path) => {
        cases!($pair;
            second_shape_is_drift_and_stores_nothing,
            same_shape_twice_is_fine,
            new_schema_version_registers,
            execute_registers_on_its_first_append,
            racing_shapes_have_exactly_one_winner,
            invalid_names_register_nothing,
        );
    };
}

mod memory {
    use super::*;

    /// Two handles on one memory store: clones share its events and its registry.
    async fn pair() -> (MemoryEventStore, MemoryEventStore) {
        let store = MemoryEventStore::new();
        (store.clone(), store)
    }

    all_cases!(pair);

    /// Each memory store has its own registry.
    #[tokio::test]
    async fn separate_stores_have_separate_registries() {
        MemoryEventStore::new()
            .register::<LedgerV1>()
            .await
            .expect("v1");
        MemoryEventStore::new()
            .register::<Retyped>()
            .await
            .expect("another store, another registry");
    }
}

mod jetstream {
    use super::*;

    /// Another handle on the same stream, on its own connection, with nothing cached.
    async fn reopen(store: &JetStreamEventStore) -> JetStreamEventStore {
        JetStreamEventStore::builder(
            connect(vec![NatsServer::shared().await.addr()]).await,
            store.stream_name(),
        )
        .prefix(store.subject_prefix())
        .build()
        .await
        .expect("reopen")
    }

    /// Two handles on one fresh stream.
    async fn pair() -> (JetStreamEventStore, JetStreamEventStore) {
        let a = JetStreamFixture::new(vec![NatsServer::shared().await.addr()], 1)
            .await
            .store;
        let b = reopen(&a).await;
        (a, b)
    }

    all_cases!(pair);

    /// The registry's bucket holds one key per triple, its value the fingerprint and the
    /// canonical text, readable by an operator; names outside the key alphabet are escaped.
    #[tokio::test]
    async fn registrations_are_readable_keys_in_the_schema_bucket() {
        let (a, _) = pair().await;
        let bucket = format!("{}_SCHEMAS", a.stream_name());
        assert_eq!(a.schema_bucket(), Some(bucket.as_str()));
        a.append_event("l-1", v1("l-1"), None)
            .await
            .expect("append");
        let unicode = EventShape {
            aggregate_type: "Konto",
            event_type: "Einzahlung:ü",
            aliases: &[],
            schema: 3,
            fields: AMOUNT_U64,
        };
        a.register_schema(&[unicode]).await.expect("register");

        let kv = a.context().get_key_value(&bucket).await.expect("bucket");
        let status = kv.status().await.expect("status");
        assert_eq!(status.history(), 1);
        let value = kv
            .get("Ledger.Deposited.1")
            .await
            .expect("get")
            .expect("registered");
        let text = String::from_utf8(value.to_vec()).expect("text");
        let registered = deposited(1, AMOUNT_U64);
        let hex: String = registered
            .fingerprint()
            .0
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            text,
            format!("fingerprint sha256:{hex}\n{}", registered.canonical())
        );
        assert!(
            kv.get("Konto.Einzahlung=3A=C3=BC.3")
                .await
                .expect("get")
                .is_some()
        );
    }

    /// Events without shapes (hand-written `Event` impls) register nothing: the bucket is
    /// not even created.
    #[tokio::test]
    async fn events_without_shapes_never_open_the_bucket() {
        let (a, _) = pair().await;
        a.append_event("nb-1", Noted::new("nb-1", 1), None)
            .await
            .expect("append");
        a.register::<Noted>().await.expect("nothing to register");
        a.register_schema(&[]).await.expect("nothing to register");
        let bucket = a.schema_bucket().expect("on by default").to_owned();
        assert!(a.context().get_key_value(&bucket).await.is_err());
    }

    /// After a handle's first append of an event type, its appends no longer ask the
    /// registry: with the bucket gone, they still succeed. A new handle registers again.
    #[tokio::test]
    async fn a_handle_checks_each_event_type_once() {
        let (a, b) = pair().await;
        a.append_event("l-1", v1("l-1"), None).await.expect("first");
        let bucket = a.schema_bucket().expect("on").to_owned();
        a.context()
            .delete_key_value(&bucket)
            .await
            .expect("delete the bucket");
        a.append_event("l-1", v1("l-1"), None)
            .await
            .expect("no registry request after the first append");
        // `b` never appended: its first append registers, creating the bucket again.
        b.append_event("l-1", v1("l-1"), None)
            .await
            .expect("b registers");
        assert!(a.context().get_key_value(&bucket).await.is_ok());
        let c = reopen(&a).await;
        drift(c.append_event("l-2", retyped("l-2"), None).await);
    }

    /// A registry value that is not a registration is a typed error, not a verdict: the
    /// append stores nothing and the value is left for an operator.
    #[tokio::test]
    async fn a_damaged_registration_is_malformed() {
        let (a, b) = pair().await;
        a.register_schema(&[shape("Other", 1, AMOUNT_U64)])
            .await
            .expect("creates the bucket");
        let kv = a
            .context()
            .get_key_value(a.schema_bucket().expect("on"))
            .await
            .expect("bucket");
        kv.put("Ledger.Deposited.1", "not a registration".into())
            .await
            .expect("put");
        match b.append_event("l-1", v1("l-1"), None).await {
            Err(Error::Malformed { what, key, .. }) => {
                assert_eq!(what, "schema registration");
                assert!(key.contains("Ledger.Deposited.1"), "{key}");
            }
            other => panic!("expected a malformed registration, got {other:?}"),
        }
        assert!(b.load("l-1").await.expect("load").is_empty());
    }

    /// With the registry off, nothing is registered or checked.
    #[tokio::test]
    async fn the_registry_can_be_turned_off() {
        let (a, _) = pair().await;
        a.register::<LedgerV1>().await.expect("v1");
        let off = JetStreamEventStore::builder(a.context().clone(), a.stream_name())
            .prefix(a.subject_prefix())
            .schema_registry(false)
            .build()
            .await
            .expect("open");
        assert_eq!(off.schema_bucket(), None);
        off.append_event("l-1", retyped("l-1"), None)
            .await
            .expect("unchecked");
    }

    /// The documented permissions (docs/security.md): a writer that may not create the
    /// schema bucket gets a typed error naming it, and stores nothing, until the
    /// administrator registers; then the writer's registrations are checked as anyone's.
    #[tokio::test]
    async fn a_writer_without_the_bucket_gets_a_typed_error() {
        let doc = include_str!("../../docs/security.md");
        let start = doc.find("```conf\n").expect("a ```conf block") + 8;
        let end = start + doc[start..].find("```").expect("the block ends");
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("server.conf");
        std::fs::write(
            &config,
            format!("no_auth_user: admin\n{}", &doc[start..end]),
        )
        .expect("write the config");
        let server = NatsServer::start_with(&["-c", config.to_str().expect("utf-8 path")]).await;
        let admin = JetStreamEventStore::builder(connect(vec![server.addr()]).await, "ORDERS")
            .prefix("orders")
            .build()
            .await
            .expect("admin creates the stream");
        let client = async_nats::ConnectOptions::with_user_and_password(
            "writer".into(),
            "writer-secret".into(),
        )
        .connect(server.url())
        .await
        .expect("connect");
        let writer = JetStreamEventStore::builder(async_nats::jetstream::new(client), "ORDERS")
            .prefix("orders")
            .request_timeout(Duration::from_millis(500))
            .transient_retries(1)
            .build()
            .await
            .expect("writer opens the store");

        match writer.append_event("l-1", v1("l-1"), None).await {
            Err(Error::Backend {
                operation, message, ..
            }) => {
                assert_eq!(operation, "create schema bucket");
                assert!(message.contains("ORDERS_SCHEMAS"), "{message}");
            }
            other => panic!("expected a backend error, got {other:?}"),
        }
        assert_eq!(admin.last_sequence().await.expect("last sequence"), 0);
        let violations: Vec<String> = server
            .log()
            .lines()
            .filter(|l| l.contains("Violation"))
            .map(str::to_owned)
            .collect();
        assert!(
            violations
                .iter()
                .all(|v| v.contains("$JS.API.STREAM.CREATE.KV_ORDERS_SCHEMAS")),
            "{violations:#?}"
        );

        admin.register::<LedgerV1>().await.expect("admin registers");
        writer
            .append_event("l-1", v1("l-1"), None)
            .await
            .expect("the writer's shape is registered");
        drift(writer.register::<Retyped>().await);
        writer
            .register::<LedgerV2>()
            .await
            .expect("the writer registers a new version");
    }
}
