"""The `loupe-seg` network: one shared encoder, two heads (`seg`, `stones`), all at the input's resolution.

One multi-head model rather than one per family because the encoder is most of the cost and every family needs the
same low-level evidence (specular edges, pits, texture); one pass over a 1.3-3 MP working-scale photo is what keeps
a 12 MP inspection under a second on two cores.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

SEG_CHANNELS = ["porosity", "scratch", "haze", "tool_mark", "orange_peel"]
STONE_CHANNELS = ["stone_heat", "stone_radius"]
# Image-evidence channels: one per seg channel. Their spatial max over the piece is the channel's image score. A
# separate head, trained on "is this kind anywhere in the crop", because the max of a pixel map saturates near 1 on
# any strong pixel (1.0.0's porosity image threshold sat at 0.92 and real impeller photos tied at 1.0), while
# evidence pooled at 1/4 scale over a wide receptive field ranks photos.
EVIDENCE_CHANNELS = [f"{c}_evidence" for c in SEG_CHANNELS]
POLISH_KINDS = SEG_CHANNELS[1:]
# Encoder stride: H and W fed to the network must be multiples of this.
SIZE_MULTIPLE = 16
# The radius head regresses log(radius / RADIUS_SCALE): a scale-free target whose L1 gradient does not grow with the
# stone (a linear px target for 50-px stones out-pulled every seg loss in the shared encoder).
RADIUS_SCALE = 32.0
RADIUS_LOG_MIN, RADIUS_LOG_MAX = -6.0, 4.0


def cbr(cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    pad = dilation * (k // 2)
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride=stride, padding=pad, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class Up(nn.Module):
    """Additive skip (1x1 projection of the coarse path, nearest upsample, sum, 3x3 conv): concatenation doubles the
    decoder's MACs for little gain at these widths."""

    def __init__(self, cin: int, cskip: int):
        super().__init__()
        self.proj = nn.Sequential(nn.Conv2d(cin, cskip, 1, bias=False), nn.BatchNorm2d(cskip))
        self.conv = cbr(cskip, cskip)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(self.proj(x), size=skip.shape[-2:], mode="nearest")
        return self.conv(F.relu(x + skip))


