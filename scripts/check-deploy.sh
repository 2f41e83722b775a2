#!/usr/bin/env bash
# Validation of everything under deploy/ that can be validated without a cluster:
#   scripts/check-deploy.sh              check the repository (what .ci/run runs)
#   scripts/check-deploy.sh --self-test  prove that every stage fails on a deliberately broken copy
#   scripts/check-deploy.sh --install    only install the tools
#
# Stages (helpers in scripts/deploy-check/; each stage runs even when an earlier one failed):
# 1. render      `kubectl kustomize` of every root: deploy/k8s/overlays/*, every path an ArgoCD
#                Application under deploy/ syncs (deploy/k8s/monitoring, deploy/argocd, ...), and any
#                kustomization nothing else includes. Manifests no root includes, and manifests in
#                here-documents of scripts and templates under deploy/ (the k3s user data's root
#                Application and HelmChart), are validated too.
# 2. k8s-schema  built-in resources: kubernetes-validate --strict against Kubernetes $K8S_VERSION (the
#                k3s version targeted); an API version that release does not serve fails.
# 3. crd-schema  custom resources (ArgoCD, Argo Rollouts, External Secrets, prometheus-operator,
#                Traefik): `new Kind(doc).validate()` with the @kubernetes-models packages, then a
#                strict unknown-field check (TypeScript's excess-property check against the same
#                packages' types); an unknown custom kind fails unless deploy-check/unvalidated-kinds.yaml
#                names it with a reason.
# 4. policy      every container: probes, resources, non-root, no privilege, capabilities dropped,
#                read-only root filesystem, pinned image, no host namespaces or hostPath; no secret in
#                git but development values in the local overlay; ArgoCD automated sync. Exceptions:
#                the annotation policy.echodiary.dev/exempt "RULE: REASON" (printed).
# 5. references  what the manifests refer to exists: Secrets, ConfigMaps and their keys, service
#                accounts, selectors, Services of Ingresses and Rollouts, analysis templates, secret
#                stores; ArgoCD AppProjects permit what each Application renders; notification
#                triggers, templates, services and subscriptions match up.
# 6. checkov     the rendered manifests (framework kubernetes; Rollouts' pod templates checked as
#                Deployments) and the Dockerfile (framework dockerfile). Skips: .checkov.yaml entries
#                with a justification comment, or inline `checkov.io/skipN: CKV_K8S_xx=reason`.
# 7. terraform   scripts/check-terraform.sh, when it exists.
# 8. release     the image build in .github/workflows covers linux/amd64 and linux/arm64 (each built
#                natively or with QEMU, and scanned); the prod overlay's images are pinned by digest
#                (`digest: sha256:<64 hex>`; the all-zero digest only with the all-zero tag, the
#                placeholder before CI's first run) and the rendered overlay runs them so;
#                scripts/set-overlay-image.py (--self-test, and on a copy of the overlay) still does
#                CI's edit; an app-of-apps Application hands its targetRevision to the Applications it
#                syncs; git ignores deploy/terraform's plans, state and an activated backend.tf.
# The summary at the end names each result; the exit status is 1 when any stage failed (2 for bad
# usage or a failed install).
#
# The tools are pinned and installed once per machine under ${XDG_CACHE_HOME:-~/.cache}/echodiary/:
# deploy-venv (kubernetes-validate, PyYAML), deploy-checkov-venv (checkov), deploy-crd-models (npm ci
# of scripts/deploy-check/package-lock.json). After that everything runs offline. Needs kubectl (with
# its built-in kustomize), python3 with venv, node and npm.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck disable=SC1091 # shellchecked on its own
source scripts/lib/install.sh
# shellcheck disable=SC1091
source scripts/lib/stages.sh
readonly REPO=$PWD
readonly HELPERS=$REPO/scripts/deploy-check

# The Kubernetes minor version of the k3s the manifests are for.
readonly K8S_VERSION=1.33
readonly KUBERNETES_VALIDATE_VERSION=1.37.0
readonly PYYAML_VERSION=6.0.3
readonly CHECKOV_VERSION=3.3.30

readonly CACHE_ROOT=${XDG_CACHE_HOME:-$HOME/.cache}/echodiary
readonly VENV=$CACHE_ROOT/deploy-venv
readonly CHECKOV_VENV=$CACHE_ROOT/deploy-checkov-venv
readonly NODE_TOOLS=$CACHE_ROOT/deploy-crd-models
readonly PY_REQUIREMENTS="kubernetes-validate==$KUBERNETES_VALIDATE_VERSION PyYAML==$PYYAML_VERSION"
readonly CHECKOV_REQUIREMENTS="checkov==$CHECKOV_VERSION"

WORK=$(mktemp -d)
readonly WORK
trap 'rm -rf "$WORK"' EXIT

die() {
  echo "check-deploy: $*" >&2
  exit 2
}

