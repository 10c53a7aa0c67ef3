//! Client-side costs of the wire format, with no server (BENCHMARKS.md): sealing (payload
//! conversion, DAG-CBOR encoding, hashing), decoding stored messages, and verifying a
//! chain. It reports numbers and asserts nothing about them:
//!
//! ```text
//! cargo bench -p tests --bench codec
//! ```

use std::time::{Duration, Instant};

use cim_events::block::{BLOCK_MAX_DEPTH, EventBlock, check_canonical, cid_of};
use cim_events::test_util::{prepare, seal, seal_after};
use cim_events::{EventHeader, RawRecord, RecordedEvent, verify_records};
use tests::domain::Noted;

/// Events per measured run: one long aggregate.
const EVENTS: u64 = 1000;
/// Runs per measurement; the median is reported.
const RUNS: usize = 21;

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
