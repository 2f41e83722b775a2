# shellcheck shell=bash
# Tool installation shared by scripts/ops-check.sh, check-deploy.sh and check-terraform.sh: sourced,
# not run. The caller defines die().

# install_lock NAME DIR COMMAND...: runs COMMAND holding DIR/.NAME.lock, so one install runs at a
# time per machine and a second run waits for the first instead of racing it.
install_lock() {
  local name=$1 dir=$2
  shift 2
  mkdir -p "$dir"
  (
    flock 9
    "$@"
  ) 9>"$dir/.$name.lock"
}

# install_python_venv NAME DIR "REQUIREMENTS" PYTHON-STATEMENT: a venv at DIR holding exactly those
# requirement specifiers, rebuilt from scratch when they change or when the statement (proof that
# the install works) fails. NAME prefixes the messages and names the stamp file.
install_python_venv() {
  local name=$1 venv=$2 requirements=$3 probe=$4
  local stamp=$venv/.$name-requirements
  if [[ -f $stamp && $(<"$stamp") == "$requirements" ]] &&
    "$venv/bin/python" -c "$probe" 2>/dev/null; then
    return 0
  fi
  command -v python3 >/dev/null || die "python3 is needed to install $requirements"
  echo "$name: installing $requirements into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv" ||
    die "python3 -m venv failed (Debian/Ubuntu: apt-get install python3-venv)"
  # shellcheck disable=SC2086 # a list of requirement specifiers
  if ! "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input $requirements >&2; then
    rm -rf "$venv"
    die "pip install $requirements failed"
  fi
  printf '%s\n' "$requirements" >"$stamp"
}
