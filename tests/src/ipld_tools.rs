//! The standard JavaScript IPLD tools the CAR tests check exports with: `@ipld/car` (with
//! `@ipld/dag-cbor` and `multiformats`, through scripts/verify-car.mjs) and the `ipfs-car`
//! CLI. They come from `bash scripts/install-tools` into `.tools/npm`; when they (or node)
//! are missing, a test panics with the command to run: it never skips silently.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cim_events::Cid;
use serde_json::Value;

/// The workspace root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

/// The installed npm modules, or a panic naming the install command.
fn npm_tools() -> PathBuf {
    let dir = repo_root().join(".tools/npm/node_modules");
    assert!(
        dir.join("@ipld/car/package.json").exists() && dir.join(".bin/ipfs-car").exists(),
        "the npm IPLD tools are not installed in {}: run `bash scripts/install-tools` \
         (or `bash scripts/test`, which runs it)",
        dir.display()
    );
    dir
}

fn run(program: &str, args: &[&Path]) -> Output {
    let tools = npm_tools();
    let program = match program {
        "node" => PathBuf::from("node"),
        tool => tools.join(".bin").join(tool),
    };
    Command::new(&program)
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e}; install Node.js >= 18 with npm and run \
                 `bash scripts/install-tools`",
                program.display()
            )
        })
}

/// Runs scripts/verify-car.mjs on `car`; returns its exit success and JSON report.
pub fn verify_with_ipld_car(car: &Path) -> (bool, Value) {
    let script = repo_root().join("scripts/verify-car.mjs");
    let out = run("node", &[&script, car]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "verify-car.mjs printed no JSON ({e}); stdout: {stdout}; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), report)
}

/// Runs `ipfs-car <command> car`; returns its exit success and output lines.
pub fn ipfs_car(command: &str, car: &Path) -> (bool, Vec<String>) {
    let out = run("ipfs-car", &[Path::new(command), car]);
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    (out.status.success(), lines)
}

/// CIDs as the tools print them (base32 CIDv1).
pub fn strings(cids: &[Cid]) -> Vec<String> {
    cids.iter().map(Cid::to_string).collect()
}
