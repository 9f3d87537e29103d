/** Entry of the `tfjs-sparsity` executable (bundled to dist/cli.mjs). */
import {main} from './main';

process.exitCode = await main(process.argv.slice(2));
