"""Train the polish verifier (verifier.py) on the candidates a given seg model makes, and write a new model version
that carries both: the seg model's files unchanged plus `verifier.onnx`, described in `model.json.verifier`.

    /usr/bin/python3 models/training/train_verifier.py --seg models/loupe-seg/1.1.0 \
        --data /work/data/train-s101 --val /work/data/val-s201 --out models/loupe-seg/1.2.0

The verifier and the seg model are one version because the verifier learns the seg model's mistakes: its negatives
are that model's candidates on clean metal, so a verifier is only valid behind the seg model it was trained with.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import net  # noqa: E402
import verifier as V  # noqa: E402
from calibrate import auroc  # noqa: E402
from data import BIT, MEAN, STD, _photometric, display_path, load_dirs  # noqa: E402
from export import copy_base_files, sha256_file, write_derived_version  # noqa: E402
from run_checkpoint import RunCheckpoint  # noqa: E402

THREADS = 2
MASK_POSITIVES = 8  # per photo and kind: positives drawn from the true mask, so kinds the seg model misses are learned


def log(msg: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def examples_for(samples, seg_model, rng: np.random.Generator, with_mask_positives: bool, kinds: list[str]):
    """Per photo: candidates (x, y, source kind, seg value, labels) and, for training, extra mask positives."""
    rows, t0 = [], time.time()
    kind_bits = [BIT[k] for k in kinds]
    for i, s in enumerate(samples):
        for v, x, y, k in V.candidates(V.seg_maps(seg_model, s.image, MEAN, STD, kinds)):
            rows.append((i, x, y, k, v, *V.label_at(s.bits, x, y, kind_bits)))
        if with_mask_positives:
            for j, b in enumerate(kind_bits):
                ys, xs = np.nonzero(s.bits & b)
                if len(xs):
                    for p in rng.choice(len(xs), min(MASK_POSITIVES, len(xs)), replace=False):
                        rows.append((i, int(xs[p]), int(ys[p]), -2, 0.0, *V.label_at(s.bits, int(xs[p]), int(ys[p]), kind_bits)))
        if (i + 1) % 100 == 0:
            log(f"candidates {i + 1}/{len(samples)} ({(time.time() - t0) / (i + 1):.2f}s/photo)")
    return np.array(rows, np.float64).reshape(-1, 5 + len(kinds))


def relabel(rows: np.ndarray, samples, kinds: list[str]) -> np.ndarray:
    """Labels from the masks with the current rule (verifier.label_at), so cached candidates survive a rule change."""
    kind_bits = [BIT[k] for k in kinds]
    out = rows.copy()
    for n, r in enumerate(rows):
        out[n, 5:] = V.label_at(samples[int(r[0])].bits, int(r[1]), int(r[2]), kind_bits)
    return out


def cached_examples(args, part: str, samples, seg_model, seg_sha: str, with_mask_positives: bool) -> np.ndarray:
    """examples_for, kept in --cache-dir: the seg pass over 1,400 photos is ~5 min of the run, and the verifier's
    hyper-parameters can change without it. Keyed by the seg model's sha256 and the photos' keys."""
    key = hashlib.sha256(json.dumps([seg_sha, part, [s.key for s in samples], args.seed, V.CANDIDATES]
                                    + ([args.kinds] if args.kinds != list(net.POLISH_KINDS) else [])).encode()).hexdigest()[:16]
    path = os.path.join(args.cache_dir, f"{part}-{key}.npy")
    if os.path.exists(path):
        log(f"{part} candidates from {path}")
        return relabel(np.load(path), samples, args.kinds)
    rows = examples_for(samples, seg_model, np.random.default_rng([args.seed, len(part)]), with_mask_positives, args.kinds)
    os.makedirs(args.cache_dir, exist_ok=True)
    np.save(path, rows)
    return rows


class WideViews:
    """Each photo's wide_image, made once per run (a 1,400-photo run holds ~100 MB of them)."""

    def __init__(self, factor: int | None):
        self.factor = factor
        self.cache: dict[int, np.ndarray] = {}

    def crop(self, samples, i: int, x: int, y: int) -> np.ndarray | None:
        if not self.factor:
            return None
        if i not in self.cache:
            self.cache[i] = V.wide_image(samples[i].image, self.factor)
        return V.wide_crop(self.cache[i], x, y, self.factor)


