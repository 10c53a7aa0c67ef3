use std::collections::{BTreeMap, HashMap};

use cid::Cid;
use ipld_core::ipld::Ipld;
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Deserialize, Serialize, Serializer};

use super::*;

fn map<const N: usize>(entries: [(&str, Ipld); N]) -> Ipld {
    Ipld::Map(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

fn int(i: i128) -> Ipld {
    Ipld::Integer(i)
}

fn s(v: &str) -> Ipld {
    Ipld::String(v.to_owned())
}

fn err<T: Serialize + ?Sized>(value: &T) -> (String, PayloadProblem) {
    let e = to_ipld(value).expect_err("the value must be rejected");
    (e.path, e.problem)
}

fn round_trip<T>(value: &T) -> T
where
    T: Serialize + serde::de::DeserializeOwned,
{
    from_ipld(to_ipld(value).expect("to_ipld")).expect("from_ipld")
}

fn sample_cid() -> Cid {
    "bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
        .parse()
        .expect("a valid CID")
}

// ---- floats ----

#[test]
fn rejects_infinity_with_a_path() {
    #[derive(Serialize)]
    struct Inner {
        values: Vec<f64>,
    }
    #[derive(Serialize)]
    struct Outer {
        inner: Inner,
    }
    let outer = Outer {
        inner: Inner {
            values: vec![1.0, f64::INFINITY],
        },
    };
    assert_eq!(
        err(&outer),
        (
            "$.inner.values[1]".to_owned(),
            PayloadProblem::NonFiniteFloat(f64::INFINITY)
        )
    );
}

#[test]
fn rejects_nan_and_negative_infinity_in_both_float_widths() {
    let (path, problem) = err(&f64::NAN);
    assert_eq!(path, "$");
    assert!(matches!(problem, PayloadProblem::NonFiniteFloat(f) if f.is_nan()));
    assert_eq!(
        err(&vec![0.5f32, f32::NEG_INFINITY]),
        (
            "$[1]".to_owned(),
            PayloadProblem::NonFiniteFloat(f64::NEG_INFINITY)
        )
    );
    // f32 widens exactly, so it reads back as the same f32.
    assert_eq!(to_ipld(&0.1f32).unwrap(), Ipld::Float(f64::from(0.1f32)));
    assert_eq!(round_trip(&0.1f32), 0.1f32);
    assert_eq!(to_ipld(&-0.0f64).unwrap(), Ipld::Float(-0.0));
}

// ---- integers ----

#[test]
fn rejects_integers_beyond_u64_and_i64() {
    assert_eq!(
        err(&(u128::from(u64::MAX) + 1)),
        (
            "$".to_owned(),
            PayloadProblem::IntegerOutOfRange(WideInteger::from(u128::from(u64::MAX) + 1))
        )
    );
    assert_eq!(
        err(&u128::MAX),
        (
            "$".to_owned(),
            PayloadProblem::IntegerOutOfRange(WideInteger {
                negative: false,
                magnitude: u128::MAX
            })
        )
    );
    assert_eq!(
        err(&(i128::from(i64::MIN) - 1)),
        (
            "$".to_owned(),
            PayloadProblem::IntegerOutOfRange(WideInteger::from(i128::from(i64::MIN) - 1))
        )
    );
    assert_eq!(
        err(&i128::MIN),
        (
            "$".to_owned(),
            PayloadProblem::IntegerOutOfRange(WideInteger {
                negative: true,
                magnitude: 1 << 127
            })
        )
    );
    // An i128 above u64::MAX is out of range too, whatever its Rust type.
    assert_eq!(
        err(&(i128::from(u64::MAX) + 1)).1,
        PayloadProblem::IntegerOutOfRange(WideInteger::from(u128::from(u64::MAX) + 1))
    );
    assert_eq!(
        PayloadProblem::IntegerOutOfRange(WideInteger::from(i128::MIN)).to_string(),
        "is the integer -170141183460469231731687303715884105728, outside the i64/u64 range IPLD readers accept"
    );
}

#[test]
fn accepts_wide_integer_types_in_range_and_reads_them_back() {
    assert_eq!(to_ipld(&u64::MAX).unwrap(), int(u64::MAX.into()));
    assert_eq!(to_ipld(&i64::MIN).unwrap(), int(i64::MIN.into()));
    assert_eq!(
        to_ipld(&u128::from(u64::MAX)).unwrap(),
        int(u64::MAX.into())
    );
    assert_eq!(
        to_ipld(&i128::from(i64::MIN)).unwrap(),
        int(i64::MIN.into())
    );
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Wide {
        big: u128,
        small: i128,
    }
    let wide = Wide {
        big: u64::MAX.into(),
        small: i64::MIN.into(),
    };
    assert_eq!(round_trip(&wide), wide);
}

#[test]
fn reports_the_path_of_an_out_of_range_integer() {
    #[derive(Serialize)]
    struct Ledger {
        amounts: Vec<u128>,
    }
    let ledger = Ledger {
        amounts: vec![1, 2, u128::MAX],
    };
    assert_eq!(err(&ledger).0, "$.amounts[2]");
}

// ---- map keys ----

#[test]
fn rejects_non_string_keys_at_the_map() {
    let by_int: HashMap<u32, u32> = [(1, 2)].into();
    assert_eq!(err(&by_int), ("$".to_owned(), PayloadProblem::NonStringKey));

    #[derive(Serialize)]
    struct Table {
        rows: BTreeMap<bool, String>,
    }
    let table = Table {
        rows: [(true, "x".to_owned())].into(),
    };
    assert_eq!(
        err(&table),
        ("$.rows".to_owned(), PayloadProblem::NonStringKey)
    );

    let by_tuple: BTreeMap<(String, String), u8> = [(("a".into(), "b".into()), 1)].into();
    assert_eq!(err(&by_tuple).1, PayloadProblem::NonStringKey);
    let by_option: BTreeMap<Option<String>, u8> = [(Some("a".into()), 1)].into();
    assert_eq!(err(&by_option).1, PayloadProblem::NonStringKey);
    let by_cid: BTreeMap<Cid, u8> = [(sample_cid(), 1)].into();
    assert_eq!(err(&by_cid).1, PayloadProblem::NonStringKey);
    let by_float: Vec<(f64, u8)> = vec![(1.0, 1)];
    let as_map = AsMap(&by_float);
    assert_eq!(err(&as_map).1, PayloadProblem::NonStringKey);
}

/// Serializes pairs as a map, whatever their types.
struct AsMap<'a, K, V>(&'a [(K, V)]);

impl<K: Serialize, V: Serialize> Serialize for AsMap<'_, K, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

#[test]
fn accepts_keys_that_are_strings_on_the_wire_and_reads_them_back() {
    let by_char: BTreeMap<char, u8> = [('a', 1), ('é', 2)].into();
    assert_eq!(
        to_ipld(&by_char).unwrap(),
        map([("a", int(1)), ("é", int(2))])
    );
    assert_eq!(round_trip(&by_char), by_char);

    #[derive(Serialize, Deserialize, Debug, PartialEq, Eq, PartialOrd, Ord)]
    enum Currency {
        Eur,
        Usd,
    }
    let by_variant: BTreeMap<Currency, u64> = [(Currency::Eur, 5), (Currency::Usd, 7)].into();
    assert_eq!(
        to_ipld(&by_variant).unwrap(),
        map([("Eur", int(5)), ("Usd", int(7))])
    );
    assert_eq!(round_trip(&by_variant), by_variant);

    #[derive(Serialize, Deserialize, Debug, PartialEq, Eq, PartialOrd, Ord)]
    struct AccountId(String);
    let by_newtype: BTreeMap<AccountId, bool> = [(AccountId("acc-1".into()), true)].into();
    assert_eq!(
        to_ipld(&by_newtype).unwrap(),
        map([("acc-1", Ipld::Bool(true))])
    );
    assert_eq!(round_trip(&by_newtype), by_newtype);
}

#[test]
fn rejects_a_key_written_twice() {
    let pairs = [("a", 1), ("b", 2), ("a", 3)];
    #[derive(Serialize)]
    struct Holder<'a> {
        #[serde(serialize_with = "as_map")]
        m: &'a [(&'a str, i32)],
    }
    fn as_map<S: Serializer>(pairs: &&[(&str, i32)], s: S) -> Result<S::Ok, S::Error> {
        AsMap(pairs).serialize(s)
    }
    assert_eq!(
        err(&Holder { m: &pairs }),
        (
            "$.m".to_owned(),
            PayloadProblem::DuplicateKey("a".to_owned())
        )
    );
}

