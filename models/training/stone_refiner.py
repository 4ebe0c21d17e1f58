"""The stone refiner: from a crop around a stone's estimated centre and radius, the offset to its true centre and the
ratio to its true radius (both in units of the estimated radius).

Why a network after the photo measurement (pipeline/postprocess/stone-edges.ts): a gap is a centre distance minus two
radii, and the measurement's rare misses decide the spacing verdict. A sparkle's star pulls a centre 2-5 px, the crown's
facets end a row's radius a pixel early, and one such stone in a row puts a gap 0.06-0.1 mm off its neighbours on a
clean piece. A crop normalised to the stone's size shows the girdle, the seat and the prongs at once; a small network
learns to read the circle through a sparkle where each hand-made rule saw only its own cue.

The crop sampler here and `pipeline/stone-refine.ts` are one definition in two languages (a test compares them): the
photo's pixel (x, y) holds the value at coordinates (x, y); output pixel (i, j) is the mean of SUPERSAMPLE^2 bilinear
samples spread evenly over its square, the squares tiling [c - SIDE r / 2, c + SIDE r / 2] on each axis.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

CROP_PX = 32
CROP_SIDE = 3.0  # in estimated radii: the stone, its seat and prongs, and the near edges of its neighbours
SUPERSAMPLE = 4  # sub-samples per output pixel and axis: a 3 r crop of a 60 px stone shrinks ~6x, bilinear alone aliases


def bilinear(img: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    h, w, _ = img.shape
    xs = np.clip(xs, 0, w - 1.001)
    ys = np.clip(ys, 0, h - 1.001)
    x0 = np.floor(xs).astype(np.int64)
    y0 = np.floor(ys).astype(np.int64)
    fx = (xs - x0)[..., None]
    fy = (ys - y0)[..., None]
    a, b = img[y0, x0], img[y0, x0 + 1]
    c, d = img[y0 + 1, x0], img[y0 + 1, x0 + 1]
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


def crop(img: np.ndarray, cx: float, cy: float, r: float) -> np.ndarray:
    """CROP_PX x CROP_PX x 3 (float, the photo's 0-255 scale) around (cx, cy) at radius r."""
    step = CROP_SIDE * r / CROP_PX
    sub = (np.arange(CROP_PX * SUPERSAMPLE) + 0.5) / SUPERSAMPLE
    xs = cx - CROP_SIDE * r / 2 + sub * step
    ys = cy - CROP_SIDE * r / 2 + sub * step
    gx, gy = np.meshgrid(xs, ys)
    v = bilinear(img, gx, gy)
    return v.reshape(CROP_PX, SUPERSAMPLE, CROP_PX, SUPERSAMPLE, 3).mean(axis=(1, 3))


def normalise_batch(x: torch.Tensor) -> torch.Tensor:
    """N x 3 x H x W crops (0-255 scale): each crop's channels less their means, all over the crop's one spread
    (exposure and white balance drop out, the stone's colour against the metal stays); the floor keeps a flat crop's
    noise from being blown up."""
    m = x.mean(dim=(2, 3), keepdim=True)
    sd = x.flatten(1).std(dim=1, unbiased=False).view(-1, 1, 1, 1) + 0.25
    return (x - m) / sd


def normalise(c: np.ndarray) -> np.ndarray:
    """One crop from `crop` as the network reads it: 3 x CROP_PX x CROP_PX float32 (normalise_batch, in float64)."""
    x = torch.from_numpy(np.ascontiguousarray(c.transpose(2, 0, 1), dtype=np.float64))[None]
    return normalise_batch(x)[0].numpy().astype(np.float32)


class StoneRefiner(nn.Module):
    """Three conv stages to 4 x 4, then a small dense head: position must survive, so no global pooling."""

    def __init__(self, widths=(16, 32, 64), hidden=96):
        super().__init__()
        self.config = {"widths": list(widths), "hidden": hidden}
        stages, c_in = [], 3
        for w in widths:
            stages += [nn.Conv2d(c_in, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(),
                       nn.Conv2d(w, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2)]
            c_in = w
        self.features = nn.Sequential(*stages)
        side = CROP_PX // 2 ** len(widths)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c_in * side * side, hidden), nn.ReLU(), nn.Linear(hidden, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(dx, dy, log radius ratio), in estimated radii."""
        return self.head(self.features(x))


def build(config: dict) -> StoneRefiner:
    return StoneRefiner(tuple(config.get("widths", (16, 32, 64))), config.get("hidden", 96))


def export_onnx(model: StoneRefiner, path: str) -> None:
    model.eval()
    dummy = torch.zeros(1, 3, CROP_PX, CROP_PX)
    torch.onnx.export(model, dummy, path, input_names=["crops"], output_names=["offsets"],
                      dynamic_axes={"crops": {0: "n"}, "offsets": {0: "n"}}, opset_version=13)
