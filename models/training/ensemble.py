"""K fine-tuned members -> one model folder whose ONNX graph runs them all and averages their outputs.

    /usr/bin/python3 models/training/ensemble.py --member DIR [--member DIR ...] --val DIR [--val DIR ...] --out DIR

Each --member is a model folder written by train.py (`loupe train --folds K` writes one per fold). The members must
share one architecture. Pixel and stone operating points are calibrated on --val exactly as train.py calibrates a
single network; `loupe train --folds` then re-sets the image gates on the members' out-of-fold scores.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402

import data  # noqa: E402
import net  # noqa: E402
from calibrate import METHOD, calibrate  # noqa: E402
from data import display_path, load_dirs  # noqa: E402
from export import WEIGHTS_FILE, write_model_dir  # noqa: E402
from train import THREADS, Logger  # noqa: E402


def load_member(model_dir: str) -> tuple[net.LoupeSeg, dict]:
    with open(os.path.join(model_dir, "model.json"), encoding="utf8") as fh:
        manifest = json.load(fh)
    ck = torch.load(os.path.join(model_dir, manifest.get("weights", WEIGHTS_FILE)), map_location="cpu")
    if "members" in ck["config"]:
        raise SystemExit(f"--member {model_dir} is itself an ensemble: give its members")
    model = net.build(ck["config"])
    net.load_weights(model, ck["model"])
    return model, manifest


def member_record(model_dir: str, manifest: dict) -> dict:
    t = manifest.get("training") or {}
    return {"dir": display_path(model_dir), "sha256": manifest["sha256"], "steps": t.get("steps"),
            "durationS": t.get("durationS"), "seeds": t.get("seeds"), "data": t.get("data"),
            "validation": t.get("validation"), "base": t.get("base"),
            "validationMetrics": {k: manifest.get("metrics", {}).get(k) for k in ("channels", "validationImages")}}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--member", action="append", required=True, help="a member's model folder (repeatable)")
    ap.add_argument("--val", action="append", required=True, help="validation folder(s) for the pixel operating points")
    ap.add_argument("--out", required=True, help="models/<id>/<version>")
    ap.add_argument("--log", default=None, help="append the log here too")
    args = ap.parse_args(argv)
    torch.set_num_threads(THREADS)
    log = Logger(args.log)

    loaded = [load_member(d) for d in args.member]
    configs = {json.dumps(m.config, sort_keys=True) for m, _ in loaded}
    if len(configs) > 1:
        raise SystemExit(f"members differ in architecture: {sorted(configs)}")
    model = net.Ensemble([m for m, _ in loaded])
    model.eval()
    log(f"ensemble of {len(loaded)} members ({net.count_params(model):,} parameters)")

    # Members made at another working scale (train.py --working-mm-per-px) calibrate and export at theirs.
    scales = {(mj.get("training") or {}).get("workingMmPerPx", data.WORKING_MM_PER_PX_DEFAULT) for _, mj in loaded}
    if len(scales) > 1:
        raise SystemExit(f"members differ in working scale: {sorted(scales)} mm/px")
    data.WORKING_MM_PER_PX = scales.pop()
    samples, summary = load_dirs(args.val, None, log)
    t0 = time.time()
    # What validation cannot calibrate stays as the members have it (their base's, see calibrate's fallback).
    ops, metrics = calibrate(model, samples, log, loaded[0][1].get("operatingPoints"))
    ops.update(method=METHOD, calibratedOn=",".join(d["dir"] for d in summary))
    log(f"calibrated on {len(samples)} validation photos in {time.time() - t0:.1f}s")
    log("validation: " + json.dumps(metrics))

    records = [member_record(d, mj) for d, (_, mj) in zip(args.member, loaded)]
    first = loaded[0][1].get("training") or {}
    training = {
        # The model card lists training data: every member's, each a different K-1 folds of the same photos.
        "data": [d for r in records for d in (r["data"] or [])],
        "validation": summary,
        "seeds": {f"member{i + 1}.{k}": v for i, r in enumerate(records) for k, v in (r["seeds"] or {}).items()},
        "steps": first.get("steps"), "batch": first.get("batch"), "crop": first.get("crop"), "lr": first.get("lr"),
        "workingMmPerPx": data.WORKING_MM_PER_PX, **({"modelId": first["modelId"]} if first.get("modelId") else {}),
        "threads": THREADS, "durationS": round(sum(r["durationS"] or 0 for r in records), 1),
        "focusedShare": first.get("focusedShare"), "poiProb": first.get("poiProb"),
        "lossWeights": first.get("lossWeights"), "channelWeights": first.get("channelWeights"),
        "ensemble": {"members": records, "combine": "mean of the members' outputs (probabilities, stone heat, radius)"},
        **({"base": first["base"]} if first.get("base") else {}),
    }
    manifest = write_model_dir(model, args.out, ops, metrics, training, log)
    log(f"wrote {args.out}/model.json (sha256 {manifest['sha256']})")


if __name__ == "__main__":
    main()
