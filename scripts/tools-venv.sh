#!/usr/bin/env bash
# Creates .venv with the checks' pinned Python tools (tools/requirements.lock, hashes checked; `just`
# itself is one of them), unless it already holds exactly that lock. The one definition of this
# install: .ci/run, the justfile's `tools` recipe and the CI workflow's setup action call it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
stamp=.venv/.installed-$(sha256sum tools/requirements.lock | cut -c1-16)
if [[ ! -f $stamp ]]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --require-hashes -r tools/requirements.lock
  touch "$stamp"
fi
