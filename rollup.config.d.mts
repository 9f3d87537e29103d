// Types of rollup.config.mjs for the TypeScript test that builds the browser bundle.
import type {OutputOptions, RollupOptions} from 'rollup';

/** The browser bundle's rollup options, writing to `file` (default dist/tfjs-sparsity.browser.mjs). */
export function browserBundle(file?: string): RollupOptions & {output: OutputOptions};

declare const config: RollupOptions[];
export default config;
