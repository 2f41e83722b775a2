"""The repository's own checks: what yamllint, shellcheck, hadolint, actionlint and checkov (run by
pre-commit) cannot know about this project. Each module checks one thing and returns findings;
`python -m checks NAME` runs one from the command line, and tools/tests plants a fault for each."""
