//! The block writer against the generic encoder it replaced: byte for byte, over fixed
//! edge cases and many generated payloads.

use std::collections::BTreeMap;

use cid::Cid;
use ipld_core::ipld::Ipld;

use super::tests::block_with;
use super::*;
use crate::payload::{MAX_DEPTH, PayloadProblem, WideInteger};

/// What the crate wrote before the block writer: the reference for every byte.
fn reference(block: &EventBlock) -> Vec<u8> {
    serde_ipld_dagcbor::to_vec(&block.to_ipld()).expect("the reference encoder accepts it")
}

fn map(entries: &[(&str, Ipld)]) -> Ipld {
    Ipld::Map(
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    )
}

/// A CIDv0 link: DAG-CBOR links may hold one, and it is written without a version prefix.
fn cid_v0() -> Cid {
    let digest = [7u8; 32];
    let hash = cid::multihash::Multihash::<64>::wrap(SHA2_256, &digest).expect("fits");
    Cid::new_v0(hash).expect("sha2-256 of 32 bytes")
}

#[test]
fn fixed_edge_cases_encode_exactly_as_the_generic_encoder() {
    let cases = [
        Ipld::Null,
        Ipld::Bool(true),
        Ipld::Integer(0),
        Ipld::Integer(23),
        Ipld::Integer(24),
        Ipld::Integer(255),
        Ipld::Integer(256),
        Ipld::Integer(65_535),
        Ipld::Integer(65_536),
        Ipld::Integer(u32::MAX.into()),
        Ipld::Integer(i128::from(u32::MAX) + 1),
        Ipld::Integer(u64::MAX.into()),
        Ipld::Integer(-1),
        Ipld::Integer(-24),
        Ipld::Integer(-25),
        Ipld::Integer(-257),
        Ipld::Integer(i64::MIN.into()),
        Ipld::Float(0.0),
        Ipld::Float(-0.0),
        Ipld::Float(1.5),
        Ipld::Float(f64::MAX),
        Ipld::Float(f64::MIN_POSITIVE),
        Ipld::String(String::new()),
        Ipld::String("x".repeat(24)),
        Ipld::String("é".repeat(200)),
        Ipld::Bytes(vec![]),
        Ipld::Bytes(vec![0xab; 300]),
        Ipld::List(vec![]),
        Ipld::Map(BTreeMap::new()),
        Ipld::Link(cid_of(b"x")),
        Ipld::Link(cid_v0()),
        // Keys whose bytewise and canonical orders differ; unicode keys sort by bytes.
        map(&[
            ("bb", Ipld::Integer(1)),
            ("a", Ipld::Integer(2)),
            ("ccc", Ipld::Integer(3)),
            ("é", Ipld::Integer(4)),
            ("z", Ipld::Integer(5)),
            ("", Ipld::Null),
            ("日本", Ipld::Null),
        ]),
        Ipld::List((0..30).map(Ipld::Integer).collect()),
        // Larger than the maps ordered without allocating.
        Ipld::Map(
            (0..40)
                .map(|i| {
                    (
                        "k".repeat(40 - i) + &i.to_string(),
                        Ipld::Integer(i as i128),
                    )
                })
                .collect(),
        ),
    ];
    for payload in cases {
        let block = block_with(payload.clone());
        let bytes = block.encode().expect("encode");
        assert_eq!(bytes, reference(&block), "{payload:?}");
        // Read back as the same block (-0.0 == 0.0, the value it is written as).
        assert_eq!(EventBlock::decode(&bytes), Ok(block), "{payload:?}");
    }
}

#[test]
fn envelope_variants_encode_exactly_as_the_generic_encoder() {
    let mut genesis = block_with(Ipld::Null);
    genesis.seq = 1;
    genesis.prev = None;
    genesis.causation_id = None;
    genesis.meta.clear();
    let mut big = block_with(Ipld::Null);
    big.seq = u64::MAX;
    big.time = u64::MAX;
    big.schema = u32::MAX;
    big.aggregate_type = "A".repeat(300);
    big.meta = (0..40)
        .map(|i| ("k".repeat(i % 7 + 1) + &i.to_string(), "v".repeat(i)))
        .collect();
    for block in [genesis, big] {
        assert_eq!(block.encode(), Ok(reference(&block)));
    }
}