#[test]
fn quotes_map_keys_that_are_not_plain_in_paths() {
    let prices: BTreeMap<&str, f64> = [("EUR/USD", f64::NAN)].into();
    assert_eq!(err(&prices).0, r#"$["EUR/USD"]"#);
    let nested: BTreeMap<&str, BTreeMap<&str, f64>> =
        [("a b", [("x_1", f64::INFINITY)].into())].into();
    assert_eq!(err(&nested).0, r#"$["a b"].x_1"#);
    let empty: BTreeMap<&str, f64> = [("", f64::NAN)].into();
    assert_eq!(err(&empty).0, r#"$[""]"#);
}

// ---- bytes, unit, options ----

/// Serializes as serde bytes, as `serde_bytes` does.
#[derive(Debug, PartialEq)]
struct Blob(Vec<u8>);

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

#[test]
fn bytes_become_ipld_bytes_and_vec_u8_stays_a_list() {
    assert_eq!(
        to_ipld(&Blob(vec![0, 255])).unwrap(),
        Ipld::Bytes(vec![0, 255])
    );
    assert_eq!(
        to_ipld(&vec![0u8, 255]).unwrap(),
        Ipld::List(vec![int(0), int(255)])
    );
    let bytes: Ipld = from_ipld(Ipld::Bytes(vec![1, 2])).unwrap();
    assert_eq!(bytes, Ipld::Bytes(vec![1, 2]));
}

#[test]
fn unit_none_and_unit_structs_are_null_and_read_back() {
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Marker;
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Holder {
        unit: (),
        none: Option<u8>,
        some: Option<u8>,
        marker: Marker,
    }
    let holder = Holder {
        unit: (),
        none: None,
        some: Some(3),
        marker: Marker,
    };
    assert_eq!(
        to_ipld(&holder).unwrap(),
        map([
            ("unit", Ipld::Null),
            ("none", Ipld::Null),
            ("some", int(3)),
            ("marker", Ipld::Null),
        ])
    );
    assert_eq!(round_trip(&holder), holder);
}

// ---- enums ----

#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Shape {
    Empty,
    Wrapped(f64),
    Pair(u8, f64),
    Deposited { amount: u128, note: String },
}

#[test]
fn enums_take_serdes_externally_tagged_shape() {
    assert_eq!(to_ipld(&Shape::Empty).unwrap(), s("Empty"));
    assert_eq!(
        to_ipld(&Shape::Wrapped(1.5)).unwrap(),
        map([("Wrapped", Ipld::Float(1.5))])
    );
    assert_eq!(
        to_ipld(&Shape::Pair(1, 2.5)).unwrap(),
        map([("Pair", Ipld::List(vec![int(1), Ipld::Float(2.5)]))])
    );
    let deposited = Shape::Deposited {
        amount: 10,
        note: "hi".into(),
    };
    assert_eq!(
        to_ipld(&deposited).unwrap(),
        map([("Deposited", map([("amount", int(10)), ("note", s("hi"))]))])
    );
    for shape in [
        Shape::Empty,
        Shape::Wrapped(1.5),
        Shape::Pair(1, 2.5),
        deposited,
    ] {
        assert_eq!(round_trip(&shape), shape);
    }
}

#[test]
fn paths_go_through_enum_variants() {
    assert_eq!(err(&Shape::Wrapped(f64::NAN)).0, "$.Wrapped");
    assert_eq!(err(&Shape::Pair(1, f64::NAN)).0, "$.Pair[1]");
    let deposited = Shape::Deposited {
        amount: u128::MAX,
        note: String::new(),
    };
    assert_eq!(err(&deposited).0, "$.Deposited.amount");
}

// ---- CID links ----

#[test]
fn cids_become_links_and_read_back() {
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Caused {
        cause: Cid,
        maybe: Option<Cid>,
    }
    let caused = Caused {
        cause: sample_cid(),
        maybe: Some(sample_cid()),
    };
    assert_eq!(
        to_ipld(&caused).unwrap(),
        map([
            ("cause", Ipld::Link(sample_cid())),
            ("maybe", Ipld::Link(sample_cid()))
        ])
    );
    assert_eq!(round_trip(&caused), caused);
    // Plain bytes never pass for a link.
    let bytes = Ipld::Bytes(sample_cid().to_bytes());
    assert!(matches!(
        from_ipld::<Cid>(bytes).unwrap_err().problem,
        PayloadProblem::Mismatch(_)
    ));
}

#[test]
fn rejects_a_cid_newtype_that_holds_no_cid() {
    struct FakeCid;
    impl Serialize for FakeCid {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_newtype_struct(
                cid::serde::CID_SERDE_PRIVATE_IDENTIFIER,
                &Blob(vec![1, 2, 3]),
            )
        }
    }
    let (path, problem) = err(&vec![FakeCid]);
    assert_eq!(path, "$[0]");
    assert!(matches!(problem, PayloadProblem::Malformed(m) if m.starts_with("invalid CID")));
}

// ---- serde's own errors ----

#[test]
fn custom_serializer_errors_keep_their_path() {
    struct Refuses;
    impl Serialize for Refuses {
        fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("not today"))
        }
    }
    #[derive(Serialize)]
    struct Holder {
        x: Refuses,
    }
    assert_eq!(
        err(&Holder { x: Refuses }),
        (
            "$.x".to_owned(),
            PayloadProblem::Serde("not today".to_owned())
        )
    );
}

