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
import '../src/index';
import {tinyGraph} from './graph_helpers';
import {useBackend} from './helpers';
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

/** The packages the README's install lines name (the main one, and tfjs-converter for graph models). */
function installedPackages(): string[] {
  const lines = [...readFileSync(join(ROOT, 'README.md'), 'utf8').matchAll(/^npm install (.+)$/gm)];
  assert.ok(lines.length > 0, 'README has an npm install line');
  return lines.flatMap(line => line[1].trim().split(/\s+/));
}

/** What a README example needs that the README leaves to the reader, and what it claims. */
interface Harness {
  /** Text of the block (its first distinctive line) that this harness is for. */
  match: string;
  /** Code run before the block, in its scope: the README's `model`, `x`, `y`, `path`. */
  setup: string;
  /** Code run after the block: checks of what the README says it does. */
  check: string;
  /** The block continues the one before it, in the same scope (its names carry over). */
  continues?: boolean;
}

/** One harness per README block; a block none matches fails the test: add its harness. */
const HARNESS: Harness[] = [
  {
    match: 'await tf.ready();',
    setup: '',
    check: `expect(tf.getBackend() === 'wasm', 'on tfjs-wasm');
      expect(tf.Tensor.prototype.flatten === undefined, 'no chained ops (the union package is not loaded)');`,
  },
  {
    match: 'new PolynomialDecay({initialSparsity: 0.5, finalSparsity: 0.8',
    setup: 'const model = baseModel(); const [x, y] = data();',
    check: `expect(getModelSparsity(pruned) === 0.8, 'sparsity 0.8');`,
  },
  {
    match: 'const pruned = cloneModel(model',
    setup: 'const model = baseModel();',
    check: `const wrapped = lib.collectPrunableLayers(pruned);
      expect(wrapped.length === 1 && wrapped[0].layer === model.layers[0], 'only the first Dense is wrapped');`,
  },
  {
    match: 'class MyDense extends tfl.layers.Layer implements PrunableLayer',
    setup: '',
    check: `expect(lib.collectPrunableLayers(model)[0].maskWeights.length === 2, 'kernel and bias pruned');`,
  },
  {
    match: 'step.setModel(pruned);',
    setup: 'const [x, y] = data();',
    check: `expect(getModelSparsity(pruned) === 0.5, 'sparsity 0.5');
      expect(lib.collectPrunableLayers(pruned).every(w => w.pruningStep === 8), '8 training calls');`,
  },
  {
    match: 'const restored = await tfl.loadLayersModel(',
    setup: `const [x, y] = data(); const path = join(workDir, 'pruned');
      const pruned = pruneLowMagnitude(baseModel(), {pruningSchedule: new ConstantSparsity({targetSparsity: 0.5, beginStep: 0, frequency: 1})});
      pruned.compile({optimizer: 'sgd', loss: 'categoricalCrossentropy'});
      await pruned.fit(x, y, {epochs: 1, verbose: 0, callbacks: [new UpdatePruningStep()]});`,
    check: `expect(lib.collectPrunableLayers(restored)[0].pruningStep === 4, 'resumed at step 2, 2 more batches');`,
  },
  {
    match: 'const deployed = stripPruning(restored);',
    continues: true,
    setup: '',
    check: `expect(deployed.layers.map(l => l.getClassName()).join() === 'Dense,Dense', 'plain Dense layers');
      const [a, b] = [restored.predict(x), deployed.predict(x)];
      expect(a.dataSync().every((v, i) => v === b.dataSync()[i]), 'the stripped model predicts as the pruned one');
      expect(report.length === 2 && sparse.layers.some(l => l.getClassName() === 'SparseDense'), 'SparseDense layers');
      const loaded = await tfl.loadLayersModel('file://' + path + '-sparse/model.json');
      expect(loaded.layers.some(l => l.getClassName() === 'SparseDense'), 'the sparse model loads');`,
  },
  {
    match: 'await toSparse(convnet);',
    setup: 'const convnet = prunedInvertedResidual();',
    check: `const byName = Object.fromEntries(report.map(r => [r.name, r]));
      expect(byName.expand.newClassName === 'SparseConv2D' && byName.expand.layout === 'channelsFirst', 'expand runs channel-major');
      expect(byName.depthwise.newClassName === 'DepthwiseConv2DChannelsFirst', 'depthwise runs channel-major');`,
  },
  {
    match: 'await shrinkModel(pruned)',
    setup: 'const [x, y] = data(); const pretrained = baseModel();',
    check: `expect(report.layers.some(l => l.outputChannels[1] < l.outputChannels[0]), 'channels removed');
      expect(small.countParams() < pruned.countParams() && oneShot.countParams() < pretrained.countParams(), 'smaller models');`,
  },
  {
    match: 'const oneShot = await pruneOneShot(model, {',
    setup: 'const model = baseModel(); const [x, y] = data(); const calibration = x;',
    check: `expect(Math.abs(oneShot.sparsity - 0.8) < 0.01, 'the one-shot model is 80 % sparse');
      expect(Math.abs(getModelSparsity(tuned) - oneShot.sparsity) < 1e-9, 'fine-tuning keeps the one-shot masks');
      expect(deployable.layers.every(l => l.getClassName() === 'Dense'), 'plain Dense layers');`,
  },
  {
    match: 'await pruneOneShot(graph, {sparsity: 0.7',
    // The small MobileNetV2-like graph model (test/graph_helpers.ts) the guide test writes into the work folder.
    setup: `const modelPath = join(workDir, 'tiny-graph', 'model.json'), dir = workDir;
      const images = tf.randomUniform([24, 16, 16, 3], 0, 1, 'float32', 6);`,
    check: `expect(nodes.map(n => n.layer).join() === 'expand,project,last,logits', 'the 1x1 convolutions and the matmul');
      expect(nodes.every(n => Math.abs(n.sparsity - 0.7) < 0.01), '70 % each');
      const again = await loadGraphModel('file://' + dir + '/pruned-graph/model.json');
      const w = again.weights['last/weights'][0].dataSync();
      expect(Math.abs(w.filter(v => v === 0).length / w.length - 0.7) < 0.01, 'the saved graph holds the pruned weights');
      expect(graph.weights['last/weights'][0].dataSync().every(v => v !== 0), 'the given graph is unchanged');
      tf.dispose(images);`,
  },
  {
    match: 'const perLayer = sensitivitySparsities(curves.layers, 0.8);',
    continues: true,
    setup: '',
    check: `expect(Object.keys(perLayer).length === 2, 'a sparsity for each layer');
      expect(lib.collectPrunableLayers(gradual).length === 2, 'one wrapper per layer');`,
  },
  {
    match: 'setThreads(2);',
    setup: '',
    // The guide's first block started wasm already: useThreadedWasm says so (false, one warning).
    check: `expect(shared === false && tf.getBackend() === 'wasm', 'wasm, started single-threaded by the first block');
      expect(getThreads() === 2, 'two threads');
      expect(lib.VALID_KERNEL_BUILDS.includes(kernelInfo().build.build), 'a kernel build was chosen');
      setThreads(1);`,
  },
  {
    match: 'await pruneGraphWeights(graphModel',
    // The test writes a small MobileNetV2-like graph model (test/graph_helpers.ts) into the work folder.
    setup: `const modelPath = join(workDir, 'tiny-graph', 'model.json'), dir = workDir;
      const image = tf.randomNormal([1, 16, 16, 3], 0, 1, 'float32', 4);`,
    check: `const [want, got] = [pruned.execute(image), again.execute(image)];
      const scale = Math.max(...tf.abs(want).dataSync());
      expect(want.dataSync().every((v, i) => Math.abs(v - y.dataSync()[i]) <= 1e-5 * scale), 'sparse as dense, up to rounding');
      expect(got.dataSync().every((v, i) => v === y.dataSync()[i]), 'the saved model predicts as before');
      expect(report.find(r => r.name === 'expand').kind === 'pixelConv', 'expand runs on the pixel kernel');`,
  },
  {
    match: 'blockSize: [1, 16],\n  blockPoolingType: \'AVG\',',
    setup: '',
    check: `expect(lib.collectPrunableLayers(pruned).every(w => w.blockSize.join() === '1,16'), '1x16 blocks');`,
  },
  {
    match: 'const t = magnitudeThreshold(w, 0.9);',
    // One x and one bias serve every op of the block: 64 channels throughout.
    setup: `const w = tf.randomNormal([64, 64], 0, 1, 'float32', 1), x = tf.randomNormal([4, 64], 0, 1, 'float32', 2);
      const bias = tf.zeros([64]);
      const [K, N] = [8, 64], kernelValues = tf.randomNormal([K * N], 0, 1, 'float32', 3).dataSync();
      const xNchw = tf.randomNormal([1, 64, K, 8], 0, 1, 'float32', 4), filterC133 = tf.randomNormal([64, 1, 3, 3], 0, 1, 'float32', 5);`,
    check: `expect(y.shape.join() === '4,64', 'y is [4, 64]');
      expect(t.dataSync()[0] > 0 && mask.shape.join() === '64,64' && threshold.rank === 0, 'threshold and mask');`,
  },
];

