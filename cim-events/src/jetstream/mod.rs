//! The production store: [`JetStreamEventStore`], on NATS JetStream.
//!
//! Every event is one message whose body is its DAG-CBOR block, stored under
//! `{prefix}.{aggregate_id}.{event_type}` in one stream. The server, not this client,
//! keeps each aggregate's chain linear: every append carries
//! `Nats-Expected-Last-Subject-Sequence` (the stream sequence of the head it was chained
//! to) scoped to `{prefix}.{aggregate_id}.*`, so of two racing writers exactly one wins.
//!
//! - **Appends** ([`append`](self)): one event is one publish; several events of one call
//!   are one ADR-50 atomic batch (all or nothing, at most [`MAX_BATCH`](crate::MAX_BATCH)).
//!   `Nats-Msg-Id` is the CID, so a retry after a timeout is idempotent, and after an
//!   unknown outcome the store reads the head to learn whether the write landed.
//! - **Reads**: the head is a Direct Get of the last message on the aggregate's subjects
//!   (through the stream leader on replicated streams, so it is never stale); loads are
//!   batch Direct Gets for short aggregates and an ordered consumer for long ones.
//! - **Subscriptions**: an ordered pull consumer per subscription, which delivers each
//!   stored message once, in order, from history into live with no gap, and pulls only as
//!   fast as the caller reads. Several filters
//!   ([`subscribe_filters`](crate::EventStore::subscribe_filters)) are one consumer's
//!   `filter_subjects` (nats-server 2.10 or later; no bound on their number, but repeated
//!   or covered filters are refused with error 10138, so the store normalises the set). The store manages it itself: dropping the subscription
//!   deletes it, and a 5 s inactive threshold removes it should that delete be lost.
//! - **Anchors** ([`anchors`](JetStreamEventStoreBuilder::anchors), on by default): each
//!   aggregate's newest head is also recorded in bucket `{stream}_ANCHORS`, written in
//!   the background, so that a stream that lost the end of a chain fails loads and appends
//!   with [`Error::Truncated`](crate::Error::Truncated) instead of going on from the older
//!   head.
//! - **Schema registry** ([`schema_registry`](JetStreamEventStoreBuilder::schema_registry),
//!   on by default): the shape of each `(aggregate type, event type, schema)` is registered
//!   in bucket `{stream}_SCHEMAS` (key `{aggregate_type}.{event_type}.{schema}`, escaped;
//!   value the fingerprint and the shape's canonical text) on a handle's first append of
//!   an event type, so that a service whose shape differs gets
//!   [`Error::SchemaDrift`](crate::Error::SchemaDrift) before it writes anything (see
//!   [`schema`](crate::schema#drift-caught-at-start-up)).
//!
//! The store provisions (or checks) its stream: file storage, deny delete, deny purge, no
//! rollup, direct get, atomic publish, a duplicate window, no discarding limits. It refuses
//! a stream or server that cannot keep those guarantees with [`Error::Config`](crate::Error::Config):
//! any setting under which the server itself deletes, replaces or adds messages on the
//! store's subjects (`max_age`, `max_msgs`/`max_bytes` with discard `old`,
//! `max_msgs_per_subject` unless with discard `new` and `discard_new_per_subject`,
//! rollups, deletes, purges, subject transforms, sources, delete markers). Limits that
//! only refuse new writes are allowed; a write they refuse fails with
//! [`Error::LimitReached`](crate::Error::LimitReached). Republishing is allowed: it
//! copies events elsewhere and changes nothing stored. The settings are checked again
//! periodically and after every reconnect; while they are unsafe, appends fail with
//! `Error::Config`.
//!
//! ```no_run
//! use cim_events::jetstream::{JetStreamEventStore, async_nats};
//! use cim_events::{Event, EventStore};
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Opened { account_id: String }
//! impl Event for Opened {
//!     fn event_type(&self) -> &str { "Opened" }
//!     fn aggregate_id(&self) -> &str { &self.account_id }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = async_nats::connect("nats://127.0.0.1:4222").await?;
//! let jetstream = async_nats::jetstream::new(client);
//! let store = JetStreamEventStore::new(jetstream, "accounts").await?;
//! let meta = store.append_event("acc-123", Opened { account_id: "acc-123".into() }, None).await?;
//! assert!(store.validate_cid_chain("acc-123").await?);
//!
//! // Or configured: a replicated stream under another prefix.
//! let client = async_nats::connect("nats://127.0.0.1:4222").await?;
//! let store = JetStreamEventStore::builder(async_nats::jetstream::new(client), "BANK")
//!     .prefix("bank.events")
//!     .replicas(3)
//!     .build()
//!     .await?;
//! # let _ = (meta, store); Ok(()) }
//! ```
//!
//! Beside the store: [`JetStreamSnapshotStore`] keeps snapshots and [`JetStreamCheckpointStore`]
//! projection checkpoints in key-value buckets, [`JetStreamKeyStore`] the wrapped data keys
//! of payload encryption ([`crypto`](crate::crypto)), and [`JetStreamProjectionRunner`] runs a
//! [`Projection`](crate::projection::Projection) on a durable consumer.
//!
//! # Connection security
//!
//! Everything here is built from a [`jetstream::Context`](async_nats::jetstream::Context),
//! so TLS, user and password, tokens, NKEYs and creds files are chosen where the client
//! connects, with [`async_nats::ConnectOptions`]; this crate never connects on its own.
//!
//! ```no_run
//! use cim_events::jetstream::{JetStreamEventStore, JetStreamCheckpointStore, async_nats};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // Mutual TLS with a private CA, authenticated by a creds file (JWT + NKEY).
//! let client = async_nats::ConnectOptions::with_credentials_file("orders-writer.creds")
//!     .await?
//!     .require_tls(true)
//!     .add_root_certificates("ca.pem".into())
//!     .add_client_certificate("client-cert.pem".into(), "client-key.pem".into())
//!     .connect("tls://nats.example.com:4222")
//!     .await?;
//! let store = JetStreamEventStore::new(async_nats::jetstream::new(client), "ORDERS").await?;
//!
//! // User and password, or an NKEY seed.
//! let reader = async_nats::ConnectOptions::with_user_and_password("reader".into(), "secret".into())
//!     .connect("tls://nats.example.com:4222")
//!     .await?;
//! let projections = async_nats::ConnectOptions::with_nkey(std::env::var("NKEY_SEED")?)
//!     .connect("tls://nats.example.com:4222")
//!     .await?;
//! let checkpoints = JetStreamCheckpointStore::new(async_nats::jetstream::new(projections), "projections").await?;
//! # let _ = (store, reader, checkpoints); Ok(()) }
//! ```
//!
//! The subjects each role publishes to, for stream `S` with prefix `P` (all subscribe to
//! `_INBOX.>` for replies; `docs/security.md` in the repository has the full table and a
//! server configuration that the test suite runs with). A missing permission shows up as
//! a timeout, with a `Publish Violation` naming the subject in the server log.
//!
//! - **writer**: `$JS.API.INFO`, `$JS.API.STREAM.INFO.S`, `$JS.API.DIRECT.GET.S`,
//!   `$JS.API.STREAM.MSG.GET.S`, `$JS.API.CONSUMER.CREATE.S`,
//!   `$JS.API.CONSUMER.{MSG.NEXT,INFO,DELETE}.S.>` (ordered consumers for long loads and
//!   subscriptions), `P.>` (appends); with snapshots in bucket `B` also
//!   `$JS.API.STREAM.INFO.KV_B`, `$JS.API.DIRECT.GET.KV_B.>`, `$JS.API.STREAM.MSG.GET.KV_B`
//!   and `$KV.B.>`; the same for the anchor bucket `S_ANCHORS` (anchors are on by default)
//!   and, to append events with shapes, for the schema bucket `S_SCHEMAS`.
//! - **reader**: the writer's, without `P.>`, `$JS.API.STREAM.MSG.GET.KV_B` and `$KV.B.>`
//!   (nor their anchor-bucket counterparts).
//!   An append is refused by the server and fails with
//!   [`Error::Backend`](crate::Error::Backend); nothing is stored.
//! - **projection** `N` with checkpoints in bucket `C`: `$JS.API.CONSUMER.INFO.S.N`,
//!   `$JS.API.CONSUMER.CREATE.S.N.>` (and `$JS.API.CONSUMER.CREATE.S.N` for a
//!   selection of several event types, whose consumer has `filter_subjects`),
//!   `$JS.API.CONSUMER.DELETE.S.N`,
//!   `$JS.API.CONSUMER.MSG.NEXT.S.N`, `$JS.ACK.S.N.>`, `$JS.API.DIRECT.GET.S`,
//!   `$JS.API.STREAM.INFO.KV_C`, `$JS.API.STREAM.MSG.GET.KV_C`,
//!   `$JS.API.DIRECT.GET.KV_C.>` and `$KV.C.N` (with
//!   [`JetStreamProjectionRunner::on_stream`]; built from a store it also needs what the
//!   store needs to open).