// ---- serde_json arbitrary_precision ----

/// Serializes exactly as serde_json's `Number` does with `arbitrary_precision` on
/// (serde_json 1.x `src/number.rs`: a struct and field both named the private token,
/// holding the number's text).
struct ArbitraryPrecision(&'static str);

impl Serialize for ArbitraryPrecision {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct(JSON_NUMBER_TOKEN, 1)?;
        st.serialize_field(JSON_NUMBER_TOKEN, self.0)?;
        st.end()
    }
}

#[test]
fn arbitrary_precision_numbers_become_plain_numbers() {
    let cases: [(&str, Ipld); 10] = [
        ("42", to_ipld(&42u64).unwrap()),
        ("-7", to_ipld(&-7i64).unwrap()),
        ("1.5", to_ipld(&1.5f64).unwrap()),
        ("1.0", Ipld::Float(1.0)),
        ("1e2", Ipld::Float(100.0)),
        ("18446744073709551615", int(u64::MAX.into())),
        ("-9223372036854775808", int(i64::MIN.into())),
        // Beyond u64 and i64, serde_json without the feature parses an f64.
        ("18446744073709551616", Ipld::Float(18446744073709551616.0)),
        ("-9223372036854775809", Ipld::Float(-9223372036854775809.0)),
        ("0.30000000000000004", Ipld::Float(0.1 + 0.2)),
    ];
    for (text, expected) in cases {
        assert_eq!(
            to_ipld(&ArbitraryPrecision(text)).unwrap(),
            expected,
            "{text}"
        );
    }
    // serde_json reads `-0` as the float -0.0.
    match to_ipld(&ArbitraryPrecision("-0")).unwrap() {
        Ipld::Float(f) => assert!(f == 0.0 && f.is_sign_negative()),
        other => panic!("-0 must be a float, got {other:?}"),
    }
}

