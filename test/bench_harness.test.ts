// The block-size trade-off harness (`tfjs-sparsity bench`) on a one-point subset, run as the built binary.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {BenchResult, paretoFront, runBench} from '../src/cli/bench_cmd';
import {runCli} from './spawn';

const harness = suite('tfjs-sparsity bench');

harness('paretoFront keeps the points no other point beats on both latency and accuracy', () => {
  const points = [{x: 1, y: 0.9}, {x: 2, y: 0.95}, {x: 2.5, y: 0.93}, {x: 3, y: 0.97}, {x: 0.5, y: 0.5}, {x: 3, y: 0.96}];
  assert.equal(paretoFront(points), [{x: 0.5, y: 0.5}, {x: 1, y: 0.9}, {x: 2, y: 0.95}, {x: 3, y: 0.97}]);
  assert.equal(paretoFront([]), []);
});

harness('bad --blocks and --sparsities are usage errors naming the flag', async () => {
  for (const [opts, pattern] of [[{blocks: '1x0'}, /--blocks: '1x0' must be HEIGHTxWIDTH/],
                                  [{sparsities: '0.5,1'}, /--sparsities: '1' must be a number in \[0, 1\)/]] as const) {
    try {
      await runBench({out: join(tmpdir(), 'never-written'), ...opts});
      assert.unreachable('runBench accepted a bad flag');
    } catch (e) {
      assert.is((e as Error).name, 'UsageError');
      assert.match((e as Error).message, pattern);
    }
  }
});

harness('tfjs-sparsity bench (the built binary) measures speedup, bytes and accuracy and writes JSON and the report', async () => {
  const out = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-bench-'));
  try {
    const r = await runCli(['bench', '--quick', '--blocks', '1x16', '--sparsities', '0.9', '--quiet', '--out', out]);
    assert.is(r.code, 0, r.stderr);
    const result = JSON.parse(readFileSync(join(out, 'bench.json'), 'utf8')) as BenchResult;
    assert.is(result.points.length, 1);
    const [p] = result.points;
    assert.is(p.block, '1x16');
    assert.is(p.sparsity, 0.9);
    assert.ok(p.speedupBatch1 > 0 && p.speedupBatch32 > 0);
    assert.ok(p.modelBytes * 4 < result.denseBytes, `${p.modelBytes} vs ${result.denseBytes}`);
    assert.ok(p.accuracy > 0.5 && result.denseAccuracy > 0.85, `${p.accuracy} / ${result.denseAccuracy}`);
    assert.equal(result.layerShape, [2028, 256]);
    assert.match(r.stdout, new RegExp(`1x16@0\\.9: kernel ${p.speedupBatch1.toFixed(2).replace('.', '\\.')}x \\(batch 1\\)`));
    assert.match(r.stdout, /results: .*bench\.json\nreport: {2}.*report\.html/);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    assert.is((html.match(/<canvas /g) ?? []).length, 4);
    assert.match(html, /Pareto front/);
  } finally {
    rmSync(out, {recursive: true, force: true});
  }
});

harness.run();
