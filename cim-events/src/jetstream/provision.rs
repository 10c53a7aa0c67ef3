//! The stream: what the store needs from it and from the server, creating it when it is
//! missing and refusing one that cannot keep an event store's guarantees.

use std::time::Duration;

use async_nats::jetstream::{
    self,
    context::{CreateStreamErrorKind, GetStreamErrorKind},
    stream::{Config, DiscardPolicy, RetentionPolicy, StorageType, Stream},
};

use crate::error::{Error, Result};

use super::errors::{STREAM_NAME_IN_USE, STREAM_NOT_FOUND, backend};

/// The oldest nats-server this store runs on: 2.11 brought
/// `Nats-Expected-Last-Subject-Sequence-Subject` and batch Direct Get, 2.12 atomic batch
/// publish (`allow_atomic`). Older servers ignore those headers and settings silently,
/// which would break the chain guarantees, so they are refused.
pub const MIN_SERVER_VERSION: &str = "2.12.0";

/// Server error code: the subjects overlap with another stream.
const SUBJECT_OVERLAP: u64 = 10065;

/// What the builder asks for.
#[derive(Debug)]
pub(crate) struct Wanted<'a> {
    pub(crate) name: &'a str,
    pub(crate) prefix: &'a str,
    pub(crate) replicas: usize,
    pub(crate) duplicate_window: Duration,
}

impl Wanted<'_> {
    /// The stream configuration the store creates (DESIGN §4).
    fn config(&self) -> Config {
        Config {
            name: self.name.to_owned(),
            description: Some("cim-events event store".to_owned()),
            subjects: vec![format!("{}.>", self.prefix)],
            storage: StorageType::File,
            retention: RetentionPolicy::Limits,
            discard: DiscardPolicy::New,
            num_replicas: self.replicas,
            duplicate_window: self.duplicate_window,
            deny_delete: true,
            deny_purge: true,
            allow_rollup: false,
            allow_direct: true,
            allow_atomic_publish: true,
            max_messages: -1,
            max_bytes: -1,
            max_messages_per_subject: -1,
            ..Config::default()
        }
    }
}

/// Refuses servers older than [`MIN_SERVER_VERSION`].
pub(crate) fn check_server_version(version: &str) -> Result<()> {
    let parsed = parse_version(version);
    let minimum = parse_version(MIN_SERVER_VERSION);
    match parsed {
        Some(v) if v >= minimum.unwrap_or_default() => Ok(()),
        _ => Err(Error::Config {
            setting: "server version".into(),
            problem: format!(
                "is {version}; the store needs nats-server {MIN_SERVER_VERSION} or later \
                 (atomic batch publish, expected last subject sequence per subject filter, \
                 batch direct get)"
            ),
        }),
    }
}