#[test]
fn arbitrary_precision_numbers_are_checked_like_plain_ones() {
    #[derive(Serialize)]
    struct Holder {
        n: ArbitraryPrecision,
    }
    assert_eq!(
        err(&Holder {
            n: ArbitraryPrecision("1e999")
        }),
        (
            "$.n".to_owned(),
            PayloadProblem::NonFiniteFloat(f64::INFINITY)
        )
    );
    for text in ["+1", "01", "1.", ".5", "NaN", "inf", " 1", "1e", "--1", ""] {
        let (path, problem) = err(&ArbitraryPrecision(text));
        assert_eq!(path, "$");
        assert!(
            matches!(problem, PayloadProblem::Malformed(_)),
            "{text:?}: {problem:?}"
        );
    }
}

#[test]
fn a_struct_named_like_serde_json_number_must_have_its_shape() {
    struct Wrong;
    impl Serialize for Wrong {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut st = s.serialize_struct(JSON_NUMBER_TOKEN, 1)?;
            st.serialize_field("other", "1")?;
            st.end()
        }
    }
    assert!(matches!(err(&Wrong).1, PayloadProblem::Malformed(_)));
    struct RawValue;
    impl Serialize for RawValue {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut st = s.serialize_struct(JSON_RAW_VALUE_TOKEN, 1)?;
            st.serialize_field(JSON_RAW_VALUE_TOKEN, "[1]")?;
            st.end()
        }
    }
    assert!(matches!(err(&RawValue).1, PayloadProblem::Unsupported(_)));
}

// ---- agreement with ipld-core and serde_json ----

