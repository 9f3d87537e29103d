/** The kernel ops. Importing this module registers the kernels on the `wasm` and `cpu` backends. */
import './register';

export {ready} from './module';
export {applyMask, countNonzero, maskFromThreshold} from './mask';
