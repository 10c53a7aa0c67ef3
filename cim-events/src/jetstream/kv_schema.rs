//! The schema registry on JetStream ([`crate::schema#drift-caught-at-start-up`]): the shape
//! registered first for each `(aggregate type, event type, schema)`, in a key-value bucket
//! beside the stream.
//!
//! - **Bucket**: `{stream}_SCHEMAS` unless named otherwise, history 1, file storage, the
//!   stream's replicas. Opened (created if missing) on the first registration of a handle,
//!   not when the store is built: a role that never appends never touches it.
//! - **Key**: `{aggregate_type}.{event_type}.{schema}`, the two names escaped for the key
//!   alphabet as snapshot and anchor keys are (ASCII letters, digits, `-` and `_` kept,
//!   every other byte of the UTF-8 encoding `=XX`, reversible), the schema in decimal:
//!   `Account.Deposited.1`, `Konto.Einzahlung=C3=BC.2`.
//! - **Value**: text an operator can read with `nats kv get`: the line
//!   `fingerprint sha256:{64 hex digits}`, then the shape's canonical text
//!   ([`EventShape::canonical`]).
//! - **Create-only**: a key is written with `create`, which fails if it holds a value; the
//!   loser of a race reads the winner's value. Nothing here updates or deletes a key.

use std::time::Duration;

use async_nats::jetstream::{
    self,
    kv::{self, CreateErrorKind},
};
use bytes::Bytes;
use tokio::sync::OnceCell;

use crate::error::{Error, Result};
use crate::schema::{EventShape, Fingerprint, RegisteredShape, SchemaCache};

use super::errors::backend;
use super::kv::{open_bucket, read_fresh};
use super::kv_snapshot::escape;

/// The first line of a value, before the fingerprint's hex digits.
const FINGERPRINT_LINE: &str = "fingerprint sha256:";

/// How many times a registration creates the key again after finding it deleted in between.
const CREATE_ATTEMPTS: u32 = 5;

/// The bucket of a stream's registered shapes, unless the builder names another.
pub(crate) fn default_bucket(stream_name: &str) -> String {
    format!("{stream_name}_SCHEMAS")
}

/// The key of a shape's triple (its names validated as subject tokens by the caller).
pub(crate) fn key(shape: &EventShape) -> String {
    format!(
        "{}.{}.{}",
        escape(shape.aggregate_type),
        escape(shape.event_type),
        shape.schema
    )
}

/// Encodes a registration: the fingerprint line, then the canonical text.
pub(crate) fn encode(shape: &RegisteredShape) -> Bytes {
    let mut text = String::with_capacity(FINGERPRINT_LINE.len() + 65 + shape.canonical.len());
    text.push_str(FINGERPRINT_LINE);
    for byte in shape.fingerprint.0 {
        text.push_str(&format!("{byte:02x}"));
    }
    text.push('\n');
    text.push_str(&shape.canonical);
    Bytes::from(text)
}

/// Decodes a registration written by [`encode`]; the problem, if it is not one.
pub(crate) fn decode(bytes: &[u8]) -> std::result::Result<RegisteredShape, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 text: {e}"))?;
    let (first, canonical) = text.split_once('\n').unwrap_or((text, ""));
    let hex = first
        .strip_prefix(FINGERPRINT_LINE)
        .ok_or_else(|| format!("the first line is not `{FINGERPRINT_LINE}<64 hex digits>`"))?;
    let digits = hex.as_bytes();
    if digits.len() != 64 {
        return Err(format!(
            "the fingerprint has {} hex digits, not 64",
            digits.len()
        ));
    }
    let mut fingerprint = [0_u8; 32];
    for (byte, pair) in fingerprint.iter_mut().zip(digits.chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).unwrap_or("");
        *byte = u8::from_str_radix(pair, 16)
            .map_err(|_| format!("the fingerprint `{hex}` is not hexadecimal"))?;
    }
    Ok(RegisteredShape {
        fingerprint: Fingerprint(fingerprint),
        canonical: canonical.to_owned(),
    })
}

/// A store handle's schema registry: the bucket, opened on first use, and what the
/// handle knows to be registered.
pub(crate) struct Schemas {
    bucket: String,
    replicas: usize,
    kv: OnceCell<kv::Store>,
    cache: SchemaCache,
}

impl Schemas {
    /// The registry in bucket `bucket`, created with `replicas` replicas if missing.
    pub(crate) fn new(bucket: String, replicas: usize) -> Schemas {
        Schemas {
            bucket,
            replicas,
            kv: OnceCell::new(),
            cache: SchemaCache::new(),
        }
    }

    /// The bucket's name.
    pub(crate) fn bucket(&self) -> &str {
        &self.bucket
    }

    /// What this handle knows to be registered.
    pub(crate) fn cache(&self) -> &SchemaCache {
        &self.cache
    }

