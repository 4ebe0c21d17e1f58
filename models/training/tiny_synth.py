"""A deliberately crude manifest folder (flat metal, dark pores, bright scratches, round stones) for exercising the
training loop without the real generator (`npx loupe synth`). Not training data: it only has to follow the schema.

    /usr/bin/python3 models/training/tiny_synth.py --out DIR --count 12 --seed 5 [--size 192]
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

MM_PER_PX = 0.01  # finer than the working scale, so the downsampling path is exercised too


def make(out: str, count: int, seed: int, size: int) -> None:
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    os.makedirs(os.path.join(out, "masks"), exist_ok=True)
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(count):
        W, H = size + 32, size
        base = rng.uniform(120, 200, 3)
        img = Image.new("RGB", (W, H), tuple(int(v) for v in base))
        d = ImageDraw.Draw(img)
        por = Image.new("L", (W, H), 0)
        dp = ImageDraw.Draw(por)
        scr = Image.new("L", (W, H), 0)
        ds = ImageDraw.Draw(scr)
        defects, stones = [], []
        porous, scratched, stoned = i % 3 == 0, i % 3 == 1, i % 2 == 0
        if stoned:
            n = 4
            r = H / 14
            for k in range(n):
                cx, cy = W * (k + 1) / (n + 1), H * 0.3
                d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(245, 245, 250), outline=(90, 90, 100), width=2)
                stones.append({"cx": cx, "cy": cy, "r": r})
        if porous:
            for _ in range(int(rng.integers(2, 5))):
                cx, cy, r = rng.uniform(20, W - 20), rng.uniform(H * 0.5, H - 20), rng.uniform(2.5, 6)
                d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(25, 20, 20))
                dp.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
                defects.append({"family": "porosity", "kind": "pinhole", "bbox": [cx - r, cy - r, cx + r, cy + r],
                                "sizeMm": round(2 * r * MM_PER_PX, 4)})
        if scratched:
            x0, y0 = rng.uniform(10, W / 2), rng.uniform(H * 0.5, H - 10)
            x1, y1 = x0 + rng.uniform(40, W / 2 - 10), y0 + rng.uniform(-20, 20)
            d.line([x0, y0, x1, y1], fill=(250, 250, 250), width=2)
            ds.line([x0, y0, x1, y1], fill=255, width=2)
            defects.append({"family": "polish", "kind": "scratch",
                            "bbox": [min(x0, x1), min(y0, y1) - 1, max(x0, x1), max(y0, y1) + 1],
                            "sizeMm": round(float(np.hypot(x1 - x0, y1 - y0)) * MM_PER_PX, 4)})
        img = img.filter(ImageFilter.GaussianBlur(0.6))
        arr = np.asarray(img).astype(np.float32) + rng.normal(0, 4, (H, W, 3))
        name = f"tiny_{seed}_{i:03d}"
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(os.path.join(out, "images", name + ".png"))
        masks = {"porosity": None, "polish": None}
        kind_masks = {}
        if porous:
            masks["porosity"] = f"masks/{name}_porosity.png"
            por.save(os.path.join(out, masks["porosity"]))
        if scratched:
            masks["polish"] = f"masks/{name}_polish.png"
            scr.save(os.path.join(out, masks["polish"]))
            kind_masks["scratch"] = masks["polish"]
        lines.append({
            "schemaVersion": 1, "file": f"images/{name}.png", "width": W, "height": H, "mmPerPx": MM_PER_PX,
            "source": "tiny-synth", "metal": "au750_yellow", "piece": "ring_band", "view": "top",
            "labels": {"porosity": porous, "stone_spacing": False, "polish": scratched},
            "masks": masks, **({"kindMasks": kind_masks} if kind_masks else {}), "defects": defects,
            "stones": stones,
            "stoneRow": {"expectedCount": len(stones), "nominalGapMm": 0.2, "gapsMm": [], "missing": []} if stones
            else None,
        })
    with open(os.path.join(out, "manifest.jsonl"), "w", encoding="utf8") as fh:
        fh.write("".join(json.dumps(l) + "\n" for l in lines))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=12)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--size", type=int, default=192)
    a = ap.parse_args()
    make(a.out, a.count, a.seed, a.size)
