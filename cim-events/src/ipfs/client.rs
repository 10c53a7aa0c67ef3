//! [`KuboClient`]: the calls the mirror makes to an IPFS node's RPC API (`/api/v0/...`).
//!
//! Every call is an HTTP `POST`, as the Kubo RPC API requires. Answers that name a CID are
//! parsed and compared with ours as CIDs, never as strings: nodes answer in other bases
//! (base58btc `zdpu…`) and versions. The client counts the blocks it sends, so a caller can
//! prove that no block was sent twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cid::Cid;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::multipart::{Form, Part};
use serde_json::Value;

use super::error::IpfsError;
use crate::block::{BLOCK_MAX_DEPTH, check_canonical};
use crate::car::CarWriter;

/// How long one call may take by default: a `dag/import` of a chunk of a few megabytes
/// on a busy node included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A client of one IPFS node's RPC API (Kubo's `/api/v0`, also served by js-ipfs).
///
/// Cloning is cheap and shares the connection pool and the [`ClientCounts`].
///
/// ```no_run
/// use cim_events::ipfs::KuboClient;
/// # async fn demo() -> Result<(), cim_events::ipfs::IpfsError> {
/// let node = KuboClient::new("http://127.0.0.1:5001")?;
/// println!("node version {}", node.version().await?);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct KuboClient {
    http: reqwest::Client,
    /// `http://host:port`, no trailing slash.
    api: String,
    timeout: Duration,
    counts: Arc<Counters>,
}

/// What a [`KuboClient`] (and its clones) sent so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientCounts {
    /// RPC requests sent, answered or not.
    pub requests: u64,
    /// Blocks the node acknowledged storing (`dag/put`, and the blocks of every
    /// `dag/import` it accepted).
    pub blocks_put: u64,
    /// Bytes of those blocks.
    pub bytes_put: u64,
    /// Blocks in every put request sent, acknowledged or not (a node that is down never
    /// received them; one that timed out may have).
    pub blocks_sent: u64,
    /// `dag/import` requests.
    pub imports: u64,
    /// Recursive `pin/add` requests.
    pub pins: u64,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    blocks_put: AtomicU64,
    bytes_put: AtomicU64,
    blocks_sent: AtomicU64,
    imports: AtomicU64,
    pins: AtomicU64,
}

/// A block as the node reports it (`block/stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockStat {
    /// The block's CID, as the node answered it (parsed).
    pub cid: Cid,
    /// Its size in bytes.
    pub size: u64,
}

impl KuboClient {
    /// A client of the node whose RPC API listens at `api` (`http://127.0.0.1:5001`; a
    /// trailing `/` or `/api/v0` is accepted), with [`DEFAULT_TIMEOUT`] per call.
    ///
    /// # Errors
    ///
    /// [`IpfsError::InvalidAddress`] if `api` is not an `http://` (or, with feature
    /// `ipfs-tls`, `https://`) address, or the HTTP client cannot be set up.
    pub fn new(api: &str) -> Result<KuboClient, IpfsError> {
        let api = api.trim_end_matches('/');
        let api = api.strip_suffix("/api/v0").unwrap_or(api).to_owned();
        let invalid = |problem: String| IpfsError::InvalidAddress {
            api: api.clone(),
            problem,
        };
        let scheme_ok = api.starts_with("http://")
            || (cfg!(feature = "ipfs-tls") && api.starts_with("https://"));
        if !scheme_ok {
            return Err(invalid(
                "the API address must start with http:// (https:// needs feature `ipfs-tls`)"
                    .to_owned(),
            ));
        }
        #[cfg(feature = "ipfs-tls")]
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // reqwest without its own provider takes the process default; `ring` is what
            // async-nats uses too. Losing a race to another installer is fine.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let http = reqwest::Client::builder()
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(KuboClient {
            http,
            api,
            timeout: DEFAULT_TIMEOUT,
            counts: Arc::default(),
        })
    }

    /// Sets how long one call may take before it fails with [`IpfsError::Timeout`].
    pub fn with_timeout(mut self, timeout: Duration) -> KuboClient {
        self.timeout = timeout;
        self
    }

    /// The node's API address.
    pub fn api(&self) -> &str {
        &self.api
    }

