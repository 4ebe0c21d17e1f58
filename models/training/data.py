"""Manifest folders -> in-memory working-scale samples -> augmented training crops.

The working-scale rule here must stay identical to the pipeline's preprocessing (see `model.json.input`): a photo is
resampled so one pixel covers WORKING_MM_PER_PX mm, but only ever downsampled; photos without a scale and photos
coarser than the working scale are used at native resolution.
"""
from __future__ import annotations

import io
import json
import math
import os
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageFilter

from net import POLISH_KINDS, SEG_CHANNELS

WORKING_MM_PER_PX_DEFAULT = 0.012
WORKING_MM_PER_PX = WORKING_MM_PER_PX_DEFAULT  # train.py --working-mm-per-px sets it for the run
# Inputs are x/255 then (x - MEAN) / STD. No pretrained weights are used, so a symmetric normalisation is enough;
# the values travel in model.json.
MEAN = (0.5, 0.5, 0.5)
STD = (0.25, 0.25, 0.25)

# One byte per pixel holds every mask: memory is what limits how many working-scale photos fit in the cache.
BIT = {name: 1 << i for i, name in enumerate(SEG_CHANNELS)}
BIT_POLISH_FAMILY = 1 << len(SEG_CHANNELS)  # family mask of an entry that has no per-kind masks

Image.MAX_IMAGE_PIXELS = 200_000_000

# Focus values a crop can be centred on (see Sample.poi_kinds and Sampler): seg channel indices, or these.
STONE_FOCUS = -1
FAMILY_FOCUS = len(SEG_CHANNELS)


class ManifestError(ValueError):
    pass


@dataclass
class Sample:
    key: str
    image: np.ndarray  # H x W x 3 uint8, working scale
    bits: np.ndarray  # H x W uint8, see BIT
    stones: np.ndarray  # K x 3 float32 (cx, cy, r) in working pixels
    scale: float  # working pixels per original pixel (<= 1)
    mm_per_px: float | None  # of the working-scale image
    # Which seg channels have a trustworthy pixel target (mask given, or the family is labelled clean).
    known: np.ndarray  # len(SEG_CHANNELS) bool
    polish_family_only: bool  # polish mask without kinds: supervise max over kinds
    mil: bool  # porosity is labelled per image only: multiple-instance loss
    labels: dict
    kind_present: np.ndarray  # len(SEG_CHANNELS) bool, image-level truth per channel (calibration)
    pois: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))  # crop centres worth sampling
    # The first n_stone_pois rows of `pois` are stone centres, the rest defects. A row holds 5-15 stones and a photo
    # one to a few defects: picking uniformly centred most crops on stones and the defect heads barely learned.
    n_stone_pois: int = 0
    # Per POI: STONE_FOCUS, a seg channel index, or FAMILY_FOCUS (a polish area with no kind).
    poi_kinds: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    # Nothing in the photo is located (no mask, defect box or stone): its labels speak for the whole photo only.
    image_level: bool = False


def working_factor(mm_per_px: float | None) -> float:
    """Resize factor applied to a photo: < 1 downsamples to the working scale, never > 1."""
    if mm_per_px is None:
        return 1.0
    return min(1.0, mm_per_px / WORKING_MM_PER_PX)


def read_manifest(directory: str) -> list[dict]:
    path = os.path.join(directory, "manifest.jsonl")
    if not os.path.exists(path):
        raise ManifestError(f"{path}: not found")
    entries = []
    with open(path, encoding="utf8") as fh:
        for n, raw in enumerate(fh, 1):
            raw = raw.strip()
            if not raw:
                continue
            try:
                e = json.loads(raw)
            except json.JSONDecodeError as err:
                raise ManifestError(f"{path}:{n}: not valid JSON ({err})") from err
            missing = [k for k in ("schemaVersion", "file", "width", "height", "mmPerPx", "labels", "masks", "stones")
                       if k not in e]
            if missing or e.get("schemaVersion") != 1:
                raise ManifestError(f"{path}:{n}: not a schemaVersion 1 manifest entry (missing {missing})")
            e["_line"] = n
            entries.append(e)
    if not entries:
        raise ManifestError(f"{path}: has no entries")
    return entries


