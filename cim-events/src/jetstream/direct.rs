//! Direct Get (ADR-31) by hand: the last message on a subject filter, and batches of the
//! next messages on a filter, answered by any replica without going through the stream
//! leader. async-nats 0.51 has no batch Direct Get, so this speaks the protocol: one JSON
//! request to `$JS.API.DIRECT.GET.<stream>`, answered by one message per stored message
//! and a final `204 EOB` status message.

use std::time::Duration;

use async_nats::{HeaderMap, Message, StatusCode};
use bytes::Bytes;
use futures::StreamExt;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::record::RawRecord;

use super::errors::backend;

/// Headers the server adds to Direct Get answers; not part of the stored message.
const ADDED_HEADERS: [&str; 7] = [
    "Nats-Stream",
    "Nats-Subject",
    "Nats-Sequence",
    "Nats-Time-Stamp",
    "Nats-Num-Pending",
    "Nats-Last-Sequence",
    "Nats-UpTo-Sequence",
];

/// The header of a batch's end marker counting the matches left after the batch.
const NUM_PENDING: &str = "Nats-Num-Pending";

/// The status of the message that ends a batch answer.
const END_OF_BATCH: u16 = 204;

/// A Direct Get request (the fields this store uses).
#[derive(Debug, Default, Serialize)]
struct Request<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_by_subj: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_by_subj: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    batch: Option<u64>,
}

/// The API subject for Direct Get on `stream`.
fn subject(stream: &str) -> String {
    format!("$JS.API.DIRECT.GET.{stream}")
}

/// The newest message matching `filter` (wildcards allowed), from any replica.
pub(crate) async fn last(
    client: &async_nats::Client,
    stream: &str,
    filter: &str,
    timeout: Duration,
) -> Result<Option<RawRecord>> {
    let request = Request {
        last_by_subj: Some(filter),
        ..Request::default()
    };
    let payload = encode(&request)?;
    let reply = tokio::time::timeout(timeout, client.request(subject(stream), payload))
        .await
        .map_err(|_| backend("direct get", "timed out", true))?
        .map_err(|e| {
            let transient = !matches!(e.kind(), async_nats::RequestErrorKind::InvalidSubject);
            backend("direct get", e, transient)
        })?;
    match reply.status {
        Some(StatusCode::NOT_FOUND) => Ok(None),
        Some(status) if status != StatusCode::OK => Err(status_error(&reply)),
        _ => to_record(reply).map(Some),
    }
}

/// One batch Direct Get answer.
#[derive(Debug)]
pub(crate) struct Batch {
    /// The messages, in stream order.
    pub(crate) records: Vec<RawRecord>,
    /// How many more messages matched the filter when the server ended the batch
    /// (`Nats-Num-Pending` of its end marker); `None` if it did not say.
    pub(crate) pending: Option<u64>,
}

/// Up to `batch` messages matching `filter` from stream sequence `from` on (0: from the
/// first message matching `filter`, which the server finds from its subject index), in
/// stream order.
pub(crate) async fn next_batch(
    client: &async_nats::Client,
    stream: &str,
    filter: &str,
    from: u64,
    batch: u64,
    timeout: Duration,
) -> Result<Batch> {
    let request = Request {
        seq: (from > 0).then_some(from),
        next_by_subj: Some(filter),
        batch: Some(batch),
        ..Request::default()
    };
    let payload = encode(&request)?;
    let inbox = client.new_inbox();
    let mut replies = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| backend("direct get", e, true))?;
    client
        .publish_with_reply(subject(stream), inbox, payload)
        .await
        .map_err(|e| backend("direct get", e, true))?;
    let mut out = Vec::new();
    loop {
        let reply = tokio::time::timeout(timeout, replies.next())
            .await
            .map_err(|_| backend("direct get", "timed out waiting for a batch", true))?
            .ok_or_else(|| backend("direct get", "connection closed", true))?;
        match reply.status {
            // End of batch, with the count of further matches.
            Some(status) if status.as_u16() == END_OF_BATCH => {
                let pending = reply
                    .headers
                    .as_ref()
                    .and_then(|h| h.get(NUM_PENDING))
                    .and_then(|v| v.as_str().parse().ok());
                return Ok(Batch {
                    records: out,
                    pending,
                });
            }
            Some(StatusCode::NOT_FOUND) => {
                return Ok(Batch {
                    records: out,
                    pending: Some(0),
                });
            }
            Some(status) if status != StatusCode::OK => return Err(status_error(&reply)),
            _ => out.push(to_record(reply)?),
        }
    }
}

fn encode(request: &Request<'_>) -> Result<Bytes> {
    serde_json::to_vec(request)
        .map(Bytes::from)
        .map_err(|e| backend("direct get", e, false))
}

fn status_error(reply: &Message) -> Error {
    let status = reply.status.map_or(0, |s| s.as_u16());
    let text = reply.description.as_deref().unwrap_or("");
    // 503: no responders (server gone or stream without a leader right now).
    backend(
        "direct get",
        format!("server answered {status} {text}"),
        status == 503 || status == 408,
    )
}

/// A Direct Get answer as the message stored: the server's own headers removed.
fn to_record(reply: Message) -> Result<RawRecord> {
    let headers = reply.headers.unwrap_or_default();
    let sequence = headers
        .get("Nats-Sequence")
        .and_then(|v| v.as_str().parse::<u64>().ok())
        .ok_or_else(|| backend("direct get", "answer without Nats-Sequence", false))?;
    let subject = headers
        .get("Nats-Subject")
        .map(|v| v.as_str().to_owned())
        .ok_or_else(|| backend("direct get", "answer without Nats-Subject", false))?;
    Ok(RawRecord {
        sequence,
        subject,
        headers: stored_headers(&headers, &ADDED_HEADERS),
        data: reply.payload,
    })
}

/// The headers of a message, less those named in `skip`.
pub(crate) fn stored_headers(headers: &HeaderMap, skip: &[&str]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| !skip.iter().any(|s| s.eq_ignore_ascii_case(name.as_ref())))
        .flat_map(|(name, values)| {
            values
                .iter()
                .map(move |v| (name.to_string(), v.as_str().to_owned()))
        })
        .collect();
    // Header maps do not keep order; sort so that records compare equal across reads.
    out.sort();
    out
}