    /// What this client and its clones sent so far.
    pub fn counts(&self) -> ClientCounts {
        let c = &self.counts;
        ClientCounts {
            requests: c.requests.load(Ordering::Relaxed),
            blocks_put: c.blocks_put.load(Ordering::Relaxed),
            bytes_put: c.bytes_put.load(Ordering::Relaxed),
            blocks_sent: c.blocks_sent.load(Ordering::Relaxed),
            imports: c.imports.load(Ordering::Relaxed),
            pins: c.pins.load(Ordering::Relaxed),
        }
    }

    /// The node's version (`version`): a cheap call to check that it answers.
    ///
    /// # Errors
    ///
    /// Any [`IpfsError`]; [`IpfsError::Unreachable`] when no node listens.
    pub async fn version(&self) -> Result<String, IpfsError> {
        const OP: &str = "version";
        let answer = self.json(OP, "version", None).await?;
        str_field(OP, &answer, "Version").map(str::to_owned)
    }

    /// Stores one block under `cid`, keeping its bytes: through `dag/put` when the bytes
    /// are canonical DAG-CBOR (a node decodes and re-encodes what `dag/put` receives, which
    /// gives back the same bytes only then), and otherwise as a CAR of one block through
    /// `dag/import`. The CID the node answers must be `cid`.
    ///
    /// # Errors
    ///
    /// [`IpfsError::CidMismatch`] if the node stored the block under another CID; any
    /// other [`IpfsError`].
    pub async fn put_block(&self, cid: &Cid, data: &[u8]) -> Result<(), IpfsError> {
        if check_canonical(data, BLOCK_MAX_DEPTH).is_ok() {
            self.dag_put(cid, data).await
        } else {
            self.import_blocks(&[(*cid, data)]).await?;
            let stat = self.block_stat(cid).await?;
            if stat.size != data.len() as u64 {
                return Err(IpfsError::Malformed {
                    operation: "block/stat",
                    problem: format!(
                        "the node holds {} bytes under {cid}, we sent {}",
                        stat.size,
                        data.len()
                    ),
                });
            }
            Ok(())
        }
    }

    /// `dag/put?store-codec=dag-cbor&input-codec=dag-cbor&pin=false` of canonical
    /// DAG-CBOR bytes, checking that the node answers `cid`.
    ///
    /// # Errors
    ///
    /// [`IpfsError::CidMismatch`] if the node answers another CID (the bytes were not
    /// canonical, or the node hashes otherwise); any other [`IpfsError`].
    pub async fn dag_put(&self, cid: &Cid, data: &[u8]) -> Result<(), IpfsError> {
        const OP: &str = "dag/put";
        self.counts.blocks_sent.fetch_add(1, Ordering::Relaxed);
        let answer = self
            .json(
                OP,
                "dag/put?store-codec=dag-cbor&input-codec=dag-cbor&pin=false&hash=sha2-256",
                Some(file_form(data.to_vec())),
            )
            .await?;
        let returned = cid_field(OP, answer.get("Cid"))?;
        self.count_put(1, data.len());
        expect_cid(OP, cid, returned)
    }

