//! Real nats-server processes for the JetStream tests: one server, or a three-node
//! cluster, on free loopback ports with temporary store directories. Dropping the handle
//! kills the processes and removes the directories.
//!
//! Each server runs under a small `sh` watchdog that kills it when the test process goes
//! away, even without running destructors: [`NatsServer::shared`] keeps one server per
//! test binary in a static, and statics are never dropped.
//!
//! The binary comes from `bash scripts/install-tools` (`.tools/bin/nats-server`), or from
//! `$NATS_SERVER_BIN`. When it is missing, starting a server panics with the command to
//! run: JetStream tests never skip silently.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a server (or cluster) may take to become ready before the test fails.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How many times to retry when a chosen port was taken by someone else meanwhile.
const PORT_ATTEMPTS: usize = 5;

/// The nats-server binary, or a panic that names the install command.
pub fn server_binary() -> PathBuf {
    let path = std::env::var_os("NATS_SERVER_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin/nats-server"),
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "nats-server not found at {}: run `bash scripts/install-tools` (or `bash scripts/test`, \
         which runs it) to install nats-server v2.15.1 into .tools/",
        path.display()
    );
    path
}

/// A free TCP port on 127.0.0.1 (free when asked; see [`PORT_ATTEMPTS`]).
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral loopback port")
}

/// Runs `"$0" "$@"` (the server) and kills it as soon as its standard input closes: when
/// [`NatsServer::kill`] drops the pipe, or when the test process exits for any reason.
/// With `$CIM_NATS_CLEANUP` set it also removes that directory afterwards. The shell
/// exits when the server does.
const WATCHDOG: &str = r#"exec 3<&0
"$0" "$@" </dev/null &
pid=$!
( read -r _ <&3; kill -9 "$pid" 2>/dev/null; sleep 0.2
  if [ -n "$CIM_NATS_CLEANUP" ]; then rm -rf "$CIM_NATS_CLEANUP"; fi ) &
wait "$pid""#;

/// One running nats-server with JetStream.
pub struct NatsServer {
    /// The watchdog shell; the server is its child.
    child: Child,
    /// The watchdog's standard input: dropping it kills the server.
    watchdog: Option<ChildStdin>,
    /// Whether the watchdog removes the store directory (shared servers, never dropped).
    cleanup: bool,
    port: u16,
    /// Server name and extra arguments, to restart it the same way.
    name: String,
    extra: Vec<String>,
    /// The store directory (JetStream files and the log); removed on drop.
    dir: TempDir,
}

impl NatsServer {
    /// Starts a single JetStream server and waits until it accepts JetStream requests.
    pub async fn start() -> NatsServer {
        Self::start_with(&[]).await
    }