def _resize(img: Image.Image, size: tuple[int, int], resample) -> Image.Image:
    return img if img.size == size else img.resize(size, resample)


def _load_mask(directory: str, rel: str, size: tuple[int, int], native: tuple[int, int]) -> np.ndarray:
    m = Image.open(os.path.join(directory, rel)).convert("L")
    if m.size != native:
        m = m.resize(native, Image.NEAREST)
    # Area-average then threshold at half coverage, so a downsampled pore keeps its physical area.
    m = _resize(m, size, Image.BOX)
    return np.asarray(m) >= 128


def load_sample(directory: str, e: dict) -> Sample:
    where = f"{directory}/manifest.jsonl:{e['_line']}"
    img = Image.open(os.path.join(directory, e["file"]))
    img.load()
    img = img.convert("RGB")
    native = img.size
    f = working_factor(e["mmPerPx"])
    size = (max(1, round(native[0] * f)), max(1, round(native[1] * f))) if f < 1 else native
    scale = size[0] / native[0]
    # Lanczos, as the pipeline's sharp resize (lanczos3) makes the working image the networks are run on; a box
    # filter here left shrunk training photos up to ~2 levels off the pipeline's, with more aliased fine texture
    # (test/models/working-scale-parity.test.ts holds the two together).
    img = _resize(img, size, Image.LANCZOS)
    W, H = size
    bits = np.zeros((H, W), np.uint8)
    known = np.zeros(len(SEG_CHANNELS), bool)
    kind_present = np.zeros(len(SEG_CHANNELS), bool)
    labels = e["labels"]
    masks = e.get("masks") or {}
    kind_masks = e.get("kindMasks") or {}
    defects = e.get("defects") or []

    mil = False
    if masks.get("porosity"):
        m = _load_mask(directory, masks["porosity"], size, native)
        bits[m] |= BIT["porosity"]
        known[0] = True
    elif not labels.get("porosity"):
        known[0] = True  # labelled clean: all-zero target
    else:
        mil = True  # a true image label with no mask (real casting sets)
    kind_present[0] = bool(labels.get("porosity"))

    polish_family_only = False
    if kind_masks:
        for i, kind in enumerate(POLISH_KINDS, 1):
            known[i] = True  # kinds absent from kindMasks are absent from the photo
            if kind in kind_masks and kind_masks[kind]:
                m = _load_mask(directory, kind_masks[kind], size, native)
                bits[m] |= BIT[kind]
    elif masks.get("polish"):
        m = _load_mask(directory, masks["polish"], size, native)
        bits[m] |= BIT_POLISH_FAMILY
        polish_family_only = True
    elif not labels.get("polish"):
        known[1:] = True
    for i, kind in enumerate(POLISH_KINDS, 1):
        kind_present[i] = bool((bits & BIT[kind]).any()) or any(d.get("kind") == kind for d in defects)

    stones = np.array([[s["cx"] * scale, s["cy"] * scale, s["r"] * scale] for s in e.get("stones") or []],
                      np.float32).reshape(-1, 3)
    pois = [stones[:, :2]] if len(stones) else []
    kinds = [np.full(len(stones), STONE_FOCUS, np.int8)] if len(stones) else []
    for d in defects:
        x0, y0, x1, y1 = d["bbox"]
        pois.append(np.array([[(x0 + x1) / 2 * scale, (y0 + y1) / 2 * scale]], np.float32))
        kind = d.get("kind")
        kinds.append(np.array([0 if d.get("family") == "porosity" else
                               (SEG_CHANNELS.index(kind) if kind in SEG_CHANNELS else FAMILY_FOCUS)], np.int8))
    if not defects and bits.any():
        for c, name in enumerate(SEG_CHANNELS + ["_family"]):
            bit = BIT_POLISH_FAMILY if name == "_family" else BIT[name]
            ys, xs = np.nonzero(bits & bit)
            if len(xs):
                pick = np.linspace(0, len(xs) - 1, min(16, len(xs))).astype(int)
                pois.append(np.stack([xs[pick], ys[pick]], 1).astype(np.float32))
                kinds.append(np.full(len(pick), c, np.int8))
    pois_arr = np.concatenate(pois, 0) if pois else np.zeros((0, 2), np.float32)
    kinds_arr = np.concatenate(kinds, 0) if kinds else np.zeros(0, np.int8)
    if not np.isfinite(stones).all():
        raise ManifestError(f"{where}: non-finite stone coordinates")
    mm = e["mmPerPx"] / scale if e["mmPerPx"] is not None else None
    return Sample(key=f"{directory}/{e['file']}", image=np.asarray(img, np.uint8).copy(), bits=bits, stones=stones,
                  scale=scale, mm_per_px=mm, known=known, polish_family_only=polish_family_only, mil=mil,
                  labels=dict(labels), kind_present=kind_present, pois=pois_arr, n_stone_pois=len(stones),
                  poi_kinds=kinds_arr, image_level=not bits.any() and not len(stones) and not defects)


