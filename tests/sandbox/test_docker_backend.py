"""docker backend without a docker engine: the real ``docker`` package, a missing socket, and a
fake engine (autospecced from docker's own classes) whose exec runs the command locally."""

from __future__ import annotations

import subprocess
import sys
from unittest import mock

import pytest

docker = pytest.importorskip("docker")
from docker.models.containers import Container, ContainerCollection, _create_container_args  # noqa: E402
from docker.models.images import ImageCollection  # noqa: E402

from code_unlearn_bench.errors import SandboxError  # noqa: E402
from code_unlearn_bench.sandbox import get_sandbox  # noqa: E402
from code_unlearn_bench.sandbox.base import Limits, SANDBOX_UID_BASE  # noqa: E402
from code_unlearn_bench.sandbox.docker import DockerSandbox  # noqa: E402


@pytest.fixture
def no_engine(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")


def test_absent_engine_is_a_clear_error(no_engine):
    with pytest.raises(SandboxError, match="^docker engine not reachable"):
        DockerSandbox()


def test_auto_falls_back_to_bwrap_and_says_why(no_engine, capsys):
    if subprocess.run(["which", "bwrap"], capture_output=True).returncode != 0:
        pytest.skip("bubblewrap not installed")
    sb = get_sandbox("auto")
    assert sb.name == "bwrap"
    assert "docker engine not reachable" in capsys.readouterr().err


def test_forced_docker_does_not_fall_back(no_engine):
    with pytest.raises(SandboxError, match="docker engine not reachable"):
        get_sandbox("docker")


def run_locally(cmd, user="", workdir=None, environment=None, demux=False, **_):
    """Stand-in for Container.exec_run: run the supervisor on this machine, docker-shaped result.

    Only the supervisor runs; the cleanup exec (kill(-1) as the slot uid) is recorded, never run
    here, where it would not be confined to a container."""
    if cmd[0] != "timeout":
        assert "os.getuid() != 0" in cmd[4]  # the cleanup refuses to kill(-1) as root
        return 0, (b"", b"") if demux else b""
    cmd = [sys.executable if c == "python" else c for c in cmd]
    proc = subprocess.run(cmd, capture_output=True, cwd="/tmp")
    return proc.returncode, ((proc.stdout, proc.stderr) if demux else proc.stdout + proc.stderr)


@pytest.fixture
def fake_client():
    client = mock.create_autospec(docker.DockerClient, instance=True)
    client.images = mock.create_autospec(ImageCollection, instance=True)
    client.containers = mock.create_autospec(ContainerCollection, instance=True)
    container = mock.create_autospec(Container, instance=True)
    container.exec_run.side_effect = run_locally
    client.containers.run.return_value = container
    return client


def test_container_is_locked_down_and_reused(fake_client):
    sb = DockerSandbox(image="python:3.11-slim", client=fake_client, workers=2)
    limits = Limits(timeout_s=5, memory_mb=512, nproc=32)
    results = sb.run(["print('ok')", "assert 2 + 2 == 5", "print('again')"], limits, workers=2)
    assert [r.status for r in results] == ["passed", "failed", "passed"]
    assert results[0].stdout.strip() == "ok" and results[1].reason == "AssertionError"
    fake_client.containers.run.assert_called_once()  # one container for the whole batch
    opts = fake_client.containers.run.call_args.kwargs
    assert opts["network_disabled"] and opts["read_only"] and opts["cap_drop"] == ["ALL"]
    assert opts["pids_limit"] == 32 * 2 + 16 and opts["mem_limit"] == f"{512 * 2 + 256}m"
    assert opts["tmpfs"]["/tmp"].startswith("size=")
    # every option is one docker's own `containers.run` understands (raises TypeError otherwise)
    create = {k: v for k, v in opts.items() if k not in ("detach",)}
    args = _create_container_args(dict(create, version="1.41"))
    assert args["host_config"]["ReadonlyRootfs"] is True and args["host_config"]["NetworkMode"] == "none"
    # programs run as an unprivileged per-slot uid, each followed by a cleanup exec as that uid
    container = fake_client.containers.run.return_value
    users = {c.kwargs["user"] for c in container.exec_run.call_args_list}
    assert users <= {str(SANDBOX_UID_BASE), str(SANDBOX_UID_BASE + 1)}
    assert container.exec_run.call_count == 6
    sb.close()
    container.remove.assert_called_once_with(force=True)


def test_missing_image_is_a_clear_error(fake_client):
    fake_client.images.get.side_effect = docker.errors.ImageNotFound("nope")
    with pytest.raises(SandboxError, match="docker pull"):
        DockerSandbox(image="python:3.11-slim", client=fake_client)
