"""Static checks of the deployment files: Kubernetes manifests and the Dockerfile.

Needs only Python 3.11 and PyYAML. Run from anywhere: ``python deploy/check_manifests.py``;
prints each problem and exits 1 if there is any. The tests import ``check_all``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

DEPLOY_DIR = Path(__file__).resolve().parent
METRICS_PORT = 9108
PROBES = {"livenessProbe": "/healthz", "readinessProbe": "/readyz"}


def load_manifests(directory: Path) -> Iterator[tuple[str, Any]]:
    """Every YAML document under ``directory``, named ``file#index``."""
    for path in sorted(directory.glob("*.yaml")):
        with path.open(encoding="utf-8") as handle:
            for index, doc in enumerate(yaml.safe_load_all(handle)):
                if doc is not None:
                    yield f"{path.name}#{index}", doc


def check_manifest(name: str, doc: Any) -> list[str]:
    if not isinstance(doc, dict):
        return [f"{name}: not a mapping"]
    problems = [
        f"{name}: missing {key}" for key in ("apiVersion", "kind", "metadata") if not doc.get(key)
    ]
    if not isinstance(doc.get("metadata"), dict) or not doc["metadata"].get("name"):
        problems.append(f"{name}: metadata.name is required")
    kind = doc.get("kind")
    if kind == "Deployment":
        problems += check_deployment(name, doc)
    elif kind == "ConfigMap":
        problems += check_configmap(name, doc)
    elif kind == "Service" and not isinstance(doc.get("spec"), dict):
        problems.append(f"{name}: missing spec")
    return problems


def check_deployment(name: str, doc: dict[str, Any]) -> list[str]:
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return [f"{name}: missing spec"]
    problems: list[str] = []
    if not isinstance(spec.get("replicas"), int) or spec["replicas"] < 1:
        problems.append(f"{name}: spec.replicas must be a positive integer")
    pod = (spec.get("template") or {}).get("spec")
    if not isinstance(pod, dict):
        return [*problems, f"{name}: missing spec.template.spec"]
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    if not selector or any(labels.get(k) != v for k, v in selector.items()):
        problems.append(f"{name}: spec.selector.matchLabels must match the pod template labels")
    if (pod.get("securityContext") or {}).get("runAsNonRoot") is not True:
        problems.append(f"{name}: pod securityContext.runAsNonRoot must be true")
    containers = pod.get("containers")
    if not isinstance(containers, list) or not containers:
        return [*problems, f"{name}: no containers"]
    for container in containers:
        problems += check_container(f"{name} container {container.get('name', '?')}", container)
    return problems


def check_container(name: str, container: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    if not container.get("image"):
        problems.append(f"{name}: image is not set")
    ports = [p.get("containerPort") for p in container.get("ports") or []]
    if METRICS_PORT not in ports:
        problems.append(f"{name}: containerPort {METRICS_PORT} is not declared")
    for probe, path in PROBES.items():
        http_get = (container.get(probe) or {}).get("httpGet") or {}
        if http_get.get("path") != path or http_get.get("port") not in (METRICS_PORT, "metrics"):
            problems.append(f"{name}: {probe} must GET {path} on port {METRICS_PORT}")
    security = container.get("securityContext") or {}
    if security.get("readOnlyRootFilesystem") is not True:
        problems.append(f"{name}: securityContext.readOnlyRootFilesystem must be true")
    if security.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{name}: securityContext.allowPrivilegeEscalation must be false")
    resources = container.get("resources") or {}
    for part in ("requests", "limits"):
        if not (resources.get(part) or {}).get("memory"):
            problems.append(f"{name}: resources.{part}.memory is not set")
    return problems


def check_configmap(name: str, doc: dict[str, Any]) -> list[str]:
    data = doc.get("data") or {}
    text = data.get("config.yaml")
    if text is None:
        return []
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return [f"{name}: config.yaml is not valid YAML: {exc}"]
    if not isinstance(config, dict):
        return [f"{name}: config.yaml must be a mapping"]
    return [
        f"{name}: config.yaml holds a secret inline at {path}; use {path}_file"
        for path in _inline_secrets(config)
    ]


_SECRET_KEYS = {"password", "private_key_passphrase", "security_id", "sentry_dsn"}


def _inline_secrets(node: Any, path: str = "") -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}" if path else str(key)
            if key in _SECRET_KEYS and value is not None:
                yield here
            yield from _inline_secrets(value, here)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _inline_secrets(item, f"{path}.{index}")


def _dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = text.replace("\\\n", " ")
    pairs = []
    for raw in joined.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def _with_arg_defaults(text: str, preamble: list[tuple[str, str]]) -> str:
    """``text`` with the ``ARG name=default`` values declared before the first FROM put in
    (a build argument such as BASE_IMAGE may replace the image; its default must hold)."""
    for word, rest in preamble:
        name, equals, default = rest.partition("=")
        if word == "ARG" and equals:
            text = text.replace("${" + name + "}", default).replace("$" + name, default)
    return text


def check_dockerfile(path: Path) -> list[str]:
    instructions = _dockerfile_instructions(path.read_text(encoding="utf-8"))
    starts = [i for i, (word, _) in enumerate(instructions) if word == "FROM"]
    if not starts:
        return [f"{path.name}: no FROM"]
    final = instructions[starts[-1] :]
    last = {word: rest for word, rest in final}
    problems: list[str] = []
    if not _with_arg_defaults(final[0][1], instructions[: starts[0]]).startswith(
        "python:3.11-slim"
    ):
        problems.append(f"{path.name}: final stage must be FROM python:3.11-slim")
    if last.get("USER", "root").split(":")[0] in {"root", "0"}:
        problems.append(f"{path.name}: the final stage must switch to a non-root USER")
    if str(METRICS_PORT) not in last.get("EXPOSE", "").split():
        problems.append(f"{path.name}: EXPOSE {METRICS_PORT} is missing")
    if "/healthz" not in last.get("HEALTHCHECK", ""):
        problems.append(f"{path.name}: HEALTHCHECK must probe /healthz")
    entrypoint = last.get("ENTRYPOINT", "")
    if '"sftp-watcher"' not in entrypoint or '"run"' not in entrypoint:
        problems.append(f'{path.name}: ENTRYPOINT must be ["sftp-watcher", "run"]')
    return problems


def check_all(deploy_dir: Path = DEPLOY_DIR) -> list[str]:
    problems: list[str] = []
    manifests = list(load_manifests(deploy_dir / "kubernetes"))
    kinds = {doc.get("kind") for _, doc in manifests if isinstance(doc, dict)}
    for required in ("Deployment", "ConfigMap"):
        if required not in kinds:
            problems.append(f"kubernetes: no {required} manifest")
    for name, doc in manifests:
        problems += check_manifest(name, doc)
    problems += check_dockerfile(deploy_dir / "docker" / "Dockerfile")
    return problems


def main() -> int:
    try:
        problems = check_all()
    except (OSError, yaml.YAMLError) as exc:
        print(f"FAIL: {exc}")
        return 1
    for problem in problems:
        print(f"FAIL: {problem}")
    if not problems:
        print("ok: kubernetes manifests and Dockerfile")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
