"""What both training loops share: EMA, the learning-rate schedule, DDP setup and clock, logs, checkpoints.

``train.py`` (the image codec) and ``train_dit.py`` (the DiT decoder) are nanoGPT-style loops that read
top to bottom; the plumbing they have in common lives here once, so a fix to the schedule or to the
way ranks agree on time reaches both.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Protocol

import torch
import torch.distributed as dist


class Schedule(Protocol):
    """The config fields :func:`lr_at` reads (both trainers' configs have them)."""

    lr: float
    min_lr: float
    warmup_steps: int
    steps: int
    schedule_minutes: float


def lr_at(step: int, cfg: Schedule, minutes: float = 0.0) -> float:
    """Linear warm-up, then cosine decay to ``min_lr`` over steps or over training minutes."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule_minutes > 0:
        t = min(1.0, minutes / cfg.schedule_minutes)
    else:
        t = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * t))


class Ema:
    """Exponential moving average of parameters and buffers (only EMA weights are released)."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.state = {k: v.detach().clone().float() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        ema, current = [], []
        for k, v in model.state_dict().items():
            if v.is_floating_point():
                ema.append(self.state[k])
                current.append(v.detach().float())
            else:
                self.state[k] = v.detach().clone()
        # One multi-tensor kernel instead of two launches per tensor (~300 tensors for hp32): the
        # training step is launch-bound on the GPU.
        torch._foreach_lerp_(ema, current, 1 - decay)


def setup_distributed(device_arg: str) -> tuple[int, int, torch.device]:
    """(rank, world_size, device); initializes the process group when run under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if torch.cuda.is_available() and device_arg != "cpu":
            torch.cuda.set_device(local)
            dist.init_process_group("nccl")
            device = torch.device("cuda", local)
        else:
            dist.init_process_group("gloo")
            device = torch.device("cpu")
        return dist.get_rank(), world, device
    if device_arg == "auto":
        device_arg = "cuda" if torch.cuda.is_available() else "cpu"
    return 0, 1, torch.device(device_arg)


def agreed_elapsed(start: float, world: int, device: torch.device) -> float:
    """Seconds since ``start`` by rank 0's clock, so all ranks stop and set the learning rate alike."""
    elapsed = time.time() - start
    if world > 1:
        clock = torch.tensor([elapsed], dtype=torch.float64, device=device)
        dist.broadcast(clock, 0)
        elapsed = float(clock)
    return elapsed


def append_log(path: Path, record: dict) -> None:
    """One JSON line to the log file and a ``key=value`` line to stdout."""
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
    print(
        " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()),
        flush=True,
    )


def save_checkpoint(path: Path, **state) -> None:
    """``torch.save`` to a temporary name, then rename: a crash mid-write never leaves half a checkpoint."""
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def is_rank_zero() -> bool:
    """Whether this process reports and exports (the only one without torchrun)."""
    return int(os.environ.get("RANK", "0")) == 0
