//! Throwaway PostgreSQL clusters for the integration tests.
//!
//! The API tests need a real server (sqlx queries, migrations, the database going away under
//! the service) on developer machines and in CI alike, against more than one major version, and
//! without Docker or a system service. So each cluster lives in its own temporary directory on a
//! free loopback port: test binaries never share state, and nothing outlives the run, even when
//! the test process is killed.
#![expect(
    dead_code,
    reason = "every test binary that includes this harness uses a different part of it"
)]

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};

use crate::support::server_bin::server_bin_dir;

/// pg_ctl's wait limit in seconds: generous for a loaded two-core CI machine, yet a server that
/// never comes up fails the test with its log instead of hanging it.
const WAIT_SECS: &str = "30";
/// A port found free by binding port 0 can be taken again before the postmaster binds it.
const PORT_ATTEMPTS: u32 = 5;

/// Settings appended to `postgresql.conf`. Durability is pointless for data thrown away after the
/// test, and 200 connections leave room for several service pools on one cluster. UTC makes
/// rendered timestamps the same on every machine.
const SETTINGS: &str = "
# echodiary test harness
listen_addresses = '127.0.0.1'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
timezone = 'UTC'
";

pub(crate) struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    major: u32,
    /// PostgreSQL refuses to run as root, so then every server tool goes through `runuser`.
    as_postgres: bool,
    watchdog: Option<Child>,
}

impl PgCluster {
    pub(crate) fn start() -> io::Result<PgCluster> {
        let bin = server_bin_dir().map_err(io::Error::other)?;
        // Under the system temp dir rather than the target dir: when we are root, the `postgres`
        // user must be able to reach it, and a home directory is usually private.
        let dir = tempfile::Builder::new()
            .prefix("echodiary-pg-")
            .tempdir_in(std::env::temp_dir())?;
        let as_postgres = is_root();
        if as_postgres {
            let mut chown = Command::new("chown");
            run(chown.arg("postgres:").arg(dir.path()), "chown")?;
        }
        let mut cluster = PgCluster {
            dir,
            bin,
            port: 0,
            major: 0,
            as_postgres,
            watchdog: None,
        };
        cluster.watchdog = Some(cluster.spawn_watchdog()?);

        let data = cluster.data_dir();
        // C locale: the same collation and messages everywhere, whatever the machine's locale.
        let args = "-U postgres --auth=trust -E UTF8 --locale=C --no-sync".split(' ');
        let mut initdb = cluster.tool("initdb");
        run(initdb.arg("-D").arg(&data).args(args), "initdb")?;
        let version = fs::read_to_string(data.join("PG_VERSION"))?; // "16", or "9.6" of old
        let major = version.trim().split('.').next().unwrap_or_default();
        cluster.major = major.parse().map_err(io::Error::other)?;

        // The socket goes into our own directory: the default one may not exist or be writable.
        let socket_dir = cluster.dir.path().display().to_string().replace('\'', "''");
        let settings = format!("{SETTINGS}unix_socket_directories = '{socket_dir}'\n");
        let mut conf = OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))?;
        conf.write_all(settings.as_bytes())?;

        let mut attempt = 1;
        loop {
            cluster.port = free_port()?;
            let clash = format!("already running on port {}", cluster.port);
            match cluster.pg_ctl_start() {
                Err(_) if attempt < PORT_ATTEMPTS && cluster.log_tail().contains(&clash) => {
                    attempt += 1
                }
                result => return result.map(|()| cluster),
            }
        }
    }

    pub(crate) fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    pub(crate) fn stop(&self) -> io::Result<()> {
        let mut stop = self.tool("pg_ctl");
        stop.args(["stop", "-w", "-t", WAIT_SECS, "-m", "fast", "-D"])
            .arg(self.data_dir());
        run(&mut stop, "pg_ctl stop").map_err(|e| self.with_log(e))
    }

    /// Same port as before, so URLs handed out earlier (and pools built on them) work again.
    pub(crate) fn restart(&self) -> io::Result<()> {
        self.pg_ctl_start()
    }

    pub(crate) fn major_version(&self) -> u32 {
        self.major
    }

    /// Everything the server has logged so far (its stderr, as `pg_ctl -l` keeps it).
    pub(crate) fn server_log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_else(|e| panic!("read the server log: {e}"))
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// `-w` makes pg_ctl poll until the server accepts connections, or fail after `WAIT_SECS`.
    fn pg_ctl_start(&self) -> io::Result<()> {
        let mut start = self.tool("pg_ctl");
        start
            .args(["start", "-w", "-t", WAIT_SECS, "-D"])
            .arg(self.data_dir());
        start
            .arg("-l")
            .arg(self.log_path())
            .args(["-o", &format!("-p {}", self.port)]);
        run(&mut start, "pg_ctl start").map_err(|e| self.with_log(e))
    }

    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn with_log(&self, error: io::Error) -> io::Error {
        let message = format!("{error}\n--- server log (tail) ---\n{}", self.log_tail());
        io::Error::new(error.kind(), message)
    }

    fn tool(&self, name: &str) -> Command {
        let exe = self.bin.join(name);
        let mut cmd = if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(exe);
            cmd
        } else {
            Command::new(exe)
        };
        // Untranslated messages, because `start` reads them; a working directory that
        // `postgres` can enter, because the server tools fail in one they cannot.
        cmd.env("LC_ALL", "C")
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        cmd
    }

    /// Drop never runs for a static, nor for a test process that is killed, so a tiny shell loop
    /// outlives us to stop the server and delete its directory once our process is gone.
    fn spawn_watchdog(&self) -> io::Result<Child> {
        const SCRIPT: &str = r#"while kill -0 "$1" 2>/dev/null; do sleep 1; done
dir=$2; shift 2
"$@" stop -m immediate -D "$dir/data" >/dev/null 2>&1
rm -rf "$dir""#;
        let mut cmd = Command::new("sh");
        cmd.args(["-c", SCRIPT, "echodiary-pg-watchdog"])
            .arg(std::process::id().to_string())
            .arg(self.dir.path());
        if self.as_postgres {
            cmd.args(["runuser", "-u", "postgres", "--"]);
        }
        // Its own process group, so a Ctrl-C aimed at the tests does not kill the cleanup too; no
        // inherited pipes, or cargo and nextest would wait for the watchdog to close them.
        cmd.arg(self.bin.join("pg_ctl"))
            .current_dir(std::env::temp_dir())
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        // Immediate shutdown: the data is about to be deleted, so a checkpoint would be wasted.
        let mut stop = self.tool("pg_ctl");
        let _ = stop
            .args(["stop", "-w", "-m", "immediate", "-D"])
            .arg(self.data_dir())
            .output();
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        // The TempDir field removes the directory when it drops, right after this.
    }
}