#[test]
fn matches_ipld_core_on_everything_both_accept() {
    #[derive(Serialize)]
    struct Everything {
        b: bool,
        i: i8,
        u: u64,
        f: f32,
        c: char,
        text: String,
        list: Vec<Option<i64>>,
        tuple: (u8, String),
        map: BTreeMap<String, Shape>,
        link: Cid,
        blob: Blob,
    }
    let everything = Everything {
        b: true,
        i: -5,
        u: u64::MAX,
        f: 2.5,
        c: 'x',
        text: "t".into(),
        list: vec![Some(i64::MIN), None],
        tuple: (1, "one".into()),
        map: [
            ("a".to_owned(), Shape::Pair(1, 2.0)),
            ("b".to_owned(), Shape::Empty),
        ]
        .into(),
        link: sample_cid(),
        blob: Blob(vec![9]),
    };
    assert_eq!(
        to_ipld(&everything).unwrap(),
        ipld_core::serde::to_ipld(&everything).unwrap()
    );
}

#[test]
fn serde_json_values_round_trip() {
    let value = serde_json::json!({
        "list": [1, -2, 1.5, null, true, "s", u64::MAX, i64::MIN],
        "nested": {"a b": {}},
    });
    let ipld = to_ipld(&value).unwrap();
    assert_eq!(from_ipld::<serde_json::Value>(ipld).unwrap(), value);
}

#[test]
fn ipld_values_pass_through_and_are_checked() {
    let ipld = map([
        ("link", Ipld::Link(sample_cid())),
        ("list", Ipld::List(vec![Ipld::Bytes(vec![1]), Ipld::Null])),
        ("f", Ipld::Float(0.5)),
    ]);
    assert_eq!(to_ipld(&ipld).unwrap(), ipld);
    assert_eq!(from_ipld::<Ipld>(ipld.clone()).unwrap(), ipld);
    let bad = map([("n", Ipld::List(vec![int(1), int(-(1 << 64))]))]);
    assert_eq!(err(&bad).0, "$.n[1]");
}

// ---- from_ipld ----

#[test]
fn from_ipld_names_the_path_of_a_mismatch() {
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Item {
        n: u8,
    }
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Order {
        items: Vec<Item>,
    }
    let ipld = map([(
        "items",
        Ipld::List(vec![map([("n", int(1))]), map([("n", int(300))])]),
    )]);
    let e = from_ipld::<Order>(ipld).unwrap_err();
    assert_eq!(e.path, "$.items[1].n");
    assert!(matches!(&e.problem, PayloadProblem::Mismatch(m) if m.contains("300")));

    let missing = from_ipld::<Order>(map([])).unwrap_err();
    assert_eq!(missing.path, "$");
    assert_eq!(
        missing.problem,
        PayloadProblem::Mismatch("missing field `items`".to_owned())
    );

    let wrong_variant = from_ipld::<Shape>(map([("Pair", s("x"))])).unwrap_err();
    assert_eq!(wrong_variant.path, "$.Pair");
}

#[test]
fn from_ipld_refuses_lossy_and_out_of_range_reads() {
    assert!(matches!(
        from_ipld::<f32>(Ipld::Float(0.1)).unwrap_err().problem,
        PayloadProblem::Mismatch(_)
    ));
    assert_eq!(from_ipld::<f32>(Ipld::Float(0.5)).unwrap(), 0.5);
    assert!(from_ipld::<u128>(int(-1)).is_err());
    assert!(from_ipld::<u8>(int(256)).is_err());
    assert!(from_ipld::<(u8, u8)>(Ipld::List(vec![int(1), int(2), int(3)])).is_err());
    assert_eq!(from_ipld::<i128>(int(-5)).unwrap(), -5);
}

// ---- normalize ----

#[test]
fn normalize_checks_in_memory_ipld_with_paths() {
    let bad = map([("a", Ipld::List(vec![Ipld::Float(f64::NAN)]))]);
    let e = normalize(bad, &mut String::from("$")).unwrap_err();
    assert_eq!(e.path, "$.a[0]");
    let json_number = map([(JSON_NUMBER_TOKEN, s("-0"))]);
    assert!(matches!(
        normalize(json_number, &mut String::from("$")).unwrap(),
        Ipld::Float(f) if f.is_sign_negative()
    ));
    let out_of_range = Ipld::List(vec![int(i128::from(u64::MAX) + 1)]);
    assert_eq!(
        normalize(out_of_range, &mut String::from("$"))
            .unwrap_err()
            .path,
        "$[0]"
    );
}
