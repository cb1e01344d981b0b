"""Deployment files: manifests and Dockerfile pass the static checks, the unit verifies."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from sftp_watcher.config import settings_from_mapping

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def load_checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_manifests", DEPLOY / "check_manifests.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


checker = load_checker()


def test_manifests_and_dockerfile_pass_the_checks() -> None:
    assert checker.check_all(DEPLOY) == []


# The Kubernetes release whose OpenAPI schemas the manifests are validated against.
KUBERNETES_VERSION = "1.31.0"


@pytest.mark.parametrize("path", sorted((DEPLOY / "kubernetes").glob("*.yaml")), ids=str)
def test_manifests_are_valid_kubernetes_objects(path: Path) -> None:
    """Strict schema validation (unknown fields refused), as `kubectl apply` would do it."""
    import kubernetes_validate

    for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_schema_validation_refuses_a_misspelt_field() -> None:
    """The check above can fail: a typo in the Deployment is caught."""
    import kubernetes_validate

    (doc,) = yaml.safe_load_all((DEPLOY / "kubernetes" / "deployment.yaml").read_text())
    doc["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def copy_deploy(tmp_path: Path) -> Path:
    target = tmp_path / "deploy"
    shutil.copytree(DEPLOY, target)
    return target


def test_checker_catches_a_deployment_without_readiness_probe(tmp_path: Path) -> None:
    deploy = copy_deploy(tmp_path)
    path = deploy / "kubernetes" / "deployment.yaml"
    doc = yaml.safe_load(path.read_text())
    container = doc["spec"]["template"]["spec"]["containers"][0]
    del container["readinessProbe"]
    container["securityContext"]["readOnlyRootFilesystem"] = False
    del container["image"]
    path.write_text(yaml.safe_dump(doc))

    problems = checker.check_all(deploy)

    assert any("readinessProbe must GET /readyz" in p for p in problems)
    assert any("readOnlyRootFilesystem" in p for p in problems)
    assert any("image is not set" in p for p in problems)


def test_checker_catches_an_inline_secret_in_the_configmap(tmp_path: Path) -> None:
    deploy = copy_deploy(tmp_path)
    path = deploy / "kubernetes" / "configmap.yaml"
    doc = yaml.safe_load(path.read_text())
    config = yaml.safe_load(doc["data"]["config.yaml"])
    config["customers"][0]["flows"][0]["security_id"] = "0" * 64
    doc["data"]["config.yaml"] = yaml.safe_dump(config)
    path.write_text(yaml.safe_dump(doc))

    problems = checker.check_all(deploy)

    assert problems == [
        "configmap.yaml#0: config.yaml holds a secret inline at "
        "customers.0.flows.0.security_id; use customers.0.flows.0.security_id_file"
    ]


def test_checker_catches_a_root_dockerfile(tmp_path: Path) -> None:
    deploy = copy_deploy(tmp_path)
    dockerfile = deploy / "docker" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("USER 10001:10001", "USER root"))

    assert checker.check_all(deploy) == [
        "Dockerfile: the final stage must switch to a non-root USER"
    ]


def point_secret_files_at(node: Any, directory: Path) -> Any:
    """The config with every ``*_file`` secret path moved into ``directory`` (written there)."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key.endswith("_file") and isinstance(value, str):
                local = directory / Path(value).name
                local.write_text("0" * 64 if "security-id" in value else "value\n")
                out[key] = str(local)
            else:
                out[key] = point_secret_files_at(value, directory)
        return out
    if isinstance(node, list):
        return [point_secret_files_at(item, directory) for item in node]
    return node


def test_configmap_config_is_a_valid_sftp_watcher_configuration(tmp_path: Path) -> None:
    doc = yaml.safe_load((DEPLOY / "kubernetes" / "configmap.yaml").read_text())
    config = point_secret_files_at(yaml.safe_load(doc["data"]["config.yaml"]), tmp_path)

    settings = settings_from_mapping(config)

    assert settings.state_url.startswith("postgresql")
    assert settings.metrics_port == 9108
    assert settings.metrics_host == "0.0.0.0"  # the kubelet probes the pod from outside
    assert settings.sentry_dsn is not None
    assert settings.customers[0].flows[0].security_id.get_secret_value() == "0" * 64


def test_check_script_passes() -> None:
    """deploy/check.sh: systemd-analyze verify when available, then the manifest checks."""
    result = subprocess.run(
        ["bash", str(DEPLOY / "check.sh")],
        env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: kubernetes manifests and Dockerfile" in result.stdout
    assert "ok: kubernetes manifests against the Kubernetes 1.31 schemas" in result.stdout


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_unit_verifies(tmp_path: Path) -> None:
    unit = (DEPLOY / "systemd" / "sftp-watcher.service").read_text()
    # The service binary is not installed on a test machine; everything else is verified.
    (tmp_path / "sftp-watcher.service").write_text(
        "\n".join(
            "ExecStart=/bin/true" if line.startswith("ExecStart=") else line
            for line in unit.splitlines()
        )
    )

    result = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "sftp-watcher.service")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_stop_timeouts_exceed_the_shutdown_deadline() -> None:
    """systemd and Kubernetes must wait longer than the service's own SIGTERM deadline."""
    deadline = settings_from_mapping({}).shutdown_deadline_seconds
    unit = (DEPLOY / "systemd" / "sftp-watcher.service").read_text()
    stop = next(line for line in unit.splitlines() if line.startswith("TimeoutStopSec="))
    deployment = yaml.safe_load((DEPLOY / "kubernetes" / "deployment.yaml").read_text())
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]

    assert int(stop.split("=", 1)[1]) > deadline
    assert grace > deadline


def test_checker_reads_the_base_image_argument_default(tmp_path: Path) -> None:
    """The final stage is FROM ${BASE_IMAGE}: its default must be the official image."""
    deploy = copy_deploy(tmp_path)
    dockerfile = deploy / "docker" / "Dockerfile"
    text = dockerfile.read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim" in text
    dockerfile.write_text(text.replace("ARG BASE_IMAGE=python:3.11-slim", "ARG BASE_IMAGE=alpine"))

    assert checker.check_all(deploy) == ["Dockerfile: final stage must be FROM python:3.11-slim"]


def test_docker_check_script_is_valid_bash_and_stops_what_it_starts() -> None:
    script = DEPLOY / "docker" / "check.sh"
    result = subprocess.run(
        ["bash", "-n", str(script)], capture_output=True, text=True, timeout=30, check=False
    )

    assert result.returncode == 0, result.stderr
    text = script.read_text()
    assert "trap cleanup EXIT" in text
    assert 'docker rm -f "$container"' in text
    assert 'kill -TERM "$dockerd_pid"' in text
