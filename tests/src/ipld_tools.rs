//! The standard JavaScript IPLD tools the CAR tests check exports with: `@ipld/car` (with
//! `@ipld/dag-cbor` and `multiformats`, through scripts/verify-car.mjs) and the `ipfs-car`
//! CLI. They come from `bash scripts/install-tools` into `.tools/npm`; when they (or node)
//! are missing, a test panics with the command to run: it never skips silently.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cim_events::Cid;
use cim_events::car::{CarSummary, read_car};
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

/// Checks the CAR file at `path` (an export described by `summary`, holding `chains`: each
/// aggregate id with its chain length) with verify-car.mjs and `ipfs-car`: every block
/// re-hashed, decoded and re-encoded to the same bytes, each chain walked from its root,
/// and the roots and block CIDs as the export says.
pub fn assert_tools_accept(path: &Path, summary: &CarSummary, chains: &[(&str, u64)]) {
    let (ok, report) = verify_with_ipld_car(path);
    assert!(ok, "verify-car.mjs rejected {}: {report}", path.display());
    let blocks = summary.blocks;
    let expected_cids: Vec<String> = read_car(std::fs::read(path).expect("read").as_slice())
        .expect("read back")
        .blocks
        .iter()
        .map(|(c, _)| c.to_string())
        .collect();
    assert_eq!(report["roots"], serde_json::json!(strings(&summary.roots)));
    assert_eq!(report["blocks"], blocks);
    assert_eq!(report["cids"], serde_json::json!(expected_cids));
    assert_eq!(report["rehashed"], blocks);
    assert_eq!(report["decoded"], blocks);
    assert_eq!(report["reencoded_identical"], blocks);
    assert_eq!(report["genesis"], chains.len());
    assert_eq!(report["prev_links"], blocks - chains.len() as u64);
    let found: Vec<(String, u64)> = report["chains"]
        .as_array()
        .expect("chains")
        .iter()
        .map(|c| {
            let id = c["aggregate_id"].as_str().expect("id").to_owned();
            (id, c["length"].as_u64().expect("length"))
        })
        .collect();
    let expected: Vec<(String, u64)> = chains
        .iter()
        .map(|(id, n)| ((*id).to_owned(), *n))
        .collect();
    assert_eq!(found, expected);

    let (ok, roots) = ipfs_car("roots", path);
    assert!(ok, "ipfs-car roots failed on {}", path.display());
    assert_eq!(roots, strings(&summary.roots));
    let (ok, listed) = ipfs_car("blocks", path);
    assert!(
        ok,
        "ipfs-car blocks (which re-hashes) failed on {}",
        path.display()
    );
    assert_eq!(listed, expected_cids);
}
