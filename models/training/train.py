"""Train `loupe-seg` from manifest folders, checkpoint, calibrate on validation photos and export.

    /usr/bin/python3 models/training/train.py --data DIR [--data DIR ...] --val DIR \
        --out models/loupe-seg/<version> --run NAME --steps N [--batch 8 --crop PX --seed S] [--resume] [--smoke]
        [--base CHECKPOINT_OR_MODEL_DIR]

Runs live in models/training/runs/<NAME>/ (last.pt, log.txt, args.json); `--resume` continues exactly from last.pt
(model, optimiser, schedule, step, torch/numpy/sampler RNG states).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import data  # noqa: E402
import net  # noqa: E402
from calibrate import METHOD, calibrate  # noqa: E402
from data import AugConfig, Sampler, cache_bytes, display_path, load_dirs, make_batch  # noqa: E402
from export import write_model_dir  # noqa: E402
import losses  # noqa: E402
from losses import total_loss  # noqa: E402

# Two cores on the reference box. On a box shared with other work, LOUPE_TRAIN_THREADS=1 is far faster than 2: a
# busy core stalls every step's OpenMP barrier (measured here: 0.37 s/step alone, 2.5-4 s/step beside an eval).
THREADS = int(os.environ.get("LOUPE_TRAIN_THREADS", "2"))
RUNS = os.path.join(HERE, "runs")


class Logger:
    def __init__(self, path: str | None):
        self.fh = open(path, "a", encoding="utf8") if path else None

    def __call__(self, msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        if self.fh:
            self.fh.write(line + "\n")
            self.fh.flush()


def lr_at(step: int, total: int, base: float, warmup: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))


class WeightAverage:
    """Exponential moving average of every weight and batch-norm statistic (Polyak averaging). A fine-tune on a few
    hundred photos ends wherever the last batches pushed it; the average of the last ~1/(1-decay) steps' weights is a
    flatter point that moves less between photos it has not seen. The decay ramps up as (1+n)/(10+n) so the average
    does not hold on to the base's weights."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.updates = 0
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        with torch.no_grad():
            for k, v in model.state_dict().items():
                if v.dtype.is_floating_point:
                    self.shadow[k].mul_(d).add_(v.detach(), alpha=1 - d)
                else:
                    self.shadow[k].copy_(v)

    def state(self) -> dict:
        return {"decay": self.decay, "updates": self.updates, "shadow": self.shadow}

    def load(self, state: dict) -> None:
        self.decay, self.updates, self.shadow = state["decay"], state["updates"], state["shadow"]


def save_checkpoint(path: str, model, opt, step: int, sampler: Sampler, aug_rng: np.random.Generator, config: dict,
                    training: dict, elapsed: float, ema: WeightAverage | None = None) -> None:
    tmp = path + ".tmp"
    torch.save({
        "model": model.state_dict(), "optimizer": opt.state_dict(), "step": step, "config": config,
        "training": training, "elapsedS": elapsed, **({"ema": ema.state()} if ema else {}),
        "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
                "sampler": sampler.state(), "aug": aug_rng.bit_generator.state},
    }, tmp)
    os.replace(tmp, path)  # a kill mid-write must never leave a truncated last.pt


def resolve_base(base: str) -> str:
    """--base accepts a checkpoint file, a run folder, or a model folder (its shipped weights.pt, else the checkpoint
    its model.json names)."""
    if os.path.isfile(base):
        return base
    for cand in (os.path.join(base, "weights.pt"), os.path.join(base, "last.pt"), os.path.join(RUNS, base, "last.pt")):
        if os.path.isfile(cand):
            return cand
    mj = os.path.join(base, "model.json")
    if os.path.isfile(mj):
        with open(mj, encoding="utf8") as fh:
            ck = (json.load(fh).get("training") or {}).get("checkpoint")
        if ck and os.path.isfile(ck):
            return ck
        raise SystemExit(f"--base {base}: model.json names checkpoint {ck!r}, which is not on this machine")
    raise SystemExit(f"--base {base}: no checkpoint file, run folder or model folder there")


def base_operating_points(base_from: str | None) -> dict | None:
    """The operating points of the model folder a fine-tune started from (its weights.pt's model.json), if any."""
    mj = base_from and os.path.join(os.path.dirname(base_from), "model.json")
    if not mj or not os.path.isfile(mj):
        return None
    with open(mj, encoding="utf8") as fh:
        return json.load(fh).get("operatingPoints")


