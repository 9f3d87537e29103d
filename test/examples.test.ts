// The README's guide as a user runs it: its code blocks, read from README.md, transpiled from
// TypeScript and run by Node in a project that holds exactly the packages of the README's install
// line (tfjs-sparsity linked to this build; no @tensorflow/tfjs union package, whose chained ops
// tfjs-layers' Orthogonal initializer needs). Each block runs in its own scope after the setup this
// file gives it (the README's `model`, `x`, `y`, `path`) and before checks of what it claims.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {execFile} from 'node:child_process';
import {mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import ts from 'typescript';
import {ensureBuilt, ROOT} from './spawn';

/** A ```ts block of the README under its nearest heading. */
interface Example {
  heading: string;
  code: string;
}

/** The ```ts blocks of the README's Guide and Kernel ops sections. */
function readmeExamples(): Example[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Guide'), end = readme.indexOf('\n## Command line');
  assert.ok(start > 0 && end > start, 'README has a Guide section before Command line');
  const examples: Example[] = [];
  let heading = '';
  const lines = readme.slice(start, end).split('\n');
  for (let i = 0; i < lines.length; i++) {
    const title = /^#{2,3} (.+)$/.exec(lines[i]);
    if (title) heading = title[1];
    if (lines[i] !== '```ts') continue;
    const close = lines.indexOf('```', i + 1);
    examples.push({heading, code: lines.slice(i + 1, close).join('\n')});
    i = close;
  }
  return examples;
}

/** The packages the README's install line names. */
function installedPackages(): string[] {
  const line = /^npm install (.+)$/m.exec(readFileSync(join(ROOT, 'README.md'), 'utf8'));
  assert.ok(line, 'README has an npm install line');
  return line[1].trim().split(/\s+/);
}

/**
 * What each example needs that the README leaves to the reader (setup), and what it claims
 * (check), by heading. An example under a heading missing here fails the test: add its harness.
 */
const HARNESS: Record<string, {setup: string; check: string}> = {
  'Guide': {
    setup: '',
    check: `expect(tf.getBackend() === 'wasm', 'on tfjs-wasm');
      expect(tf.Tensor.prototype.flatten === undefined, 'no chained ops (the union package is not loaded)');`,
  },
  'Prune a whole model': {
    setup: 'const model = baseModel(); const [x, y] = data();',
    check: `expect(getModelSparsity(pruned) === 0.8, 'sparsity 0.8');`,
  },
  'Prune some layers': {
    setup: 'const model = baseModel();',
    check: `const wrapped = collectPrunableLayers(pruned);
      expect(wrapped.length === 1 && wrapped[0].layer === model.layers[0], 'only the first Dense is wrapped');`,
  },
  'Custom layers': {
    setup: '',
    check: `expect(collectPrunableLayers(model)[0].maskWeights.length === 2, 'kernel and bias pruned');`,
  },
  'Custom training loop': {
    setup: 'const [x, y] = data();',
    check: `expect(getModelSparsity(pruned) === 0.5, 'sparsity 0.5');
      expect(collectPrunableLayers(pruned).every(w => w.pruningStep === 8), '8 training calls');`,
  },
  'Save, load and resume': {
    setup: `const [x, y] = data(); const path = join(workDir, 'pruned');
      const pruned = pruneLowMagnitude(baseModel(), {pruningSchedule: new ConstantSparsity({targetSparsity: 0.5, beginStep: 0, frequency: 1})});
      pruned.compile({optimizer: 'sgd', loss: 'categoricalCrossentropy'});
      await pruned.fit(x, y, {epochs: 1, verbose: 0, callbacks: [new UpdatePruningStep()]});`,
    check: `expect(collectPrunableLayers(restored)[0].pruningStep === 4, 'resumed at step 2, 2 more batches');`,
  },
  'Strip and deploy': {
    setup: '',
    check: `expect(deployed.layers.map(l => l.getClassName()).join() === 'Dense,Dense', 'plain Dense layers');
      const [a, b] = [restored.predict(x), deployed.predict(x)];
      expect(a.dataSync().every((v, i) => v === b.dataSync()[i]), 'the stripped model predicts as the pruned one');
      expect(report.length === 2 && sparse.layers.some(l => l.getClassName() === 'SparseDense'), 'SparseDense layers');
      const loaded = await tfl.loadLayersModel('file://' + path + '-sparse/model.json');
      expect(loaded.layers.some(l => l.getClassName() === 'SparseDense'), 'the sparse model loads');`,
  },
  'Block sparsity, M:N, global pruning, summaries': {
    setup: '',
    check: `expect(collectPrunableLayers(pruned).every(w => w.blockSize.join() === '1,16'), '1x16 blocks');`,
  },
  'Kernel ops': {
    setup: `const w = tf.randomNormal([64, 64], 0, 1, 'float32', 1), x = tf.randomNormal([4, 64], 0, 1, 'float32', 2);
      const bias = tf.zeros([64]);`,
    check: `expect(y.shape.join() === '4,64', 'y is [4, 64]');
      expect(t.dataSync()[0] > 0 && mask.shape.join() === '64,64' && threshold.rank === 0, 'threshold and mask');`,
  },
};

/** Blocks that continue the one before them, in the same scope (their names carry over). */
const CONTINUES = new Set(['Strip and deploy']);

/** The harness's own helpers: fresh models and data, a work folder, checks. */
const HELPERS = `
const workDir = process.argv[2];
const baseModel = () => tfl.sequential({layers: [
  tfl.layers.dense({units: 32, activation: 'relu', inputShape: [20]}),
  tfl.layers.dense({units: 10, activation: 'softmax'}),
]});
const data = () => [tf.randomNormal([64, 20], 0, 1, 'float32', 7),
                    tf.cast(tf.oneHot(tf.tensor1d(Array.from({length: 64}, (_, i) => i % 10), 'int32'), 10), 'float32')];
function expect(ok, what) {
  if (!ok) throw new Error('check failed: ' + what);
}
`;

/**
 * One ES module: the README's imports (merged: one line per package), the harness's extra imports
 * and helpers, then each example in a block scope between markers.
 */
function guideScript(examples: Example[]): string {
  const named = new Map<string, Set<string>>(), plain: string[] = [];
  const bodies = examples.map(({code}) => code.replace(/^import\b[^;]*;\n?/gm, statement => {
    const m = /^import\s*\{([^}]*)\}\s*from\s*'([^']+)';/.exec(statement);
    if (m) {
      const names = named.get(m[2]) ?? new Set();
      m[1].split(',').map(n => n.trim()).filter(Boolean).forEach(n => names.add(n));
      named.set(m[2], names);
    } else if (!plain.includes(statement.trim())) {
      plain.push(statement.trim());
    }
    return '';
  }));
  // Names the checks use beyond what the README imports.
  named.get('tfjs-sparsity')?.add('collectPrunableLayers');
  const imports = [...plain, ...[...named].map(([from, names]) => `import {${[...names].join(', ')}} from '${from}';`),
                   `import {join} from 'node:path';`];
  const parts = [imports.join('\n'), HELPERS];
  examples.forEach((example, i) => {
    const harness = HARNESS[example.heading];
    const opens = !CONTINUES.has(example.heading), closes = !CONTINUES.has(examples[i + 1]?.heading ?? '');
    parts.push(`${opens ? '{\n' : ''}console.log('--- ' + ${JSON.stringify(example.heading)});\n${harness.setup}\n` +
               `${bodies[i]}\n${harness.check}\n${closes ? '}' : ''}`);
  });
  parts.push(`console.log('--- done');`);
  return parts.join('\n');
}

