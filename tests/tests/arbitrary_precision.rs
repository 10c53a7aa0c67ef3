//! serde_json's `arbitrary_precision` feature cannot change a block.
//!
//! With the feature, serde_json's `Number` serializes as a private struct holding the
//! number's text instead of as a u64/i64/f64. Feature unification would turn it on for the
//! whole workspace (and async-nats parses JSON with serde_json), so this workspace builds
//! serde_json without it and proves the point twice:
//!
//! - here, with [`ApValue`], a faithful emulation of `serde_json::Value` under the feature
//!   (same private struct and field name, same text serde_json keeps), compared with the
//!   real, feature-less `serde_json::Value` through full block encoding and CIDs;
//! - in tests/arbitrary-precision, a detached crate built with the real feature, which
//!   `scripts/test` runs: the same documents (tests/fixtures/arbitrary_precision.rs) must
//!   seal to the same pinned CIDs there.

use std::collections::BTreeMap;

use cim_events::Ipld;
use cim_events::payload::to_ipld;
use cim_events::test_util::{NewEvent, seal};
use serde::ser::{SerializeMap, SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};

include!("../fixtures/arbitrary_precision.rs");

/// The private name serde_json 1.x gives its `Number` struct and its one field under
/// `arbitrary_precision` (serde_json `src/number.rs`, `TOKEN`).
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// `serde_json::Value` as it is with `arbitrary_precision` on: numbers are text.
#[derive(Debug, Clone, PartialEq)]
enum ApValue {
    Null,
    Bool(bool),
    /// The text serde_json keeps for the number.
    Number(String),
    String(String),
    Array(Vec<ApValue>),
    Object(BTreeMap<String, ApValue>),
}

impl Serialize for ApValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ApValue::Null => s.serialize_unit(),
            ApValue::Bool(b) => s.serialize_bool(*b),
            // Exactly serde_json's `impl Serialize for Number` under the feature.
            ApValue::Number(text) => {
                let mut st = s.serialize_struct(NUMBER_TOKEN, 1)?;
                st.serialize_field(NUMBER_TOKEN, text)?;
                st.end()
            }
            ApValue::String(text) => s.serialize_str(text),
            ApValue::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            ApValue::Object(map) => {
                let mut m = s.serialize_map(Some(map.len()))?;
                for (k, v) in map {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
        }
    }
}

impl From<&serde_json::Value> for ApValue {
    /// What a value built in Rust (`json!`, `Number::from_f64`, `From<u64>`…) holds under
    /// the feature: integers as itoa text, floats as ryu's shortest text — the same text
    /// `Number`'s `Display` writes without the feature.
    fn from(value: &serde_json::Value) -> Self {
        match value {
            serde_json::Value::Null => ApValue::Null,
            serde_json::Value::Bool(b) => ApValue::Bool(*b),
            serde_json::Value::Number(n) => ApValue::Number(n.to_string()),
            serde_json::Value::String(s) => ApValue::String(s.clone()),
            serde_json::Value::Array(items) => {
                ApValue::Array(items.iter().map(Into::into).collect())
            }
            serde_json::Value::Object(map) => {
                ApValue::Object(map.iter().map(|(k, v)| (k.clone(), v.into())).collect())
            }
        }
    }
}

/// Parses JSON text as serde_json does with the feature on: a number keeps its text,
/// except that an exponent is written `e` with an explicit sign (serde_json's
/// `scan_exponent`). Enough JSON for the fixture documents (no string escapes).
fn parse_ap(text: &str) -> ApValue {
    let mut p = Parser {
        b: text.as_bytes(),
        at: 0,
    };
    let value = p.value();
    p.ws();
    assert_eq!(p.at, p.b.len(), "trailing JSON");
    value
}

struct Parser<'a> {
    b: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.b.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn eat(&mut self, c: u8) {
        self.ws();
        assert_eq!(
            self.b[self.at], c,
            "expected {:?} at {}",
            c as char, self.at
        );
        self.at += 1;
    }

    fn peek(&mut self) -> u8 {
        self.ws();
        self.b[self.at]
    }

    fn string(&mut self) -> String {
        self.eat(b'"');
        let start = self.at;
        while self.b[self.at] != b'"' {
            assert_ne!(self.b[self.at], b'\\', "escapes are not needed here");
            self.at += 1;
        }
        self.at += 1;
        String::from_utf8(self.b[start..self.at - 1].to_vec()).expect("UTF-8")
    }

    fn number(&mut self) -> String {
        let mut text = String::new();
        let digit = |c: &u8| c.is_ascii_digit() || *c == b'-' || *c == b'.';
        while self.b.get(self.at).is_some_and(digit) {
            text.push(self.b[self.at] as char);
            self.at += 1;
        }
        if matches!(self.b.get(self.at), Some(b'e' | b'E')) {
            self.at += 1;
            text.push('e');
            match self.b[self.at] {
                c @ (b'+' | b'-') => {
                    text.push(c as char);
                    self.at += 1;
                }
                _ => text.push('+'),
            }
            while self.b.get(self.at).is_some_and(u8::is_ascii_digit) {
                text.push(self.b[self.at] as char);
                self.at += 1;
            }
        }
        text
    }

    fn value(&mut self) -> ApValue {
        match self.peek() {
            b'{' => {
                self.eat(b'{');
                let mut map = BTreeMap::new();
                while self.peek() != b'}' {
                    let key = self.string();
                    self.eat(b':');
                    map.insert(key, self.value());
                    if self.peek() == b',' {
                        self.eat(b',');
                    }
                }
                self.eat(b'}');
                ApValue::Object(map)
            }
            b'[' => {
                self.eat(b'[');
                let mut items = Vec::new();
                while self.peek() != b']' {
                    items.push(self.value());
                    if self.peek() == b',' {
                        self.eat(b',');
                    }
                }
                self.eat(b']');
                ApValue::Array(items)
            }
            b'"' => ApValue::String(self.string()),
            b't' => self.word("true", ApValue::Bool(true)),
            b'f' => self.word("false", ApValue::Bool(false)),
            b'n' => self.word("null", ApValue::Null),
            _ => ApValue::Number(self.number()),
        }
    }

    fn word(&mut self, word: &str, value: ApValue) -> ApValue {
        assert!(self.b[self.at..].starts_with(word.as_bytes()));
        self.at += word.len();
        value
    }
}

