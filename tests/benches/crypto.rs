//! The client-side cost of payload encryption per event (BENCHMARKS.md), with no server:
//! a payload with one `Pii<String>` field, and the same payload encrypted whole, against
//! the plaintext path. The data key is cached, as it is after a subject's first event. It
//! reports numbers and asserts nothing about them:
//!
//! ```text
//! cargo bench -p tests --bench crypto
//! CRYPTO_BENCH=store cargo bench -p tests --bench crypto   # the store part alone
//! ```
//!
//! Then the same through the memory store ([`store_path`]): appending events with one
//! `Pii<String>` field to a store with encryption, against the same event with a plain
//! `String` on a store without, one `append_event` per event; and loading them back
//! (`store.load`, which decrypts, then decoding each into the event type). Both sides run
//! in interleaved rounds, in order in even rounds and reversed in odd ones, so that load
//! drifting on the machine hits both alike; the ratio (encrypted / plain) is taken within
//! each round. Sizes: `BENCH_STORE_EVENTS` [2000] events per side per round,
//! `BENCH_STORE_LOADS` [5] loads of them, `BENCH_ROUNDS` [9] rounds.

use std::time::{Duration, Instant};

use cim_events::block::encode_ipld;
use cim_events::crypto::{Crypto, Kek, MemoryKeyStore, Place, marks};
use cim_events::payload::{from_ipld, to_ipld};
use cim_events::{Event, EventStore, Ipld, MemoryEventStore, Pii};
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
    payload_path(&runtime);
    if std::env::var("CRYPTO_BENCH").is_ok_and(|only| !"store".contains(only.as_str())) {
        return;
    }
    store_path(&runtime);
}