/// xorshift64*: a fixed, dependency-free source of varied payloads.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn string(&mut self) -> String {
        const PIECES: [&str; 8] = ["a", "b", "z", "é", "日", "_", "0", "key"];
        let len = match self.below(4) {
            0 => 0,
            1 => 1,
            2 => self.below(6),
            _ => self.below(40),
        };
        (0..len)
            .map(|_| PIECES[self.below(PIECES.len() as u64) as usize])
            .collect()
    }

    fn integer(&mut self) -> i128 {
        match self.below(8) {
            0 => i128::from(i64::MIN),
            1 => i128::from(u64::MAX),
            2 => -(i128::from(self.below(1 << 20))) - 1,
            3 => i128::from(self.next() as i64),
            4 => i128::from(self.next()),
            // Around every boundary of the head's width.
            _ => {
                let edge = [23i128, 24, 255, 256, 65_535, 65_536, 1 << 32][self.below(7) as usize];
                let value = edge + i128::from(self.below(3)) - 1;
                if self.below(2) == 0 { value } else { -value }
            }
        }
    }

    fn value(&mut self, depth: usize) -> Ipld {
        let kinds = if depth >= 6 { 8 } else { 10 };
        match self.below(kinds) {
            0 => Ipld::Null,
            1 => Ipld::Bool(self.below(2) == 0),
            2 => Ipld::Integer(self.integer()),
            3 => {
                let f = f64::from_bits(self.next());
                Ipld::Float(if f.is_finite() { f } else { -1.25 })
            }
            4 => Ipld::String(self.string()),
            5 => Ipld::Bytes((0..self.below(40)).map(|_| self.next() as u8).collect()),
            6 => Ipld::Link(cid_of(&self.next().to_le_bytes())),
            7 => Ipld::Integer(i128::from(self.below(30))),
            8 => Ipld::List((0..self.below(6)).map(|_| self.value(depth + 1)).collect()),
            _ => Ipld::Map(
                (0..self.below(12))
                    .map(|_| (self.string(), self.value(depth + 1)))
                    .collect(),
            ),
        }
    }
}

#[test]
fn generated_payloads_encode_exactly_as_the_generic_encoder() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..2000 {
        let mut block = block_with(rng.value(0));
        if round % 3 == 0 {
            block.meta = (0..rng.below(6))
                .map(|_| (rng.string(), rng.string()))
                .collect();
            block.prev = None;
            block.causation_id = None;
        }
        let bytes = block
            .encode()
            .expect("a generated payload is within the limits");
        assert_eq!(
            bytes,
            reference(&block),
            "round {round}: {:?}",
            block.payload
        );
        // And what is written is read back as the same block.
        assert_eq!(EventBlock::decode(&bytes), Ok(block), "round {round}");
    }
}

#[test]
fn values_readers_refuse_are_refused_with_their_path() {
    let below = i128::from(i64::MIN) - 1;
    let cases = [
        (
            map(&[("n", Ipld::Integer(below))]),
            "$.n",
            PayloadProblem::IntegerOutOfRange(WideInteger::from(below)),
        ),
        (
            Ipld::List(vec![Ipld::Null, Ipld::Integer(i128::from(u64::MAX) + 1)]),
            "$[1]",
            PayloadProblem::IntegerOutOfRange(WideInteger::from(i128::from(u64::MAX) + 1)),
        ),
        (
            map(&[("a b", Ipld::List(vec![Ipld::Float(f64::INFINITY)]))]),
            "$[\"a b\"][0]",
            PayloadProblem::NonFiniteFloat(f64::INFINITY),
        ),
    ];
    for (payload, path, problem) in cases {
        let err = block_with(payload).encode().expect_err(path);
        assert_eq!((err.path.as_str(), err.problem), (path, problem));
    }
    let nan = block_with(Ipld::Float(f64::NAN)).encode().expect_err("NaN");
    assert!(matches!(nan.problem, PayloadProblem::NonFiniteFloat(f) if f.is_nan()));
}

/// `depth` lists, one inside the other, around `1`.
fn nested_lists(depth: usize) -> Ipld {
    (0..depth).fold(Ipld::Integer(1), |inner, _| Ipld::List(vec![inner]))
}

#[test]
fn nesting_is_bounded_by_max_depth() {
    let deepest = block_with(nested_lists(MAX_DEPTH));
    let bytes = deepest.encode().expect("MAX_DEPTH is allowed");
    assert_eq!(bytes, reference(&deepest));
    // Both decoding paths read it back: the limit leaves room for serde_ipld_dagcbor's.
    assert_eq!(EventBlock::decode(&bytes), Ok(deepest.clone()));
    assert_eq!(EventBlock::decode_strict(&bytes), Ok(deepest));

    let err = block_with(nested_lists(MAX_DEPTH + 1))
        .encode()
        .expect_err("one level too many");
    assert_eq!(err.problem, PayloadProblem::TooDeep { max: MAX_DEPTH });
    // The list that is too deep: inside MAX_DEPTH lists, each at index 0.
    assert_eq!(err.path, format!("${}", "[0]".repeat(MAX_DEPTH)));
}

#[test]
fn encode_ipld_writes_any_value_as_the_generic_encoder() {
    let mut rng = Rng(42);
    for _ in 0..300 {
        let value = rng.value(0);
        assert_eq!(
            encode_ipld(&value),
            Ok(serde_ipld_dagcbor::to_vec(&value).expect("reference"))
        );
    }
}
