"""The polish verifier: a second, small network that looks again at the few places the seg model points to.

Why a second stage: the seg model's polish channels fire inside scratches and tool marks, but as strongly on
hallmarks, brushed areas and the piece's edges, so their maximum over a photo barely ranks photos (1.1.0: polish
image AUROC 0.62). Looking again at a handful of candidate places with a network that sees each at full working
resolution (a 64 px patch) and in context (the 256 px around it, shrunk 4x) costs a few dozen small patches per
photo, not a second pass over 1-3 MP, and it is trained on exactly the confusions the first stage makes: its
negatives are the seg model's own candidates on clean metal.

The candidate rule and the patch geometry here must stay identical to `pipeline/postprocess/polish-candidates.ts`
and `pipeline/verify.ts`; `model.json.verifier` carries every number they read.
"""
from __future__ import annotations

import json
import os
import warnings

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

import net
from net import POLISH_KINDS, SEG_CHANNELS, cbr

# Candidate rule (model.json verifier.candidates): per polish kind, the strongest pixel of every CELL x CELL cell of
# its seg map, strongest first, kept when at least MIN_DIST px from every candidate already kept for that kind and at
# least FLOOR, PER_KIND at most; plus an on-piece grid GRID_PX apart. Scratch probabilities inside scratches average
# ~0.02 in 1.1.0, so the floor is low and the ranking does the work. Share of val-s201 photos with a kind where some
# candidate lands on it (the label rule below), scratch / haze / tool mark / orange peel, behind 1.1.0:
# 8 per kind, no grid 0.76 / 0.57 / 0.69 / 0.78; 12, no grid 0.81 / 0.63 / 0.78 / 0.81; 16, no grid 0.81 / 0.74 /
# 0.80 / 0.87; 12 + a 96 px grid (this rule) 0.93 / 0.89 / 0.88 / 0.95. The seg maps rank haze worst, hence the grid.
# Re-measure: train_verifier.py --seg models/loupe-seg/1.1.0 --data <any> --val /work/data/val-s201 --out /tmp/x
#   --recall-only --candidates '{"perKind": 8, "gridPx": 0}'
CANDIDATES = {"cell": 32, "minDistPx": 40, "perKind": 12, "floor": 0.02, "gridPx": 96}
# Patch geometry (model.json verifier.input): PATCH px at working scale around the candidate, and the CONTEXT_FACTOR x
# wider square around it box-averaged to PATCH px, stacked as 6 channels.
PATCH = 64
CONTEXT_FACTOR = 4
# Optional third view (model.json verifier.wideFactor, 1.5.0 on): the photo box-averaged over a fixed grid of
# WIDE_FACTOR x WIDE_FACTOR blocks, PATCH cells of it around the candidate's block (64 x 16 = 1024 px, ~12 mm at
# working scale). Haze patches are 0.6-4.4 mm across, so inside a large one the 3 mm context is all haze and reads as
# plain satin metal; brushed finish covers a whole face, a tool mark does not. Only a view wider than the defect shows
# the difference. The grid is fixed (not centred on the candidate, as the context is) so the service averages the
# photo once per photo, not once per candidate: the candidate sits within one block of the crop's centre.
WIDE_FACTOR = 16
# Labels: a candidate is a true `kind` when the kind's mask has a pixel within LABEL_RADIUS px of it, and clean for
# that kind only when none lies within IGNORE_RADIUS px, i.e. nowhere in its centre patch; in between it teaches
# nothing. A candidate 6 px beside a scratch sees the scratch: labelled clean (1.2.0's first run, one radius of 4 px),
# a fifth of the patches showing a defect were negatives and the verifier learned little (candidate AUROC 0.83-0.93).
LABEL_RADIUS = 12
IGNORE_RADIUS = PATCH // 2


