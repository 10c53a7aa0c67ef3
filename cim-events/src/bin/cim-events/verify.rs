//! `verify`: proves chains intact and locates every fault (aggregate, version, stream
//! sequence, CID, kind). One aggregate through the store's `verify_chain` (or
//! `verify_from` with `--from-head`); every aggregate in ONE pass over the stream, holding
//! one verifier (a head and its faults) per aggregate, so memory grows with the number
//! of aggregates, not of events; or a CAR file offline (`car_check.rs`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use cim_events::block::cid_of;
use cim_events::{ChainFault, ChainReport, Cid, EventStore, FaultKind, Head, RawRecord, Verifier};
use futures::StreamExt;

use crate::connection::ConnectionArgs;
use crate::output::{Failure, Outcome, parse_cid, progress, redact};
use crate::scan::{Scan, aggregate_of, message_at};

/// How many faults get their CID looked up (one read each); the rest are listed without.
const CIDS_LOOKED_UP: usize = 1_000;
/// Messages handed from the reading task to the verifying one at a time.
const VERIFY_BATCH: usize = 256;

/// `verify [ID] [--all] [--car FILE] [--from-head CID] [--json]`.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The aggregate to verify. Without it (or with `--all`): every aggregate, in one pass.
    #[arg(conflicts_with = "all")]
    pub id: Option<String>,
    /// Verify every aggregate of the stream in one pass (the default without an ID).
    #[arg(long)]
    pub all: bool,
    /// Verify a CAR file offline, without a server.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["id", "all", "from_head"])]
    pub car: Option<PathBuf>,
    /// Prove that today's chain extends this head, trusted earlier (needs ID).
    #[arg(long, value_name = "CID", requires = "id", value_parser = parse_cid)]
    pub from_head: Option<Cid>,
    /// A machine-readable report on stdout.
    #[arg(long)]
    pub json: bool,
}

/// One fault, located.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Located {
    /// The aggregate whose chain holds it (`?` for a message outside any aggregate).
    pub aggregate: String,
    /// The aggregate version its block claims, when it decodes.
    pub version: Option<u64>,
    /// The stream sequence of the message (not for CAR files).
    pub sequence: Option<u64>,
    /// The index of the block in a CAR file (only for CAR files).
    pub block: Option<u64>,
    /// The CID of the stored bytes (for a truncation: the anchored head's).
    pub cid: Option<String>,
    /// What is wrong, as a short name.
    pub kind: &'static str,
    /// What is wrong, in words.
    pub detail: String,
}

/// What a verification found.
#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    /// Whether nothing is wrong.
    pub intact: bool,
    /// Aggregates verified.
    pub aggregates: u64,
    /// Messages (or blocks) examined.
    pub events: u64,
    /// Every fault, located.
    pub faults: Vec<Located>,
    /// With `--from-head`: what the extension check found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_head: Option<serde_json::Value>,
    /// Seconds the verification took, connecting included.
    pub seconds: f64,
    /// Of those, the seconds of the one pass over the stream (whole-stream verification).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass_seconds: Option<f64>,
}

/// Runs `verify`.
pub async fn run(conn: &ConnectionArgs, args: VerifyArgs) -> Result<Outcome, Failure> {
    let started = Instant::now();
    let mut report = if let Some(path) = &args.car {
        crate::car_check::verify_car(path)?
    } else {
        let connected = conn.connect().await?;
        let store = connected.store().await?;
        let stream = connected.stream().await?;
        let mut report = match (&args.id, args.from_head) {
            (Some(id), Some(trusted)) => from_head(&store, id, trusted).await?,
            (Some(id), None) => {
                let chain = store.verify_chain(id).await?;
                let mut report = Report {
                    aggregates: 1,
                    ..Report::default()
                };
                add(&mut report, chain);
                report
            }
            (None, _) => whole_stream(&store, &stream, &connected.prefix).await?,
        };
        locate_cids(&stream, &mut report.faults).await;
        report
    };
    report.intact = report.faults.is_empty();
    report.seconds = started.elapsed().as_secs_f64();
    print(&report, args.json)?;
    Ok(if report.intact {
        Outcome::Done
    } else {
        Outcome::Faults
    })
}

/// Adds one aggregate's chain report.
fn add(report: &mut Report, chain: ChainReport) {
    report.events += chain.events;
    for fault in chain.faults {
        report.faults.push(located(&chain.aggregate_id, fault));
    }
}

