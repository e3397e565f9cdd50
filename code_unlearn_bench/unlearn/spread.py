"""One training run across several processes (GPUs) from inside a pipeline: `accelerate launch`
of this module on a job file (the TrainConfig and the method by name).

`cub learn/unlearn --num-processes N` relaunch their own command line; `cub reproduce` has no
such command line for its steps, so it writes the step's config to a job file and launches
``python -m code_unlearn_bench.unlearn.spread JOB`` the same way (DDP, FSDP or DeepSpeed, from
the accelerate config), waiting for it as for any other step.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from code_unlearn_bench.errors import CubError


@dataclass(frozen=True)
class Spread:
    num_processes: int
    accelerate_config: str | None = None  # None: DDP (torchrun), on CPU a gloo group

    def check(self) -> "Spread":
        if self.num_processes < 1:
            raise CubError(f"--num-processes must be >= 1 (got {self.num_processes})")
        if self.accelerate_config and not os.path.isfile(self.accelerate_config):
            raise CubError(f"accelerate config '{self.accelerate_config}' does not exist (see configs/accelerate/)")
        return self

    def strategy(self) -> str:
        """The planner's name for what the launch will run."""
        if self.accelerate_config:
            from code_unlearn_bench.unlearn.distributed import strategy_from_config_file

            return strategy_from_config_file(self.accelerate_config)
        return "ddp" if self.num_processes > 1 else "single"


def accelerate_command(num_processes: int, accelerate_config: str | None, port: str | None = None) -> list[str]:
    """`accelerate launch` up to (not including) the program to run."""
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(num_processes)]
    if accelerate_config:
        cmd += ["--config_file", accelerate_config]
    else:
        # torchrun under accelerate; on a machine without CUDA (or with --device cpu) the
        # processes form a gloo group on CPU (accelerate's own --cpu launcher needs MPI)
        cmd += ["--multi_gpu", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    # a free port: another job on the machine may hold torchrun's default 29500
    return cmd + ["--main_process_port", port or os.environ.get("MASTER_PORT") or str(free_port())]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def job_command(spread: Spread, job_file: Path) -> list[str]:
    return accelerate_command(spread.num_processes, spread.accelerate_config) + \
        ["-m", "code_unlearn_bench.unlearn.spread", str(job_file)]


def run_spread(config, method: str, flags: dict[str, Any], spread: Spread,
               gpus: tuple[str, ...] | None = None) -> list[str]:
    """Train ``config`` with ``method`` (a registry name, or "learn") across the processes; the
    checkpoint dirs, one per epoch, as `reproduce.train_step` returns them."""
    out = Path(config.output_dir)
    job = out.with_name(out.name + ".job.json")  # beside the run: its dir must hold only the run
    job.parent.mkdir(parents=True, exist_ok=True)
    job.write_text(json.dumps({"config": dataclasses.asdict(config), "method": method, "flags": flags}))
    env = dict(os.environ)
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
    code = subprocess.call(job_command(spread, job), env=env)
    if code != 0:
        raise CubError(f"the {spread.num_processes}-process {method} run in {out} failed (exit {code}); "
                       f"rerun to resume it")
    job.unlink(missing_ok=True)
    return [str(p) for p in sorted(out.glob("epoch-*"))]


def _method(name: str, flags: dict[str, Any]):
    if name == "learn":
        from code_unlearn_bench.unlearn.finetune import FineTune

        return FineTune()
    from code_unlearn_bench.unlearn.methods import get_method

    return get_method(name)(**flags)


def main(job_file: str) -> int:
    from code_unlearn_bench.config import TrainConfig
    from code_unlearn_bench.unlearn.trainer import train

    job = json.loads(Path(job_file).read_text())
    try:
        train(TrainConfig(**job["config"]), _method(job["method"], job["flags"]))
    except CubError as exc:
        print(f"cub: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
