//! A `tracing` subscriber that keeps every span with its fields, and a `metrics` recorder
//! that keeps every counter, gauge and histogram, for tests that assert what the store
//! reports. Both collect for the current thread only (the tests run on current-thread
//! runtimes), so tests running in parallel do not see each other's.
//!
//! Spans go through one global subscriber, installed before any span is created, that
//! hands them to the current thread's collector: with thread-local `tracing` defaults
//! alone, a callsite first hit on a thread without one can stay disabled for the others.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;

// ---------------------------------------------------------------------------------------
// Spans
// ---------------------------------------------------------------------------------------

/// A span as the collector saw it: its name and the last value of each field.
#[derive(Debug, Clone)]
pub struct SpanRecord {
    pub name: &'static str,
    pub fields: BTreeMap<String, String>,
    metadata: &'static tracing::Metadata<'static>,
}

impl SpanRecord {
    /// The field's value as recorded (strings unquoted), if it was recorded.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

#[derive(Default)]
struct SpanState {
    spans: Vec<SpanRecord>,
    /// The spans entered and not yet exited, innermost last (one thread: one stack).
    stack: Vec<Id>,
}

/// Collects every span; cloning shares the collection.
#[derive(Clone, Default)]
pub struct Spans(Arc<Mutex<SpanState>>);

impl Spans {
    /// Every span named `name`, in creation order.
    pub fn named(&self, name: &str) -> Vec<SpanRecord> {
        self.lock()
            .spans
            .iter()
            .filter(|s| s.name == name)
            .cloned()
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SpanState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl tracing::Subscriber for Spans {
    fn register_callsite(&self, _: &'static tracing::Metadata<'static>) -> Interest {
        Interest::always()
    }
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let mut state = self.lock();
        state.spans.push(SpanRecord {
            name: attrs.metadata().name(),
            fields,
            metadata: attrs.metadata(),
        });
        Id::from_u64(state.spans.len() as u64)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut state = self.lock();
        if let Some(record) = usize::try_from(span.into_u64() - 1)
            .ok()
            .and_then(|i| state.spans.get_mut(i))
        {
            values.record(&mut Fields(&mut record.fields));
        }
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, span: &Id) {
        self.lock().stack.push(span.clone());
    }
    fn exit(&self, span: &Id) {
        let mut state = self.lock();
        if let Some(at) = state.stack.iter().rposition(|s| s == span) {
            state.stack.remove(at);
        }
    }
    fn current_span(&self) -> tracing_core::span::Current {
        let state = self.lock();
        let current = state.stack.last().and_then(|id| {
            let index = usize::try_from(id.into_u64() - 1).ok()?;
            Some((id.clone(), state.spans.get(index)?.metadata))
        });
        match current {
            Some((id, metadata)) => tracing_core::span::Current::new(id, metadata),
            None => tracing_core::span::Current::none(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------

/// A histogram's recorded values.
#[derive(Default)]
struct Values(Mutex<Vec<f64>>);

impl HistogramFn for Values {
    fn record(&self, value: f64) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(value);
    }
}

#[derive(Default)]
struct MetricState {
    counters: BTreeMap<String, Arc<AtomicU64>>,
    gauges: BTreeMap<String, Arc<AtomicU64>>,
    histograms: BTreeMap<String, Arc<Values>>,
}

/// Keeps every metric, keyed `name{label=value,…}` with labels sorted.
#[derive(Clone, Default)]
pub struct Metrics(Arc<Mutex<MetricState>>);

/// `name{a=1,b=2}`, labels sorted; `name` alone without labels.
pub fn key(name: &str, labels: &[(&str, &str)]) -> String {
    let mut labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    labels.sort();
    if labels.is_empty() {
        name.to_owned()
    } else {
        format!("{name}{{{}}}", labels.join(","))
    }
}

fn key_of(key: &Key) -> String {
    let labels: Vec<(&str, &str)> = key.labels().map(|l| (l.key(), l.value())).collect();
    self::key(key.name(), &labels)
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, MetricState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A counter's value, 0 if never touched.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.lock()
            .counters
            .get(&key(name, labels))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// A gauge's value, if it was set.
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.lock()
            .gauges
            .get(&key(name, labels))
            .map(|g| f64::from_bits(g.load(Ordering::Relaxed)))
    }

    /// A histogram's values, in recording order.
    pub fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        self.lock()
            .histograms
            .get(&key(name, labels))
            .map(|h| h.0.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .unwrap_or_default()
    }
}

impl Recorder for Metrics {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut state = self.lock();
        Counter::from_arc(Arc::clone(state.counters.entry(key_of(key)).or_default()))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let mut state = self.lock();
        Gauge::from_arc(Arc::clone(state.gauges.entry(key_of(key)).or_default()))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let mut state = self.lock();
        Histogram::from_arc(Arc::clone(state.histograms.entry(key_of(key)).or_default()))
    }
}

// ---------------------------------------------------------------------------------------
// Installing
// ---------------------------------------------------------------------------------------

thread_local! {
    /// The current thread's span collector.
    static COLLECTOR: RefCell<Option<Spans>> = const { RefCell::new(None) };
}

/// The global subscriber: every span of a thread with a collector goes to it.
struct Router;

fn with_collector<T>(f: impl FnOnce(&Spans) -> T) -> Option<T> {
    COLLECTOR.with(|c| c.borrow().as_ref().map(f))
}

impl tracing::Subscriber for Router {
    fn register_callsite(&self, _: &'static tracing::Metadata<'static>) -> Interest {
        Interest::sometimes()
    }
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        with_collector(|_| ()).is_some()
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        with_collector(|c| c.new_span(attrs)).unwrap_or_else(|| Id::from_u64(u64::MAX))
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        with_collector(|c| c.record(span, values));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, span: &Id) {
        with_collector(|c| c.enter(span));
    }
    fn exit(&self, span: &Id) {
        with_collector(|c| c.exit(span));
    }
    fn current_span(&self) -> tracing_core::span::Current {
        with_collector(|c| c.current_span()).unwrap_or_else(tracing_core::span::Current::none)
    }
}

/// Both collectors, collecting on the current thread until dropped.
pub struct Observed {
    pub spans: Spans,
    pub metrics: Metrics,
    _metrics: metrics::LocalRecorderGuard<'static>,
}

impl Drop for Observed {
    fn drop(&mut self) {
        COLLECTOR.with(|c| c.borrow_mut().take());
    }
}

/// Installs fresh collectors on the current thread. Call it first in every test that
/// creates spans.
pub fn observe() -> Observed {
    static GLOBAL: Once = Once::new();
    GLOBAL.call_once(|| {
        tracing::subscriber::set_global_default(Router).expect("the only global subscriber");
    });
    let spans = Spans::default();
    COLLECTOR.with(|c| *c.borrow_mut() = Some(spans.clone()));
    let metrics = Metrics::default();
    // The recorder must outlive the guard that points at it: leak one small value per test.
    let recorder: &'static Metrics = Box::leak(Box::new(metrics.clone()));
    Observed {
        _metrics: metrics::set_default_local_recorder(recorder),
        spans,
        metrics,
    }
}
