"""docker backend: one locked-down container per sandbox, reused across a batch.

The container (no network, read-only root, all capabilities dropped, no-new-privileges,
memory/pids/CPU limits, a size-capped tmpfs as /tmp) idles on ``sleep infinity``; each program
is a ``docker exec`` of the supervisor as a per-slot unprivileged uid, followed by a cleanup exec
that kills whatever that uid left running and wipes the slot's workdir. Starting a container
per program would cost ~0.5 s each; reuse keeps the batch fast.

cub never pulls images during a run: the image must be present (``docker pull <image>``).
"""

from __future__ import annotations

import math
import threading
from typing import Any

from code_unlearn_bench.errors import SandboxError
from code_unlearn_bench.sandbox.base import (
    OUTER_GRACE_S, SANDBOX_UID_BASE, ExecutionResult, Limits, Sandbox, classify, default_workers,
    encode_config, launcher_config, parse_launcher_output, LAUNCHER_SOURCE,
)

# docker exec passes the program in argv: Linux caps one argument at 128 KiB
MAX_CONFIG_CHARS = 120_000
# Runs as the slot's uid: kill(-1) then reaches exactly that uid's processes. Never as root,
# where kill(-1) would reach everything.
CLEANUP = ("import os, shutil, signal, sys\n"
           "if os.getuid() != 0:\n"
           "    try:\n        os.kill(-1, signal.SIGKILL)\n    except OSError:\n        pass\n"
           "shutil.rmtree(sys.argv[1], ignore_errors=True)\n")


class DockerSandbox(Sandbox):
    name = "docker"

    def __init__(self, image: str | None = None, client: Any = None, workers: int | None = None,
                 limits: Limits | None = None):
        if image is None:
            from code_unlearn_bench.env import get_env

            image = get_env().sandbox_image
        try:
            import docker
        except ImportError:
            raise SandboxError("the docker sandbox needs the 'docker' Python package (pip install docker)") from None
        self._errors = docker.errors
        try:
            self.client = client if client is not None else docker.from_env(timeout=10)
            self.client.ping()
        except docker.errors.DockerException as exc:
            raise SandboxError(f"docker engine not reachable ({_short(exc)})") from None
        try:
            self.client.images.get(image)
        except docker.errors.ImageNotFound:
            raise SandboxError(f"docker image '{image}' is not present; run `docker pull {image}` first") from None
        except docker.errors.DockerException as exc:
            raise SandboxError(f"docker engine not reachable ({_short(exc)})") from None
        self.image = image
        self.workers = workers or default_workers()
        self.limits = limits or Limits()
        self._container = None
        self._lock = threading.Lock()

    def container_options(self, limits: Limits, workers: int) -> dict[str, Any]:
        """Arguments of ``containers.run`` for the idle container the programs exec in."""
        tmpfs_mb = max(64, 4 * limits.fsize_mb) * workers
        return dict(
            image=self.image, command=["sleep", "infinity"], detach=True, auto_remove=True,
            network_disabled=True, network_mode="none", read_only=True,
            cap_drop=["ALL"], security_opt=["no-new-privileges"],
            mem_limit=f"{limits.memory_mb * workers + 256}m", memswap_limit=f"{limits.memory_mb * workers + 256}m",
            pids_limit=limits.nproc * workers + 16, nano_cpus=int(workers * 1e9),
            tmpfs={"/tmp": f"size={tmpfs_mb}m,mode=1777"}, working_dir="/tmp",
            labels={"cub.sandbox": "1"},
        )

    def _ensure_container(self, limits: Limits):
        with self._lock:
            if self._container is None:
                try:
                    self._container = self.client.containers.run(**self.container_options(limits, self.workers))
                except self._errors.DockerException as exc:
                    raise SandboxError(f"could not start the sandbox container ({_short(exc)})") from None
            return self._container

    def exec_command(self, code: str, limits: Limits, slot: int) -> list[str]:
        cfg = encode_config(launcher_config(code, limits, f"/tmp/w{slot}", None))
        if len(cfg) > MAX_CONFIG_CHARS:
            raise SandboxError(f"program too large for the docker sandbox ({len(cfg)} encoded chars)")
        backstop = math.ceil(limits.timeout_s + OUTER_GRACE_S)
        return ["timeout", "-s", "KILL", str(backstop), "python", "-I", "-S", "-c", LAUNCHER_SOURCE, cfg]

    def run_one(self, code: str, limits: Limits, slot: int) -> ExecutionResult:
        container = self._ensure_container(limits)
        user = str(SANDBOX_UID_BASE + slot)  # unprivileged, and its own RLIMIT_NPROC count per slot
        try:
            code_, output = container.exec_run(self.exec_command(code, limits, slot), user=user,
                                               workdir="/tmp", environment={"HOME": "/tmp"}, demux=True)
        except self._errors.DockerException as exc:
            return ExecutionResult("sandbox_error", f"docker exec failed ({_short(exc)})")
        finally:
            try:
                container.exec_run(["python", "-I", "-S", "-c", CLEANUP, f"/tmp/w{slot}"], user=user)
            except self._errors.DockerException:
                pass
        out, err = output if output else (b"", b"")
        pid, report = parse_launcher_output((out or b"").decode("utf-8", "replace"))
        return classify(report, pid is not None, limits, (err or b"").decode("utf-8", "replace"),
                        outer_timeout=code_ == 137 and report is None and pid is not None)

    def describe(self):
        return {"backend": self.name, "image": self.image}

    def close(self) -> None:
        with self._lock:
            if self._container is not None:
                try:
                    self._container.remove(force=True)
                except self._errors.DockerException:
                    pass
                self._container = None


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
