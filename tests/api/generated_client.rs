//! A client generated from `/openapi.json` with `openapi-python-client` (the generator API users
//! reach for) must type-check a small paging program under `mypy --strict` with no cast, and
//! that program must page through every entry of the live service. This is what keeps the
//! document exact: a field that is always sent but not `required`, say, types `next_cursor` as
//! `str | None | Unset` and the program no longer type-checks.
//!
//! The Python tools come from a virtualenv the test makes once per machine under
//! `target/tmp/openapi-client-venv`, from the pinned `tests/openapi_client/requirements.txt`
//! (PyPI). Without python3 (with venv and pip) the test fails and says so; a machine that cannot
//! have Python opts out with `ECHODIARY_TEST_SKIP_GENERATED_CLIENT=1`, which CI never sets.

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::process::Command;

use crate::support::wait::within;
use crate::support::{TestApp, sensitive};

const OPT_OUT: &str = "ECHODIARY_TEST_SKIP_GENERATED_CLIENT";
const ENTRIES: usize = 5;

fn client_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openapi_client")
}

/// Runs `command` off the runtime's threads, which keep serving the app meanwhile.
async fn run(command: &mut Command, what: &str) -> String {
    let mut command = std::mem::replace(command, Command::new("true"));
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the blocking task")
        .unwrap_or_else(|e| panic!("{what}: could not start it ({e}); python3 with venv and pip is needed, or set {OPT_OUT}=1"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The virtualenv's bin dir, made (or remade, when the requirements change) under target/tmp.
async fn tools() -> PathBuf {
    let requirements = client_dir().join("requirements.txt");
    let pinned = std::fs::read_to_string(&requirements).expect("requirements.txt");
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("openapi-client-venv");
    let stamp = venv.join("installed-requirements.txt");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(pinned.as_str()) {
        run(
            Command::new("python3")
                .args(["-m", "venv", "--clear"])
                .arg(&venv),
            "python3 -m venv",
        )
        .await;
        run(
            Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
                .arg(&requirements),
            "pip install -r tests/openapi_client/requirements.txt",
        )
        .await;
        std::fs::write(&stamp, &pinned).expect("write the stamp");
    }
    venv.join("bin")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_generated_from_the_document_type_checks_strictly_and_pages_through_every_entry() {
    if std::env::var_os(OPT_OUT).is_some_and(|v| v == "1") {
        eprintln!("skipped: {OPT_OUT}=1");
        return;
    }
    within(Duration::from_secs(300), async {
        let bin = tools().await;
        let app = TestApp::spawn().await;
        let document = app
            .get("/openapi.json")
            .await
            .text()
            .await
            .expect("the document");
        let work = tempfile::tempdir().expect("a scratch directory");
        let spec = work.path().join("openapi.json");
        std::fs::write(&spec, document).expect("write the document");
        // The generator's post-processing runs ruff, from the same virtualenv.
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        run(
            Command::new(bin.join("openapi-python-client"))
                .args(["generate", "--meta", "none", "--path"])
                .arg(&spec)
                .arg("--output-path")
                .arg(work.path().join("echodiary_client"))
                .env("PATH", &path),
            "openapi-python-client generate",
        )
        .await;
        let program = client_dir().join("page_entries.py");
        run(
            Command::new(bin.join("mypy"))
                // The generated package's types are used, its own code is not ours to check.
                .args(["--strict", "--follow-imports=silent", "--no-incremental"])
                .args(["--cache-dir", "/dev/null"])
                .arg(&program)
                .env("MYPYPATH", work.path()),
            "mypy --strict page_entries.py",
        )
        .await;

        let (email, password) = ("generated-client@example.com", "generated client password");
        sensitive::record(email);
        sensitive::record(password);
        let printed = run(
            Command::new(bin.join("python"))
                .arg(&program)
                .args([app.base.as_str(), email, password, &ENTRIES.to_string()])
                .env("PYTHONPATH", work.path()),
            "page_entries.py against the service",
        )
        .await;
        let ids: Vec<&str> = printed.lines().collect();
        let distinct: std::collections::HashSet<&&str> = ids.iter().collect();
        assert_eq!((ids.len(), distinct.len()), (ENTRIES, ENTRIES), "{printed}");
    })
    .await;
}
