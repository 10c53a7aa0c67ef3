//! The shape of one event type at one schema version, and its fingerprint.

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
    /// Earlier names of the event type, still read from history.
    pub aliases: &'static [&'static str],
    /// The schema version new events are written with.
    pub schema: u32,
    /// The payload's fields, in declaration order.
    pub fields: &'static [FieldShape],
}

impl EventShape {
    /// The canonical text of the shape: what its fingerprint hashes. One line per item,
    /// `event {aggregate}/{event_type} schema {n}`, then `field {name}: {type}` per field.
    pub fn canonical(&self) -> String {
        let mut text = format!(
            "event {}/{} schema {}\n",
            self.aggregate_type, self.event_type, self.schema
        );
        for field in self.fields {
            text.push_str(&format!("field {}: {}\n", field.name, field.ty));
        }
        text
    }

    /// The shape's fingerprint: SHA-256 of [`canonical`](EventShape::canonical).
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint(Sha256::digest(self.canonical().as_bytes()).into())
    }
}

/// One payload field: its serde name and its type, normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldShape {
    /// The name the field is stored under (after serde renames).
    pub name: &'static str,
    /// The field's type, normalised.
    pub ty: &'static str,
}

/// A hash of a shape: equal shapes have equal fingerprints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}
