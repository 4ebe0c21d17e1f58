import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PYTHON, torchSuite } from '../core/support/env.js';

// `train_verifier.py --init V --widen-to A B C` starts a wider verifier where a trained one stopped: its hard negatives
// are mined with the widened network, so it must score patches as the original did, and its copied channels must be
// free to learn apart.
const TRAINING = join(import.meta.dirname, '../../models/training');
const { hasTorch, skip: skipTorch, missing: TORCH_MISSING } = torchSuite();

const SCRIPT = `
import json, sys, torch
sys.path.insert(0, ${JSON.stringify(TRAINING)})
import verifier as V
torch.manual_seed(3)
m = V.PolishVerifier((8, 12, 16), kinds=5)
# Trained-looking batch norms: statistics and affine parameters away from their defaults.
for mod in m.modules():
    if isinstance(mod, torch.nn.BatchNorm2d):
        mod.running_mean.uniform_(-0.5, 0.5); mod.running_var.uniform_(0.5, 2.0)
        mod.weight.data.uniform_(0.5, 1.5); mod.bias.data.uniform_(-0.2, 0.2)
m.eval()
w = V.widen_stages(m, (12, 20, 24), seed=1)
w.eval()
x = torch.randn(6, 6, 64, 64)
with torch.no_grad():
    diff = float((m.forward_logits(x) - w.forward_logits(x)).abs().max())
first = w.body[0][0].weight
copies = [j for j in range(8, 12)]
# A copied channel has its original's filter; the next layer reads the two with different weights.
orig = [int(torch.nonzero((m.body[0][0].weight - first[j]).abs().sum((1, 2, 3)) == 0)[0]) for j in copies]
nxt = w.body[1][0].weight
apart = all(not torch.allclose(nxt[:, j], nxt[:, o]) for j, o in zip(copies, orig))
try:
    V.widen_stages(m, (4, 12, 16)); narrower = "accepted"
except ValueError:
    narrower = "refused"
print(json.dumps({"diff": diff, "widths": w.config["widths"], "apart": apart, "narrower": narrower,
                  "params": [sum(p.numel() for p in m.parameters()), sum(p.numel() for p in w.parameters())]}))
`;

describe('verifier.widen_stages', () => {
  it.skipIf(skipTorch)('scores patches as the narrower verifier did, with copied channels weighted apart downstream', () => {
    expect(hasTorch, TORCH_MISSING).toBe(true);
    const r = spawnSync(PYTHON, ['-c', SCRIPT], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.diff).toBeLessThan(1e-4);
    expect(out.widths).toEqual([12, 20, 24]);
    expect(out.apart).toBe(true);
    expect(out.narrower).toBe('refused');
    expect(out.params[1]).toBeGreaterThan(out.params[0]);
  });
});
