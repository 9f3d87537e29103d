import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {request} from 'node:http';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {serveStatic, StaticServer} from '../src/cli/serve';

/** A raw GET (or other method) of `path`, not normalised the way fetch normalises URLs. */
function get(server: StaticServer, path: string, method = 'GET'): Promise<{status: number; headers: Record<string, unknown>; body: string}> {
  return new Promise((ok, fail) => {
    const req = request({host: '127.0.0.1', port: server.port, path, method}, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c) => { body += c; }).on('end', () => ok({status: res.statusCode!, headers: res.headers, body}));
    });
    req.on('error', fail).end();
  });
}

const serve = suite('serveStatic');

let root = '';
let secret = '';
serve.before(() => {
  const dir = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-serve-'));
  root = join(dir, 'site');
  secret = join(dir, 'secret.txt');
  mkdirSync(join(root, 'sub'), {recursive: true});
  writeFileSync(join(root, 'index.html'), '<p>home</p>');
  writeFileSync(join(root, 'sub', 'k.wasm'), new Uint8Array([0, 97, 115, 109]));
  writeFileSync(join(root, 'a b.mjs'), 'export {};');
  writeFileSync(secret, 'secret');
});
serve.after(() => rmSync(join(root, '..'), {recursive: true, force: true}));

serve('serveStatic({mounts}) serves files with their MIME type, directories as index.html', async () => {
  const server = await serveStatic({mounts: {'/': root}});
  try {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const wasm = await get(server, '/sub/k.wasm');
    assert.is(wasm.status, 200);
    assert.is(wasm.headers['content-type'], 'application/wasm');
    assert.is(wasm.headers['content-length'], '4');
    const home = await get(server, '/');
    assert.is(home.body, '<p>home</p>');
    assert.match(String(home.headers['content-type']), /^text\/html/);
    assert.is((await get(server, '/a%20b.mjs')).status, 200);
    assert.is((await get(server, '/a%20b.mjs', 'HEAD')).body, '');
    assert.is(home.headers['cross-origin-embedder-policy'], undefined);
  } finally {
    await server.close();
  }
});

serve('serveStatic answers 404 outside the mounts (.. included), 405 to POST, 400 to bad escapes', async () => {
  const server = await serveStatic({mounts: {'/site/': root}});
  try {
    assert.is((await get(server, '/site/missing.html')).status, 404);
    assert.is((await get(server, '/other/index.html')).status, 404);
    assert.is((await get(server, '/site/..%2fsecret.txt')).status, 404);
    assert.is((await get(server, '/site/%2e%2e/secret.txt')).status, 404);
    assert.is((await get(server, '/site/index.html', 'POST')).status, 405);
    assert.is((await get(server, '/site/%E0%A4%A')).status, 400);
  } finally {
    await server.close();
  }
});

serve('serveStatic({crossOriginIsolated: true}) sends COOP and COEP; the longest mount wins', async () => {
  const other = join(root, 'sub');
  const server = await serveStatic({mounts: {'/': root, '/sub/': other}, crossOriginIsolated: true});
  try {
    const res = await get(server, '/sub/k.wasm');
    assert.is(res.status, 200);
    assert.is(res.headers['cross-origin-opener-policy'], 'same-origin');
    assert.is(res.headers['cross-origin-embedder-policy'], 'require-corp');
  } finally {
    await server.close();
  }
});

serve('serveStatic rejects empty mounts and prefixes without slashes', async () => {
  await serveStatic({mounts: {}}).then(() => assert.unreachable('accepted no mounts'),
      (e: Error) => assert.match(e.message, /Argument 'mounts' passed to 'serveStatic' must map at least one URL prefix/));
  await serveStatic({mounts: {dist: root}}).then(() => assert.unreachable('accepted "dist"'),
      (e: Error) => assert.match(e.message, /must have URL prefixes that start and end with '\/', but got "dist"/));
});

serve.run();
