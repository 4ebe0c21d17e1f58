"""ONNX parity fixture: a randomly initialised (fixed seed) LoupeSeg exported exactly as export.py does, plus an
input and PyTorch's outputs as raw little-endian float32, so onnxruntime-node can be checked against PyTorch.

    /usr/bin/python3 models/training/fixture.py --out DIR

The input's shape differs from the export's example shape, so the dynamic N/H/W axes are exercised too. BatchNorm
running statistics are randomised as well: export folds them into the convolutions, and the fold must be exact.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import net  # noqa: E402
from export import export_onnx  # noqa: E402

SEED = 1234
INPUT_SHAPE = (2, 3, 80, 112)


def randomise_batchnorm(model: torch.nn.Module) -> None:
    """Non-trivial BatchNorm statistics and affine terms: export folds them into the convolutions, and a fold that
    is wrong only shows when they are not the identity."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(SEED)
    model = net.build()
    randomise_batchnorm(model)
    with torch.no_grad():
        # Lift the heads' priors so both sigmoid channels and the radius carry signal worth comparing.
        model.seg_head.bias.zero_()
        model.stone_head[-1].bias.zero_()
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_onnx(model, os.path.join(args.out, "model.onnx"))
    x = torch.randn(*INPUT_SHAPE, generator=torch.Generator().manual_seed(SEED + 1))
    with torch.no_grad():
        seg, stones, evidence = model(x)
    files = {}
    for name, t in (("image", x), ("seg", seg), ("stones", stones), ("evidence", evidence)):
        path = f"{name}.f32"
        t.numpy().astype("<f4").tofile(os.path.join(args.out, path))
        files[name] = {"file": path, "shape": list(t.shape)}
    meta = {"seed": SEED, "torch": torch.__version__, "input": files["image"],
            "outputs": {"seg": files["seg"], "stones": files["stones"], "evidence": files["evidence"]},
            "stats": {"segMean": float(seg.mean()), "stonesMax": float(stones.max())}}
    with open(os.path.join(args.out, "fixture.json"), "w", encoding="utf8") as fh:
        json.dump(meta, fh, indent=2)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