def batch_tensor(samples, rows: np.ndarray, rng: np.random.Generator | None, wide: WideViews) -> torch.Tensor:
    big = V.PATCH * V.CONTEXT_FACTOR
    out = []
    for r in rows:
        i = int(r[0])
        s = samples[i]
        x, y = int(r[1]), int(r[2])
        if rng is not None:
            x += int(rng.integers(-3, 4))
            y += int(rng.integers(-3, 4))
        region = V.crop_region(s.image, x, y, big)
        view = wide.crop(samples, i, x, y)
        if rng is not None:
            turns, flip = int(rng.integers(0, 4)), rng.random() < 0.5
            region = np.rot90(region, turns)
            if flip:
                region = region[:, ::-1]
            if view is None:
                region = _photometric(np.ascontiguousarray(region), rng)
            else:
                # One photometric draw for both views, as one camera took them: side by side on one canvas.
                view = np.rot90(view, turns)
                if flip:
                    view = view[:, ::-1]
                canvas = np.zeros((big, big + V.PATCH, 3), np.uint8)
                canvas[:, :big] = region
                canvas[:V.PATCH, big:] = np.clip(view + 0.5, 0, 255).astype(np.uint8)
                canvas = _photometric(canvas, rng)
                region, view = canvas[:, :big], canvas[:V.PATCH, big:]
        out.append(V.patch_stack(np.ascontiguousarray(region), None if view is None else np.ascontiguousarray(view)))
    return V.normalise(torch.from_numpy(np.stack(out)), MEAN, STD)


@torch.no_grad()
def score_rows(model, samples, rows: np.ndarray, wide: WideViews, batch: int = 128) -> np.ndarray:
    model.eval()
    probs = [model(batch_tensor(samples, rows[i:i + batch], None, wide)).numpy() for i in range(0, len(rows), batch)]
    return np.concatenate(probs, 0)


