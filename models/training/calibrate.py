"""Operating points and validation metrics, computed on whole working-scale validation photos never trained on.

- Pixel threshold and minimum region area per seg channel: the pair maximising region-level F1 (a predicted region is
  a true positive when it touches a true region; a true region is found when a kept predicted region touches it).
- Image threshold per channel: the image score (max of the channel's evidence map, the head trained on "is this kind
  in the crop") maximising image-level F1 on validation; ties go to the lower threshold (fewer misses).
- Stones: the heat-map peak threshold maximising stone F1 (one-to-one greedy match within half the true radius, the
  eval's definition), with NMS at nmsRadiusFactor x predicted radius.
"""
from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from data import BIT, BIT_POLISH_FAMILY, Sample, load_dirs, normalise
from export import TILE
from net import POLISH_KINDS, SEG_CHANNELS, SIZE_MULTIPLE

PIXEL_THRESHOLDS = [0.05] + [round(t, 2) for t in np.arange(0.1, 0.95, 0.1)]
MIN_AREAS = [0, 3, 6, 12, 25]
PEAK_THRESHOLDS = [round(t, 2) for t in np.arange(0.1, 0.95, 0.05)]
NMS_RADIUS_FACTOR = 1.0  # stones never overlap, so two peaks within one radius are one stone
METHOD = ("pixelThreshold and minAreaPx maximise region-level F1 (a region counts when it touches a true region); "
          "imageThreshold maximises image-level F1 of the image score (max of the channel's evidence map), ties to "
          "the lower threshold; stones: peakThreshold maximises stone F1 (greedy one-to-one match within half the true "
          "radius) with NMS at nmsRadiusFactor x predicted radius")


@torch.no_grad()
def predict(model: torch.nn.Module, s: Sample) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Working-scale forward padded to SIZE_MULTIPLE by edge replication, tiled and stitched like the pipeline."""
    H, W = s.bits.shape
    x = torch.from_numpy(normalise(s.image))[None]
    ph, pw = -H % SIZE_MULTIPLE, -W % SIZE_MULTIPLE
    if ph or pw:  # edge replication, as the pipeline pads
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    size, ov = TILE["size"], TILE["overlap"]
    if max(x.shape[-2:]) <= size:
        seg, st, ev = model(x)
    else:
        seg = torch.zeros(1, len(SEG_CHANNELS), *x.shape[-2:])
        st = torch.zeros(1, 2, *x.shape[-2:])
        ev = torch.zeros(1, len(SEG_CHANNELS), *x.shape[-2:])
        for y0 in _starts(x.shape[2], size, ov):
            for x0 in _starts(x.shape[3], size, ov):
                a, b, e = model(x[:, :, y0:y0 + size, x0:x0 + size])
                # Later tiles overwrite all but their first ov/2 px: each pixel comes from a tile whose edge is far.
                iy, ix = (ov // 2 if y0 else 0), (ov // 2 if x0 else 0)
                seg[:, :, y0 + iy:y0 + size, x0 + ix:x0 + size] = a[:, :, iy:, ix:]
                st[:, :, y0 + iy:y0 + size, x0 + ix:x0 + size] = b[:, :, iy:, ix:]
                ev[:, :, y0 + iy:y0 + size, x0 + ix:x0 + size] = e[:, :, iy:, ix:]
    return seg[0, :, :H, :W].numpy(), st[0, :, :H, :W].numpy(), ev[0, :, :H, :W].numpy()


def _starts(length: int, size: int, overlap: int) -> list[int]:
    if length <= size:
        return [0]
    out = list(range(0, length - size, size - overlap))
    return out + [length - size]


try:
    from scipy import ndimage as _ndimage
except ImportError:  # calibration still works without scipy, an order of magnitude slower
    _ndimage = None


def components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected labelling (0 = background, 1..n): scipy's when installed, else max-pool propagation with pointer
    jumping (same labels up to numbering; 1.0.0's calibration spent >10 min here on 213 photos)."""
    if _ndimage is not None:
        lab, n = _ndimage.label(mask, structure=np.ones((3, 3), bool))
        return lab.astype(np.int32), int(n)
    H, W = mask.shape
    if not mask.any():
        return np.zeros((H, W), np.int32), 0
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    sub = torch.from_numpy(np.ascontiguousarray(mask[y0:y1, x0:x1]))
    h, w = sub.shape
    assert h * w < 2 ** 24, "float32 labels are exact only below 2^24 pixels"
    idx = torch.arange(h * w, dtype=torch.float32).reshape(h, w)
    lab = torch.where(sub, idx, torch.full_like(idx, -1.0))
    while True:
        pooled = F.max_pool2d(lab[None, None], 3, 1, 1)[0, 0]
        new = torch.where(sub, pooled, lab)
        flat = new.flatten()
        pos = flat >= 0
        jumped = flat.clone()
        jumped[pos] = flat[flat[pos].long()]
        new = jumped.reshape(h, w)
        if torch.equal(new, lab):
            break
        lab = new
    ln = lab.numpy().astype(np.int64)
    uniq, inv = np.unique(ln, return_inverse=True)
    inv = inv.reshape(h, w).astype(np.int32)
    if uniq[0] == -1:
        n = len(uniq) - 1
    else:
        inv = inv + 1
        n = len(uniq)
    out = np.zeros((H, W), np.int32)
    out[y0:y1, x0:x1] = inv
    return out, n


