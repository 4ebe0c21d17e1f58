/**
 * Reads `models/training/train.py`'s progress lines,
 * `[16:37:07] step 140/2400 loss 1.2472 (bce … rad 0.364) lr 1.40e-03 1.25s/step ETA 47.2min`,
 * and draws them as a bar on a terminal (plain lines, one per tenth, elsewhere).
 */

export interface StepProgress {
  step: number;
  total: number;
  loss: number | null;
  secondsPerStep: number | null;
  etaMinutes: number | null;
}

const STEP_RE = /\bstep (\d+)\/(\d+)\b/;

export function parseStepLine(line: string): StepProgress | null {
  const m = STEP_RE.exec(line);
  if (!m) return null;
  const num = (re: RegExp) => {
    const x = re.exec(line);
    return x ? Number(x[1]) : null;
  };
  return {
    step: Number(m[1]),
    total: Number(m[2]),
    loss: num(/\bloss ([0-9.eE+-]+)/),
    secondsPerStep: num(/([0-9.]+)s\/step/),
    etaMinutes: num(/\bETA ([0-9.]+)min/),
  };
}

export class TrainProgressBar {
  private lastTenth = -1;
  private open = false;

  constructor(
    private readonly label: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {}

  update(p: StepProgress): void {
    const width = 28;
    const frac = p.total > 0 ? Math.min(1, p.step / p.total) : 1;
    const filled = Math.round(frac * width);
    const eta = p.etaMinutes === null ? '?' : p.etaMinutes < 1 ? `${Math.round(p.etaMinutes * 60)}s` : `${p.etaMinutes.toFixed(1)}min`;
    const line =
      `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] step ${p.step}/${p.total}` +
      `${p.loss === null ? '' : `  loss ${p.loss.toFixed(4)}`}${p.secondsPerStep === null ? '' : `  ${p.secondsPerStep.toFixed(2)}s/step`}  ETA ${eta}`;
    if (this.stream.isTTY) {
      this.stream.write(`\r${line}\x1b[K`);
      this.open = true;
      return;
    }
    const tenth = Math.floor(frac * 10);
    if (tenth !== this.lastTenth || p.step === p.total) {
      this.lastTenth = tenth;
      this.stream.write(line + '\n');
    }
  }

  /** Ends the bar's line before other output. */
  break(): void {
    if (this.open) this.stream.write('\n');
    this.open = false;
  }
}