def image_scores(n: int, rows: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Per photo and kind: the largest verifier probability over the photo's candidates (0 without candidates)."""
    out = np.zeros((n, probs.shape[1]), np.float32)
    for r, p in zip(rows, probs):
        i = int(r[0])
        out[i] = np.maximum(out[i], p)
    return out


HARD_NEGATIVE_POOL = 50_000  # negatives scored for --hard-negatives, drawn at random when there are more


def hard_negatives(model, samples, rows: np.ndarray, negatives: np.ndarray, fraction: float, wide: WideViews) -> np.ndarray:
    """The training negatives the verifier scores highest for any kind, the top `fraction` of them (of at most
    HARD_NEGATIVE_POOL drawn at random). A photo is scored by its best candidate, so a clean photo is flagged by its
    single worst negative (a lint fibre, a brushed patch): the tail, not the average negative, sets the image-level
    false-alarm rate."""
    t0 = time.time()
    if len(negatives) > HARD_NEGATIVE_POOL:  # scoring runs ~300 patches/s on two cores
        # A fixed draw, apart from the run's rng, so a --resume scores the same pool (1.4.0 was made with this seed).
        pool_rng = np.random.default_rng(HARD_NEGATIVE_POOL)
        negatives = np.sort(pool_rng.choice(negatives, HARD_NEGATIVE_POOL, replace=False))
    worst = score_rows(model, samples, rows[negatives], wide).max(1)
    order = np.argsort(-worst, kind="stable")[:max(1, int(round(fraction * len(negatives))))]
    log(f"hard negatives: {len(order)} of {len(negatives)}, top score {float(worst[order[-1]]):.3f} and above "
        f"(scored in {time.time() - t0:.0f}s)")
    return negatives[order]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seg", required=True, help="model folder of the seg model the verifier sits behind")
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--val", nargs="+", required=True)
    p.add_argument("--out", required=True, help="new version folder, e.g. models/loupe-seg/1.2.0")
    p.add_argument("--kinds", nargs="+", default=list(net.POLISH_KINDS), choices=list(net.SEG_CHANNELS),
                   help="seg channels the verifier looks again at (default: the polish kinds)")
    p.add_argument("--widths", type=int, nargs=3, default=None, help="the verifier's three stage widths (default verifier.py's)")
    p.add_argument("--wide-factor", type=int, default=None, metavar="F",
                   help="add the wide view (verifier.wide_image, F x F blocks; 16 from 1.5.0) as three more input channels; "
                        "an --init verifier without it gets them with zero weights, so it starts out scoring as before")
    p.add_argument("--init", default=None, help="start from this verifier.pt (same kinds) instead of random weights")
    p.add_argument("--widen-to", type=int, nargs=3, default=None, metavar="W",
                   help="with --init: widen its three stages to these widths first (verifier.widen_stages: it scores as before)")
    p.add_argument("--hard-negatives", type=float, default=None, metavar="FRACTION",
                   help="score every training negative with the starting verifier first and draw half of each batch's "
                        "negatives from the FRACTION it scores highest (with --init)")
    p.add_argument("--refresh-hard-negatives", type=int, default=None, metavar="STEPS",
                   help="with --hard-negatives: mine them again from the verifier being trained every STEPS steps (a multiple of "
                        "--checkpoint-every): once trained on, the starting verifier's worst negatives stop being the worst")
    p.add_argument("--steps", type=int, default=2500)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=17)
    p.add_argument("--cache-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "runs", "verifier-cache"))
    p.add_argument("--run-dir", default=None, help="checkpoints (default models/training/runs/verifier-<version>)")
    p.add_argument("--resume", action="store_true", help="continue the run's last.pt (same plan only)")
    p.add_argument("--checkpoint-every", type=int, default=250, help="steps between checkpoints (~1.5 min at batch 64)")
    p.add_argument("--max-minutes", type=float, default=None, help="stop at the next checkpoint after this long (exit 2)")
    p.add_argument("--recall-only", action="store_true", help="stop after the validation candidates' recall")
    p.add_argument("--candidates", type=json.loads, default=None,
                   help='JSON overriding the candidate rule (verifier.CANDIDATES), e.g. \'{"perKind": 8, "gridPx": 0}\'')
    p.add_argument("--limit", type=int, default=None, help="first N photos per folder (smoke runs)")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.candidates:
        unknown = set(args.candidates) - set(V.CANDIDATES)
        if unknown:
            raise SystemExit(f"--candidates: unknown keys {sorted(unknown)}; the rule has {sorted(V.CANDIDATES)}")
        V.CANDIDATES.update(args.candidates)  # the rule the cache key, the examples and model.json all read
    # Refused before the photos load and the seg candidates are made (minutes on a full set), not after; a
    # --recall-only run stops before training and never reads them.
    refresh = args.refresh_hard_negatives
    if refresh is not None and (args.hard_negatives is None or refresh <= 0 or refresh % args.checkpoint_every):
        raise SystemExit("--refresh-hard-negatives needs --hard-negatives and a positive multiple of --checkpoint-every")
    if not args.recall_only and args.hard_negatives is not None and not args.init:
        raise SystemExit("--hard-negatives needs --init: the negatives are the ones a trained verifier gets wrong")
    if not args.recall_only and args.widen_to and not args.init:
        raise SystemExit("--widen-to widens an --init verifier; for a new one give --widths")
    torch.set_num_threads(THREADS)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    t_start = time.time()
    seg_json, seg_model, _ = V.load_version(args.seg)

    samples, data_summary = load_dirs(args.data, args.limit, log)
    val_samples, val_summary = load_dirs(args.val, args.limit, log)
    if {s.key for s in samples} & {s.key for s in val_samples}:
        raise SystemExit("a validation photo is also a training photo")
    log(f"{len(samples)} training and {len(val_samples)} validation photos")
    val_rows = cached_examples(args, "val", val_samples, seg_model, seg_json["sha256"], False)

    # Candidate recall on validation: a photo with a kind whose candidates never land on it cannot be scored up.
    idx = [net.SEG_CHANNELS.index(k) for k in args.kinds]
    present = np.array([s.kind_present[idx] for s in val_samples], bool)
    hit = np.zeros_like(present)
    for r in val_rows:
        hit[int(r[0])] |= r[5:] > 0.5
    recall = {k: round(float(hit[present[:, j], j].mean()), 3) if present[:, j].any() else None for j, k in enumerate(args.kinds)}
    log(f"candidate recall on validation photos with the kind: {recall}")
    if args.recall_only:
        return
    train_rows = cached_examples(args, "train", samples, seg_model, seg_json["sha256"], True)
    labels = train_rows[:, 5:]
    pos_by_kind = [np.nonzero(labels[:, k] > 0)[0] for k in range(len(args.kinds))]
    negatives = np.nonzero((labels == 0).all(1))[0]
    # Seg candidates are the hard negatives (hallmarks, brushed metal, edges); grid points, without a piece mask in
    # training, are half backdrop: they get a fixed smaller share of the negatives.
    neg_seg = negatives[train_rows[negatives, 3] >= 0]
    neg_grid = negatives[train_rows[negatives, 3] == -1]
    log(f"training examples: {len(train_rows)} ({', '.join(f'{n} {len(p)}' for n, p in zip(args.kinds, pos_by_kind))}, "
        f"negatives {len(negatives)}, of them grid points {int((train_rows[negatives, 3] < 0).sum())})")

    if args.init:
        init = torch.load(args.init, map_location="cpu")
        if init["config"].get("kinds") != len(args.kinds):
            raise SystemExit(f"--init {args.init}: {init['config'].get('kinds')} kinds, the run verifies {len(args.kinds)}")
        model = V.build(init["config"])
        model.load_state_dict(init["model"])
        if args.wide_factor and model.config.get("inputs", 6) == 6:
            model = V.widen_input(model, 9)
        elif bool(args.wide_factor) != (model.config.get("inputs", 6) == 9):
            raise SystemExit(f"--init {args.init} has {model.config.get('inputs', 6)} input channels; --wide-factor {args.wide_factor}")
        if args.widen_to:
            model = V.widen_stages(model, tuple(args.widen_to), seed=args.seed)
            log(f"widened its stages to {args.widen_to}")
        log(f"initialised the verifier from {args.init}")
    else:
        model = V.build({"kinds": len(args.kinds), **({"widths": args.widths} if args.widths else {}),
                         **({"inputs": 9} if args.wide_factor else {})})
    wide_train, wide_val = WideViews(args.wide_factor), WideViews(args.wide_factor)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    half = args.batch // 2
    run_dir = args.run_dir or os.path.join(os.path.dirname(os.path.abspath(__file__)), "runs", f"verifier-{os.path.basename(os.path.normpath(args.out))}")
    plan = {"seg": seg_json["sha256"], "data": args.data, "val": args.val, "steps": args.steps, "batch": args.batch, "lr": args.lr,
            "seed": args.seed, "kinds": args.kinds, "limit": args.limit, **({"widths": args.widths} if args.widths else {}),
            **({"wideFactor": args.wide_factor} if args.wide_factor else {}),
            **({"init": sha256_file(args.init), "hardNegatives": args.hard_negatives} if args.init else {}),
            **({"widenTo": args.widen_to} if args.widen_to else {}),
            **({"refreshHardNegatives": refresh} if refresh else {})}
    checkpoint = RunCheckpoint(run_dir, plan)
    # A run mines its first hard negatives from the --init weights; a run resumed past a refresh mines from the
    # weights it resumes with instead (the whole run's negatives when it resumes at a refresh step, later weights'
    # otherwise: refreshes fall on checkpoints, but not every checkpoint is a refresh), and only from those.
    mine_after_resume = bool(refresh) and checkpoint.saved_step(args.resume) >= refresh
    if args.hard_negatives is not None and not mine_after_resume:
        neg_hard = hard_negatives(model, samples, train_rows, negatives, args.hard_negatives, wide_train)
    start = checkpoint.begin(args.resume, model, opt, rng, log)
    if mine_after_resume:
        neg_hard = hard_negatives(model, samples, train_rows, negatives, args.hard_negatives, wide_train)

    for step in checkpoint.steps(args.steps, args.checkpoint_every, args.max_minutes, args.lr, model, opt, rng, log):
        if refresh and step > start and step % refresh == 0:
            neg_hard = hard_negatives(model, samples, train_rows, negatives, args.hard_negatives, wide_train)
        # Half positives, kinds drawn evenly; half the seg model's own candidates on clean metal (its mistakes).
        kinds = rng.integers(0, len(args.kinds), half)
        pick = [pos_by_kind[k][rng.integers(0, len(pos_by_kind[k]))] for k in kinds if len(pos_by_kind[k])]
        n_neg = args.batch - len(pick)
        n_hard = n_neg // 2 if args.hard_negatives is not None else 0
        n_grid = (n_neg - n_hard) * 3 // 10 if len(neg_grid) else 0
        pick += list(neg_seg[rng.integers(0, len(neg_seg), n_neg - n_hard - n_grid)]) + list(neg_grid[rng.integers(0, len(neg_grid), n_grid)])
        if n_hard:
            pick += list(neg_hard[rng.integers(0, len(neg_hard), n_hard)])
        rows = train_rows[pick]
        model.train()
        x = batch_tensor(samples, rows, rng, wide_train)
        target = torch.from_numpy(rows[:, 5:]).float()
        known = (target >= 0).float()
        loss = (F.binary_cross_entropy_with_logits(model.forward_logits(x), target.clamp(min=0), reduction="none") * known).sum() / known.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % 100 == 0:
            per = checkpoint.seconds_per_step(step)
            print(f"step {step + 1}/{args.steps} loss {float(loss):.4f} {per:.2f}s/step "
                  f"ETA {per * (args.steps - step - 1) / 60:.1f}min", flush=True)
    probs = score_rows(model, val_samples, val_rows, wide_val)
    scores = image_scores(len(val_samples), val_rows, probs)
    seg_max = np.zeros_like(scores)
    for r in val_rows:
        if r[3] >= 0:
            seg_max[int(r[0]), int(r[3])] = max(seg_max[int(r[0]), int(r[3])], r[4])
    metrics = {}
    for j, k in enumerate(args.kinds):
        # Candidate level: on the kind against clean of it (candidates near it are neither).
        labelled = val_rows[:, 5 + j] >= 0
        metrics[k] = {"imageAurocVerifier": auroc(scores[:, j], present[:, j]), "imageAurocSegPeak": auroc(seg_max[:, j], present[:, j]),
                      "candidateRecall": recall[k], "positives": int(present[:, j].sum()), "negatives": int((~present[:, j]).sum()),
                      "candidateAuroc": auroc(probs[labelled, j], val_rows[labelled, 5 + j] > 0.5)}
    fam = present.any(1)
    metrics["family"] = {"imageAurocVerifier": auroc(scores.max(1), fam), "positives": int(fam.sum()), "negatives": int((~fam).sum())}
    for k, m in metrics.items():
        log(f"validation {k}: {m}")

    copy_base_files(args.seg, args.out)
    onnx_path = os.path.join(args.out, "verifier.onnx")
    V.export_onnx(model, onnx_path)
    torch.save({"config": model.config, "model": model.state_dict()}, os.path.join(args.out, "verifier.pt"))
    manifest = write_derived_version(args.out, seg_json, "verifier", {
        "file": "verifier.onnx", "sha256": sha256_file(onnx_path), "sizeBytes": os.path.getsize(onnx_path),
        "weights": "verifier.pt", "input": "patches", "output": "kinds", "kinds": list(args.kinds),
        "patchPx": V.PATCH, "contextFactor": V.CONTEXT_FACTOR, **({"wideFactor": args.wide_factor} if args.wide_factor else {}),
        "candidates": dict(V.CANDIDATES),
        "architecture": {"name": "PolishVerifier", **model.config, "params": sum(p.numel() for p in model.parameters())},
        "training": {
            "seg": display_path(args.seg), "segSha256": seg_json["sha256"], "data": data_summary, "validation": val_summary,
            "steps": args.steps, "batch": args.batch, "lr": args.lr, "seed": args.seed, "maskPositivesPerKind": MASK_POSITIVES,
            **({"init": display_path(args.init), "hardNegatives": args.hard_negatives} if args.init else {}),
            **({"widenTo": args.widen_to} if args.widen_to else {}),
            **({"refreshHardNegatives": refresh} if refresh else {}),
            **({"wideFactor": args.wide_factor} if args.wide_factor else {}),
            "labelRadiusPx": V.LABEL_RADIUS, "ignoreRadiusPx": V.IGNORE_RADIUS, "examples": len(train_rows), "durationS": round(time.time() - t_start, 1),
            "trainingS": round(checkpoint.spent_s(), 1), "resumedAtStep": start or None,
        },
        "metrics": metrics,
    })
    log(f"wrote {args.out} (verifier sha256 {manifest['verifier']['sha256'][:12]}) in {(time.time() - t_start) / 60:.1f} min")


if __name__ == "__main__":
    main()
