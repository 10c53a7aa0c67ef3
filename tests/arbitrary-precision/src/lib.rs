//! Nothing to see: this crate exists for `tests/arbitrary_precision.rs`, which seals JSON
//! documents parsed by serde_json with `arbitrary_precision` on and compares the CIDs with
//! those the workspace (feature off) pins.
