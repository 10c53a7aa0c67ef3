//! `JetStreamTimers` on a real nats-server: timers fire once with their payload after
//! their due time, cancel and reschedule, survive a server restart, come back when not
//! acknowledged, and are shared by the workers of one consumer. Timing assertions are
//! only "fired, and not before its due time": the machine is noisy.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use cim_events::Error;
use cim_events::jetstream::JetStreamTimers;
use cim_events::subject::TokenKind;
use cim_events::timer::{FiredTimer, FiredTimers, Timer, TimerError, Timers};
use futures::StreamExt;
use tests::nats::{NatsServer, connect, unique_names};

/// How long a test waits for a timer that should fire.
const PATIENCE: Duration = Duration::from_secs(20);

async fn timers_on(server: &NatsServer, ack_wait: Duration) -> JetStreamTimers {
    let (stream, prefix) = unique_names();
    JetStreamTimers::builder(connect(vec![server.addr()]).await, &stream)
        .prefix(prefix)
        .ack_wait(ack_wait)
        .build()
        .await
        .expect("provision the timer stream")
}

fn in_ms(ms: u64) -> SystemTime {
    SystemTime::now() + Duration::from_millis(ms)
}

async fn next(fired: &mut FiredTimers, within: Duration) -> Option<FiredTimer> {
    match tokio::time::timeout(within, fired.next()).await {
        Ok(Some(timer)) => Some(timer.expect("a fired timer")),
        Ok(None) => panic!("the fired-timer stream ended"),
        Err(_) => None,
    }
}

