"""Stage 2 of scripts/check-deploy.sh: built-in resources against the Kubernetes API schemas.

    k8s_schema.py KUBERNETES_VALIDATE K8S_VERSION OUT

Runs `kubernetes-validate --strict -k K8S_VERSION --quiet` on every rendered root (strict: a field the
API does not know fails, as the API server's strict field validation would reject it) and prints
each finding with the repository file the resource came from. kubernetes-validate skips a kind it has
no schema for with a warning and exit status 0: that is right for a custom resource (stage 3 validates
those), but for a built-in API group (no dot in the group, or *.k8s.io) it means an API version
Kubernetes K8S_VERSION does not serve (policy/v1beta1, a typo such as apps/v2): that fails here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from rendered import rendered_roots

ERROR = re.compile(r"^ERROR (?P<file>\S+) did not validate for resource (?P<kind>[^/\s]+)/(?P<name>\S+) "
                   r"against version (?P<version>\S+): (?P<message>.*)$")
WARN = re.compile(r"^WARN (?P<file>\S+) Couldn't find schema for kind (?P<kind>\S+) with api version "
                  r"(?P<api>\S+) for kubernetes version")


def builtin_group(api_version: str) -> bool:
    group = api_version.split("/")[0] if "/" in api_version else ""
    return "." not in group or group.endswith(".k8s.io")


def main() -> int:
    tool, version, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    failures, checked, skipped = [], 0, 0
    for root, rendered, origins in rendered_roots(out):
        by_kind_name = {}
        for key, where in origins.items():
            kind, _, name = key.split("/", 2)
            by_kind_name[(kind.lower(), name)] = where
        run = subprocess.run([tool, "--strict", "-k", version, "--quiet", str(rendered)],
                             capture_output=True, text=True)
        output = (run.stdout + run.stderr).strip()
        found_error = False
        for line in output.splitlines():
            match = ERROR.match(line)
            if match:
                found_error = True
                where = by_kind_name.get((match["kind"], match["name"]))
                failures.append(f"{root['slug']}: {match['kind']}/{match['name']}"
                                f"{f' ({where})' if where else ''}: {match['message']}")
                continue
            match = WARN.match(line)
            if match:
                skipped += 1
                if builtin_group(match["api"]):
                    names = sorted(n for (k, n) in by_kind_name if k == match["kind"].lower())
                    failures.append(f"{root['slug']}: {match['api']} {match['kind']} ({', '.join(names) or '?'}): "
                                    f"not served by Kubernetes {version} (removed or misspelled API version)")
                continue
            if line.strip() and not line.startswith("INFO"):
                print(f"  {root['slug']}: {line}")
        if run.returncode != 0 and not found_error:
            failures.append(f"{root['slug']}: kubernetes-validate exited {run.returncode}: {output[-2000:]}")
        count = sum(1 for k in origins) or None
        checked += 1
        print(f"kubernetes-validate --strict -k {version} {root['dir']}: "
              f"{'FAILED' if run.returncode else 'ok'}{f' ({count} resources)' if count else ''}")
    for failure in failures:
        print(f"FAIL {failure}")
    print(f"k8s-schema: {checked} root(s), {skipped} custom resource(s) left to the CRD stage, "
          f"{len(failures)} problem(s)")
    if not checked:
        print("k8s-schema: nothing rendered to validate")
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
