"""The release stage of the deploy check fails on a copy of the repository with one planted fault
in the image build, the prod overlay's pin, CI's overlay edit, the revision the root Application
hands down, or what git ignores; the repository as committed passes it."""

import pytest

from checks.deploy import release
from checks.deploy.render import render
from conftest import fails_on

CI = ".github/workflows/image.yml"
PROD = "deploy/k8s/overlays/prod/kustomization.yaml"
ARM64 = "          - arch: arm64\n            platform: linux/arm64\n            runner: ubuntu-24.04-arm\n"
ZERO_DIGEST = "sha256:" + "0" * 64
DIGEST = "sha256:52926082b7c334fd52168872c1854847b6e3576de483fbcd7de30f049c1bc98b"
BOOTSTRAP = "deploy/terraform/templates/bootstrap-application.yaml.tftpl"


def problems(repo) -> list[str]:
    roots, _ = render(repo.root)
    return release.check(repo.root, roots).problems


def test_the_repository_as_committed_releases_both_architectures_pinned(deploy_copy):
    assert problems(deploy_copy()) == []


def test_the_placeholder_and_a_real_pin_both_pass(deploy_copy):
    repo = deploy_copy()
    repo.replace(PROD, '"0000000000000000000000000000000000000000"', '"0.1.0"').replace(PROD, ZERO_DIGEST, DIGEST)
    assert problems(repo) == []


def test_arm64_on_an_x86_runner_passes_with_qemu(deploy_copy):
    repo = deploy_copy()
    repo.replace(CI, "runner: ubuntu-24.04-arm", "runner: ubuntu-24.04")
    repo.sub(CI, r"(\n      - id: build\n)", "\n      - uses: docker/setup-qemu-action@0000000000000000000000000000000000000000\\1")
    assert problems(repo) == []


FAULTS = {
    "no arm64 build": (lambda r: r.replace(CI, ARM64, ""), "image-platforms: the image build covers linux/amd64, not linux/arm64"),
    "arm64 on an x86 runner": (lambda r: r.replace(CI, "runner: ubuntu-24.04-arm", "runner: ubuntu-24.04"),
                               "image-platforms: builds linux/arm64 on runner 'ubuntu-24.04' (amd64) without docker/setup-qemu-action"),
    "an image built but not scanned": (lambda r: r.replace(CI, "uses: aquasecurity/trivy-action", "uses: example/not-a-scanner"), "is built but not scanned"),
    "no digest in the prod overlay": (lambda r: r.replace(PROD, f"\n    digest: {ZERO_DIGEST}", ""),
                                      "deploy/k8s/overlays/prod/kustomization.yaml: images entry echodiary: image-digest: is not pinned by digest"),
    "a short digest": (lambda r: r.replace(PROD, ZERO_DIGEST, "sha256:52926082b7c3"), "image-digest: digest 'sha256:52926082b7c3' is not sha256:<64 lowercase hex>"),
    "the placeholder digest with a real tag": (lambda r: r.replace(PROD, '"0000000000000000000000000000000000000000"', '"0.1.0"'),
                                               "the all-zero placeholder digest with tag '0.1.0'"),
    "an images entry matching no container": (lambda r: r.replace(PROD, "  - name: echodiary\n", "  - name: echodiary-api\n"), "ci-contract: after setting images entry echodiary-api, 0 container(s) run the new image"),
    "an overlay CI's edit cannot set": (lambda r: r.sub(PROD, r"images:\n  - name: echodiary\n    newName: (\S+)\n    newTag: (\S+)\n    digest: (\S+)\n",
                                                        r"images: [{name: echodiary, newName: \1, newTag: \2, digest: \3}]\n"),
                                        "ci-contract: set-overlay-image.py cannot set images entry echodiary"),
    "a root Application that does not hand its revision down": (lambda r: r.sub(BOOTSTRAP, r"    kustomize:\n      patches:\n(?:        .*\n|          .*\n)+?(?=  destination:)", ""),
                                                                "argocd-revision: syncs deploy/argocd at 'placeholder-git-revision', but the Applications there follow another revision"),
    "a saved plan git does not ignore": (lambda r: r.replace("deploy/terraform/.gitignore", "\ntfplan\n", "\n"), "terraform-ignored: git does not ignore deploy/terraform/tfplan"),
    "an activated backend committed": (lambda r: r.append("deploy/terraform/backend.tf", "terraform {}\n").git("add", "-f", "deploy/terraform/backend.tf"),
                                       "deploy/terraform/backend.tf: terraform-ignored: is committed"),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_the_release_stage_fails_on(deploy_copy, fault):
    fails_on(deploy_copy(), FAULTS[fault], problems)
