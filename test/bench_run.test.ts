// `npm run bench` (bench/run.ts) runs every bench in bench/, and its flags pick what they say.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {readdirSync} from 'node:fs';
import {BENCH_HELPERS, BENCH_RUNS, selectRuns} from '../bench/run';

const runner = suite('bench/run.ts');

runner('every file of bench/ is a bench the runner runs, or a helper', () => {
  const files = readdirSync(new URL('../bench/', import.meta.url)).filter(f => f.endsWith('.ts'));
  const run = new Set(BENCH_RUNS.map(r => r.file));
  assert.equal(files.filter(f => !run.has(f) && !BENCH_HELPERS.includes(f)), []);
  assert.equal([...run].filter(f => !files.includes(f)), [], 'runs of files that do not exist');
  assert.is(new Set(BENCH_RUNS.map(r => r.name)).size, BENCH_RUNS.length, 'bench names are unique');
});

runner('the full run has every bench and mode; --quick each bench file once, with its quick settings', () => {
  assert.equal(selectRuns([]).map(r => r.name), BENCH_RUNS.map(r => r.name));
  const quick = selectRuns(['--quick']);
  assert.equal(quick.map(r => r.file).sort(), [...new Set(BENCH_RUNS.map(r => r.file))].sort());
  assert.equal(quick.find(r => r.name === 'spmm')!.args, ['--quick']);
  assert.equal(quick.find(r => r.name === 'deploy')!.env, {EPOCHS: '1', FINETUNE: '1', ROUNDS: '3'});
  // channels_browser reads the models channels writes, in both modes.
  for (const runs of [selectRuns([]), quick]) {
    const names = runs.map(r => r.name);
    assert.ok(names.indexOf('channels') < names.indexOf('channels-browser'));
    assert.is(runs.find(r => r.name === 'channels')!.env.SAVE, runs.find(r => r.name === 'channels-browser')!.env.SAVE);
    assert.ok(names.indexOf('models') < names.indexOf('mobilenet'), 'models.ts fetches the models first');
    assert.ok(names.indexOf('models') < names.indexOf('one-shot-nsfw'), 'models.ts fetches the models first');
  }
});

runner('--only picks benches by name, in run order; unknown names and flags are refused', () => {
  assert.equal(selectRuns(['--only=pool,select']).map(r => r.name), ['select', 'pool']);
  assert.equal(selectRuns(['--only=spmm-int8']).map(r => r.args), [['--int8']]);
  assert.throws(() => selectRuns(['--only=spmm,nope']), /--only: unknown bench nope; the benches are select, dispatch, pool/);
  assert.throws(() => selectRuns(['--fast']), /unknown argument --fast \(use --quick, --only=a,b or --list\)/);
});

runner.run();
