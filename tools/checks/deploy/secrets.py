"""Stage secrets: no secret in git. Secrets come from AWS through ExternalSecrets; a Secret with
values is allowed only in the local overlay, and there only obvious development values (nothing
random-looking). And no credential-shaped value anywhere in a rendered manifest (a ConfigMap is no
place for a webhook URL with its token either). checkov's secrets framework scans files, not the
rendered roots, and cannot tell the local overlay from production: hence this module."""

import base64
import binascii
import json
import math
import re
from pathlib import Path
from urllib.parse import urlsplit

from checks.deploy.render import Root
from checks.findings import Findings

LOCAL_OVERLAY = "deploy/k8s/overlays/local"
DEV_MARKERS = re.compile(r"dev|local|example|insecure|change-?me|not-?a-?secret|test|dummy|placeholder|sample|fake|"
                         r"do-?not-?use|unsafe", re.I)
PATTERNS = {
    "AWS access key id": r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    "private key": r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
    "Slack webhook URL": r"hooks\.slack\.com/services/T[0-9A-Z]{6,}/B[0-9A-Z]{6,}/[0-9A-Za-z]{16,}",
    "Discord webhook URL": r"discord(?:app)?\.com/api/webhooks/\d{15,}/[\w-]{30,}",
    "Slack token": r"\bxox[abposr]-[0-9A-Za-z-]{10,}",
    "GitHub token": r"\bgh[pousr]_[0-9A-Za-z]{30,}",
    "JSON web token": r"\beyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]{10,}",
}


def entropy(text: str) -> float:
    return -sum(text.count(c) / len(text) * math.log2(text.count(c) / len(text)) for c in set(text)) if text else 0.0


def candidates(value: str):
    """The parts of a value that would be the secret: a URL's password, `key=value` values, or all."""
    found = [urlsplit(m[0]).password for m in re.finditer(r"[a-z][a-z0-9+.-]*://[^\s\"']+", value, re.I)]
    found += re.findall(r"(?i)(?:password|passwd|pwd|secret|token|key)\s*[=:]\s*['\"]?([^\s'\";&]+)", value)
    return [f for f in found if f] or [value]


def values(doc: dict, found: Findings, label: str) -> dict[str, str]:
    """A Secret's values, data decoded."""
    result = {k: str(v) for k, v in (doc.get("stringData") or {}).items()}
    for key, value in (doc.get("data") or {}).items():
        try:
            result[key] = base64.b64decode(str(value), validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            found.add(label, f"data.{key} is not valid base64")
    return result


def check(repo: Path, roots: list[Root]) -> Findings:
    found = Findings("secrets")
    for root in roots:
        for doc in root.docs:
            label = root.label(doc)
            secret = values(doc, found, label) if doc.get("kind") == "Secret" and doc.get("apiVersion") == "v1" else {}
            for what, pattern in PATTERNS.items():
                if match := re.search(pattern, json.dumps(doc) + "\n".join(secret.values())):
                    found.add(label, f"secret-pattern: holds what looks like a {what} ({match[0][:12]}...)")
            if secret and root.dir != LOCAL_OVERLAY:
                found.add(label, f"secret-in-git: a Secret with values ({', '.join(sorted(secret))}) outside the local "
                                 "overlay: secrets come from AWS through an ExternalSecret")
            elif secret:
                for key, value in sorted(secret.items()):
                    real = [c for c in candidates(value) if not DEV_MARKERS.search(c) and len(c) >= 12 and entropy(c) >= 3.3]
                    if real:
                        found.add(label, f"secret-in-git: {key} holds a random-looking value ({len(real[0])} characters, "
                                         "no development marker such as dev/local/example/insecure)")
    return found
