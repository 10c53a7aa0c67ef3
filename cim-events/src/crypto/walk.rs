//! Walking a payload for its marks: counting them, and rewriting each one.

use std::collections::BTreeMap;

use ipld_core::ipld::Ipld;

use super::CryptoError;
use super::node::{ENCRYPTED, Mark, PII, SHREDDED, check_level, mark_of, render};
use crate::payload::Segment;

/// How many values of each kind a payload holds (see [`marks`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Marks {
    /// [`Pii`](crate::Pii) values not yet encrypted: the payload must not be stored as it
    /// is.
    pub pii: usize,
    /// Encrypted values.
    pub encrypted: usize,
    /// Values whose key was shredded (after [`Crypto::decrypt_payload`](super::Crypto::decrypt_payload),
    /// or a `Pii::Shredded` written back).
    pub shredded: usize,
}

impl Marks {
    /// Whether the payload holds no mark at all.
    pub fn is_empty(&self) -> bool {
        self.pii == 0 && self.encrypted == 0 && self.shredded == 0
    }
}

/// Counts the marked values of a payload (a mark's content is not looked into). Use it to
/// tell whether a payload needs encrypting (`pii > 0`), or whether decrypted data was
/// shredded (`shredded > 0`: for example a snapshot that must not be served).
///
/// ```
/// use cim_events::crypto::marks;
/// use cim_events::{Pii, payload::to_ipld};
/// #[derive(serde::Serialize)]
/// struct Registered { name: Pii<String>, email: Pii<String>, plan: String }
/// let payload = to_ipld(&Registered {
///     name: Pii::Clear("Ann".into()),
///     email: Pii::Shredded,
///     plan: "gold".into(),
/// })?;
/// let m = marks(&payload);
/// assert_eq!((m.pii, m.encrypted, m.shredded), (1, 0, 1));
/// # Ok::<(), cim_events::payload::PayloadError>(())
/// ```
pub fn marks(payload: &Ipld) -> Marks {
    let mut marks = Marks::default();
    count(payload, &mut marks, 0);
    marks
}

fn count(value: &Ipld, marks: &mut Marks, level: usize) {
    // Deeper than any block holds: not a payload this crate wrote; counted no further.
    if level > crate::payload::MAX_DEPTH {
        return;
    }
    match value {
        Ipld::Map(map) => match mark_of(map) {
            Some(Mark::Pii) => marks.pii += 1,
            Some(Mark::Encrypted) => marks.encrypted += 1,
            Some(Mark::Shredded) => marks.shredded += 1,
            None => map.values().for_each(|v| count(v, marks, level + 1)),
        },
        Ipld::List(items) => items.iter().for_each(|v| count(v, marks, level + 1)),
        _ => {}
    }
}

/// The check for a payload about to be stored with no key store configured: refuses one
/// that holds a [`Pii`](crate::Pii) value with [`CryptoError::MissingKeyStore`], naming
/// the first such value, so that personal data is never written in clear by accident.
///
/// ```
/// use cim_events::crypto::check_no_pii;
/// use cim_events::payload::to_ipld;
/// assert!(check_no_pii(&to_ipld(&("no", "personal", "data"))?).is_ok());
/// # Ok::<(), cim_events::payload::PayloadError>(())
/// ```
pub fn check_no_pii(payload: &Ipld) -> Result<(), CryptoError> {
    let mut path = Vec::new();
    match first_pii(payload, &mut path, 0) {
        true => Err(CryptoError::MissingKeyStore {
            path: render(&path),
        }),
        false => Ok(()),
    }
}

/// Whether `value` holds a `Pii` marker; `path` is then where the first one is.
fn first_pii(value: &Ipld, path: &mut Vec<Segment>, level: usize) -> bool {
    if level > crate::payload::MAX_DEPTH {
        // Not a payload any block holds; whoever stores it will refuse it for its depth.
        return false;
    }
    match value {
        Ipld::Map(map) => match mark_of(map) {
            Some(Mark::Pii) => true,
            Some(_) => false,
            None => map.iter().any(|(k, v)| {
                path.push(Segment::Key(k.clone()));
                let found = first_pii(v, path, level + 1);
                if !found {
                    path.pop();
                }
                found
            }),
        },
        Ipld::List(items) => items.iter().enumerate().any(|(i, v)| {
            path.push(Segment::Index(i));
            let found = first_pii(v, path, level + 1);
            if !found {
                path.pop();
            }
            found
        }),
        _ => false,
    }
}

/// Rewrites every marked value of `value` (found at `path`, `level` lists and maps deep)
/// with `f(path, level, mark, content)`, `level` being the mark's; a mark's content is not
/// walked into.
pub(crate) fn rewrite<F>(
    value: Ipld,
    path: &mut Vec<Segment>,
    level: usize,
    f: &mut F,
) -> Result<Ipld, CryptoError>
where
    F: FnMut(&[Segment], usize, Mark, Ipld) -> Result<Ipld, CryptoError>,
{
    check_level(level, path)?;
    match value {
        Ipld::Map(map) => {
            if let Some(mark) = mark_of(&map) {
                let content = map.into_values().next().unwrap_or(Ipld::Null);
                return f(path, level, mark, content);
            }
            let mut out = BTreeMap::new();
            for (key, item) in map {
                path.push(Segment::Key(key.clone()));
                let item = rewrite(item, path, level + 1, f)?;
                path.pop();
                out.insert(key, item);
            }
            Ok(Ipld::Map(out))
        }
        Ipld::List(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (index, item) in items.into_iter().enumerate() {
                path.push(Segment::Index(index));
                out.push(rewrite(item, path, level + 1, f)?);
                path.pop();
            }
            Ok(Ipld::List(out))
        }
        other => Ok(other),
    }
}

/// `value` with each `Pii` marker replaced by its content, for a value about to be
/// encrypted as a whole: inside it, the marks are already covered. An encrypted node in it
/// is [`CryptoError::Malformed`]: a payload gets those only from encryption.
pub(crate) fn strip(
    value: Ipld,
    path: &mut Vec<Segment>,
    level: usize,
) -> Result<Ipld, CryptoError> {
    rewrite(
        value,
        path,
        level,
        &mut |path, level, mark, content| match mark {
            Mark::Pii => strip(content, &mut path.to_vec(), level),
            Mark::Shredded => Ok(marked(SHREDDED, content)),
            Mark::Encrypted => Err(stray_node(path)),
        },
    )
}

/// The error for an encrypted node in a payload being encrypted.
pub(crate) fn stray_node(path: &[Segment]) -> CryptoError {
    CryptoError::Malformed {
        what: format!("payload value at `{}`", render(path)),
        problem: format!(
            "it is an encrypted node (`{ENCRYPTED}`) that did not come from a `Pii` value"
        ),
    }
}

/// The one-entry map `{key: content}`.
pub(crate) fn marked(key: &str, content: Ipld) -> Ipld {
    Ipld::Map(BTreeMap::from([(key.to_owned(), content)]))
}

/// A `Pii` marker put back as it was.
pub(crate) fn pii(content: Ipld) -> Ipld {
    marked(PII, content)
}
