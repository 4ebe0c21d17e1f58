"""A run's `last.pt` and step loop for the trainers that resume by plan (train_verifier.py, train_stone_refiner.py).

A run folder holds one plan: a new run refuses to overwrite it, and `--resume` refuses a checkpoint another plan
wrote, so a resumed run ends where the uninterrupted one would. The checkpoint carries the model, the optimiser and
both random generators (numpy's for the batches, torch's for augmentation noise), written atomically.
"""
from __future__ import annotations

import math
import os
import sys
import time

import numpy as np
import torch


class RunCheckpoint:
    def __init__(self, run_dir: str, plan: dict):
        self.path = os.path.join(run_dir, "last.pt")
        self.run_dir = run_dir
        self.plan = plan

    def saved_step(self, resume: bool) -> int:
        """The step a `begin(resume, ...)` will start from, read before it loads anything (0 without a checkpoint);
        what to do before training that depends on it (the first hard negatives) need not be done twice."""
        if not resume or not os.path.exists(self.path):
            return 0
        return int(torch.load(self.path, map_location="cpu")["step"])

    def begin(self, resume: bool, model, opt, rng: np.random.Generator, log) -> int:
        """The step to start from (0 for a new run); the training seconds already spent go into `spent_s`."""
        start, elapsed = 0, 0.0
        if resume:
            if not os.path.exists(self.path):
                raise SystemExit(f"--resume: {self.path} does not exist")
            ck = torch.load(self.path, map_location="cpu")
            if ck["plan"] != self.plan:
                raise SystemExit(f"--resume: {self.path} was made by another plan: {ck['plan']}")
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optimizer"])
            rng.bit_generator.state = ck["rng"]
            torch.set_rng_state(ck["torchRng"])
            start, elapsed = ck["step"], ck["elapsedS"]
            log(f"resumed from {self.path} at step {start}")
        elif os.path.exists(self.path):
            raise SystemExit(f"{self.path} exists: pass --resume to continue it, or remove it")
        os.makedirs(self.run_dir, exist_ok=True)
        self.start, self.elapsed_before, self.t0 = start, elapsed, time.time()
        return start

    def spent_s(self) -> float:
        """Training seconds of the whole run: those before a resume and this process's since its loop began."""
        return self.elapsed_before + time.time() - self.t0

    def seconds_per_step(self, step: int) -> float:
        return (time.time() - self.t0) / (step + 1 - self.start)

    def steps(self, total: int, every: int, max_minutes: float | None, base_lr: float, model, opt, rng: np.random.Generator, log):
        """Yields the steps left (after `begin`), each with its learning rate set on `opt` (cosine from `base_lr` down to
        2 % of it); saves every `every` steps, stops there once `max_minutes` are spent, and saves after the last step."""
        self.t0 = time.time()
        for step in range(self.start, total):
            if step > self.start and step % every == 0:
                self.save(model, opt, rng, step, self.spent_s())
                self.stop_if_out_of_time(step, max_minutes, self.spent_s(), log)
            lr = base_lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * step / total)))
            for g in opt.param_groups:
                g["lr"] = lr
            yield step
        self.save(model, opt, rng, total, self.spent_s())

    def save(self, model, opt, rng: np.random.Generator, step: int, elapsed_s: float) -> None:
        tmp = self.path + ".tmp"
        torch.save({"plan": self.plan, "model": model.state_dict(), "optimizer": opt.state_dict(), "rng": rng.bit_generator.state,
                    "torchRng": torch.get_rng_state(), "step": step, "elapsedS": elapsed_s}, tmp)
        os.replace(tmp, self.path)

    @staticmethod
    def stop_if_out_of_time(step: int, max_minutes: float | None, elapsed_s: float, log) -> None:
        """Exit 2 after a checkpoint once `max_minutes` of training are spent: the same command plus --resume continues."""
        if max_minutes is not None and elapsed_s / 60 >= max_minutes:
            log(f"stopped at step {step} (--max-minutes {max_minutes}); continue with the same command plus --resume")
            sys.exit(2)
