/** `tfjs-sparsity convert`: a pruned or stripped model to a compact block-sparse model. */
import {toSparse, VALID_STORED_DTYPES} from '../index';
import {initCliBackend} from './backend';
import {flagChoice} from './flags';
import {loadModel, modelBytes, saveModel} from './model_files';
import {existingModelPath, outputDir} from './usage';

export interface ConvertOptions {
  dtype: string;
  minSparsity?: number;
  block?: [number, number];
  out: string;
}

export async function runConvert(path: string, opts: ConvertOptions): Promise<void> {
  const dtype = flagChoice(opts.dtype, VALID_STORED_DTYPES, '--dtype');
  const modelPath = existingModelPath(path);
  const out = outputDir(opts.out);
  await initCliBackend();
  const model = await loadModel(modelPath);
  const {model: sparse, report} = await toSparse(model, {
    dtype, minSparsity: opts.minSparsity, blockSize: opts.block,
  });
  await saveModel(sparse, out);
  model.dispose();
  sparse.dispose();
  console.log(JSON.stringify(report, null, 2));
  const {bytes, gzipBytes} = modelBytes(out);
  console.log(`sparse model written to ${opts.out}: ${bytes} bytes (${gzipBytes} gzipped)`);
}
