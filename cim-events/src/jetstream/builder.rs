//! `JetStreamEventStoreBuilder`: the store's settings, and `build`, which checks the
//! server and the stream before handing out a store.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream;

use crate::cache::Lru;
use crate::error::{Error, Result};
use crate::subject::{DEFAULT_PREFIX, validate_prefix};

use super::anchor;
use super::anchor_writer::Anchors;
use super::config_watch::{self, ConfigHealth};
use super::errors::backend;
use super::kv;
use super::kv_schema::{self, Schemas};
use super::provision;
use super::store::{Inner, JetStreamEventStore, Settings};

/// Room left for headers below the server's `max_payload` when the event size limit is
/// derived from it: CIDs, types, correlation, causation, expected-sequence and batch
/// headers.
pub const HEADER_ROOM: usize = 4 * 1024;

/// How often, at most, anchors are written unless told otherwise.
pub const DEFAULT_ANCHOR_FLUSH_INTERVAL: Duration = Duration::from_millis(50);

/// How many aggregates' tails a store caches unless told otherwise.
pub const DEFAULT_TAIL_CACHE: usize = 16_384;

/// Configures a [`JetStreamEventStore`]. Obtained from [`JetStreamEventStore::builder`].
///
/// ```no_run
/// # use cim_events::jetstream::{JetStreamEventStore, async_nats};
/// # async fn run(jetstream: async_nats::jetstream::Context) -> cim_events::Result<()> {
/// let store = JetStreamEventStore::builder(jetstream, "ORDERS")
///     .prefix("orders")
///     .replicas(3)
///     .duplicate_window(std::time::Duration::from_secs(300))
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct JetStreamEventStoreBuilder {
    context: jetstream::Context,
    stream_name: String,
    prefix: String,
    replicas: usize,
    duplicate_window: Duration,
    max_event_size: Option<usize>,
    any_retries: u32,
    transient_retries: u32,
    direct_read_limit: u64,
    request_timeout: Option<Duration>,
    tail_cache: usize,
    config_check_interval: Duration,
    anchors: Option<String>,
    anchor_flush_interval: Duration,
    schemas: Option<String>,
    encryption: Option<crate::crypto::Crypto>,
}

impl JetStreamEventStoreBuilder {
    pub(crate) fn new(context: jetstream::Context, stream_name: &str) -> Self {
        JetStreamEventStoreBuilder {
            context,
            stream_name: stream_name.to_owned(),
            prefix: DEFAULT_PREFIX.to_owned(),
            replicas: 1,
            duplicate_window: Duration::from_secs(120),
            max_event_size: None,
            any_retries: 100,
            transient_retries: 10,
            direct_read_limit: 100,
            request_timeout: None,
            tail_cache: DEFAULT_TAIL_CACHE,
            config_check_interval: Duration::from_secs(30),
            anchors: Some(anchor::default_bucket(stream_name)),
            anchor_flush_interval: DEFAULT_ANCHOR_FLUSH_INTERVAL,
            schemas: Some(kv_schema::default_bucket(stream_name)),
            encryption: None,
        }
    }

    /// The subject prefix (default `events`): events are stored under
    /// `{prefix}.{aggregate_id}.{event_type}` and the stream binds `{prefix}.>`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Replicas of the stream when the store creates it: 1 (default), 3 or 5. An existing
    /// stream keeps its own.
    pub fn replicas(mut self, replicas: usize) -> Self {
        self.replicas = replicas;
        self
    }

    /// The stream's duplicate window when the store creates it (default 2 minutes): how
    /// long a resent event is recognised by its CID. It must cover the retry horizon.
    pub fn duplicate_window(mut self, window: Duration) -> Self {
        self.duplicate_window = window;
        self
    }

    /// The largest encoded event accepted (default: the server's `max_payload` less
    /// [`HEADER_ROOM`]). Larger events fail with
    /// [`Error::EventTooLarge`](crate::Error::EventTooLarge) before anything is published.
    pub fn max_event_size(mut self, bytes: usize) -> Self {
        self.max_event_size = Some(bytes);
        self
    }

    /// How many times an append with `ExpectedVersion::Any` tries again after losing a
    /// race (default 100), with jittered backoff of at most 50 ms.
    pub fn any_retries(mut self, retries: u32) -> Self {
        self.any_retries = retries;
        self
    }

    /// How many times an append retries after a transient failure — a timeout, no
    /// responders, a leader election — before returning it (default 10, backing off from
    /// 50 ms to 2 s: about 15 s in all, longer than a leader election).
    pub fn transient_retries(mut self, retries: u32) -> Self {
        self.transient_retries = retries;
        self
    }

