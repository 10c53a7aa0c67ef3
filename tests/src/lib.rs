//! Shared test support for the `cim-events` integration tests: the store-agnostic
//! conformance suite and the domain types it uses.

pub mod cli;
pub mod conformance;
pub mod domain;
pub mod ipfs;
pub mod ipld_tools;
pub mod nats;
pub mod shop;
pub mod tails;