const guide = suite('README guide');

guide('every example of the guide runs with exactly the packages of the install line', async () => {
  ensureBuilt();
  const examples = readmeExamples();
  assert.ok(examples.length >= 9, `found ${examples.length} examples`);
  for (const {heading} of examples) assert.ok(HARNESS[heading], `no harness for the README example under '${heading}'`);

  // A user's project: node_modules holds the install line's packages and nothing else.
  const project = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-guide-'));
  try {
    const packages = installedPackages();
    assert.equal(packages.filter(p => p.startsWith('@tensorflow/')).sort(),
        ['@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-core', '@tensorflow/tfjs-layers']);
    const require = createRequire(join(ROOT, 'package.json'));
    for (const name of packages) {
      const target = name === 'tfjs-sparsity' ? ROOT : join(require.resolve(`${name}/package.json`), '..');
      mkdirSync(join(project, 'node_modules', name, '..'), {recursive: true});
      symlinkSync(target, join(project, 'node_modules', name), 'dir');
    }
    // The union package is not reachable, from the project or from where the links lead.
    for (const from of [project, ROOT]) {
      assert.throws(() => createRequire(join(from, 'package.json')).resolve('@tensorflow/tfjs'), /Cannot find module/, from);
    }
    writeFileSync(join(project, 'package.json'), JSON.stringify({name: 'guide', type: 'module', private: true}));
    const script = ts.transpileModule(guideScript(examples), {
      compilerOptions: {target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext},
    }).outputText;
    for (const [, specifier] of script.matchAll(/^import\b.*?'([^']+)';$/gm)) {
      assert.ok(specifier.startsWith('node:') || packages.includes(specifier), `the script imports ${specifier}`);
    }
    writeFileSync(join(project, 'guide.mjs'), script);
    const work = join(project, 'work');
    mkdirSync(work);
    // NODE_OPTIONS may carry the test runner's loader, FORCE_COLOR its colours: run as a user does.
    const env = {...process.env, NODE_OPTIONS: '', FORCE_COLOR: '0'};
    const {code, stdout, stderr} = await new Promise<{code: number|null; stdout: string; stderr: string}>(done => {
      execFile(process.execPath, ['guide.mjs', work], {cwd: project, env},
          (error, out, err) => done({code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout: out, stderr: err}));
    });
    assert.is(code, 0, `${stderr}\n--- stdout:\n${stdout}`);
    const sections = new Map(stdout.split('--- ').slice(1).map(s => [s.slice(0, s.indexOf('\n')), s.slice(s.indexOf('\n') + 1)]));
    assert.equal([...sections.keys()], [...new Set(examples.map(e => e.heading)), 'done']);
    // What the README says a console.log prints (`console.log(...);  // value`), it prints.
    for (const {heading, code: source} of examples) {
      for (const [, value] of source.matchAll(/console\.log\(.*\);\s*\/\/ (.+)$/gm)) {
        assert.ok(sections.get(heading)?.split('\n').includes(value.trim()), `'${heading}' prints ${value}: ${sections.get(heading)}`);
      }
    }
  } finally {
    rmSync(project, {recursive: true, force: true});
  }
});

guide.run();
