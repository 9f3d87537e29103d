/**
 * How the kernels split their work between threads: ranges of equal size, or of equal nonzeros.
 * Each range is computed as on one thread, so a split changes no bit of the result.
 */

/**
 * Boundaries splitting [0, count) into at most `parts` ranges of whole multiples of `align` (the
 * last range takes the remainder); fewer ranges when there are not enough aligned units.
 */
export function evenSplits(count: number, parts: number, align = 1): number[] {
  const units = Math.ceil(count / align);
  const n = Math.max(1, Math.min(parts, units));
  const bounds = [0];
  for (let i = 1; i < n; i++) bounds.push(Math.min(count, Math.max(bounds[i - 1] + align, Math.round(count * i / n / align) * align)));
  bounds.push(count);
  return bounds;
}

/**
 * Boundaries splitting the rows of a compressed-row matrix (`rowPtr`, length rows + 1) into at most
 * `parts` ranges of about equal nonzeros (the work of the pixel kernels), none empty.
 */
export function nonzeroSplits(rowPtr: Int32Array, parts: number): number[] {
  const rows = rowPtr.length - 1, total = rowPtr[rows];
  const bounds = [0];
  for (let i = 1, r = 0; i < parts; i++) {
    const target = total * i / parts;
    while (r < rows && rowPtr[r] < target) r++;
    if (r > bounds[bounds.length - 1] && r < rows) bounds.push(r);
  }
  bounds.push(rows);
  return bounds;
}
