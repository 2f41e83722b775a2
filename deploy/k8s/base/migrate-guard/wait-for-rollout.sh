#!/bin/sh
# The migration guard: initContainer `wait-for-rollout` of the PreSync Job echodiary-migrate. The
# migration of release N+2 must not run while release N still serves next to a canary of N+1 (two
# merges close together): its contract steps may drop what N still reads. So before migrating at
# all, wait until the Rollout is settled, asking the Kubernetes API every 10 s:
#   - Rollout $ROLLOUT not found: the first deploy, nothing serves yet -> go;
#   - phase Healthy (fully promoted: stableRS == currentPodHash, not paused, not aborted, the
#     controller has seen the current spec) -> go;
#   - aborted (the canary is scaled away, the stable ReplicaSet alone serves): go only once a person
#     has confirmed that this release's migrations are safe for the stable version (a revert, or a
#     fix without contract steps), by annotating the Rollout with the aborted revision's hash:
#       kubectl -n echodiary annotate rollout echodiary --overwrite \
#         migrate-guard.echodiary.dev/allow-aborted=$(kubectl -n echodiary get rollout echodiary \
#           -o jsonpath='{.status.currentPodHash}')
#     (the acknowledgement names that revision, so it never carries over to a later abort);
#   - anything else (a canary in progress or paused, including a pause for an inconclusive analysis)
#     -> wait.
# After $GUARD_TIMEOUT seconds without a go it exits 3 with the reason (the Job's podFailurePolicy
# fails the Job at once: the sync fails, nothing is migrated, Argo CD retries with backoff).
#
# POSIX sh with curl and sed (the curlimages/curl image). The API answers one line of JSON; the few
# fields read here are unique keys of a Rollout (no jq in the image).
#
# Environment:
#   ROLLOUT         the Rollout to wait for                        (echodiary)
#   GUARD_TIMEOUT   seconds to wait before giving up               (900)
#   GUARD_INTERVAL  seconds between two looks                      (10)
#   GUARD_TOKEN_DIR token, ca.crt and namespace of the account     (/var/run/secrets/migrate-guard)
#   KUBERNETES_API  the API server                                 (https://kubernetes.default.svc)
set -eu

rollout=${ROLLOUT:-echodiary}
timeout=${GUARD_TIMEOUT:-900}
interval=${GUARD_INTERVAL:-10}
dir=${GUARD_TOKEN_DIR:-/var/run/secrets/migrate-guard}
api=${KUBERNETES_API:-https://kubernetes.default.svc}
ack_key=migrate-guard.echodiary.dev/allow-aborted
work=$(mktemp -d "${TMPDIR:-/tmp}/guard.XXXXXX")
trap 'rm -rf "$work"' EXIT

log() { printf '%s migrate-guard: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

for file in token ca.crt namespace; do
  [ -r "$dir/$file" ] || { log "cannot read $dir/$file (the projected ServiceAccount token volume)"; exit 2; }
done
namespace=$(cat "$dir/namespace")
url=$api/apis/argoproj.io/v1alpha1/namespaces/$namespace/rollouts/$rollout

# The value of a JSON string field in $work/rollout.json; the greedy `.*` takes the last one on the
# line (the API sorts keys: status comes after metadata and spec, its own keys after its conditions').
str() { sed -n "s|.*\"$1\":\"\\([^\"]*\\)\".*|\\1|p" "$work/rollout.json"; }
# The same for a number or boolean field (or a string holding one, like observedGeneration).
val() { sed -n "s|.*\"$1\":\"\\{0,1\\}\\([A-Za-z0-9]*\\)\"\\{0,1\\}[,}].*|\\1|p" "$work/rollout.json"; }

# One look at the Rollout: sets $verdict (go, wait or error) and $reason.
look() {
  code=$(curl -sS --max-time 10 --cacert "$dir/ca.crt" -H "Authorization: Bearer $(cat "$dir/token")" \
    -o "$work/rollout.json" -w '%{http_code}' "$url" 2>"$work/curl.err") || code=000
  case $code in
    200) ;;
    404)
      # A missing object is a Status with reason NotFound; anything else (no such resource type:
      # Argo Rollouts not installed) is not a first deploy.
      if grep -q '"reason":"NotFound"' "$work/rollout.json" && grep -q '"kind":"rollouts"' "$work/rollout.json"; then
        reason="no Rollout $namespace/$rollout yet: the first deploy, no version serves"
        verdict="go"
      else
        reason="the API answered 404 without a Rollout NotFound status (is Argo Rollouts installed?)"
        verdict="error"
      fi
      return
      ;;
    *)
      reason="the API answered $code: $(cat "$work/curl.err" "$work/rollout.json" 2>/dev/null | head -c 300 | tr '\n' ' ')"
      verdict="error"
      return
      ;;
  esac
  phase=$(str phase)
  message=$(str message)
  stable=$(str stableRS)
  current=$(str currentPodHash)
  generation=$(val generation)
  observed=$(val observedGeneration)
  aborted=$(val abort)
  ack=$(str "$ack_key")
  state="phase ${phase:-unknown}${message:+ ($message)}, stable ${stable:-none}, current ${current:-none}"
  if [ -n "$generation" ] && [ -n "$observed" ] && [ "$generation" != "$observed" ]; then
    reason="$state: the controller has not seen generation $generation yet"
    verdict="wait"
  elif [ "$phase" = Healthy ] && [ -n "$stable" ] && [ "$stable" = "$current" ]; then
    reason="$state: fully promoted"
    verdict="go"
  elif [ "$aborted" = true ] && [ -n "$current" ] && [ "$ack" = "$current" ]; then
    reason="$state: aborted, and $ack_key=$ack confirms this release's migrations are safe for stable $stable"
    verdict="go"
  elif [ "$aborted" = true ]; then
    reason="$state: the rollout of $current was aborted and $stable alone serves. Migrate against it only if this release's migrations are safe for it (a revert, or no contract step): kubectl -n $namespace annotate rollout $rollout --overwrite $ack_key=$current"
    verdict="wait"
  else
    reason="$state: a canary is in progress or paused; promote or abort it (kubectl argo rollouts get rollout $rollout -n $namespace)"
    verdict="wait"
  fi
}

start=$(date +%s)
last=""
while :; do
  look
  if [ "$verdict" = go ]; then
    log "go: $reason"
    exit 0
  fi
  # Said once per change, not every 10 s.
  if [ "$verdict: $reason" != "$last" ]; then
    log "$verdict: $reason"
    last="$verdict: $reason"
  fi
  if [ $(($(date +%s) - start)) -ge "$timeout" ]; then
    log "FAILED: not settled after ${timeout}s, nothing migrated. Last: $reason"
    exit 3
  fi
  sleep "$interval"
done
