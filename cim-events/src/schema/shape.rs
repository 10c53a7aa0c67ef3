//! The shape of one event type at one schema version, its canonical text and its
//! fingerprint.

use std::fmt;

use sha2::{Digest, Sha256};

/// The stored shape of one event type at one schema version, as `#[derive(Event)]` reads
/// it from the type's definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventShape {
    /// The aggregate type the event belongs to.
    pub aggregate_type: &'static str,
    /// The event type it is stored under.
    pub event_type: &'static str,
    /// Earlier names of the event type, still read from history. Not part of the
    /// fingerprint: they change what is read, not what is stored.
    pub aliases: &'static [&'static str],
    /// The schema version new events are written with.
    pub schema: u32,
    /// The payload's fields, in declaration order. A `#[serde(flatten)]` field is listed
    /// under the name `..` with its type: its own name is not stored.
    pub fields: &'static [FieldShape],
}

impl EventShape {
    /// The canonical text of the shape: what its fingerprint hashes. A first line
    /// `event {aggregate}/{event_type} schema {n}`, then `field {name}: {type}` per field,
    /// sorted by name (serde reads a map by name, so order does not count). Names and
    /// types are escaped as in the lock file (see [`schema`](crate::schema)).
    ///
    /// ```
    /// use cim_events::schema::{EventShape, FieldShape};
    ///
    /// let shape = EventShape {
    ///     aggregate_type: "Account",
    ///     event_type: "Deposited",
    ///     aliases: &[],
    ///     schema: 2,
    ///     fields: &[
    ///         FieldShape { name: "amount", ty: "u64" },
    ///         FieldShape { name: "account_id", ty: "String" },
    ///     ],
    /// };
    /// assert_eq!(
    ///     shape.canonical(),
    ///     "event Account/Deposited schema 2\nfield account_id: String\nfield amount: u64\n"
    /// );
    /// ```
    pub fn canonical(&self) -> String {
        canonical(
            &event_header(self.aggregate_type, self.event_type, self.schema),
            self.fields.iter().map(|f| (f.name, f.ty)),
        )
    }

    /// The shape's fingerprint: SHA-256 of [`canonical`](EventShape::canonical).
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.canonical())
    }
}

/// One payload field: its serde name and its type, normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldShape {
    /// The name the field is stored under (after serde renames), `..` for a flattened
    /// field.
    pub name: &'static str,
    /// The field's Rust type as written, normalised: paths reduced to their last segment,
    /// no lifetimes, no whitespace (`Option<String>`, `&str`, `HashMap<String,Vec<u8>>`).
    pub ty: &'static str,
}

/// A hash of a shape: equal shapes have equal fingerprints. Displayed as its first 8
/// bytes in hex; [`to_hex`](Fingerprint::to_hex) gives all 32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// SHA-256 of `canonical`.
    pub fn of(canonical: &str) -> Fingerprint {
        Fingerprint(Sha256::digest(canonical.as_bytes()).into())
    }

    /// All 32 bytes as 64 lowercase hex digits, as the lock file records them.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads [`to_hex`](Fingerprint::to_hex)'s form back; `None` unless `hex` is exactly
    /// 64 hex digits.
    pub fn from_hex(hex: &str) -> Option<Fingerprint> {
        if hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Fingerprint(out))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// `event {aggregate}/{event_type} schema {n}`, names escaped.
pub(crate) fn event_header(aggregate_type: &str, event_type: &str, schema: u32) -> String {
    format!(
        "event {}/{} schema {schema}",
        escape(aggregate_type, Escape::Token),
        escape(event_type, Escape::Token)
    )
}

/// The canonical text: `header`, then one `field {name}: {type}` line per field, sorted.
pub(crate) fn canonical<'a>(
    header: &str,
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut fields: Vec<(&str, &str)> = fields.into_iter().collect();
    fields.sort_unstable();
    let mut text = format!("{header}\n");
    for (name, ty) in fields {
        text.push_str("field ");
        text.push_str(&field_line(name, ty));
        text.push('\n');
    }
    text
}

