/** `tfjs-sparsity inspect`: per-layer sparsity of a saved model. */
import * as tfl from '@tensorflow/tfjs-layers';
import '../index';
import {loadModel} from './model_files';
import {existingModelPath} from './usage';

/** One weight of one layer. */
export interface WeightSparsity {
  layer: string;
  className: string;
  weight: string;
  shape: number[];
  params: number;
  nonzeros: number;
  sparsity: number;
}

/** Counts zeros in every weight of every layer (nested models included). */
export function weightSparsity(model: tfl.LayersModel): WeightSparsity[] {
  const rows: WeightSparsity[] = [];
  const visit = (m: tfl.LayersModel) => {
    for (const layer of m.layers) {
      if (layer instanceof tfl.LayersModel) {
        visit(layer);
        continue;
      }
      for (const w of layer.weights) {
        if (w.dtype !== 'float32') continue;
        const values = w.read().dataSync();
        let nonzeros = 0;
        for (let i = 0; i < values.length; i++) if (values[i] !== 0) nonzeros++;
        rows.push({layer: layer.name, className: layer.getClassName(), weight: w.originalName, shape: w.shape.map(d => d ?? -1),
                   params: values.length, nonzeros, sparsity: values.length ? 1 - nonzeros / values.length : 0});
      }
    }
  };
  visit(model);
  return rows;
}

export async function runInspect(path: string, opts: {json?: boolean}): Promise<void> {
  const model = await loadModel(existingModelPath(path));
  const rows = weightSparsity(model);
  model.dispose();
  if (opts.json) {
    console.log(JSON.stringify(rows, null, 2));
    return;
  }
  console.log('| layer | class | weight | shape | params | nonzeros | sparsity |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.layer} | ${r.className} | ${r.weight} | [${r.shape}] | ${r.params} | ${r.nonzeros} | ` +
        `${(100 * r.sparsity).toFixed(2)}% |`);
  }
  const params = rows.reduce((a, r) => a + r.params, 0);
  const nonzeros = rows.reduce((a, r) => a + r.nonzeros, 0);
  console.log(`\ntotal: ${params} parameters, ${nonzeros} nonzero, ${(100 * (1 - nonzeros / Math.max(params, 1))).toFixed(2)}% sparse`);
}
