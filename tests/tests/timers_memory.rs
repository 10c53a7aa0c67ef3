//! `MemoryTimers` on a `VirtualClock`: timers fire when the clock passes their due time, in
//! due order; cancel and reschedule keep the rules the JetStream timers keep.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cim_events::Error;
use cim_events::subject::TokenKind;
use cim_events::timer::{
    FiredTimer, FiredTimers, MemoryTimers, Timer, TimerError, Timers, VirtualClock,
};
use futures::{FutureExt, StreamExt};

fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn timer(owner: &str, name: &str, due: SystemTime, payload: &'static str) -> Timer {
    Timer::new(owner, name, due, payload).expect("a valid timer")
}

/// The fired timer that is ready now, if any (memory timers fire synchronously with
/// `advance`, so nothing is left to wait for).
fn ready(fired: &mut FiredTimers) -> Option<FiredTimer> {
    fired
        .next()
        .now_or_never()
        .flatten()
        .map(|t| t.expect("a fired timer"))
}

#[tokio::test]
async fn timers_fire_when_the_clock_passes_their_due_time_in_due_order() {
    let clock = VirtualClock::new(start());
    let timers = MemoryTimers::new(&clock);
    // Scheduled out of order; two due at the same instant fire in scheduling order.
    timers
        .schedule(&timer("saga-1", "c", start() + secs(30), "c"))
        .await
        .expect("c");
    timers
        .schedule(&timer("saga-1", "a", start() + secs(10), "a"))
        .await
        .expect("a");
    timers
        .schedule(&timer("saga-2", "b2", start() + secs(20), "b2"))
        .await
        .expect("b2");
    timers
        .schedule(&timer("saga-1", "b1", start() + secs(20), "b1"))
        .await
        .expect("b1");
    let mut fired = timers.fired("sagas").await.expect("consumer");

    clock.advance(secs(10) - Duration::from_nanos(1));
    assert!(ready(&mut fired).is_none(), "nothing is due yet");
    clock.advance(Duration::from_nanos(1));
    let a = ready(&mut fired).expect("a fires at its due time");
    assert_eq!((a.owner.as_str(), a.name.as_str()), ("saga-1", "a"));
    assert_eq!(
        (a.due, a.fired_at, a.deliveries),
        (start() + secs(10), start() + secs(10), 1)
    );
    assert_eq!(a.payload.as_ref(), b"a");
    a.ack().await.expect("ack");
    assert!(ready(&mut fired).is_none());

    // One advance past several due times fires them all, in order, each at its due time.
    clock.advance(secs(60));
    let rest: Vec<(String, SystemTime)> = std::iter::from_fn(|| ready(&mut fired))
        .map(|t| (t.name.clone(), t.fired_at))
        .collect();
    assert_eq!(
        rest,
        vec![
            ("b2".to_owned(), start() + secs(20)),
            ("b1".to_owned(), start() + secs(20)),
            ("c".to_owned(), start() + secs(30)),
        ]
    );
    assert_eq!(clock.now(), start() + secs(70));
    assert_eq!(timers.pending(), 0);
}

#[tokio::test]
async fn a_cancelled_timer_does_not_fire() {
    let clock = VirtualClock::new(start());
    let timers = MemoryTimers::new(&clock);
    timers
        .schedule(&timer("saga-1", "keep", start() + secs(5), ""))
        .await
        .expect("keep");
    timers
        .schedule(&timer("saga-1", "drop", start() + secs(5), ""))
        .await
        .expect("drop");
    assert!(timers.cancel("saga-1", "drop").await.expect("cancel"));
    assert!(
        !timers.cancel("saga-1", "drop").await.expect("cancel again"),
        "nothing left"
    );
    let mut fired = timers.fired("sagas").await.expect("consumer");
    clock.advance(secs(3600));
    assert_eq!(ready(&mut fired).map(|t| t.name), Some("keep".to_owned()));
    assert!(ready(&mut fired).is_none());
}

#[tokio::test]
async fn scheduling_twice_fires_once_and_a_new_due_time_replaces_the_old() {
    let clock = VirtualClock::new(start());
    let timers = MemoryTimers::new(&clock);
    let twice = timer("saga-1", "twice", start() + secs(5), "x");
    timers.schedule(&twice).await.expect("first");
    timers.schedule(&twice).await.expect("second");
    timers
        .schedule(&timer("saga-1", "moved", start() + secs(5), "old"))
        .await
        .expect("old");
    timers
        .schedule(&timer("saga-1", "moved", start() + secs(50), "new"))
        .await
        .expect("new");
    assert_eq!(timers.pending(), 2);
    let mut fired = timers.fired("sagas").await.expect("consumer");
    clock.advance(secs(10));
    let twice = ready(&mut fired).expect("twice fires once");
    assert_eq!(twice.name, "twice");
    twice.ack().await.expect("ack");
    assert!(ready(&mut fired).is_none(), "`moved` is now due later");
    clock.advance(secs(40));
    let moved = ready(&mut fired).expect("moved fires at its new time");
    assert_eq!(
        (moved.payload.as_ref(), moved.due),
        (&b"new"[..], start() + secs(50))
    );
    assert!(ready(&mut fired).is_none());
}

