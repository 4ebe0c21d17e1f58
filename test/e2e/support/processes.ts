import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const LOUPE = fileURLToPath(new URL('../../../cli/bin/loupe.js', import.meta.url));

export interface WorkerChild {
  proc: ChildProcess;
  /** Everything it logged so far (JSON lines). */
  logs(): string;
  waitForLog(re: RegExp, timeoutMs?: number): Promise<void>;
  kill(signal: NodeJS.Signals): Promise<number | null>;
}

/** `loupe worker` as a real child process, resolved once it logs "worker ready". */
export async function spawnWorker(env: Record<string, string>, readyTimeoutMs = 60_000): Promise<WorkerChild> {
  const proc = spawn(process.execPath, [LOUPE, 'worker'], {
    env: { ...process.env, ...env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const waiters: Array<() => void> = [];
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const w of waiters.splice(0)) w();
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const child: WorkerChild = {
    proc,
    logs: () => out,
    waitForLog(re, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`worker did not log ${re} within ${timeoutMs} ms:\n${out.slice(-3000)}`)), timeoutMs);
        const check = () => {
          if (re.test(out)) {
            clearTimeout(timer);
            resolve();
          } else if (proc.exitCode !== null) {
            clearTimeout(timer);
            reject(new Error(`worker exited (${proc.exitCode}) before logging ${re}:\n${out.slice(-3000)}`));
          } else waiters.push(check);
        };
        proc.once('exit', check);
        check();
      });
    },
    kill(signal) {
      return new Promise((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve(proc.exitCode);
        proc.once('exit', (code) => resolve(code));
        proc.kill(signal);
      });
    },
  };
  try {
    await child.waitForLog(/"msg":"worker ready"/, readyTimeoutMs);
  } catch (err) {
    // Never leave a half-started worker behind: it would keep polling Redis after the test is gone.
    await child.kill('SIGKILL');
    throw err;
  }
  return child;
}
