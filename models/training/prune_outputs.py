"""A version whose seg network computes only the outputs its pipeline reads: a base version's folder copied, with the
ONNX graph cut back to `--keep` outputs (onnx.utils.Extractor drops every node that fed only the others).

Why: when the verifier scores every kind, the pipeline never reads the evidence head (pipeline/inspect.ts
`unreadChannels`), but onnxruntime runs every node of the graph whatever outputs a run fetches; it does not prune
nodes that feed no graph output either. Cutting the evidence branch out of 1.16.0's graph took its seg pass from 226 to
163 ms on a 1744 x 1312 input, with the kept outputs equal to the last bit (session 18).

  python3 prune_outputs.py --base ../loupe-seg/1.16.0 --out ../loupe-seg/1.16.1 --keep seg stones

The weights (weights.pt) stay the full network's: a later fine-tune starts from them and exports every head again.
"""
from __future__ import annotations

import argparse
import json
import os

import onnx
from onnx.utils import Extractor

from export import copy_base_files, created_at, sha256_file


def unread_outputs(manifest: dict) -> set[str]:
    """Outputs the pipeline never reads for this manifest: those all of whose channels are the evidence of a kind the
    verifier scores (pipeline/inspect.ts `unreadChannels`)."""
    verifier = manifest.get("verifier")
    unread = {f"{k}_evidence" for k in verifier["kinds"]} if verifier else set()
    return {o["name"] for o in manifest["outputs"] if all(c in unread for c in o["channels"])}


def prune(base_dir: str, out_dir: str, keep: list[str]) -> dict:
    with open(os.path.join(base_dir, "model.json"), encoding="utf8") as fh:
        base = json.load(fh)
    names = [o["name"] for o in base["outputs"]]
    unknown = [k for k in keep if k not in names]
    if unknown:
        raise SystemExit(f"{base_dir}: no output named {', '.join(unknown)} (it has {', '.join(names)})")
    dropped = [n for n in names if n not in keep]
    unread = unread_outputs(base)
    read = [n for n in dropped if n not in unread]
    if read:
        raise SystemExit(f"{base_dir}: the pipeline reads {', '.join(read)} for this version; only outputs it never "
                         f"reads may go ({', '.join(sorted(unread)) or 'none here'})")
    copy_base_files(base_dir, out_dir)
    model = onnx.load(os.path.join(base_dir, base["file"]))
    cut = Extractor(model).extract_model([i.name for i in model.graph.input], keep)
    onnx.checker.check_model(cut)
    path = os.path.join(out_dir, base["file"])
    onnx.save(cut, path)
    version = os.path.basename(os.path.normpath(out_dir))
    manifest = {
        **base,
        "version": version,
        "createdAt": created_at(),
        "sha256": sha256_file(path),
        "sizeBytes": os.path.getsize(path),
        "outputs": [o for o in base["outputs"] if o["name"] in keep],
        "derivedFrom": {
            "version": base["version"],
            "change": f"seg network's graph cut back to the outputs {', '.join(keep)} "
                      f"(dropped {', '.join(dropped) or 'none'}: never read); every kept output and every other file "
                      "as the base's (models/training/prune_outputs.py)",
            "nodes": {"before": len(model.graph.node), "after": len(cut.graph.node)},
        },
    }
    with open(os.path.join(out_dir, "model.json"), "w", encoding="utf8") as fh:
        json.dump(manifest, fh, indent=2)
        fh.write("\n")
    return manifest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True, help="version folder to derive from")
    ap.add_argument("--out", required=True, help="new version folder (its name is the version)")
    ap.add_argument("--keep", nargs="+", required=True, help="outputs to keep")
    a = ap.parse_args()
    m = prune(a.base, a.out, a.keep)
    print(f"{a.out}: {m['derivedFrom']['nodes']['before']} -> {m['derivedFrom']['nodes']['after']} nodes, "
          f"outputs {', '.join(o['name'] for o in m['outputs'])}")


if __name__ == "__main__":
    main()
