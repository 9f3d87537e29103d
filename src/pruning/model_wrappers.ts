/**
 * A model's pruning wrappers as a whole: finding them (nested models included, wrappers of another
 * copy of this library too), linking the globally pruned ones into one group, and the saved topology
 * Keras under tfmot's `prune_scope` can load.
 */
import {layers, LayersModel} from '@tensorflow/tfjs-layers';
import {GlobalPruningGroup, Pruning} from './pruning';
import {PruneLowMagnitude} from './wrapper';

/**
 * True for a `PruneLowMagnitude`, also one made by another copy of this library (two bundled copies,
 * or a module loaded twice): the class registered for deserialization is the last copy loaded, so
 * a loaded model's wrappers may not be `instanceof` this module's class.
 */
export function isPruneLowMagnitude(layer: unknown): layer is PruneLowMagnitude {
  return layer instanceof PruneLowMagnitude ||
      (layer instanceof layers.Layer && layer.getClassName() === PruneLowMagnitude.className);
}

/**
 * Every `PruneLowMagnitude` in `model`, descending into nested models (tfmot's
 * `collect_prunable_layers`, which callbacks use instead of any registry of live wrappers).
 */
export function collectPrunableLayers(model: LayersModel): PruneLowMagnitude[] {
  const found: PruneLowMagnitude[] = [];
  for (const layer of model.layers) {
    if (isPruneLowMagnitude(layer)) found.push(layer);
    else if (layer instanceof LayersModel) found.push(...collectPrunableLayers(layer));
  }
  return found;
}

/**
 * Links the built `globalPruning` wrappers of `model` into one `GlobalPruningGroup` (one threshold
 * across all their weights). Called by `pruneLowMagnitude` and `UpdatePruningStep.onTrainBegin`.
 */
export function linkGlobalPruning(model: LayersModel): void {
  const members = collectPrunableLayers(model).filter(w => w.globalPruning && w.pruningObj != null);
  const unique = [...new Set(members)];
  if (unique.length === 0) return;
  const group = new GlobalPruningGroup(unique.map(w => w.pruningObj as Pruning));
  for (const w of unique) w.globalGroup = group;
}

/**
 * Restores what tfjs's pythonic conversion changes in our wrappers' saved configs so that Keras
 * under tfmot's `prune_scope` loads the file: tfjs lower-cases string values on save, and tfmot
 * accepts only `'AVG'`/`'MAX'` for `block_pooling_type`. Walks any model topology (nested models
 * included) and returns a copy; `index.ts` registers it as a save hook of `io/file.ts`, which applies it
 * to every save.
 */
export function kerasCompatibleTopology<T>(topology: T): T {
  const fix = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(fix);
    if (node == null || typeof node !== 'object') return node;
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) out[key] = fix(value);
    const config = out.config as Record<string, unknown>|undefined;
    if (out.class_name === PruneLowMagnitude.className && config && typeof config.block_pooling_type === 'string') {
      config.block_pooling_type = config.block_pooling_type.toUpperCase();
    }
    return out;
  };
  return fix(topology) as T;
}
