/** The bin holding the median of `total` counts in `hist` (0 when empty). */
export function histogramMedian(hist: Uint32Array, total: number): number {
  let acc = 0;
  for (let v = 0; v < hist.length; v++) {
    acc += hist[v]!;
    if (acc * 2 >= total) return v;
  }
  return hist.length - 1;
}
