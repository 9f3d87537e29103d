// Types of rollup.config.mjs for the TypeScript test that builds the browser bundle.
import type {OutputOptions, Plugin, RollupOptions} from 'rollup';

/** The browser bundle's rollup options, writing to `file` (default dist/tfjs-sparsity.browser.mjs). */
export function browserBundle(file?: string): RollupOptions & {output: OutputOptions};

/** The plugin that makes the command's bundle executable (mode 755) once written. */
export function executable(): Plugin & {writeBundle(options: OutputOptions): void};

declare const config: RollupOptions[];
export default config;
