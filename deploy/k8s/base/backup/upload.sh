#!/bin/sh
# Step 2 of the daily logical backup (the CronJob `echodiary-backup`, container `upload`, image
# amazon/aws-cli): sends the dump that dump.sh left in $BACKUP_DIR to
#   s3://$BACKUP_BUCKET/$BACKUP_PREFIX/$BACKUP_ENV/YYYY/MM/DD/echodiary-<YYYYmmddTHHMMSSZ>.dump
# (the date is the dump's own UTC timestamp), with its .sha256 beside it and the checksum in the
# object's metadata. AWS access comes from the EC2 instance role through IMDSv2: no keys anywhere.
# The role needs s3:PutObject on the prefix and nothing else: no read, list or delete.
#
# tests/stack/test_backup.py runs this file too, with $AWS pointing at a stand-in for the CLI.
#
# Environment:
#   BACKUP_BUCKET   the bucket (ConfigMap echodiary-backup, key `bucket`; set by the overlay)
#   BACKUP_ENV      the environment's path segment, e.g. prod (ConfigMap key `environment`)
#   BACKUP_PREFIX   top-level prefix (ConfigMap key `prefix`) (echodiary)
#   AWS_REGION      the bucket's region                       (ConfigMap key `region`)
#   BACKUP_DIR      where dump.sh wrote                       (/backup)
#   AWS             the AWS CLI command                       (aws)
set -eu

bucket=${BACKUP_BUCKET:-}
env_name=${BACKUP_ENV:-}
prefix=${BACKUP_PREFIX:-echodiary}
dir=${BACKUP_DIR:-/backup}
aws=${AWS:-aws}

log() { printf '%s backup-upload: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
fail() {
  log "FAILED: $*"
  exit 1
}

# S3 bucket naming rules, which also keep an unset overlay's placeholder from passing.
printf '%s' "$bucket" | grep -Eq '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$' ||
  fail "BACKUP_BUCKET '$bucket' is not a bucket name (set key 'bucket' of ConfigMap echodiary-backup)"
for value in "$bucket" "$env_name" "${AWS_REGION:-}"; do
  [ "$value" != set-by-overlay ] ||
    fail "ConfigMap echodiary-backup still holds the base's placeholder: the overlay must set bucket, environment, region"
done
printf '%s' "$prefix" | grep -Eq '^[a-z0-9][a-z0-9_-]*$' ||
  fail "BACKUP_PREFIX '$prefix' is not a single path segment"
printf '%s' "$env_name" | grep -Eq '^[a-z0-9][a-z0-9-]*$' ||
  fail "BACKUP_ENV '$env_name' is not a path segment such as prod"

set -- "$dir"/echodiary-*.dump
if [ $# -ne 1 ] || [ ! -f "$1" ]; then fail "expected exactly one echodiary-*.dump in $dir, found: $*"; fi
file=$1
name=$(basename "$file")
stamp=${name#echodiary-}
stamp=${stamp%.dump}
printf '%s' "$stamp" | grep -Eq '^[0-9]{8}T[0-9]{6}Z$' || fail "unexpected dump name $name"

# The emptyDir sat between two containers: check the bytes are still the ones dump.sh verified.
[ -f "$file.sha256" ] || fail "no $name.sha256 beside the dump"
(cd "$dir" && sha256sum -c --status "$name.sha256") || fail "$name does not match its sha256"
sum=$(cut -d' ' -f1 "$file.sha256")

year=$(printf '%s' "$stamp" | cut -c1-4)
month=$(printf '%s' "$stamp" | cut -c5-6)
day=$(printf '%s' "$stamp" | cut -c7-8)
key=$prefix/$env_name/$year/$month/$day/$name

log "uploading $name ($(wc -c <"$file" | tr -d ' ') bytes) to s3://$bucket/$key"
"$aws" s3 cp "$file" "s3://$bucket/$key" --only-show-errors --no-progress \
  --metadata "sha256=$sum" || fail "upload of the dump failed"
"$aws" s3 cp "$file.sha256" "s3://$bucket/$key.sha256" --only-show-errors --no-progress ||
  fail "upload of the checksum failed"
log "ok: s3://$bucket/$key"
