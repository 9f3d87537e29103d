// The README's quick start is the two commands CI runs: keep it true. (Its guide is run as written
// by test/examples.test.ts.)
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {readFileSync} from 'node:fs';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

const guide = suite('README');

guide('the quick start is npm ci && npm start, then npm test, and both scripts exist', () => {
  assert.match(readme, /npm ci && npm start/);
  assert.match(readme, /\nnpm test /);
  assert.is(pkg.scripts.start, 'node dist/cli.mjs demo');
  assert.ok(pkg.scripts.test.startsWith('uvu'));
  assert.ok(pkg.scripts.prepare.includes('build'), 'npm ci builds dist/ through prepare');
});

guide.run();