def region_counts(prob: np.ndarray, truth: np.ndarray, truth_lab: np.ndarray, n_truth: int):
    """For every (pixel threshold, min area): (true-positive predicted regions, predicted regions, found truths)."""
    out = np.zeros((len(PIXEL_THRESHOLDS), len(MIN_AREAS), 3), np.int64)
    # One pixel of slack: a predicted pore offset by a pixel from its mask still counts.
    truth_d = F.max_pool2d(torch.from_numpy(truth.astype(np.float32))[None, None], 3, 1, 1)[0, 0].numpy() > 0
    for ti, t in enumerate(PIXEL_THRESHOLDS):
        lab, n = components(prob >= t)
        if n == 0:
            continue
        area = np.bincount(lab.ravel(), minlength=n + 1)
        hit = np.bincount(lab[truth_d], minlength=n + 1) > 0
        if n_truth:
            pairs = np.unique(np.stack([truth_lab[lab > 0], lab[lab > 0]], 1), axis=0)
            pairs = pairs[pairs[:, 0] > 0]
        for ai, a in enumerate(MIN_AREAS):
            kept = area >= a
            kept[0] = False
            tp = int((hit & kept).sum())
            found = len(np.unique(pairs[kept[pairs[:, 1]], 0])) if n_truth and len(pairs) else 0
            out[ti, ai] = (tp, int(kept.sum()), found)
    return out


def f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def auroc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    pos, neg = labels.sum(), (~labels).sum()
    if pos == 0 or neg == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    s = scores[order]
    ranks = np.empty(len(s), np.float64)
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[i:j + 1] = (i + j) / 2 + 1
        i = j + 1
    r = np.empty_like(ranks)
    r[order] = ranks
    return float((r[labels].sum() - pos * (pos + 1) / 2) / (pos * neg))


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float | None:
    if labels.sum() == 0:
        return None
    order = np.argsort(-scores, kind="mergesort")
    l = labels[order]
    tp = np.cumsum(l)
    prec = tp / np.arange(1, len(l) + 1)
    return float((prec * l).sum() / l.sum())


def best_image_threshold(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float, float, float]:
    """(threshold, f1, precision, recall) maximising image F1; ties prefer the lower threshold."""
    best = (0.5, 0.0, 0.0, 0.0)
    for t in sorted(set(np.round(scores, 4).tolist())):
        pred = scores >= t
        tp = float((pred & labels).sum())
        p = tp / max(1, pred.sum())
        r = tp / max(1, labels.sum())
        if f1(p, r) > best[1]:
            best = (float(t), f1(p, r), p, r)
    return best


