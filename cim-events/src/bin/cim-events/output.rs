//! What the CLI prints: errors (with every secret it was given masked), progress bars on
//! stderr that stay quiet unless stderr is a terminal, times, and payloads as DAG-JSON.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cim_events::{Cid, Ipld};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How a command ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done; for `verify`, everything is intact (exit 0).
    Done,
    /// Faults were found (exit 1).
    Faults,
}

/// An error that ends the command with exit code 2. Built from any error, or from a
/// message with [`Failure::msg`]; printed with every known secret masked.
#[derive(Debug)]
pub struct Failure(pub String);

impl Failure {
    /// A failure with this message.
    pub fn msg(message: impl Into<String>) -> Failure {
        Failure(message.into())
    }
}

impl<E: std::error::Error> From<E> for Failure {
    fn from(e: E) -> Failure {
        // The whole chain of causes: async-nats errors often say the useful part last.
        let mut message = e.to_string();
        let mut source = e.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = cause.source();
        }
        Failure(message)
    }
}

/// Secrets this process was given (passwords, tokens, seeds): never printed.
fn secrets() -> &'static Mutex<Vec<String>> {
    static SECRETS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Remembers `secret` so that no message printed afterwards shows it.
pub fn keep_secret(secret: &str) {
    if secret.is_empty() {
        return;
    }
    if let Ok(mut secrets) = secrets().lock() {
        secrets.push(secret.to_owned());
    }
}

/// `text` with every kept secret replaced by `***`.
pub fn redact(text: &str) -> String {
    let mut text = text.to_owned();
    if let Ok(secrets) = secrets().lock() {
        for secret in secrets.iter() {
            text = text.replace(secret.as_str(), "***");
        }
    }
    text
}

/// Prints the failure on stderr and gives exit code 2.
pub fn fail(failure: &Failure) -> ExitCode {
    eprintln!("error: {}", redact(&failure.0));
    ExitCode::from(2)
}

/// A warning on stderr.
pub fn warn(message: &str) {
    eprintln!("warning: {}", redact(message));
}

/// Whether progress is drawn: only on a terminal, so pipes and logs get results only.
pub fn progress_visible() -> bool {
    std::io::stderr().is_terminal()
}

/// A progress bar on stderr, hidden unless stderr is a terminal. `total` 0: a spinner
/// with counts and rate.
pub fn progress(total: u64, what: &str) -> ProgressBar {
    let target = if progress_visible() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target((total > 0).then_some(total), target);
    let template = if total > 0 {
        format!("{{bar:30}} {{pos}}/{{len}} {what} {{per_sec}} {{msg}}")
    } else {
        format!("{{spinner}} {{pos}} {what} {{per_sec}} {{msg}}")
    };
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// A time in nanoseconds since the Unix epoch as RFC 3339 (UTC, milliseconds).
pub fn time_of_nanos(nanos: u64) -> String {
    let time = UNIX_EPOCH + Duration::from_nanos(nanos);
    humantime::format_rfc3339_millis(time).to_string()
}

/// A system time as RFC 3339 (UTC, milliseconds).
pub fn time_of(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

/// Reads a time for `--since`: RFC 3339 (`2026-12-02T05:00:00Z`) or a duration ago
/// (`10m`, `2h 30m`, `1day`).
pub fn parse_since(text: &str) -> Result<SystemTime, String> {
    if let Ok(time) = humantime::parse_rfc3339_weak(text) {
        return Ok(time);
    }
    match humantime::parse_duration(text) {
        Ok(ago) => SystemTime::now()
            .checked_sub(ago)
            .ok_or_else(|| format!("`{text}` ago is before the epoch")),
        Err(_) => Err(format!(
            "`{text}` is neither an RFC 3339 time (2026-12-02T05:00:00Z) nor a duration ago (10m, 2h)"
        )),
    }
}

/// Reads a CID argument.
pub fn parse_cid(text: &str) -> Result<Cid, String> {
    text.parse::<Cid>()
        .map_err(|e| format!("`{text}` is not a CID: {e}"))
}

/// An IPLD value as DAG-JSON: links as `{"/": cid}`, bytes as `{"/": {"bytes": base64}}`.
pub fn dag_json(value: &Ipld) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Ipld::Null => Value::Null,
        Ipld::Bool(b) => Value::Bool(*b),
        Ipld::Integer(i) => i64::try_from(*i)
            .map(Value::from)
            .or_else(|_| u64::try_from(*i).map(Value::from))
            .unwrap_or_else(|_| Value::String(i.to_string())),
        Ipld::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Ipld::String(s) => Value::String(s.clone()),
        Ipld::Bytes(b) => serde_json::json!({"/": {"bytes": base64(b)}}),
        Ipld::List(items) => Value::Array(items.iter().map(dag_json).collect()),
        Ipld::Map(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), dag_json(v))).collect())
        }
        Ipld::Link(cid) => serde_json::json!({"/": cid.to_string()}),
    }
}

/// Standard base64 without padding, as DAG-JSON writes bytes.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// Asks `question` on the terminal; true only for `y` or `yes`. Without a terminal on
/// stdin, false: a script passes `--yes`.
pub fn confirm(question: &str) -> bool {
    if !std::io::stdin().is_terminal() {
        return false;
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_without_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg");
        assert_eq!(base64(b"fo"), "Zm8");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn secrets_are_masked() {
        keep_secret("hunter2");
        assert_eq!(redact("password hunter2 refused"), "password *** refused");
    }
}