#[tokio::test]
async fn a_due_time_in_the_past_fires_at_once() {
    let clock = VirtualClock::new(start());
    let timers = MemoryTimers::new(&clock);
    timers
        .schedule(&timer("saga-1", "late", start() - secs(60), ""))
        .await
        .expect("late");
    let mut fired = timers.fired("sagas").await.expect("consumer");
    let late = ready(&mut fired).expect("fired when scheduled");
    assert_eq!((late.due, late.fired_at), (start() - secs(60), start()));
}

#[tokio::test]
async fn an_unacknowledged_timer_comes_back_after_the_ack_wait_and_an_acknowledged_one_does_not() {
    let clock = VirtualClock::new(start());
    let timers = MemoryTimers::with_ack_wait(&clock, secs(30));
    timers
        .schedule(&timer("saga-1", "lost", start() + secs(1), ""))
        .await
        .expect("lost");
    timers
        .schedule(&timer("saga-1", "done", start() + secs(1), ""))
        .await
        .expect("done");
    clock.advance(secs(1));
    {
        // A worker that takes both, acknowledges one and crashes.
        let mut worker = timers.fired("sagas").await.expect("consumer");
        let lost = ready(&mut worker).expect("lost");
        let done = ready(&mut worker).expect("done");
        assert_eq!((lost.name.as_str(), done.name.as_str()), ("lost", "done"));
        done.ack().await.expect("ack");
        drop(lost);
    }
    let mut next = timers.fired("sagas").await.expect("same consumer again");
    clock.advance(secs(29));
    assert!(ready(&mut next).is_none(), "within the ack wait");
    clock.advance(secs(1));
    let again = ready(&mut next).expect("redelivered");
    assert_eq!((again.name.as_str(), again.deliveries), ("lost", 2));
    again.ack().await.expect("ack");
    clock.advance(secs(3600));
    assert!(ready(&mut next).is_none());
}

#[tokio::test]
async fn two_readers_of_one_consumer_share_the_timers_and_another_name_is_refused() {
    let clock = VirtualClock::new(start());
    let timers = MemoryTimers::new(&clock);
    for i in 0..6 {
        let t = timer("saga-1", &format!("t{i}"), start() + secs(i + 1), "");
        timers.schedule(&t).await.expect("schedule");
    }
    let mut one = timers.fired("sagas").await.expect("one");
    let mut two = timers.fired("sagas").await.expect("two");
    clock.advance(secs(10));
    let mut names = Vec::new();
    for i in 0..6 {
        let reader = if i % 2 == 0 { &mut one } else { &mut two };
        let t = ready(reader).unwrap_or_else(|| panic!("timer {i}"));
        names.push(t.name.clone());
        t.ack().await.expect("ack");
    }
    names.sort();
    assert_eq!(names, ["t0", "t1", "t2", "t3", "t4", "t5"]);
    assert!(ready(&mut one).is_none() && ready(&mut two).is_none());
    match timers.fired("others").await {
        Err(Error::Timer(e)) => assert!(
            matches!(&*e, TimerError::ConsumerInUse { existing, .. } if existing == "sagas"),
            "{e:?}"
        ),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("a second consumer name was accepted"),
    }
}

#[tokio::test]
async fn invalid_owners_names_and_consumers_are_typed_errors() {
    let clock = VirtualClock::new(start());
    let timers = MemoryTimers::new(&clock);
    let kind = |result: Result<(), Error>| match result {
        Err(Error::InvalidToken(e)) => e.kind,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        kind(Timer::new("a.b", "t", start(), "").map(drop)),
        TokenKind::TimerOwner
    );
    assert_eq!(
        kind(Timer::new("a", "t>", start(), "").map(drop)),
        TokenKind::TimerName
    );
    assert_eq!(
        kind(timers.cancel("a", "").await.map(drop)),
        TokenKind::TimerName
    );
    assert_eq!(
        kind(timers.fired("a b").await.map(drop)),
        TokenKind::TimerConsumer
    );
}

#[tokio::test]
async fn a_held_timer_that_is_rescheduled_or_cancelled_is_not_redelivered_and_its_ack_is_harmless()
{
    let clock = VirtualClock::new(start());
    let timers = MemoryTimers::with_ack_wait(&clock, secs(30));
    let mut fired = timers.fired("sagas").await.expect("consumer");
    for name in ["replaced", "cancelled"] {
        timers
            .schedule(&timer("saga-1", name, start(), "old"))
            .await
            .expect("schedule");
    }
    let held = [
        ready(&mut fired).expect("one"),
        ready(&mut fired).expect("two"),
    ];
    timers
        .schedule(&timer("saga-1", "replaced", start() + secs(5), "new"))
        .await
        .expect("again");
    assert!(timers.cancel("saga-1", "cancelled").await.expect("cancel"));
    for timer in held {
        timer.ack().await.expect("a removed timer's ack succeeds");
    }
    clock.advance(secs(5));
    let new = ready(&mut fired).expect("the new one fires");
    assert_eq!(new.payload.as_ref(), b"new");
    new.ack().await.expect("ack");
    clock.advance(secs(3600));
    assert!(
        ready(&mut fired).is_none(),
        "neither old delivery comes back"
    );
}