class LoupeSeg(nn.Module):
    def __init__(self, widths: tuple[int, int, int, int] = (16, 32, 64, 96), full: int = 8):
        super().__init__()
        w0, w1, w2, w3 = widths
        self.config = {"widths": list(widths), "full": full}
        # Full-resolution branch: cheap (one 3x3 conv, 8 channels) but it is what keeps 3-px pores and hairline
        # scratches sharp after the stride-2 stem.
        self.full = cbr(3, full)
        # A single stride-2 conv as stem: a second conv at 1/2 scale costs ~0.8 GMAC per 1.4 MP for little gain.
        self.stem = cbr(3, w0, stride=2)
        self.enc1 = nn.Sequential(cbr(w0, w1, stride=2), cbr(w1, w1))
        self.enc2 = nn.Sequential(cbr(w1, w2, stride=2), cbr(w2, w2))
        # Dilated convs at 1/16 widen the receptive field (~300 px) so a stone's centre sees its whole girdle.
        self.enc3 = nn.Sequential(cbr(w2, w3, stride=2), cbr(w3, w3), cbr(w3, w3, dilation=2), cbr(w3, w3, dilation=4))
        self.up2 = Up(w3, w2)
        self.up1 = Up(w2, w1)
        self.up0 = Up(w1, w0)
        self.to_full = nn.Sequential(nn.Conv2d(w0, full, 1, bias=False), nn.BatchNorm2d(full))
        # The seg head reads the 8-channel full-resolution sum directly: every extra full-res layer costs ~40 ms at
        # 1.4 MP. Stones (20-150 px radius) need no full-res detail, so their head reads the 1/2-scale decoder and is
        # upsampled bilinearly; sharing the 8 full-res channels with the stone head starved the seg head in training.
        self.seg_head = nn.Conv2d(full, len(SEG_CHANNELS), 1)
        self.stone_head = nn.Sequential(cbr(w0, w0), nn.Conv2d(w0, 2, 1))
        # Evidence head at 1/4 scale: the decoder's features plus the seg logits max-pooled to that scale, so a 3-px
        # pore the seg head sees is not lost before pooling.
        c = len(SEG_CHANNELS)
        self.evidence_head = nn.Sequential(cbr(w1 + c, w1), nn.Conv2d(w1, c, 1))
        # Focal-style prior: start with rare positives so early losses are not dominated by the background.
        nn.init.constant_(self.seg_head.bias, -4.6)
        with torch.no_grad():
            self.stone_head[-1].bias.copy_(torch.tensor([-4.6, 0.0]))
        nn.init.constant_(self.evidence_head[-1].bias, -2.0)

    def forward_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(seg logits at stride 1, stone logits at stride 1, evidence logits at stride 4, smoothed 3x3)."""
        f = self.full(x)
        s0 = self.stem(x)
        s1 = self.enc1(s0)
        s2 = self.enc2(s1)
        s3 = self.enc3(s2)
        d2 = self.up2(s3, s2)
        d1 = self.up1(d2, s1)
        d0 = self.up0(d1, s0)
        u = F.interpolate(self.to_full(d0), size=f.shape[-2:], mode="nearest")
        h = F.relu(u + f)
        st = F.interpolate(self.stone_head(d0), size=f.shape[-2:], mode="bilinear", align_corners=False)
        seg = self.seg_head(h)
        pooled = F.max_pool2d(seg, 4, 4)
        ev = self.evidence_head(torch.cat([d1, pooled], 1))
        # 3x3 mean before any max: one noisy cell must not decide a photo.
        ev = F.avg_pool2d(ev, 3, 1, 1, count_include_pad=False)
        return seg, st, ev

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        seg_logits, st, ev = self.forward_logits(x)
        heat = torch.sigmoid(st[:, 0:1])
        radius = torch.exp(st[:, 1:2].clamp(RADIUS_LOG_MIN, RADIUS_LOG_MAX)) * RADIUS_SCALE
        evidence = torch.sigmoid(F.interpolate(ev, size=x.shape[-2:], mode="bilinear", align_corners=False))
        return torch.sigmoid(seg_logits), torch.cat([heat, radius], dim=1), evidence


def image_logits(ev: torch.Tensor) -> torch.Tensor:
    """N x C image logits from the evidence map: its spatial max (what the pipeline takes over the piece)."""
    return ev.flatten(2).max(2).values


class Ensemble(nn.Module):
    """Members of one architecture run on the same input, outputs averaged (probabilities, stone heat and radius).
    What `loupe train --folds K` exports: K fine-tunes, each trained without one fold of the photos, so each photo
    has a score from a member that never saw it to set the gates on, and the station gets the average of all K,
    whose ranking varies less with the few hundred photos a workshop has than any one member's."""

    def __init__(self, members: list[LoupeSeg]):
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)
        self.config = {"members": len(members), "member": dict(members[0].config)}

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        outs = [m(x) for m in self.members]
        return tuple(torch.stack(parts).mean(0) for parts in zip(*outs))  # type: ignore[return-value]


def build(config: dict | None = None) -> LoupeSeg | Ensemble:
    config = config or {}
    if "members" in config:
        return Ensemble([build(config["member"]) for _ in range(int(config["members"]))])  # type: ignore[misc]
    return LoupeSeg(widths=tuple(config.get("widths", (16, 32, 64, 96))), full=int(config.get("full", 8)))


def member_average(config: dict, state: dict) -> tuple[dict, dict]:
    """An ensemble checkpoint as one network to fine-tune from: the mean of its members' weights and batch-norm
    statistics. Sound here because every member was fine-tuned from the same base for the same steps (a "model soup");
    it is a starting point for further training, never exported as is."""
    n = int(config["members"])
    out: dict = {}
    for key in (k[len("members.0."):] for k in state if k.startswith("members.0.")):
        parts = [state[f"members.{i}.{key}"] for i in range(n)]
        out[key] = torch.stack(parts).float().mean(0).to(parts[0].dtype) if parts[0].dtype.is_floating_point else parts[0]
    return dict(config["member"]), out


def load_weights(model: LoupeSeg, state: dict) -> list[str]:
    """Loads a checkpoint's weights; a pre-1.1 checkpoint (no evidence head) loads with that head left initialised.
    Returns the keys left initialised so the caller can say so."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    bad = [k for k in missing if not k.startswith("evidence_head.")] + list(unexpected)
    if bad:
        raise ValueError(f"checkpoint does not fit LoupeSeg: {bad[:5]}")
    return list(missing)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
