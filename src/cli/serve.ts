/**
 * A small static file server on localhost, for the browser tests and `tfjs-sparsity serve`: pages,
 * ES modules and `.wasm` files (served as `application/wasm`, which streaming compilation needs).
 * Optionally cross-origin isolated (COOP/COEP headers), the condition under which browsers allow
 * SharedArrayBuffer and tfjs-wasm loads its threaded build.
 */
import {createReadStream} from 'node:fs';
import {stat} from 'node:fs/promises';
import {createServer, IncomingMessage, ServerResponse} from 'node:http';
import {AddressInfo} from 'node:net';
import {extname, join, resolve, sep} from 'node:path';

/** What `serveStatic` serves and how. */
export interface ServeOptions {
  /** URL path prefix (starting and ending with `/`) to directory; the longest matching prefix wins. */
  mounts: Record<string, string>;
  /** Port to listen on; 0 (the default) picks a free one. */
  port?: number;
  /** Interface to listen on; default `127.0.0.1` (never exposed beyond this machine by default). */
  host?: string;
  /**
   * Send `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy: require-corp`,
   * making pages cross-origin isolated (SharedArrayBuffer, threaded tfjs-wasm). Default false.
   */
  crossOriginIsolated?: boolean;
}

/** A running server. */
export interface StaticServer {
  /** Base URL, e.g. `http://127.0.0.1:41234/`. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.bin': 'application/octet-stream',
};

function checkMounts(mounts: Record<string, string>): Array<[string, string]> {
  const entries = Object.entries(mounts ?? {});
  if (entries.length === 0) {
    throw new Error(`Argument 'mounts' passed to 'serveStatic' must map at least one URL prefix to a directory`);
  }
  for (const [prefix] of entries) {
    if (!prefix.startsWith('/') || !prefix.endsWith('/')) {
      throw new Error(`Argument 'mounts' passed to 'serveStatic' must have URL prefixes that start and end ` +
          `with '/', but got ${JSON.stringify(prefix)}`);
    }
  }
  // Longest prefix first, so '/dist/' wins over '/'.
  return entries.map(([p, dir]): [string, string] => [p, resolve(dir)]).sort((a, b) => b[0].length - a[0].length);
}

/** The file a URL path names, or undefined when no mount holds it (including `..` escapes). */
function fileFor(mounts: Array<[string, string]>, urlPath: string): string|undefined {
  for (const [prefix, dir] of mounts) {
    if (!urlPath.startsWith(prefix)) continue;
    const file = resolve(join(dir, urlPath.slice(prefix.length)));
    return file === dir || file.startsWith(dir + sep) ? file : undefined;
  }
  return undefined;
}

/**
 * Serves files from `mounts` on `host:port` until `close()`. GET and HEAD only; a directory serves
 * its `index.html`; responses are never cached (the files change while developing).
 *
 * ```js
 * const server = await serveStatic({mounts: {'/': 'demo'}});
 * console.log(server.url);  // http://127.0.0.1:<free port>/
 * ```
 */
export async function serveStatic(options: ServeOptions): Promise<StaticServer> {
  const mounts = checkMounts(options.mounts);
  const headers: Record<string, string> = {'Cache-Control': 'no-store'};
  if (options.crossOriginIsolated) {
    headers['Cross-Origin-Opener-Policy'] = 'same-origin';
    headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
    headers['Cross-Origin-Resource-Policy'] = 'same-origin';
  }
  const fail = (res: ServerResponse, status: number, text: string) => {
    res.writeHead(status, {...headers, 'Content-Type': 'text/plain; charset=utf-8'}).end(text);
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return fail(res, 405, 'method not allowed\n');
    let urlPath: string;
    try {
      urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    } catch {
      return fail(res, 400, 'bad URL\n');
    }
    let file = fileFor(mounts, urlPath);
    if (!file) return fail(res, 404, `not found: ${urlPath}\n`);
    let info = await stat(file).catch(() => undefined);
    if (info?.isDirectory()) {
      file = join(file, 'index.html');
      info = await stat(file).catch(() => undefined);
    }
    if (!info?.isFile()) return fail(res, 404, `not found: ${urlPath}\n`);
    res.writeHead(200, {
      ...headers,
      'Content-Type': MIME[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'Content-Length': String(info.size),
    });
    if (req.method === 'HEAD') return res.end();
    createReadStream(file).on('error', () => res.destroy()).pipe(res);
  };
  const server = createServer((req, res) => {
    handle(req, res).catch(() => (res.headersSent ? res.destroy() : fail(res, 500, 'internal error\n')));
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((ok, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => ok());
  });
  const {port} = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    port,
    close: () => new Promise<void>((ok, reject) => {
      server.closeAllConnections();
      server.close(err => (err ? reject(err) : ok()));
    }),
  };
}
