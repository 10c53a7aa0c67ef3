//! Runs the shop's `Fulfilment` process on JetStream until killed: the worker the
//! process-manager tests kill with SIGKILL mid-step and start again.
//!
//! `shop_worker <nats-url> <stream> <prefix>`; prints one line per step.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use cim_events::JetStreamEventStore;
use cim_events::jetstream::ProcessWorker;
use cim_events::process::ProcessManager;
use tests::shop::Fulfilment;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, stream, prefix] = args.as_slice() else {
        return Err("usage: shop_worker <nats-url> <stream> <prefix>".into());
    };
    let context = async_nats::jetstream::new(async_nats::connect(url.as_str()).await?);
    let store = JetStreamEventStore::builder(context.clone(), stream)
        .prefix(prefix.as_str())
        .build()
        .await?;
    let timers = tests::shop::timers(context, stream, prefix).await?;
    let manager = ProcessManager::<Fulfilment, _>::new(store).timers(Arc::new(timers));
    let worker = ProcessWorker::new(manager).ack_wait(Duration::from_secs(2));
    worker
        .run(|step| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "step {} recorded={} repeated={} sent={}",
                step.instance.as_deref().unwrap_or("-"),
                step.recorded.len(),
                step.repeated,
                step.sent.len()
            );
            let _ = out.flush();
        })
        .await?;
    Ok(())
}
