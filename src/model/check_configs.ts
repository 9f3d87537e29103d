/**
 * Constructs every layer of a saved layers-model topology without building any, so that a bad layer
 * config anywhere in the model is refused before tfjs-layers allocates a weight. tfjs-layers'
 * `Sequential.fromConfig` builds each layer as it adds it: a config error in a later layer leaves the
 * earlier layers' weights allocated and unreachable. Layer constructors allocate no tensors (weights are
 * made in `build`), so this check allocates nothing.
 */
import {deserializeLayer} from './clone';

/** Model classes, whose layers are checked one by one (constructing a model builds it). */
const MODEL_CLASSES = ['Sequential', 'Model', 'Functional'];

/**
 * tfjs-layers' `toCamelCase` (utils/generic_utils.ts): what loading does to keys and string values of
 * a saved config.
 */
function camel(s: string): string {
  return s.length <= 1 || !s.includes('_') ? s : s.replace(/_+(\w|$)/g, (_m, c: string) => c.toUpperCase());
}

/**
 * A saved (snake_case) config as tfjs-layers' `convertPythonicToTs` (utils/serialization_utils.ts) turns
 * it into constructor arguments: keys and strings camel-cased, except `name` values and the layer names
 * that start the entries of `inboundNodes`, `inputLayers` and `outputLayers`.
 */
function tsConfig(value: unknown, key?: string): unknown {
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'string') return camel(value);
  const names = key === 'inboundNodes' || key === 'inputLayers' || key === 'outputLayers';
  if (Array.isArray(value)) return value.map((v, i) => (names && i === 0 && typeof v === 'string' ? v : tsConfig(v, key)));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (k === 'name' && typeof v === 'string') {
      out[k] = v;
    } else {
      out[camel(k)] = tsConfig(v, camel(k));
    }
  }
  return out;
}

function checkLayer(entry: {className?: unknown; config?: unknown}): void {
  if (typeof entry.className === 'string' && MODEL_CLASSES.includes(entry.className)) {
    const config = entry.config as {layers?: unknown}|unknown[]|null;
    const layers = Array.isArray(config) ? config : config?.layers;
    if (Array.isArray(layers)) for (const layer of layers) checkLayer(layer as typeof entry);
    return;
  }
  deserializeLayer(entry);
}

/**
 * Throws the error the first bad layer config of `modelTopology` (a model.json's, snake_case) gives
 * when constructed. Topologies that are not layers models (graph models) are not checked.
 */
export function checkLayerConfigs(modelTopology: unknown): void {
  const top = modelTopology as {model_config?: unknown; class_name?: unknown}|null;
  const model = (top?.model_config ?? top) as {class_name?: unknown}|null;
  if (model == null || typeof model !== 'object' || typeof model.class_name !== 'string') return;
  checkLayer(tsConfig(model) as {className?: unknown; config?: unknown});
}
