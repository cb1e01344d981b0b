#!/usr/bin/env bash
# Builds the image from deploy/docker/Dockerfile and smoke-tests it: the container starts on
# the embedded defaults (`run --embedded`), /healthz answers 200 inside it, Docker's
# HEALTHCHECK reports healthy, and `docker stop` (SIGTERM) ends it with exit status 0.
#
#   deploy/docker/check.sh            (as root, or as a user of a running Docker engine)
#
# Docker engine: the one DOCKER_HOST (or the default socket) names when it answers; else a
# dockerd of its own (overlay2, vfs when overlay2 is refused; cgroupfs) on a private socket,
# stopped at the end. Its images stay in DOCKER_DATA_ROOT for the next run.
#
# Base image: BASE_IMAGE if set; else python:3.11-slim when the engine has it or can pull
# it; else a local stand-in (Debian bookworm by debootstrap, with python3, venv, pip, the
# host's CA certificates and pip configuration) imported as sftp-watcher-base:bookworm.
# ROOTFS names a bookworm tree debootstrap already made (with those packages) to import
# instead. The build uses the host's network, so a package index or proxy that the host
# reaches on loopback is reachable too; the container runs on Docker's default network.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
image="${IMAGE:-sftp-watcher:check}"
container="sftp-watcher-check-$$"
stand_in="sftp-watcher-base:bookworm"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
data_root="${DOCKER_DATA_ROOT:-/var/lib/sftp-watcher-check/docker}"
work="$(mktemp -d /tmp/sftp-watcher-docker-check.XXXXXX)"
dockerd_pid=""

say() { printf '%s\n' "$*"; }

