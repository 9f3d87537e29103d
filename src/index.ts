/**
 * tfjs-sparsity: the Keras pruning API of tfmot for TensorFlow.js, with WebAssembly SIMD kernels.
 * Importing the package registers its kernels on the `wasm` and `cpu` backends, and in Node a
 * `file://` save/load handler.
 */
import {registerSaveHook} from './io/file';
import {kerasCompatibleTopology} from './pruning/model_wrappers';

export * from './common';
export {PruningSummaries} from './pruning/summaries';
export type {PruningSummariesArgs, UpdateFreq} from './pruning/summaries';
export {decodeEventFile, readEventFile} from './tensorboard/event_file';
export type {SummaryValue, TensorBoardEvent} from './tensorboard/event_file';
export {histogramOf} from './tensorboard/histogram';
export type {Histogram} from './tensorboard/histogram';
export {SummaryWriter} from './tensorboard/summary_writer';
export {fileSystem, NodeFileSystem} from './io/file';
export {useThreadedWasm} from './kernels/threaded_wasm';

// Models saved through `fileSystem` keep their pruning wrappers loadable by Keras (tfmot's `prune_scope`).
registerSaveHook(kerasCompatibleTopology);