    /// One server shared by every test of the calling test binary, started on first use
    /// and killed (its directory removed) when the binary exits. Tests that share it
    /// must not collide: give each its own stream name and subject prefix.
    pub async fn shared() -> &'static NatsServer {
        static SHARED: tokio::sync::OnceCell<NatsServer> = tokio::sync::OnceCell::const_new();
        SHARED
            .get_or_init(|| async {
                for _ in 0..PORT_ATTEMPTS {
                    let mut server = Self::spawn_with_cleanup("shared", free_port(), &[], true);
                    server.child = server.launch_child();
                    if let Some(server) = server.wait_listening() {
                        wait_jetstream_ready(vec![server.addr()], 1).await;
                        return server;
                    }
                }
                panic!("nats-server did not start after {PORT_ATTEMPTS} attempts");
            })
            .await
    }

    /// Starts a single JetStream server with extra command-line arguments.
    pub async fn start_with(extra: &[&str]) -> NatsServer {
        for _ in 0..PORT_ATTEMPTS {
            let server = Self::spawn("single", free_port(), extra);
            if let Some(server) = server.wait_listening() {
                wait_jetstream_ready(vec![server.addr()], 1).await;
                return server;
            }
        }
        panic!("nats-server did not start after {PORT_ATTEMPTS} attempts");
    }

    fn spawn(name: &str, port: u16, extra: &[&str]) -> NatsServer {
        let mut server = Self::spawn_with_cleanup(name, port, extra, false);
        server.child = server.launch_child();
        server
    }

    fn spawn_with_cleanup(name: &str, port: u16, extra: &[&str], cleanup: bool) -> NatsServer {
        let dir = tempfile::Builder::new()
            .prefix("cim-events-nats-")
            .tempdir()
            .expect("create a temporary store directory");
        NatsServer {
            child: Command::new("true").spawn().expect("spawn a placeholder"),
            watchdog: None,
            cleanup,
            port,
            name: name.to_owned(),
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            dir,
        }
    }

    /// Launches the server under the watchdog, keeping the watchdog's input.
    fn launch_child(&mut self) -> Child {
        let mut child = self.launch();
        self.watchdog = child.stdin.take();
        child
    }

    fn launch(&self) -> Child {
        let mut command = Command::new("sh");
        command.arg("-c").arg(WATCHDOG).arg(server_binary());
        if self.cleanup {
            command.env("CIM_NATS_CLEANUP", self.dir.path());
        }
        command
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-n",
                &self.name,
            ])
            .arg("-sd")
            .arg(self.dir.path().join("js"))
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(&self.extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nats-server")
    }

    /// Waits until the port accepts connections; `None` if the process died (port taken).
    fn wait_listening(mut self) -> Option<NatsServer> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return None;
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                return Some(self);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "nats-server on port {} did not listen within {READY_TIMEOUT:?}: {}",
            self.port,
            self.log()
        );
    }

    /// The client URL, `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The client address, for `async_nats::connect`.
    pub fn addr(&self) -> async_nats::ServerAddr {
        self.url().parse().expect("a loopback URL parses")
    }

    /// The server name (`-n`): `single`, `shared`, or `n1`…`n3` in a cluster, as stream
    /// info reports leaders and replicas.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The JetStream store directory (`-sd`): stream files live under
    /// `jetstream/$G/streams/<stream>/msgs/*.blk`, for tests that damage them.
    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("js")
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Kills the server process now (its directory stays until drop), to test failures.
    pub fn kill(&mut self) {
        // Closing the pipe makes the watchdog kill the server; the watchdog exits when
        // the server has.
        drop(self.watchdog.take());
        let _ = self.child.wait();
    }

    /// Restarts a killed server on the same port with the same store directory, and
    /// waits until it serves JetStream again (for a cluster member: until it listens).
    pub async fn restart(&mut self) {
        self.kill();
        self.child = self.launch_child();
        if self.extra.is_empty() {
            wait_jetstream_ready(vec![self.addr()], 1).await;
        } else {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
            let deadline = Instant::now() + READY_TIMEOUT;
            while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
                assert!(Instant::now() < deadline, "restarted server did not listen");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Three JetStream servers clustered over loopback, for R3 streams.
pub struct NatsCluster {
    /// The three servers.
    pub servers: Vec<NatsServer>,
}

impl NatsCluster {
    /// Starts three clustered servers and waits until JetStream has a meta leader and all
    /// three peers.
    pub async fn start() -> NatsCluster {
        Self::start_with_cleanup(false).await
    }

    /// One cluster shared by every test of the calling test binary, started on first use
    /// and killed when the binary exits. Tests that share it must use their own stream
    /// names and prefixes, and must not kill its servers.
    pub async fn shared() -> &'static NatsCluster {
        static SHARED: tokio::sync::OnceCell<NatsCluster> = tokio::sync::OnceCell::const_new();
        SHARED.get_or_init(|| Self::start_with_cleanup(true)).await
    }

    async fn start_with_cleanup(cleanup: bool) -> NatsCluster {
        'attempt: for _ in 0..PORT_ATTEMPTS {
            let cluster_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
            let routes = cluster_ports
                .iter()
                .map(|p| format!("nats://127.0.0.1:{p}"))
                .collect::<Vec<_>>()
                .join(",");
            let mut servers = Vec::new();
            for (i, cluster_port) in cluster_ports.iter().enumerate() {
                let cluster = format!("nats://127.0.0.1:{cluster_port}");
                let extra = [
                    "--cluster_name",
                    "cim",
                    "--cluster",
                    &cluster,
                    "--routes",
                    &routes,
                ];
                let mut server = NatsServer::spawn_with_cleanup(
                    &format!("n{}", i + 1),
                    free_port(),
                    &extra,
                    cleanup,
                );
                server.child = server.launch_child();
                match server.wait_listening() {
                    Some(s) => servers.push(s),
                    None => continue 'attempt,
                }
            }
            let cluster = NatsCluster { servers };
            wait_jetstream_ready(cluster.addrs(), 3).await;
            return cluster;
        }
        panic!("nats-server cluster did not start after {PORT_ATTEMPTS} attempts");
    }

    /// The addresses of all three servers, so a client can fail over:
    /// `async_nats::connect(cluster.addrs())`.
    pub fn addrs(&self) -> Vec<async_nats::ServerAddr> {
        self.servers.iter().map(NatsServer::addr).collect()
    }
}