def load_dirs(dirs: list[str], limit: int | None = None, log=print) -> tuple[list[Sample], list[dict]]:
    """Decodes every photo once into the cache; returns the samples and a per-folder summary for model.json."""
    samples: list[Sample] = []
    summary = []
    for d in dirs:
        entries = read_manifest(d)
        if limit is not None:
            entries = entries[:limit]
        sources = sorted({e.get("source", "?") for e in entries})
        for i, e in enumerate(entries):
            try:
                samples.append(load_sample(d, e))
            except (OSError, KeyError, ValueError) as err:
                raise ManifestError(f"{d}/manifest.jsonl:{e['_line']}: {err}") from err
            if (i + 1) % 200 == 0:
                log(f"  loaded {i + 1}/{len(entries)} from {d}")
        # The generator records its run seed under render.seed; other sources may put a seed at the top level.
        seeds = sorted({sd for e in entries for sd in ((e.get("render") or {}).get("seed"), e.get("seed"))
                        if isinstance(sd, int)})
        generators = sorted({str((e.get("render") or {}).get("generator")) for e in entries if e.get("render")})
        meta = {}
        meta_path = os.path.join(d, "dataset.json")
        if os.path.exists(meta_path):
            try:
                with open(meta_path, encoding="utf8") as fh:
                    meta = json.load(fh)
            except (OSError, json.JSONDecodeError):
                meta = {}
        summary.append({
            "dir": display_path(d),
            "count": len(entries),
            "source": ",".join(sources),
            "seeds": seeds[:20],
            **({"generator": ",".join(generators)} if generators else {}),
            **({"generatorSeed": meta["seed"]} if isinstance(meta.get("seed"), int) else {}),
            "labels": {f: sum(bool(e["labels"].get(f)) for e in entries) for f in ("porosity", "stone_spacing", "polish")},
        })
    return samples, summary


def display_path(p: str) -> str:
    """Repo-relative when inside the working directory, absolute otherwise (no ../../../tmp)."""
    rel = os.path.relpath(os.path.abspath(p), os.getcwd())
    return os.path.abspath(p) if rel.startswith("..") else rel


def cache_bytes(samples: list[Sample]) -> int:
    return sum(s.image.nbytes + s.bits.nbytes for s in samples)


# ---------------------------------------------------------------------------------------------------------------
# Crops and augmentation


@dataclass
class AugConfig:
    scale_jitter: float = 0.25  # region of crop * s, s log-uniform in [1/(1+j), 1+j]
    poi_prob: float = 0.7
    defect_poi_prob: float = 0.8  # of POI crops, the share centred on a defect when the photo has one
    photometric: bool = True
    # Any-angle turns, for pieces photographed at any orientation (round castings, rings on a turntable). Off by
    # default: the shipped models were trained with quarter turns and mirrors only.
    rotate: bool = False


