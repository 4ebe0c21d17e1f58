"""Times the same network in PyTorch eager on the same working-scale input the ONNX benchmark used.

    /usr/bin/python3 models/training/bench_torch.py --weights models/loupe-seg/<v>/weights.pt --input X.f32 \
        --shape 1,3,H,W [--runs 5] [--threads 2]

Prints one JSON line: {"msMedian", "msMin", "runs", "threads", "shape"}.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

import net


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--input", required=True, help="raw little-endian float32 NCHW tensor")
    ap.add_argument("--shape", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    shape = tuple(int(v) for v in args.shape.split(","))
    x = torch.from_numpy(np.fromfile(args.input, dtype="<f4").reshape(shape))
    ck = torch.load(args.weights, map_location="cpu")
    model = net.build(ck["config"])
    net.load_weights(model, ck["model"])
    model.eval()
    times = []
    with torch.inference_mode():
        model(x)  # warm-up: allocator and kernel selection
        for _ in range(args.runs):
            t0 = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({"msMedian": statistics.median(times), "msMin": min(times), "runs": args.runs,
                      "threads": args.threads, "shape": list(shape)}))


if __name__ == "__main__":
    main()
