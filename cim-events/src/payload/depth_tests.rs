//! Nesting depth (defects 6 and 7): the deepest payload accepted on write reads back, one
//! level more is a typed error, and values far too deep are refused before the recursion
//! in the user's `Serialize` impl (or ours) can overflow the stack.

use std::collections::BTreeMap;

use ipld_core::ipld::Ipld;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::*;
use crate::block::{BLOCK_MAX_DEPTH, CanonicalProblem, DecodeError, EventBlock, cid_of};

/// `depth` JSON arrays, alternating with objects, around `1`, built without recursion.
fn nested_json(depth: usize) -> Value {
    let mut value = json!(1);
    for level in 0..depth {
        // Not `json!`: it would copy `value` by serializing it, recursively.
        value = if level % 2 == 0 {
            Value::Array(vec![value])
        } else {
            Value::Object(serde_json::Map::from_iter([("k".to_owned(), value)]))
        };
    }
    value
}

/// The nesting depth of an IPLD value, as [`MAX_DEPTH`] counts it.
fn depth(value: &Ipld) -> usize {
    match value {
        Ipld::List(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Ipld::Map(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn block_with(payload: Ipld) -> EventBlock {
    EventBlock {
        aggregate_type: "Doc".into(),
        aggregate_id: "doc-1".into(),
        seq: 1,
        event_type: "Nested".into(),
        schema: 1,
        id: "0190b6a0-0000-7000-8000-000000000001".into(),
        time: 1,
        correlation_id: "corr".into(),
        causation_id: None,
        prev: None,
        payload,
        meta: BTreeMap::new(),
    }
}

/// Runs `test` on a thread with the 2 MiB stack of a default thread or tokio worker, so a
/// recursion that is not cut off fails the test (by aborting) instead of passing on a
/// large main-thread stack.
fn on_small_stack(test: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(test)
        .expect("spawn")
        .join()
        .expect("the test thread");
}

#[test]
fn max_depth_round_trips_through_a_block() {
    on_small_stack(|| {
        let value = nested_json(MAX_DEPTH);
        let ipld = to_ipld(&value).expect("MAX_DEPTH is accepted");
        assert_eq!(depth(&ipld), MAX_DEPTH);
        let bytes = block_with(ipld).encode().expect("encode");
        let block = EventBlock::decode(&bytes).expect("what was written is read back");
        let back: Value = from_ipld(block.payload).expect("from_ipld");
        assert_eq!(back, value);
    });
}

#[test]
fn one_level_more_is_too_deep_with_its_path() {
    let err = to_ipld(&nested_json(MAX_DEPTH + 1)).expect_err("too deep");
    assert_eq!(err.problem, PayloadProblem::TooDeep { max: MAX_DEPTH });
    // The path leads through the MAX_DEPTH outer levels to the innermost array. Level `l`
    // (counted from the inside, from 0) is an array when `l` is even; the outermost was
    // built last.
    let expected: String = (0..MAX_DEPTH)
        .map(|i| {
            if (MAX_DEPTH - i) % 2 == 0 {
                "[0]"
            } else {
                ".k"
            }
        })
        .collect();
    assert_eq!(err.path, format!("${expected}"));
}

#[test]
fn normalize_and_from_ipld_apply_the_same_limit() {
    let deepest = to_ipld(&nested_json(MAX_DEPTH)).expect("accepted");
    let too_deep = Ipld::List(vec![deepest.clone()]);
    assert_eq!(
        normalize(deepest.clone(), &mut "$".to_owned()),
        Ok(deepest.clone())
    );
    let err = normalize(too_deep.clone(), &mut "$".to_owned()).expect_err("too deep");
    assert_eq!(err.problem, PayloadProblem::TooDeep { max: MAX_DEPTH });
    assert!(from_ipld::<Value>(deepest).is_ok());
    let err = from_ipld::<Value>(too_deep).expect_err("too deep");
    assert_eq!(err.problem, PayloadProblem::TooDeep { max: MAX_DEPTH });
}

/// Recursive types: every shape of enum variant counts as the levels it is stored as.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Tree {
    Leaf,
    /// `{"Node": child}`: one level.
    Node(Box<Tree>),
    /// `{"Pair": [child, n]}`: two levels.
    Pair(Box<Tree>, u8),
    /// `{"Rec": {"child": child}}`: two levels.
    Rec {
        child: Box<Tree>,
    },
    /// A struct around an `Option`: `{"Wrap": {"inner": child}}`, two levels.
    Wrap(Holder),
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Holder {
    inner: Option<Box<Tree>>,
}

fn tree(shapes: &[u8]) -> Tree {
    shapes
        .iter()
        .fold(Tree::Leaf, |child, shape| match shape % 4 {
            0 => Tree::Node(Box::new(child)),
            1 => Tree::Pair(Box::new(child), 7),
            2 => Tree::Rec {
                child: Box::new(child),
            },
            _ => Tree::Wrap(Holder {
                inner: Some(Box::new(child)),
            }),
        })
}

#[test]
fn variants_count_the_levels_they_are_stored_as() {
    for seed in 0u8..8 {
        let shapes: Vec<u8> = (0..80u8).map(|i| i.wrapping_mul(seed) ^ seed).collect();
        for len in 30..shapes.len() {
            let value = tree(&shapes[..len]);
            match to_ipld(&value) {
                Ok(ipld) => {
                    assert!(depth(&ipld) <= MAX_DEPTH);
                    let bytes = block_with(ipld.clone()).encode().expect("encode");
                    let read = EventBlock::decode(&bytes).expect("decode").payload;
                    assert_eq!(from_ipld::<Tree>(read).as_ref(), Ok(&value));
                }
                Err(err) => {
                    assert_eq!(err.problem, PayloadProblem::TooDeep { max: MAX_DEPTH });
                    // The same value as plain IPLD (through the generic serializer) is
                    // indeed deeper than the limit.
                    let generic = ipld_core::serde::to_ipld(&value).expect("generic");
                    assert!(
                        depth(&generic) > MAX_DEPTH,
                        "refused at {}",
                        depth(&generic)
                    );
                }
            }
        }
    }
}

#[test]
fn a_json_value_100_000_levels_deep_is_refused_not_a_stack_overflow() {
    on_small_stack(|| {
        let value = nested_json(100_000);
        let err = to_ipld(&value).expect_err("far too deep");
        assert_eq!(err.problem, PayloadProblem::TooDeep { max: MAX_DEPTH });
        // serde_json's `Value` drops recursively, which this stack could not survive; the
        // test leaks it instead.
        std::mem::forget(value);
    });
}

/// A chain of `Some`s adds no IPLD level but recurses all the same.
#[derive(Serialize)]
struct Chain(Option<Box<Chain>>);

#[test]
fn a_chain_of_wrappers_is_refused_not_a_stack_overflow() {
    on_small_stack(|| {
        let chain = (0..100_000).fold(Chain(None), |inner, _| Chain(Some(Box::new(inner))));
        let err = to_ipld(&chain).expect_err("far too deep");
        assert_eq!(err.problem, PayloadProblem::TooDeep { max: MAX_WRAPPERS });
        assert_eq!(err.path, "$");
        std::mem::forget(chain);
    });
    // A short chain is fine: it is the value inside.
    let short = (0..10).fold(Chain(None), |inner, _| Chain(Some(Box::new(inner))));
    assert_eq!(to_ipld(&short), Ok(Ipld::Null));
}

#[test]
fn cbor_100_000_levels_deep_is_refused_by_decode_not_a_stack_overflow() {
    on_small_stack(|| {
        // A bare list of lists.
        let mut deep = vec![0x81; 100_000];
        deep.push(0x01);
        assert_eq!(
            EventBlock::decode(&deep),
            Err(DecodeError::NotCanonical {
                offset: BLOCK_MAX_DEPTH,
                problem: CanonicalProblem::TooDeep {
                    max: BLOCK_MAX_DEPTH
                },
            })
        );
        // The same inside a real block's payload: refused at the first list too deep.
        let mut block = block_with(Ipld::Null);
        block.prev = Some(cid_of(b"parent"));
        block.seq = 2;
        let bytes = block.encode().expect("encode");
        let at = bytes
            .windows(8)
            .position(|w| w == b"payload\xf6")
            .expect("payload key")
            + 7;
        let mut spliced = bytes[..at].to_vec();
        spliced.extend_from_slice(&deep);
        spliced.extend_from_slice(&bytes[at + 1..]);
        assert_eq!(
            EventBlock::decode(&spliced),
            Err(DecodeError::NotCanonical {
                offset: at + MAX_DEPTH,
                problem: CanonicalProblem::TooDeep {
                    max: BLOCK_MAX_DEPTH
                },
            })
        );
    });
}

/// A type that wraps itself: on a value that is not null, serde would recurse forever.
#[derive(Deserialize, Debug)]
struct Loop(#[allow(dead_code)] Option<Box<Loop>>);

#[test]
fn a_type_that_wraps_itself_is_refused_on_read_not_a_stack_overflow() {
    on_small_stack(|| {
        let err = from_ipld::<Loop>(Ipld::Integer(1)).expect_err("no end");
        assert_eq!(err.problem, PayloadProblem::TooDeep { max: MAX_WRAPPERS });
        // Null ends it at once.
        assert!(matches!(from_ipld::<Loop>(Ipld::Null), Ok(Loop(None))));
    });
}
