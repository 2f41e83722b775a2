#!/usr/bin/env bash
# Keeps the in-cluster monitoring on the repository's one set of rules, routing and exporter queries:
#   deploy/k8s/monitoring/base/sync-from-repo.sh           copy them here
#   deploy/k8s/monitoring/base/sync-from-repo.sh --check   fail (exit 1) when a copy differs, or when
#                                                          kustomization.yaml does not load a rule file
#
# prometheus/rules/*.yml and alertmanager/alertmanager.yml are the sources (checked by promtool and
# amtool, tools/checks/monitoring.py). kustomize cannot read them where they are: its
# configMapGenerator only loads files inside the kustomization's own directory (a symlink pointing
# out is rejected as well), and ArgoCD builds with that same restriction. So this directory holds
# byte-identical copies, and the check makes a copy that drifted fail CI. The same goes for
# postgres-exporter/queries.yaml, whose copy is in the application's base beside the exporter's
# Deployment (deploy/k8s/base/postgres-exporter-queries.yaml).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../../.." && pwd)

# source -> copy, both relative to the repository
base=deploy/k8s/monitoring/base
pairs=("alertmanager/alertmanager.yml=$base/alertmanager.yml"
  postgres-exporter/queries.yaml=deploy/k8s/base/postgres-exporter-queries.yaml)
for rule in "$repo"/prometheus/rules/*.yml; do
  pairs+=("prometheus/rules/${rule##*/}=$base/rules/${rule##*/}")
done

mode=${1:-sync}
case $mode in
  sync | --check) ;;
  *)
    echo "usage: $0 [--check]" >&2
    exit 2
    ;;
esac

status=0
for pair in "${pairs[@]}"; do
  source=$repo/${pair%%=*}
  copy=$repo/${pair#*=}
  if [[ $mode == --check ]]; then
    if ! cmp -s "$source" "$copy"; then
      echo "${pair#*=} differs from ${pair%%=*}: run $0" >&2
      status=1
    fi
  elif ! cmp -s "$source" "$copy"; then
    cp "$source" "$copy"
    echo "updated ${pair#*=}"
  fi
done
# A copy whose source is gone.
for copy in "$here"/rules/*.yml; do
  [[ -e $copy ]] || continue
  if [[ ! -f $repo/prometheus/rules/${copy##*/} ]]; then
    if [[ $mode == --check ]]; then
      echo "deploy/k8s/monitoring/base/rules/${copy##*/} has no source in prometheus/rules: run $0" >&2
      status=1
    else
      rm "$copy"
      echo "removed deploy/k8s/monitoring/base/rules/${copy##*/}"
    fi
  fi
done
# A rule file that the ConfigMap prometheus-rules does not list is copied but never loaded: kustomize
# names each file (kustomization.yaml, configMapGenerator), it reads no glob.
for rule in "$repo"/prometheus/rules/*.yml; do
  if ! grep -qxF "      - rules/${rule##*/}" "$here/kustomization.yaml"; then
    echo "deploy/k8s/monitoring/base/kustomization.yaml: prometheus-rules does not list rules/${rule##*/}: add it" >&2
    status=1
  fi
done
[[ $mode == --check && $status == 0 ]] && echo "deploy/k8s/monitoring: rules, Alertmanager routing and exporter queries match the repository's"
exit "$status"
