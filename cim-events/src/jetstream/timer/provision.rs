//! The timer stream: created when missing, refused when it cannot hold timers.
//!
//! Its own stream, not the event stream: message schedules make the server turn on
//! `allow_rollup` and turn off `deny_purge` (ADR-51: a schedule is a rollup-subject
//! message), which an event stream must never allow.

use std::time::Duration;

use async_nats::jetstream::{
    self,
    context::{CreateStreamErrorKind, GetStreamErrorKind},
    stream::{Config, DiscardPolicy, RetentionPolicy, StorageType, Stream},
};

use crate::error::{Error, Result};

use super::super::errors::{STREAM_NAME_IN_USE, STREAM_NOT_FOUND, backend};
use super::super::provision::covers;

/// What the builder asks for.
#[derive(Debug)]
pub(crate) struct Wanted<'a> {
    pub(crate) name: &'a str,
    /// `{base}.>` is the stream's subject space.
    pub(crate) base: &'a str,
    pub(crate) replicas: usize,
}

impl Wanted<'_> {
    /// A work queue (a fired timer is removed once acknowledged; schedules, which no
    /// consumer reads, stay until they fire), on file, accepting schedules. Discard `old`
    /// because the server refuses schedules with discard `new`; no limits, so it never
    /// discards anything.
    fn config(&self) -> Config {
        Config {
            name: self.name.to_owned(),
            description: Some("cim-events timers".to_owned()),
            subjects: vec![format!("{}.>", self.base)],
            storage: StorageType::File,
            retention: RetentionPolicy::WorkQueue,
            discard: DiscardPolicy::Old,
            num_replicas: self.replicas,
            duplicate_window: Duration::from_secs(120),
            allow_message_schedules: true,
            allow_rollup: true,
            deny_purge: false,
            max_messages: -1,
            max_bytes: -1,
            max_messages_per_subject: -1,
            ..Config::default()
        }
    }
}

/// Returns the timer stream, created if missing; an existing one must hold timers.
pub(crate) async fn provision(context: &jetstream::Context, wanted: &Wanted<'_>) -> Result<Stream> {
    for _ in 0..3 {
        match context.get_stream(wanted.name).await {
            Ok(stream) => {
                check_existing(&stream.cached_info().config, wanted)?;
                return Ok(stream);
            }
            Err(e) => match e.kind() {
                GetStreamErrorKind::JetStream(api) if api.error_code().0 == STREAM_NOT_FOUND => {}
                _ => return Err(backend("open timer stream", &e, true)),
            },
        }
        match context.create_stream(wanted.config()).await {
            Ok(stream) => return Ok(stream),
            Err(e) => match e.kind() {
                CreateStreamErrorKind::JetStream(api)
                    if api.error_code().0 == STREAM_NAME_IN_USE => {}
                CreateStreamErrorKind::JetStream(api) => {
                    return Err(Error::Config {
                        setting: "timer stream".into(),
                        problem: format!(
                            "`{}` with subjects `{}.>` cannot be created: {api}",
                            wanted.name, wanted.base
                        ),
                    });
                }
                CreateStreamErrorKind::TimedOut | CreateStreamErrorKind::JetStreamUnavailable => {
                    return Err(backend("create timer stream", &e, true));
                }
                _ => return Err(backend("create timer stream", &e, false)),
            },
        }
    }
    Err(backend(
        "open timer stream",
        "the stream kept changing while being opened",
        true,
    ))
}

/// Refuses an existing stream that would lose timers or not deliver them as documented,
/// naming the first such setting.
pub(crate) fn check_existing(config: &Config, wanted: &Wanted<'_>) -> Result<()> {
    let refuse = |setting: &str, problem: String| {
        Err(Error::Config {
            setting: setting.to_owned(),
            problem,
        })
    };
    let target = format!("{}.>", wanted.base);
    if !config.subjects.iter().any(|s| covers(s, &target)) {
        return refuse(
            "subjects",
            format!("{:?} do not cover `{target}`", config.subjects),
        );
    }
    if !config.allow_message_schedules {
        return refuse(
            "allow_msg_schedules",
            "is false; timers are message schedules".into(),
        );
    }
    if config.storage != StorageType::File {
        return refuse(
            "storage",
            "is memory; timers would not survive a restart".into(),
        );
    }
    if config.retention != RetentionPolicy::WorkQueue {
        return refuse(
            "retention",
            "is not `workqueue`; fired timers are removed when acknowledged".into(),
        );
    }
    if config.max_age > Duration::ZERO {
        return refuse(
            "max_age",
            "is set; the server would delete timers due later than that".into(),
        );
    }
    if config.max_messages > 0 || config.max_bytes > 0 {
        return refuse(
            "max_msgs/max_bytes",
            "is set; with discard `old` the server would drop the oldest timers".into(),
        );
    }
    if config.sealed || config.mirror.is_some() {
        return refuse("sealed/mirror", "the stream does not accept writes".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted() -> Wanted<'static> {
        Wanted {
            name: "EVENTS_TIMERS",
            base: "events_timers",
            replicas: 1,
        }
    }

    fn refused(config: &Config) -> Option<String> {
        match check_existing(config, &wanted()) {
            Ok(()) => None,
            Err(Error::Config { setting, .. }) => Some(setting),
            Err(other) => panic!("not a config error: {other:?}"),
        }
    }

    #[test]
    fn the_created_config_passes_and_unsafe_ones_are_named() {
        let base = wanted().config();
        assert_eq!(refused(&base), None);
        let cases = [
            (
                "allow_msg_schedules",
                Config {
                    allow_message_schedules: false,
                    ..base.clone()
                },
            ),
            (
                "retention",
                Config {
                    retention: RetentionPolicy::Limits,
                    ..base.clone()
                },
            ),
            (
                "storage",
                Config {
                    storage: StorageType::Memory,
                    ..base.clone()
                },
            ),
            (
                "max_age",
                Config {
                    max_age: Duration::from_secs(60),
                    ..base.clone()
                },
            ),
            (
                "subjects",
                Config {
                    subjects: vec!["other.>".into()],
                    ..base.clone()
                },
            ),
        ];
        for (setting, config) in cases {
            assert_eq!(refused(&config).as_deref(), Some(setting), "{config:?}");
        }
    }
}
