"""The verifier's strongest candidates on photos labelled clean of a family (polish by default, or porosity for a
verifier that also verifies it): what its false alarms look like.

    /usr/bin/python3 models/training/verifier_false_alarms.py --model models/loupe-seg/1.2.0 \
        --data /work/data/val-s201 --out models/loupe-seg/1.2.0/failures/verifier-false-alarms.jpg

One tile per photo (the photo's strongest candidate, its 256 px context, a red dot on the candidate), strongest
first, and one line per tile on stdout: file, the map that proposed it (-1: grid), the verifier's probabilities.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

import train_verifier as T  # noqa: E402
import verifier as V  # noqa: E402
import net  # noqa: E402
from data import load_dirs  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="a model version folder with a verifier")
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--tiles", type=int, default=16)
    ap.add_argument("--family", choices=["polish", "porosity"], default="polish")
    args = ap.parse_args()
    torch.set_num_threads(T.THREADS)
    manifest, seg, ver = V.load_version(args.model)
    if ver is None:
        raise SystemExit(f"{args.model} has no verifier")
    spec = manifest["verifier"]
    samples, _ = load_dirs([args.data], log=lambda *_: None)
    family = [j for j, k in enumerate(spec["kinds"]) if k in (net.POLISH_KINDS if args.family == "polish" else ["porosity"])]
    if not family:
        raise SystemExit(f"{args.model}'s verifier does not verify {args.family}")
    clean = [s for s in samples if not s.labels.get(args.family)]
    rows = T.examples_for(clean, seg, np.random.default_rng(0), False, spec["kinds"])
    probs = T.score_rows(ver, clean, rows, T.WideViews(spec.get("wideFactor")))
    best: dict[int, tuple[float, int]] = {}
    for n, r in enumerate(rows):
        i, p = int(r[0]), float(probs[n, family].max())
        if i not in best or p > best[i][0]:
            best[i] = (p, n)
    tiles = []
    for p, n in sorted(best.values(), reverse=True)[:args.tiles]:
        r = rows[n]
        s = clean[int(r[0])]
        tile = np.array(Image.fromarray(V.crop_region(s.image, int(r[1]), int(r[2]), V.PATCH * V.CONTEXT_FACTOR)).resize((192, 192)))
        tile[94:98, 94:98] = (255, 0, 0)
        tiles.append(tile)
        print(f"{os.path.basename(s.key)} source {int(r[3])} " + " ".join(f"{k} {q:.2f}" for k, q in zip(spec["kinds"], probs[n])))
    cols = 4
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    grid = np.concatenate([np.concatenate(tiles[j:j + cols], 1) for j in range(0, len(tiles), cols)], 0)
    Image.fromarray(grid).save(args.out, quality=85)


if __name__ == "__main__":
    main()
