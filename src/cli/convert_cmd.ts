/** `tfjs-sparsity convert`: a pruned or stripped model to a compact block-sparse model. */
import {toSparse} from '../index';
import {initCliBackend} from './backend';
import {loadModel, modelBytes, saveModel} from './model_files';
import {existingModelPath, outputDir, UsageError} from './usage';

export interface ConvertOptions {
  dtype: string;
  minSparsity?: number;
  block?: [number, number];
  out: string;
}

export async function runConvert(path: string, opts: ConvertOptions): Promise<void> {
  if (opts.dtype !== 'float32' && opts.dtype !== 'int8') {
    throw new UsageError(`--dtype must be float32 or int8, but got '${opts.dtype}'`);
  }
  const modelPath = existingModelPath(path);
  const out = outputDir(opts.out);
  await initCliBackend();
  const model = await loadModel(modelPath);
  const {model: sparse, report} = await toSparse(model, {
    dtype: opts.dtype, minSparsity: opts.minSparsity, blockSize: opts.block,
  });
  await saveModel(sparse, out);
  model.dispose();
  sparse.dispose();
  console.log(JSON.stringify(report, null, 2));
  const {bytes, gzipBytes} = modelBytes(out);
  console.log(`sparse model written to ${opts.out}: ${bytes} bytes (${gzipBytes} gzipped)`);
}