def candidates(polish: np.ndarray, on_piece: np.ndarray | None = None, cfg: dict = CANDIDATES) -> list[tuple[float, int, int, int]]:
    """polish: K x H x W probabilities. Returns (value, x, y, source kind index or -1 for a grid point), per kind
    strongest first, then the grid. Without `on_piece` (training has no piece mask) every pixel counts."""
    cell, min_d, per_kind, floor = cfg["cell"], cfg["minDistPx"], cfg["perKind"], cfg["floor"]
    K, H, W = polish.shape
    hc, wc = -(-H // cell), -(-W // cell)
    out: list[tuple[float, int, int, int]] = []
    for k in range(K):
        plane = polish[k] if on_piece is None else np.where(on_piece, polish[k], -1.0)
        padded = np.full((hc * cell, wc * cell), -1.0, np.float32)
        padded[:H, :W] = plane
        blocks = padded.reshape(hc, cell, wc, cell).transpose(0, 2, 1, 3).reshape(hc, wc, cell * cell)
        arg = blocks.argmax(2)
        val = np.take_along_axis(blocks, arg[..., None], 2)[..., 0]
        cy, cx = np.nonzero(val >= floor)
        cand = []
        for by, bx in zip(cy.tolist(), cx.tolist()):
            a = int(arg[by, bx])
            cand.append((float(val[by, bx]), bx * cell + a % cell, by * cell + a // cell))
        cand.sort(key=lambda c: (-c[0], c[2], c[1]))
        kept: list[tuple[float, int, int]] = []
        for v, x, y in cand:
            if all((x - kx) ** 2 + (y - ky) ** 2 >= min_d * min_d for _, kx, ky in kept):
                kept.append((v, x, y))
                if len(kept) == per_kind:
                    break
        out.extend((v, x, y, k) for v, x, y in kept)
    g = cfg.get("gridPx", 0)
    if g > 0:
        for y in range(g // 2, H, g):
            for x in range(g // 2, W, g):
                if on_piece is None or on_piece[y, x]:
                    out.append((0.0, x, y, -1))
    return out


def crop_region(img: np.ndarray, x: int, y: int, size: int) -> np.ndarray:
    """size x size x 3 around (x, y) (top-left at x - size//2), zero outside the image."""
    H, W = img.shape[:2]
    x0, y0 = x - size // 2, y - size // 2
    out = np.zeros((size, size, 3), img.dtype)
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(W, x0 + size), min(H, y0 + size)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = img[sy0:sy1, sx0:sx1]
    return out


def patch_pair(region: np.ndarray) -> np.ndarray:
    """A (PATCH*CONTEXT_FACTOR)^2 x 3 uint8 region -> 6 x PATCH x PATCH float32 in [0, 1]: centre, then context."""
    big = PATCH * CONTEXT_FACTOR
    assert region.shape[:2] == (big, big)
    o = (big - PATCH) // 2
    centre = region[o:o + PATCH, o:o + PATCH].astype(np.float32)
    ctx = region.astype(np.float32).reshape(PATCH, CONTEXT_FACTOR, PATCH, CONTEXT_FACTOR, 3).mean((1, 3))
    return np.concatenate([centre, ctx], 2).transpose(2, 0, 1) / 255.0


def wide_image(img: np.ndarray, factor: int) -> np.ndarray:
    """H x W x 3 uint8 -> ceil(H/f) x ceil(W/f) x 3 float32 block means on the grid from (0, 0); pixels outside the
    photo count as zero, as everywhere in the patches."""
    H, W = img.shape[:2]
    h, w = -(-H // factor), -(-W // factor)
    pad = np.zeros((h * factor, w * factor, 3), np.float32)
    pad[:H, :W] = img
    return pad.reshape(h, factor, w, factor, 3).mean((1, 3))


def wide_crop(wide: np.ndarray, x: int, y: int, factor: int) -> np.ndarray:
    """PATCH x PATCH x 3 cells of `wide_image` around the candidate's block (its block at PATCH//2), zero outside."""
    h, w = wide.shape[:2]
    x0, y0 = x // factor - PATCH // 2, y // factor - PATCH // 2
    out = np.zeros((PATCH, PATCH, 3), np.float32)
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(w, x0 + PATCH), min(h, y0 + PATCH)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = wide[sy0:sy1, sx0:sx1]
    return out


def patch_stack(region: np.ndarray, wide: np.ndarray | None) -> np.ndarray:
    """patch_pair, plus the wide view (PATCH x PATCH x 3, 0-255) as channels 6-8 when the verifier has one."""
    pair = patch_pair(region)
    if wide is None:
        return pair
    return np.concatenate([pair, wide.astype(np.float32).transpose(2, 0, 1) / 255.0], 0)


class PolishVerifier(nn.Module):
    """6 x 64 x 64 -> one logit per kind it verifies (the polish kinds by default). ~21 MMAC per patch: a photo sends ~50-150 patches, so the pass stays
    a fraction of the seg model's. The first conv is strided, but its 3x3 kernel still reads every pixel, so a
    one-pixel scratch reaches the features."""

    def __init__(self, widths: tuple[int, int, int] = (24, 48, 64), kinds: int = len(POLISH_KINDS), inputs: int = 6):
        super().__init__()
        a, b, c = widths
        self.config = {"widths": list(widths), "kinds": kinds, **({"inputs": inputs} if inputs != 6 else {})}
        self.body = nn.Sequential(
            cbr(inputs, a, stride=2), cbr(a, a),   # 32
            cbr(a, b, stride=2), cbr(b, b),   # 16
            cbr(b, c, stride=2), cbr(c, c),   # 8
        )
        self.head = nn.Linear(2 * c, kinds)

    def forward_logits(self, x: torch.Tensor) -> torch.Tensor:
        f = self.body(x)
        # Mean and max: a hairline scratch is a few cells of the map, which a mean alone dilutes.
        return self.head(torch.cat([f.mean((2, 3)), f.amax((2, 3))], 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.forward_logits(x))


class VerifierEnsemble(net.Ensemble):
    """Verifiers of one architecture on the same patches, probabilities averaged (members and config as
    `net.Ensemble`). A photo's score is its single strongest candidate, so one network's noise on one clean patch
    decides a clean photo's score; two networks trained on different draws of photos are noisy on different patches,
    and their mean steadies that maximum."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x) for m in self.members]).mean(0)


def export_onnx(model: PolishVerifier | VerifierEnsemble, path: str) -> None:
    """`patches` [N, 6 or 9, PATCH, PATCH] -> `kinds` [N, kinds], N dynamic."""
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        inputs = (model.config.get("member") or model.config).get("inputs", 6)
        torch.onnx.export(model, torch.zeros(2, inputs, PATCH, PATCH), path, opset_version=17, input_names=["patches"],
                          output_names=["kinds"], dynamic_axes={"patches": {0: "n"}, "kinds": {0: "n"}})
    onnx.checker.check_model(onnx.load(path))


def build(config: dict | None = None) -> PolishVerifier | VerifierEnsemble:
    config = config or {}
    if "members" in config:
        return VerifierEnsemble([build(config["member"]) for _ in range(int(config["members"]))])  # type: ignore[misc]
    return PolishVerifier(tuple(config.get("widths", (24, 48, 64))), int(config.get("kinds", len(POLISH_KINDS))),
                          int(config.get("inputs", 6)))


def widen_input(model: PolishVerifier, inputs: int) -> PolishVerifier:
    """The same verifier with `inputs` input channels, the new ones' first-layer weights zero: it scores every patch
    exactly as before until training teaches it to read them (so a trained verifier's hard negatives stay valid)."""
    old = model.config.get("inputs", 6)
    wider = PolishVerifier(tuple(model.config["widths"]), model.config["kinds"], inputs)
    state = model.state_dict()
    w = state["body.0.0.weight"]
    grown = torch.zeros(w.shape[0], inputs, *w.shape[2:], dtype=w.dtype)
    grown[:, :old] = w
    state["body.0.0.weight"] = grown
    wider.load_state_dict(state)
    return wider


def widen_stages(model: PolishVerifier, widths: tuple[int, int, int], seed: int = 0) -> PolishVerifier:
    """The same verifier with wider stages (Net2WiderNet): each new channel copies a random old one of its layer (conv
    filter and batch-norm statistics), and the next layer's weights from the copied channel are split between the
    copies at random shares summing to one, so it scores every patch as before (up to float rounding) and the copies,
    fed different weights downstream, learn apart. A larger network that starts where a trained one stopped keeps
    that one's hard negatives valid."""
    old = tuple(model.config["widths"])
    if any(n < o for n, o in zip(widths, old)):
        raise ValueError(f"widen_stages: {widths} is narrower than {old}")
    inputs = model.config.get("inputs", 6)
    wider = PolishVerifier(tuple(widths), model.config["kinds"], inputs)
    g = torch.Generator().manual_seed(seed)
    src, dst = model.state_dict(), wider.state_dict()
    outs = [w for w in old for _ in range(2)]
    news = [w for w in widths for _ in range(2)]
    prev_map, prev_share = None, None
    for i, (o, n) in enumerate(zip(outs, news)):
        mapping = torch.cat([torch.arange(o), torch.randint(0, o, (n - o,), generator=g)])
        w = src[f"body.{i}.0.weight"][mapping]
        if prev_map is not None:
            w = w[:, prev_map] * prev_share[None, :, None, None]
        dst[f"body.{i}.0.weight"] = w.clone()
        for key in ("weight", "bias", "running_mean", "running_var"):
            dst[f"body.{i}.1.{key}"] = src[f"body.{i}.1.{key}"][mapping].clone()
        dst[f"body.{i}.1.num_batches_tracked"] = src[f"body.{i}.1.num_batches_tracked"].clone()
        prev_map, prev_share = mapping, _shares(mapping, o, g)
    head = src["head.weight"]
    c_old = old[2]
    dst["head.weight"] = torch.cat([head[:, :c_old][:, prev_map] * prev_share, head[:, c_old:][:, prev_map] * prev_share], 1).clone()
    dst["head.bias"] = src["head.bias"].clone()
    wider.load_state_dict(dst)
    return wider


def _shares(mapping: torch.Tensor, old: int, g: torch.Generator) -> torch.Tensor:
    """Per new channel, its share of the old channel it copies: random positive shares summing to one per old channel."""
    raw = 0.5 + torch.rand(len(mapping), generator=g)
    total = torch.zeros(old).index_add_(0, mapping, raw)
    return raw / total[mapping]


def load_version(model_dir: str) -> tuple[dict, nn.Module, PolishVerifier | None]:
    """A model version folder's model.json, its seg network and its verifier (None without one), in eval mode."""
    with open(os.path.join(model_dir, "model.json"), encoding="utf8") as fh:
        manifest = json.load(fh)
    ck = torch.load(os.path.join(model_dir, manifest.get("weights", "weights.pt")), map_location="cpu")
    seg = net.build(ck["config"])
    seg.load_state_dict(ck["model"])
    seg.eval()
    ver = None
    if manifest.get("verifier"):
        vk = torch.load(os.path.join(model_dir, manifest["verifier"]["weights"]), map_location="cpu")
        ver = build(vk["config"])
        ver.load_state_dict(vk["model"])
        ver.eval()
    return manifest, seg, ver


def normalise(x: torch.Tensor, mean, std) -> torch.Tensor:
    views = x.shape[1] // 3
    m = torch.tensor(list(mean) * views, dtype=x.dtype)[None, :, None, None]
    s = torch.tensor(list(std) * views, dtype=x.dtype)[None, :, None, None]
    return (x - m) / s


@torch.no_grad()
def seg_maps(model: nn.Module, image: np.ndarray, mean, std, kinds: list[str] = POLISH_KINDS) -> np.ndarray:
    """The seg model's maps of `kinds` (K x H x W) for one working-scale uint8 image, padded to a multiple of 16."""
    H, W = image.shape[:2]
    ph, pw = -(-H // 16) * 16, -(-W // 16) * 16
    x = torch.from_numpy(image.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    x = (x - torch.tensor(mean)[None, :, None, None]) / torch.tensor(std)[None, :, None, None]
    x = F.pad(x, (0, pw - W, 0, ph - H))
    seg, _, _ = model(x)
    return seg[0, [SEG_CHANNELS.index(k) for k in kinds], :H, :W].numpy()


def any_within(bits: np.ndarray, x: int, y: int, bit: int, radius: int) -> bool:
    H, W = bits.shape
    win = bits[max(0, y - radius):min(H, y + radius + 1), max(0, x - radius):min(W, x + radius + 1)]
    return bool((win & bit).any())


def label_at(bits: np.ndarray, x: int, y: int, kind_bits: list[int]) -> np.ndarray:
    """Per kind: 1 (on it), 0 (not in the centre patch) or -1 (near it: ignored in training, see LABEL_RADIUS)."""
    return np.array([1.0 if any_within(bits, x, y, b, LABEL_RADIUS) else (-1.0 if any_within(bits, x, y, b, IGNORE_RADIUS) else 0.0)
                     for b in kind_bits], np.float32)
