#!/usr/bin/env bash
# Prints the Markdown summary of a failed job (see action.yml): STEPS is the job's steps context as
# JSON, HINTS its `<id>: <hint>` lines.
set -euo pipefail
failed=$(jq -r 'to_entries[] | select(.value.outcome == "failure") | .key' <<<"$STEPS")
echo "### :x: ${GITHUB_JOB:-job} failed"
[[ -n $failed ]] || echo "A step without an id, or the job's setup, failed: see the job log."
for id in $failed; do
  hint=$(sed -n "s/^$id: //p" <<<"$HINTS")
  echo "- **$id**: ${hint:-see the log of that step}"
  if [[ -s ${RUNNER_TEMP:-/tmp}/$id.log ]]; then
    printf '\n<details><summary>last lines of %s</summary>\n\n```\n' "$id"
    tail -n 40 "${RUNNER_TEMP:-/tmp}/$id.log" | sed 's/\x1b\[[0-9;]*m//g'
    printf '```\n</details>\n\n'
  fi
done
