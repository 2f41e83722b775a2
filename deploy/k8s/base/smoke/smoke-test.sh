#!/bin/sh
# The canary's smoke test (AnalysisTemplate echodiary-smoke-test, a Job that Argo Rollouts runs as a
# step of the canary): one user's whole life against the new version only, through Service
# echodiary-canary, so a canary that gets no user traffic is still exercised before it is promoted.
#   register a throwaway account -> log in -> create an entry -> read it back -> delete it -> it is
#   gone (404) -> delete the account -> its token answers 401
# Exit 0 when every step answered as the API promises (README.md, "Routes"), 1 otherwise; the Job's
# result is the analysis' result, and a failure aborts the rollout.
#
# The account is deleted even when a later step fails (trap), so failed runs leave nothing behind
# but a log line. Nothing secret is printed: the password is random and thrown away, tokens and
# response bodies of the auth routes never appear in the log.
#
# POSIX sh with curl and sed only (the curlimages/curl image: Alpine's busybox). Runs anywhere:
#   SMOKE_BASE_URL=http://127.0.0.1:8000 sh deploy/k8s/base/smoke/smoke-test.sh
#
# Environment:
#   SMOKE_BASE_URL   the API's public listener            (http://echodiary-canary)
#   SMOKE_TIMEOUT    seconds each request may take         (10)
#   SMOKE_WORK       scratch directory for response bodies (a new one under ${TMPDIR:-/tmp})
set -eu

base=${SMOKE_BASE_URL:-http://echodiary-canary}
base=${base%/}
timeout=${SMOKE_TIMEOUT:-10}
work=${SMOKE_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/smoke.XXXXXX")}
body=$work/body

log() { printf '%s smoke-test: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

# A random hex string from the kernel (busybox ash has no $RANDOM guarantee).
random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# call METHOD PATH [JSON] [TOKEN]: the status code on stdout, the body in $body. A connection error
# or timeout is status 000. Always called as $(call ...), so its variables stay in that subshell.
call() {
  method=$1 path=$2 data=${3:-} bearer=${4:-}
  set -- -sS -o "$body" -w '%{http_code}' --max-time "$timeout" -X "$method" \
    -H 'Accept: application/json' -H 'x-request-id: canary-smoke-test'
  [ -z "$data" ] || set -- "$@" -H 'Content-Type: application/json' --data "$data"
  [ -z "$bearer" ] || set -- "$@" -H "Authorization: Bearer $bearer"
  : >"$body"
  status=$(curl "$@" "$base$path" 2>"$work/curl.err") ||
    log "$method $path: $(tr '\n' ' ' <"$work/curl.err")"
  printf '%s' "${status:-000}"
}

# expect STEP WANT GOT [SHOW_BODY]: passes, or fails the test with what came back instead. Bodies of
# the auth routes (tokens) are never shown.
failed=""
expect() {
  if [ "$3" = "$2" ]; then
    log "ok   $1 ($3)"
    return 0
  fi
  detail=""
  if [ "${4:-show}" = show ] && [ -s "$body" ]; then detail=": $(head -c 300 "$body" | tr '\n' ' ')"; fi
  log "FAIL $1: expected $2, got $3$detail"
  failed="$1"
  return 1
}

# The value of a string field of the JSON object in $body (the first one of that name).
field() { sed -n "s/.*\"$1\" *: *\"\\([^\"]*\\)\".*/\\1/p" "$body" | head -n1; }

email="canary-smoke-$(date -u +%Y%m%d%H%M%S)-$(random_hex 4)@example.com"
password="smoke-$(random_hex 16)"
token=""
registered=""

# Whatever happened, the throwaway account goes (it takes its entries with it).
cleanup() {
  status=$?
  if [ -n "$registered" ] && [ -n "$token" ]; then
    code=$(call DELETE /api/v1/users/me "{\"password\":\"$password\"}" "$token")
    [ "$code" = 204 ] || log "cleanup: deleting the smoke account answered $code"
  elif [ -n "$registered" ]; then
    log "cleanup: no token, the smoke account $email stays (it holds no diary data)"
  fi
  [ -n "${SMOKE_WORK:-}" ] || rm -rf "$work"
  if [ "$status" -eq 0 ] && [ -z "$failed" ]; then
    log "passed against $base"
  else
    log "FAILED against $base${failed:+ at: $failed}"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

log "against $base as $email"

code=$(call POST /api/v1/auth/register "{\"email\":\"$email\",\"password\":\"$password\",\"display_name\":\"Canary smoke test\"}")
expect "register" 201 "$code"
registered=yes

code=$(call POST /api/v1/auth/login "{\"email\":\"$email\",\"password\":\"$password\"}")
expect "log in" 200 "$code" hide
token=$(field access_token)
[ -n "$token" ] || { failed="log in"; log "FAIL log in: no access_token in the answer"; exit 1; }

marker="smoke $(random_hex 6)"
code=$(call POST /api/v1/entries "{\"content\":\"canary $marker\",\"mood\":\"good\",\"tags\":[\"smoke\"]}" "$token")
expect "create an entry" 201 "$code"
entry=$(field id)
case $entry in
  ????????-????-????-????-????????????) ;;
  *) failed="create an entry"; log "FAIL create an entry: no entry id in the answer"; exit 1 ;;
esac

code=$(call GET "/api/v1/entries/$entry" "" "$token")
expect "read the entry" 200 "$code"
grep -q "canary $marker" "$body" || { failed="read the entry"; log "FAIL read the entry: not the content written"; exit 1; }

code=$(call DELETE "/api/v1/entries/$entry" "" "$token")
expect "delete the entry" 204 "$code"

code=$(call GET "/api/v1/entries/$entry" "" "$token")
expect "the deleted entry is gone" 404 "$code"

code=$(call DELETE /api/v1/users/me "{\"password\":\"$password\"}" "$token")
expect "delete the account" 204 "$code"
registered=""

code=$(call GET /api/v1/users/me "" "$token")
expect "the deleted account's token is refused" 401 "$code"