    /// Stores `blocks` as they are, in one CAR through `dag/import?pin-roots=false`: the
    /// blocks keep their bytes and CIDs on every node, and nothing is pinned (a chunk's
    /// root may have ancestors the node does not hold yet). Blocks are not checked against
    /// their CIDs here: the caller's CIDs are written into the CAR as given.
    ///
    /// # Errors
    ///
    /// [`IpfsError::Refused`] if the node cannot read or store the CAR; any other
    /// [`IpfsError`]. An empty slice sends nothing.
    pub async fn import_blocks(&self, blocks: &[(Cid, &[u8])]) -> Result<(), IpfsError> {
        const OP: &str = "dag/import";
        let Some((root, _)) = blocks.last() else {
            return Ok(());
        };
        // go-car refuses a CAR without roots, so the chunk's last block is its root.
        let mut car = Vec::with_capacity(blocks.iter().map(|(_, b)| b.len() + 48).sum());
        let mut writer = CarWriter::new(&mut car, vec![*root]).map_err(|e| car_error(&e))?;
        for (cid, data) in blocks {
            writer.write_block(cid, data).map_err(|e| car_error(&e))?;
        }
        writer.finish().map_err(|e| car_error(&e))?;
        self.counts.imports.fetch_add(1, Ordering::Relaxed);
        let count = blocks.len() as u64;
        self.counts.blocks_sent.fetch_add(count, Ordering::Relaxed);
        let body = self
            .call(OP, "dag/import?pin-roots=false", Some(file_form(car)))
            .await?;
        // Kubo streams one JSON object per line, and reports a failure met midway as an
        // error object in that stream.
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            if let Ok(value) = serde_json::from_slice::<Value>(line) {
                if value.get("Type").and_then(Value::as_str) == Some("error") {
                    return Err(IpfsError::Refused {
                        operation: OP,
                        status: 200,
                        message: str_field(OP, &value, "Message")
                            .unwrap_or("error in the answer stream")
                            .to_owned(),
                    });
                }
            }
        }
        self.count_put(count, blocks.iter().map(|(_, b)| b.len()).sum());
        Ok(())
    }

    /// The bytes the node holds under `cid` (`block/get`), as the node answers them: not
    /// checked against `cid` here (restore does, and reports a mismatch as a fault).
    ///
    /// # Errors
    ///
    /// [`IpfsError::Refused`] or [`IpfsError::Timeout`] when the node does not have the
    /// block (nodes differ: Kubo offline refuses, a node online searches the network until
    /// the timeout); any other [`IpfsError`].
    pub async fn block_get(&self, cid: &Cid) -> Result<Vec<u8>, IpfsError> {
        self.call("block/get", &format!("block/get?arg={cid}"), None)
            .await
    }

    /// The node's record of the block `cid` (`block/stat`), checked to name `cid`.
    ///
    /// # Errors
    ///
    /// As [`block_get`](Self::block_get) when the node does not have the block;
    /// [`IpfsError::CidMismatch`] if it answers for another CID.
    pub async fn block_stat(&self, cid: &Cid) -> Result<BlockStat, IpfsError> {
        const OP: &str = "block/stat";
        let answer = self
            .json(OP, &format!("block/stat?arg={cid}"), None)
            .await?;
        let returned = parse_cid(OP, str_field(OP, &answer, "Key")?)?;
        expect_cid(OP, cid, returned)?;
        let size = answer
            .get("Size")
            .and_then(Value::as_u64)
            .ok_or_else(|| malformed(OP, "no `Size`"))?;
        Ok(BlockStat {
            cid: returned,
            size,
        })
    }

    /// Pins `cid` and everything it links to (`pin/add?recursive=true`): for an event, its
    /// aggregate's whole history up to it. Walks the whole DAG below `cid`, so its cost
    /// grows with the chain.
    ///
    /// # Errors
    ///
    /// [`IpfsError::Refused`] or [`IpfsError::Timeout`] if a block below `cid` is missing
    /// (an offline node refuses, an online one searches the network); any other
    /// [`IpfsError`].
    pub async fn pin_add(&self, cid: &Cid) -> Result<(), IpfsError> {
        const OP: &str = "pin/add";
        self.counts.pins.fetch_add(1, Ordering::Relaxed);
        let answer = self
            .json(OP, &format!("pin/add?arg={cid}&recursive=true"), None)
            .await?;
        let pins = answer
            .get("Pins")
            .and_then(Value::as_array)
            .ok_or_else(|| malformed(OP, "no `Pins` list"))?;
        let mut found = None;
        for pin in pins {
            let pin = parse_cid(OP, pin.as_str().unwrap_or_default())?;
            if same_block(&pin, cid) {
                return Ok(());
            }
            found = Some(pin);
        }
        match found {
            Some(returned) => Err(IpfsError::CidMismatch {
                operation: OP,
                expected: Box::new(*cid),
                returned: Box::new(returned),
            }),
            None => Err(malformed(OP, "an empty `Pins` list")),
        }
    }

    /// Removes the recursive pin of `cid` (`pin/rm?recursive=true`). The blocks stay until
    /// the node's garbage collector runs, and stay for good while another pin covers them.
    ///
    /// # Errors
    ///
    /// [`IpfsError::Refused`] if `cid` is not pinned; any other [`IpfsError`].
    pub async fn pin_rm(&self, cid: &Cid) -> Result<(), IpfsError> {
        self.json("pin/rm", &format!("pin/rm?arg={cid}&recursive=true"), None)
            .await
            .map(drop)
    }

    /// Every recursive pin of the node (`pin/ls?type=recursive`).
    ///
    /// # Errors
    ///
    /// Any [`IpfsError`].
    pub async fn pin_ls(&self) -> Result<Vec<Cid>, IpfsError> {
        const OP: &str = "pin/ls";
        let answer = self.json(OP, "pin/ls?type=recursive", None).await?;
        let keys = answer
            .get("Keys")
            .and_then(Value::as_object)
            .ok_or_else(|| malformed(OP, "no `Keys` map"))?;
        keys.keys().map(|k| parse_cid(OP, k)).collect()
    }

    fn count_put(&self, blocks: u64, bytes: usize) {
        self.counts.blocks_put.fetch_add(blocks, Ordering::Relaxed);
        self.counts
            .bytes_put
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// A call whose answer is one JSON object.
    async fn json(
        &self,
        operation: &'static str,
        path: &str,
        form: Option<Form>,
    ) -> Result<Value, IpfsError> {
        let body = self.call(operation, path, form).await?;
        serde_json::from_slice(&body).map_err(|e| malformed(operation, &format!("not JSON: {e}")))
    }

    /// `POST {api}/api/v0/{path}`: the body of a success, or the typed failure.
    async fn call(
        &self,
        operation: &'static str,
        path: &str,
        form: Option<Form>,
    ) -> Result<Vec<u8>, IpfsError> {
        self.counts.requests.fetch_add(1, Ordering::Relaxed);
        let mut request = self
            .http
            .post(format!("{}/api/v0/{path}", self.api))
            .timeout(self.timeout);
        if let Some(form) = form {
            request = request.multipart(form);
        }
        let failed = |e: reqwest::Error| {
            if e.is_timeout() {
                IpfsError::Timeout {
                    operation,
                    after: self.timeout,
                }
            } else {
                IpfsError::Unreachable {
                    operation,
                    url: self.api.clone(),
                    message: describe(&e),
                }
            }
        };
        let response = request.send().await.map_err(failed)?;
        let status = response.status();
        let body = response.bytes().await.map_err(failed)?;
        if !status.is_success() {
            let message = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v.get("Message").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_owned());
            return Err(IpfsError::Refused {
                operation,
                status: status.as_u16(),
                message,
            });
        }
        Ok(body.to_vec())
    }
}

