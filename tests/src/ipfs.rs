//! A real IPFS node for the IPFS mirror tests: js-ipfs serving the Kubo RPC API
//! (`scripts/ipfs-node.mjs`) on a free loopback port, offline, with a temporary repo.
//! Dropping the handle stops the node and removes the repo.
//!
//! The node stops by itself when its standard input closes, so it goes away with the test
//! process even when destructors do not run. It comes from `bash scripts/install-tools`
//! (`.tools/npm-ipfs`); when that is missing, starting a node panics with the command to
//! run: IPFS tests never skip silently.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use cim_events::ipfs::KuboClient;
use tempfile::TempDir;

/// How long a node may take to answer `version` before the test fails: js-ipfs loads a
/// large module tree and creates its repo first.
const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// How many times to retry when a chosen port was taken by someone else meanwhile.
const PORT_ATTEMPTS: usize = 5;

/// The repository root (for `scripts/` and `.tools/`).
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The installed js-ipfs packages, or a panic that names the install command.
fn modules() -> PathBuf {
    let dir = std::env::var_os("CIM_IPFS_MODULES")
        .map_or_else(|| root().join(".tools/npm-ipfs"), PathBuf::from);
    assert!(
        dir.join("node_modules/ipfs-core").exists()
            && dir.join("node_modules/ipfs-http-server").exists(),
        "js-ipfs not found in {}: run `bash scripts/install-tools` (or `bash scripts/test`, \
         which runs it) to install ipfs-core and ipfs-http-server into .tools/npm-ipfs",
        dir.display()
    );
    dir
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral loopback port")
}

/// One running js-ipfs node.
pub struct IpfsNode {
    child: Option<Child>,
    /// The node's standard input: closing it stops the node.
    stdin: Option<ChildStdin>,
    port: u16,
    /// The repo (`repo/`) and the node's log (`node.log`).
    dir: TempDir,
}

impl IpfsNode {
    /// Starts a node with a fresh repo and waits until its API answers.
    pub async fn start() -> IpfsNode {
        let dir = tempfile::Builder::new()
            .prefix("cim-events-ipfs-")
            .tempdir()
            .expect("create a temporary IPFS repo directory");
        let mut node = IpfsNode {
            child: None,
            stdin: None,
            port: 0,
            dir,
        };
        for _ in 0..PORT_ATTEMPTS {
            node.port = free_port();
            if node.launch().await {
                return node;
            }
        }
        panic!(
            "the js-ipfs node did not start after {PORT_ATTEMPTS} attempts: {}",
            node.log()
        );
    }

    /// Launches the node on `self.port`; `false` if it exited before answering (port
    /// taken).
    async fn launch(&mut self) -> bool {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("node.log"))
            .expect("open the node's log");
        let mut child = Command::new("node")
            .arg(root().join("scripts/ipfs-node.mjs"))
            .arg(self.repo())
            .arg(self.port.to_string())
            .env("CIM_IPFS_MODULES", modules())
            .stdin(Stdio::piped())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .expect("spawn node (Node.js >= 20 is needed for the IPFS tests)");
        self.stdin = child.stdin.take();
        self.child = Some(child);
        let client = self.client();
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(child) = &mut self.child
                && let Ok(Some(_)) = child.try_wait()
            {
                self.child = None;
                self.stdin = None;
                return false;
            }
            if client.version().await.is_ok() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the js-ipfs node on port {} did not answer within {READY_TIMEOUT:?}: {}",
            self.port,
            self.log()
        );
    }

    /// The RPC API address, `http://127.0.0.1:<port>`.
    pub fn api(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A new client of this node (its own counts).
    pub fn client(&self) -> KuboClient {
        KuboClient::new(&self.api()).expect("a loopback http address is a valid API address")
    }

    /// The node's repo directory.
    pub fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    /// The node's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("node.log")).unwrap_or_default()
    }

    /// Stops the node (its repo stays): the API becomes unreachable.
    pub fn stop(&mut self) {
        self.stdin = None;
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the stopped node again, on the same port with the same repo.
    pub async fn restart(&mut self) {
        self.stop();
        assert!(
            self.launch().await,
            "the js-ipfs node did not restart on port {}: {}",
            self.port,
            self.log()
        );
    }

    /// The file in the node's repo that holds exactly `bytes` (a block), if any. js-ipfs
    /// keeps each block in a file of its own under `blocks/`.
    pub fn block_file(&self, bytes: &[u8]) -> Option<PathBuf> {
        find_file(&self.repo().join("blocks"), bytes)
    }
}

fn find_file(dir: &Path, bytes: &[u8]) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, bytes) {
                return Some(found);
            }
        } else if entry
            .metadata()
            .is_ok_and(|m| m.len() == bytes.len() as u64)
            && std::fs::read(&path).is_ok_and(|content| content == bytes)
        {
            return Some(path);
        }
    }
    None
}

impl Drop for IpfsNode {
    fn drop(&mut self) {
        self.stop();
    }
}
