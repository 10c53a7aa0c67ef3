//! Interleaved rounds, what one side measures in one round, and the printed tables.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// What one side measured in one round.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// Operations done (events appended, commands run, aggregates read).
    pub ops: u64,
    /// Wall time of all of them.
    pub elapsed: Duration,
    /// The time of each operation, when they ran one after another.
    pub latencies: Vec<Duration>,
    /// Messages the client sent meanwhile (publishes, requests, pull requests).
    pub sent: u64,
}

impl Sample {
    fn throughput(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }
}

/// Which ratio a shape reports.
#[derive(Debug, Clone, Copy)]
pub enum Ratio {
    /// Operations per second, store / raw: higher is better.
    Throughput,
    /// p50 latency, store / raw: lower is better.
    Latency,
}

/// Runs `run(side, round)` for every side in each of `rounds` rounds, the sides in order in
/// even rounds and in reverse order in odd ones, so that no side always goes first. Returns
/// the samples by side, then round.
pub async fn interleave(
    rounds: usize,
    sides: usize,
    mut run: impl AsyncFnMut(usize, usize) -> Sample,
) -> Vec<Vec<Sample>> {
    let mut samples = vec![Vec::with_capacity(rounds); sides];
    for round in 0..rounds {
        let order: Vec<usize> = if round % 2 == 0 {
            (0..sides).collect()
        } else {
            (0..sides).rev().collect()
        };
        for side in order {
            let sample = run(side, round).await;
            samples[side].push(sample);
        }
    }
    samples
}

/// Runs `op(0)`, …, `op(ops - 1)` one after another, timing each.
pub async fn sequential(
    client: &async_nats::Client,
    ops: usize,
    mut op: impl AsyncFnMut(usize),
) -> Sample {
    let sent = sent(client);
    let mut latencies = Vec::with_capacity(ops);
    let start = Instant::now();
    for i in 0..ops {
        let t = Instant::now();
        op(i).await;
        latencies.push(t.elapsed());
    }
    Sample {
        ops: ops as u64,
        elapsed: start.elapsed(),
        latencies,
        sent: self::sent(client) - sent,
    }
}

/// Times `work`, which does `ops` operations concurrently.
pub async fn concurrent(
    client: &async_nats::Client,
    ops: usize,
    work: impl Future<Output = ()>,
) -> Sample {
    let sent = sent(client);
    let start = Instant::now();
    work.await;
    Sample {
        ops: ops as u64,
        elapsed: start.elapsed(),
        latencies: Vec::new(),
        sent: self::sent(client) - sent,
    }
}

/// Messages the client has sent since it connected.
fn sent(client: &async_nats::Client) -> u64 {
    client.statistics().out_messages.load(Ordering::Relaxed)
}

/// Prints one line per side: median throughput over the rounds, p50 and p99 of every
/// operation of every round, and messages sent per operation.
pub fn sides(labels: &[&str], samples: &[Vec<Sample>]) {
    println!(
        "   {:<46} {:>9} {:>9} {:>9} {:>8}",
        "side", "ops/s", "p50 ms", "p99 ms", "sent/op"
    );
    for (label, rounds) in labels.iter().zip(samples) {
        let throughput = median(rounds.iter().map(Sample::throughput).collect());
        let mut latencies: Vec<Duration> = rounds
            .iter()
            .flat_map(|s| s.latencies.iter().copied())
            .collect();
        latencies.sort();
        let ops: u64 = rounds.iter().map(|s| s.ops).sum();
        let sent: u64 = rounds.iter().map(|s| s.sent).sum();
        println!(
            "   {label:<46} {throughput:>9.0} {:>9} {:>9} {:>8.2}",
            percentile(&latencies, 50, 1),
            // Fewer than 100 samples have no 99th percentile worth printing.
            percentile(&latencies, 99, 100),
            sent as f64 / ops as f64,
        );
    }
}

/// Prints the ratio `store / raw` of each pair: computed in each round, then the median
/// and range over the rounds.
pub fn ratios(kind: Ratio, pairs: &[(&str, &[Sample], &str, &[Sample])]) {
    let rounds = pairs.first().map_or(0, |p| p.1.len());
    match kind {
        Ratio::Throughput => println!(
            "   throughput ratio store/raw (>= 1 is better; 1.00 = as fast as raw), median [min-max] of {rounds} rounds:"
        ),
        Ratio::Latency => println!(
            "   p50 latency ratio store/raw (<= 1 is better; 1.00 = as fast as raw), median [min-max] of {rounds} rounds:"
        ),
    }
    for (store_label, store, raw_label, raw) in pairs {
        let mut per_round: Vec<f64> = store
            .iter()
            .zip(raw.iter())
            .map(|(s, r)| match kind {
                Ratio::Throughput => s.throughput() / r.throughput(),
                Ratio::Latency => p50_secs(s) / p50_secs(r),
            })
            .collect();
        per_round.sort_by(f64::total_cmp);
        let label = format!("{store_label} / {raw_label}");
        println!(
            "     {label:<48} {:>6.2}  [{:.2}-{:.2}]",
            median(per_round.clone()),
            per_round.first().copied().unwrap_or(f64::NAN),
            per_round.last().copied().unwrap_or(f64::NAN),
        );
    }
}

fn p50_secs(sample: &Sample) -> f64 {
    let mut latencies = sample.latencies.clone();
    latencies.sort();
    latencies
        .get(latencies.len() / 2)
        .map_or(f64::NAN, Duration::as_secs_f64)
}

/// The `p`th percentile of sorted `values` in milliseconds, or `-` with fewer than `min`.
fn percentile(values: &[Duration], p: usize, min: usize) -> String {
    if values.len() < min.max(1) {
        return "-".to_owned();
    }
    let index = (values.len() * p / 100).min(values.len() - 1);
    format!("{:.2}", values[index].as_secs_f64() * 1000.0)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}
