/**
 * The glibc allocator settings `cli/bin/tuned-node.sh` puts in the environment before node starts (glibc reads them
 * only then). Without them each 12 MP photo's large buffers are returned to the kernel and faulted back in:
 * 200-300 ms a photo on the machines measured (docs/benchmarks.md, session 18).
 */
export const MALLOC_TUNING_VARIABLES = ['MALLOC_TOP_PAD_', 'MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_'] as const;

/** Whether this process started with every setting present (an operator's own values count). */
export function mallocTuned(env: NodeJS.ProcessEnv = process.env): boolean {
  return MALLOC_TUNING_VARIABLES.every((name) => (env[name] ?? '') !== '');
}
