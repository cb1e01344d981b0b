#!/usr/bin/env bash
# Checks of the deployment files that run on a workstation or in CI:
#   - the systemd unit with `systemd-analyze verify` (skipped if systemd-analyze is missing)
#   - the Kubernetes manifests against the Kubernetes schemas (kubernetes-validate, if installed)
#   - the Kubernetes manifests and the Dockerfile with deploy/check_manifests.py (PyYAML)
# Exit status is non-zero when any check fails.  PYTHON selects the interpreter.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"
unit="$here/systemd/sftp-watcher.service"
status=0

if command -v systemd-analyze >/dev/null 2>&1; then
    exec_start="$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")"
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    if [[ -x "$exec_start" ]]; then
        cp "$unit" "$tmp/"
    else
        # Not installed here: verify everything else with a stand-in binary.
        echo "note: $exec_start not installed; verifying the unit with ExecStart=/bin/true"
        sed 's#^ExecStart=.*#ExecStart=/bin/true#' "$unit" >"$tmp/sftp-watcher.service"
    fi
    if output="$(systemd-analyze verify "$tmp/sftp-watcher.service" 2>&1)" && [[ -z "$output" ]]; then
        echo "ok: systemd unit"
    else
        echo "FAIL: systemd-analyze verify:"
        echo "$output"
        status=1
    fi
else
    echo "skip: systemd-analyze not available, systemd unit not verified"
fi

kubernetes_validate="$(command -v kubernetes-validate || true)"
if [[ -z "$kubernetes_validate" && -x "$(dirname "$python")/kubernetes-validate" ]]; then
    kubernetes_validate="$(dirname "$python")/kubernetes-validate"
fi
if [[ -n "$kubernetes_validate" ]]; then
    # Strict: a misspelt or misplaced field is an error, not silently dropped.
    if "$kubernetes_validate" --strict --quiet -k 1.31.0 "$here"/kubernetes/*.yaml; then
        echo "ok: kubernetes manifests against the Kubernetes 1.31 schemas"
    else
        status=1
    fi
else
    echo "skip: kubernetes-validate not installed, manifests not checked against the schemas"
fi

"$python" "$here/check_manifests.py" || status=1
exit "$status"
