import type { Split } from '../manifest.schema.js';

/**
 * The split rule every importer uses, fixed so that everyone's test set is the same images: within one class folder,
 * sorted by file name in byte order, index i from 0 goes to test when i % 5 == 0, val when i % 5 == 1, else train.
 */
export function splitOfIndex(index: number): Split {
  const r = index % 5;
  return r === 0 ? 'test' : r === 1 ? 'val' : 'train';
}

/** Byte order of the UTF-8 names, not `localeCompare` (locale-dependent) nor JS's UTF-16 order (differs above BMP). */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** The names of one class folder that fall into `split`, in byte order. */
export function namesInSplit(names: readonly string[], split: Split): string[] {
  return [...names].sort(compareBytes).filter((_, i) => splitOfIndex(i) === split);
}
