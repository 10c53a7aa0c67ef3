//! The `cim-events` binary for the CLI tests (`tests/tests/cli_*.rs`).
//!
//! Cargo sets `CARGO_BIN_EXE_cim-events` only for the tests of the package that owns the
//! binary, so these tests find it in the target folder: `scripts/test` builds it first
//! (`cargo build -p cim-events --features cli --bin cim-events --locked`).

use std::path::PathBuf;

/// The built binary, `target/debug/cim-events` (under `$CARGO_TARGET_DIR` if set), or a
/// panic that says how to build it.
pub fn binary() -> PathBuf {
    binary_in("debug")
}

/// The binary built with `profile` (`debug`, or `release` for the bench), or a panic that
/// says how to build it.
pub fn binary_in(profile: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    let path = target
        .join(profile)
        .join(format!("cim-events{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "the cim-events binary is not built at {}: run \
         `cargo build{} -p cim-events --features cli --bin cim-events` (scripts/test does)",
        path.display(),
        if profile == "release" {
            " --release"
        } else {
            ""
        }
    );
    path
}

/// A command running the binary against the server at `url`, on `stream` and `prefix`,
/// with no `nats` CLI context of the machine's in the way.
pub fn command(url: &str, stream: &str, prefix: &str) -> assert_cmd::Command {
    let mut command = assert_cmd::Command::new(binary());
    command
        .env_remove("NATS_URL")
        .env_remove("NATS_CONTEXT")
        .env_remove("NATS_USER")
        .env_remove("NATS_PASSWORD")
        .env(
            "XDG_CONFIG_HOME",
            std::env::temp_dir().join("cim-events-cli-tests-none"),
        )
        .args(["--server", url, "--stream", stream, "--prefix", prefix]);
    command
}
