/**
 * A small static file server on localhost, for the browser tests and `tfjs-sparsity serve`: pages,
 * ES modules and `.wasm` files (served as `application/wasm`, which streaming compilation needs).
 * Optionally cross-origin isolated (COOP/COEP headers), the condition under which browsers allow
 * SharedArrayBuffer and tfjs-wasm loads its threaded build.
 *
 * It serves only what its folders hold: paths are resolved through symlinks (`realpath`) and must stay
 * inside the real path of their mount, and requests must name the server by a loopback host (or the
 * address it listens on), so a web page cannot reach it through a DNS name rebound to 127.0.0.1.
 */
import {createReadStream} from 'node:fs';
import {realpath, stat} from 'node:fs/promises';
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

/** The mounts with their folders' real paths (a mount may itself be a symlink). */
async function realMounts(mounts: Array<[string, string]>): Promise<Array<[string, string]>> {
  return Promise.all(mounts.map(async ([p, dir]): Promise<[string, string]> => [p, await realpath(dir).catch(() => dir)]));
}

/**
 * The real path of the file a URL path names, or undefined when no mount holds it: `..` escapes and
 * symlinks leading out of the mount's real folder included.
 */
async function fileFor(mounts: Array<[string, string]>, urlPath: string): Promise<string|undefined> {
  for (const [prefix, dir] of mounts) {
    if (!urlPath.startsWith(prefix)) continue;
    const file = await realpath(resolve(join(dir, urlPath.slice(prefix.length)))).catch(() => undefined);
    return file !== undefined && (file === dir || file.startsWith(dir + sep)) ? file : undefined;
  }
  return undefined;
}

/** Host names that always mean this machine. */
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

/**
 * Whether a request's Host header names this server: a loopback name (or the address it listens on)
 * with its port. Anything else may be a DNS name rebound to 127.0.0.1 by a web page.
 */
function isOwnHost(header: string|undefined, listenHost: string, port: number): boolean {
  if (header === undefined) return false;
  const m = /^(\[[^\]]*\]|[^:]+)(?::(\d+))?$/.exec(header.toLowerCase());
  if (!m) return false;
  const names = [...LOOPBACK_NAMES, listenHost.includes(':') ? `[${listenHost}]` : listenHost];
  return names.includes(m[1]) && Number(m[2] ?? 80) === port;
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
  const mounts = await realMounts(checkMounts(options.mounts));
  const host = options.host ?? '127.0.0.1';
  let port = 0;
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
    if (!isOwnHost(req.headers.host, host, port)) {
      return fail(res, 403, `forbidden: this server answers only http://127.0.0.1:${port}/ and http://localhost:${port}/\n`);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return fail(res, 405, 'method not allowed\n');
    let urlPath: string;
    try {
      urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    } catch {
      return fail(res, 400, 'bad URL\n');
    }
    let file = await fileFor(mounts, urlPath);
    if (!file) return fail(res, 404, `not found: ${urlPath}\n`);
    let info = await stat(file).catch(() => undefined);
    if (info?.isDirectory()) {
      file = await fileFor(mounts, `${urlPath.replace(/\/?$/, '/')}index.html`);
      info = file === undefined ? undefined : await stat(file).catch(() => undefined);
    }
    if (!file || !info?.isFile()) return fail(res, 404, `not found: ${urlPath}\n`);
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
  await new Promise<void>((ok, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => ok());
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    port,
    close: () => new Promise<void>((ok, reject) => {
      server.closeAllConnections();
      server.close(err => (err ? reject(err) : ok()));
    }),
  };
}
