//! A `Deserializer` that learns a type's serde shape by walking its `Deserialize` impl
//! with sample values (in the spirit of serde-reflection): the state type of an aggregate
//! is only visible to `#[aggregate]` as a name, so its shape is read at run time.
//!
//! Each `deserialize_*` call records what it was asked for ([`Format`]) and answers with a
//! sample: `0`, `""`, `Some` of a sample (to reach the inner type), one-element sequences
//! and maps, the field names `deserialize_struct` hands over. Several passes refine it:
//! each enum is walked once per variant; a type that contains itself is cut at the
//! nearest `Option`, sequence or map, which the next pass leaves empty; a key the type
//! rejects (a second name of one field, `#[serde(alias)]`) is left out next time. When a
//! custom `Deserialize` rejects a sample, what was learned so far stands, unknown parts
//! are `?`: the result is deterministic, never a failure.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

/// More passes than any real type needs: each pass must learn something to continue.
const MAX_PASSES: usize = 256;

/// What one value's `Deserialize` asked for: the serde data model, with names.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Format {
    /// Not reached: a sample was rejected before it.
    Unknown,
    /// `deserialize_any`: the type decides by what it finds (self-describing).
    Any,
    /// `bool`, `u64`, `str`, `bytes`, `unit`, …
    Primitive(&'static str),
    Option(Box<Format>),
    Seq(Box<Format>),
    Map(Box<Format>, Box<Format>),
    Tuple(Vec<Format>),
    UnitStruct(&'static str),
    Newtype(&'static str, Box<Format>),
    TupleStruct(&'static str, Vec<Format>),
    Struct(&'static str, Vec<(&'static str, Format)>),
    /// An enum, described by the variants every pass found ([`Traced::enums`]).
    Enum(&'static str),
    /// A struct or enum inside itself.
    Recursive(&'static str),
}

/// The content of one enum variant.
#[derive(Debug, Clone, PartialEq)]
enum VariantFormat {
    Unit,
    Newtype(Format),
    Tuple(Vec<Format>),
    Struct(Vec<(&'static str, Format)>),
}

impl VariantFormat {
    /// How much of it is [`Format::Unknown`], to keep the most complete trace.
    fn unknowns(&self) -> usize {
        match self {
            VariantFormat::Unit => 0,
            VariantFormat::Newtype(f) => f.unknowns(),
            VariantFormat::Tuple(fs) => fs.iter().map(Format::unknowns).sum(),
            VariantFormat::Struct(fs) => fs.iter().map(|(_, f)| f.unknowns()).sum(),
        }
    }
}

impl Format {
    fn unknowns(&self) -> usize {
        match self {
            Format::Unknown => 1,
            Format::Option(f) | Format::Seq(f) | Format::Newtype(_, f) => f.unknowns(),
            Format::Map(k, v) => k.unknowns() + v.unknowns(),
            Format::Tuple(fs) | Format::TupleStruct(_, fs) => fs.iter().map(Format::unknowns).sum(),
            Format::Struct(_, fs) => fs.iter().map(|(_, f)| f.unknowns()).sum(),
            _ => 0,
        }
    }
}

/// What a trace found: the root value's format and every enum's variants.
#[derive(Debug)]
pub(crate) struct Traced {
    pub root: Format,
    enums: BTreeMap<&'static str, EnumTrace>,
}

#[derive(Debug)]
struct EnumTrace {
    variants: &'static [&'static str],
    formats: Vec<Option<VariantFormat>>,
    /// A variant that deserialized without error: the one to take inside itself.
    terminating: Option<usize>,
}

impl EnumTrace {
    fn unexplored(&self) -> usize {
        self.formats.iter().filter(|f| f.is_none()).count()
    }
}

/// Traces `T`'s `Deserialize` impl.
pub(crate) fn trace<T: de::DeserializeOwned>() -> Traced {
    let mut tracer = Tracer::default();
    let mut complete = None;
    let mut partial = Format::Unknown;
    for _ in 0..MAX_PASSES {
        let explored_before = tracer.explored();
        tracer.start_pass();
        let result = T::deserialize(TraceDe { t: &mut tracer });
        let root = tracer.last.take().unwrap_or(Format::Unknown);
        match result {
            Ok(_) => complete = Some(root),
            Err(_) => partial = root,
        }
        let progress = tracer.learned || tracer.explored() > explored_before;
        if !progress || tracer.unexplored() == 0 && !tracer.learned {
            break;
        }
    }
    Traced {
        root: complete.unwrap_or(partial),
        enums: tracer.enums,
    }
}

impl Traced {
    /// `format` as text: no whitespace, `name:type` pairs, `?` for what was not reached.
    pub fn render(&self, format: &Format) -> String {
        let mut out = String::new();
        self.write(&mut out, format, &mut Vec::new());
        out
    }

    fn write(&self, out: &mut String, format: &Format, open: &mut Vec<&'static str>) {
        match format {
            Format::Unknown => out.push('?'),
            Format::Any => out.push_str("any"),
            Format::Primitive(name) | Format::UnitStruct(name) => out.push_str(name),
            Format::Option(inner) => self.wrapped(out, "option", &[inner], open),
            Format::Seq(inner) => self.wrapped(out, "seq", &[inner], open),
            Format::Map(k, v) => self.wrapped(out, "map", &[k, v], open),
            Format::Tuple(items) => self.tuple(out, items, open),
            Format::Newtype(name, inner) => {
                out.push_str(name);
                self.tuple(out, std::slice::from_ref(&**inner), open);
            }
            Format::TupleStruct(name, items) => {
                out.push_str(name);
                self.tuple(out, items, open);
            }
            Format::Struct(name, fields) => {
                out.push_str(name);
                self.fields(out, fields, open);
            }
            Format::Recursive(name) => {
                out.push('@');
                out.push_str(name);
            }
            Format::Enum(name) => {
                let Some(trace) = self.enums.get(name).filter(|_| !open.contains(name)) else {
                    out.push('@');
                    out.push_str(name);
                    return;
                };
                out.push_str("enum ");
                out.push_str(name);
                out.push('{');
                open.push(name);
                for (i, (variant, format)) in trace.variants.iter().zip(&trace.formats).enumerate()
                {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(variant);
                    match format {
                        None => out.push('?'),
                        Some(VariantFormat::Unit) => {}
                        Some(VariantFormat::Newtype(inner)) => {
                            self.tuple(out, std::slice::from_ref(inner), open);
                        }
                        Some(VariantFormat::Tuple(items)) => self.tuple(out, items, open),
                        Some(VariantFormat::Struct(fields)) => self.fields(out, fields, open),
                    }
                }
                open.pop();
                out.push('}');
            }
        }
    }

    fn wrapped(
        &self,
        out: &mut String,
        name: &str,
        args: &[&Format],
        open: &mut Vec<&'static str>,
    ) {
        out.push_str(name);
        out.push('<');
        for (i, arg) in args.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            self.write(out, arg, open);
        }
        out.push('>');
    }

    fn tuple(&self, out: &mut String, items: &[Format], open: &mut Vec<&'static str>) {
        out.push('(');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            self.write(out, item, open);
        }
        out.push(')');
    }

    fn fields(
        &self,
        out: &mut String,
        fields: &[(&'static str, Format)],
        open: &mut Vec<&'static str>,
    ) {
        out.push('{');
        for (i, (name, format)) in fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(name);
            out.push(':');
            self.write(out, format, open);
        }
        out.push('}');
    }
}

#[derive(Default)]
struct Tracer {
    /// The format of the value deserialized last.
    last: Option<Format>,
    /// The structs and enums being deserialized, outermost first.
    stack: Vec<&'static str>,
    /// Where the current value sits, for containers to find themselves in the next pass.
    path: Vec<String>,
    /// A type was found inside itself and no container has been emptied for it yet.
    recursion: bool,
    /// Containers left empty, by path, with the format learned when they were not.
    empty: BTreeMap<String, Format>,
    /// Struct keys left out: `(struct, key)`.
    skip: BTreeSet<(&'static str, &'static str)>,
    enums: BTreeMap<&'static str, EnumTrace>,
    /// The variant each enum takes in this pass.
    plan: BTreeMap<&'static str, usize>,
    /// This pass learned something the next can use.
    learned: bool,
}

impl Tracer {
    fn start_pass(&mut self) {
        self.last = None;
        self.stack.clear();
        self.path.clear();
        self.recursion = false;
        self.plan.clear();
        self.learned = false;
    }

    fn unexplored(&self) -> usize {
        self.enums.values().map(EnumTrace::unexplored).sum()
    }

    /// The variant `name` takes in this pass: the first not yet explored, else one whose
    /// content leads to an enum with variants not yet explored, else the first.
    fn choose(&self, name: &'static str) -> usize {
        let Some(trace) = self.enums.get(name) else {
            return 0;
        };
        if let Some(index) = trace.formats.iter().position(Option::is_none) {
            return index;
        }
        let mut seen = BTreeSet::from([name]);
        trace
            .formats
            .iter()
            .position(|f| f.as_ref().is_some_and(|f| self.variant_leads(f, &mut seen)))
            .unwrap_or(0)
    }

    fn variant_leads(&self, variant: &VariantFormat, seen: &mut BTreeSet<&'static str>) -> bool {
        match variant {
            VariantFormat::Unit => false,
            VariantFormat::Newtype(f) => self.leads(f, seen),
            VariantFormat::Tuple(fs) => fs.iter().any(|f| self.leads(f, seen)),
            VariantFormat::Struct(fs) => fs.iter().any(|(_, f)| self.leads(f, seen)),
        }
    }

    /// Whether `format` contains an enum with a variant not yet explored.
    fn leads(&self, format: &Format, seen: &mut BTreeSet<&'static str>) -> bool {
        match format {
            Format::Enum(name) => {
                if !seen.insert(name) {
                    return false;
                }
                self.enums.get(name).is_some_and(|e| {
                    e.unexplored() > 0
                        || e.formats
                            .iter()
                            .flatten()
                            .any(|f| self.variant_leads(f, seen))
                })
            }
            Format::Option(f) | Format::Seq(f) | Format::Newtype(_, f) => self.leads(f, seen),
            Format::Map(k, v) => self.leads(k, seen) || self.leads(v, seen),
            Format::Tuple(fs) | Format::TupleStruct(_, fs) => {
                fs.iter().any(|f| self.leads(f, seen))
            }
            Format::Struct(_, fs) => fs.iter().any(|(_, f)| self.leads(f, seen)),
            _ => false,
        }
    }

    fn explored(&self) -> usize {
        self.enums
            .values()
            .map(|e| e.formats.len() - e.unexplored())
            .sum()
    }

    fn here(&self) -> String {
        self.path.join("/")
    }

    /// After a container's content failed: if it failed because a type met itself, this
    /// container (the innermost around that point) stays empty from now on.
    fn claim(&mut self, key: String, format: &Format) {
        if self.recursion {
            self.recursion = false;
            self.learned = true;
            self.empty.insert(key, format.clone());
        }
    }

    /// Deserializes one value at `step`, returning its format along with the result.
    fn nested<'de, S: DeserializeSeed<'de>>(
        &mut self,
        step: impl Into<String>,
        seed: S,
    ) -> (Result<S::Value, Error>, Format) {
        self.path.push(step.into());
        self.last = None;
        let result = seed.deserialize(TraceDe { t: &mut *self });
        self.path.pop();
        (result, self.last.take().unwrap_or(Format::Unknown))
    }

    fn record_variant(
        &mut self,
        name: &'static str,
        index: usize,
        format: VariantFormat,
        ok: bool,
    ) {
        let Some(trace) = self.enums.get_mut(name) else {
            return;
        };
        let slot = &mut trace.formats[index];
        if slot
            .as_ref()
            .is_none_or(|old| format.unknowns() < old.unknowns())
        {
            *slot = Some(format);
        }
        if ok && trace.terminating.is_none() {
            trace.terminating = Some(index);
        }
    }

    fn found_recursion(&mut self, name: &'static str) -> Error {
        self.last = Some(Format::Recursive(name));
        self.recursion = true;
        Error(format!("`{name}` contains itself"))
    }
}

/// Why a sample was rejected.
#[derive(Debug)]
pub(crate) struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

struct TraceDe<'t> {
    t: &'t mut Tracer,
}

macro_rules! primitives {
    ($($method:ident $name:literal $visit:ident $sample:expr;)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
                self.t.last = Some(Format::Primitive($name));
                visitor.$visit($sample)
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for TraceDe<'_> {
    type Error = Error;

    primitives! {
        deserialize_bool "bool" visit_bool false;
        deserialize_i8 "i8" visit_i8 0;
        deserialize_i16 "i16" visit_i16 0;
        deserialize_i32 "i32" visit_i32 0;
        deserialize_i64 "i64" visit_i64 0;
        deserialize_i128 "i128" visit_i128 0;
        deserialize_u8 "u8" visit_u8 0;
        deserialize_u16 "u16" visit_u16 0;
        deserialize_u32 "u32" visit_u32 0;
        deserialize_u64 "u64" visit_u64 0;
        deserialize_u128 "u128" visit_u128 0;
        deserialize_f32 "f32" visit_f32 0.0;
        deserialize_f64 "f64" visit_f64 0.0;
        deserialize_char "char" visit_char 'a';
        deserialize_str "str" visit_str "";
        deserialize_string "str" visit_str "";
        deserialize_identifier "str" visit_str "";
        deserialize_bytes "bytes" visit_bytes &[];
        deserialize_byte_buf "bytes" visit_bytes &[];
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.t.last = Some(Format::Primitive("unit"));
        visitor.visit_unit()
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.t.last = Some(Format::Any);
        visitor.visit_unit()
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.t.last = Some(Format::Any);
        visitor.visit_unit()
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let key = self.t.here();
        if let Some(format) = self.t.empty.get(&key) {
            self.t.last = Some(format.clone());
            return visitor.visit_none();
        }
        self.t.path.push("?".to_owned());
        self.t.last = None;
        let result = visitor.visit_some(TraceDe { t: &mut *self.t });
        self.t.path.pop();
        let inner = self.t.last.take().unwrap_or(Format::Unknown);
        let format = Format::Option(Box::new(inner));
        if result.is_err() {
            self.t.claim(key, &format);
        }
        self.t.last = Some(format);
        result
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.t.last = Some(Format::UnitStruct(name));
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.t.path.push(name.to_owned());
        self.t.last = None;
        let result = visitor.visit_newtype_struct(TraceDe { t: &mut *self.t });
        self.t.path.pop();
        let inner = self.t.last.take().unwrap_or(Format::Unknown);
        self.t.last = Some(Format::Newtype(name, Box::new(inner)));
        result
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let key = self.t.here();
        let (result, format) = match self.t.empty.get(&key) {
            Some(format) => {
                let format = format.clone();
                let mut access = Elements::new(self.t, 0);
                (visitor.visit_seq(&mut access), format)
            }
            None => {
                let mut access = Elements::new(self.t, 1);
                let result = visitor.visit_seq(&mut access);
                let item = access.formats.pop().unwrap_or(Format::Unknown);
                (result, Format::Seq(Box::new(item)))
            }
        };
        if result.is_err() {
            self.t.claim(key, &format);
        }
        self.t.last = Some(format);
        result
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        let mut access = Elements::new(self.t, len);
        let result = visitor.visit_seq(&mut access);
        let items = access.finish(len);
        self.t.last = Some(Format::Tuple(items));
        result
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        if self.t.stack.contains(&name) {
            return Err(self.t.found_recursion(name));
        }
        self.t.stack.push(name);
        let mut access = Elements::new(self.t, len);
        let result = visitor.visit_seq(&mut access);
        let items = access.finish(len);
        self.t.stack.pop();
        self.t.last = Some(Format::TupleStruct(name, items));
        result
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let key = self.t.here();
        let (result, format) = match self.t.empty.get(&key) {
            Some(format) => {
                let format = format.clone();
                let mut access = Entry::new(self.t, false);
                (visitor.visit_map(&mut access), format)
            }
            None => {
                let mut access = Entry::new(self.t, true);
                let result = visitor.visit_map(&mut access);
                let format = Format::Map(Box::new(access.key), Box::new(access.value));
                (result, format)
            }
        };
        if result.is_err() {
            self.t.claim(key, &format);
        }
        self.t.last = Some(format);
        result
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        if self.t.stack.contains(&name) {
            return Err(self.t.found_recursion(name));
        }
        self.t.stack.push(name);
        let (result, fields) =
            struct_fields(self.t, name, fields, |access| visitor.visit_map(access));
        self.t.stack.pop();
        self.t.last = Some(Format::Struct(name, fields));
        result
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let t = self.t;
        let terminating = t
            .enums
            .entry(name)
            .or_insert_with(|| EnumTrace {
                variants,
                formats: vec![None; variants.len()],
                terminating: None,
            })
            .terminating;
        let inside_itself = t.stack.contains(&name);
        let index = if inside_itself {
            // Only a variant known to end keeps the sample finite.
            match terminating {
                Some(index) => index,
                None => return Err(t.found_recursion(name)),
            }
        } else {
            match t.plan.get(name) {
                Some(&index) => index,
                None => {
                    let index = t.choose(name);
                    t.plan.insert(name, index);
                    index
                }
            }
        };
        let Some(&variant) = variants.get(index) else {
            t.last = Some(Format::Enum(name));
            return Err(Error(format!("enum `{name}` has no variants")));
        };
        t.stack.push(name);
        t.path.push(format!("{name}::{variant}"));
        let result = visitor.visit_enum(OneVariant {
            t: &mut *t,
            name,
            index,
            variant,
        });
        t.path.pop();
        t.stack.pop();
        t.last = Some(if inside_itself {
            Format::Recursive(name)
        } else {
            Format::Enum(name)
        });
        result
    }

    fn is_human_readable(&self) -> bool {
        // As the DAG-CBOR payloads and snapshots are written.
        false
    }
}

/// Offers a struct's fields as a map, one key after another, and collects each value's
/// format. A key the type rejects is left out of the next pass.
fn struct_fields<T>(
    t: &mut Tracer,
    name: &'static str,
    all: &'static [&'static str],
    visit: impl FnOnce(&mut Fields<'_>) -> Result<T, Error>,
) -> (Result<T, Error>, Vec<(&'static str, Format)>) {
    let names: Vec<&'static str> = all
        .iter()
        .copied()
        .filter(|key| !t.skip.contains(&(name, *key)))
        .collect();
    let mut access = Fields {
        t,
        names,
        next: 0,
        key_pending: false,
        formats: Vec::new(),
    };
    let result = visit(&mut access);
    if result.is_err() && access.key_pending {
        let key = access.names[access.next];
        access.t.skip.insert((name, key));
        access.t.learned = true;
    }
    let Fields { names, formats, .. } = access;
    let mut formats = formats.into_iter();
    let fields = names
        .into_iter()
        .map(|key| (key, formats.next().unwrap_or(Format::Unknown)))
        .collect();
    (result, fields)
}

struct Fields<'t> {
    t: &'t mut Tracer,
    names: Vec<&'static str>,
    next: usize,
    /// A key was handed over and its value not yet asked for.
    key_pending: bool,
    formats: Vec<Format>,
}

impl<'de> de::MapAccess<'de> for Fields<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some(&key) = self.names.get(self.next) else {
            return Ok(None);
        };
        self.key_pending = true;
        seed.deserialize(key.into_deserializer()).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let key = self.names.get(self.next).copied().unwrap_or("?");
        self.key_pending = false;
        self.next += 1;
        let (result, format) = self.t.nested(key, seed);
        self.formats.push(format);
        result
    }
}

/// The elements of a sequence or tuple: `len` samples.
struct Elements<'t> {
    t: &'t mut Tracer,
    len: usize,
    formats: Vec<Format>,
}

impl<'t> Elements<'t> {
    fn new(t: &'t mut Tracer, len: usize) -> Self {
        Elements {
            t,
            len,
            formats: Vec::new(),
        }
    }

    /// The formats of all `len` elements, `?` for those not reached.
    fn finish(mut self, len: usize) -> Vec<Format> {
        self.formats.resize(len, Format::Unknown);
        self.formats
    }
}

impl<'de> de::SeqAccess<'de> for Elements<'_> {
    type Error = Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Error> {
        let index = self.formats.len();
        if index >= self.len {
            return Ok(None);
        }
        let (result, format) = self.t.nested(format!("{index}"), seed);
        self.formats.push(format);
        result.map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.len - self.formats.len())
    }
}

