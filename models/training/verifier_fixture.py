"""Parity fixture for the polish verifier's contract with the pipeline (`pipeline/postprocess/polish-candidates.ts`,
`pipeline/verify.ts`): seeded polish planes, a piece mask and a photo; the candidates `verifier.candidates` picks,
the patches `patch_pair` builds for them, and a randomly initialised (fixed seed) verifier exported as
`train_verifier.py` exports it, with its PyTorch outputs. Raw little-endian float32 / uint8 files plus JSON.

    /usr/bin/python3 models/training/verifier_fixture.py --out DIR
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import verifier as V  # noqa: E402
from data import MEAN, STD  # noqa: E402
from fixture import randomise_batchnorm  # noqa: E402

SEED = 4321
H, W = 150, 230  # not multiples of the cell or the grid: the partial last cells are exercised


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--wide-factor", type=int, default=None, help="a verifier with the wide view (9 input channels)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(SEED)
    planes = (rng.random((4, H, W)) ** 6).astype(np.float32)  # mostly low, a few strong pixels per cell
    yy, xx = np.mgrid[0:H, 0:W]
    # A ring, as a piece often is: rows with a hole in the middle and empty rows above and below.
    r2 = ((xx - 120) / 100.0) ** 2 + ((yy - 70) / 60.0) ** 2
    on_piece = ((r2 <= 1) & (r2 >= 0.3)).astype(np.uint8)
    image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    rule = dict(V.CANDIDATES, gridPx=48)
    cands = V.candidates(planes, on_piece.astype(bool), rule)
    big = V.PATCH * V.CONTEXT_FACTOR
    wide = V.wide_image(image, args.wide_factor) if args.wide_factor else None
    patches = np.stack([V.patch_stack(V.crop_region(image, x, y, big), None if wide is None else V.wide_crop(wide, x, y, args.wide_factor))
                        for _, x, y, _ in cands]).astype(np.float32)
    x = V.normalise(torch.from_numpy(patches), MEAN, STD)
    torch.manual_seed(SEED)
    model = V.build({"inputs": 9} if wide is not None else None)
    randomise_batchnorm(model)
    model.eval()
    V.export_onnx(model, os.path.join(args.out, "verifier.onnx"))
    with torch.no_grad():
        probs = model(x)
    planes.astype("<f4").tofile(os.path.join(args.out, "planes.f32"))
    on_piece.tofile(os.path.join(args.out, "on_piece.u8"))
    image.tofile(os.path.join(args.out, "image.u8"))
    x.numpy().astype("<f4").tofile(os.path.join(args.out, "patches.f32"))
    probs.numpy().astype("<f4").tofile(os.path.join(args.out, "probs.f32"))
    meta = {"width": W, "height": H, "rule": rule, "patchPx": V.PATCH, "contextFactor": V.CONTEXT_FACTOR,
            **({"wideFactor": args.wide_factor} if wide is not None else {}),
            "mean": list(MEAN), "std": list(STD), "candidates": [{"value": v, "x": x, "y": y, "source": k} for v, x, y, k in cands]}
    with open(os.path.join(args.out, "fixture.json"), "w", encoding="utf8") as fh:
        json.dump(meta, fh)


if __name__ == "__main__":
    main()
