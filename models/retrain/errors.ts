/**
 * A refusal the user can act on (bad input folder, unknown model, failed training): the CLI prints `message` and the
 * `details` lines (e.g. `manifest.jsonl:3: …`) and exits 1, without a stack trace.
 */
export class RetrainError extends Error {
  constructor(
    message: string,
    readonly details: readonly string[] = [],
  ) {
    super(message);
    this.name = 'RetrainError';
  }
}
