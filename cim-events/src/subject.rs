//! NATS subject tokens and subjects: `{prefix}.{aggregate_id}.{event_type}`.
//!
//! NATS clients do not stop `*`, `>` or `.` inside a token, so an aggregate id such as
//! `a.b` would silently land in another aggregate's subject. Every token the crate puts in
//! a subject is checked here first; an unsafe one is an error, never escaped silently.
//!
//! A subscription takes one filter or a set ([`validate_subscriptions`], at most
//! [`MAX_FILTERS`]): see [`EventStore::subscribe_filters`](crate::EventStore::subscribe_filters).

use std::fmt;

pub use crate::filter_set::{FilterSetError, MAX_FILTERS, validate_subscriptions};

/// The longest token accepted, in bytes. Keeps subjects well below NATS limits.
pub const MAX_TOKEN_LEN: usize = 128;

/// The default subject prefix.
pub const DEFAULT_PREFIX: &str = "events";

/// What a token names, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenKind {
    /// An aggregate id.
    AggregateId,
    /// An aggregate type.
    AggregateType,
    /// An event type.
    EventType,
    /// A subject prefix (may hold several tokens separated by `.`).
    Prefix,
    /// A subscription filter (tokens, `*` and a final `>`).
    Filter,
    /// The owner of a timer ([`Timer`](crate::timer::Timer)).
    TimerOwner,
    /// The name of a timer within its owner.
    TimerName,
    /// The consumer name that fired timers are delivered through.
    TimerConsumer,
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenKind::AggregateId => "aggregate id",
            TokenKind::AggregateType => "aggregate type",
            TokenKind::EventType => "event type",
            TokenKind::Prefix => "subject prefix",
            TokenKind::Filter => "subject filter",
            TokenKind::TimerOwner => "timer owner",
            TokenKind::TimerName => "timer name",
            TokenKind::TimerConsumer => "timer consumer name",
        })
    }
}

/// Why a token is not safe.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenProblem {
    /// The token is empty.
    Empty,
    /// The token is longer than [`MAX_TOKEN_LEN`].
    TooLong(usize),
    /// The token holds a character NATS gives meaning to, or whitespace or a control
    /// character.
    IllegalChar(char),
}

/// A string that is not a safe NATS subject token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} `{}` is not a valid NATS subject token: {}", value.escape_debug(), describe(problem))]
pub struct TokenError {
    /// What the string names.
    pub kind: TokenKind,
    /// The string itself.
    pub value: String,
    /// What is wrong with it.
    pub problem: TokenProblem,
}

fn describe(problem: &TokenProblem) -> String {
    match problem {
        TokenProblem::Empty => "it is empty".to_owned(),
        TokenProblem::TooLong(n) => format!("it is {n} bytes long, the limit is {MAX_TOKEN_LEN}"),
        TokenProblem::IllegalChar('.') => "`.` separates tokens".to_owned(),
        TokenProblem::IllegalChar(c @ ('*' | '>')) => format!("`{c}` is a wildcard"),
        TokenProblem::IllegalChar(c) if c.is_whitespace() => {
            format!("whitespace `{}` is not allowed", c.escape_debug())
        }
        TokenProblem::IllegalChar(c) => {
            format!("character `{}` is not allowed", c.escape_debug())
        }
    }
}

/// Checks that `value` is one safe NATS subject token: not empty, at most
/// [`MAX_TOKEN_LEN`] bytes, and free of `.`, `*`, `>`, whitespace and control characters.
///
/// ```
/// use cim_events::subject::{validate_token, TokenKind};
/// assert!(validate_token(TokenKind::AggregateId, "acc-123").is_ok());
/// assert!(validate_token(TokenKind::AggregateId, "acc.123").is_err());
/// ```
pub fn validate_token(kind: TokenKind, value: &str) -> Result<(), TokenError> {
    let fail = |problem| {
        Err(TokenError {
            kind,
            value: value.to_owned(),
            problem,
        })
    };
    if value.is_empty() {
        return fail(TokenProblem::Empty);
    }
    if value.len() > MAX_TOKEN_LEN {
        return fail(TokenProblem::TooLong(value.len()));
    }
    if let Some(c) = value.chars().find(|&c| !is_token_char(c)) {
        return fail(TokenProblem::IllegalChar(c));
    }
    Ok(())
}

