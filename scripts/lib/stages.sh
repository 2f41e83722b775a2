# shellcheck shell=bash
# The stage runner and the self-test summary shared by scripts/ops-check.sh, check-deploy.sh and
# check-terraform.sh: sourced, not run.

# run_stage_list NAME NOUN SUMMARY-HOOK ENTRY...: runs each "function|title" ENTRY in order, with
# the words in the array STAGE_ARGS (if set) as arguments. A stage returns 0 (pass), 3 (skipped: a
# tool is missing outside CI) or anything else (fail), and may set DETAIL to a one-line finding.
# Every stage runs, whatever the ones before it did; then a summary: SUMMARY-HOOK's output (a
# command, ':' for none) and one PASS/SKIP/FAIL line per stage. Returns 1 if any stage failed.
run_stage_list() {
  local name=$1 noun=$2 summary_hook=$3
  shift 3
  local entry function title status failures=0 skipped=0 lines=()
  for entry in "$@"; do
    function=${entry%%|*}
    title=${entry#*|}
    printf '\n===== %s =====\n' "$title"
    DETAIL=""
    status=0
    "$function" "${STAGE_ARGS[@]}" || status=$?
    case $status in
      0) lines+=("$(printf '  PASS  %-36s %s' "$title" "$DETAIL")") ;;
      3)
        lines+=("$(printf '  SKIP  %-36s %s' "$title" "$DETAIL")")
        skipped=$((skipped + 1))
        ;;
      *)
        lines+=("$(printf '  FAIL  %-36s %s' "$title" "$DETAIL")")
        failures=$((failures + 1))
        ;;
    esac
  done
  printf '\n===== %s summary =====\n' "$name"
  "$summary_hook"
  printf '%s\n' "${lines[@]}"
  if ((failures)); then
    printf '%s: %d %s(s) FAILED (the FAIL lines above say why)\n' "$name" "$failures" "$noun"
    return 1
  fi
  printf '%s: all %ss passed (%d skipped)\n' "$name" "$noun" "$skipped"
}

# self_test_summary NAME CASES BAD LINE...: a self-test's verdict after its case LINEs, given how
# many CASES ran and how many went the wrong way (BAD). Returns 1 if any did.
self_test_summary() {
  local name=$1 cases=$2 bad=$3
  shift 3
  printf '\n===== %s self-test =====\n' "$name"
  printf '%s\n' "$@"
  if ((bad)); then
    printf '%s self-test: %d case(s) WRONG\n' "$name" "$bad"
    return 1
  fi
  printf '%s self-test: all %d cases as expected\n' "$name" "$cases"
}