/// Started on first use and shared by the whole test binary, because a cluster per test costs
/// about a second of initdb; tests isolate themselves by creating their own databases on it.
pub(crate) fn shared_cluster_admin_url() -> String {
    static SHARED: OnceLock<PgCluster> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            PgCluster::start()
                .unwrap_or_else(|e| panic!("could not start the shared PostgreSQL cluster: {e}"))
        })
        .url("postgres")
}

fn is_root() -> bool {
    // std has no geteuid, and `id` exists on every Unix the tests run on.
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

fn run(cmd: &mut Command, what: &str) -> io::Result<()> {
    let out = cmd
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("{what}: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    Err(io::Error::other(format!(
        "{what} failed ({}):\n{stdout}{stderr}",
        out.status
    )))
}

/// A private cluster for a test that stops and restarts PostgreSQL, started off the runtime.
pub(crate) async fn private_cluster() -> Arc<PgCluster> {
    let cluster = tokio::task::spawn_blocking(PgCluster::start)
        .await
        .expect("the cluster task")
        .expect("a private PostgreSQL cluster");
    Arc::new(cluster)
}

/// Runs a blocking cluster operation (stop, restart) off the runtime, which also serves the app
/// under test.
pub(crate) async fn blocking(cluster: &Arc<PgCluster>, op: fn(&PgCluster) -> io::Result<()>) {
    let cluster = Arc::clone(cluster);
    tokio::task::spawn_blocking(move || op(&cluster))
        .await
        .expect("the cluster task")
        .expect("the cluster operation");
}
