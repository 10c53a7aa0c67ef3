//! serde attributes shape each variant's stored payload exactly as they shape the
//! variant's fields: rename, rename_all, rename_all_fields, skip, default, with, raw
//! identifiers, and an enum representation (`tag`) that the payload does not carry.
#![deny(warnings)]

use cim_events::{Event, Ipld};
use serde::{Deserialize, Serialize};

mod cents {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}.{:02}", value / 100, value % 100))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let text = String::deserialize(d)?;
        let (units, cents) = text.split_once('.').ok_or_else(|| serde::de::Error::custom("no ."))?;
        let parse = |s: &str| s.parse::<u64>().map_err(serde::de::Error::custom);
        Ok(parse(units)? * 100 + parse(cents)?)
    }
}

fn default_currency() -> String {
    "EUR".to_owned()
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(aggregate = "Payment")]
#[serde(tag = "kind", rename_all = "snake_case", rename_all_fields = "camelCase")]
enum PaymentEvent {
    Requested {
        #[event(id)]
        payment_id: String,
        #[serde(with = "cents")]
        amount_due: u64,
        #[serde(default = "default_currency")]
        currency: String,
        #[serde(skip)]
        retries: u32,
        r#type: String,
    },
    #[serde(rename_all = "kebab-case")]
    Settled {
        #[event(id)]
        #[serde(rename = "id")]
        payment_id: String,
        #[serde(alias = "settledBy")]
        settled_by: String,
    },
}

fn keys(payload: &Ipld) -> Vec<String> {
    match payload {
        Ipld::Map(map) => map.keys().cloned().collect(),
        other => panic!("not a map: {other:?}"),
    }
}

fn main() {
    let requested = PaymentEvent::Requested {
        payment_id: "p-1".into(),
        amount_due: 1250,
        currency: "USD".into(),
        retries: 3,
        r#type: "card".into(),
    };
    let payload = requested.to_payload().unwrap();
    assert_eq!(keys(&payload), ["amountDue", "currency", "paymentId", "type"]);
    match &payload {
        Ipld::Map(map) => assert_eq!(map["amountDue"], Ipld::String("12.50".into())),
        _ => unreachable!(),
    }
    let back = PaymentEvent::from_payload("Requested", 1, payload).unwrap();
    assert_eq!(
        back,
        PaymentEvent::Requested {
            payment_id: "p-1".into(),
            amount_due: 1250,
            currency: "USD".into(),
            retries: 0,
            r#type: "card".into(),
        }
    );

    let settled = PaymentEvent::Settled {
        payment_id: "p-1".into(),
        settled_by: "bank".into(),
    };
    assert_eq!(keys(&settled.to_payload().unwrap()), ["id", "settled-by"]);

    // `default` and `alias` apply when decoding a stored payload.
    let stored = Ipld::Map(
        [
            ("paymentId".to_owned(), Ipld::String("p-2".into())),
            ("amountDue".to_owned(), Ipld::String("1.05".into())),
            ("type".to_owned(), Ipld::String("cash".into())),
        ]
        .into(),
    );
    match PaymentEvent::from_payload("Requested", 1, stored).unwrap() {
        PaymentEvent::Requested { currency, amount_due, .. } => {
            assert_eq!((currency.as_str(), amount_due), ("EUR", 105));
        }
        other => panic!("decoded {other:?}"),
    }
    let aliased = Ipld::Map(
        [
            ("id".to_owned(), Ipld::String("p-3".into())),
            ("settledBy".to_owned(), Ipld::String("card".into())),
        ]
        .into(),
    );
    assert!(matches!(
        PaymentEvent::from_payload("Settled", 1, aliased).unwrap(),
        PaymentEvent::Settled { settled_by, .. } if settled_by == "card"
    ));
}