mod anchor;
mod anchor_writer;
mod append;
mod batch;
mod builder;
mod config_watch;
mod direct;
mod errors;
mod filters;
mod observe;
mod ordered;
mod position;
mod provision;
mod read;
mod reader;
mod store;
mod subscribe;

// Durable timers on message schedules (ADR-51), in their own stream.
mod timer;
pub use timer::{DEFAULT_TIMER_ACK_WAIT, JetStreamTimers, JetStreamTimersBuilder};

// Snapshots and projection checkpoints in key-value buckets; durable projections.
mod keystore;
mod kv;
mod kv_checkpoint;
mod kv_schema;
mod kv_snapshot;
mod process_worker;
mod projection_runner;
pub use keystore::JetStreamKeyStore;
pub use kv_checkpoint::{CHECKPOINT_FORMAT_VERSION, JetStreamCheckpointStore};
pub use kv_snapshot::{JetStreamSnapshotStore, SNAPSHOT_FORMAT_VERSION};
pub use process_worker::{DEFAULT_STEP_TIMEOUT, ProcessWorker};
pub use projection_runner::JetStreamProjectionRunner;

pub use anchor::ANCHOR_FORMAT_VERSION;
pub use builder::{
    DEFAULT_ANCHOR_FLUSH_INTERVAL, DEFAULT_TAIL_CACHE, HEADER_ROOM, JetStreamEventStoreBuilder,
};
pub use provision::MIN_SERVER_VERSION;
pub use store::JetStreamEventStore;

/// The NATS client this store is built on, re-exported so that callers use the same
/// version to connect.
pub use async_nats;
