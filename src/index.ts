/**
 * tfjs-sparsity: the Keras pruning API of tfmot for TensorFlow.js, with WebAssembly SIMD kernels.
 * Importing the package registers its kernels on the `wasm` and `cpu` backends.
 */
export * from './kernels/index';
