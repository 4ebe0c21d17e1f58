/**
 * The pipeline's typed errors. Each carries a stable `code` and the HTTP status the API maps it to, so the API's one
 * error handler needs no knowledge of sharp or onnxruntime messages, and workers can tell "retrying cannot help"
 * (`retryable: false`, e.g. a corrupt photo) from a transient failure.
 */

export const PIPELINE_ERRORS = {
  /** Not an image sharp can read (or an empty body). */
  unsupported_image: { status: 415, retryable: false },
  /** Declared dimensions exceed the profile's `decode.maxInputPixels`; refused from the header. */
  image_too_large: { status: 413, retryable: false },
  /** A known format whose pixel data is broken (e.g. a truncated JPEG). */
  corrupt_image: { status: 422, retryable: false },
  /** Smaller than `decode.minInputSide`: nothing can be measured on it. */
  image_too_small: { status: 422, retryable: false },
  /** Decoding took longer than `decode.timeoutSeconds`. */
  decode_timeout: { status: 422, retryable: false },
  /** A model folder whose files disagree with its `model.json` (hash, names, schema). */
  model_invalid: { status: 500, retryable: false },
  /** No loaded model provides an output the pipeline needs. */
  model_unavailable: { status: 503, retryable: true },
  /** A profiles file that does not validate. */
  profile_invalid: { status: 500, retryable: false },
  /** A profile name the profiles file does not define. */
  unknown_profile: { status: 400, retryable: false },
  /** Request metadata that does not validate (e.g. a negative mm-per-pixel). */
  invalid_metadata: { status: 400, retryable: false },
} as const;

export type PipelineErrorCode = keyof typeof PIPELINE_ERRORS;

export class PipelineError extends Error {
  readonly code: PipelineErrorCode;
  readonly httpStatus: number;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: PipelineErrorCode, message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PipelineError';
    this.code = code;
    this.httpStatus = PIPELINE_ERRORS[code].status;
    this.retryable = PIPELINE_ERRORS[code].retryable;
    this.details = details;
  }
}

export function isPipelineError(error: unknown, code?: PipelineErrorCode): error is PipelineError {
  return error instanceof PipelineError && (code === undefined || error.code === code);
}