fn parse_version(version: &str) -> Option<(u64, u64, u64)> {
    let core = version.trim_start_matches('v').split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

/// Stream names may not hold subject separators, wildcards or whitespace.
pub(crate) fn check_stream_name(name: &str) -> Result<()> {
    let bad = name
        .chars()
        .find(|c| matches!(c, '.' | '*' | '>' | '/' | '\\') || c.is_whitespace() || c.is_control());
    if name.is_empty() || bad.is_some() {
        return Err(Error::Config {
            setting: "stream name".into(),
            problem: format!("`{}` is not a valid stream name", name.escape_debug()),
        });
    }
    Ok(())
}

/// Returns the stream, created if missing; an existing one must be safe.
pub(crate) async fn provision(context: &jetstream::Context, wanted: &Wanted<'_>) -> Result<Stream> {
    for _ in 0..3 {
        match context.get_stream(wanted.name).await {
            Ok(stream) => {
                check_existing(&stream.cached_info().config, wanted)?;
                return Ok(stream);
            }
            Err(e) => match e.kind() {
                GetStreamErrorKind::JetStream(api) if api.error_code().0 == STREAM_NOT_FOUND => {}
                _ => return Err(backend("open stream", &e, true)),
            },
        }
        match context.create_stream(wanted.config()).await {
            Ok(stream) => return Ok(stream),
            Err(e) => match e.kind() {
                CreateStreamErrorKind::JetStream(api) if api.error_code().0 == SUBJECT_OVERLAP => {
                    return Err(Error::Config {
                        setting: "subjects".into(),
                        problem: format!(
                            "`{}.>` overlaps the subjects of another stream; use another prefix",
                            wanted.prefix
                        ),
                    });
                }
                // Someone else created it meanwhile: check theirs.
                CreateStreamErrorKind::JetStream(api)
                    if api.error_code().0 == STREAM_NAME_IN_USE => {}
                CreateStreamErrorKind::TimedOut | CreateStreamErrorKind::JetStreamUnavailable => {
                    return Err(backend("create stream", &e, true));
                }
                _ => return Err(backend("create stream", &e, false)),
            },
        }
    }
    Err(backend(
        "open stream",
        "the stream kept changing while being opened",
        true,
    ))
}

/// Refuses an existing stream whose settings break the store's guarantees, naming the
/// first unsafe setting.
pub(crate) fn check_existing(config: &Config, wanted: &Wanted<'_>) -> Result<()> {
    let unsafe_setting = |setting: &str, problem: &str| {
        Err(Error::Config {
            setting: setting.to_owned(),
            problem: problem.to_owned(),
        })
    };
    let target = format!("{}.>", wanted.prefix);
    if !config.subjects.iter().any(|s| covers(s, &target)) {
        return unsafe_setting(
            "subjects",
            &format!("{:?} do not cover `{target}`", config.subjects),
        );
    }
    if config.storage != StorageType::File {
        return unsafe_setting("storage", "is memory; events would not survive a restart");
    }
    if config.retention != RetentionPolicy::Limits {
        return unsafe_setting(
            "retention",
            "removes messages once consumed; an event store keeps every event",
        );
    }
    if config.allow_rollup {
        return unsafe_setting("allow_rollup", "is true; a rollup would erase chains");
    }
    if !config.deny_delete {
        return unsafe_setting(
            "deny_delete",
            "is false; events could be deleted from a chain",
        );
    }
    if !config.deny_purge {
        return unsafe_setting("deny_purge", "is false; chains could be purged");
    }
    if !config.allow_direct {
        return unsafe_setting("allow_direct", "is false; the store reads with Direct Get");
    }
    if !config.allow_atomic_publish {
        return unsafe_setting(
            "allow_atomic",
            "is false; multi-event appends need atomic batch publish",
        );
    }
    if config.sealed || config.mirror.is_some() {
        return unsafe_setting("sealed/mirror", "the stream does not accept writes");
    }
    if config.no_ack {
        return unsafe_setting("no_ack", "is true; appends need acknowledgements");
    }
    if config.duplicate_window.is_zero() {
        return unsafe_setting(
            "duplicate_window",
            "is zero; a retry after a timeout could store an event twice",
        );
    }
    check_no_server_removal(config)
}

/// Refuses every setting under which the server itself deletes, replaces or adds messages
/// on the store's subjects: expiry, limits that discard old messages, a per-subject limit
/// that is not enforced by refusing the write, subject transforms and sources. Limits that
/// only refuse new writes (`discard: new`, with `discard_new_per_subject` for a per-subject
/// limit) are allowed; a write they refuse fails with
/// [`Error::LimitReached`](crate::Error::LimitReached).
fn check_no_server_removal(config: &Config) -> Result<()> {
    let refuse = |setting: &str, problem: &str| {
        Err(Error::Config {
            setting: setting.to_owned(),
            problem: problem.to_owned(),
        })
    };
    if config.max_age > Duration::ZERO {
        return refuse("max_age", "is set; the server would expire old events");
    }
    if config
        .subject_delete_marker_ttl
        .is_some_and(|ttl| !ttl.is_zero())
    {
        return refuse(
            "subject_delete_marker_ttl",
            "is set; the server would write delete markers onto aggregate subjects",
        );
    }
    if config.max_messages_per_subject > 0 {
        if config.discard == DiscardPolicy::Old {
            return refuse(
                "max_msgs_per_subject",
                "is set with discard `old`; every append would delete its subject's oldest events",
            );
        }
        if !config.discard_new_per_subject {
            return refuse(
                "max_msgs_per_subject",
                "is set with discard `new` but without `discard_new_per_subject`; the server \
                 would still delete each subject's oldest events instead of refusing the append",
            );
        }
    }
    if (config.max_messages > 0 || config.max_bytes > 0) && config.discard == DiscardPolicy::Old {
        return refuse(
            "discard",
            "is `old` with max_msgs or max_bytes set; the server would drop old events from chains",
        );
    }
    if config.subject_transform.is_some() {
        return refuse(
            "subject_transform",
            "is set; events would be stored under other subjects than they were appended to",
        );
    }
    if config
        .sources
        .as_ref()
        .is_some_and(|sources| !sources.is_empty())
    {
        return refuse(
            "sources",
            "are set; messages copied from other streams would land on aggregate subjects \
             without the chain check",
        );
    }
    Ok(())
}

/// Whether every subject matching `target` (ending in `>`) matches stream subject `subject`.
pub(crate) fn covers(subject: &str, target: &str) -> bool {
    let mut wanted = target.split('.');
    for token in subject.split('.') {
        match (token, wanted.next()) {
            (">", Some(_)) => return true,
            (_, None | Some(">")) => return false,
            ("*", Some(_)) => {}
            (t, Some(w)) if t == w => {}
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(check_server_version("2.15.1").is_ok());
        assert!(check_server_version("2.12.0").is_ok());
        assert!(check_server_version("v2.13.0-beta.1").is_ok());
        let old = check_server_version("2.11.9").unwrap_err();
        assert!(matches!(old, Error::Config { ref setting, .. } if setting == "server version"));
        assert!(check_server_version("garbage").is_err());
    }

    #[test]
    fn coverage() {
        assert!(covers("events.>", "events.>"));
        assert!(covers(">", "events.>"));
        assert!(covers("*.>", "tenant.events.>"));
        assert!(covers("tenant.>", "tenant.events.>"));
        assert!(!covers("events.*", "events.>"));
        assert!(!covers("events.a.>", "events.>"));
        assert!(!covers("other.>", "events.>"));
    }

    #[test]
    fn the_created_config_passes_the_check() {
        let wanted = Wanted {
            name: "S",
            prefix: "events",
            replicas: 1,
            duplicate_window: Duration::from_secs(60),
        };
        assert!(check_existing(&wanted.config(), &wanted).is_ok());
        let rollup = Config {
            allow_rollup: true,
            ..wanted.config()
        };
        let err = check_existing(&rollup, &wanted).unwrap_err();
        assert!(matches!(err, Error::Config { ref setting, .. } if setting == "allow_rollup"));
        let old = Config {
            max_messages: 10,
            discard: DiscardPolicy::Old,
            ..wanted.config()
        };
        let err = check_existing(&old, &wanted).unwrap_err();
        assert!(matches!(err, Error::Config { ref setting, .. } if setting == "discard"));
    }

    fn named(config: &Config) -> Option<String> {
        let wanted = Wanted {
            name: "S",
            prefix: "events",
            replicas: 1,
            duplicate_window: Duration::from_secs(60),
        };
        match check_existing(config, &wanted) {
            Ok(()) => None,
            Err(Error::Config { setting, .. }) => Some(setting),
            Err(other) => panic!("not a config error: {other:?}"),
        }
    }

    #[test]
    fn settings_under_which_the_server_removes_events_are_refused() {
        let base = Wanted {
            name: "S",
            prefix: "events",
            replicas: 1,
            duplicate_window: Duration::from_secs(60),
        }
        .config();
        let cases = [
            (
                "max_msgs_per_subject",
                Config {
                    max_messages_per_subject: 5,
                    discard: DiscardPolicy::Old,
                    ..base.clone()
                },
            ),
            (
                "max_msgs_per_subject",
                Config {
                    max_messages_per_subject: 5,
                    discard: DiscardPolicy::New,
                    discard_new_per_subject: false,
                    ..base.clone()
                },
            ),
            (
                "discard",
                Config {
                    max_bytes: 1 << 20,
                    discard: DiscardPolicy::Old,
                    ..base.clone()
                },
            ),
            (
                "max_age",
                Config {
                    max_age: Duration::from_secs(3600),
                    ..base.clone()
                },
            ),
            (
                "subject_delete_marker_ttl",
                Config {
                    subject_delete_marker_ttl: Some(Duration::from_secs(60)),
                    ..base.clone()
                },
            ),
            (
                "subject_transform",
                Config {
                    subject_transform: Some(async_nats::jetstream::stream::SubjectTransform {
                        source: "events.>".into(),
                        destination: "other.>".into(),
                    }),
                    ..base.clone()
                },
            ),
            (
                "sources",
                Config {
                    sources: Some(vec![async_nats::jetstream::stream::Source {
                        name: "OTHER".into(),
                        ..Default::default()
                    }]),
                    ..base.clone()
                },
            ),
        ];
        for (setting, config) in cases {
            assert_eq!(named(&config).as_deref(), Some(setting), "{config:?}");
        }
    }

    #[test]
    fn limits_that_only_refuse_writes_are_allowed() {
        let base = Wanted {
            name: "S",
            prefix: "events",
            replicas: 1,
            duplicate_window: Duration::from_secs(60),
        }
        .config();
        let limited = Config {
            max_messages: 1000,
            max_bytes: 1 << 20,
            max_messages_per_subject: 10,
            discard: DiscardPolicy::New,
            discard_new_per_subject: true,
            ..base
        };
        assert_eq!(named(&limited), None);
    }
}
