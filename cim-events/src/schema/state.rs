//! The shape of an aggregate's state, read from its `Deserialize` impl at run time (the
//! `#[aggregate]` macro sees the impl block, not the struct), so a snapshot can say which
//! shape wrote it and the lock can catch a state changed without a version bump.

use serde::de::DeserializeOwned;

use super::shape::{Escape, Fingerprint, canonical, escape};
use super::trace::{self, Format};
use crate::aggregate::Aggregate;

/// The name a state that is not a struct is listed under, as its one field.
pub const WHOLE_STATE: &str = ".";

/// The shape of an aggregate's state at one [`STATE_VERSION`](Aggregate::STATE_VERSION):
/// its fields as serde reads them, each with its serde data-model type.
///
/// Types are written in serde's data model, not in Rust: `u64`, `bool`, `str`, `bytes`,
/// `unit`, `option<T>`, `seq<T>`, `map<K,V>`, `(A,B)` for tuples, `Name{a:T,b:U}` for
/// structs, `Name(T)` for newtype and tuple structs, `enum Name{A,B(T),C{x:T}}` for enums
/// (every variant is traced), `@Name` for a type inside itself, `any` for a type that
/// decides by what it finds (`deserialize_any`), `?` for a part that could not be traced
/// because the type rejected a sample value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateShape {
    /// The aggregate type.
    pub aggregate_type: &'static str,
    /// The version the aggregate declares (`#[aggregate(state = N)]`).
    pub version: u32,
    /// The state's fields in the order serde lists them; a state that is not a struct
    /// has one field, named `.`.
    pub fields: Vec<StateField>,
}

/// One field of a state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateField {
    /// The name serde reads it under.
    pub name: String,
    /// Its serde data-model type (see [`StateShape`]).
    pub ty: String,
}

impl StateShape {
    /// The canonical text: `state {aggregate} version {n}`, then `field {name}: {type}`
    /// per field, sorted by name.
    pub fn canonical(&self) -> String {
        canonical(
            &state_header(self.aggregate_type, self.version),
            self.fields.iter().map(|f| (f.name.as_str(), f.ty.as_str())),
        )
    }

    /// SHA-256 of [`canonical`](StateShape::canonical). A snapshot records it with the
    /// version, so a snapshot of another shape is rebuilt from events, not misread.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.canonical())
    }
}

/// `state {aggregate} version {n}`, the name escaped.
pub(crate) fn state_header(aggregate_type: &str, version: u32) -> String {
    format!(
        "state {} version {version}",
        escape(aggregate_type, Escape::Token)
    )
}

