"""Checkpoint -> models/<id>/<version>/{model.onnx, model.json, MODEL_CARD.md}.

model.json must parse with pipeline/model-manifest.schema.ts (ModelManifestSchema); this file is the only writer.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import time
import warnings

import onnx
import torch

import net
import data
from data import MEAN, STD, display_path

MODEL_ID = "loupe-seg"
OPSET = 17
# A 12 MP photo is 1.3-3 MP at the working scale, so a 2048 tile takes most photos in one pass: no seams, and no
# compute spent twice on overlaps (1024 tiles would process ~6 MP for a 3 MP image). 128 px of overlap (64 discarded
# per side) keeps the zero-padding effects of the 1/16-scale dilated convolutions out of the kept centre.
TILE = {"size": 2048, "overlap": 128}
SIZE_LIMIT = 20 * 1024 * 1024
WEIGHTS_FILE = "weights.pt"


def export_onnx(model: torch.nn.Module, path: str, sample_hw: tuple[int, int] = (64, 96)) -> None:
    model.eval()
    x = torch.zeros(1, 3, *sample_hw)
    dyn = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        # torch 1.13 warns about prim::Constant shape inference on every export; the checker below is the real test.
        warnings.simplefilter("ignore", UserWarning)
        torch.onnx.export(model, x, path, opset_version=OPSET, input_names=["image"], output_names=["seg", "stones", "evidence"],
                          dynamic_axes={"image": dyn, "seg": dyn, "stones": dyn, "evidence": dyn}, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path))


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def created_at() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


# Operating points fitted to a version's own scores by `loupe calibrate-gates` (--polish-calibration, --downsampled):
# a new network changes those scores, so a derived version goes without them until calibrate-gates is run on it (the
# pipeline then takes the raw kinds' maximum and the main gates, which calibrate-gates re-sets as well).
SCORE_FITTED_OPS = ("polishCalibration", "downsampledGates")


def copy_base_files(base_dir: str, out_dir: str) -> None:
    """Every file of `base_dir`'s version but its model.json and card, into `out_dir`: a derived version carries all of
    its base's networks (seg, verifier, stone refiner), and the trainer then overwrites the one part it made."""
    os.makedirs(out_dir, exist_ok=True)
    for f in os.listdir(base_dir):
        if os.path.isfile(os.path.join(base_dir, f)) and f != "model.json" and not f.endswith(".md"):
            shutil.copyfile(os.path.join(base_dir, f), os.path.join(out_dir, f))


def write_derived_version(out_dir: str, base: dict, part: str, block: dict) -> dict:
    """model.json of a version that carries `base`'s model with one part set (`verifier`, `stoneRefiner`): its version
    is the folder's name, created now. Returns the manifest written."""
    ops = {k: v for k, v in base["operatingPoints"].items() if k not in SCORE_FITTED_OPS}
    manifest = {**base, "version": os.path.basename(os.path.normpath(out_dir)), "createdAt": created_at(),
                "operatingPoints": ops, part: block}
    with open(os.path.join(out_dir, "model.json"), "w", encoding="utf8") as fh:
        json.dump(manifest, fh, indent=2)
        fh.write("\n")
    return manifest


def outputs_spec() -> list[dict]:
    return [
        {"name": "seg", "channels": list(net.SEG_CHANNELS), "activation": "sigmoid", "stride": 1,
         "meaning": "per-pixel probability of each defect class at the input's (working-scale) resolution: porosity, "
                    "then the polish kinds"},
        {"name": "stones", "channels": list(net.STONE_CHANNELS), "activation": "mixed", "stride": 1,
         "meaning": "channel 0 stone_heat: sigmoid centre heat-map, Gaussian peaks (sigma = max(1.5, r/4) px) at stone "
                    "centres; channel 1 stone_radius: linear, non-negative stone radius in input (working-scale) "
                    "pixels, meaningful only near a heat peak"},
        {"name": "evidence", "channels": list(net.EVIDENCE_CHANNELS), "activation": "sigmoid", "stride": 1,
         "meaning": "per seg channel, image-level evidence (trained on 'is this kind anywhere in the crop', computed at "
                    "1/4 scale, 3x3-smoothed, bilinearly upsampled): its maximum over the piece is the kind's image "
                    "score, compared with operatingPoints imageThreshold"},
    ]


