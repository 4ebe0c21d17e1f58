import { inspect, type InspectDeps } from './inspect.js';
import type { Profile } from './profile.schema.js';

/** A photo to warm the whole pipeline on, with what `inspect` needs to know about it. */
export interface WarmUpPhoto {
  bytes: Uint8Array;
  mmPerPx: number;
}

/**
 * Inspects `photos` once each, results discarded; resolves to the wall time in ms. The networks' warm-up
 * (`warmUpModel`) leaves the JavaScript around them cold: decoding, the piece mask, post-processing and the patch
 * building run unoptimised on a worker's first photos. Measured on one 12 MP photo after the networks' warm-up
 * (session 18): 1190 ms as a worker's first photo, 681 ms after one 1024 px sample, 396 ms after three. A photo
 * larger than any before it in the process also pays for growing its memory, hence the enlarged sample
 * (`workers/warm-up-photos.ts`).
 */
export async function warmUpPipeline(photos: readonly WarmUpPhoto[], profile: Profile, deps: InspectDeps): Promise<number> {
  const t0 = performance.now();
  for (const photo of photos) await inspect(photo.bytes, { mmPerPx: photo.mmPerPx, view: 'top' }, profile, deps);
  return performance.now() - t0;
}
