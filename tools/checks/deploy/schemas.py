"""Stages k8s-schema and crd-schema: every rendered resource against the schema of its kind.

Built-in kinds (an API group without a dot, or *.k8s.io) are validated by kubernetes-validate,
strictly (an unknown field fails, as the API server's strict field validation rejects it), against
the Kubernetes minor version of the k3s the manifests are for; a kind that version does not serve
(policy/v1beta1, a typo such as apps/v2) fails too. Custom kinds are validated with the
@kubernetes-models packages (crd_validate.mjs), or with a schema of crds/ written from an operator's
CRD where no package exists (k3s' HelmChart and HelmChartConfig); a custom kind with neither fails:
nothing custom goes unvalidated."""

import json
import subprocess
import tempfile
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

from checks.deploy.render import Root, dig, group
from checks.findings import Findings

K8S_VERSION = "1.33"  # the Kubernetes minor version of the k3s deploy/terraform installs
HERE = Path(__file__).resolve().parent


def builtin(doc: dict) -> bool:
    return "." not in group(doc) or group(doc).endswith(".k8s.io")


def check_builtin(repo: Path, roots: list[Root]) -> Findings:
    found = Findings("k8s-schema")
    count = 0
    for root in roots:
        for doc in filter(builtin, root.docs):
            count += 1
            try:
                kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
            except kubernetes_validate.SchemaNotFoundError:
                found.add(root.label(doc), f"{doc['apiVersion']} {doc['kind']} is not served by Kubernetes "
                                           f"{K8S_VERSION} (removed or misspelled API version)")
            except kubernetes_validate.ValidationError as error:
                at = ".".join(str(p) for p in error.path) or "/"
                found.add(root.label(doc), f"{at}: {error.message}")
    found.summary = f"{count} built-in resource(s), kubernetes-validate --strict -k {K8S_VERSION}"
    return found


def strictly(schema):
    """A CRD schema as the API server applies it: an object with `properties` takes no other field
    unless x-kubernetes-preserve-unknown-fields says so."""
    if isinstance(schema, list):
        return [strictly(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: ({n: strictly(s) for n, s in v.items()} if k == "properties" else strictly(v))
           for k, v in schema.items() if not k.startswith("x-kubernetes-")}
    if "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
        out.setdefault("additionalProperties", False)
    return out


def vendored() -> dict[tuple[str, str], dict]:
    crds = {}
    for path in sorted((HERE / "crds").glob("*.yaml")):
        entry = yaml.safe_load(path.read_text())
        entry["file"], entry["validator"] = path.name, jsonschema.Draft7Validator(strictly(entry["schema"]))
        crds[(entry["apiVersion"], entry["kind"])] = entry
    return crds


def check_vendored(label: str, doc: dict, crd: dict, found: Findings) -> None:
    for error in crd["validator"].iter_errors(doc):
        found.add(label, f"does not match crds/{crd['file']}: /{'/'.join(map(str, error.path))} {error.message}")
    for dotted in crd.get("yamlStrings") or []:
        try:
            parsed = yaml.safe_load(value) if isinstance(value := dig(doc, *dotted.split(".")), str) else None
        except yaml.YAMLError as error:
            found.add(label, f"{dotted} is not valid YAML: {str(error).splitlines()[0]}")
            continue
        if parsed is not None and not isinstance(parsed, dict):
            found.add(label, f"{dotted} is not a YAML mapping")


def check_custom(repo: Path, roots: list[Root]) -> Findings:
    found = Findings("crd-schema")
    crds, modelled, own = vendored(), [], 0
    for root in roots:
        for doc in (d for d in root.docs if not builtin(d)):
            if crd := crds.get((doc["apiVersion"], doc["kind"])):
                own += 1
                check_vendored(root.label(doc), doc, crd, found)
            else:
                modelled.append({"label": root.label(doc), "doc": doc})
    with tempfile.TemporaryDirectory() as work:
        (Path(work) / "resources.json").write_text(json.dumps(modelled))
        run = subprocess.run(["node", str(HERE / "crd_validate.mjs"), str(Path(work) / "resources.json"), work],
                             capture_output=True, text=True)
    if run.returncode:
        found.add("crd_validate.mjs", f"exited {run.returncode}: {run.stderr.strip()[-2000:]}")
        return found
    for finding in json.loads(run.stdout):
        found.add(finding["label"], finding["message"])
    found.summary = f"{len(modelled)} custom resource(s) against their packages, {own} against crds/"
    return found
