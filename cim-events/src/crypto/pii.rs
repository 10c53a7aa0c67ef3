//! [`Pii`]: the type that marks a field as personal data, to be encrypted.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};
use serde::ser::{Serialize, Serializer};

/// The serde name of a `Pii::Clear` value, which the payload serializer turns into a
/// value to encrypt. Not a public name: it changes without notice.
pub(crate) const PII_TOKEN: &str = "$cim_events::private::Pii";
/// The serde name of `Pii::Shredded`.
pub(crate) const SHREDDED_TOKEN: &str = "$cim_events::private::PiiShredded";

/// Personal data in an event: encrypted before it is stored, under the data key of a data
/// subject, and read back as [`Pii::Shredded`] once that key is shredded.
///
/// Mark a field by its type: `email: Pii<String>`. Code that reads the field must then
/// handle erased data, and the compiler sees to it that every `#[apply]` and projection
/// does. Fields that are not `Pii` stay readable to projections and outside tools.
///
/// ```
/// use cim_events::Pii;
/// use cim_events::payload::{from_ipld, to_ipld};
///
/// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
/// struct Registered { customer: String, email: Pii<String> }
///
/// let event = Registered { customer: "c-7".into(), email: Pii::Clear("ann@example.com".into()) };
/// match &event.email {
///     Pii::Clear(email) => assert!(email.contains('@')),
///     Pii::Shredded => unreachable!("not shredded yet"),
/// }
/// // Debug output never shows the data.
/// assert_eq!(format!("{:?}", event.email), "Pii::Clear(<redacted>)");
/// // In the payload the value is marked for encryption; `crypto::Crypto` encrypts it.
/// let payload = to_ipld(&event)?;
/// assert_eq!(cim_events::crypto::marks(&payload).pii, 1);
/// assert_eq!(from_ipld::<Registered>(payload)?, event);
/// # Ok::<(), cim_events::payload::PayloadError>(())
/// ```
///
/// # Serialization
///
/// With this crate's payload (de)serializer ([`payload::to_ipld`](crate::payload::to_ipld),
/// [`payload::from_ipld`](crate::payload::from_ipld), hence every event):
///
/// - `Clear(v)` becomes the marker `{"/cim-pii": v}`, which
///   [`Crypto::encrypt_payload`](crate::crypto::Crypto::encrypt_payload) replaces with an
///   encrypted node. A payload still holding one must not be stored:
///   [`check_no_pii`](crate::crypto::check_no_pii) refuses it with
///   [`CryptoError::MissingKeyStore`](crate::crypto::CryptoError::MissingKeyStore).
/// - `Shredded` becomes the shredded marker `{"/cim-shredded": null}`, which holds nothing
///   to encrypt.
/// - Reading, the shredded marker gives `Shredded`; a plaintext value (as
///   [`Crypto::decrypt_payload`](crate::crypto::Crypto::decrypt_payload) leaves it, or
///   from an event written before the field was `Pii`) gives `Clear`; an encrypted node
///   not yet decrypted is an error.
/// - A `Pii` cannot be a map key: keys are not encrypted.
///
/// With any other serde format (serde_json in user code, a read model, an API response)
/// `Pii<T>` is transparent: `Clear(v)` is written as `v` and `Shredded` as `null` (a unit),
/// and reading takes `null` as `Shredded` and anything else as `Clear`. So in those formats
/// `Pii::Clear(None)` of a `Pii<Option<T>>` reads back as `Shredded`. Those formats write
/// the plaintext: encryption happens only in events. Inside `#[serde(flatten)]` or an
/// untagged enum, serde buffers values in its own form first and the markers of the
/// payload format are not recognised; keep `Pii` fields out of those.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pii<T> {
    /// The data, readable.
    Clear(T),
    /// The data was erased: its data subject's key was shredded.
    Shredded,
}

impl<T> Pii<T> {
    /// The data, unless it was shredded.
    pub fn clear(&self) -> Option<&T> {
        match self {
            Pii::Clear(value) => Some(value),
            Pii::Shredded => None,
        }
    }

    /// The data, unless it was shredded.
    pub fn into_clear(self) -> Option<T> {
        match self {
            Pii::Clear(value) => Some(value),
            Pii::Shredded => None,
        }
    }

    /// Whether the data was shredded.
    pub fn is_shredded(&self) -> bool {
        matches!(self, Pii::Shredded)
    }

    /// The data changed by `f`; shredded stays shredded.
    ///
    /// ```
    /// use cim_events::Pii;
    /// assert_eq!(Pii::Clear("ann").map(str::len), Pii::Clear(3));
    /// assert_eq!(Pii::<&str>::Shredded.map(str::len), Pii::Shredded);
    /// ```
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Pii<U> {
        match self {
            Pii::Clear(value) => Pii::Clear(f(value)),
            Pii::Shredded => Pii::Shredded,
        }
    }
}

impl<T> From<T> for Pii<T> {
    fn from(value: T) -> Self {
        Pii::Clear(value)
    }
}

impl<T> fmt::Debug for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pii::Clear(_) => f.write_str("Pii::Clear(<redacted>)"),
            Pii::Shredded => f.write_str("Pii::Shredded"),
        }
    }
}

impl<T: Serialize> Serialize for Pii<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Pii::Clear(value) => serializer.serialize_newtype_struct(PII_TOKEN, value),
            Pii::Shredded => serializer.serialize_unit_struct(SHREDDED_TOKEN),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Pii<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_newtype_struct(PII_TOKEN, PiiVisitor(PhantomData))
    }
}

/// Reads a `Pii`. The payload deserializer calls `visit_unit` for the shredded marker and
/// `visit_seq` with one element for a value (serde's other way to hand over a newtype);
/// any other format calls `visit_newtype_struct`, where `null` means shredded.
struct PiiVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for PiiVisitor<T> {
    type Value = Pii<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("personal data or its shredded marker")
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Pii<T>, D::Error> {
        Ok(Option::<T>::deserialize(d)?.map_or(Pii::Shredded, Pii::Clear))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Pii<T>, A::Error> {
        match seq.next_element::<T>()? {
            Some(value) => Ok(Pii::Clear(value)),
            None => Err(de::Error::invalid_length(0, &self)),
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<Pii<T>, E> {
        Ok(Pii::Shredded)
    }

    fn visit_none<E: de::Error>(self) -> Result<Pii<T>, E> {
        Ok(Pii::Shredded)
    }
}
