//! `cim-events`: the operator CLI (feature `cli`). See `cim-events/docs/cli.md`.

fn main() {}