    /// The bucket, opened (and created if missing) on the first call. A failure is not
    /// remembered: the next registration tries again.
    async fn kv(&self, context: &jetstream::Context) -> Result<&kv::Store> {
        self.kv
            .get_or_try_init(|| async {
                open_bucket(
                    context,
                    &self.bucket,
                    self.replicas,
                    "cim-events schema registry",
                )
                .await
                .map_err(|error| self.bucket_error(error))
            })
            .await
    }

    /// An error opening the bucket, named for the registry and saying what to do.
    fn bucket_error(&self, error: Error) -> Error {
        match error {
            Error::Backend {
                operation,
                message,
                transient,
            } => Error::Backend {
                operation: if operation == "create bucket" {
                    "create schema bucket"
                } else {
                    "open schema bucket"
                },
                message: format!(
                    "schema registry bucket `{}`: {message}. Appends of events with shapes register them there: \
                     create the bucket as an administrator (`nats kv add {} --history 1`) or let a role allowed \
                     to create it register first, grant this role its permissions (docs/security.md), or turn \
                     the check off with `schema_registry(false)`",
                    self.bucket, self.bucket
                ),
                transient,
            },
            other => other,
        }
    }

    /// Registers `shape` unless its triple is registered, and returns what is registered.
    pub(crate) async fn register(
        &self,
        context: &jetstream::Context,
        shape: &EventShape,
    ) -> Result<RegisteredShape> {
        let kv = self.kv(context).await?;
        let key = key(shape);
        let ours = RegisteredShape::of(shape);
        let value = encode(&ours);
        for attempt in 0..CREATE_ATTEMPTS {
            let error = match kv.create(&key, value.clone()).await {
                Ok(_) => return Ok(ours),
                Err(error) => error,
            };
            if error.kind() == CreateErrorKind::InvalidKey {
                return Err(backend(
                    "register schema",
                    format!("key `{key}` in bucket `{}`: {error}", self.bucket),
                    false,
                ));
            }
            // The key holds a value: another registration's, or ours if a timed-out
            // create landed after all. Read it from the stream leader.
            let stored = read_fresh(kv, &key).await.map_err(|e| match e {
                Error::Backend {
                    message, transient, ..
                } => Error::Backend {
                    operation: "read schema",
                    message: format!("key `{key}` in bucket `{}`: {message}", self.bucket),
                    transient,
                },
                other => other,
            })?;
            match stored {
                Some(stored) => {
                    return decode(&stored.bytes).map_err(|problem| Error::Malformed {
                        what: "schema registration",
                        key: format!("{}/{key} (revision {})", self.bucket, stored.revision),
                        problem,
                    });
                }
                // Deleted by an operator in between: create it again.
                None if error.kind() == CreateErrorKind::AlreadyExists => {
                    crate::backoff::sleep(
                        attempt + 1,
                        Duration::from_millis(1),
                        Duration::from_millis(50),
                    )
                    .await;
                }
                None => {
                    return Err(backend(
                        "register schema",
                        format!("key `{key}` in bucket `{}`: {error}", self.bucket),
                        true,
                    ));
                }
            }
        }
        Err(backend(
            "register schema",
            format!(
                "key `{key}` in bucket `{}` was deleted during each of {CREATE_ATTEMPTS} attempts",
                self.bucket
            ),
            true,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::FieldShape;

    fn shape(aggregate_type: &'static str, event_type: &'static str) -> EventShape {
        EventShape {
            aggregate_type,
            event_type,
            aliases: &[],
            schema: 2,
            fields: &[FieldShape {
                name: "amount",
                ty: "u64",
            }],
        }
    }

    #[test]
    fn keys_escape_both_names_and_end_in_the_schema() {
        assert_eq!(key(&shape("Account", "Deposited")), "Account.Deposited.2");
        assert_eq!(
            key(&shape("Konto", "Einzahlung:ü")),
            "Konto.Einzahlung=3A=C3=BC.2"
        );
    }

    #[test]
    fn values_round_trip_and_read_as_text() {
        let registered = RegisteredShape::of(&shape("Account", "Deposited"));
        let value = encode(&registered);
        let text = std::str::from_utf8(&value).expect("text");
        assert!(text.starts_with("fingerprint sha256:"), "{text}");
        assert!(text.ends_with(&registered.canonical), "{text}");
        assert_eq!(decode(&value), Ok(registered));
    }

    #[test]
    fn foreign_values_are_problems_not_panics() {
        for bad in [
            &b""[..],
            b"\xff\xfe",
            b"fingerprint sha256:abc\n",
            b"fingerprint md5:00\n",
            "fingerprint sha256:éééééééééééééééééééééééééééééééé\n".as_bytes(),
            "fingerprint sha256:aéééééééééééééééééééééééééééééééa\n".as_bytes(),
            b"fingerprint sha256:zz00000000000000000000000000000000000000000000000000000000000000",
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
    }
}