/// Waits until a JetStream request succeeds and the meta group has `peers` members.
async fn wait_jetstream_ready(addrs: Vec<async_nats::ServerAddr>, peers: usize) {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut last_error = String::new();
    while Instant::now() < deadline {
        match try_ready(addrs.clone(), peers).await {
            Ok(()) => return,
            Err(e) => last_error = e,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("JetStream at {addrs:?} not ready within {READY_TIMEOUT:?}: {last_error}");
}

async fn try_ready(addrs: Vec<async_nats::ServerAddr>, peers: usize) -> Result<(), String> {
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(2))
        .connect(addrs)
        .await
        .map_err(|e| e.to_string())?;
    let js = async_nats::jetstream::new(client);
    js.query_account().await.map_err(|e| e.to_string())?;
    if peers > 1 {
        // An R3 stream can be created only once all peers are known and a leader exists.
        let name = format!("READY_{}", std::process::id());
        let stream = js
            .create_stream(async_nats::jetstream::stream::Config {
                name: name.clone(),
                subjects: vec![format!("ready.{}", std::process::id())],
                num_replicas: peers,
                storage: async_nats::jetstream::stream::StorageType::Memory,
                ..Default::default()
            })
            .await
            .map_err(|e| e.to_string())?;
        drop(stream);
        js.delete_stream(&name).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A fresh, empty [`JetStreamEventStore`](cim_events::JetStreamEventStore) for one test:
/// its own stream and subject prefix (unique in this process), on its own connection, so
/// that tests sharing a server cannot see each other's events.
pub struct JetStreamFixture {
    /// The store under test.
    pub store: cim_events::JetStreamEventStore,
}

impl crate::conformance::Fixture for JetStreamFixture {
    type Store = cim_events::JetStreamEventStore;
    fn store(&self) -> &Self::Store {
        &self.store
    }
}

impl JetStreamFixture {
    /// A store with `replicas` replicas on the servers at `addrs`.
    pub async fn new(addrs: Vec<async_nats::ServerAddr>, replicas: usize) -> JetStreamFixture {
        let (stream, prefix) = unique_names();
        let store = cim_events::JetStreamEventStore::builder(connect(addrs).await, &stream)
            .prefix(prefix)
            .replicas(replicas)
            .build()
            .await
            .expect("provision the event stream");
        JetStreamFixture { store }
    }
}

/// A stream name and subject prefix no other test of this process uses.
pub fn unique_names() -> (String, String) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    (format!("EVENTS_{n}"), format!("t{n}.events"))
}

/// A JetStream context on a new connection to `addrs` that reconnects forever.
pub async fn connect(addrs: Vec<async_nats::ServerAddr>) -> async_nats::jetstream::Context {
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(5))
        .retry_on_initial_connect()
        .connect(addrs)
        .await
        .expect("connect to nats-server");
    async_nats::jetstream::new(client)
}