/// `{name}: {type}`, escaped.
pub(crate) fn field_line(name: &str, ty: &str) -> String {
    format!(
        "{}: {}",
        escape(name, Escape::FieldName),
        escape(ty, Escape::Type)
    )
}

/// What else must be escaped, besides `\` and control characters.
#[derive(Clone, Copy)]
pub(crate) enum Escape {
    /// An aggregate or event type: also whitespace and `/`, which separate them.
    Token,
    /// A field name: also whitespace and `:`, which ends it.
    FieldName,
    /// A type: nothing else (types contain spaces: `dyn Error`).
    Type,
}

/// `text` with `\` as `\\` and every other special character as `\u{hex}`, so a name can
/// neither break a line nor forge a separator.
pub(crate) fn escape(text: &str, what: Escape) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let special = c.is_control()
            || match what {
                Escape::Token => c.is_whitespace() || c == '/',
                Escape::FieldName => c.is_whitespace() || c == ':',
                Escape::Type => false,
            };
        if c == '\\' {
            out.push_str("\\\\");
        } else if special {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// The inverse of [`escape`]; `None` for an escape it does not write.
pub(crate) fn unescape(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            '\\' => out.push('\\'),
            'u' => {
                if chars.next()? != '{' {
                    return None;
                }
                let hex: String = chars.by_ref().take_while(|&c| c != '}').collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(fields: &'static [FieldShape]) -> EventShape {
        EventShape {
            aggregate_type: "Account",
            event_type: "Deposited",
            aliases: &[],
            schema: 2,
            fields,
        }
    }

    #[test]
    fn field_order_and_aliases_do_not_count() {
        let a = shape(&[
            FieldShape {
                name: "id",
                ty: "String",
            },
            FieldShape {
                name: "amount",
                ty: "u64",
            },
        ]);
        let b = EventShape {
            aliases: &["MoneyDeposited"],
            ..shape(&[
                FieldShape {
                    name: "amount",
                    ty: "u64",
                },
                FieldShape {
                    name: "id",
                    ty: "String",
                },
            ])
        };
        assert_eq!(a.fingerprint(), b.fingerprint());
        let c = shape(&[FieldShape {
            name: "amount",
            ty: "u128",
        }]);
        assert_ne!(a.fingerprint(), c.fingerprint());
        let d = EventShape { schema: 3, ..a };
        assert_ne!(a.fingerprint(), d.fingerprint());
    }

    #[test]
    fn names_cannot_forge_lines() {
        let sneaky = shape(&[FieldShape {
            name: "a: u8\nfield b",
            ty: "u8",
        }]);
        let plain = shape(&[
            FieldShape {
                name: "a",
                ty: "u8",
            },
            FieldShape {
                name: "b",
                ty: "u8",
            },
        ]);
        assert_ne!(sneaky.canonical(), plain.canonical());
        assert_eq!(
            sneaky.canonical().lines().nth(1),
            Some("field a\\u{3a}\\u{20}u8\\u{a}field\\u{20}b: u8")
        );
        for text in ["a: u8\nb\\c/d é", "", "\\u{zz"] {
            for what in [Escape::Token, Escape::FieldName, Escape::Type] {
                assert_eq!(unescape(&escape(text, what)).as_deref(), Some(text));
            }
        }
        assert_eq!(unescape("\\x"), None);
        assert_eq!(unescape("\\u{110000}"), None);
        assert_eq!(unescape("trailing\\"), None);
    }

    #[test]
    fn fingerprints_round_trip_as_hex() {
        let fp = shape(&[]).fingerprint();
        let hex = fp.to_hex();
        assert_eq!(hex.len(), 64);
        assert!(hex.starts_with(&fp.to_string()));
        assert_eq!(Fingerprint::from_hex(&hex), Some(fp));
        assert_eq!(Fingerprint::from_hex(&hex[1..]), None);
        assert_eq!(Fingerprint::from_hex(&"g".repeat(64)), None);
        assert_eq!(Fingerprint::from_hex(&"é".repeat(32)), None);
    }
}