fn assert_not_early(timer: &FiredTimer) {
    assert!(
        timer.fired_at >= timer.due,
        "{}/{} fired at {:?}, before its due time {:?}",
        timer.owner,
        timer.name,
        timer.fired_at,
        timer.due
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_fires_once_with_its_payload_after_its_due_time() {
    let server = NatsServer::shared().await;
    let timers = timers_on(server, Duration::from_secs(30)).await;
    let due = in_ms(1500);
    let timer = Timer::new("saga-1", "timeout", due, "wake up").expect("timer");
    timers.schedule(&timer).await.expect("schedule");
    // Twice: one timer.
    timers.schedule(&timer).await.expect("schedule again");
    let mut fired = timers.fired("sagas").await.expect("consumer");
    let got = next(&mut fired, PATIENCE).await.expect("the timer fired");
    assert!(SystemTime::now() >= due);
    assert_not_early(&got);
    assert_eq!(
        (
            got.owner.as_str(),
            got.name.as_str(),
            got.due,
            got.payload.as_ref(),
            got.deliveries
        ),
        ("saga-1", "timeout", due, &b"wake up"[..], 1)
    );
    got.ack().await.expect("ack");
    assert!(
        next(&mut fired, Duration::from_secs(3)).await.is_none(),
        "fired once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_timer_does_not_fire_and_a_rescheduled_one_fires_at_its_new_time() {
    let server = NatsServer::shared().await;
    let timers = timers_on(server, Duration::from_secs(30)).await;
    let soon = in_ms(1000);
    for name in ["cancelled", "moved", "kept"] {
        let t = Timer::new("saga-1", name, soon, name).expect("timer");
        timers.schedule(&t).await.expect("schedule");
    }
    assert!(timers.cancel("saga-1", "cancelled").await.expect("cancel"));
    assert!(
        !timers
            .cancel("saga-1", "cancelled")
            .await
            .expect("cancel again")
    );
    let later = in_ms(3000);
    let moved = Timer::new("saga-1", "moved", later, "new").expect("timer");
    timers.schedule(&moved).await.expect("reschedule");

    let mut fired = timers.fired("sagas").await.expect("consumer");
    let mut got = Vec::new();
    while let Some(timer) = next(&mut fired, Duration::from_secs(6)).await {
        assert_not_early(&timer);
        got.push((timer.name.clone(), timer.due, timer.payload.clone()));
        timer.ack().await.expect("ack");
    }
    assert_eq!(
        got,
        vec![
            ("kept".to_owned(), soon, "kept".into()),
            ("moved".to_owned(), later, "new".into()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_scheduled_before_a_server_restart_fires_after_it() {
    let mut server = NatsServer::start().await;
    let (stream, prefix) = unique_names();
    let build = |context| {
        JetStreamTimers::builder(context, &stream)
            .prefix(prefix.clone())
            .build()
    };
    let timers = build(connect(vec![server.addr()]).await)
        .await
        .expect("timers");
    let due = in_ms(4000);
    let timer = Timer::new("saga-1", "survivor", due, "still here").expect("timer");
    timers.schedule(&timer).await.expect("schedule");
    drop(timers);
    server.restart().await;
    assert!(
        SystemTime::now() < due,
        "the restart took longer than the test allows"
    );

    // Every process restarted too: new connection, new handle.
    let timers = build(connect(vec![server.addr()]).await)
        .await
        .expect("reopen");
    let mut fired = timers.fired("sagas").await.expect("consumer");
    let got = next(&mut fired, PATIENCE)
        .await
        .expect("fired after the restart");
    assert_not_early(&got);
    assert_eq!(
        (got.name.as_str(), got.payload.as_ref()),
        ("survivor", &b"still here"[..])
    );
    got.ack().await.expect("ack");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unacknowledged_timer_is_redelivered_to_the_next_reader_of_the_consumer() {
    let server = NatsServer::shared().await;
    let timers = timers_on(server, Duration::from_secs(2)).await;
    let timer = Timer::new("saga-1", "crash", in_ms(500), "").expect("timer");
    timers.schedule(&timer).await.expect("schedule");
    {
        // A worker that takes the timer and crashes before acknowledging it.
        let mut worker = timers.fired("sagas").await.expect("consumer");
        let taken = next(&mut worker, PATIENCE).await.expect("fired");
        assert_eq!((taken.name.as_str(), taken.deliveries), ("crash", 1));
    }
    let mut next_worker = timers.fired("sagas").await.expect("same consumer");
    let again = next(&mut next_worker, PATIENCE).await.expect("redelivered");
    assert_eq!((again.name.as_str(), again.deliveries), ("crash", 2));
    again.ack().await.expect("ack");
    assert!(
        next(&mut next_worker, Duration::from_secs(4))
            .await
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_of_one_consumer_get_disjoint_timers_whose_union_is_all() {
    let server = NatsServer::shared().await;
    let timers = timers_on(server, Duration::from_secs(30)).await;
    let all: BTreeSet<String> = (0..20).map(|i| format!("t{i:02}")).collect();
    for (i, name) in all.iter().enumerate() {
        let due = in_ms(1000 + 50 * i as u64);
        let t = Timer::new("saga-1", name.clone(), due, "").expect("timer");
        timers.schedule(&t).await.expect("schedule");
    }
    let worker = |timers: JetStreamTimers| async move {
        let mut fired = timers.fired("sagas").await.expect("consumer");
        let mut got = BTreeSet::new();
        while let Some(timer) = next(&mut fired, Duration::from_secs(5)).await {
            assert_not_early(&timer);
            assert!(got.insert(timer.name.clone()), "{} twice", timer.name);
            timer.ack().await.expect("ack");
        }
        got
    };
    let (one, two) = tokio::join!(
        tokio::spawn(worker(timers.clone())),
        tokio::spawn(worker(timers.clone()))
    );
    let (one, two) = (one.expect("worker one"), two.expect("worker two"));
    assert!(one.is_disjoint(&two), "{one:?} {two:?}");
    let union: BTreeSet<String> = one.union(&two).cloned().collect();
    assert_eq!(union, all);

    match timers.fired("others").await {
        Err(Error::Timer(e)) => assert!(matches!(*e, TimerError::ConsumerInUse { .. }), "{e:?}"),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("a second consumer name was accepted"),
    }
    assert!(timers.delete_consumer("sagas").await.expect("delete"));
    assert!(!timers.delete_consumer("sagas").await.expect("delete again"));
    let _others = timers
        .fired("others")
        .await
        .expect("another name, once the first is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_owners_and_names_are_typed_errors() {
    let server = NatsServer::shared().await;
    let timers = timers_on(server, Duration::from_secs(30)).await;
    let kind = |result: Result<(), Error>| match result {
        Err(Error::InvalidToken(e)) => e.kind,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        kind(Timer::new("a.b", "t", in_ms(0), "").map(drop)),
        TokenKind::TimerOwner
    );
    assert_eq!(
        kind(Timer::new("a", "*", in_ms(0), "").map(drop)),
        TokenKind::TimerName
    );
    assert_eq!(
        kind(timers.cancel("a>", "t").await.map(drop)),
        TokenKind::TimerOwner
    );
    assert_eq!(
        kind(timers.fired("a.b").await.map(drop)),
        TokenKind::TimerConsumer
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_timer_that_is_rescheduled_or_cancelled_is_not_redelivered_and_its_ack_is_harmless()
{
    let server = NatsServer::shared().await;
    let timers = timers_on(server, Duration::from_secs(2)).await;
    let mut fired = timers.fired("sagas").await.expect("consumer");
    for name in ["replaced", "cancelled"] {
        let t = Timer::new("saga-1", name, in_ms(0), "old").expect("timer");
        timers.schedule(&t).await.expect("schedule");
    }
    let mut held = Vec::new();
    while held.len() < 2 {
        held.push(next(&mut fired, PATIENCE).await.expect("fired"));
    }
    // While a worker holds both: one is scheduled anew, the other cancelled.
    let again = Timer::new("saga-1", "replaced", in_ms(500), "new").expect("timer");
    timers.schedule(&again).await.expect("reschedule");
    assert!(timers.cancel("saga-1", "cancelled").await.expect("cancel"));
    for timer in held {
        tokio::time::timeout(Duration::from_secs(10), timer.ack())
            .await
            .expect("the ack of a removed timer returns")
            .expect("and succeeds");
    }
    let new = next(&mut fired, PATIENCE).await.expect("the new one fires");
    assert_eq!(
        (new.name.as_str(), new.payload.as_ref()),
        ("replaced", &b"new"[..])
    );
    new.ack().await.expect("ack");
    assert!(
        next(&mut fired, Duration::from_secs(4)).await.is_none(),
        "neither old delivery comes back after the ack wait"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_reading_across_a_server_restart_gets_the_timers_that_fire_after_it() {
    let mut server = NatsServer::start().await;
    let timers = timers_on(&server, Duration::from_secs(30)).await;
    let mut fired = timers.fired("sagas").await.expect("consumer");
    let timer = Timer::new("saga-1", "after", in_ms(3000), "").expect("timer");
    timers.schedule(&timer).await.expect("schedule");
    server.restart().await;
    // Pull errors while the server was gone are reported as transient, and reading goes on.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let got = loop {
        match tokio::time::timeout_at(deadline, fired.next()).await {
            Ok(Some(Ok(timer))) => break timer,
            Ok(Some(Err(e))) => assert!(e.is_transient(), "{e:?}"),
            Ok(None) => panic!("the fired-timer stream ended"),
            Err(_) => panic!("the timer did not arrive after the restart"),
        }
    };
    assert_not_early(&got);
    assert_eq!(got.name, "after");
    got.ack().await.expect("ack");
}

/// The permissions listed in the `JetStreamTimers` docs, enforced by a real server: the
/// administrator creates the timer stream, a scheduler schedules and cancels, a worker
/// reads and acknowledges, and the server logs no violation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_permissions_are_enough() {
    const CONFIG: &str = r#"
no_auth_user: admin
authorization {
  users: [
    { user: admin, password: admin-secret }
    {
      user: scheduler, password: scheduler-secret
      permissions: {
        publish: { allow: [
          "$JS.API.INFO", "$JS.API.STREAM.INFO.ORDERS_TIMERS",
          "$JS.API.STREAM.PURGE.ORDERS_TIMERS", "orders_timers.schedule.>",
        ] }
        subscribe: { allow: ["_INBOX.>"] }
      }
    }
    {
      user: worker, password: worker-secret
      permissions: {
        publish: { allow: [
          "$JS.API.INFO", "$JS.API.STREAM.INFO.ORDERS_TIMERS",
          "$JS.API.CONSUMER.CREATE.ORDERS_TIMERS.sagas.>",
          "$JS.API.CONSUMER.MSG.NEXT.ORDERS_TIMERS.sagas", "$JS.ACK.ORDERS_TIMERS.sagas.>",
        ] }
        subscribe: { allow: ["_INBOX.>"] }
      }
    }
  ]
}
"#;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("server.conf");
    std::fs::write(&config, CONFIG).expect("write the config");
    let server = NatsServer::start_with(&["-c", config.to_str().expect("utf-8 path")]).await;
    let open = |user: &'static str| {
        let url = server.url();
        async move {
            let client = cim_events::jetstream::async_nats::ConnectOptions::with_user_and_password(
                user.into(),
                format!("{user}-secret"),
            )
            .connect(url)
            .await
            .expect("connect");
            JetStreamTimers::builder(
                cim_events::jetstream::async_nats::jetstream::new(client),
                "ORDERS",
            )
            .prefix("orders")
            .build()
            .await
            .unwrap_or_else(|e| panic!("{user} opens the timers: {e}"))
        }
    };
    open("admin").await;
    let scheduler = open("scheduler").await;
    let worker = open("worker").await;
    for name in ["kept", "cancelled"] {
        let t = Timer::new("saga-1", name, in_ms(500), "").expect("timer");
        scheduler.schedule(&t).await.expect("schedule");
    }
    assert!(
        scheduler
            .cancel("saga-1", "cancelled")
            .await
            .expect("cancel")
    );
    let mut fired = worker.fired("sagas").await.expect("consumer");
    let kept = next(&mut fired, PATIENCE).await.expect("fired");
    assert_eq!(kept.name, "kept");
    kept.ack().await.expect("ack");
    let violations: Vec<String> = server
        .log()
        .lines()
        .filter(|l| l.contains("Violation"))
        .map(str::to_owned)
        .collect();
    assert!(violations.is_empty(), "{violations:#?}");
}
