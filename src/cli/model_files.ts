/** Saving models to folders and measuring what they cost on disk. */
import * as tfl from '@tensorflow/tfjs-layers';
import {readdirSync, readFileSync} from 'node:fs';
import {join, resolve} from 'node:path';
import {gzipSync} from 'node:zlib';
// The file:// handler is registered when the library loads.
import '../index';

/** Saves `model` to `dir` as model.json + weights.bin through the file:// handler. */
export async function saveModel(model: tfl.LayersModel, dir: string): Promise<void> {
  await model.save(`file://${resolve(dir)}`);
}

/** Loads a layers-model from a model.json path. */
export function loadModel(path: string): Promise<tfl.LayersModel> {
  return tfl.loadLayersModel(`file://${resolve(path)}`);
}

/** Raw and gzip bytes of every file in a saved model's folder. */
export function modelBytes(dir: string): {bytes: number; gzipBytes: number} {
  let bytes = 0, gzipBytes = 0;
  for (const name of readdirSync(dir)) {
    const data = readFileSync(join(dir, name));
    bytes += data.length;
    gzipBytes += gzipSync(data, {level: 9}).length;
  }
  return {bytes, gzipBytes};
}