/// A fault of a store's chain report, located.
fn located(aggregate: &str, fault: ChainFault) -> Located {
    let cid = match &fault.kind {
        FaultKind::HashMismatch { actual, .. } => Some(actual.to_string()),
        FaultKind::Truncated { anchored_cid, .. } => Some(anchored_cid.to_string()),
        _ => None,
    };
    Located {
        aggregate: aggregate.to_owned(),
        version: fault.version,
        sequence: Some(fault.sequence),
        block: None,
        cid,
        kind: kind_name(&fault.kind),
        detail: fault.kind.to_string(),
    }
}

/// The short name of a fault kind.
pub fn kind_name(kind: &FaultKind) -> &'static str {
    match kind {
        FaultKind::Undecodable(_) => "undecodable",
        FaultKind::HashMismatch { .. } => "hash_mismatch",
        FaultKind::BrokenLink { .. } => "broken_link",
        FaultKind::SequenceGap { .. } => "sequence_gap",
        FaultKind::DuplicateSequence { .. } => "duplicate_sequence",
        FaultKind::HeaderMismatch { .. } => "header_mismatch",
        FaultKind::WrongAggregate { .. } => "wrong_aggregate",
        FaultKind::Truncated { .. } => "truncated",
        _ => "other",
    }
}

/// Every aggregate in one pass: a verifier per aggregate, fed in stream order.
async fn whole_stream<S: EventStore>(
    store: &S,
    stream: &cim_events::jetstream::async_nats::jetstream::stream::Stream,
    prefix: &str,
) -> Result<Report, Failure> {
    // Anchors first: a verifier checks its chain against the anchor as it goes. One head
    // per aggregate, read 32 at a time.
    let ids = store.aggregate_ids().await?;
    let mut anchors: HashMap<String, Head> = futures::stream::iter(ids)
        .map(|id| async move {
            let anchor = store.anchor(&id).await;
            anchor.map(|a| a.map(|a| (id, a)))
        })
        .buffer_unordered(32)
        .filter_map(|r| async move { r.transpose() })
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let mut scan = Scan::start(
        stream,
        &format!("{prefix}.>"),
        cim_events::jetstream::async_nats::jetstream::consumer::DeliverPolicy::All,
    )
    .await?;
    let pass = Instant::now();
    let bar = progress(scan.total, "events");
    // Reading and verifying overlap: a task reads batches of messages while this one
    // verifies the previous batches (the two worker threads each take one).
    let (batches, mut received) = tokio::sync::mpsc::channel::<Result<Vec<RawRecord>, Failure>>(16);
    let reader = tokio::spawn(async move {
        let mut batch = Vec::with_capacity(VERIFY_BATCH);
        while let Some(record) = scan.next().await {
            match record {
                Ok(record) => batch.push(record),
                Err(e) => {
                    let _ = batches.send(Err(e)).await;
                    return;
                }
            }
            if batch.len() == VERIFY_BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(VERIFY_BATCH));
                if batches.send(Ok(full)).await.is_err() {
                    return;
                }
            }
        }
        if !batch.is_empty() {
            let _ = batches.send(Ok(batch)).await;
        }
    });
    let mut verifiers: HashMap<String, Verifier> = HashMap::new();
    let mut report = Report::default();
    while let Some(batch) = received.recv().await {
        let batch = batch?;
        bar.inc(batch.len() as u64);
        bar.set_message(format!("{} aggregates", verifiers.len()));
        for record in &batch {
            let Some(id) = aggregate_of(prefix, &record.subject) else {
                report.events += 1;
                report.faults.push(Located {
                    aggregate: "?".to_owned(),
                    version: None,
                    sequence: Some(record.sequence),
                    block: None,
                    cid: Some(cid_of(&record.data).to_string()),
                    kind: "foreign_subject",
                    detail: format!(
                        "subject `{}` is not `{prefix}.<aggregate>.<event type>`",
                        record.subject
                    ),
                });
                continue;
            };
            match verifiers.get_mut(id) {
                Some(verifier) => verifier.check(record),
                None => {
                    let mut verifier = Verifier::new(prefix, id).with_anchor(anchors.remove(id));
                    verifier.check(record);
                    verifiers.insert(id.to_owned(), verifier);
                }
            }
        }
    }
    reader
        .await
        .map_err(|e| Failure::msg(format!("the reading task failed: {e}")))?;
    report.pass_seconds = Some(pass.elapsed().as_secs_f64());
    bar.finish_and_clear();
    // Aggregates anchored but without a single message left: truncated to nothing.
    for (id, anchor) in anchors {
        verifiers.insert(
            id.clone(),
            Verifier::new(prefix, &id).with_anchor(Some(anchor)),
        );
    }
    report.aggregates = verifiers.len() as u64;
    let mut reports: Vec<ChainReport> = verifiers.into_values().map(Verifier::finish).collect();
    reports.sort_by(|a, b| a.aggregate_id.cmp(&b.aggregate_id));
    for chain in reports {
        add(&mut report, chain);
    }
    report
        .faults
        .sort_by_key(|f| (f.sequence.unwrap_or(u64::MAX), f.aggregate.clone()));
    Ok(report)
}