/// The shape of `A`'s state, traced from its `Deserialize` impl with sample values.
/// Deterministic; never fails: what a custom `Deserialize` rejects is recorded as `?`,
/// and the field names are always known.
///
/// ```
/// use cim_events::schema::state_shape;
/// # use cim_events::{Aggregate, Event};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Event, Serialize, Deserialize, Clone, Debug)]
/// # #[event(aggregate = "Account")]
/// # enum AccountEvent { Opened { #[event(id)] account_id: String } }
///
/// #[derive(Default, Deserialize)]
/// struct Account {
///     owner: Option<String>,
///     balance: u64,
/// }
///
/// #[cim_events::aggregate(events = AccountEvent, state = 2)]
/// impl Account {
///     #[apply(Opened)]
///     fn opened(&mut self) {}
/// }
///
/// let shape = state_shape::<Account>();
/// assert_eq!(shape.version, 2);
/// assert_eq!(
///     shape.canonical(),
///     "state Account version 2\nfield balance: u64\nfield owner: option<str>\n"
/// );
/// ```
pub fn state_shape<A: Aggregate + DeserializeOwned>() -> StateShape {
    let traced = trace::trace::<A>();
    let fields = match &traced.root {
        Format::Struct(_, fields) => fields
            .iter()
            .map(|(name, format)| StateField {
                name: (*name).to_owned(),
                ty: traced.render(format),
            })
            .collect(),
        other => vec![StateField {
            name: WHOLE_STATE.to_owned(),
            ty: traced.render(other),
        }],
    };
    StateShape {
        aggregate_type: A::AGGREGATE_TYPE,
        version: A::STATE_VERSION,
        fields,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use serde::{Deserialize, Deserializer};

    use super::*;

    /// The traced type of each field of `T`, `name: type`, as `state_shape` lists them.
    fn traced<T: DeserializeOwned>() -> Vec<String> {
        let traced = trace::trace::<T>();
        match &traced.root {
            Format::Struct(_, fields) => fields
                .iter()
                .map(|(n, f)| format!("{n}: {}", traced.render(f)))
                .collect(),
            other => vec![format!(". : {}", traced.render(other))],
        }
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Address {
        city: String,
        zip: u32,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    enum Status {
        Active,
        Frozen(String),
        Closed { at: u64, reason: Option<String> },
        Pair(u8, bool),
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Meters(f64);

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Point(i32, i32);

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Common {
        owner: Option<String>,
        notes: Vec<String>,
        by_id: HashMap<String, u64>,
        sorted: BTreeMap<u32, Vec<u8>>,
        address: Address,
        maybe_address: Option<Address>,
        status: Status,
        distance: Meters,
        at: Point,
        pair: (u8, String),
        #[serde(default)]
        defaulted: i64,
        #[serde(rename = "renamed")]
        original: bool,
        #[serde(skip)]
        cached: u64,
        big: u128,
        letter: char,
        #[serde(with = "bytes_as_seq")]
        blob: Vec<u8>,
        nothing: (),
    }

    mod bytes_as_seq {
        pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
            serde::Deserialize::deserialize(d)
        }
    }

    #[test]
    fn common_types() {
        assert_eq!(
            traced::<Common>(),
            [
                "owner: option<str>",
                "notes: seq<str>",
                "by_id: map<str,u64>",
                "sorted: map<u32,seq<u8>>",
                "address: Address{city:str,zip:u32}",
                "maybe_address: option<Address{city:str,zip:u32}>",
                "status: enum Status{Active,Frozen(str),Closed{at:u64,reason:option<str>},Pair(u8,bool)}",
                "distance: Meters(f64)",
                "at: Point(i32,i32)",
                "pair: (u8,str)",
                "defaulted: i64",
                "renamed: bool",
                "big: u128",
                "letter: char",
                "blob: seq<u8>",
                "nothing: unit",
            ]
        );
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Tree {
        label: String,
        children: Vec<Tree>,
        parent: Option<Box<Tree>>,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    enum Expr {
        Lit(u64),
        Add(Box<Expr>, Box<Expr>),
        Neg(Box<Expr>),
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Recursive {
        tree: Tree,
        expr: Expr,
    }

    #[test]
    fn types_inside_themselves_are_cut_at_a_container() {
        assert_eq!(
            traced::<Recursive>(),
            [
                "tree: Tree{label:str,children:seq<@Tree>,parent:option<@Tree>}",
                "expr: enum Expr{Lit(u64),Add(@Expr,@Expr),Neg(@Expr)}",
            ]
        );
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    enum Outer {
        Plain,
        Holds(Inner),
        Also { inner: Option<Inner> },
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    enum Inner {
        First,
        Second(u8),
        Third { x: String },
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Nested {
        outer: Outer,
    }

    #[test]
    fn enums_inside_variants_are_explored_too() {
        assert_eq!(
            traced::<Nested>(),
            [
                "outer: enum Outer{Plain,Holds(enum Inner{First,Second(u8),Third{x:str}}),Also{inner:option<enum Inner{First,Second(u8),Third{x:str}}>}}"
            ]
        );
    }

    /// Rejects the sample: an email needs an `@`.
    #[allow(dead_code)]
    struct Email(String);

    impl<'de> Deserialize<'de> for Email {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let text = String::deserialize(d)?;
            if text.contains('@') {
                Ok(Email(text))
            } else {
                Err(serde::de::Error::custom("not an email"))
            }
        }
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Customer {
        name: String,
        email: Email,
        address: Address,
        tags: Vec<String>,
    }

    #[test]
    fn a_rejected_sample_keeps_what_is_known() {
        let first = traced::<Customer>();
        assert_eq!(first, ["name: str", "email: str", "address: ?", "tags: ?"]);
        assert_eq!(traced::<Customer>(), first, "deterministic");
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Aliased {
        #[serde(alias = "holder")]
        owner: String,
        balance: u64,
    }

    #[derive(Deserialize)]
    #[serde(default)]
    #[allow(dead_code)]
    #[derive(Default)]
    struct Defaults {
        a: u8,
        b: Option<u8>,
    }

    #[test]
    fn aliases_and_container_defaults() {
        // serde lists a field's names sorted; the first one accepted stands for it.
        assert_eq!(traced::<Aliased>(), ["holder: str", "balance: u64"]);
        assert_eq!(traced::<Defaults>(), ["a: u8", "b: option<u8>"]);
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    #[serde(tag = "kind")]
    enum Tagged {
        A { x: u8 },
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct SelfDescribing {
        first: u8,
        tagged: Tagged,
        last: u8,
    }

    #[test]
    fn self_describing_types_are_any() {
        assert_eq!(
            traced::<SelfDescribing>(),
            ["first: u8", "tagged: any", "last: ?"]
        );
        assert_eq!(traced::<u64>(), [". : u64"]);
        assert_eq!(traced::<Point>(), [". : Point(i32,i32)"]);
    }
}
