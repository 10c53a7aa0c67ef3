//! The client-side cost of payload encryption per event (BENCHMARKS.md), with no server:
//! a payload with one `Pii<String>` field, and the same payload encrypted whole, against
//! the plaintext path. The data key is cached, as it is after a subject's first event. It
//! reports numbers and asserts nothing about them:
//!
//! ```text
//! cargo bench -p tests --bench crypto
//! ```

use std::time::{Duration, Instant};

use cim_events::block::encode_ipld;
use cim_events::crypto::{Crypto, Kek, MemoryKeyStore, Place};
use cim_events::payload::{from_ipld, to_ipld};
use cim_events::{Ipld, Pii};
use serde::{Deserialize, Serialize};

/// Events per measured run.
const EVENTS: usize = 1000;
/// Runs per measurement; the median is reported.
const RUNS: usize = 21;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Registered {
    customer: String,
    plan: String,
    email: Pii<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct RegisteredPlain {
    customer: String,
    plan: String,
    email: String,
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let crypto = Crypto::new(
        MemoryKeyStore::new(),
        Kek::from_bytes("bench", [7; 32]).expect("kek"),
    );
    let ids: Vec<String> = (0..EVENTS)
        .map(|n| format!("0190f1b2-7c1a-7d4e-8f00-{n:012}"))
        .collect();
    let places: Vec<Place<'_>> = ids
        .iter()
        .map(|id| Place::new("Customer", "c-7", "Registered", id))
        .collect();
    let event = Registered {
        customer: "c-7".into(),
        plan: "gold".into(),
        email: Pii::Clear("ann.example@example.com".into()),
    };
    let plain_event = RegisteredPlain {
        customer: "c-7".into(),
        plan: "gold".into(),
        email: "ann.example@example.com".into(),
    };
    let encryptor = runtime
        .block_on(crypto.encryptor("c-7"))
        .expect("encryptor");

    let plain: Vec<Ipld> = (0..EVENTS)
        .map(|_| to_ipld(&plain_event).expect("to IPLD"))
        .collect();
    let field: Vec<Ipld> = places
        .iter()
        .map(|place| {
            let payload = to_ipld(&event).expect("to IPLD");
            encryptor.encrypt_payload(payload, place).expect("encrypt")
        })
        .collect();
    let whole: Vec<Ipld> = places
        .iter()
        .map(|place| {
            let payload = to_ipld(&event).expect("to IPLD");
            encryptor
                .encrypt_whole_payload(payload, place)
                .expect("encrypt")
        })
        .collect();
    let size = |p: &Ipld| encode_ipld(p).expect("encode").len();
    println!(
        "{EVENTS} events; payload bytes: plain {}, one Pii field {}, whole {}; µs per event, median and minimum of {RUNS} runs",
        size(&plain[0]),
        size(&field[0]),
        size(&whole[0]),
    );

    // Writing: payload to IPLD, (encryption,) DAG-CBOR encoding.
    report("write, plaintext (to_ipld + encode)", || {
        for _ in 0..EVENTS {
            let payload = to_ipld(&plain_event).expect("to IPLD");
            std::hint::black_box(encode_ipld(&payload).expect("encode"));
        }
    });
    report("write, one Pii field (Encryptor)", || {
        for place in &places {
            let payload = to_ipld(&event).expect("to IPLD");
            let payload = encryptor.encrypt_payload(payload, place).expect("encrypt");
            std::hint::black_box(encode_ipld(&payload).expect("encode"));
        }
    });
    report("write, one Pii field (Crypto::encrypt_payload)", || {
        runtime.block_on(async {
            for place in &places {
                let payload = to_ipld(&event).expect("to IPLD");
                let payload = crypto
                    .encrypt_payload(payload, place, "c-7")
                    .await
                    .expect("encrypt");
                std::hint::black_box(encode_ipld(&payload).expect("encode"));
            }
        });
    });
    report("write, whole payload (Encryptor)", || {
        for place in &places {
            let payload = to_ipld(&event).expect("to IPLD");
            let payload = encryptor
                .encrypt_whole_payload(payload, place)
                .expect("encrypt");
            std::hint::black_box(encode_ipld(&payload).expect("encode"));
        }
    });

    // Reading: (decryption,) IPLD to the event type.
    report("read, plaintext (from_ipld)", || {
        for payload in &plain {
            std::hint::black_box(from_ipld::<RegisteredPlain>(payload.clone()).expect("decode"));
        }
    });
    report("read, one Pii field (decrypt_payload + from_ipld)", || {
        runtime.block_on(async {
            for (payload, place) in field.iter().zip(&places) {
                let payload = crypto
                    .decrypt_payload(payload.clone(), place)
                    .await
                    .expect("decrypt");
                std::hint::black_box(from_ipld::<Registered>(payload).expect("decode"));
            }
        });
    });
    report("read, whole payload (decrypt_payload + from_ipld)", || {
        runtime.block_on(async {
            for (payload, place) in whole.iter().zip(&places) {
                let payload = crypto
                    .decrypt_payload(payload.clone(), place)
                    .await
                    .expect("decrypt");
                std::hint::black_box(from_ipld::<Registered>(payload).expect("decode"));
            }
        });
    });
    report(
        "read, payload without Pii (decrypt_payload pass-through)",
        || {
            runtime.block_on(async {
                for (payload, place) in plain.iter().zip(&places) {
                    let payload = crypto
                        .decrypt_payload(payload.clone(), place)
                        .await
                        .expect("decrypt");
                    std::hint::black_box(payload);
                }
            });
        },
    );
}

fn report(name: &str, mut run: impl FnMut()) {
    // `CRYPTO_BENCH=read` runs only the measurements whose name contains "read".
    if std::env::var("CRYPTO_BENCH").is_ok_and(|only| !name.contains(only.as_str())) {
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
    println!(
        "{name:<58} {:>7.2} {:>7.2}",
        per_event(times[RUNS / 2]),
        per_event(times[0])
    );
}
