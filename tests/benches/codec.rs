//! Client-side costs of the wire format, with no server (BENCHMARKS.md): sealing (payload
//! conversion, DAG-CBOR encoding, hashing), decoding stored messages, upcasting old
//! payloads, and verifying a chain. It reports numbers and asserts nothing about them:
//!
//! ```text
//! cargo bench -p tests --bench codec
//! ```

use std::time::{Duration, Instant};

use cim_events::block::{BLOCK_MAX_DEPTH, EventBlock, check_canonical, cid_of};
use cim_events::test_util::{prepare, seal, seal_after};
use cim_events::{Event, EventHeader, RawRecord, RecordedEvent, verify_records};
use serde::{Deserialize, Serialize};
use tests::domain::Noted;

/// `Noted` at schema 3, reading schema 1 (as `tests::domain::Noted` writes it) through
/// two steps. The shapes are equal, so the difference from a current read is the cost of
/// the steps themselves: the version dispatch, and moving the fields through each `From`.
#[derive(Event, Serialize, Deserialize)]
#[event(aggregate = "Notebook", name = "Noted", schema = 3, from(2 = NotedV2, 1 = NotedV1))]
struct NotedV3 {
    #[event(id)]
    id: String,
    n: u64,
    text: String,
}

#[derive(Deserialize)]
struct NotedV1 {
    id: String,
    n: u64,
    text: String,
}

#[derive(Deserialize)]
struct NotedV2 {
    id: String,
    n: u64,
    text: String,
}

impl From<NotedV1> for NotedV2 {
    fn from(NotedV1 { id, n, text }: NotedV1) -> Self {
        NotedV2 { id, n, text }
    }
}

impl From<NotedV2> for NotedV3 {
    fn from(NotedV2 { id, n, text }: NotedV2) -> Self {
        NotedV3 { id, n, text }
    }
}

/// Events per measured run: one long aggregate.
const EVENTS: u64 = 1000;
/// Runs per measurement; the median is reported.
const RUNS: usize = 21;
/// Alternating runs for the cost of one upcast step, which is below the noise of `RUNS`.
const PAIRED_RUNS: usize = 401;