/// Seals `payload` exactly as [`sealed_documents`] seals document `index`.
fn seal_payload(index: usize, payload: Ipld) -> (String, Vec<u8>) {
    let event = NewEvent {
        aggregate_type: "Probe".into(),
        event_type: "Measured".into(),
        schema: 1,
        id: format!("0190b6a0-0000-7000-8000-{index:012}"),
        time: 1_704_067_200_000_000_000,
        correlation_id: "0190b6a0-0000-7000-8000-00000000c0de".into(),
        causation_id: None,
        meta: Default::default(),
        payload,
    };
    let sealed = seal("events", &format!("ap-{index}"), None, &[event])
        .expect("seal")
        .remove(0);
    (sealed.cid.to_string(), sealed.bytes.to_vec())
}

/// Float bits, so that -0.0 and 0.0 count as different (`Ipld`'s `==` does not).
fn float_bits(ipld: &Ipld) -> u64 {
    match ipld {
        Ipld::Float(f) => f.to_bits(),
        other => panic!("expected a float, got {other:?}"),
    }
}

#[test]
fn this_workspace_builds_serde_json_without_the_feature() {
    // With the feature, serde_json would keep the text "1.50".
    let value: serde_json::Value = serde_json::from_str("1.50").expect("JSON");
    assert_eq!(value.to_string(), "1.5");
}

#[test]
fn plain_serde_json_documents_seal_to_the_pinned_cids() {
    let cids: Vec<String> = sealed_documents()
        .iter()
        .map(|e| e.cid.to_string())
        .collect();
    assert_eq!(cids, CIDS);
}

#[test]
fn documents_under_the_emulated_feature_seal_to_the_same_bytes_and_cids() {
    let plain = sealed_documents();
    for (index, document) in DOCUMENTS.iter().enumerate() {
        let emulated = parse_ap(document);
        let (cid, bytes) = seal_payload(index, to_ipld(&emulated).expect("storable"));
        assert_eq!(cid, CIDS[index], "document {index}: {document}");
        assert_eq!(bytes, plain[index].bytes, "document {index}");
    }
    // The emulation really is the feature's shape: text, not numbers, reaches serde.
    assert_eq!(
        parse_ap(r#"{"a": 1E2, "b": -0, "c": 1.50}"#),
        ApValue::Object(BTreeMap::from([
            ("a".into(), ApValue::Number("1e+2".into())),
            ("b".into(), ApValue::Number("-0".into())),
            ("c".into(), ApValue::Number("1.50".into())),
        ]))
    );
}

#[test]
fn values_built_in_rust_are_identical_under_the_emulated_feature() {
    for f in sample_floats(20_000) {
        let plain = serde_json::json!(f);
        let emulated = ApValue::from(&plain);
        assert_eq!(
            float_bits(&to_ipld(&emulated).expect("storable")),
            f.to_bits(),
            "{f:e} ({emulated:?})"
        );
        assert_eq!(float_bits(&to_ipld(&plain).expect("storable")), f.to_bits());
    }
    for plain in [
        serde_json::json!(u64::MAX),
        serde_json::json!(i64::MIN),
        serde_json::json!(0),
        serde_json::json!({"a": [1, -1, 2.5, {"b": null}]}),
    ] {
        let emulated = ApValue::from(&plain);
        assert_eq!(
            to_ipld(&emulated).expect("ap"),
            to_ipld(&plain).expect("plain")
        );
    }
}

#[test]
fn serde_json_itself_is_lossy_for_some_text_without_float_roundtrip() {
    let correctly_rounded: f64 = LOSSY_IN_SERDE_JSON.parse().expect("f64");
    let plain: f64 = serde_json::from_str(LOSSY_IN_SERDE_JSON).expect("JSON");
    assert_ne!(plain.to_bits(), correctly_rounded.to_bits());
    // The text as the feature keeps it becomes the correctly rounded number, which is
    // also what serde_json's own `as_f64` returns under the feature.
    let emulated = parse_ap(LOSSY_IN_SERDE_JSON);
    assert_eq!(
        float_bits(&to_ipld(&emulated).expect("storable")),
        correctly_rounded.to_bits()
    );
}
