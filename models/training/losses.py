"""Losses for the two heads. Every term is masked by what the entry actually labels, so pixel-labelled synthetic
photos, clean photos and image-level real photos can share one batch."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from net import RADIUS_LOG_MAX, RADIUS_LOG_MIN, RADIUS_SCALE, image_logits

# Pores cover ~0.1 % of a crop: BCE alone settles on "never"; soft dice (per channel, pooled over the batch) keeps
# the positives' gradient alive and punishes false alarms on clean crops.
DICE_SMOOTH = 1.0
POS_WEIGHT = 10.0
MIL_TOPK = 16  # pixels; a 0.1 mm pore is ~50 px at 0.012 mm/px, so 16 px lie inside even the smallest real one


# Per-channel weights of the seg terms (porosity, scratch, haze, tool_mark, orange_peel). Scratches and tool marks
# are 1-3 px lines, a few hundred pixels per photo: with equal weights the first real run (1.0.0) learned porosity
# and drove both line channels to zero. Set per run with --channel-weights; 1.0 everywhere reproduces 1.0.0.
CHANNEL_WEIGHTS = [1.0, 1.0, 1.0, 1.0, 1.0]


def seg_loss(logits: torch.Tensor, target: torch.Tensor, known: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """BCE + soft dice per channel over samples whose channel is labelled. Returns (bce, dice)."""
    cw = torch.tensor(CHANNEL_WEIGHTS, dtype=logits.dtype)
    w = known[:, :, None, None]
    n = known.sum(0)  # per channel
    if n.sum() == 0:
        z = logits.sum() * 0
        return z, z
    # Positives weighted POS_WEIGHT x: at ~0.2 % positive pixels, unweighted BCE learns "never" first and slowly.
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none") * (1 + (POS_WEIGHT - 1) * target)
    bce = (bce * w).mean((2, 3)).sum(0) / n.clamp(min=1)
    p = torch.sigmoid(logits) * w
    t = target * w
    inter = (p * t).sum((0, 2, 3))
    dice = 1 - (2 * inter + DICE_SMOOTH) / (p.sum((0, 2, 3)) + t.sum((0, 2, 3)) + DICE_SMOOTH)
    has = (n > 0).float()
    # Dice only where the batch holds positives: on an empty channel it would demand p -> 1e-5 everywhere and
    # swamp the rare positive channels; BCE already covers the negatives.
    pos = (t.sum((0, 2, 3)) > 0).float()
    dice_mean = (dice * pos * cw).sum() / pos.sum() if pos.sum() > 0 else dice.sum() * 0
    return (bce * has * cw).sum() / has.sum(), dice_mean


def polish_family_loss(polish_logits: torch.Tensor, fam: torch.Tensor, fam_known: torch.Tensor) -> torch.Tensor:
    """Entries with a polish mask but no kinds: the most likely kind must explain the family mask."""
    if fam_known.sum() == 0:
        return polish_logits.sum() * 0
    m = polish_logits.max(1, keepdim=True).values
    bce = F.binary_cross_entropy_with_logits(m, fam, reduction="none").mean((1, 2, 3))
    return (bce * fam_known).sum() / fam_known.sum()


def mil_loss(porosity_logits: torch.Tensor, label: torch.Tensor, mil: torch.Tensor) -> torch.Tensor:
    """Multiple-instance loss for image-level labels: the top-k mean of the porosity map is the image's score."""
    if mil.sum() == 0:
        return porosity_logits.sum() * 0
    flat = porosity_logits.flatten(1)
    k = min(MIL_TOPK, flat.shape[1])
    score = flat.topk(k, dim=1).values.mean(1)
    bce = F.binary_cross_entropy_with_logits(score, label, reduction="none")
    return (bce * mil).sum() / mil.sum()


def evidence_loss(ev_logits: torch.Tensor, batch: dict) -> torch.Tensor:
    """Image-level BCE of the evidence map's max per channel against "is the kind in this crop", where known; a
    polish-family-only crop supervises the max over the polish kinds."""
    img = image_logits(ev_logits)
    known = batch["img_known"]
    bce = F.binary_cross_entropy_with_logits(img, batch["img_label"], reduction="none")
    terms = (bce * known).sum()
    n = known.sum()
    fam_known = batch["fam_known"]
    if fam_known.sum() > 0:
        fam = F.binary_cross_entropy_with_logits(img[:, 1:].max(1).values, batch["img_fam"], reduction="none")
        terms = terms + (fam * fam_known).sum()
        n = n + fam_known.sum()
    return terms / n.clamp(min=1)


def heat_focal_loss(logit: torch.Tensor, target: torch.Tensor, alpha: float = 2.0, beta: float = 4.0) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss (Zhou et al. 2019, "Objects as Points"), normalised by peak count."""
    pos = (target >= 0.999).float()
    logp = F.logsigmoid(logit)
    log1mp = F.logsigmoid(-logit)
    p = torch.sigmoid(logit)
    pos_term = pos * (1 - p) ** alpha * logp
    neg_term = (1 - pos) * (1 - target) ** beta * p ** alpha * log1mp
    return -(pos_term.sum() + neg_term.sum()) / pos.sum().clamp(min=1)


def radius_loss(raw: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """L1 on log(radius / RADIUS_SCALE), only near stone centres: relative error, bounded gradient."""
    if weight.sum() == 0:
        return raw.sum() * 0
    pred = raw.clamp(RADIUS_LOG_MIN, RADIUS_LOG_MAX)
    tgt = torch.log(target.clamp(min=0.5) / RADIUS_SCALE)
    return ((pred - tgt).abs() * weight).sum() / weight.sum()


# Chosen so that at initialisation the stone terms' gradient norms (heat ~14, radius ~19 unweighted on synth
# batches) do not drown the seg terms' (~0.5): in the shared encoder the largest term takes all of Adam's step.
WEIGHTS = {"bce": 1.0, "dice": 1.0, "fam": 1.0, "mil": 0.5, "heat": 0.05, "rad": 0.03, "ev": 0.3}


def total_loss(seg_logits: torch.Tensor, stone_logits: torch.Tensor, batch: dict,
               ev_logits: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    bce, dice = seg_loss(seg_logits, batch["seg"], batch["known"])
    parts = {
        "bce": bce,
        "dice": dice,
        "fam": polish_family_loss(seg_logits[:, 1:], batch["fam"], batch["fam_known"]),
        "mil": mil_loss(seg_logits[:, 0:1], batch["mil_label"], batch["mil"]),
        "heat": heat_focal_loss(stone_logits[:, 0:1], batch["heat"]),
        "rad": radius_loss(stone_logits[:, 1:2], batch["radius"], batch["radius_w"]),
        "ev": evidence_loss(ev_logits, batch) if ev_logits is not None else seg_logits.sum() * 0,
    }
    total = sum(WEIGHTS[k] * v for k, v in parts.items())
    return total, {k: float(v.detach()) for k, v in parts.items()}
