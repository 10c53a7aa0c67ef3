//! Helpers shared by the wire-format tests (golden, faults, CAR export, arbitrary
//! precision): a fixed event chain, raw storage of sealed events, hex, and a small
//! DAG-CBOR strictness checker that reads bytes without any CBOR library.
//!
//! Each test binary uses a subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::collections::BTreeMap;

use cim_events::SealedEvent;
use cim_events::test_util::{NewEvent, seal};
use cim_events::{Ipld, MemoryEventStore, payload};
use serde::Serialize;

/// Subject prefix of every fixed chain.
pub const PREFIX: &str = "events";
/// Aggregate id of the golden chain.
pub const AGGREGATE: &str = "acc-golden";
/// 2024-01-01T00:00:00Z in nanoseconds since the Unix epoch.
pub const T0: u64 = 1_704_067_200_000_000_000;

/// The golden chain's events, before sealing: fixed ids, times, correlation and payloads.
pub fn golden_events() -> Vec<NewEvent> {
    #[derive(Serialize)]
    struct Opened {
        account_id: &'static str,
        owner: &'static str,
        limits: BTreeMap<&'static str, u64>,
        tags: Vec<&'static str>,
    }
    #[derive(Serialize)]
    struct Deposited {
        account_id: &'static str,
        amount: u64,
        rate: f64,
        memo: Option<&'static str>,
        delta: i64,
    }
    #[derive(Serialize)]
    enum Reason {
        Requested { by: &'static str },
    }
    #[derive(Serialize)]
    struct Closed {
        account_id: &'static str,
        reason: Reason,
        balance: i64,
        last: bool,
    }
    let opened = Opened {
        account_id: AGGREGATE,
        owner: "Alice",
        limits: [("daily", 1_000), ("monthly", 20_000)].into(),
        tags: vec!["retail", "eur"],
    };
    let deposited = Deposited {
        account_id: AGGREGATE,
        amount: u64::MAX,
        rate: 1.5,
        memo: None,
        delta: -42,
    };
    let closed = Closed {
        account_id: AGGREGATE,
        reason: Reason::Requested { by: "Alice" },
        balance: 0,
        last: true,
    };
    vec![
        new_event(
            "Opened",
            1,
            payload::to_ipld(&opened).expect("opened payload"),
        ),
        NewEvent {
            causation_id: Some("0190b6a0-0000-7000-8000-000000000001".into()),
            meta: [("user".to_owned(), "alice".to_owned())].into(),
            ..new_event(
                "Deposited",
                2,
                payload::to_ipld(&deposited).expect("deposited payload"),
            )
        },
        new_event(
            "Closed",
            3,
            payload::to_ipld(&closed).expect("closed payload"),
        ),
    ]
}

/// An event of the `Account` aggregate with id, time and correlation fixed by `n`.
pub fn new_event(event_type: &str, n: u64, payload: Ipld) -> NewEvent {
    NewEvent {
        aggregate_type: "Account".into(),
        event_type: event_type.into(),
        schema: 1,
        id: format!("0190b6a0-0000-7000-8000-{n:012}"),
        time: T0 + n * 1_000_000_000,
        correlation_id: "0190b6a0-0000-7000-8000-00000000c0de".into(),
        causation_id: None,
        meta: BTreeMap::new(),
        payload,
    }
}

/// The golden chain, sealed as a new aggregate.
pub fn golden_chain() -> Vec<SealedEvent> {
    seal(PREFIX, AGGREGATE, None, &golden_events()).expect("seal the golden chain")
}

/// `count` simple events for aggregate `id`, sealed as a new aggregate.
pub fn simple_chain(id: &str, count: u64) -> Vec<SealedEvent> {
    let events: Vec<NewEvent> = (1..=count)
        .map(|n| {
            let payload = payload::to_ipld(&BTreeMap::from([("n", n)])).expect("payload");
            new_event("Noted", n, payload)
        })
        .collect();
    seal(PREFIX, id, None, &events).expect("seal")
}

/// The headers a store writes for `event`, owned.
pub fn headers_of(event: &SealedEvent) -> Vec<(String, String)> {
    event
        .headers()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

/// Stores sealed events as-is, as a writer that follows the format would; returns their
/// stream sequences.
pub fn insert_sealed(store: &MemoryEventStore, events: &[SealedEvent]) -> Vec<u64> {
    events
        .iter()
        .map(|e| store.insert_raw(&e.subject, headers_of(e), e.bytes.clone()))
        .collect()
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks that `bytes` are exactly one DAG-CBOR item in canonical form — definite
/// lengths, shortest integer and length encodings, 64-bit floats only, tag 42 only (on
/// bytes starting with 0x00), text keys in length-first then bytewise order with no
/// duplicates — and returns the top-level map's keys in file order.
pub fn canonical_top_level_keys(bytes: &[u8]) -> Result<Vec<String>, String> {
    let mut reader = Reader { bytes, at: 0 };
    let keys = reader.item()?;
    if reader.at != bytes.len() {
        return Err(format!("{} trailing bytes", bytes.len() - reader.at));
    }
    keys.ok_or_else(|| "the block is not a map".to_owned())
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| format!("truncated at byte {}", self.at))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    /// The major type and argument of the next head, refusing non-shortest forms.
    fn head(&mut self) -> Result<(u8, u64), String> {
        let at = self.at;
        let initial = self.take(1)?[0];
        let (major, info) = (initial >> 5, initial & 0x1f);
        let (value, min) = match info {
            0..=23 => (u64::from(info), 0),
            24 => (u64::from(self.take(1)?[0]), 24),
            25 => (u64::from(u16::from_be_bytes(fixed(self.take(2)?))), 256),
            26 => (u64::from(u32::from_be_bytes(fixed(self.take(4)?))), 65_536),
            27 => (u64::from_be_bytes(fixed(self.take(8)?)), 1 << 32),
            _ => return Err(format!("indefinite or reserved length at byte {at}")),
        };
        // Floats (major 7) are checked by the caller; everything else must be shortest.
        if major != 7 && value < min {
            return Err(format!("non-shortest encoding at byte {at}"));
        }
        Ok((major, value))
    }

    /// Reads one item; returns the keys when it is a map.
    fn item(&mut self) -> Result<Option<Vec<String>>, String> {
        let at = self.at;
        let (major, value) = self.head()?;
        let len = usize::try_from(value).map_err(|_| "length overflow".to_owned())?;
        match major {
            0 | 1 => {}
            2 | 3 => {
                let data = self.take(len)?;
                if major == 3 {
                    std::str::from_utf8(data).map_err(|e| format!("byte {at}: {e}"))?;
                }
            }
            4 => {
                for _ in 0..len {
                    self.item()?;
                }
            }
            5 => {
                let mut keys: Vec<String> = Vec::with_capacity(len);
                for _ in 0..len {
                    let key_at = self.at;
                    let (key_major, key_len) = self.head()?;
                    if key_major != 3 {
                        return Err(format!("map key at byte {key_at} is not a string"));
                    }
                    let key = self.take(key_len as usize)?;
                    let key = std::str::from_utf8(key)
                        .map_err(|e| e.to_string())?
                        .to_owned();
                    if let Some(last) = keys.last() {
                        let order = (last.len(), last.as_bytes()).cmp(&(key.len(), key.as_bytes()));
                        if order != std::cmp::Ordering::Less {
                            return Err(format!("key {key:?} at byte {key_at} is out of order"));
                        }
                    }
                    keys.push(key);
                    self.item()?;
                }
                return Ok(Some(keys));
            }
            6 => {
                if value != 42 {
                    return Err(format!("tag {value} at byte {at}; DAG-CBOR allows only 42"));
                }
                let (inner, cid_len) = self.head()?;
                let cid = self.take(cid_len as usize)?;
                if inner != 2 || cid.first() != Some(&0) {
                    return Err(format!(
                        "tag 42 at byte {at} does not hold 0x00-prefixed bytes"
                    ));
                }
            }
            _ => match self.bytes[at] {
                0xf4..=0xf6 => {}
                0xfb => {
                    let f = f64::from_bits(value);
                    if !f.is_finite() {
                        return Err(format!("non-finite float at byte {at}"));
                    }
                }
                other => {
                    return Err(format!(
                        "simple value or short float {other:#x} at byte {at}"
                    ));
                }
            },
        }
        Ok(None)
    }
}

fn fixed<const N: usize>(slice: &[u8]) -> [u8; N] {
    slice.try_into().expect("take returned N bytes")
}