/// Whether `c` may appear in a subject token.
pub fn is_token_char(c: char) -> bool {
    !matches!(c, '.' | '*' | '>') && !c.is_whitespace() && !c.is_control()
}

/// Checks a subject prefix: one or more safe tokens separated by `.`.
pub fn validate_prefix(prefix: &str) -> Result<(), TokenError> {
    if prefix.is_empty() {
        return validate_token(TokenKind::Prefix, prefix);
    }
    prefix.split('.').try_for_each(|token| {
        validate_token(TokenKind::Prefix, token).map_err(|e| TokenError {
            value: prefix.to_owned(),
            ..e
        })
    })
}

/// Checks a subscription filter: tokens separated by `.`, each a safe token or `*`, with
/// `>` allowed only as the last token.
///
/// ```
/// use cim_events::subject::validate_filter;
/// assert!(validate_filter("events.*.Opened").is_ok());
/// assert!(validate_filter("events.>").is_ok());
/// assert!(validate_filter("events.>.Opened").is_err());
/// assert!(validate_filter("events..Opened").is_err());
/// ```
pub fn validate_filter(filter: &str) -> Result<(), TokenError> {
    let tokens: Vec<&str> = filter.split('.').collect();
    for (i, token) in tokens.iter().enumerate() {
        match *token {
            "*" => {}
            ">" if i + 1 == tokens.len() => {}
            _ => validate_token(TokenKind::Filter, token).map_err(|e| TokenError {
                value: filter.to_owned(),
                ..e
            })?,
        }
    }
    Ok(())
}

/// Checks a subscription filter of a store with subject prefix `prefix`: a valid filter
/// (see [`validate_filter`]) that can match events of this store, whose subjects are
/// `{prefix}.{aggregate_id}.{event_type}`. Both stores' `subscribe` call it.
///
/// The prefix's tokens must be written out: a store holds (and its JetStream stream
/// binds) only its own prefix, so a wildcard in their place, such as `>` or `*.>`, is
/// refused rather than narrowed — it would say "everything" and silently mean "this
/// store's events". After the prefix come exactly two tokens (literal or `*`, the second
/// may be `>`) or a single `>`.
///
/// ```
/// use cim_events::subject::validate_subscription;
/// assert!(validate_subscription("events", "events.>").is_ok());
/// assert!(validate_subscription("events", "events.*.Opened").is_ok());
/// assert!(validate_subscription("events", "other.>").is_err());
/// assert!(validate_subscription("events", "events2.>").is_err());
/// assert!(validate_subscription("events", ">").is_err());
/// ```
///
/// # Errors
///
/// [`Error::InvalidToken`](crate::Error::InvalidToken) for a malformed filter,
/// [`Error::FilterOutsidePrefix`](crate::Error::FilterOutsidePrefix) for one that matches
/// no event of the store.
pub fn validate_subscription(prefix: &str, filter: &str) -> Result<(), crate::Error> {
    validate_filter(filter)?;
    let outside = |problem: String| {
        Err(crate::Error::FilterOutsidePrefix {
            filter: filter.to_owned(),
            prefix: prefix.to_owned(),
            problem,
        })
    };
    let tokens: Vec<&str> = filter.split('.').collect();
    for (i, wanted) in prefix.split('.').enumerate() {
        match tokens.get(i).copied() {
            Some(token) if token == wanted => {}
            Some(wildcard @ ("*" | ">")) => {
                return outside(format!(
                    "`{wildcard}` stands where the prefix has `{wanted}`; write the prefix out \
                     (`{prefix}.>` for every event)"
                ));
            }
            Some(token) => {
                return outside(format!("`{token}` stands where the prefix has `{wanted}`"));
            }
            None => return outside("it is shorter than the prefix".to_owned()),
        }
    }
    let rest = &tokens[prefix.split('.').count()..];
    match rest {
        [">"] | [_, _] => Ok(()),
        _ => outside(
            "events are `{prefix}.{aggregate_id}.{event_type}`: after the prefix come \
             exactly two tokens, or `>`"
                .to_owned(),
        ),
    }
}