/// `--from-head`: the chain must hold the trusted head and continue from it intact.
async fn from_head<S: EventStore>(store: &S, id: &str, trusted: Cid) -> Result<Report, Failure> {
    let extension = store.verify_from(id, trusted).await?;
    let mut report = Report {
        aggregates: 1,
        ..Report::default()
    };
    let extends = extension.extends();
    let head = |h: Option<Head>| {
        h.map(|h| serde_json::json!({"version": h.version, "cid": h.cid.to_string(), "sequence": h.sequence}))
    };
    report.from_head = Some(serde_json::json!({
        "trusted": trusted.to_string(),
        "extends": extends,
        "found": head(extension.found),
        "head": head(extension.head),
        "divergence": extension.divergence.as_ref().map(|d| format!("{d:?}")),
    }));
    if !extends {
        let (sequence, version) = match &extension.divergence {
            Some(cim_events::Divergence::NotInChain { sequence, version }) => {
                (Some(*sequence), *version)
            }
            Some(cim_events::Divergence::FaultAfter(fault)) => {
                (Some(fault.sequence), fault.version)
            }
            _ => (None, None),
        };
        report.faults.push(Located {
            aggregate: id.to_owned(),
            version,
            sequence,
            block: None,
            cid: Some(trusted.to_string()),
            kind: "does_not_extend",
            detail: match &extension.divergence {
                Some(cim_events::Divergence::Missing) | None => {
                    "no stored message of the aggregate is the trusted head".to_owned()
                }
                Some(cim_events::Divergence::NotInChain { .. }) => {
                    "the trusted head is stored but is not part of today's chain".to_owned()
                }
                Some(cim_events::Divergence::FaultAfter(fault)) => {
                    format!("the chain is faulty after the trusted head: {fault}")
                }
                Some(other) => format!("{other:?}"),
            },
        });
    }
    add(&mut report, extension.chain);
    Ok(report)
}

/// Fills in the CID of faults located by stream sequence: one read each.
async fn locate_cids(
    stream: &cim_events::jetstream::async_nats::jetstream::stream::Stream,
    faults: &mut [Located],
) {
    for fault in faults
        .iter_mut()
        .filter(|f| f.cid.is_none())
        .take(CIDS_LOOKED_UP)
    {
        if let Some(sequence) = fault.sequence {
            if let Ok(record) = message_at(stream, sequence).await {
                fault.cid = Some(cid_of(&record.data).to_string());
            }
        }
    }
}

/// Prints the report: JSON, or one line per fault and a summary.
fn print(report: &Report, json: bool) -> Result<(), Failure> {
    if json {
        println!("{}", redact(&serde_json::to_string_pretty(report)?));
        return Ok(());
    }
    for f in &report.faults {
        let mut line = format!("FAULT aggregate {}", f.aggregate);
        if let Some(v) = f.version {
            line.push_str(&format!(" version {v}"));
        }
        if let Some(s) = f.sequence {
            line.push_str(&format!(" seq {s}"));
        }
        if let Some(b) = f.block {
            line.push_str(&format!(" block {b}"));
        }
        if let Some(c) = &f.cid {
            line.push_str(&format!(" cid {c}"));
        }
        line.push_str(&format!(" {}: {}", f.kind, f.detail));
        println!("{}", redact(&line));
    }
    if let Some(from_head) = &report.from_head {
        println!("from-head: {from_head}");
    }
    let rate = report.events as f64 / report.seconds.max(1e-9);
    if report.faults.is_empty() {
        println!(
            "intact: {} aggregates, {} events ({:.0} events/s)",
            report.aggregates, report.events, rate
        );
    } else {
        println!(
            "FAULTY: {} faults in {} aggregates, {} events",
            report.faults.len(),
            report.aggregates,
            report.events
        );
    }
    Ok(())
}