def write_model_dir(model: torch.nn.Module, out_dir: str, operating_points: dict, metrics: dict, training: dict,
                    log=print) -> dict:
    os.makedirs(out_dir, exist_ok=True)
    onnx_path = os.path.join(out_dir, "model.onnx")
    t0 = time.time()
    export_onnx(model, onnx_path)
    size = os.path.getsize(onnx_path)
    if size > SIZE_LIMIT:
        raise RuntimeError(f"{onnx_path} is {size} bytes, over the 20 MB limit")
    version = os.path.basename(os.path.normpath(out_dir))
    manifest = {
        "schemaVersion": 1,
        "id": training.get("modelId", MODEL_ID),
        "version": version,
        "createdAt": created_at(),
        "file": "model.onnx",
        "sha256": sha256_file(onnx_path),
        "sizeBytes": size,
        "opset": OPSET,
        "input": {
            "name": "image",
            "shape": [-1, 3, -1, -1],
            "layout": "NCHW",
            "colorSpace": "srgb",
            "normalisation": {"scale": 255, "mean": list(MEAN), "std": list(STD)},
            "sizeMultiple": net.SIZE_MULTIPLE,
            "tile": TILE,
            "workingMmPerPx": training.get("workingMmPerPx", data.WORKING_MM_PER_PX),
        },
        "outputs": outputs_spec(),
        "classes": {"porosity": ["porosity"], "polish": list(net.POLISH_KINDS), "stones": ["stone"]},
        "operatingPoints": operating_points,
        "training": training,
        "metrics": metrics,
        "architecture": {"name": "LoupeSeg" if isinstance(model, net.LoupeSeg) else "LoupeSegEnsemble", **model.config,
                         "params": net.count_params(model)},
    }
    # The PyTorch weights travel with the ONNX file: runs/ is not committed, and fine-tuning (`train.py --base
    # models/loupe-seg/<v>`) and the eager-PyTorch benchmark must work from a fresh clone.
    torch.save({"config": model.config, "model": model.state_dict()}, os.path.join(out_dir, WEIGHTS_FILE))
    manifest["weights"] = WEIGHTS_FILE
    with open(os.path.join(out_dir, "model.json"), "w", encoding="utf8") as fh:
        json.dump(manifest, fh, indent=2)
        fh.write("\n")
    with open(os.path.join(out_dir, "MODEL_CARD.md"), "w", encoding="utf8") as fh:
        fh.write(model_card(manifest))
    log(f"  exported {onnx_path} ({size / 1e6:.2f} MB, sha256 {manifest['sha256'][:12]}) in {time.time() - t0:.1f}s")
    return manifest


def _fmt(v) -> str:
    return "n/a" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))