/// Encryption and decryption of payloads alone, against the plaintext path.
fn payload_path(runtime: &tokio::runtime::Runtime) {
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

// ---- through the memory store ----

/// What the store path appends: one `Pii<String>` field, encrypted.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Customer")]
enum CustomerEvent {
    Registered {
        #[event(id)]
        customer: String,
        plan: String,
        email: Pii<String>,
    },
}

/// The same event with the e-mail address as a plain `String`: what a store without
/// encryption stores.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Customer")]
enum PlainCustomerEvent {
    Registered {
        #[event(id)]
        customer: String,
        plan: String,
        email: String,
    },
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// µs per event of one side in one round.
#[derive(Clone, Copy, Default)]
struct Round {
    append: f64,
    load: f64,
    decode: f64,
}

/// Appends `events` copies of `event` to aggregate `c-7` of `store`, one `append_event`
/// each, then loads them back `loads` times and decodes each. One append before the clock
/// starts registers the event type's schema; with encryption, the subject's data key is
/// created (and cached) before that.
async fn one_side<E: Event + Clone>(
    store: &MemoryEventStore,
    event: &E,
    events: usize,
    loads: usize,
) -> Round {
    store
        .append_event("c-7", event.clone(), None)
        .await
        .expect("warm-up append");
    let start = Instant::now();
    for _ in 0..events {
        store
            .append_event("c-7", event.clone(), None)
            .await
            .expect("append");
    }
    let append = start.elapsed();
    let mut load = Duration::ZERO;
    let mut decode = Duration::ZERO;
    for _ in 0..loads {
        let start = Instant::now();
        let records = store.load("c-7").await.expect("load");
        load += start.elapsed();
        assert_eq!(records.len(), events + 1, "every event loads");
        let start = Instant::now();
        for record in records {
            std::hint::black_box(record.into_event::<E>().expect("decode"));
        }
        decode += start.elapsed();
    }
    let per = |d: Duration, n: usize| d.as_secs_f64() * 1e6 / n as f64;
    Round {
        append: per(append, events),
        load: per(load, (events + 1) * loads),
        decode: per(decode, (events + 1) * loads),
    }
}

async fn encrypted_round(events: usize, loads: usize) -> Round {
    let crypto = Crypto::new(
        MemoryKeyStore::new(),
        Kek::from_bytes("bench", [7; 32]).expect("kek"),
    );
    crypto.create_key("c-7").await.expect("the subject's key");
    let store = MemoryEventStore::builder()
        .encryption(crypto)
        .build()
        .expect("store");
    let event = CustomerEvent::Registered {
        customer: "c-7".into(),
        plan: "gold".into(),
        email: Pii::Clear("ann.example@example.com".into()),
    };
    let round = one_side(&store, &event, events, loads).await;
    let stored = store.load("c-7").await.expect("load");
    assert_eq!(marks(&stored[0].block.payload).encrypted, 1, "encrypted");
    round
}

async fn plain_round(events: usize, loads: usize) -> Round {
    let store = MemoryEventStore::new();
    let event = PlainCustomerEvent::Registered {
        customer: "c-7".into(),
        plan: "gold".into(),
        email: "ann.example@example.com".into(),
    };
    let round = one_side(&store, &event, events, loads).await;
    let stored = store.load("c-7").await.expect("load");
    assert_eq!(marks(&stored[0].block.payload).encrypted, 0, "in clear");
    round
}

/// The per-event cost of encryption through the memory store, in interleaved rounds.
fn store_path(runtime: &tokio::runtime::Runtime) {
    let events = env_usize("BENCH_STORE_EVENTS", 2000);
    let loads = env_usize("BENCH_STORE_LOADS", 5);
    let rounds = env_usize("BENCH_ROUNDS", 9).max(1);
    let mut plain = Vec::new();
    let mut encrypted = Vec::new();
    for round in 0..rounds {
        let mut sides = [false, true];
        if round % 2 == 1 {
            sides.reverse();
        }
        for side in sides {
            if side {
                encrypted.push(runtime.block_on(encrypted_round(events, loads)));
            } else {
                plain.push(runtime.block_on(plain_round(events, loads)));
            }
        }
    }
    println!();
    println!(
        "memory store: {events} events per side per round, {loads} loads, {rounds} interleaved rounds; \
         µs per event, median (min–max) over the rounds"
    );
    println!(
        "{:<34} {:>24} {:>24} {:>24}",
        "", "plain", "one Pii<String> field", "ratio encrypted / plain"
    );
    type Metric = fn(&Round) -> f64;
    let metrics: [(&str, Metric); 4] = [
        ("store append (append_event)", |r| r.append),
        ("store load (store.load)", |r| r.load),
        ("decode (into_event)", |r| r.decode),
        ("load + decode", |r| r.load + r.decode),
    ];
    for (name, metric) in metrics {
        let p: Vec<f64> = plain.iter().map(metric).collect();
        let e: Vec<f64> = encrypted.iter().map(metric).collect();
        let ratios: Vec<f64> = p.iter().zip(&e).map(|(p, e)| e / p).collect();
        println!(
            "{name:<34} {:>24} {:>24} {:>24}",
            spread(&p, 2),
            spread(&e, 2),
            spread(&ratios, 2)
        );
    }
    let added: Vec<f64> = plain
        .iter()
        .zip(&encrypted)
        .map(|(p, e)| e.append - p.append)
        .collect();
    let added_read: Vec<f64> = plain
        .iter()
        .zip(&encrypted)
        .map(|(p, e)| e.load + e.decode - p.load - p.decode)
        .collect();
    println!(
        "{:<34} {:>24} {:>24}",
        "added by encryption, append",
        "",
        spread(&added, 2)
    );
    println!(
        "{:<34} {:>24} {:>24}",
        "added by encryption, load+decode",
        "",
        spread(&added_read, 2)
    );
}

/// `median (min–max)`.
fn spread(values: &[f64], decimals: usize) -> String {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    format!(
        "{median:.decimals$} ({:.decimals$}–{:.decimals$})",
        sorted[0],
        sorted[sorted.len() - 1]
    )
}
