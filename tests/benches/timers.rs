//! Timer accuracy on JetStream message schedules: how long after its due time a timer
//! reaches a worker. It starts its own R1 file-storage server, schedules timers at spaced
//! due times, and prints min/median/p95/max of (delivery − due) and of (fired − due),
//! where "fired" is the server's timestamp of the fired message and "delivery" the
//! worker's clock when the timer came out of `fired()`. Reports numbers; asserts nothing
//! about them:
//!
//! ```text
//! cargo bench -p tests --bench timers
//! BENCH_TIMERS=200 cargo bench -p tests --bench timers   # more timers per round
//! ```

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use cim_events::jetstream::JetStreamTimers;
use cim_events::timer::{Timer, Timers};
use futures::StreamExt;
use tests::nats::{NatsServer, connect};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let count: usize = std::env::var("BENCH_TIMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let server = NatsServer::start().await;
    let context = connect(vec![server.addr()]).await;
    // Waits for the connection, so that the server info is filled in.
    context.query_account().await.expect("JetStream");
    println!(
        "nats-server {} (R1, file storage, loopback), {count} timers per round",
        context.client().server_info().version
    );
    println!(
        "\n{:<22} {:>9} | {:>30} | {:>30}",
        "round", "schedule", "delivery − due (ms)", "fired − due (ms)"
    );
    println!(
        "{:<22} {:>9} | {:>6} {:>7} {:>7} {:>7} | {:>6} {:>7} {:>7} {:>7}",
        "", "ms/timer", "min", "median", "p95", "max", "min", "median", "p95", "max"
    );
    for (round, spacing) in [
        ("spaced 1 s", Duration::from_secs(1)),
        ("spaced 100 ms", Duration::from_millis(100)),
        ("spaced 10 ms", Duration::from_millis(10)),
        ("all at one instant", Duration::ZERO),
    ] {
        // A slow round: fewer timers, so that it stays under a minute.
        let n = if spacing >= Duration::from_secs(1) {
            count.min(20)
        } else {
            count
        };
        let timers =
            JetStreamTimers::builder(context.clone(), &format!("BENCH{}", spacing.as_millis()))
                .prefix(format!("bench{}", spacing.as_millis()))
                .build()
                .await
                .expect("provision");
        run(round, &timers, n, spacing).await;
    }
}

async fn run(round: &str, timers: &JetStreamTimers, n: usize, spacing: Duration) {
    let mut fired = timers.fired("bench").await.expect("consumer");
    let first = SystemTime::now() + Duration::from_secs(2);
    let mut dues = HashMap::new();
    let started = Instant::now();
    for i in 0..n {
        let due = first + spacing * u32::try_from(i).expect("few timers");
        let name = format!("t{i}");
        dues.insert(name.clone(), due);
        let timer = Timer::new("bench", name, due, "").expect("timer");
        timers.schedule(&timer).await.expect("schedule");
    }
    let per_schedule = started.elapsed().as_secs_f64() * 1000.0 / n as f64;
    let mut delivered = Vec::with_capacity(n);
    let mut at_server = Vec::with_capacity(n);
    while delivered.len() < n {
        let timer = tokio::time::timeout(Duration::from_secs(60), fired.next())
            .await
            .expect("every timer fires within a minute")
            .expect("stream open")
            .expect("a fired timer");
        let now = SystemTime::now();
        delivered.push(ms_after(now, timer.due));
        at_server.push(ms_after(timer.fired_at, timer.due));
        timer.ack().await.expect("ack");
    }
    let (d, s) = (summary(delivered), summary(at_server));
    println!(
        "{round:<22} {per_schedule:>9.2} | {:>6.1} {:>7.1} {:>7.1} {:>7.1} | {:>6.1} {:>7.1} {:>7.1} {:>7.1}",
        d[0], d[1], d[2], d[3], s[0], s[1], s[2], s[3]
    );
}

/// `later − earlier` in milliseconds, negative if `later` is before `earlier`.
fn ms_after(later: SystemTime, earlier: SystemTime) -> f64 {
    match later.duration_since(earlier) {
        Ok(d) => d.as_secs_f64() * 1000.0,
        Err(e) => -e.duration().as_secs_f64() * 1000.0,
    }
}

/// Min, median, p95 and max.
fn summary(mut values: Vec<f64>) -> [f64; 4] {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    [at(0.0), at(0.5), at(0.95), at(1.0)]
}
