"""A new model version whose verifier is the mean of several trained verifiers, all behind the same seg network.

    /usr/bin/python3 models/training/verifier_ensemble.py --base models/loupe-seg/1.4.1 \
        --member models/loupe-seg/1.4.0 --member /tmp/loupe-seg/1.6.0 --out models/loupe-seg/1.7.0

The base gives the seg network (copied unchanged) and model.json (gates, `verifier.tta`); each member gives its
verifier.pt. Members must have been trained behind the base's seg network (a verifier learns that network's
candidates) with the same kinds, patch geometry and candidate rule. One ONNX graph averages the members'
probabilities, so the service runs it as any verifier. Set the gates again afterwards (`loupe calibrate-gates`).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import verifier as V  # noqa: E402
from data import display_path  # noqa: E402
from export import sha256_file, write_derived_version  # noqa: E402

# What every member must share with the base's verifier for their probabilities to mean the same thing.
SHARED = ("kinds", "patchPx", "contextFactor", "wideFactor", "candidates", "input", "output")


def read_manifest(model_dir: str) -> dict:
    with open(os.path.join(model_dir, "model.json"), encoding="utf8") as fh:
        return json.load(fh)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="version folder giving the seg network and model.json")
    ap.add_argument("--member", action="append", required=True, help="a version folder whose verifier joins (repeatable)")
    ap.add_argument("--out", required=True, help="new version folder, e.g. models/loupe-seg/1.7.0")
    args = ap.parse_args(argv)
    if len(args.member) < 2:
        raise SystemExit("an ensemble needs at least two --member folders")
    if os.path.exists(args.out):
        raise SystemExit(f"{args.out} exists")

    base = read_manifest(args.base)
    if not base.get("verifier"):
        raise SystemExit(f"--base {args.base} has no verifier to take the patch geometry and gates from")
    members, records = [], []
    for d in args.member:
        m = read_manifest(d)
        ver = m.get("verifier")
        if not ver:
            raise SystemExit(f"--member {d} has no verifier")
        seg_sha = (ver.get("training") or {}).get("segSha256")
        if seg_sha != base["sha256"]:
            raise SystemExit(f"--member {d}: its verifier was trained behind seg network {seg_sha}, the base's is {base['sha256']}")
        differ = [k for k in SHARED if ver.get(k) != base["verifier"].get(k)]
        if differ:
            raise SystemExit(f"--member {d}: verifier {', '.join(differ)} differ from the base's")
        ck = torch.load(os.path.join(d, ver["weights"]), map_location="cpu")
        if "members" in ck["config"]:
            raise SystemExit(f"--member {d} is itself an ensemble: list its members instead")
        net = V.build(ck["config"])
        net.load_state_dict(ck["model"])
        net.eval()
        members.append(net)
        records.append({"version": m["version"], "from": display_path(d), "sha256": ver["sha256"], "training": ver.get("training"),
                        "metrics": ver.get("metrics")})
    configs = {json.dumps(n.config, sort_keys=True) for n in members}
    if len(configs) > 1:
        raise SystemExit(f"members differ in architecture: {sorted(configs)}")

    model = V.VerifierEnsemble(members)
    model.eval()
    os.makedirs(args.out)
    for f in (base["file"], base.get("weights", "weights.pt")):
        shutil.copyfile(os.path.join(args.base, f), os.path.join(args.out, f))
    onnx_path = os.path.join(args.out, "verifier.onnx")
    V.export_onnx(model, onnx_path)
    torch.save({"config": model.config, "model": model.state_dict()}, os.path.join(args.out, "verifier.pt"))

    verifier = dict(base["verifier"])
    verifier.update({
        "sha256": sha256_file(onnx_path), "sizeBytes": os.path.getsize(onnx_path), "weights": "verifier.pt",
        "architecture": {"name": "PolishVerifierEnsemble", **model.config, "params": sum(p.numel() for p in model.parameters())},
        "training": {"ensemble": records, "combine": "mean of the members' probabilities"},
    })
    verifier.pop("metrics", None)  # each member's own validation figures are in training.ensemble
    write_derived_version(args.out, base, "verifier", verifier)
    print(f"wrote {args.out}: {len(members)} verifiers averaged (sha256 {verifier['sha256'][:12]}); set its gates next", flush=True)


if __name__ == "__main__":
    main()
