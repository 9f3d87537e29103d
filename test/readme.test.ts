// The README's guide quotes test/examples.test.ts, and its quick start is the two commands CI runs:
// keep both true.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {readFileSync} from 'node:fs';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const examples = readFileSync(new URL('./examples.test.ts', import.meta.url), 'utf8');
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

const guide = suite('README');

guide('every example of the guide is quoted verbatim from test/examples.test.ts', () => {
  const blocks = [...examples.matchAll(/\/\/ example: (.+)\n([\s\S]*?)\n\s*\/\/ end/g)];
  assert.ok(blocks.length >= 7, `found ${blocks.length} examples`);
  for (const [, name, body] of blocks) {
    const lines = body.split('\n');
    const indent = Math.min(...lines.filter(l => l.trim()).map(l => l.length - l.trimStart().length));
    const snippet = lines.map(l => l.slice(indent)).join('\n');
    assert.ok(readme.includes(snippet), `README does not quote the example '${name}' as tested`);
  }
});

guide('the quick start is npm ci && npm start, then npm test, and both scripts exist', () => {
  assert.match(readme, /npm ci && npm start/);
  assert.match(readme, /\nnpm test /);
  assert.is(pkg.scripts.start, 'node dist/cli.mjs demo');
  assert.ok(pkg.scripts.test.startsWith('uvu'));
  assert.ok(pkg.scripts.prepare.includes('build'), 'npm ci builds dist/ through prepare');
});

guide.run();
