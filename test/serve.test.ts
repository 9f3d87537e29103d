import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import {request} from 'node:http';
import {connect} from 'node:net';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {serveStatic, StaticServer} from '../src/cli/static_server';

/** A raw GET (or other method) of `path`, not normalised the way fetch normalises URLs; `host` sets the Host header. */
function get(server: StaticServer, path: string, method = 'GET', host?: string):
    Promise<{status: number; headers: Record<string, unknown>; body: string}> {
  return new Promise((ok, fail) => {
    const headers = host === undefined ? {} : {host};
    const req = request({host: '127.0.0.1', port: server.port, path, method, headers}, (res) => {
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

serve('serveStatic refuses symlinks out of its folders (files and folders) and follows those that stay inside', async () => {
  const outside = join(root, '..', 'outside');
  mkdirSync(outside, {recursive: true});
  writeFileSync(join(outside, 'passwd'), 'root:x:0:0');
  const site = join(root, '..', 'linked');
  mkdirSync(site, {recursive: true});
  writeFileSync(join(site, 'real.txt'), 'inside');
  symlinkSync(secret, join(site, 'secret.txt'));
  symlinkSync(outside, join(site, 'link'));
  symlinkSync(join(site, 'real.txt'), join(site, 'alias.txt'));
  // The mount itself may be a symlink: its real folder is what it serves.
  symlinkSync(site, join(root, '..', 'site-link'));
  const server = await serveStatic({mounts: {'/models/': join(root, '..', 'site-link')}});
  try {
    assert.is((await get(server, '/models/real.txt')).body, 'inside');
    assert.is((await get(server, '/models/alias.txt')).body, 'inside');
    assert.is((await get(server, '/models/secret.txt')).status, 404);
    assert.is((await get(server, '/models/link/passwd')).status, 404);
    assert.is((await get(server, '/models/link/')).status, 404);
  } finally {
    await server.close();
  }
});

serve('serveStatic answers only Host headers naming a loopback address with its port (no DNS rebinding)', async () => {
  const server = await serveStatic({mounts: {'/': root}});
  try {
    for (const host of [`127.0.0.1:${server.port}`, `localhost:${server.port}`, `LOCALHOST:${server.port}`, `[::1]:${server.port}`]) {
      assert.is((await get(server, '/index.html', 'GET', host)).status, 200, host);
    }
    for (const host of [`evil.example:${server.port}`, 'evil.example', `127.0.0.1:${server.port + 1}`, '127.0.0.1',
      `localhost.evil.example:${server.port}`, `127.0.0.1.nip.io:${server.port}`, `[::2]:${server.port}`]) {
      const res = await get(server, '/index.html', 'GET', host);
      assert.is(res.status, 403, JSON.stringify(host));
      assert.match(res.body, /^forbidden: this server answers only http:\/\/127\.0\.0\.1:\d+\/ and http:\/\/localhost:\d+\//);
    }
    // HTTP/1.0 without a Host header.
    const raw = await new Promise<string>((ok, fail) => {
      let text = '';
      const socket = connect(server.port, '127.0.0.1', () => socket.end('GET /index.html HTTP/1.0\r\n\r\n'));
      socket.setEncoding('utf8').on('data', c => { text += c; }).on('end', () => ok(text)).on('error', fail);
    });
    assert.match(raw, /^HTTP\/1\.[01] 403 /);
  } finally {
    await server.close();
  }
});

serve.run();
