#!/usr/bin/env bash
# Publishes the images CI's docker job built and scanned, one per architecture, as one
# multi-architecture image (what the publish-* jobs of .github/workflows/release.yml run):
#   scripts/publish-image.sh [--digest-file FILE] ARCHIVE_DIR IMAGE TAG [TAG...]
#
# ARCHIVE_DIR holds the docker job's `docker save` archives, echodiary-image-<arch>.tar, each with the
# image echodiary:ci-<arch>, for every architecture of ARCHES below (the docker job's matrix). Each
# is loaded and pushed as it is (not rebuilt) as IMAGE:TAG-<arch>; then `docker buildx imagetools
# create` pushes the image index (manifest list) naming both as IMAGE:TAG, and as IMAGE:<each further
# TAG>. The index is read back from the registry: it must list exactly linux/<arch> for each of
# ARCHES. Prints the index's digest (sha256:<64 hex>) as the last line of its output, and writes it
# to FILE: the digest the prod overlay pins (scripts/set-overlay-image.py), which a node of either
# architecture resolves to its own image.
#
# Needs docker with the buildx plugin (GitHub's runners have both), logged in to IMAGE's registry,
# and jq. Exit status 2 for bad usage or a missing archive, 1 when a push or the check fails.
set -euo pipefail

# The architectures the docker job builds natively (ubuntu-24.04 and ubuntu-24.04-arm runners), and
# the architectures the Terraform module's instance types have (t4g/m7g: arm64, t3/t3a/m7i: amd64).
readonly ARCHES=(amd64 arm64)

# die MESSAGE [STATUS]
die() {
  echo "publish-image: $1" >&2
  exit "${2:-1}"
}

usage() {
  sed -n '4p' "${BASH_SOURCE[0]}" | sed 's/^# *//' >&2
  exit 2
}

digest_file=""
if [[ ${1:-} == --digest-file ]]; then
  (($# >= 2)) || usage
  digest_file=$2
  shift 2
fi
(($# >= 3)) || usage
archives=$1
image=$2
shift 2
tags=("$@")
[[ $image =~ ^[a-z0-9]+([._/:-][a-z0-9]+)*$ ]] || die "not an image name: $image" 2
for tag in "${tags[@]}"; do
  [[ $tag =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "not an image tag: $tag" 2
done
for arch in "${ARCHES[@]}"; do
  [[ -f $archives/echodiary-image-$arch.tar ]] ||
    die "no image archive for $arch: $archives/echodiary-image-$arch.tar (did the docker job's $arch leg run?)" 2
done

# 1. One image per architecture, exactly the archive the docker job scanned.
sources=()
for arch in "${ARCHES[@]}"; do
  echo "publish-image: loading and pushing the $arch image as $image:${tags[0]}-$arch" >&2
  docker load -i "$archives/echodiary-image-$arch.tar" >&2
  docker tag "echodiary:ci-$arch" "$image:${tags[0]}-$arch"
  docker push "$image:${tags[0]}-$arch" >&2
  sources+=("$image:${tags[0]}-$arch")
done

# 2. The index over them, under every tag.
create=(docker buildx imagetools create)
for tag in "${tags[@]}"; do
  create+=(--tag "$image:$tag")
done
echo "publish-image: ${create[*]} ${sources[*]}" >&2
"${create[@]}" "${sources[@]}" >&2

# 3. Read back: the digest, and the platforms the index lists (attestations, unknown/unknown, left
# out). A registry that has not caught up answers with nothing: asked again a few times.
manifest=""
for attempt in 1 2 3 4 5; do
  manifest=$(docker buildx imagetools inspect --format '{{json .Manifest}}' "$image:${tags[0]}") &&
    [[ $(jq -r '.digest // empty' <<<"$manifest") == sha256:* ]] && break
  echo "publish-image: $image:${tags[0]} not readable yet (attempt $attempt)" >&2
  manifest=""
  sleep $((attempt * 2))
done
[[ -n $manifest ]] || die "could not read $image:${tags[0]} back from the registry"
digest=$(jq -r '.digest' <<<"$manifest")
got=$(jq -r '[.manifests[]?.platform | select(.os != "unknown") | "\(.os)/\(.architecture)"] | sort | join(" ")' \
  <<<"$manifest")
want=$(printf 'linux/%s\n' "${ARCHES[@]}" | sort | paste -sd' ')
[[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] || die "$image:${tags[0]}: not an image digest: $digest"
[[ $got == "$want" ]] || die "$image:${tags[0]} (index $digest) lists platforms '$got', expected '$want'"
echo "publish-image: $image:${tags[0]} is the index $digest of $got" >&2
[[ -z $digest_file ]] || printf '%s\n' "$digest" >"$digest_file"
echo "$digest"
