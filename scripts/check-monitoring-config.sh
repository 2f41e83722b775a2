#!/usr/bin/env bash
# Static checks of the monitoring configuration: the Prometheus config, the rules and their promtool
# unit tests, the Alertmanager config, and the link from every alert to its runbook section.
#
#   bash scripts/check-monitoring-config.sh
#
# Needs promtool and amtool on PATH (Debian: apt-get install prometheus prometheus-alertmanager);
# installs nothing itself. Writes nothing, so it can run any number of times.
#
# Notes:
# - promtool resolves `rule_files` relative to prometheus.yml, and a test file's `rule_files`
#   relative to the test file, so this works from any working directory.
# - amtool 0.25 `check-config` does not open `api_url_file` (the chat webhook secret is read only
#   when a notification is sent), so the committed config is checked as it is, without the secret.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

readonly PROMETHEUS_CONFIG=prometheus/prometheus.yml
readonly ALERTS=prometheus/rules/alerts.yml
readonly ALERTMANAGER_CONFIG=alertmanager/alertmanager.yml
readonly RUNBOOK=docs/runbooks/alerts.md
readonly RUNBOOK_BASE=https://github.com/echodiary/echodiary-backend/blob/main/docs/runbooks/alerts.md

step() { printf '\n--- %s\n' "$*"; }
fail() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

missing=()
command -v promtool >/dev/null || missing+=("promtool (Debian package: prometheus)")
command -v amtool >/dev/null || missing+=("amtool (Debian package: prometheus-alertmanager)")
if ((${#missing[@]})); then
  printf 'error: missing tool: %s\n' "${missing[@]}" >&2
  printf 'install with: apt-get install -y --no-install-recommends prometheus prometheus-alertmanager\n' >&2
  exit 1
fi

shopt -s nullglob
rule_files=(prometheus/rules/*.yml)
test_files=(prometheus/tests/*.yml)
shopt -u nullglob
((${#rule_files[@]})) || fail "no rule files in prometheus/rules/"
((${#test_files[@]})) || fail "no promtool tests in prometheus/tests/"
for file in "$PROMETHEUS_CONFIG" "$ALERTS" "$ALERTMANAGER_CONFIG" "$RUNBOOK"; do
  [[ -f $file ]] || fail "$file is missing"
done

step "promtool check config $PROMETHEUS_CONFIG"
promtool check config "$PROMETHEUS_CONFIG"

step "promtool check rules ${rule_files[*]}"
promtool check rules "${rule_files[@]}"

step "promtool test rules ${test_files[*]}"
promtool test rules "${test_files[@]}"

step "amtool check-config $ALERTMANAGER_CONFIG"
amtool check-config "$ALERTMANAGER_CONFIG"

step "every alert has severity, summary, description and a runbook_url to its section in $RUNBOOK"
# One line per alert: name, severity, whether summary/description exist, runbook_url. The rule file's
# structure is already validated by promtool above; this reads the keys of each `- alert:` item up to
# the next rule.
alert_table=$(awk '
  function unquote(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); gsub(/^["\047]|["\047]$/, "", s); return s }
  function flush() { if (name != "") print name, (severity == "" ? "-" : severity), summary, description, (runbook == "" ? "-" : runbook) }
  /^[ \t]*- (alert|record):/ {
    flush(); name = ""; severity = ""; summary = "no"; description = "no"; runbook = ""
    if ($0 ~ /- alert:/) { line = $0; sub(/^[ \t]*- alert:/, "", line); name = unquote(line) }
    next
  }
  name != "" && /^[ \t]+severity:/ { line = $0; sub(/^[ \t]+severity:/, "", line); severity = unquote(line) }
  name != "" && /^[ \t]+summary:/ { summary = "yes" }
  name != "" && /^[ \t]+description:/ { description = "yes" }
  name != "" && /^[ \t]+runbook_url:/ { line = $0; sub(/^[ \t]+runbook_url:/, "", line); runbook = unquote(line) }
  END { flush() }
' "$ALERTS")
[[ -n $alert_table ]] || fail "no alerts found in $ALERTS"

# GitHub's heading anchors: lower case, punctuation other than - and _ dropped, spaces as dashes.
anchors=$(sed -n 's/^##[[:space:]]\{1,\}//p' "$RUNBOOK" | sed 's/[[:space:]]*$//' |
  tr '[:upper:]' '[:lower:]' | sed 's/[^a-z0-9 _-]//g; s/ /-/g')

problems=0
problem() {
  printf '  %s\n' "$*" >&2
  problems=$((problems + 1))
}
count=0
while read -r name severity summary description runbook; do
  count=$((count + 1))
  [[ $severity == critical || $severity == warning ]] ||
    problem "$name: label severity must be critical or warning (is: $severity)"
  [[ $summary == yes ]] || problem "$name: no summary annotation"
  [[ $description == yes ]] || problem "$name: no description annotation"
  expected="$RUNBOOK_BASE#${name,,}"
  if [[ $runbook == - ]]; then
    problem "$name: no runbook_url annotation"
  elif [[ $runbook != "$expected" ]]; then
    problem "$name: runbook_url is $runbook, expected $expected"
  fi
  anchor=${runbook##*#}
  grep -qxF -- "$anchor" <<<"$anchors" ||
    problem "$name: anchor #$anchor is not a heading of $RUNBOOK (add: ## $name)"
  grep -qE "^[[:space:]]*alertname:[[:space:]]*[\"']?${name}[\"']?[[:space:]]*$" "${test_files[@]}" ||
    problem "$name: no promtool test in prometheus/tests/ (alertname: $name)"
  printf '  %-32s %-8s %s\n' "$name" "$severity" "#$anchor"
done <<<"$alert_table"
((problems == 0)) || fail "$problems problem(s) in $ALERTS or $RUNBOOK"

printf '\nmonitoring configuration OK: %d alerts, each with a runbook section and a promtool test\n' "$count"