    /// How many aggregates' tails the store remembers (default 16,384; about 200 bytes
    /// each). An append to an aggregate this handle wrote or read recently publishes at
    /// once, with no read; the server refuses it if another writer got there first, and
    /// only then is the aggregate read. 0 turns the cache off: every append without a
    /// known head ([`ExpectedVersion::After`](crate::ExpectedVersion::After)) then reads
    /// the tail first.
    pub fn tail_cache(mut self, aggregates: usize) -> Self {
        self.tail_cache = aggregates;
        self
    }

    /// Aggregates with at most this many events left to read are read with batch Direct
    /// Gets, longer ones with a pull consumer after the first batch (default 100: measured
    /// on 2.15.1, Direct Get is faster for 10 events, 0.45 against 0.72 ms, and a consumer
    /// for 1000, 18 against 21–28 ms; see BENCHMARKS.md).
    pub fn direct_read_limit(mut self, events: u64) -> Self {
        self.direct_read_limit = events;
        self
    }

    /// How long one request to the server may take, acknowledgements of appends
    /// included (default 5 s for the store's own requests, and the JetStream context's timeout for
    /// acknowledgements; when set, it becomes the store's context timeout too).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// How often the store checks the stream's settings again after opening it (default
    /// 30 s; also right after every reconnect). Someone may update the stream at any time;
    /// while its settings are unsafe (see [`build`](Self::build)) appends fail with
    /// [`Error::Config`] naming the setting, and they resume once it is fixed. Each check is
    /// one stream info request, made by a background task that ends when the last handle
    /// to the store is dropped. `Duration::ZERO` turns the checks off.
    pub fn config_check_interval(mut self, interval: Duration) -> Self {
        self.config_check_interval = interval;
        self
    }

    /// Whether the store records each aggregate's newest head outside the stream, in
    /// key-value bucket `{stream}_ANCHORS` (default on). A stream can lose the end of a
    /// chain — a server drops a damaged message on restart, or truncates the stream at a
    /// damaged record after a crash — and no hash chain shows a missing tail by itself.
    /// With anchors, loads, appends and verification compare the chain with its anchor and
    /// fail with [`Error::Truncated`] (or report
    /// [`FaultKind::Truncated`](crate::FaultKind::Truncated)) instead of going on from the
    /// older head.
    ///
    /// Anchors cost an append no request: a background task writes them in batches (see
    /// [`anchor_flush_interval`](Self::anchor_flush_interval)), so a truncation within that
    /// window of an acknowledgement goes unseen. A tail read from the server (loads without
    /// a cached head, appends that do not know their head) reads the anchor alongside, and
    /// `load`, `verify_chain` and `verify_from` read it first. Roles that read or write
    /// events then also need `$JS.API.DIRECT.GET.KV_{bucket}.>`,
    /// `$JS.API.STREAM.INFO.KV_{bucket}` and, to write, `$JS.API.STREAM.MSG.GET.KV_{bucket}`
    /// and `$KV.{bucket}.>`.
    pub fn anchors(mut self, on: bool) -> Self {
        self.anchors = on.then(|| anchor::default_bucket(&self.stream_name));
        self
    }

    /// Records anchors in bucket `bucket` instead of `{stream}_ANCHORS` (and turns them on).
    pub fn anchor_bucket(mut self, bucket: impl Into<String>) -> Self {
        self.anchors = Some(bucket.into());
        self
    }

    /// How often, at most, the background task writes anchors (default
    /// [`DEFAULT_ANCHOR_FLUSH_INTERVAL`]). Each flush writes the newest head of every
    /// aggregate appended to since the last one, one request each, all in flight at once.
    /// A truncation can go unseen for at most this long plus the time of one flush after an
    /// acknowledgement.
    pub fn anchor_flush_interval(mut self, interval: Duration) -> Self {
        self.anchor_flush_interval = interval;
        self
    }

    /// Whether the store keeps a schema registry in key-value bucket `{stream}_SCHEMAS`
    /// (default on; see [`schema`](crate::schema#drift-caught-at-start-up)): the first
    /// append of each event type through a handle registers the type's shapes there, and a
    /// shape that differs from the one registered for the same schema version fails with
    /// [`Error::SchemaDrift`] before anything is stored. Events without shapes (hand-written
    /// `Event` impls) register nothing and never touch the bucket.
    ///
    /// The bucket is opened on a handle's first registration, not by `build`, and created
    /// there if missing (history 1, file storage, the stream's replicas). A role that
    /// registers needs `$JS.API.STREAM.INFO.KV_{bucket}`, `$JS.API.STREAM.MSG.GET.KV_{bucket}`,
    /// `$JS.API.DIRECT.GET.KV_{bucket}.>` and `$KV.{bucket}.>`; a role that only reads
    /// needs nothing. One that cannot create the bucket fails its first registration with
    /// [`Error::Backend`] (operation `create schema bucket`) until an administrator creates
    /// it — or registers once, with [`register`](crate::EventStore::register).
    pub fn schema_registry(mut self, on: bool) -> Self {
        self.schemas = on.then(|| kv_schema::default_bucket(&self.stream_name));
        self
    }