/// Whether two CIDs name the same block: the same multihash and codec, whatever their
/// version (a CIDv0 is dag-pb, so it equals only a dag-pb CIDv1).
pub(crate) fn same_block(a: &Cid, b: &Cid) -> bool {
    a.codec() == b.codec() && a.hash() == b.hash()
}

fn expect_cid(operation: &'static str, expected: &Cid, returned: Cid) -> Result<(), IpfsError> {
    if same_block(expected, &returned) {
        Ok(())
    } else {
        Err(IpfsError::CidMismatch {
            operation,
            expected: Box::new(*expected),
            returned: Box::new(returned),
        })
    }
}

/// The multipart form of one file upload; js-ipfs refuses a part without a content type.
fn file_form(data: Vec<u8>) -> Form {
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    Form::new().part("file", Part::bytes(data).file_name("data").headers(headers))
}

fn str_field<'a>(
    operation: &'static str,
    value: &'a Value,
    field: &str,
) -> Result<&'a str, IpfsError> {
    value
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| malformed(operation, &format!("no `{field}`")))
}

/// A CID as JSON: `{"/": "bafy…"}` (Kubo's DAG-JSON link) or a plain string.
fn cid_field(operation: &'static str, value: Option<&Value>) -> Result<Cid, IpfsError> {
    let text = match value {
        Some(Value::String(s)) => s.as_str(),
        Some(Value::Object(link)) => link
            .get("/")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed(operation, "a CID link without `/`"))?,
        _ => return Err(malformed(operation, "no CID")),
    };
    parse_cid(operation, text)
}

fn parse_cid(operation: &'static str, text: &str) -> Result<Cid, IpfsError> {
    text.parse::<Cid>()
        .map_err(|e| malformed(operation, &format!("`{text}` is not a CID: {e}")))
}

fn malformed(operation: &'static str, problem: &str) -> IpfsError {
    IpfsError::Malformed {
        operation,
        problem: problem.to_owned(),
    }
}

fn car_error(e: &crate::Error) -> IpfsError {
    malformed("dag/import", &format!("writing the CAR failed: {e}"))
}

/// The error and its causes on one line: reqwest's own message is only "error sending
/// request".
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
