//! Where encryption meets the event path: the payloads of an append are encrypted once,
//! before their blocks are first sealed, and stored events are opened (decrypted) as they
//! are read. Blocks, bytes and CIDs are never touched on the way out.

use std::collections::HashMap;

use futures::StreamExt;
use ipld_core::ipld::Ipld;

use super::encryptor::Encryptor;
use super::engine::{Crypto, kids_of};
use super::error::CryptoError;
use super::node::{Mark, Place, mark_of};
use super::walk::check_no_pii;
use crate::error::{Error, Result};
use crate::record::{Opened, RecordedEvent};
use crate::seal::NewEvent;
use crate::store::EventStream;

/// The events of an append with their payloads encrypted by `crypto`, each under the key
/// of its data subject (`subjects[i]`), or `None` when there is nothing to encrypt.
/// Without `crypto`, an event holding a `Pii` value is refused: it would be stored in
/// clear.
pub(crate) async fn encrypt_events(
    crypto: Option<&Crypto>,
    aggregate_id: &str,
    events: &[NewEvent],
    subjects: &[String],
) -> Result<Option<Vec<NewEvent>>> {
    let Some(crypto) = crypto else {
        for event in events {
            check_no_pii(&event.payload).map_err(boxed)?;
        }
        return Ok(None);
    };
    let whole = crypto.encrypts_whole_payloads();
    let mut encryptors: HashMap<&str, Encryptor> = HashMap::new();
    let mut out = Vec::with_capacity(events.len());
    for (event, subject) in events.iter().zip(subjects) {
        let sensitive = whole || super::walk::marks(&event.payload).pii > 0;
        if !sensitive {
            out.push(event.clone());
            continue;
        }
        let encryptor = match encryptors.get(subject.as_str()) {
            Some(encryptor) => encryptor,
            None => {
                let encryptor = crypto.encryptor(subject).await.map_err(boxed)?;
                encryptors.entry(subject.as_str()).or_insert(encryptor)
            }
        };
        let place = Place::new(
            &event.aggregate_type,
            aggregate_id,
            &event.event_type,
            &event.id,
        );
        let payload = event.payload.clone();
        let payload = if whole {
            encryptor.encrypt_whole_payload(payload, &place)
        } else {
            encryptor.encrypt_payload(payload, &place)
        }
        .map_err(boxed)?;
        out.push(NewEvent {
            payload,
            ..event.clone()
        });
    }
    Ok(Some(out))
}

/// Decrypts the encrypted values of a stored event with `crypto`, if it has any: the
/// decoded view is kept beside the block, which stays as stored.
pub(crate) async fn open(crypto: Option<&Crypto>, record: &mut RecordedEvent) -> Result<()> {
    let Some(crypto) = crypto else {
        return Ok(());
    };
    if kids_of(&record.block.payload).is_empty() {
        return Ok(());
    }
    let (payload, keys) = crypto
        .open_payload(
            record.block.payload.clone(),
            &Place::of_block(&record.block),
        )
        .await
        .map_err(boxed)?;
    record.opened = Some(Opened { payload, keys });
    Ok(())
}

/// `events` with each event [opened](open) by `crypto` as it arrives: what a store's
/// subscription hands out.
pub(crate) fn open_stream(crypto: Option<&Crypto>, events: EventStream) -> EventStream {
    let Some(crypto) = crypto.cloned() else {
        return events;
    };
    Box::pin(events.then(move |item| {
        let crypto = crypto.clone();
        async move {
            let mut event = item?;
            open(Some(&crypto), &mut event).await?;
            Ok(event)
        }
    }))
}

/// Why a payload that was encrypted whole cannot be decoded: still encrypted (no key
/// store configured) or shredded. `stored` is the payload as stored, for the key id.
pub(crate) fn unreadable_whole(payload: &Ipld, stored: &Ipld) -> Option<CryptoError> {
    let Ipld::Map(map) = payload else {
        return None;
    };
    match mark_of(map)? {
        Mark::Encrypted => Some(CryptoError::MissingKeyStore {
            path: "$".to_owned(),
        }),
        Mark::Shredded => kids_of(stored)
            .into_iter()
            .next()
            .map(|kid| CryptoError::Shredded { kid }),
        Mark::Pii => None,
    }
}

fn boxed(error: CryptoError) -> Error {
    Error::Crypto(Box::new(error))
}