    /// Keeps the schema registry in bucket `bucket` instead of `{stream}_SCHEMAS` (and
    /// turns it on).
    pub fn schema_bucket(mut self, bucket: impl Into<String>) -> Self {
        self.schemas = Some(bucket.into());
        self
    }

    /// Encrypts `Pii` values (or whole payloads) with `crypto` before they are stored, and
    /// decrypts them on reads (see [`crypto`](crate::crypto)). The key-encryption key stays
    /// in this process; the data keys it wraps live in `crypto`'s key store (for example a
    /// [`JetStreamKeyStore`](super::JetStreamKeyStore)).
    pub fn encryption(mut self, crypto: crate::crypto::Crypto) -> Self {
        self.encryption = Some(crypto);
        self
    }

    /// Checks the server, creates the stream or checks the existing one, and returns the
    /// store. Fails with [`Error::Config`] if the server is too old or the stream is not
    /// safe for an event store, and with [`Error::InvalidToken`] for a bad prefix.
    pub async fn build(mut self) -> Result<JetStreamEventStore> {
        let request_timeout = match self.request_timeout {
            Some(timeout) => {
                self.context.set_timeout(timeout);
                timeout
            }
            // async-nats' default for JetStream requests and acks.
            None => Duration::from_secs(5),
        };
        validate_prefix(&self.prefix)?;
        provision::check_stream_name(&self.stream_name)?;
        if let Some(bucket) = &self.schemas {
            kv::check_bucket_name(bucket)?;
        }
        if !matches!(self.replicas, 1 | 3 | 5) {
            return Err(Error::Config {
                setting: "replicas".into(),
                problem: format!("is {}; use 1, 3 or 5", self.replicas),
            });
        }
        if self.duplicate_window.is_zero() {
            return Err(Error::Config {
                setting: "duplicate_window".into(),
                problem: "is zero; retries after a timeout would store duplicates".into(),
            });
        }
        // Also waits for the connection, so that the server info below is filled in.
        self.context
            .query_account()
            .await
            .map_err(|e| backend("check JetStream", &e, true))?;
        let server = self.context.client().server_info();
        provision::check_server_version(&server.version)?;
        let max_event_size = self
            .max_event_size
            .unwrap_or_else(|| server.max_payload.saturating_sub(HEADER_ROOM));
        let stream = provision::provision(
            &self.context,
            &provision::Wanted {
                name: &self.stream_name,
                prefix: &self.prefix,
                replicas: self.replicas,
                duplicate_window: self.duplicate_window,
            },
        )
        .await?;
        let info = stream.cached_info();
        let stream_limit = usize::try_from(info.config.max_message_size)
            .ok()
            .filter(|&m| m > 0)
            .map_or(usize::MAX, |m| m.saturating_sub(HEADER_ROOM));
        let settings = Settings {
            replicas: info.config.num_replicas.max(1),
            max_event_size: max_event_size.min(stream_limit),
            any_retries: self.any_retries,
            transient_retries: self.transient_retries,
            direct_read_limit: self.direct_read_limit,
            request_timeout,
            tail_cache: self.tail_cache,
        };
        let anchors = match &self.anchors {
            Some(bucket) => Some(Anchors::start(
                kv::open_bucket(
                    &self.context,
                    bucket,
                    settings.replicas,
                    "cim-events anchors",
                )
                .await?,
                self.anchor_flush_interval,
                settings.tail_cache,
            )),
            None => None,
        };
        let schemas = self
            .schemas
            .map(|bucket| Schemas::new(bucket, settings.replicas));
        let inner = Arc::new(Inner {
            context: self.context,
            stream,
            stream_name: self.stream_name,
            prefix: self.prefix,
            tails: Mutex::new(Lru::new(settings.tail_cache)),
            settings,
            health: ConfigHealth::default(),
            anchors,
            schemas,
            encryption: self.encryption,
        });
        if !self.config_check_interval.is_zero() {
            tokio::spawn(config_watch::watch(
                Arc::downgrade(&inner),
                self.config_check_interval,
            ));
        }
        Ok(JetStreamEventStore { inner })
    }
}