cleanup() {
    set +e
    docker rm -f "$container" >/dev/null 2>&1
    if [[ -n "$dockerd_pid" ]]; then
        kill -TERM "$dockerd_pid" 2>/dev/null
        for _ in $(seq 60); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$dockerd_pid" 2>/dev/null
        say "stopped the dockerd this check started (pid $dockerd_pid)"
    fi
    # dockerd leaves its network namespace mounted under the exec root.
    grep -o " $work/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

start_dockerd() {
    local driver="$1"
    command -v dockerd >/dev/null || { say "FAIL: no dockerd (Debian package docker.io)"; exit 1; }
    mkdir -p "$data_root"
    export DOCKER_HOST="unix://$work/docker.sock"
    dockerd --host "$DOCKER_HOST" --pidfile "$work/docker.pid" --data-root "$data_root" \
        --exec-root "$work/exec" --exec-opt native.cgroupdriver=cgroupfs \
        --storage-driver "$driver" >"$work/dockerd-$driver.log" 2>&1 &
    dockerd_pid=$!
    for _ in $(seq 60); do
        if docker info >/dev/null 2>&1; then
            say "ok: dockerd started ($driver, cgroupfs)"
            return 0
        fi
        kill -0 "$dockerd_pid" 2>/dev/null || break
        sleep 1
    done
    kill -TERM "$dockerd_pid" 2>/dev/null || true
    wait "$dockerd_pid" 2>/dev/null || true
    dockerd_pid=""
    say "note: dockerd with $driver did not start:"
    tail -n 5 "$work/dockerd-$driver.log"
    return 1
}

if docker info >/dev/null 2>&1; then
    say "ok: using the running Docker engine"
else
    start_dockerd overlay2 || start_dockerd vfs || { say "FAIL: dockerd does not start"; exit 1; }
fi

build_stand_in() {
    if [[ -z "${ROOTFS:-}" ]] && ! command -v debootstrap >/dev/null; then
        say "FAIL: no debootstrap (Debian package debootstrap) to build $stand_in"
        exit 1
    fi
    local rootfs="$work/rootfs"
    if [[ -n "${ROOTFS:-}" ]]; then
        say "building $stand_in from $ROOTFS"
        cp -a "$ROOTFS" "$rootfs"
    else
        say "building $stand_in with debootstrap from $mirror (a few minutes)"
        debootstrap --variant=minbase \
            --include=python3,python3-venv,python3-pip,python-is-python3,ca-certificates \
            bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
            || { tail -n 20 "$work/debootstrap.log"; say "FAIL: debootstrap"; exit 1; }
    fi
    # The host's trust store (a proxy's CA included) and pip configuration, so that pip
    # inside the build reaches the same package index the host does.
    cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
    [[ -f /etc/pip.conf ]] && cp /etc/pip.conf "$rootfs/etc/pip.conf"
    [[ -d /etc/xdg/pip ]] && mkdir -p "$rootfs/etc/xdg" && cp -r /etc/xdg/pip "$rootfs/etc/xdg/"
    rm -rf "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/lib/apt/lists/"*
    local changes=(--change 'CMD ["python3"]' --change 'ENV LANG=C.UTF-8')
    local name
    for name in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_TRUSTED_HOST PIP_CERT PIP_DEFAULT_TIMEOUT; do
        [[ -n "${!name:-}" ]] && changes+=(--change "ENV $name=${!name}")
    done
    tar -C "$rootfs" -c . | docker import "${changes[@]}" - "$stand_in" >/dev/null
    say "ok: imported $stand_in"
}

if [[ -n "${BASE_IMAGE:-}" ]]; then
    base="$BASE_IMAGE"
elif docker image inspect python:3.11-slim >/dev/null 2>&1 \
    || timeout 60 docker pull -q python:3.11-slim >/dev/null 2>&1; then
    base="python:3.11-slim"
else
    say "note: python:3.11-slim cannot be pulled (no registry); using the local stand-in"
    docker image inspect "$stand_in" >/dev/null 2>&1 || build_stand_in
    base="$stand_in"
fi
say "base image: $base"

pip_env=()
for name in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_TRUSTED_HOST; do
    [[ -n "${!name:-}" ]] && pip_env+=(--build-arg "$name=${!name}")
done
if ! timeout 1200 docker build --network host --build-arg "BASE_IMAGE=$base" "${pip_env[@]}" \
    -f "$here/Dockerfile" -t "$image" "$root" >"$work/build.log" 2>&1; then
    tail -n 30 "$work/build.log"
    say "FAIL: docker build"
    exit 1
fi
say "ok: built $image"

# The embedded defaults: local folders under var/demo in the state volume, dry run, .eml.
docker run -d --name "$container" --health-interval 2s --health-start-period 60s \
    "$image" --embedded >/dev/null
healthz=""
for _ in $(seq 60); do
    if healthz="$(docker exec "$container" python -c \
        "import urllib.request as u; print(u.urlopen('http://127.0.0.1:9108/healthz', timeout=4).status)" \
        2>/dev/null)"; then
        break
    fi
    [[ "$(docker inspect -f '{{.State.Running}}' "$container")" == true ]] || break
    sleep 1
done
if [[ "$healthz" != 200 ]]; then
    docker logs "$container" 2>&1 | tail -n 30
    say "FAIL: /healthz did not answer 200 in the container"
    exit 1
fi
say "ok: /healthz answers 200 inside the container"

health=""
for _ in $(seq 30); do
    health="$(docker inspect -f '{{.State.Health.Status}}' "$container")"
    [[ "$health" == healthy ]] && break
    sleep 1
done
if [[ "$health" != healthy ]]; then
    say "FAIL: Docker's HEALTHCHECK reports '$health'"
    exit 1
fi
say "ok: HEALTHCHECK healthy"

docker stop --time 150 "$container" >/dev/null
code="$(docker inspect -f '{{.State.ExitCode}}' "$container")"
if [[ "$code" != 0 ]]; then
    docker logs "$container" 2>&1 | tail -n 30
    say "FAIL: SIGTERM ended the container with exit status $code"
    exit 1
fi
if ! docker logs "$container" 2>&1 | grep -q 'service.stopped'; then
    docker logs "$container" 2>&1 | tail -n 30
    say "FAIL: no service.stopped event after SIGTERM"
    exit 1
fi
say "ok: SIGTERM (docker stop) exits 0 after service.stopped"
