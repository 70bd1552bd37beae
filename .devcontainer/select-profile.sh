#!/bin/sh
# Runs on the host before the Dev Container starts (devcontainer.json initializeCommand).
# Writes compose.profile.yml, which puts the `dev` service in the Compose profile to run:
# `gpu` when the host has a working NVIDIA GPU, else `cpu`. LIFTOFF_DEVCONTAINER_PROFILE
# (gpu or cpu) overrides the detection.
set -eu
out="$(dirname "$0")/compose.profile.yml"
profile="${LIFTOFF_DEVCONTAINER_PROFILE:-}"
if [ -z "$profile" ]; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        profile=gpu
    else
        profile=cpu
    fi
fi
case "$profile" in
    gpu | cpu) ;;
    *) echo "LIFTOFF_DEVCONTAINER_PROFILE must be gpu or cpu, not '$profile'" >&2; exit 2 ;;
esac
printf '# Written by select-profile.sh; do not edit.\nservices:\n  dev:\n    profiles: [%s]\n' \
    "$profile" >"$out"
echo "Dev Container: Compose profile '$profile'"
