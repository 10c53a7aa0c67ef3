//! Connecting as the `nats` CLI does: `--server` (or `NATS_URL`), `--creds`, `--nkey`,
//! `--user`/`--password`, `--tlscert`/`--tlskey`/`--tlsca`, and `--context NAME`, which
//! reads the `nats` CLI's saved context `$XDG_CONFIG_HOME/nats/context/NAME.json`
//! (`~/.config` by default); flags win over the context. Without `--context` and
//! `--server`, the context the `nats` CLI has selected (`nats/context.txt`) is used if
//! there is one. Passwords, tokens and seeds are kept out of every message.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cim_events::jetstream::JetStreamEventStore;
use cim_events::jetstream::async_nats::{self, ConnectOptions, jetstream};

use crate::output::{Failure, keep_secret};

/// Where and how to connect, and which stream and subject prefix the store uses.
#[derive(clap::Args, Debug)]
pub struct ConnectionArgs {
    /// NATS server URLs, comma separated.
    #[arg(short = 's', long, env = "NATS_URL", global = true)]
    pub server: Option<String>,
    /// User credentials file (JWT and NKEY seed).
    #[arg(long, env = "NATS_CREDS", global = true)]
    pub creds: Option<PathBuf>,
    /// File holding a user NKEY seed.
    #[arg(long, env = "NATS_NKEY", global = true)]
    pub nkey: Option<PathBuf>,
    /// User name, or a token when no password is given.
    #[arg(long, env = "NATS_USER", global = true, hide_env_values = true)]
    pub user: Option<String>,
    /// Password.
    #[arg(long, env = "NATS_PASSWORD", global = true, hide_env_values = true)]
    pub password: Option<String>,
    /// TLS client certificate (PEM).
    #[arg(long, env = "NATS_CERT", global = true)]
    pub tlscert: Option<PathBuf>,
    /// TLS client key (PEM).
    #[arg(long, env = "NATS_KEY", global = true)]
    pub tlskey: Option<PathBuf>,
    /// TLS certificate authority (PEM).
    #[arg(long, env = "NATS_CA", global = true)]
    pub tlsca: Option<PathBuf>,
    /// A `nats` CLI context: a name under `~/.config/nats/context/`, or a path to its JSON.
    #[arg(long, env = "NATS_CONTEXT", global = true)]
    pub context: Option<String>,
    /// The event stream.
    #[arg(
        long,
        env = "CIM_EVENTS_STREAM",
        default_value = "EVENTS",
        global = true
    )]
    pub stream: String,
    /// The subject prefix events are stored under.
    #[arg(
        long,
        env = "CIM_EVENTS_PREFIX",
        default_value = "events",
        global = true
    )]
    pub prefix: String,
    /// How long a connection attempt may take.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration, global = true)]
    pub timeout: Duration,
}

/// A `nats` CLI context file (ADR-21): the fields this tool uses.
#[derive(serde::Deserialize, Default, Debug)]
#[serde(default)]
struct Context {
    url: Option<String>,
    token: Option<String>,
    user: Option<String>,
    password: Option<String>,
    creds: Option<String>,
    nkey: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    ca: Option<String>,
    tls_first: bool,
    jetstream_domain: Option<String>,
    jetstream_api_prefix: Option<String>,
    inbox_prefix: Option<String>,
}

/// A connection to the server: its JetStream context and the stream's names.
pub struct Connected {
    /// The JetStream context.
    pub js: jetstream::Context,
    /// The event stream's name.
    pub stream: String,
    /// The subject prefix.
    pub prefix: String,
}

impl Connected {
    /// The event stream, which must exist: reading commands never create one.
    pub async fn stream(&self) -> Result<jetstream::stream::Stream, Failure> {
        self.js.get_stream(&self.stream).await.map_err(|e| {
            Failure::msg(format!(
                "cannot open stream `{}` (does it exist? `--stream` names it): {e}",
                self.stream
            ))
        })
    }

    /// The store on the existing stream, as an application opens it (settings checked).
    pub async fn store(&self) -> Result<JetStreamEventStore, Failure> {
        self.stream().await?;
        self.store_or_create().await
    }

    /// The store, creating the stream if it does not exist (for `import`).
    pub async fn store_or_create(&self) -> Result<JetStreamEventStore, Failure> {
        Ok(JetStreamEventStore::builder(self.js.clone(), &self.stream)
            .prefix(self.prefix.clone())
            .build()
            .await?)
    }
}