/// The subject an event is published on: `{prefix}.{aggregate_id}.{event_type}`.
/// The parts must already be validated.
pub fn event_subject(prefix: &str, aggregate_id: &str, event_type: &str) -> String {
    format!("{prefix}.{aggregate_id}.{event_type}")
}

/// The filter matching every event of one aggregate: `{prefix}.{aggregate_id}.*`.
pub fn aggregate_filter(prefix: &str, aggregate_id: &str) -> String {
    format!("{prefix}.{aggregate_id}.*")
}

/// Whether `subject` matches the NATS subject `filter` (`*` one token, `>` the rest).
///
/// ```
/// use cim_events::subject::subject_matches;
/// assert!(subject_matches("events.>", "events.o-1.Created"));
/// assert!(subject_matches("events.*.Created", "events.o-1.Created"));
/// assert!(!subject_matches("events.o-2.>", "events.o-1.Created"));
/// ```
pub fn subject_matches(filter: &str, subject: &str) -> bool {
    let mut subject_tokens = subject.split('.');
    for f in filter.split('.') {
        if f == ">" {
            return subject_tokens.next().is_some();
        }
        match subject_tokens.next() {
            Some(s) if f == "*" || f == s => {}
            _ => return false,
        }
    }
    subject_tokens.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_each_unsafe_character() {
        for bad in ["a.b", "a*", ">", "a b", "a\tb", "a\u{0}b", "a\nb"] {
            let err = validate_token(TokenKind::AggregateId, bad).unwrap_err();
            assert!(
                matches!(err.problem, TokenProblem::IllegalChar(_)),
                "{bad:?}"
            );
        }
        assert_eq!(
            validate_token(TokenKind::EventType, "")
                .unwrap_err()
                .problem,
            TokenProblem::Empty
        );
        let long = "x".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(
            validate_token(TokenKind::EventType, &long)
                .unwrap_err()
                .problem,
            TokenProblem::TooLong(MAX_TOKEN_LEN + 1)
        );
        assert!(validate_token(TokenKind::AggregateId, "order_1-é:x").is_ok());
    }

    #[test]
    fn message_points_at_the_problem() {
        let err = validate_token(TokenKind::EventType, "Order.Created").unwrap_err();
        assert_eq!(
            err.to_string(),
            "event type `Order.Created` is not a valid NATS subject token: `.` separates tokens"
        );
    }

    #[test]
    fn prefixes_may_have_several_tokens() {
        assert!(validate_prefix("tenant-1.events").is_ok());
        assert!(validate_prefix("events.").is_err());
        assert!(validate_prefix("ev*").is_err());
    }

    #[test]
    fn subscriptions_stay_inside_the_prefix() {
        for ok in ["t.ev.>", "t.ev.*.X", "t.ev.a.>", "t.ev.a.*", "t.ev.*.*"] {
            assert!(validate_subscription("t.ev", ok).is_ok(), "{ok}");
        }
        for outside in [
            ">",
            "*.>",
            "t.>",
            "t.*.>",
            "t.ev",
            "t.ev2.>",
            "other.>",
            "t.ev.a",
            "t.ev.a.b.c",
        ] {
            let err = validate_subscription("t.ev", outside).unwrap_err();
            assert!(
                matches!(&err, crate::Error::FilterOutsidePrefix { filter, prefix, .. }
                    if filter == outside && prefix == "t.ev"),
                "{outside}: {err:?}"
            );
        }
        assert!(matches!(
            validate_subscription("t.ev", "t.ev..x"),
            Err(crate::Error::InvalidToken(_))
        ));
    }

    #[test]
    fn matching() {
        assert!(subject_matches("events.a.*", "events.a.X"));
        assert!(!subject_matches("events.a.*", "events.a.X.Y"));
        assert!(!subject_matches("events.>", "events"));
        assert!(subject_matches("events.a.X", "events.a.X"));
        assert!(!subject_matches("events.a", "events.a.X"));
    }
}
