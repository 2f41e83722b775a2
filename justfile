# Every check of this repository, one recipe each. `just ci` runs them all; .ci/run (the project's
# machines) and .github/workflows/ci.yml (pull requests) call these recipes and nothing else, so a
# check has exactly one definition. `just --list` shows them.
#
# Needs: cargo, python3 (with venv), node + npm, kubectl; promtool, amtool and postgres_exporter for
# the monitoring recipes (Debian: prometheus, prometheus-alertmanager, prometheus-postgres-exporter).
# `just tools` installs the rest (pinned, once; offline afterwards).

set shell := ["bash", "-euo", "pipefail", "-c"]
set export

# sqlx's query macros check against the committed .sqlx/ data: compiling never needs a database.
SQLX_OFFLINE := "true"
RUST_BACKTRACE := "1"
PG15_BIN := "/usr/lib/postgresql/15/bin"
# Where each `cargo test` run keeps its logs for the leak scan.
SUITE_LOGS := justfile_directory() / "target" / "suite-logs"
PYTHONPATH := justfile_directory() / "tools"
venv := justfile_directory() / ".venv"
python := venv / "bin" / "python"

# List the recipes
default:
    @just --list --unsorted

# Install the checks' Python tools (tools/requirements.lock) and npm tools (tools/package-lock.json)
tools:
    bash scripts/tools-venv.sh
    cmp -s tools/package-lock.json tools/node_modules/.installed-lock.json || \
      { npm ci --prefix tools --no-audit --no-fund --ignore-scripts --loglevel=error && \
        cp tools/package-lock.json tools/node_modules/.installed-lock.json; }

# Re-pin the checks' Python tools after editing tools/pyproject.toml
lock: tools
    {{ venv }}/bin/uv pip compile tools/pyproject.toml --extra dev --universal --python-version 3.11 \
      --generate-hashes --quiet -o tools/requirements.lock

# rustfmt, as committed
fmt:
    cargo fmt --check

# clippy with warnings as errors, then every off-the-shelf linter (.pre-commit-config.yaml)
lint: tools
    cargo clippy --all-targets -- -D warnings
    {{ venv }}/bin/pre-commit run --all-files --show-diff-on-failure

# The committed .sqlx/ data matches the queries and migrations
sqlx-check:
    bash scripts/sqlx-prepare.sh --check

# The repository's own checks: monitoring, alert routing, dashboards, Compose, workflows, deploy, Terraform; and their tests
checks: tools
    {{ python }} -m checks monitoring
    {{ python }} -m checks alert-routing
    {{ python }} -m checks dashboards
    {{ python }} -m checks compose
    {{ python }} -m checks run-scripts
    {{ python }} -m checks terraform
    {{ python }} -m checks deploy
    {{ python }} -m checks module-graph
    {{ python }} -m checks slo
    bash deploy/k8s/monitoring/base/sync-from-repo.sh --check
    cd tools && {{ python }} -m pytest -q

# The README's test command against PostgreSQL 15 and 16, each run's logs scanned for leaks
test: tools (test-on "PG15" PG15_BIN "15") (test-on "PG16" `bash scripts/fetch-postgres.sh | tail -n1` "16")

# `cargo test` against the server binaries in BIN (major version MAJOR), then the leak scan of its logs
test-on NAME BIN MAJOR:
    #!/usr/bin/env bash
    set -euo pipefail
    logs={{ SUITE_LOGS }}-{{ NAME }}
    rm -rf "$logs" && mkdir -p "$logs"
    # The expected major version makes a test prove the suite really ran on that server.
    ECHODIARY_TEST_PG_BIN={{ BIN }} ECHODIARY_TEST_EXPECT_PG_MAJOR={{ MAJOR }} ECHODIARY_TEST_LOG_DIR="$logs" \
      cargo test 2>&1 | tee "$logs/cargo-test.out"
    {{ python }} -m checks logscan "$logs"
    awk '/^test result:/ { p += $4; f += $6; i += $8 } END {
      printf "{{ NAME }}: %d passed, %d failed, %d ignored\n", p, f, i; exit (p == 0) }' "$logs/cargo-test.out"

# The README's "Run it, test it" commands twice without a system PostgreSQL, then `cargo test` beside the dev server
first-run: (stack "test_first_run.py")

# Timing drills that need the machine to themselves: a login storm does not starve other requests
drills: tools
    rm -rf {{ SUITE_LOGS }}-drills
    ECHODIARY_TEST_PG_BIN={{ PG15_BIN }} ECHODIARY_TEST_LOG_DIR={{ SUITE_LOGS }}-drills \
      cargo test --test api -- --ignored --test-threads=1 --nocapture a_login_storm
    {{ python }} -m checks logscan {{ SUITE_LOGS }}-drills

# Contract fuzzing: schemathesis against /openapi.json, authenticated (tests/stack/test_fuzz.py)
fuzz: (stack "test_fuzz.py")

# Backup round trip: pg_dump as the CronJob does, restore as the runbook says, compare (tests/stack/test_backup.py)
backup: (stack "test_backup.py")

# The monitoring stack, live: PostgreSQL, the service, postgres_exporter, Alertmanager, Prometheus; `--keep` leaves it up
live-stack *ARGS: (stack "test_live_stack.py" ARGS)

# One file of the stack tests (tests/stack/) against the debug build
stack FILE *ARGS: tools
    cargo build --quiet --bin echodiary
    {{ python }} -m pytest tests/stack/{{ FILE }} --binary target/debug/echodiary {{ ARGS }}

# The performance benchmark (bench/README.md)
bench:
    python3 bench/run.py

# The data-scale benchmark: every list variant at 100k, 2M and 10M entries (bench/README.md); e.g. `just bench-scale --sizes 100k`
bench-scale *ARGS:
    python3 bench/scale.py {{ ARGS }}

# Everything CI checks, in order
ci: tools fmt lint sqlx-check checks test first-run drills backup fuzz live-stack