usage() {
  sed -n '2,5p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

# ------------------------------------------------------------------------------------------ install

with_install_lock() { install_lock check-deploy "$CACHE_ROOT" "$@"; }
install_venv() { install_python_venv check-deploy "$@"; }

# npm ci of the committed lock file into a scratch directory, moved into place whole: an interrupted
# install leaves nothing half-done behind. Redone when the lock file changes.
install_node_tools() {
  local want
  want=$(sha256sum "$HELPERS/package-lock.json" | cut -d' ' -f1)
  [[ -f $NODE_TOOLS/.complete && $(<"$NODE_TOOLS/.complete") == "$want" ]] && return 0
  command -v npm >/dev/null || die "npm is needed once to install the CRD models"
  echo "check-deploy: installing the CRD models (npm ci, scripts/deploy-check/package-lock.json) into $NODE_TOOLS" >&2
  mkdir -p "$CACHE_ROOT"
  local staging
  staging=$(mktemp -d "$NODE_TOOLS.XXXXXX")
  cp "$HELPERS/package.json" "$HELPERS/package-lock.json" "$staging/"
  if ! (cd "$staging" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2); then
    rm -rf "$staging"
    die "npm ci failed"
  fi
  printf '%s\n' "$want" >"$staging/.complete"
  rm -rf "$NODE_TOOLS"
  mv -T "$staging" "$NODE_TOOLS"
}

install_tools() {
  command -v kubectl >/dev/null || die "kubectl is required (kubectl kustomize renders the manifests)"
  command -v node >/dev/null || die "node is required"
  with_install_lock install_venv "$VENV" "$PY_REQUIREMENTS" 'import kubernetes_validate, yaml'
  with_install_lock install_venv "$CHECKOV_VENV" "$CHECKOV_REQUIREMENTS" 'import checkov'
  with_install_lock install_node_tools
  PYTHON=$VENV/bin/python
  KUBERNETES_VALIDATE=$VENV/bin/kubernetes-validate
  CHECKOV=$CHECKOV_VENV/bin/checkov
  readonly PYTHON KUBERNETES_VALIDATE CHECKOV
}

tool_versions() {
  local models
  # shellcheck disable=SC2016 # JavaScript, with its own template strings
  models=$(cd "$NODE_TOOLS" && node -e '
    const lock = require("./package-lock.json");
    const deps = Object.keys(lock.packages[""].dependencies);
    console.log(deps.map((d) => `${d}@${lock.packages[`node_modules/${d}`].version}`).join(", "))')
  printf 'kubectl %s (kustomize %s); kubernetes-validate %s -k %s, PyYAML %s; checkov %s; node %s: %s\n' \
    "$(kubectl version --client -o json 2>/dev/null | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])')" \
    "$(kubectl version --client -o json 2>/dev/null | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin).get("kustomizeVersion", "?"))')" \
    "$KUBERNETES_VALIDATE_VERSION" "$K8S_VERSION" "$PYYAML_VERSION" "$("$CHECKOV" --version)" \
    "$(node --version)" "$models"
}

# ------------------------------------------------------------------------------------------ stages
# Each stage works on the repository in the current directory and the rendered output in $OUT,
# prints what it finds and sets DETAIL (the summary line). Status: 0 passed, 1 failed, 3 skipped.

# logged_stage NAME COMMAND...: runs COMMAND, its output shown and kept in $OUT/NAME.log; its last
# line, less a leading "NAME: ", becomes DETAIL; returns COMMAND's status.
logged_stage() {
  local name=$1 status=0
  shift
  "$@" | tee "$OUT/$name.log" || status=$?
  DETAIL=$(tail -n1 "$OUT/$name.log")
  DETAIL=${DETAIL#"$name: "}
  return "$status"
}

stage_render() {
  mkdir -p "$OUT"
  logged_stage render "$PYTHON" "$HELPERS/render.py" "$PWD" "$OUT"
}

stage_k8s_schema() {
  local status=0
  logged_stage k8s-schema "$PYTHON" "$HELPERS/k8s_schema.py" "$KUBERNETES_VALIDATE" "$K8S_VERSION" "$OUT" ||
    status=$?
  DETAIL+=" (kubernetes-validate $KUBERNETES_VALIDATE_VERSION --strict -k $K8S_VERSION)"
  return "$status"
}

stage_crd_schema() {
  logged_stage crd-schema node "$HELPERS/crd-validate.mjs" "$NODE_TOOLS" "$OUT/rendered" \
    "$HELPERS/unvalidated-kinds.yaml" "$OUT" "$HELPERS/crds"
}

stage_references() { logged_stage references "$PYTHON" "$HELPERS/references.py" "$OUT"; }

stage_policy() { logged_stage policy "$PYTHON" "$HELPERS/policy.py" "$OUT"; }

# Dockerfiles of the repository, generated and vendored trees left out.
dockerfiles() {
  find . \( -path ./target -o -path ./.git -o -path ./.dev -o -name node_modules \) -prune -o \
    -type f \( -name Dockerfile -o -name 'Dockerfile.*' -o -name '*.Dockerfile' \) -print |
    sed 's|^\./||' | LC_ALL=C sort
}

stage_checkov() {
  local status=0 config=() reports=() files=() file
  "$PYTHON" "$HELPERS/checkov_prepare.py" "$OUT" .checkov.yaml | tee "$OUT/checkov-prepare.log" || status=$?
  [[ -f .checkov.yaml ]] && config=(--config-file .checkov.yaml)
  # checkov exits 1 on failed checks; the report below decides, from its JSON.
  if compgen -G "$OUT/checkov/k8s/*.yaml" >/dev/null; then
    echo "checkov --framework kubernetes -d <rendered roots>"
    "$CHECKOV" --skip-download --framework kubernetes "${config[@]}" -d "$OUT/checkov/k8s" \
      -o json >"$OUT/checkov-k8s.json" 2>"$OUT/checkov-k8s.err" || true
    [[ -s $OUT/checkov-k8s.json ]] || cat "$OUT/checkov-k8s.err"
    reports+=("$OUT/checkov-k8s.json")
  fi
  mapfile -t files < <(dockerfiles)
  for file in "${files[@]}"; do
    echo "checkov --framework dockerfile -f $file"
    "$CHECKOV" --skip-download --framework dockerfile "${config[@]}" -f "$file" \
      -o json >"$OUT/checkov-docker-${#reports[@]}.json" 2>"$OUT/checkov-docker.err" || true
    [[ -s $OUT/checkov-docker-${#reports[@]}.json ]] || cat "$OUT/checkov-docker.err"
    reports+=("$OUT/checkov-docker-${#reports[@]}.json")
  done
  if ((${#reports[@]} == 0)); then
    DETAIL="nothing to check"
    return 1
  fi
  "$PYTHON" "$HELPERS/checkov_report.py" "$OUT" "${reports[@]}" | tee "$OUT/checkov.log" || status=1
  DETAIL=$(tail -n1 "$OUT/checkov.log")
  DETAIL="${DETAIL#checkov: } (manifests + ${#files[@]} Dockerfile(s), checkov $CHECKOV_VERSION)"
  return "$status"
}

stage_terraform() {
  if [[ ! -f scripts/check-terraform.sh ]]; then
    DETAIL="skipped: no scripts/check-terraform.sh"
    return 3
  fi
  if bash scripts/check-terraform.sh; then
    DETAIL="scripts/check-terraform.sh passed"
    return 0
  fi
  DETAIL="scripts/check-terraform.sh failed"
  return 1
}

stage_release() {
  logged_stage release "$PYTHON" "$HELPERS/release.py" "$PWD" "$OUT" "$REPO/scripts/set-overlay-image.py"
}

readonly STAGES=(
  "stage_render|1 render (kubectl kustomize)"
  "stage_k8s_schema|2 Kubernetes API schemas"
  "stage_crd_schema|3 CRD schemas (custom resources)"
  "stage_policy|4 policy"
  "stage_references|5 cross-references"
  "stage_checkov|6 checkov"
  "stage_terraform|7 terraform"
  "stage_release|8 release (arm64, digest, ignores)"
)

run_stages() {
  OUT=$WORK/out
  run_stage_list check-deploy stage tool_versions "${STAGES[@]}"
}

# ------------------------------------------------------------------------------------------ self-test
# Each case is a scratch copy of a small, sound deployment (written below; every stage passes on it)
# with one deliberate break; the named stage must fail on it, and say why (the expected pattern).
# Two more cases break a temporary copy of this repository's own rendered manifests.

write_fixture() {
  local dir=$1
  mkdir -p "$dir"/deploy/k8s/{base,overlays/prod,overlays/local} "$dir/deploy/argocd"
  [[ -f $REPO/.checkov.yaml ]] && cp "$REPO/.checkov.yaml" "$dir/"
  cat >"$dir/Dockerfile" <<'EOF'
FROM debian:12.11-slim
USER 65532:65532
HEALTHCHECK CMD ["true"]
CMD ["true"]
EOF
  cat >"$dir/deploy/k8s/base/kustomization.yaml" <<'EOF'
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: demo
resources:
  - rollout.yaml
  - analysis.yaml
  - service.yaml
  - migrate.yaml
  - guard.yaml
  - externalsecret.yaml
  - networkpolicy.yaml
EOF
  cat >"$dir/deploy/k8s/base/networkpolicy.yaml" <<'EOF'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny
spec:
  podSelector: {}
  policyTypes: ["Ingress"]
EOF
  cat >"$dir/deploy/k8s/base/rollout.yaml" <<'EOF'
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: demo
  annotations:
    checkov.io/skip1: CKV_K8S_35=the demo reads its database URL from the environment only
spec:
  replicas: 2
  selector:
    matchLabels:
      app: demo
  strategy:
    canary:
      canaryService: demo-canary
      stableService: demo
      steps:
        - setWeight: 20
        - analysis:
            templates:
              - templateName: error-rate
        - analysis:
            templates:
              - templateName: smoke-test
        - pause:
            duration: 1m
  template:
    metadata:
      labels:
        app: demo
    spec:
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: api
          image: demo-app
          imagePullPolicy: Always
          ports:
            - name: http
              containerPort: 8080
          env:
            - name: DATABASE_URL
              valueFrom:
                secretKeyRef:
                  name: demo
                  key: database-url
          readinessProbe:
            httpGet:
              path: /health/ready
              port: http
          livenessProbe:
            httpGet:
              path: /health/live
              port: http
          resources:
            requests:
              cpu: 100m
              memory: 64Mi
            limits:
              cpu: "1"
              memory: 256Mi
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            privileged: false
            capabilities:
              drop: ["ALL"]
EOF
  cat >"$dir/deploy/k8s/base/analysis.yaml" <<'EOF'
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: error-rate
spec:
  metrics:
    - name: error-rate
      initialDelay: 5m
      interval: 5m
      count: 3
      consecutiveSuccessLimit: 1
      failureLimit: 0
      inconclusiveLimit: 2
      successCondition: len(result) == 1 && result[0] < 0.01
      failureCondition: len(result) == 1 && result[0] >= 0.01
      provider:
        prometheus:
          address: http://prometheus.monitoring.svc:9090
          query: >-
            (sum(rate(http_requests_total{status=~"5.."}[5m])) / sum(rate(http_requests_total[5m])))
            and on () (sum(increase(http_requests_total[5m])) >= 50)
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: smoke-test
spec:
  metrics:
    - name: smoke-test
      provider:
        job:
          spec:
            backoffLimit: 0
            template:
              metadata:
                labels:
                  app: demo-smoke
              spec:
                restartPolicy: Never
                automountServiceAccountToken: false
                securityContext:
                  runAsNonRoot: true
                  runAsUser: 65532
                  seccompProfile:
                    type: RuntimeDefault
                containers:
                  - name: smoke
                    image: curlimages/curl:8.22.0
                    imagePullPolicy: Always
                    command: ["curl", "-fsS", "http://demo-canary/health/ready"]
                    resources:
                      requests:
                        cpu: 10m
                        memory: 16Mi
                      limits:
                        cpu: 100m
                        memory: 32Mi
                    securityContext:
                      allowPrivilegeEscalation: false
                      readOnlyRootFilesystem: true
                      capabilities:
                        drop: ["ALL"]
EOF
  cat >"$dir/deploy/k8s/base/service.yaml" <<'EOF'
apiVersion: v1
kind: Service
metadata:
  name: demo
spec:
  selector:
    app: demo
  ports:
    - name: http
      port: 80
      targetPort: http
---
apiVersion: v1
kind: Service
metadata:
  name: demo-canary
spec:
  selector:
    app: demo
  ports:
    - name: http
      port: 80
      targetPort: http
EOF
  cat >"$dir/deploy/k8s/base/migrate.yaml" <<'EOF'
apiVersion: batch/v1
kind: Job
metadata:
  name: demo-migrate
  annotations:
    argocd.argoproj.io/hook: PreSync
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      serviceAccountName: demo-migrate
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: migrate
          image: demo-app
          imagePullPolicy: Always
          args: ["migrate"]
          resources:
            requests:
              cpu: 50m
              memory: 64Mi
            limits:
              cpu: 500m
              memory: 128Mi
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: ["ALL"]
      # The migration guard (after the migrate container here only so that the cases' first-match
      # edits keep hitting the migrate container).
      initContainers:
        - name: wait-for-rollout
          image: curlimages/curl:8.22.0
          imagePullPolicy: Always
          command: ["/bin/sh", "-c", "until curl -fsS --cacert /token/ca.crt https://kubernetes.default.svc; do sleep 10; done"]
          env:
            - name: ROLLOUT
              value: demo
          resources:
            requests:
              cpu: 10m
              memory: 16Mi
            limits:
              cpu: 100m
              memory: 32Mi
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: ["ALL"]
          volumeMounts:
            - name: token
              mountPath: /token
              readOnly: true
      volumes:
        - name: token
          projected:
            sources:
              - serviceAccountToken:
                  path: token
              - configMap:
                  name: kube-root-ca.crt
EOF
  cat >"$dir/deploy/k8s/base/guard.yaml" <<'EOF'
apiVersion: v1
kind: ServiceAccount
metadata:
  name: demo-migrate
  annotations:
    argocd.argoproj.io/hook: PreSync
    argocd.argoproj.io/sync-wave: "-1"
automountServiceAccountToken: false
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: demo-migrate-guard
  annotations:
    argocd.argoproj.io/hook: PreSync
    argocd.argoproj.io/sync-wave: "-1"
rules:
  - apiGroups: ["argoproj.io"]
    resources: ["rollouts"]
    resourceNames: ["demo"]
    verbs: ["get"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: demo-migrate-guard
  annotations:
    argocd.argoproj.io/hook: PreSync
    argocd.argoproj.io/sync-wave: "-1"
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: demo-migrate-guard
subjects:
  - kind: ServiceAccount
    name: demo-migrate
    namespace: demo
EOF
  cat >"$dir/deploy/k8s/base/externalsecret.yaml" <<'EOF'
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: demo
spec:
  refreshInterval: 1h
  secretStoreRef:
    kind: ClusterSecretStore
    name: aws-parameter-store
  target:
    name: demo
  data:
    - secretKey: database-url
      remoteRef:
        key: /demo/prod/database-url
EOF
  cat >"$dir/deploy/k8s/overlays/prod/kustomization.yaml" <<'EOF'
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base
images:
  - name: demo-app
    newName: ghcr.io/example/demo
    newTag: "0.0.0-ci-sets-this"
    digest: sha256:52926082b7c334fd52168872c1854847b6e3576de483fbcd7de30f049c1bc98b
EOF
  cat >"$dir/deploy/k8s/overlays/local/kustomization.yaml" <<'EOF'
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base
  - secret.yaml
  - postgres.yaml
images:
  - name: demo-app
    newName: demo
    newTag: dev
EOF
  cat >"$dir/deploy/k8s/overlays/local/secret.yaml" <<'EOF'
apiVersion: v1
kind: Secret
metadata:
  name: demo-local
  namespace: demo
stringData:
  database-url: postgres://demo:demo-local-password@postgres:5432/demo
EOF
  cat >"$dir/deploy/k8s/overlays/local/postgres.yaml" <<'EOF'
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: postgres
  namespace: demo
  annotations:
    policy.echodiary.dev/exempt: "read-only-root-filesystem: the postgres image writes its socket and lock files to /var/run/postgresql"
    checkov.io/skip1: CKV_K8S_22=the postgres image writes its socket and lock files to /var/run/postgresql
spec:
  serviceName: postgres
  replicas: 1
  selector:
    matchLabels:
      app: postgres
  template:
    metadata:
      labels:
        app: postgres
    spec:
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 70999
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: postgres
          image: postgres:16.15-bookworm
          imagePullPolicy: Always
          readinessProbe:
            exec:
              command: ["pg_isready"]
          livenessProbe:
            exec:
              command: ["pg_isready"]
          resources:
            requests:
              cpu: 100m
              memory: 128Mi
            limits:
              cpu: "1"
              memory: 512Mi
          securityContext:
            allowPrivilegeEscalation: false
            capabilities:
              drop: ["ALL"]
EOF
  cat >"$dir/deploy/argocd/kustomization.yaml" <<'EOF'
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: argocd
resources:
  - project.yaml
  - application.yaml
  - clustersecretstore.yaml
  - notifications.yaml
  - traefik-config.yaml
EOF
  cat >"$dir/deploy/bootstrap.sh" <<'EOF'
#!/bin/sh
# The root Application, applied once by hand; everything else comes from git.
kubectl apply -f - <<YAML
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: demo-bootstrap
  namespace: argocd
spec:
  project: default
  source:
    repoURL: "$REPO_URL"
    targetRevision: main
    path: deploy/argocd
  destination:
    server: https://kubernetes.default.svc
    namespace: argocd
  syncPolicy:
    automated:
      prune: true
      selfHeal: true
    retry:
      limit: 5
YAML
EOF
  cat >"$dir/deploy/argocd/traefik-config.yaml" <<'EOF'
apiVersion: helm.cattle.io/v1
kind: HelmChartConfig
metadata:
  name: traefik
  namespace: kube-system
spec:
  valuesContent: |-
    logs:
      access:
        enabled: true
EOF
  cat >"$dir/deploy/argocd/notifications.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-notifications-cm
data:
  service.webhook.chat: |
    url: $chat-webhook-url
  template.app-sync-failed: |
    webhook:
      chat:
        method: POST
        body: '{"text": "sync of {{.app.metadata.name}} failed"}'
  trigger.on-sync-failed: |
    - when: app.status.operationState.phase in ['Error', 'Failed']
      send: [app-sync-failed]
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: argocd-notifications-secret
spec:
  secretStoreRef:
    kind: ClusterSecretStore
    name: aws-parameter-store
  target:
    name: argocd-notifications-secret
    creationPolicy: Merge
  data:
    - secretKey: chat-webhook-url
      remoteRef:
        key: /demo/prod/chat-webhook-url
EOF
  cat >"$dir/deploy/argocd/project.yaml" <<'EOF'
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata:
  name: demo
spec:
  sourceRepos:
    - https://github.com/example/demo.git
  destinations:
    - server: https://kubernetes.default.svc
      namespace: demo
  namespaceResourceWhitelist:
    - group: ""
      kind: Service
    - group: ""
      kind: ServiceAccount
    - group: rbac.authorization.k8s.io
      kind: Role
    - group: rbac.authorization.k8s.io
      kind: RoleBinding
    - group: batch
      kind: Job
    - group: networking.k8s.io
      kind: NetworkPolicy
    - group: argoproj.io
      kind: Rollout
    - group: argoproj.io
      kind: AnalysisTemplate
    - group: external-secrets.io
      kind: ExternalSecret
EOF
  cat >"$dir/deploy/argocd/application.yaml" <<'EOF'
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: demo
  annotations:
    notifications.argoproj.io/subscribe.on-sync-failed.chat: ""
spec:
  project: demo
  source:
    repoURL: https://github.com/example/demo.git
    targetRevision: main
    path: deploy/k8s/overlays/prod
  destination:
    server: https://kubernetes.default.svc
    namespace: demo
  syncPolicy:
    automated:
      prune: true
      selfHeal: true
    retry:
      limit: 5
      backoff:
        duration: 10s
        factor: 2
        maxDuration: 5m
EOF
  cat >"$dir/deploy/argocd/clustersecretstore.yaml" <<'EOF'
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata:
  name: aws-parameter-store
spec:
  provider:
    aws:
      service: ParameterStore
      region: eu-central-1
EOF
  mkdir -p "$dir/.github/workflows" "$dir/deploy/terraform"
  cat >"$dir/.github/workflows/ci.yml" <<'EOF'
name: CI
on: push
jobs:
  image:
    strategy:
      matrix:
        include:
          - arch: amd64
            platform: linux/amd64
            runner: ubuntu-24.04
          - arch: arm64
            platform: linux/arm64
            runner: ubuntu-24.04-arm
    runs-on: ${{ matrix.runner }}
    steps:
      - id: build
        uses: docker/build-push-action@0000000000000000000000000000000000000000
        with:
          platforms: ${{ matrix.platform }}
          load: true
          tags: demo:ci-${{ matrix.arch }}
      - id: scan
        uses: aquasecurity/trivy-action@0000000000000000000000000000000000000000
        with:
          image-ref: demo:ci-${{ matrix.arch }}
EOF
  printf '.terraform/\n*.tfstate\n*.tfstate.*\ntfplan\n*.tfplan\nbackend.tf\n' >"$dir/deploy/terraform/.gitignore"
  git -C "$dir" init -q
}

# Replaces the first occurrence of $3 with $4 in file $2 of case $1 (a literal string, new lines as
# \n); a replacement that finds nothing is a broken test, not a pass.
edit() {
  local file=$WORK/cases/$1/$2
  "$PYTHON" - "$file" "$3" "$4" <<'PY' || die "self-test: edit of $file failed"
import sys
path, old, new = sys.argv[1], sys.argv[2].replace("\\n", "\n"), sys.argv[3].replace("\\n", "\n")
text = open(path).read()
if old not in text:
    sys.exit(f"{old!r} not in {path}")
open(path, "w").write(text.replace(old, new, 1))
PY
}

new_case() {
  rm -rf "$WORK/cases/$1"
  cp -a "$WORK/cases/good" "$WORK/cases/$1"
}

# name|stage|expected status|pattern the output must contain (extended regex)
self_test_cases() {
  write_fixture "$WORK/cases/good"
  local stage
  for stage in stage_render stage_k8s_schema stage_crd_schema stage_policy stage_references stage_checkov; do
    CASES+=("good|$stage|0|")
  done
  local ctx='spec:\n  serviceName: postgres\n  replicas: 1'

  new_case build-error
  edit build-error deploy/k8s/base/kustomization.yaml '  - service.yaml' '  - services.yaml'
  CASES+=("build-error|stage_render|1|kubectl kustomize failed")
  new_case app-path-missing
  edit app-path-missing deploy/argocd/application.yaml 'overlays/prod' 'overlays/production'
  CASES+=("app-path-missing|stage_render|1|does not exist in this repository")

  new_case embedded-app-path-missing
  edit embedded-app-path-missing deploy/bootstrap.sh 'path: deploy/argocd' 'path: deploy/argo-cd'
  CASES+=("embedded-app-path-missing|stage_render|1|deploy/bootstrap.sh: Application demo-bootstrap: spec.source.path 'deploy/argo-cd' does not exist")
  new_case embedded-app-field-type
  edit embedded-app-field-type deploy/bootstrap.sh 'selfHeal: true' 'selfHeal: "yes"'
  CASES+=("embedded-app-field-type|stage_crd_schema|1|Application argocd/demo-bootstrap \\(deploy/bootstrap.sh:3 \\(here-document\\)\\).*selfHeal must be boolean")

  new_case deployment-field-type
  edit deployment-field-type deploy/k8s/overlays/local/postgres.yaml "$ctx" 'spec:\n  serviceName: postgres\n  replicas: "one"'
  CASES+=("deployment-field-type|stage_k8s_schema|1|statefulset/postgres .*replicas: 'one' is not of type 'integer'")
  new_case unknown-builtin-field
  edit unknown-builtin-field deploy/k8s/base/service.yaml '  selector:' '  selectr:\n    app: demo\n  selector:'
  CASES+=("unknown-builtin-field|stage_k8s_schema|1|'selectr' was unexpected")
  new_case removed-api
  cat >>"$WORK/cases/removed-api/deploy/k8s/base/service.yaml" <<'EOF'
---
apiVersion: policy/v1beta1
kind: PodDisruptionBudget
metadata:
  name: demo
spec:
  minAvailable: 1
  selector:
    matchLabels:
      app: demo
EOF
  CASES+=("removed-api|stage_k8s_schema|1|policy/v1beta1 PodDisruptionBudget .*not served by Kubernetes")

  new_case rollout-field-type
  edit rollout-field-type deploy/k8s/base/rollout.yaml 'containerPort: 8080' 'containerPort: "8080"'
  CASES+=("rollout-field-type|stage_crd_schema|1|Rollout demo/demo .*containerPort must be integer")
  new_case cr-field-type
  edit cr-field-type deploy/argocd/application.yaml 'limit: 5' 'limit: "5"'
  CASES+=("cr-field-type|stage_crd_schema|1|Application argocd/demo .*retry/limit must be integer")
  new_case cr-unknown-field
  edit cr-unknown-field deploy/argocd/application.yaml 'selfHeal: true' 'selfHael: true'
  CASES+=("cr-unknown-field|stage_crd_schema|1|unknown field at spec.syncPolicy.automated.selfHael")
  new_case cr-unknown-nested-field
  edit cr-unknown-nested-field deploy/k8s/base/rollout.yaml '      canaryService:' '      stepz: []\n      canaryService:'
  CASES+=("cr-unknown-nested-field|stage_crd_schema|1|unknown field at spec.strategy.canary.stepz")
  new_case unknown-cr-kind
  cat >>"$WORK/cases/unknown-cr-kind/deploy/k8s/base/service.yaml" <<'EOF'
---
apiVersion: widgets.example.com/v1
kind: Widget
metadata:
  name: demo
spec:
  size: 3
EOF
  CASES+=("unknown-cr-kind|stage_crd_schema|1|unknown custom kind: no CRD model for widgets.example.com/v1 Widget")
  new_case vendored-crd-unknown-field
  edit vendored-crd-unknown-field deploy/argocd/traefik-config.yaml 'valuesContent:' 'valueContent:'
  CASES+=("vendored-crd-unknown-field|stage_crd_schema|1|HelmChartConfig [a-z-]+/traefik .*unknown field \"valueContent\"")
  new_case vendored-crd-bad-values
  edit vendored-crd-bad-values deploy/argocd/traefik-config.yaml 'enabled: true' 'enabled: [true'
  CASES+=("vendored-crd-bad-values|stage_crd_schema|1|spec.valuesContent is not valid YAML")

  new_case no-limits
  edit no-limits deploy/k8s/base/rollout.yaml '            limits:\n              cpu: "1"\n              memory: 256Mi\n' ''
  CASES+=("no-limits|stage_policy|1|Rollout demo/demo .* container api: memory-limit")
  new_case privileged
  edit privileged deploy/k8s/base/migrate.yaml 'allowPrivilegeEscalation: false' 'privileged: true'
  CASES+=("privileged|stage_policy|1|Job demo/demo-migrate .*container migrate: privileged")
  new_case unpinned-image
  edit unpinned-image deploy/k8s/overlays/local/postgres.yaml 'postgres:16.15-bookworm' 'postgres'
  CASES+=("unpinned-image|stage_policy|1|container postgres: image-pinned: image 'postgres' has no tag")
  new_case latest-image
  edit latest-image deploy/k8s/overlays/prod/kustomization.yaml '"0.0.0-ci-sets-this"\n    digest: sha256:52926082b7c334fd52168872c1854847b6e3576de483fbcd7de30f049c1bc98b' 'latest'
  CASES+=("latest-image|stage_policy|1|image-pinned: .*moving tag 'latest'")
  new_case no-probes
  edit no-probes deploy/k8s/base/rollout.yaml '          readinessProbe:' '          startupProbe:'
  CASES+=("no-probes|stage_policy|1|container api: readiness-probe")
  new_case root-writable-host
  edit root-writable-host deploy/k8s/base/rollout.yaml '      automountServiceAccountToken: false' \
    '      automountServiceAccountToken: false\n      hostNetwork: true\n      volumes:\n        - name: h\n          hostPath:\n            path: /var'
  edit root-writable-host deploy/k8s/base/rollout.yaml 'runAsNonRoot: true' 'runAsNonRoot: false'
  CASES+=("root-writable-host|stage_policy|1|run-as-non-root")
  CASES+=("root-writable-host|stage_policy|1|host-network")
  CASES+=("root-writable-host|stage_policy|1|host-path")
  new_case exemption-without-reason
  edit exemption-without-reason deploy/k8s/overlays/local/postgres.yaml \
    '"read-only-root-filesystem: the postgres image writes its socket and lock files to /var/run/postgresql"' \
    '"read-only-root-filesystem:"'
  CASES+=("exemption-without-reason|stage_policy|1|exception for read-only-root-filesystem has no reason")
  new_case secret-in-prod
  cp "$WORK/cases/secret-in-prod/deploy/k8s/overlays/local/secret.yaml" "$WORK/cases/secret-in-prod/deploy/k8s/base/"
  edit secret-in-prod deploy/k8s/base/kustomization.yaml '  - rollout.yaml' '  - rollout.yaml\n  - secret.yaml'
  edit secret-in-prod deploy/k8s/overlays/local/kustomization.yaml '  - secret.yaml\n' ''
  CASES+=("secret-in-prod|stage_policy|1|k8s-overlays-prod: Secret demo/demo-local .*secret-in-git")
  new_case random-local-secret
  edit random-local-secret deploy/k8s/overlays/local/secret.yaml 'demo-local-password' 'q7Vx2Lp9ZkR4mW8tN3bY'
  CASES+=("random-local-secret|stage_policy|1|secret-in-git: database-url holds a random-looking value")
  new_case webhook-in-configmap
  cat >>"$WORK/cases/webhook-in-configmap/deploy/argocd/project.yaml" <<'EOF'
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: chat-settings
data:
  service.slack: |
    url: https://hooks.slack.com/services/T0123ABCD/B0123ABCD/abcdefghijklmnopqrstuvwx
EOF
  CASES+=("webhook-in-configmap|stage_policy|1|secret-pattern: holds what looks like a Slack webhook URL")
  new_case argocd-no-self-heal
  edit argocd-no-self-heal deploy/argocd/application.yaml '      selfHeal: true\n' ''
  CASES+=("argocd-no-self-heal|stage_policy|1|argocd-sync: syncPolicy lacks automated.selfHeal")

  new_case missing-secret-key
  edit missing-secret-key deploy/k8s/base/rollout.yaml 'key: database-url' 'key: database_url'
  CASES+=("missing-secret-key|stage_references|1|Rollout demo/demo .*refs: container api env DATABASE_URL names key 'database_url' of Secret 'demo'")
  new_case missing-secret
  edit missing-secret deploy/k8s/base/rollout.yaml 'name: demo\n                  key' 'name: demo-secrets\n                  key'
  CASES+=("missing-secret|stage_references|1|names Secret 'demo-secrets', which is not in this root")
  new_case service-selects-nothing
  edit service-selects-nothing deploy/k8s/base/service.yaml '  selector:\n    app: demo' '  selector:\n    app: demo-api'
  CASES+=("service-selects-nothing|stage_references|1|Service demo/demo .*selector .* matches no pod template")
  new_case analysis-template-missing
  edit analysis-template-missing deploy/k8s/base/rollout.yaml 'templateName: error-rate' 'templateName: error-ratio'
  CASES+=("analysis-template-missing|stage_references|1|analysis template 'error-ratio' is not an AnalysisTemplate")
  new_case project-forbids-kind
  edit project-forbids-kind deploy/argocd/project.yaml '    - group: batch\n      kind: Job\n' ''
  CASES+=("project-forbids-kind|stage_references|1|Job demo/demo-migrate .*batch/Job is not permitted by AppProject demo")
  new_case project-forbids-namespace
  edit project-forbids-namespace deploy/argocd/application.yaml '    namespace: demo' '    namespace: demo-prod'
  CASES+=("project-forbids-namespace|stage_references|1|argocd-project: destination .* is not in AppProject demo's destinations")
  new_case notification-template-missing
  edit notification-template-missing deploy/argocd/notifications.yaml 'send: [app-sync-failed]' 'send: [app-sync-fail]'
  CASES+=("notification-template-missing|stage_references|1|trigger.on-sync-failed sends template 'app-sync-fail', which is not defined")
  new_case notification-trigger-missing
  edit notification-trigger-missing deploy/argocd/application.yaml 'subscribe.on-sync-failed.chat' 'subscribe.on-sync-failure.chat'
  CASES+=("notification-trigger-missing|stage_references|1|trigger 'on-sync-failure' is not defined in argocd-notifications-cm")
  new_case notification-secret-key-missing
  # shellcheck disable=SC2016 # literal `$key` references of the notifications service
  edit notification-secret-key-missing deploy/argocd/notifications.yaml 'url: $chat-webhook-url' 'url: $slack-webhook-url'
  CASES+=("notification-secret-key-missing|stage_references|1|uses \\\$slack-webhook-url, which is not a key of Secret argocd-notifications-secret")

  # Issue 13: the canary is judged on enough evidence, a smoke test runs as a step, the migration
  # waits for the Rollout to settle, an optional secret does not degrade the Application.
  new_case analysis-no-count-guard
  edit analysis-no-count-guard deploy/k8s/base/analysis.yaml '\n            and on () (sum(increase(http_requests_total[5m])) >= 50)' ''
  CASES+=("analysis-no-count-guard|stage_policy|1|metric error-rate: analysis-evidence: the query has no minimum-count guard")
  new_case analysis-vacuous-pass
  edit analysis-vacuous-pass deploy/k8s/base/analysis.yaml 'successCondition: len(result) == 1 &&' 'successCondition: len(result) == 0 ||'
  edit analysis-vacuous-pass deploy/k8s/base/analysis.yaml '      failureCondition: len(result) == 1 && result[0] >= 0.01\n' ''
  CASES+=("analysis-vacuous-pass|stage_policy|1|analysis-evidence: successCondition .* passes an empty or NaN result")
  CASES+=("analysis-vacuous-pass|stage_policy|1|analysis-evidence: needs both successCondition and failureCondition")
  new_case analysis-endless
  edit analysis-endless deploy/k8s/base/analysis.yaml '      count: 3\n' ''
  CASES+=("analysis-endless|stage_policy|1|analysis-evidence: no count: an endless metric ends Successful")
  new_case analysis-window
  edit analysis-window deploy/k8s/base/analysis.yaml 'interval: 5m' 'interval: 1m'
  CASES+=("analysis-window|stage_policy|1|metric error-rate: analysis-window: range \\[5m\\] differs from interval 1m")
  new_case analysis-limits
  edit analysis-limits deploy/k8s/base/analysis.yaml 'count: 3' 'count: 1'
  CASES+=("analysis-limits|stage_policy|1|analysis-limits: count \\(1\\) must be >= inconclusiveLimit \\(2\\)")
  new_case analysis-job-privileged
  edit analysis-job-privileged deploy/k8s/base/analysis.yaml '                      allowPrivilegeEscalation: false' '                      privileged: true'
  CASES+=("analysis-job-privileged|stage_policy|1|AnalysisTemplate demo/smoke-test .*metric smoke-test \\(its Job\\) container smoke: allow-privilege-escalation")
  new_case rollout-no-smoke-test
  edit rollout-no-smoke-test deploy/k8s/base/rollout.yaml '        - analysis:\n            templates:\n              - templateName: smoke-test\n' ''
  CASES+=("rollout-no-smoke-test|stage_references|1|Rollout demo/demo .*canary-smoke-test: no smoke test among the canary steps")
  new_case migration-no-guard
  edit migration-no-guard deploy/k8s/base/migrate.yaml '            - name: ROLLOUT\n              value: demo\n' ''
  CASES+=("migration-no-guard|stage_references|1|Job demo/demo-migrate .*migration-guard: migrates with no guard")
  new_case migration-guard-no-rbac
  edit migration-guard-no-rbac deploy/k8s/base/guard.yaml 'verbs: ["get"]' 'verbs: ["list"]'
  CASES+=("migration-guard-no-rbac|stage_references|1|migration-guard: ServiceAccount 'demo-migrate' may not get Rollout 'demo'")
  new_case migration-guard-not-hook
  edit migration-guard-not-hook deploy/k8s/base/guard.yaml '  name: demo-migrate\n  annotations:\n    argocd.argoproj.io/hook: PreSync\n    argocd.argoproj.io/sync-wave: "-1"\n' '  name: demo-migrate\n'
  CASES+=("migration-guard-not-hook|stage_references|1|migration-guard: ServiceAccount demo-migrate is not a PreSync hook of an earlier sync wave")
  new_case optional-secret-degrades
  edit optional-secret-degrades deploy/k8s/base/rollout.yaml '                  key: database-url' '                  key: database-url\n                  optional: true'
  CASES+=("optional-secret-degrades|stage_references|1|ExternalSecret demo/demo .*optional-secret-health: every pod uses Secret 'demo' optionally")

  new_case checkov-capability
  edit checkov-capability deploy/k8s/base/migrate.yaml '              drop: ["ALL"]' '              drop: ["ALL"]\n              add: ["SYS_ADMIN"]'
  CASES+=("checkov-capability|stage_checkov|1|Job demo/demo-migrate .*CKV_K8S_39")
  CASES+=("checkov-capability|stage_policy|0|")
  new_case checkov-rollout-template
  edit checkov-rollout-template deploy/k8s/base/rollout.yaml '      automountServiceAccountToken: false\n' ''
  CASES+=("checkov-rollout-template|stage_checkov|1|Rollout demo/demo \\(its pod template, checked as a Deployment\\).*CKV_K8S_38")
  new_case checkov-skip-without-reason
  edit checkov-skip-without-reason deploy/k8s/overlays/local/postgres.yaml \
    'CKV_K8S_22=the postgres image writes its socket and lock files to /var/run/postgresql' 'CKV_K8S_22'
  CASES+=("checkov-skip-without-reason|stage_checkov|1|skips CKV_K8S_22 without a reason")
  new_case checkov-dockerfile
  edit checkov-dockerfile Dockerfile 'USER 65532:65532\n' ''
  CASES+=("checkov-dockerfile|stage_checkov|1|CKV_DOCKER_3")
  new_case checkov-config-unjustified
  printf 'skip-check:\n  - CKV_K8S_21\n' >"$WORK/cases/checkov-config-unjustified/.checkov.yaml"
  CASES+=("checkov-config-unjustified|stage_checkov|1|skip of CKV_K8S_21 has no justification")

  # Stage 8: the image for both architectures, pinned by digest; the revision handed down; ignores.
  local digest=sha256:52926082b7c334fd52168872c1854847b6e3576de483fbcd7de30f049c1bc98b zeros=0000000000000000000000000000000000000000
  local placeholder=sha256:$zeros${zeros:0:24}
  CASES+=("good|stage_release|0|")
  new_case no-arm64-build
  edit no-arm64-build .github/workflows/ci.yml \
    '          - arch: arm64\n            platform: linux/arm64\n            runner: ubuntu-24.04-arm\n' ''
  CASES+=("no-arm64-build|stage_release|1|image-platforms: the image build covers linux/amd64, not linux/arm64")
  new_case arm64-on-x86-runner
  edit arm64-on-x86-runner .github/workflows/ci.yml 'runner: ubuntu-24.04-arm' 'runner: ubuntu-24.04'
  CASES+=("arm64-on-x86-runner|stage_release|1|builds linux/arm64 on runner 'ubuntu-24.04' \\(amd64\\) without docker/setup-qemu-action")
  new_case arm64-with-qemu
  edit arm64-with-qemu .github/workflows/ci.yml 'runner: ubuntu-24.04-arm' 'runner: ubuntu-24.04'
  edit arm64-with-qemu .github/workflows/ci.yml '      - id: build' \
    '      - uses: docker/setup-qemu-action@0000000000000000000000000000000000000000\n      - id: build'
  CASES+=("arm64-with-qemu|stage_release|0|")
  new_case image-not-scanned
  edit image-not-scanned .github/workflows/ci.yml '      - id: scan\n        uses: aquasecurity/trivy-action' \
    '      - id: scan\n        uses: example/not-a-scanner'
  CASES+=("image-not-scanned|stage_release|1|is built but not scanned")
  new_case platform-from-runner-only
  # shellcheck disable=SC2016 # a GitHub expression, not the shell's
  edit platform-from-runner-only .github/workflows/ci.yml '          platforms: ${{ matrix.platform }}\n' ''
  edit platform-from-runner-only .github/workflows/ci.yml '            runner: ubuntu-24.04-arm' '            runner: ubuntu-24.04'
  CASES+=("platform-from-runner-only|stage_release|1|covers linux/amd64, not linux/arm64")
  new_case overlay-no-digest
  edit overlay-no-digest deploy/k8s/overlays/prod/kustomization.yaml "\n    digest: $digest" ''
  CASES+=("overlay-no-digest|stage_release|1|images entry demo-app is not pinned by digest")
  new_case overlay-short-digest
  edit overlay-short-digest deploy/k8s/overlays/prod/kustomization.yaml "$digest" 'sha256:52926082b7c3'
  CASES+=("overlay-short-digest|stage_release|1|digest 'sha256:52926082b7c3' is not sha256:<64 lowercase hex>")
  new_case overlay-placeholder
  edit overlay-placeholder deploy/k8s/overlays/prod/kustomization.yaml "\"0.0.0-ci-sets-this\"\n    digest: $digest" \
    "\"$zeros\"\n    digest: $placeholder"
  CASES+=("overlay-placeholder|stage_release|0|the placeholder \\(all-zero tag and digest\\)")
  new_case overlay-placeholder-real-tag
  edit overlay-placeholder-real-tag deploy/k8s/overlays/prod/kustomization.yaml "$digest" "$placeholder"
  CASES+=("overlay-placeholder-real-tag|stage_release|1|the all-zero placeholder digest with tag '0.0.0-ci-sets-this'")
  new_case overlay-entry-matches-nothing
  edit overlay-entry-matches-nothing deploy/k8s/overlays/prod/kustomization.yaml '  - name: demo-app' '  - name: demo-api'
  CASES+=("overlay-entry-matches-nothing|stage_release|1|images entry demo-api matches no container")
  new_case overlay-flow-style-images
  edit overlay-flow-style-images deploy/k8s/overlays/prod/kustomization.yaml \
    "images:\n  - name: demo-app\n    newName: ghcr.io/example/demo\n    newTag: \"0.0.0-ci-sets-this\"\n    digest: $digest" \
    "images: [{name: demo-app, newName: ghcr.io/example/demo, newTag: 0.0.0-ci-sets-this, digest: \"$digest\"}]"
  CASES+=("overlay-flow-style-images|stage_release|1|ci-contract: set-overlay-image.py cannot set images entry demo-app")
  CASES+=("overlay-flow-style-images|stage_policy|0|")
  new_case child-app-other-revision
  edit child-app-other-revision deploy/argocd/application.yaml 'targetRevision: main' 'targetRevision: develop'
  CASES+=("child-app-other-revision|stage_release|1|argocd-revision: Application demo-bootstrap .* another revision: demo \\('develop'\\)")
  new_case root-app-hands-revision-down
  edit root-app-hands-revision-down deploy/argocd/application.yaml 'targetRevision: main' 'targetRevision: develop'
  # shellcheck disable=SC2016 # a variable of the here-document, expanded by its shell
  edit root-app-hands-revision-down deploy/bootstrap.sh '    targetRevision: main\n    path: deploy/argocd' \
    '    targetRevision: "$REVISION"\n    path: deploy/argocd\n    kustomize:\n      patches:\n        - target:\n            kind: Application\n          patch: |-\n            - op: replace\n              path: /spec/source/targetRevision\n              value: "$REVISION"'
  CASES+=("root-app-hands-revision-down|stage_release|0|hands its targetRevision to the 1 Application")
  CASES+=("root-app-hands-revision-down|stage_crd_schema|0|")
  new_case tfplan-not-ignored
  edit tfplan-not-ignored deploy/terraform/.gitignore '\ntfplan\n' '\n'
  CASES+=("tfplan-not-ignored|stage_release|1|git does not ignore deploy/terraform/tfplan")
  new_case backend-committed
  touch "$WORK/cases/backend-committed/deploy/terraform/backend.tf"
  git -C "$WORK/cases/backend-committed" add -f deploy/terraform/backend.tf
  CASES+=("backend-committed|stage_release|1|deploy/terraform/backend.tf is committed")
}

# Cases on a temporary copy of this repository's own rendered manifests: the stages must fail on a
# break injected into them too (a privileged container; a field of the wrong type).
real_cases() {
  local out=$WORK/real-out
  OUT=$out
  (stage_render >/dev/null 2>&1) || true
  local rendered
  rendered=$("$PYTHON" - "$out" <<'PY'
import json, sys, pathlib, yaml
out = pathlib.Path(sys.argv[1])
for root in json.loads((out / "roots.json").read_text()) if (out / "roots.json").is_file() else []:
    path = out / "rendered" / f"{root['slug']}.yaml"
    if path.is_file():
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") in ("Deployment", "StatefulSet", "Rollout"):
                print(root["slug"])
                sys.exit(0)
PY
  )
  if [[ -z $rendered ]]; then
    echo "self-test: this repository renders no Deployment, StatefulSet or Rollout yet: no real-copy cases"
    return 0
  fi
  local kind
  for kind in privileged wrong-type; do
    rm -rf "$WORK/outs/real-$kind"
    mkdir -p "$WORK/outs"
    cp -a "$out" "$WORK/outs/real-$kind"
    "$PYTHON" - "$WORK/outs/real-$kind/rendered/$rendered.yaml" "$kind" <<'PY'
import sys, yaml
path, kind = sys.argv[1], sys.argv[2]
docs = [d for d in yaml.safe_load_all(open(path)) if d is not None]
for doc in docs:
    if doc.get("kind") in ("Deployment", "StatefulSet", "Rollout") and (doc.get("spec") or {}).get("template"):
        pod = doc["spec"]["template"]["spec"]
        if kind == "privileged":
            pod["containers"][0].setdefault("securityContext", {})["privileged"] = True
        else:
            pod["containers"][0]["ports"] = [{"containerPort": "not-a-number"}]
        print(f"self-test: broke {doc['kind']} {doc['metadata']['name']} in a copy of {path}", file=sys.stderr)
        break
open(path, "w").write(yaml.safe_dump_all(docs, sort_keys=False))
PY
  done
  CASES+=("real-privileged|stage_policy|1|privileged: securityContext.privileged: true")
  CASES+=("real-wrong-type|stage_k8s_schema_or_crd|1|not-a-number|must be integer")

  # Issue 13 on the real manifests, in the root that has a canary with steps and a PreSync
  # migration: the analysis as it was (a 2-minute rate every minute, no count guard), the smoke-test
  # step gone, the migration guard gone.
  local canary_root
  canary_root=$("$PYTHON" - "$out" <<'PY'
import json, sys, pathlib, yaml
out = pathlib.Path(sys.argv[1])
for root in json.loads((out / "roots.json").read_text()) if (out / "roots.json").is_file() else []:
    path = out / "rendered" / f"{root['slug']}.yaml"
    docs = [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)] if path.is_file() else []
    steps = any(d.get("kind") == "Rollout" and (((d.get("spec") or {}).get("strategy") or {}).get("canary") or {}).get("steps")
                for d in docs)
    presync = any(d.get("kind") == "Job" and "PreSync" in str(((d.get("metadata") or {}).get("annotations") or {}))
                  for d in docs)
    if steps and presync:
        print(root["slug"])
        break
PY
  )
  if [[ -z $canary_root ]]; then
    echo "self-test: no rendered root has a canary with steps and a PreSync Job: no issue-13 real-copy cases"
    return 0
  fi
  for kind in analysis-unguarded no-smoke-test no-migration-guard; do
    rm -rf "$WORK/outs/real-$kind"
    cp -a "$out" "$WORK/outs/real-$kind"
    "$PYTHON" - "$WORK/outs/real-$kind/rendered/$canary_root.yaml" "$kind" <<'PY'
import re, sys, yaml
path, kind = sys.argv[1], sys.argv[2]
docs = [d for d in yaml.safe_load_all(open(path)) if d is not None]
jobs = {d["metadata"]["name"] for d in docs if d.get("kind") == "AnalysisTemplate"
        and any("job" in (m.get("provider") or {}) for m in d["spec"].get("metrics") or [])}
for doc in docs:
    if kind == "analysis-unguarded" and doc.get("kind") == "AnalysisTemplate":
        for metric in doc["spec"].get("metrics") or []:
            prometheus = (metric.get("provider") or {}).get("prometheus")
            if prometheus and "and on ()" in prometheus.get("query", ""):
                prometheus["query"] = re.sub(r"\[5m\]", "[2m]", prometheus["query"].split("and on ()")[0])
                metric["interval"] = "1m"
    elif kind == "no-smoke-test" and doc.get("kind") == "Rollout":
        canary = doc["spec"]["strategy"]["canary"]
        canary["steps"] = [s for s in canary["steps"] if not any(
            t.get("templateName") in jobs for t in ((s.get("analysis") or {}).get("templates") or []))]
    elif kind == "no-migration-guard" and doc.get("kind") == "Job":
        doc["spec"]["template"]["spec"].pop("initContainers", None)
open(path, "w").write(yaml.safe_dump_all(docs, sort_keys=False))
print(f"self-test: {kind} in a copy of {path}", file=sys.stderr)
PY
  done
  CASES+=("real-analysis-unguarded|stage_policy|1|analysis-evidence: the query has no minimum-count guard")
  CASES+=("real-analysis-unguarded|stage_policy|1|analysis-window: range \\[2m\\] differs from interval 1m")
  CASES+=("real-no-smoke-test|stage_references|1|Rollout echodiary/echodiary .*canary-smoke-test: no smoke test")
  CASES+=("real-no-migration-guard|stage_references|1|Job echodiary/echodiary-migrate .*migration-guard: migrates with no guard")
}

# The real-copy wrong-type case fails stage 2 for a Deployment/StatefulSet and stage 3 for a Rollout.
stage_k8s_schema_or_crd() {
  local status=0
  stage_k8s_schema || status=$?
  stage_crd_schema || status=$((status | $?))
  return "$status"
}

self_test() {
  CASES=()
  mkdir -p "$WORK/cases"
  self_test_cases
  real_cases
  local entry name function expected pattern status log bad=0 lines=() found
  for entry in "${CASES[@]}"; do
    IFS='|' read -r name function expected pattern <<<"$entry"
    log=$WORK/cases/$name.$function.log
    status=0
    if [[ $name == real-* ]]; then
      (cd "$REPO" && OUT=$WORK/outs/$name && "$function") >"$log" 2>&1 || status=$?
    else
      (cd "$WORK/cases/$name" && OUT=$WORK/outs/$name && { [[ $function == stage_render ]] ||
        stage_render >/dev/null 2>&1 || true; } && "$function") >"$log" 2>&1 || status=$?
    fi
    found=""
    [[ -z $pattern ]] || found=$(grep -Em1 -- "$pattern" "$log" | sed 's/^ *//' | cut -c1-170 || true)
    if [[ $status == "$expected" && (-z $pattern || -n $found) ]]; then
      lines+=("$(printf '  ok      %-28s %-24s exit %s' "$name" "$function" "$status")")
      [[ -z $found ]] || lines+=("            $found")
    else
      lines+=("$(printf '  WRONG   %-28s %-24s exit %s, expected %s%s' "$name" "$function" "$status" "$expected" \
        "${pattern:+ and /$pattern/}")")
      bad=$((bad + 1))
      printf '\n--- %s %s (exit %s, expected %s%s):\n' "$name" "$function" "$status" "$expected" \
        "${pattern:+ and /$pattern/}"
      cat "$log"
    fi
  done
  self_test_summary check-deploy "${#CASES[@]}" "$bad" "${lines[@]}"
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
    install) echo "check-deploy: tools installed under $CACHE_ROOT" ;;
    self-test) self_test ;;
    check) run_stages ;;
  esac
}

main "$@"
