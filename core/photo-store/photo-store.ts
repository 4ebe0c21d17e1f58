import { NotFoundError } from '../errors.js';

/**
 * Photos are stored under the sha256 of their bytes, so the same photo uploaded twice is stored once and a key can
 * never point at other bytes. A directory today; the production issue adds S3 behind the same interface (it would
 * keep staging on local disk and upload in `putStaged`).
 */
export interface PhotoStore {
  /** Where it stores, for logs and readiness output. */
  readonly location: string;
  /** A fresh local path to stream an upload into before its hash is known. */
  stagingPath(): Promise<string>;
  /** Makes a staged file (already hashed by the caller) readable under its key; the staged file is consumed. */
  putStaged(stagedPath: string, sha256: string): Promise<{ key: string; created: boolean }>;
  put(bytes: Uint8Array): Promise<{ key: string; created: boolean }>;
  get(key: string): Promise<Buffer>;
  exists(key: string): Promise<boolean>;
  delete(key: string): Promise<void>;
  /** Every stored key (tests, garbage collection). */
  keys(): AsyncIterable<string>;
  /** Removes staged files a crashed request left behind. */
  discardStaged(stagedPath: string): Promise<void>;
}

export const PHOTO_KEY_RE = /^[0-9a-f]{64}$/;

export class PhotoNotFoundError extends NotFoundError {
  constructor(key: string) {
    super(`photo ${key} is not in the photo store`, 'photo_not_found', { key });
  }
}

export function assertPhotoKey(key: string): void {
  // Keys become file names: anything but 64 hex digits is refused before it reaches the filesystem.
  if (!PHOTO_KEY_RE.test(key)) throw new PhotoNotFoundError(key.slice(0, 80));
}