/** The harness of a README block. */
function harnessOf(code: string): Harness|undefined {
  const found = HARNESS.filter(h => code.includes(h.match));
  return found.length === 1 ? found[0] : undefined;
}

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
/** A MobileNetV2 block (1x1 expand, BatchNorm, ReLU6, 3x3 depthwise, ..., Add), its 1x1 convolutions pruned to 90 %. */
function prunedInvertedResidual() {
  const input = tfl.input({shape: [12, 12, 16]});
  const ap = (layer, x) => layer.apply(x);
  let x = ap(tfl.layers.conv2d({filters: 64, kernelSize: 1, useBias: false, name: 'expand'}), input);
  x = ap(tfl.layers.reLU({maxValue: 6}), ap(tfl.layers.batchNormalization({}), x));
  x = ap(tfl.layers.depthwiseConv2d({kernelSize: 3, padding: 'same', useBias: false, name: 'depthwise'}), x);
  x = ap(tfl.layers.reLU({maxValue: 6}), ap(tfl.layers.batchNormalization({}), x));
  x = ap(tfl.layers.conv2d({filters: 16, kernelSize: 1, useBias: false, name: 'project'}), x);
  x = ap(tfl.layers.add(), [input, ap(tfl.layers.batchNormalization({}), x)]);
  const model = tfl.model({inputs: input, outputs: x});
  for (const layer of model.layers.filter(l => l.name === 'expand' || l.name === 'project')) {
    const [kernel] = layer.getWeights();
    const pruned = tf.tidy(() => tf.mul(kernel, lib.maskFromThreshold(kernel, lib.magnitudeThreshold(kernel, 0.9))));
    layer.setWeights([pruned]);
    pruned.dispose();
  }
  return model;
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
  // The harness reaches the library through `lib`, so it adds no names beside the README's imports.
  const imports = [...plain, ...[...named].map(([from, names]) => `import {${[...names].join(', ')}} from '${from}';`),
                   `import * as lib from 'tfjs-sparsity';`, `import {join} from 'node:path';`];
  const parts = [imports.join('\n'), HELPERS];
  examples.forEach((example, i) => {
    const harness = harnessOf(example.code)!;
    const opens = !harness.continues, closes = !harnessOf(examples[i + 1]?.code ?? '')?.continues;
    parts.push(`${opens ? '{\n' : ''}console.log('--- ' + ${JSON.stringify(`${i} ${example.heading}`)});\n${harness.setup}\n` +
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
  for (const {heading, code} of examples) {
    assert.ok(harnessOf(code), `no harness (or several) for the README example under '${heading}':\n${code}`);
  }

  // A user's project: node_modules holds the install line's packages and nothing else.
  const project = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-guide-'));
  try {
    const packages = installedPackages();
    assert.equal(packages.filter(p => p.startsWith('@tensorflow/')).sort(),
        ['@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-converter', '@tensorflow/tfjs-core',
         '@tensorflow/tfjs-layers']);
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
    await useBackend('cpu');
    const graph = await tinyGraph(7, {sparsity: 0, size: 16});
    await graph.save(`file://${join(work, 'tiny-graph')}`);
    graph.dispose();
    // NODE_OPTIONS may carry the test runner's loader, FORCE_COLOR its colours: run as a user does.
    const env = {...process.env, NODE_OPTIONS: '', FORCE_COLOR: '0'};
    const {code, stdout, stderr} = await new Promise<{code: number|null; stdout: string; stderr: string}>(done => {
      execFile(process.execPath, ['guide.mjs', work], {cwd: project, env},
          (error, out, err) => done({code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout: out, stderr: err}));
    });
    assert.is(code, 0, `${stderr}\n--- stdout:\n${stdout}`);
    const sections = stdout.split('--- ').slice(1).map(s => [s.slice(0, s.indexOf('\n')), s.slice(s.indexOf('\n') + 1)]);
    assert.equal(sections.map(([marker]) => marker), [...examples.map((e, i) => `${i} ${e.heading}`), 'done']);
    // What the README says a console.log prints (`console.log(...);  // value`), it prints.
    examples.forEach(({heading, code: source}, i) => {
      for (const [, value] of source.matchAll(/console\.log\(.*\);[ \t]*\/\/ (.+)$/gm)) {
        assert.ok(sections[i][1].split('\n').includes(value.trim()), `'${heading}' prints ${value}: ${sections[i][1]}`);
      }
    });
  } finally {
    rmSync(project, {recursive: true, force: true});
  }
});

guide.run();