def model_card(m: dict) -> str:
    t = m["training"]
    ops = m["operatingPoints"]
    ch = m["metrics"].get("channels", {})
    rows = "\n".join(
        f"| {name} | {_fmt(v.get('imageAuroc'))} | {_fmt(v.get('imageAp'))} | {_fmt(v.get('regionF1'))} | "
        f"{_fmt(v.get('regionPrecision'))} | {_fmt(v.get('regionRecall'))} | {v.get('imagePositives')}/"
        f"{v.get('imageNegatives')} |" for name, v in ch.items())
    op_rows = "\n".join(
        f"| {name} | {o['pixelThreshold']} | {o['minAreaPx']} | {o['imageThreshold']:.4f} |"
        for name, o in [("porosity", ops.get("porosity"))] + list((ops.get("polish") or {}).items()) if o)
    st = m["metrics"].get("stones", {})
    data_rows = "\n".join(f"- `{d.get('dir')}`: {d.get('count')} photos, source `{d.get('source')}`, seeds "
                          f"{d.get('seeds')}" for d in t.get("data", []))
    arch = m.get("architecture", {})
    if "members" in arch:
        ens = (t.get("ensemble") or {}).get("members") or []
        member_rows = "\n".join(f"| {i + 1} | `{e.get('dir')}` | {e.get('sha256', '')[:12]} | {e.get('steps')} | "
                                 f"{', '.join(str(d.get('count')) for d in e.get('data') or [])} |"
                                 for i, e in enumerate(ens))
        ensemble_note = f"""
**Ensemble of {arch['members']} members** (`loupe train --folds {arch['members']}`): the ONNX graph runs
{arch['members']} copies of the network below, each fine-tuned without one fold of the training photos, and averages
their outputs, so inference costs {arch['members']} passes. The image gates were set on out-of-fold scores (each
photo scored by the member that never saw it), not on the validation photos.

| member | model folder (run) | sha256 | steps | training photos |
|---|---|---|---|---|
{member_rows}
"""
        arch = {**arch, **arch.get("member", {}), "params": arch.get("params", 0) // arch["members"]}
    else:
        ensemble_note = ""
    return f"""# {m['id']} {m['version']}

Generated by `models/training/export.py` on {m['createdAt']}. Numbers below are this run's validation figures; the
TypeScript eval (`npx loupe eval`) adds test-set figures.

## Intended use
Final-QC screening of fine-jewelry photos on a fixed inspection station: per-pixel porosity, per-pixel polish defects
by kind (scratch, haze, tool mark, orange peel) and stone centres/radii from which the pipeline measures stone
spacing in mm. It flags pieces for a human; it is not a replacement for the final inspector's sign-off.

## Architecture
{ensemble_note}
One multi-head fully-convolutional network (`LoupeSeg`, {arch.get('params', 0):,} parameters, widths
{arch.get('widths')}, full-resolution branch {arch.get('full')} channels): a stride-2 stem, a 4-level encoder down to
1/16 with dilated convolutions at the bottom (receptive field wide enough for a whole stone), an additive-skip
decoder back to 1/2, and an 8-channel full-resolution branch summed with the decoder so 3-px pores and hairline
scratches keep their edges. Outputs at stride 1: `seg` (5 sigmoid channels), `stones` (sigmoid centre heat +
linear radius in px) and `evidence` (5 sigmoid channels: per kind, image-level evidence computed at 1/4 scale from the
decoder and the max-pooled seg logits, trained on "is this kind anywhere in the crop"; its maximum over the piece is
the kind's image score, so a photo's score does not saturate on one bright pixel as a max over `seg` does). BatchNorm is folded into the convolutions at export; ONNX opset {m['opset']}, dynamic N/H/W,
H and W multiples of {m['input']['sizeMultiple']}.

Why one model and not three: the encoder is most of the cost and all three families need the same low-level evidence
(specular highlights, pits, edges, texture). One shared encoder is one pass over the pixels, which is what keeps a
12 MP photo (1.3-3 MP at the working scale) within the one-second budget on two cores; three models would triple it.

## Input
sRGB RGB, NCHW float32, `x/{m['input']['normalisation']['scale']}` then `(x - mean) / std` with mean
{m['input']['normalisation']['mean']}, std {m['input']['normalisation']['std']}. Photos are downsampled (never
upsampled) to {m['input']['workingMmPerPx']} mm/px; photos without a scale are used at native resolution. Training
adds ±25 % scale jitter, so the model has seen ~0.0095-0.03 mm/px. Tile {m['input']['tile']}.

## Training
- Data:
{data_rows}
- Steps {t.get('steps')}, batch {t.get('batch')}, crop {t.get('crop')} px, AdamW lr {t.get('lr')} (cosine, warm-up),
  seeds {t.get('seeds')}, duration {t.get('durationS')} s on {t.get('threads')} CPU threads.
- Crops: {t.get('focusedShare', 0):.0%} focused (a kind drawn uniformly among porosity, each polish kind, polish family
  and stones, then a photo holding it, the crop centred on it); of the rest, {t.get('poiProb', 0.5):.0%} centred near a
  defect or stone and the others uniform; flips, 90° rotations,
  brightness/contrast/gamma/white-balance jitter, grayscale 20 %, blur 20 %, noise 30 %, JPEG 20 %, scale jitter ±25 %.
- Losses: BCE + soft dice per seg channel (masked to what each photo labels), polish family mask against the max over
  kinds where kinds are not labelled, top-{16}-mean multiple-instance BCE for image-level porosity labels, CenterNet
  focal loss on the stone heat-map, L1 on the radius within ~1 sigma of each centre, BCE of the evidence map's max per
  kind against the kind's presence in the crop. Loss weights {t.get('lossWeights')}, seg channel weights
  {t.get('channelWeights')}.

## Operating points (calibrated on `{ops.get('calibratedOn')}`, never trained on)
{ops.get('method')}.

| channel | pixelThreshold | minAreaPx | imageThreshold |
|---|---|---|---|
{op_rows}

Stones: peakThreshold {ops.get('stones', {}).get('peakThreshold')}, nmsRadiusFactor
{ops.get('stones', {}).get('nmsRadiusFactor')}.

## Validation metrics ({m['metrics'].get('validationImages')} photos)
| channel | image AUROC | image AP | region F1 | region P | region R | pos/neg images |
|---|---|---|---|---|---|---|
{rows}

Pixel AUROC: porosity {_fmt(m['metrics'].get('pixelAuroc_porosity'))}, polish
{_fmt(m['metrics'].get('pixelAuroc_polish'))}. Stones: F1 {_fmt(st.get('f1'))}, precision {_fmt(st.get('precision'))},
recall {_fmt(st.get('recall'))}, radius MAE {_fmt(st.get('radiusMaePx'))} px over {st.get('trueStones')} stones.

## Limitations and what it was not tested on
- Trained on the project's synthetic generator (plus any real folders listed above); accuracy on real jewelry photos
  is unmeasured until real labelled photos exist. Validation figures are in-distribution.
- Pores below ~3 working pixels (~0.04 mm at 0.012 mm/px) are at the resolution limit.
- Not tested on: pieces other than the generator's ring bands, ring shanks and pendants; coloured stones; video frames;
  photos coarser than 0.03 mm/px; mirror-polished surfaces reflecting patterned surroundings.
- The radius channel is only meaningful near a heat peak; read it at the peak.
- Image thresholds calibrated where validation had both positive and negative photos; a channel marked
  `imageThresholdCalibrated: false` in model.json fell back to its pixel threshold.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description="Export a training checkpoint to a model folder (ONNX + model.json).")
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--val", action="append", required=True, help="validation folder(s) for calibration")
    ap.add_argument("--out", required=True, help="models/loupe-seg/<version>")
    args = ap.parse_args()
    from calibrate import METHOD, calibrate
    from data import load_dirs

    torch.set_num_threads(2)
    ck = torch.load(args.checkpoint, map_location="cpu")
    # Calibrate at the scale the run trained at.
    data.WORKING_MM_PER_PX = (ck.get("training") or {}).get("workingMmPerPx", data.WORKING_MM_PER_PX)
    model = net.build(ck["config"])
    # A run trained with --ema exports its weight average, as train.py itself would have.
    net.load_weights(model, ck["ema"]["shadow"] if ck.get("ema") else ck["model"])
    samples, summary = load_dirs(args.val)
    ops, metrics = calibrate(model, samples)
    ops.update(method=METHOD, calibratedOn=",".join(d["dir"] for d in summary))
    training = dict(ck.get("training") or {})
    training.setdefault("data", [])
    training.setdefault("seeds", {})
    training["checkpoint"] = display_path(args.checkpoint)
    write_model_dir(model, args.out, ops, metrics, training)


if __name__ == "__main__":
    main()