impl ConnectionArgs {
    /// Connects with the flags, falling back on the context for what they leave out.
    pub async fn connect(&self) -> Result<Connected, Failure> {
        let context = self.load_context()?;
        let mut options = ConnectOptions::new()
            .name("cim-events-cli")
            .connection_timeout(self.timeout)
            .request_timeout(Some(Duration::from_secs(10)));
        let user = self.user.clone().or(context.user);
        let password = self.password.clone().or(context.password);
        let token = context.token;
        let creds = self.creds.clone().or(context.creds.map(expand));
        let nkey = self.nkey.clone().or(context.nkey.map(expand));
        let cert = self.tlscert.clone().or(context.cert.map(expand));
        let key = self.tlskey.clone().or(context.key.map(expand));
        let ca = self.tlsca.clone().or(context.ca.map(expand));
        match (user, password) {
            (Some(user), Some(password)) => {
                keep_secret(&password);
                options = options.user_and_password(user, password);
            }
            // As the `nats` CLI does: a user without a password is a token.
            (Some(token), None) => {
                keep_secret(&token);
                options = options.token(token);
            }
            (None, Some(_)) => return Err(Failure::msg("--password needs --user")),
            (None, None) => {
                if let Some(token) = token {
                    keep_secret(&token);
                    options = options.token(token);
                }
            }
        }
        if let Some(creds) = creds {
            options = options.credentials_file(&creds).await.map_err(|e| {
                Failure::msg(format!("cannot read creds file {}: {e}", creds.display()))
            })?;
        }
        if let Some(nkey) = nkey {
            let seed = std::fs::read_to_string(&nkey).map_err(|e| {
                Failure::msg(format!("cannot read nkey file {}: {e}", nkey.display()))
            })?;
            let seed = seed.trim().to_owned();
            keep_secret(&seed);
            options = options.nkey(seed);
        }
        match (cert, key) {
            (Some(cert), Some(key)) => {
                options = options.add_client_certificate(cert, key).require_tls(true);
            }
            (None, None) => {}
            _ => return Err(Failure::msg("--tlscert and --tlskey go together")),
        }
        if let Some(ca) = ca {
            options = options.add_root_certificates(ca).require_tls(true);
        }
        if context.tls_first {
            options = options.tls_first();
        }
        if let Some(inbox) = context.inbox_prefix {
            options = options.custom_inbox_prefix(inbox);
        }
        let servers = self
            .server
            .clone()
            .or(context.url)
            .unwrap_or_else(|| "nats://127.0.0.1:4222".to_owned());
        let addrs = servers
            .split(',')
            .map(|s| s.trim().parse::<async_nats::ServerAddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Failure::msg(format!("bad server URL in `{servers}`: {e}")))?;
        for addr in &addrs {
            if let Some(password) = addr.password() {
                keep_secret(password);
            }
            if let Some(user) = addr.username() {
                // A user in a URL without a password is a token.
                if addr.password().is_none() {
                    keep_secret(user);
                }
            }
        }
        let client = options.connect(addrs).await.map_err(|e| {
            Failure::msg(format!("cannot connect to {}: {e}", redact_url(&servers)))
        })?;
        let js = match (context.jetstream_domain, context.jetstream_api_prefix) {
            (Some(domain), _) if !domain.is_empty() => jetstream::with_domain(client, domain),
            (_, Some(prefix)) if !prefix.is_empty() => jetstream::with_prefix(client, &prefix),
            _ => jetstream::new(client),
        };
        Ok(Connected {
            js,
            stream: self.stream.clone(),
            prefix: self.prefix.clone(),
        })
    }

    /// The context named by `--context`, else the one the `nats` CLI selected (when no
    /// `--server` is given), else none.
    fn load_context(&self) -> Result<Context, Failure> {
        let path = match &self.context {
            Some(name) => Some(context_path(name)?),
            None if self.server.is_none() => selected_context()?,
            None => None,
        };
        let Some(path) = path else {
            return Ok(Context::default());
        };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Failure::msg(format!("cannot read nats context {}: {e}", path.display()))
        })?;
        let context: Context = serde_json::from_str(&text).map_err(|e| {
            // serde_json quotes no values in its messages, only positions.
            Failure::msg(format!("nats context {} is not valid: {e}", path.display()))
        })?;
        for secret in [&context.password, &context.token].into_iter().flatten() {
            keep_secret(secret);
        }
        Ok(context)
    }
}

/// The `nats` CLI's configuration folder.
fn nats_config_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".config")))
        .map(|config| config.join("nats"))
}

/// A context's file: a path if `name` looks like one, else `context/{name}.json`.
fn context_path(name: &str) -> Result<PathBuf, Failure> {
    if name.contains('/') || name.ends_with(".json") {
        return Ok(expand(name.to_owned()));
    }
    if name.is_empty() || name.contains("..") {
        return Err(Failure::msg(format!("`{name}` is not a context name")));
    }
    let dir = nats_config_dir()
        .ok_or_else(|| Failure::msg("cannot find the nats configuration folder: set HOME"))?;
    Ok(dir.join("context").join(format!("{name}.json")))
}

/// The context the `nats` CLI selected (`nats context select`), if any.
fn selected_context() -> Result<Option<PathBuf>, Failure> {
    let Some(dir) = nats_config_dir() else {
        return Ok(None);
    };
    match std::fs::read_to_string(dir.join("context.txt")) {
        Ok(name) if !name.trim().is_empty() => Ok(Some(context_path(name.trim())?)),
        _ => Ok(None),
    }
}

/// `~/x` as `$HOME/x`, as the `nats` CLI reads paths in contexts.
fn expand(path: String) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// Server URLs with any user information dropped.
fn redact_url(servers: &str) -> String {
    servers
        .split(',')
        .map(|s| match (s.find("://"), s.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                format!("{}***@{}", &s[..scheme + 3], &s[at + 1..])
            }
            _ => s.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}