fn main() {
    let events: Vec<Noted> = (0..EVENTS)
        .map(|n| Noted {
            text: "a short note about nothing in particular".into(),
            ..Noted::new("bench-1", n)
        })
        .collect();
    let sealed =
        || seal_after("events", "bench-1", None, &events, &EventHeader::default()).expect("seal");
    let blocks = sealed();
    let records: Vec<RawRecord> = blocks
        .iter()
        .zip(1..)
        .map(|(s, sequence)| RawRecord {
            sequence,
            subject: s.subject.clone(),
            headers: s
                .headers()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            data: s.bytes.clone(),
        })
        .collect();
    println!(
        "{EVENTS} events of one aggregate, {} bytes per block; µs per event, median and minimum of {RUNS} runs",
        blocks[0].bytes.len()
    );
    report("prepare + seal (to IPLD, encode, hash)", || {
        std::hint::black_box(sealed());
    });
    report("prepare only (payload to IPLD, ids, time)", || {
        std::hint::black_box(
            prepare("bench-1", &events, &EventHeader::default()).expect("prepare"),
        );
    });
    let prepared = prepare("bench-1", &events, &EventHeader::default()).expect("prepare");
    report("seal only (chain, encode, hash)", || {
        std::hint::black_box(seal("events", "bench-1", None, &prepared).expect("seal"));
    });
    report("encode only (EventBlock::encode)", || {
        for s in &blocks {
            std::hint::black_box(s.block.encode().expect("encode"));
        }
    });
    // The encoder this crate used before writing blocks directly, for comparison.
    report("encode, generic (to_ipld + serde_ipld_dagcbor)", || {
        for s in &blocks {
            let bytes = serde_ipld_dagcbor::to_vec(&s.block.to_ipld()).expect("encode");
            std::hint::black_box(bytes);
        }
    });
    report("hash only (cid_of)", || {
        for r in &records {
            std::hint::black_box(cid_of(&r.data));
        }
    });
    report("canonical check only (check_canonical)", || {
        for r in &records {
            let checked = check_canonical(std::hint::black_box(&r.data), BLOCK_MAX_DEPTH);
            assert!(checked.is_ok());
        }
    });
    report("decode (canonical check + EventBlock::decode)", || {
        for r in &records {
            std::hint::black_box(EventBlock::decode(&r.data).expect("decode"));
        }
    });
    report("RecordedEvent::from_raw + into_event", || {
        for r in &records {
            let recorded = RecordedEvent::from_raw(r.clone()).expect("from_raw");
            std::hint::black_box(recorded.into_event::<Noted>().expect("event"));
        }
    });
    report("verify_records (whole chain)", || {
        let report = verify_records("events", "bench-1", &records);
        assert!(report.is_valid());
    });

    // Upcasting: the same events read at the current schema and at schema 1.
    let decoded = |records: &[RawRecord]| -> Vec<RecordedEvent> {
        records
            .iter()
            .map(|r| RecordedEvent::from_raw(r.clone()).expect("from_raw"))
            .collect()
    };
    let stored_v1 = decoded(&records);
    let current: Vec<NotedV3> = events
        .iter()
        .map(|e| NotedV3 {
            id: e.id.clone(),
            n: e.n,
            text: e.text.clone(),
        })
        .collect();
    let sealed_v3 =
        seal_after("events", "bench-1", None, &current, &EventHeader::default()).expect("seal v3");
    let stored_v3: Vec<RecordedEvent> = sealed_v3
        .iter()
        .zip(1..)
        .map(|(s, sequence)| {
            RecordedEvent::from_raw(RawRecord {
                sequence,
                subject: s.subject.clone(),
                headers: Vec::new(),
                data: s.bytes.clone(),
            })
            .expect("from_raw")
        })
        .collect();
    assert_eq!(stored_v3[0].block.schema, 3);
    assert_eq!(stored_v1[0].block.schema, 1);
    let at_current = || {
        for r in &stored_v3 {
            std::hint::black_box(r.decode::<NotedV3>().expect("v3"));
        }
    };
    let at_v1 = || {
        for r in &stored_v1 {
            std::hint::black_box(r.decode::<NotedV3>().expect("v1"));
        }
    };
    report("decode::<E> at the current schema (3)", at_current);
    report("decode::<E> from schema 1 (two upcast steps)", at_v1);
    // A step costs a few nanoseconds, less than the noise between two separate
    // measurements on a shared machine: time the two reads in alternation and take the
    // median of the paired differences.
    if std::env::var("CODEC_BENCH").is_ok_and(|only| !"upcast step".contains(only.as_str())) {
        return;
    }
    let mut differences: Vec<f64> = (0..PAIRED_RUNS)
        .map(|_| {
            let start = Instant::now();
            at_current();
            let current = start.elapsed();
            let start = Instant::now();
            at_v1();
            let v1 = start.elapsed();
            (v1.as_secs_f64() - current.as_secs_f64()) * 1e9 / EVENTS as f64
        })
        .collect();
    differences.sort_by(f64::total_cmp);
    println!(
        "{:<48} {:>7.1} ns (median of {PAIRED_RUNS} paired runs; quartiles {:.1}, {:.1})",
        "one upcast step, per event",
        differences[PAIRED_RUNS / 2] / 2.0,
        differences[PAIRED_RUNS / 4] / 2.0,
        differences[PAIRED_RUNS * 3 / 4] / 2.0
    );
}

fn report(name: &str, mut run: impl FnMut()) {
    // `CODEC_BENCH=seal` runs only the measurements whose name contains "seal" (for
    // profiling one of them).
    if std::env::var("CODEC_BENCH").is_ok_and(|only| !name.contains(only.as_str())) {
        return;
    }
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed()
        })
        .collect();
    times.sort();
    let per_event = |d: Duration| d.as_secs_f64() * 1e6 / EVENTS as f64;
    // The minimum as well: on a shared machine it is the figure least disturbed by other
    // processes.
    println!(
        "{name:<48} {:>7.2} {:>7.2}",
        per_event(times[RUNS / 2]),
        per_event(times[0])
    );
}