def peaks(heat: np.ndarray, radius: np.ndarray, min_thr: float) -> np.ndarray:
    """Local maxima above min_thr after radius-scaled greedy NMS: rows (x, y, r, score), best first."""
    # Same rule as pipeline/postprocess/stones.ts: 3x3 local maxima, radius = 3x3 mean of the radius plane.
    h = torch.from_numpy(heat)[None, None]
    local = (F.max_pool2d(h, 3, 1, 1) == h)[0, 0].numpy() & (heat >= min_thr)
    radius = F.avg_pool2d(torch.from_numpy(radius)[None, None], 3, 1, 1, count_include_pad=False)[0, 0].numpy()
    ys, xs = np.nonzero(local)
    sc = heat[ys, xs]
    order = np.argsort(-sc)
    kept: list[tuple[float, float, float, float]] = []
    for i in order:
        x, y, r = float(xs[i]), float(ys[i]), float(radius[ys[i], xs[i]])
        if all(math.hypot(x - kx, y - ky) > NMS_RADIUS_FACTOR * max(kr, r, 1.0) for kx, ky, kr, _ in kept):
            kept.append((x, y, r, float(sc[i])))
    return np.array(kept, np.float32).reshape(-1, 4)


def match_stones(pred: np.ndarray, truth: np.ndarray) -> list[tuple[int, int]]:
    """Greedy one-to-one by distance within half the true radius (the eval's rule)."""
    cands = []
    for i, (px, py, *_r) in enumerate(pred):
        for j, (tx, ty, tr) in enumerate(truth):
            d = math.hypot(px - tx, py - ty)
            if d <= tr / 2:
                cands.append((d, i, j))
    cands.sort()
    used_p, used_t, pairs = set(), set(), []
    for _d, i, j in cands:
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
            pairs.append((i, j))
    return pairs


