//! Procedural macros for `cim-events`. Use them through the `cim-events` crate, which
//! re-exports them and documents them.
