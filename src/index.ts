/**
 * tfjs-sparsity: the Keras pruning API of tfmot for TensorFlow.js, with WebAssembly SIMD kernels.
 * Importing the package registers its kernels on the `wasm` and `cpu` backends, and in Node a
 * `file://` save/load handler.
 */
export * from './common';
export {PruningSummaries} from './summaries';
export type {PruningSummariesArgs, UpdateFreq} from './summaries';
export {decodeEventFile, histogramOf, readEventFile, SummaryWriter} from './tensorboard';
export type {Histogram, SummaryValue, TensorBoardEvent} from './tensorboard';
export {fileSystem, NodeFileSystem} from './io/file';