DEFAULT_CROP = 256


def auto_crop(samples) -> tuple[int, str]:
    """The crop side when --crop is not given. Photos whose longer side is at most 1.5 crops and that have nothing
    located in them are taken whole (data.make_crop) and resized to the crop; when every training photo is that small
    (a station camera's 300 px views), the crop is their own size, rounded up to the network's multiple, so they train
    at the scale the pipeline scores them (256 shrank 300 px castings by 15 %). Larger photos keep DEFAULT_CROP."""
    side = max(max(s.image.shape[:2]) for s in samples)
    if side <= 1.5 * DEFAULT_CROP:
        crop = int(math.ceil(side / net.SIZE_MULTIPLE) * net.SIZE_MULTIPLE)
        return crop, f"auto: every training photo fits one crop (longest side {side} px), so their own size"
    return DEFAULT_CROP, f"default {DEFAULT_CROP} (longest training photo side {side} px)"


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", action="append", required=True,
                    help="training manifest folder (repeatable; a folder given k times is drawn k times as often)")
    ap.add_argument("--val", action="append", required=True, help="validation manifest folder (repeatable)")
    ap.add_argument("--out", required=True, help="model folder to export to, e.g. models/loupe-seg/0.1.0")
    ap.add_argument("--run", required=True, help="run name: <runs-dir>/<run>/")
    ap.add_argument("--runs-dir", default=RUNS, help="where runs live (default models/training/runs)")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=None,
                    help=f"training crop side (default: {DEFAULT_CROP}, or the photos' own size when every photo fits one crop)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ckpt-every", type=int, default=200)
    ap.add_argument("--log-every", type=int, default=20)
    ap.add_argument("--limit", type=int, default=None, help="use only the first N photos of each training folder")
    ap.add_argument("--val-limit", type=int, default=None)
    ap.add_argument("--resume", action="store_true", help="continue runs/<run>/last.pt")
    ap.add_argument("--channel-weights", default=None,
                    help="comma-separated seg loss weights: porosity,scratch,haze,tool_mark,orange_peel (default 1 each)")
    ap.add_argument("--base", default=None, help="initialise weights from a checkpoint, run or model folder")
    ap.add_argument("--max-minutes", type=float, default=None,
                    help="checkpoint and exit after this much wall time in this session; --resume continues")
    ap.add_argument("--stop-after", type=int, default=None, help="checkpoint and exit at this step (resume tests)")
    ap.add_argument("--no-export", action="store_true", help="stop after training (export later with export.py)")
    ap.add_argument("--ema", type=float, default=0.0,
                    help="export the exponential moving average of the weights with this decay (e.g. 0.998; 0 = off)")
    ap.add_argument("--rotate", action="store_true",
                    help="turn training crops by any angle, not only quarter turns (pieces shot at any orientation)")
    ap.add_argument("--working-mm-per-px", type=float, default=data.WORKING_MM_PER_PX,
                    help="mm per working pixel photos are downsampled to (default %(default)s; a coarse model that sees "
                         "a whole haze patch in its receptive field uses a larger value)")
    ap.add_argument("--model-id", default="loupe-seg", help="model id written into model.json (default %(default)s)")
    ap.add_argument("--smoke", action="store_true", help="8 photos, 4 val, 30 steps, batch 4, crop 128: < 2 min")
    args = ap.parse_args(argv)
    if args.smoke:
        args.limit = min(args.limit or 8, 8)
        args.val_limit = min(args.val_limit or 4, 4)
        args.steps = min(args.steps, 30)
        args.batch = min(args.batch, 4)
        args.crop = min(args.crop or 128, 128)
        args.ckpt_every = min(args.ckpt_every, 15)
        args.log_every = min(args.log_every, 5)
    if not 0 <= args.ema < 1:
        ap.error("--ema must be in [0, 1)")
    if args.crop is not None and args.crop % net.SIZE_MULTIPLE:
        ap.error(f"--crop must be a multiple of {net.SIZE_MULTIPLE}")
    if args.channel_weights:
        w = [float(v) for v in args.channel_weights.split(",")]
        if len(w) != len(net.SEG_CHANNELS) or min(w) <= 0:
            ap.error(f"--channel-weights needs {len(net.SEG_CHANNELS)} positive numbers ({','.join(net.SEG_CHANNELS)})")
        args.channel_weights = w
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(THREADS)
    # Before any photo is loaded: data.working_factor reads it per photo.
    data.WORKING_MM_PER_PX = args.working_mm_per_px
    if args.channel_weights:
        losses.CHANNEL_WEIGHTS[:] = args.channel_weights
    run_dir = os.path.join(args.runs_dir, args.run)
    os.makedirs(run_dir, exist_ok=True)
    ckpt_path = os.path.join(run_dir, "last.pt")
    log = Logger(os.path.join(run_dir, "log.txt"))
    if args.resume and not os.path.exists(ckpt_path):
        raise SystemExit(f"--resume: {ckpt_path} does not exist")
    if not args.resume and os.path.exists(ckpt_path):
        raise SystemExit(f"{ckpt_path} exists: pass --resume to continue it, or choose another --run")
    log(f"run {args.run}: {' '.join(sys.argv[1:] if argv is None else argv)}")

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    t_load = time.time()
    samples, data_summary = load_dirs(args.data, args.limit, log)
    val_samples, val_summary = load_dirs(args.val, args.val_limit, log)
    train_keys = {s.key for s in samples}
    if any(s.key in train_keys for s in val_samples):
        raise SystemExit("a validation photo is also a training photo: calibration must use unseen data")
    log(f"cached {len(samples)} training photos ({cache_bytes(samples) / 1e6:.0f} MB) and {len(val_samples)} "
        f"validation photos in {time.time() - t_load:.1f}s")
    crop_from = "--crop"
    if args.crop is None:
        args.crop, crop_from = auto_crop(samples)
        log(f"crop {args.crop}: {crop_from}")

    model = net.build()
    config = model.config
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sampler = Sampler(len(samples), seed=args.seed + 1000, samples=samples)
    aug_rng = np.random.default_rng(args.seed + 2000)
    step, elapsed = 0, 0.0
    base_from = None
    if args.resume:
        ck = torch.load(ckpt_path, map_location="cpu")
        model = net.build(ck["config"])
        config = model.config
        model.load_state_dict(ck["model"])
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
        opt.load_state_dict(ck["optimizer"])
        step, elapsed = ck["step"], ck.get("elapsedS", 0.0)
        torch.set_rng_state(ck["rng"]["torch"])
        np.random.set_state(ck["rng"]["numpy"])
        random.setstate(ck["rng"]["python"])
        sampler.load_state(ck["rng"]["sampler"])
        aug_rng.bit_generator.state = ck["rng"]["aug"]
        base_from = (ck.get("training") or {}).get("base")
        # Checkpoints from before --working-mm-per-px were all made at the default scale.
        ck_scale = (ck.get("training") or {}).get("workingMmPerPx", data.WORKING_MM_PER_PX_DEFAULT)
        if abs(ck_scale - args.working_mm_per_px) > 1e-9:
            raise SystemExit(f"--resume: {ckpt_path} was trained at {ck_scale} mm/px, this command asks for "
                             f"{args.working_mm_per_px}: pass the checkpoint's --working-mm-per-px")
        if args.ema and "ema" not in ck:
            raise SystemExit(f"--resume with --ema: {ckpt_path} was written without --ema")
        log(f"resumed from {ckpt_path} at step {step} ({elapsed:.0f}s of training so far)")
    elif args.base:
        base_from = resolve_base(args.base)
        ck = torch.load(base_from, map_location="cpu")
        base_config, base_state = ck["config"], ck["model"]
        if "members" in base_config:
            base_config, base_state = net.member_average(base_config, base_state)
            log(f"the base is an ensemble of {ck['config']['members']} members: starting from their average")
        model = net.build(base_config)
        config = model.config
        fresh = net.load_weights(model, base_state)
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
        log(f"initialised weights from {base_from}" + (f" ({len(fresh)} evidence-head tensors new)" if fresh else ""))
    log(f"model LoupeSeg {config} with {net.count_params(model):,} parameters; {THREADS} threads")
    ema = WeightAverage(model, args.ema) if args.ema else None
    if ema and args.resume:
        ema.load(ck["ema"])  # ck: the checkpoint resumed above

    aug = AugConfig(rotate=args.rotate)
    warmup = max(1, min(200, args.steps // 10))
    training = {
        "data": data_summary, "validation": val_summary,
        "seeds": {"torch": args.seed, "numpy": args.seed, "sampler": args.seed + 1000, "augment": args.seed + 2000},
        "steps": args.steps, "batch": args.batch, "crop": args.crop, "cropFrom": crop_from, "lr": args.lr, "optimizer": "AdamW(wd=1e-4)", "weightAverage": {"decay": args.ema} if args.ema else None, "channelWeights": list(losses.CHANNEL_WEIGHTS),
        "workingMmPerPx": args.working_mm_per_px, "modelId": args.model_id,
        "schedule": f"linear warm-up {warmup} steps, cosine to 2 %", "poiProb": aug.poi_prob,
        "scaleJitter": aug.scale_jitter, "anyAngle": aug.rotate, "focusedShare": Sampler.FOCUSED_SHARE, "lossWeights": dict(losses.WEIGHTS), "threads": THREADS, "smoke": args.smoke, "run": args.run,
        **({"base": base_from} if base_from else {}),
    }

    model.train()
    t_win, loss_win, n_win = time.time(), {}, 0
    t_start = time.time() - elapsed
    t_session = time.time()
    while step < args.steps:
        lr = lr_at(step, args.steps, args.lr, warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        batch = make_batch(samples, sampler.next_items(args.batch), args.crop, aug_rng, aug)
        seg_logits, stone_logits, ev_logits = model.forward_logits(batch["image"])
        loss, parts = total_loss(seg_logits, stone_logits, batch, ev_logits)
        if not torch.isfinite(loss):
            raise SystemExit(f"step {step}: loss is {float(loss)} ({parts}); last good checkpoint: {ckpt_path}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        if ema:
            ema.update(model)
        step += 1
        n_win += 1
        for k, v in {"loss": float(loss), **parts}.items():
            loss_win[k] = loss_win.get(k, 0.0) + v
        if step % args.log_every == 0 or step == args.steps:
            dt_ = time.time() - t_win
            sps = n_win / dt_
            eta = (args.steps - step) / sps
            avg = {k: v / n_win for k, v in loss_win.items()}
            log(f"step {step}/{args.steps} loss {avg['loss']:.4f} (bce {avg['bce']:.4f} dice {avg['dice']:.3f} "
                f"fam {avg['fam']:.3f} mil {avg['mil']:.3f} heat {avg['heat']:.3f} rad {avg['rad']:.3f} ev {avg['ev']:.3f}) "
                f"lr {lr:.2e} {dt_ / n_win:.2f}s/step ETA {eta / 60:.1f}min")
            t_win, loss_win, n_win = time.time(), {}, 0
        out_of_time = args.max_minutes is not None and time.time() - t_session > args.max_minutes * 60
        stop = out_of_time or (args.stop_after is not None and step >= args.stop_after)
        if step % args.ckpt_every == 0 or step == args.steps or stop:
            training["durationS"] = round(time.time() - t_start, 1)
            save_checkpoint(ckpt_path, model, opt, step, sampler, aug_rng, config, training, time.time() - t_start, ema)
            log(f"checkpoint {ckpt_path} at step {step}")
        if stop and step < args.steps:
            log(f"stopping at step {step}/{args.steps} ({'time limit' if out_of_time else '--stop-after'}); continue "
                f"with the same command plus --resume")
            return

    training["durationS"] = round(time.time() - t_start, 1)
    training["checkpoint"] = display_path(ckpt_path)
    if args.no_export:
        log("--no-export: done; export with models/training/export.py --checkpoint " + training["checkpoint"])
        return
    if ema:
        model.load_state_dict(ema.shadow)
        log(f"exporting the weight average (decay {ema.decay}, {ema.updates} updates)")
    model.eval()
    t_cal = time.time()
    ops, metrics = calibrate(model, val_samples, log, base_operating_points(base_from))
    ops.update(method=METHOD, calibratedOn=",".join(d["dir"] for d in val_summary))
    log(f"calibrated on {len(val_samples)} validation photos in {time.time() - t_cal:.1f}s")
    log("validation: " + json.dumps(metrics))
    manifest = write_model_dir(model, args.out, ops, metrics, training, log)
    log(f"wrote {args.out}/model.json (sha256 {manifest['sha256']})")


if __name__ == "__main__":
    main()