/// A map of at most one entry.
struct Entry<'t> {
    t: &'t mut Tracer,
    /// Whether the entry is still to be handed over.
    left: bool,
    key: Format,
    value: Format,
}

impl<'t> Entry<'t> {
    fn new(t: &'t mut Tracer, one: bool) -> Self {
        Entry {
            t,
            left: one,
            key: Format::Unknown,
            value: Format::Unknown,
        }
    }
}

impl<'de> de::MapAccess<'de> for Entry<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        if !self.left {
            return Ok(None);
        }
        self.left = false;
        let (result, format) = self.t.nested("{key}", seed);
        self.key = format;
        result.map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (result, format) = self.t.nested("{value}", seed);
        self.value = format;
        result
    }

    fn size_hint(&self) -> Option<usize> {
        Some(usize::from(self.left))
    }
}

/// The variant chosen for one enum value in this pass.
struct OneVariant<'t> {
    t: &'t mut Tracer,
    name: &'static str,
    index: usize,
    variant: &'static str,
}

impl<'de, 't> de::EnumAccess<'de> for OneVariant<'t> {
    type Error = Error;
    type Variant = OneVariant<'t>;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self), Error> {
        let value = seed.deserialize(self.variant.into_deserializer())?;
        Ok((value, self))
    }
}

impl<'de> de::VariantAccess<'de> for OneVariant<'_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        self.t
            .record_variant(self.name, self.index, VariantFormat::Unit, true);
        Ok(())
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, Error> {
        let (result, format) = self.t.nested("0", seed);
        let ok = result.is_ok();
        self.t
            .record_variant(self.name, self.index, VariantFormat::Newtype(format), ok);
        result
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        let mut access = Elements::new(&mut *self.t, len);
        let result = visitor.visit_seq(&mut access);
        let items = access.finish(len);
        let ok = result.is_ok();
        self.t
            .record_variant(self.name, self.index, VariantFormat::Tuple(items), ok);
        result
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let (result, fields) = struct_fields(&mut *self.t, self.variant, fields, |access| {
            visitor.visit_map(access)
        });
        let ok = result.is_ok();
        self.t
            .record_variant(self.name, self.index, VariantFormat::Struct(fields), ok);
        result
    }
}
