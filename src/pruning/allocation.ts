/**
 * Per-layer sparsities that meet a global target: Erdős–Rényi-Kernel (RigL's ERK) from the weight
 * shapes alone, or from measured sensitivity curves (the least summed loss increase). The results
 * are plain `{layer: sparsity}` maps, for `pruneOneShot` and for per-layer `pruneLowMagnitude`
 * schedules alike.
 */
import {util} from '@tensorflow/tfjs-core';

/** How `pruneOneShot` spreads a global sparsity over the layers. */
export type Allocation = 'uniform'|'erk'|'sensitivity';
/** The valid `Allocation` values, for runtime checks. */
export const VALID_ALLOCATIONS: readonly Allocation[] = ['uniform', 'erk', 'sensitivity'];

/** A layer's weight for allocation: its name and shape. */
export interface AllocationLayer {
  name: string;
  shape: number[];
}

/** A layer's measured curve: the metric at each sparsity (0 at sparsity 0 is implied). */
export interface SensitivityCurve {
  layer: string;
  /** Number of weights. */
  params: number;
  sparsities: number[];
  values: number[];
}

function checkTarget(target: number, op: string): void {
  if (typeof target !== 'number' || !(target >= 0 && target < 1)) {
    throw new Error(`Argument 'target' passed to '${op}' must be a number in [0, 1), but got ${String(target)}`);
  }
}

/**
 * ERK sparsities (Evci et al., RigL, 2020): layer l keeps a density proportional to
 * `Σ dims / Π dims` of its weight, scaled so the weights kept over all layers are `1 - target` of
 * the total; a layer whose density would exceed 1 stays dense and the rest are scaled again.
 * Small layers (first convolution, last Dense) end up denser than large ones.
 * ```js
 * erkSparsities([{name: 'conv', shape: [3, 3, 1, 12]}, {name: 'hidden', shape: [2028, 256]}], 0.9);
 * // {conv: 0, hidden: 0.9021...}
 * ```
 * @throws Error naming `target` or `layers` for a value out of range or an empty list.
 */
export function erkSparsities(layers: AllocationLayer[], target: number): Record<string, number> {
  const op = 'erkSparsities';
  checkTarget(target, op);
  if (!Array.isArray(layers) || layers.length === 0) {
    throw new Error(`Argument 'layers' passed to '${op}' must be a non-empty array of {name, shape}`);
  }
  const total = layers.reduce((a, l) => a + util.sizeFromShape(l.shape), 0);
  const raw = layers.map(l => l.shape.reduce((a, b) => a + b, 0) / util.sizeFromShape(l.shape));
  const dense = new Set<number>();
  for (;;) {
    // Solve eps · Σ_{sparse} raw_l n_l = (1 - target) · total - Σ_{dense} n_l.
    let keepSparse = (1 - target) * total, weighted = 0;
    layers.forEach((l, i) => {
      if (dense.has(i)) keepSparse -= util.sizeFromShape(l.shape);
      else weighted += raw[i] * util.sizeFromShape(l.shape);
    });
    const eps = weighted > 0 ? keepSparse / weighted : 0;
    const over = layers.findIndex((_, i) => !dense.has(i) && eps * raw[i] > 1);
    if (over < 0) {
      const result: Record<string, number> = {};
      layers.forEach((l, i) => (result[l.name] = dense.has(i) ? 0 : Math.min(Math.max(1 - eps * raw[i], 0), MAX_LAYER_SPARSITY)));
      return result;
    }
    // Densest first, as RigL does, then solve again.
    let worst = over;
    layers.forEach((_, i) => {
      if (!dense.has(i) && raw[i] > raw[worst]) worst = i;
    });
    dense.add(worst);
  }
}

/** The highest per-layer sparsity an allocation assigns: one weight in a thousand stays. */
export const MAX_LAYER_SPARSITY = 0.999;

/** The curve with (0, 0) prepended and its points sorted by sparsity. */
function points(curve: SensitivityCurve): Array<[number, number]> {
  const pts = curve.sparsities.map((s, i): [number, number] => [s, curve.values[i]]);
  if (!pts.some(([s]) => s === 0)) pts.push([0, 0]);
  return pts.sort((a, b) => a[0] - b[0]);
}

/**
 * Per-layer sparsities with the least summed metric increase, from one curve per layer measured
 * one layer at a time (`analyzeSensitivity(...).layers` fit as they are), meeting `target` over
 * all their weights. Greedy on
 * the lower convex hull of each curve: repeatedly move the layer whose next step costs the least
 * metric per weight pruned, to the grid point that minimises that cost; the last move stops
 * part-way (linear interpolation) so the target is met exactly. No layer goes past its curve's
 * highest measured sparsity.
 * @throws Error naming the argument when `target` cannot be reached with the measured sparsities,
 *     or a curve is malformed (lengths differ, values not finite, sparsities outside [0, 1)).
 */
export function sensitivitySparsities(curves: SensitivityCurve[], target: number): Record<string, number> {
  const op = 'sensitivitySparsities';
  checkTarget(target, op);
  if (!Array.isArray(curves) || curves.length === 0) {
    throw new Error(`Argument 'curves' passed to '${op}' must be a non-empty array of {layer, params, sparsities, values}`);
  }
  for (const c of curves) {
    if (c.sparsities.length !== c.values.length || c.sparsities.length === 0 ||
        !c.values.every(Number.isFinite) || !c.sparsities.every(s => s >= 0 && s < 1) || !(c.params > 0)) {
      throw new Error(`Argument 'curves' passed to '${op}': the curve of '${c.layer}' must have as many finite values ` +
          'as sparsities in [0, 1) and params > 0');
    }
  }
  const total = curves.reduce((a, c) => a + c.params, 0);
  const need = target * total;
  const pts = curves.map(points);
  const at = curves.map(() => 0);  // index into pts
  const reachable = curves.reduce((a, c, i) => a + c.params * pts[i][pts[i].length - 1][0], 0);
  if (reachable + 1e-9 < need) {
    throw new Error(`Argument 'target' passed to '${op}': ${target} cannot be reached: the highest measured ` +
        `sparsities prune ${(reachable / total).toFixed(4)} of the weights (measure higher sparsities)`);
  }
  let pruned = 0;
  const result: Record<string, number> = {};
  curves.forEach(c => (result[c.layer] = 0));
  while (pruned < need - 1e-9) {
    let best = -1, bestTo = -1, bestCost = Infinity;
    curves.forEach((c, i) => {
      const [s0, v0] = pts[i][at[i]];
      for (let j = at[i] + 1; j < pts[i].length; j++) {
        const [s1, v1] = pts[i][j];
        const cost = (v1 - v0) / (c.params * (s1 - s0));
        if (cost < bestCost) {
          bestCost = cost;
          best = i;
          bestTo = j;
        }
      }
    });
    const c = curves[best];
    const [s0] = pts[best][at[best]], [s1] = pts[best][bestTo];
    const gain = c.params * (s1 - s0);
    if (pruned + gain >= need) {
      result[c.layer] = s0 + (need - pruned) / c.params;
      break;
    }
    pruned += gain;
    at[best] = bestTo;
    result[c.layer] = s1;
  }
  return result;
}
