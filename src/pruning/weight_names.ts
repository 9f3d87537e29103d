/**
 * The two names tfmot gives a wrapped layer's own weights. Keras names a variable by the name scope
 * it is created in: a layer built before `prune_low_magnitude` wraps it keeps `dense/kernel`; a
 * layer the wrapper builds gets `prune_low_magnitude_dense/kernel` (a layer wrapped before its model
 * was built, and every wrapped model Keras reloads, so tfmot's models saved again carry that name,
 * and so do their stripped copies). Keras loads by position within a layer and never minds; tfjs
 * loads by name. So that both load, `LayersModel.loadWeights` matches a saved name with no target
 * to the target that differs from it only by that prefix.
 */
import {LayersModel} from '@tensorflow/tfjs-layers';
import type {NamedTensorMap} from '@tensorflow/tfjs-core';

const PREFIX = 'prune_low_magnitude_';

/** A name with the wrapper prefix removed from each of its scopes. */
function withoutWrapperScopes(name: string): string {
  return name.split('/').map(scope => scope.startsWith(PREFIX) ? scope.slice(PREFIX.length) : scope).join('/');
}

/** tfjs's own fallback: `layer/cell/weight` (TF 2.2's RNN cell scope) read as `layer/weight`. */
function withoutCellScope(name: string): string {
  const tokens = name.split('/');
  return tokens.slice(0, -2).concat(tokens[tokens.length - 1]).join('/');
}

/**
 * For each saved name that matches no target (exactly, or by tfjs's cell-scope rule), the one
 * target it equals up to `prune_low_magnitude_` scopes, if there is exactly one and no saved name
 * claims it already.
 * @param targets the model's weight names (`LayerVariable.originalName`).
 * @param saved the names of the weights being loaded.
 * @returns saved name -> target name, for the names to rename only.
 */
export function wrappedWeightRenames(targets: readonly string[], saved: readonly string[]): Map<string, string> {
  const exact = new Set(targets);
  const byBareName = new Map<string, string|null>();  // null: two targets share the bare name
  for (const t of targets) {
    const bare = withoutWrapperScopes(t);
    byBareName.set(bare, byBareName.has(bare) ? null : t);
  }
  const claimed = new Set(saved.filter(name => exact.has(name)));
  const renames = new Map<string, string>();
  for (const name of saved) {
    if (exact.has(name) || exact.has(withoutCellScope(name))) continue;
    const target = byBareName.get(withoutWrapperScopes(name)) ?? byBareName.get(withoutWrapperScopes(withoutCellScope(name)));
    if (target == null || claimed.has(target)) continue;
    claimed.add(target);
    renames.set(name, target);
  }
  return renames;
}

type LoadWeights = (this: LayersModel, weights: NamedTensorMap, strict?: boolean) => void;
const PATCHED = Symbol.for('tfjs-sparsity.wrappedWeightNames');

/**
 * Makes `LayersModel.loadWeights` (which `tf.loadLayersModel` calls) accept both of tfmot's names
 * for wrapped layers' weights. Idempotent: a second copy of the library in the process (its ESM and
 * CJS builds) does not wrap it twice.
 */
export function acceptWrappedWeightNames(): void {
  const proto = LayersModel.prototype as unknown as {loadWeights: LoadWeights & {[PATCHED]?: true}};
  if (proto.loadWeights[PATCHED]) return;
  const loadWeights = proto.loadWeights;
  const patched: LoadWeights & {[PATCHED]?: true} = function(this: LayersModel, weights, strict) {
    const targets = this.layers.flatMap(layer => layer.weights.map(w => w.originalName));
    const renames = wrappedWeightRenames(targets, Object.keys(weights));
    if (renames.size === 0) return loadWeights.call(this, weights, strict);
    const renamed: NamedTensorMap = {};
    for (const [name, value] of Object.entries(weights)) renamed[renames.get(name) ?? name] = value;
    return loadWeights.call(this, renamed, strict);
  };
  patched[PATCHED] = true;
  proto.loadWeights = patched;
}