def _crop_padded(a: np.ndarray, x0: int, y0: int, size: int) -> np.ndarray:
    H, W = a.shape[:2]
    out = np.zeros((size, size) + a.shape[2:], a.dtype)
    sx0, sy0 = max(0, x0), max(0, y0)
    sx1, sy1 = min(W, x0 + size), min(H, y0 + size)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = a[sy0:sy1, sx0:sx1]
    return out


def stone_targets(stones: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CenterNet-style heat (exactly 1 at each rounded centre), radius map and the pixels where radius counts."""
    heat = np.zeros((size, size), np.float32)
    radius = np.zeros((size, size), np.float32)
    rmask = np.zeros((size, size), np.float32)
    for cx, cy, r in stones:
        sigma = max(1.5, r / 4.0)
        ext = int(math.ceil(3 * sigma))
        ix, iy = int(round(cx)), int(round(cy))
        x0, x1 = max(0, ix - ext), min(size, ix + ext + 1)
        y0, y1 = max(0, iy - ext), min(size, iy + ext + 1)
        if x0 >= x1 or y0 >= y1:
            continue
        xs = np.arange(x0, x1, dtype=np.float32) - ix
        ys = np.arange(y0, y1, dtype=np.float32) - iy
        g = np.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / (2 * sigma * sigma))
        heat[y0:y1, x0:x1] = np.maximum(heat[y0:y1, x0:x1], g)
        near = g > 0.5  # within ~1.2 sigma of the centre: where the pipeline reads the radius
        radius[y0:y1, x0:x1][near] = r
        rmask[y0:y1, x0:x1][near] = 1.0
    return heat, radius, rmask


def _photometric(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x = img.astype(np.float32) / 255.0
    # Gain per channel (white balance / metal colour), then contrast, brightness and gamma.
    x = x * rng.uniform(0.85, 1.15, 3).astype(np.float32)
    m = x.mean()
    x = (x - m) * rng.uniform(0.7, 1.3) + m + rng.uniform(-0.12, 0.12)
    x = np.clip(x, 0, 1) ** rng.uniform(0.7, 1.4)
    if rng.random() < 0.2:  # real magnetic-tile crops and some station cameras are grayscale
        x = np.repeat(x.mean(2, keepdims=True), 3, 2)
    if rng.random() < 0.3:
        x = x + rng.normal(0, rng.uniform(0.005, 0.03), x.shape).astype(np.float32)
    out = (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)
    if rng.random() < 0.2:
        out = np.asarray(Image.fromarray(out).filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.2))))
    if rng.random() < 0.2:
        buf = io.BytesIO()
        Image.fromarray(out).save(buf, "JPEG", quality=int(rng.integers(45, 90)))
        out = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    return out


def _turn(img: np.ndarray, bits: np.ndarray, stones: np.ndarray, angle: float):
    """Turns a square region by `angle` degrees about its centre. Corners are filled from a mirrored border, not a
    flat colour that would read as an edge or a dark defect; stone centres (region pixels) turn with the picture."""
    size = img.shape[0]
    pad = int(math.ceil(size * 0.21))  # (sqrt 2 - 1) / 2 of the side: the turned square's corners stay inside
    big = np.pad(img, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    bigb = np.pad(bits, ((pad, pad), (pad, pad)), mode="constant")
    img = np.asarray(Image.fromarray(big).rotate(angle, Image.BILINEAR))[pad:pad + size, pad:pad + size]
    bits = np.asarray(Image.fromarray(bigb).rotate(angle, Image.NEAREST))[pad:pad + size, pad:pad + size]
    if len(stones):
        stones = stones.copy()
        c = size / 2
        # PIL turns counter-clockwise on screen (y down): x' = c + dx cos + dy sin, y' = c - dx sin + dy cos.
        t = math.radians(angle)
        dx, dy = stones[:, 0] - c, stones[:, 1] - c
        stones[:, 0] = c + dx * math.cos(t) + dy * math.sin(t)
        stones[:, 1] = c - dx * math.sin(t) + dy * math.cos(t)
    return np.ascontiguousarray(img), np.ascontiguousarray(bits), stones


def make_crop(s: Sample, crop: int, rng: np.random.Generator, aug: AugConfig | None, focus: int | None = None):
    """One training example: image uint8 (crop, crop, 3), mask bits, heat, radius, radius weights, and whether the
    crop holds the whole photo. `focus` (a Sample.poi_kinds value) centres the crop on a POI of that kind."""
    H, W = s.bits.shape
    j = aug.scale_jitter if aug else 0.0
    sc = math.exp(rng.uniform(-math.log1p(j), math.log1p(j))) if j > 0 else 1.0
    region = max(8, int(round(crop * sc)))
    if (s.mil or s.image_level) and max(H, W) <= 1.5 * crop:
        # An image-level positive says the defect is somewhere in the photo, so a crop that misses it would teach a
        # false "clean": take the whole photo when it nearly fits. Its negatives are taken whole too, as the station
        # sees them: until session 8 only positives were, so "whole photo, never cropped" itself told the classes
        # apart in training (a cue no station photo carries) and negatives were never seen at the positives' scale.
        region = max(H, W)
        cx, cy = W / 2, H / 2
    elif aug and focus is not None and (s.poi_kinds == focus).any():
        cand = np.nonzero(s.poi_kinds == focus)[0]
        px, py = s.pois[cand[rng.integers(len(cand))]]
        cx = px + rng.uniform(-region / 3, region / 3)
        cy = py + rng.uniform(-region / 3, region / 3)
    elif aug and len(s.pois) and rng.random() < aug.poi_prob:
        n_def = len(s.pois) - s.n_stone_pois
        if n_def > 0 and (s.n_stone_pois == 0 or rng.random() < aug.defect_poi_prob):
            px, py = s.pois[s.n_stone_pois + rng.integers(n_def)]
        else:
            px, py = s.pois[rng.integers(s.n_stone_pois)]
        cx = px + rng.uniform(-region / 3, region / 3)
        cy = py + rng.uniform(-region / 3, region / 3)
    else:
        cx = rng.uniform(min(region / 2, W / 2), max(W - region / 2, W / 2))
        cy = rng.uniform(min(region / 2, H / 2), max(H - region / 2, H / 2))
    x0, y0 = int(round(cx - region / 2)), int(round(cy - region / 2))
    whole = x0 <= 0 and y0 <= 0 and x0 + region >= W and y0 + region >= H
    img = _crop_padded(s.image, x0, y0, region)
    bits = _crop_padded(s.bits, x0, y0, region)
    st = s.stones.copy()
    if len(st):
        st[:, 0] -= x0
        st[:, 1] -= y0
    if aug and aug.rotate:
        img, bits, st = _turn(img, bits, st, float(rng.uniform(0, 360)))
    k = crop / region
    if region != crop:
        img = np.asarray(Image.fromarray(img).resize((crop, crop), Image.BOX if k < 1 else Image.BILINEAR))
        bits = np.asarray(Image.fromarray(bits).resize((crop, crop), Image.NEAREST))
    if len(st):
        st[:, 0] *= k
        st[:, 1] *= k
        st[:, 2] *= k
        m = st[:, 2]
        keep = (st[:, 0] > -m) & (st[:, 0] < crop + m) & (st[:, 1] > -m) & (st[:, 1] < crop + m)
        st = st[keep]
    heat, radius, rmask = stone_targets(st, crop)
    if aug:
        rot = int(rng.integers(4))
        flip = rng.random() < 0.5
        arrs = [img, bits, heat, radius, rmask]
        arrs = [np.rot90(a, rot, axes=(0, 1)) for a in arrs]
        if flip:
            arrs = [a[:, ::-1] for a in arrs]
        img, bits, heat, radius, rmask = [np.ascontiguousarray(a) for a in arrs]
        if aug.photometric:
            img = _photometric(img, rng)
    return img, bits, heat, radius, rmask, whole


def normalise(img_u8: np.ndarray) -> np.ndarray:
    """H x W x 3 uint8 -> 3 x H x W float32, exactly as model.json.input.normalisation says."""
    x = img_u8.astype(np.float32) / 255.0
    x = (x - np.array(MEAN, np.float32)) / np.array(STD, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def make_batch(samples: list[Sample], idx: list[tuple[int, int | None]], crop: int, rng: np.random.Generator, aug: AugConfig | None):
    """`idx`: (sample index, focus or None) pairs, as Sampler.next_items draws them."""
    import torch

    B = len(idx)
    C = len(SEG_CHANNELS)
    x = np.zeros((B, 3, crop, crop), np.float32)
    seg = np.zeros((B, C, crop, crop), np.float32)
    fam = np.zeros((B, 1, crop, crop), np.float32)
    heat = np.zeros((B, 1, crop, crop), np.float32)
    rad = np.zeros((B, 1, crop, crop), np.float32)
    rw = np.zeros((B, 1, crop, crop), np.float32)
    known = np.zeros((B, C), np.float32)
    fam_known = np.zeros(B, np.float32)
    mil = np.zeros(B, np.float32)
    mil_label = np.zeros(B, np.float32)
    # Image-evidence targets per crop and channel: is the kind anywhere in the crop (known where its mask is), plus
    # a polish-family target for photos whose polish mask has no kinds.
    img_label = np.zeros((B, C), np.float32)
    img_known = np.zeros((B, C), np.float32)
    img_fam = np.zeros(B, np.float32)
    for b, (i, focus) in enumerate(idx):
        s = samples[i]
        img, bits, h, r, m, whole = make_crop(s, crop, rng, aug, focus)
        x[b] = normalise(img)
        for c, name in enumerate(SEG_CHANNELS):
            seg[b, c] = (bits & BIT[name]) > 0
        fam[b, 0] = (bits & BIT_POLISH_FAMILY) > 0
        heat[b, 0], rad[b, 0], rw[b, 0] = h, r, m
        known[b] = s.known
        fam_known[b] = float(s.polish_family_only)
        mil[b] = float(s.mil)
        mil_label[b] = float(bool(s.labels.get("porosity")))
        img_label[b] = seg[b].reshape(C, -1).max(1)
        img_known[b] = s.known
        img_fam[b] = fam[b].max()
        if s.mil and whole:  # an image-level positive is a crop-level positive only when the crop is the photo
            img_label[b, 0], img_known[b, 0] = 1.0, 1.0
    t = torch.from_numpy
    return {"image": t(x), "seg": t(seg), "fam": t(fam), "heat": t(heat), "radius": t(rad), "radius_w": t(rw),
            "known": t(known), "fam_known": t(fam_known), "mil": t(mil), "mil_label": t(mil_label),
            "img_label": t(img_label), "img_known": t(img_known), "img_fam": t(img_fam)}


class Sampler:
    """Seeded, resumable image sampler: its whole state is one numpy Generator.

    With `samples`, half the draws are focused: a kind (porosity, each polish kind, polish family, stones) chosen
    uniformly among those present, then a photo holding it, with the crop centred on it. Drawing photos uniformly
    gave each polish kind ~4 % of crops, and 1.0.0 never learned scratches or tool marks."""

    FOCUSED_SHARE = 0.5

    def __init__(self, n: int, seed: int, samples: list[Sample] | None = None):
        self.n = n
        self.rng = np.random.default_rng(seed)
        self.groups: list[tuple[int, np.ndarray]] = []
        if samples is not None:
            for focus in [STONE_FOCUS, *range(len(SEG_CHANNELS)), FAMILY_FOCUS]:
                holders = np.array([i for i, s in enumerate(samples) if (s.poi_kinds == focus).any()], np.int64)
                if len(holders):
                    self.groups.append((focus, holders))

    def next_items(self, batch: int) -> list[tuple[int, int | None]]:
        out: list[tuple[int, int | None]] = []
        for _ in range(batch):
            if self.groups and self.rng.random() < self.FOCUSED_SHARE:
                focus, holders = self.groups[int(self.rng.integers(len(self.groups)))]
                out.append((int(holders[self.rng.integers(len(holders))]), focus))
            else:
                out.append((int(self.rng.integers(0, self.n)), None))
        return out

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def load_state(self, st: dict) -> None:
        self.rng.bit_generator.state = st
