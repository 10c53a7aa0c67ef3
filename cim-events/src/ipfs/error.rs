//! [`IpfsError`]: what talking to an IPFS node can fail with, as kinds a caller matches on.

use std::time::Duration;

use cid::Cid;

/// A call to the IPFS node's RPC API that failed.
///
/// Every variant names the RPC operation (`block/get`, `dag/import`, …). The enum is
/// `#[non_exhaustive]`: match the variants you handle and keep a wildcard arm.
/// [`is_transient`](IpfsError::is_transient) tells the faults worth waiting out (the node
/// is down or slow) from those that repeat (the node refuses the request, or answers
/// another CID than ours).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IpfsError {
    /// The node could not be reached: connection refused or reset, no route, a request
    /// cut off before the answer. Nothing is known to have been stored.
    #[error("IPFS node at {url} is unreachable ({operation}): {message}")]
    Unreachable {
        /// The RPC operation.
        operation: &'static str,
        /// The node's API address.
        url: String,
        /// What the HTTP client said.
        message: String,
    },

    /// The node did not answer within the client's timeout. The request may still have
    /// taken effect (a put can be stored): check before assuming it did not.
    #[error("IPFS node did not answer {operation} within {after:?}")]
    Timeout {
        /// The RPC operation.
        operation: &'static str,
        /// The timeout that ran out.
        after: Duration,
    },

    /// The node answered with an error status: it refused the request (a block it does
    /// not have, an option it does not know, a CAR it cannot read).
    #[error("IPFS node refused {operation} (HTTP {status}): {message}")]
    Refused {
        /// The RPC operation.
        operation: &'static str,
        /// The HTTP status code.
        status: u16,
        /// The node's own message (Kubo's `Message`), or the body as text.
        message: String,
    },

    /// The node stored or reports a block under another CID than ours: it re-encoded the
    /// bytes, or used another codec or hash. Compared as parsed CIDs, so another base or
    /// CID version of the same CID is not a mismatch.
    #[error("IPFS node answered {operation} with CID {returned}, expected {expected}")]
    CidMismatch {
        /// The RPC operation.
        operation: &'static str,
        /// Our CID (boxed: a CID is large, and errors travel in every `Result`).
        expected: Box<Cid>,
        /// The CID the node answered.
        returned: Box<Cid>,
    },

    /// The node's API address cannot be used: not an `http://` address (nor `https://`
    /// with feature `ipfs-tls`), or the HTTP client cannot be set up for it. No request
    /// was sent.
    #[error("IPFS API address `{api}` cannot be used: {problem}")]
    InvalidAddress {
        /// The address given.
        api: String,
        /// Why it cannot be used.
        problem: String,
    },

    /// The node's answer could not be read (not the JSON the RPC API documents, a CID that
    /// does not parse).
    #[error("IPFS node answered {operation} with something unreadable: {problem}")]
    Malformed {
        /// The RPC operation.
        operation: &'static str,
        /// What is wrong with the answer.
        problem: String,
    },
}

impl IpfsError {
    /// Whether the same call may succeed later: the node was unreachable or slow.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            IpfsError::Unreachable { .. } | IpfsError::Timeout { .. }
        )
    }

    /// The RPC operation that failed.
    pub fn operation(&self) -> &'static str {
        match self {
            IpfsError::Unreachable { operation, .. }
            | IpfsError::Timeout { operation, .. }
            | IpfsError::Refused { operation, .. }
            | IpfsError::CidMismatch { operation, .. }
            | IpfsError::Malformed { operation, .. } => operation,
            IpfsError::InvalidAddress { .. } => "connect",
        }
    }
}

impl From<IpfsError> for crate::Error {
    fn from(e: IpfsError) -> Self {
        crate::Error::Ipfs(Box::new(e))
    }
}