def calibrate(model: torch.nn.Module, samples: list[Sample], log=print, fallback: dict | None = None) -> tuple[dict, dict]:
    """Returns (operatingPoints without method/calibratedOn, metrics).

    `fallback` (the base model's operatingPoints when fine-tuning) fills what the validation photos cannot calibrate:
    a channel without pixel truth keeps the fallback's pixelThreshold and minAreaPx, marked `pixelCalibrated: false`
    (the pipeline then judges it by its image score alone); an image threshold without positive and negative photos
    keeps the fallback's; stones without true stones keep the fallback's. Without it, region F1 is 0 at every
    threshold and the lowest (0.05, no minimum area) won: a workshop's image-labelled castings came back with dozens of
    conf-0.05 "pores" per photo."""
    model.eval()
    C = len(SEG_CHANNELS)
    counts = np.zeros((C, len(PIXEL_THRESHOLDS), len(MIN_AREAS), 3), np.int64)
    n_truth = np.zeros(C, np.int64)
    img_scores = np.zeros((len(samples), C), np.float32)
    img_known = np.zeros((len(samples), C), bool)
    img_labels = np.zeros((len(samples), C), bool)
    pix = {"porosity": ([], []), "polish": ([], [])}
    stone_preds: list[np.ndarray] = []
    stone_truths: list[np.ndarray] = []
    t0 = time.time()
    for k, s in enumerate(samples):
        seg, st, ev = predict(model, s)
        img_scores[k] = ev.reshape(C, -1).max(1)
        img_labels[k] = s.kind_present
        img_known[k] = s.known | np.array([s.mil] + [s.polish_family_only] * (C - 1))
        for c, name in enumerate(SEG_CHANNELS):
            if not s.known[c]:
                continue
            truth = (s.bits & BIT[name]) > 0
            tl, nt = components(truth)
            n_truth[c] += nt
            counts[c] += region_counts(seg[c], truth, tl, nt)
        # Pooled pixel AUROC on a 1-in-16 grid keeps memory flat on large validation sets.
        if s.known[0]:
            pix["porosity"][0].append(seg[0, ::4, ::4].ravel())
            pix["porosity"][1].append(((s.bits & BIT["porosity"]) > 0)[::4, ::4].ravel())
        if s.known[1:].all() or s.polish_family_only:
            fam = (s.bits & (BIT_POLISH_FAMILY | sum(BIT[k] for k in POLISH_KINDS))) > 0
            pix["polish"][0].append(seg[1:, ::4, ::4].max(0).ravel())
            pix["polish"][1].append(fam[::4, ::4].ravel())
        stone_preds.append(peaks(st[0], st[1], min(PEAK_THRESHOLDS)))
        stone_truths.append(s.stones)
    log(f"  calibration forward passes: {len(samples)} images in {time.time() - t0:.1f}s")

    ops: dict = {"polish": {}}
    metrics: dict = {"validationImages": len(samples), "channels": {}}
    for c, name in enumerate(SEG_CHANNELS):
        cc = counts[c].astype(np.float64)
        prec = np.where(cc[..., 1] > 0, cc[..., 0] / np.maximum(cc[..., 1], 1), 0.0)
        rec = cc[..., 2] / max(1, n_truth[c])
        f = np.where(prec + rec > 0, 2 * prec * rec / np.maximum(prec + rec, 1e-9), 0.0)
        ti, ai = np.unravel_index(int(np.argmax(f)), f.shape)
        known = img_known[:, c]
        sc, lb = img_scores[known, c], img_labels[known, c]
        if lb.any() and (~lb).any():
            it, if1, ip, ir = best_image_threshold(sc, lb)
            image_calibrated = True
        else:  # nothing to calibrate against: fall back to the pixel threshold and say so in the metrics
            it, if1, ip, ir = float(PIXEL_THRESHOLDS[ti]), None, None, None
            image_calibrated = False
        op = {"pixelThreshold": float(PIXEL_THRESHOLDS[ti]), "minAreaPx": float(MIN_AREAS[ai]), "imageThreshold": it}
        before = (fallback or {}).get("porosity") if name == "porosity" else ((fallback or {}).get("polish") or {}).get(name)
        if before and n_truth[c] == 0:
            op.update(pixelThreshold=float(before["pixelThreshold"]), minAreaPx=float(before["minAreaPx"]), pixelCalibrated=False)
        if before and not image_calibrated:
            op["imageThreshold"] = float(before["imageThreshold"])
        if name == "porosity":
            ops["porosity"] = op
        else:
            ops["polish"][name] = op
        metrics["channels"][name] = {
            "regionF1": round(float(f[ti, ai]), 4), "regionPrecision": round(float(prec[ti, ai]), 4),
            "regionRecall": round(float(rec[ti, ai]), 4), "trueRegions": int(n_truth[c]),
            "imageAuroc": _r(auroc(sc, lb)), "imageAp": _r(average_precision(sc, lb)),
            "imageF1": _r(if1), "imagePrecision": _r(ip), "imageRecall": _r(ir),
            "imagePositives": int(lb.sum()), "imageNegatives": int((~lb).sum()),
            "imageThresholdCalibrated": image_calibrated,
        }
    for fam, (sc_l, lb_l) in pix.items():
        if sc_l:
            metrics[f"pixelAuroc_{fam}"] = _r(auroc(np.concatenate(sc_l), np.concatenate(lb_l)))

    best = (PEAK_THRESHOLDS[len(PEAK_THRESHOLDS) // 2], -1.0, 0.0, 0.0, None)
    n_true = sum(len(t) for t in stone_truths)
    for t in PEAK_THRESHOLDS:
        tp = npred = 0
        rad_err = []
        for p, tr in zip(stone_preds, stone_truths):
            p = p[p[:, 3] >= t]
            pairs = match_stones(p, tr)
            tp += len(pairs)
            npred += len(p)
            rad_err += [abs(float(p[i, 2]) - float(tr[j, 2])) for i, j in pairs]
        pr = tp / npred if npred else 0.0
        rc = tp / n_true if n_true else 0.0
        if f1(pr, rc) > best[1]:
            best = (t, f1(pr, rc), pr, rc, float(np.mean(rad_err)) if rad_err else None)
    ops["stones"] = {"peakThreshold": float(best[0]), "nmsRadiusFactor": NMS_RADIUS_FACTOR}
    if n_true == 0 and (fallback or {}).get("stones"):
        ops["stones"] = dict(fallback["stones"])
    metrics["stones"] = {"f1": _r(max(best[1], 0.0)), "precision": _r(best[2]), "recall": _r(best[3]),
                         "radiusMaePx": _r(best[4]), "trueStones": n_true}
    return ops, metrics


def _r(v):
    return None if v is None else round(float(v), 4)


def main() -> None:
    ap = argparse.ArgumentParser(description="Calibrate operating points of a checkpoint on a validation folder.")
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--val", action="append", required=True)
    args = ap.parse_args()
    import net

    torch.set_num_threads(2)
    ck = torch.load(args.checkpoint, map_location="cpu")
    model = net.build(ck["config"])
    net.load_weights(model, ck["model"])
    samples, _ = load_dirs(args.val)
    ops, metrics = calibrate(model, samples)
    print(json.dumps({"operatingPoints": ops, "metrics": metrics}, indent=2))


if __name__ == "__main__":
    main()
