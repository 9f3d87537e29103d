// Every benchmark in bench/, each in its own process, in reading order: the kernels (threshold,
// pooling, block-sparse and pixel matmuls, convolutions), then training, then deployment on the MNIST
// digits, then the browser, then the real pretrained models (fetched once into bench/.cache/ by
// models.ts), one-shot pruning, threads and the relaxed-SIMD build. Output goes to the terminal as each bench prints it; a table of wall times closes the run.
//
//   npm run bench                          every bench and every mode, full settings
//   npm run bench -- --quick               a smoke run: each bench once, with its smallest settings
//   npm run bench -- --only=spmm,pool      the benches whose names are listed (names: --list)
//   npm run bench -- --list                the benches, with what each runs
import {spawnSync} from 'node:child_process';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

/** One bench run: a file of bench/ with its arguments and environment, in full and in quick mode. */
export interface BenchRun {
  name: string;
  file: string;
  args?: string[];
  env?: Record<string, string>;
  /** The quick run's arguments and environment; `null`: not part of the quick run (a mode of a bench already in it). */
  quick: {args?: string[]; env?: Record<string, string>}|null;
}

// bench/channels.ts leaves its models here for bench/channels_browser.ts.
const CHANNELS_SAVE = {SAVE: '/tmp/tfjs-sparsity-channels'};

/** Every bench, in the order they run. */
export const BENCH_RUNS: BenchRun[] = [
  {name: 'select', file: 'select.ts', quick: {}},
  {name: 'dispatch', file: 'dispatch.ts', quick: {args: ['--nt']}},
  {name: 'pool', file: 'pool.ts', quick: {}},
  {name: 'spmm', file: 'spmm.ts', quick: {args: ['--quick']}},
  {name: 'spmm-int8', file: 'spmm.ts', args: ['--int8'], quick: null},
  {name: 'spmm-dense', file: 'spmm.ts', args: ['--dense'], quick: null},
  {name: 'spmm-thresholds', file: 'spmm.ts', args: ['--thresholds'], quick: null},
  {name: 'pixel', file: 'pixel.ts', quick: {args: ['--only=^conv1x1 P=784']}},
  {name: 'pixel-thresholds', file: 'pixel.ts', args: ['--thresholds'], quick: null},
  {name: 'pixel-tiles', file: 'pixel.ts', args: ['--tiles'], quick: null},
  {name: 'pixel-depthwise', file: 'pixel.ts', args: ['--depthwise'], quick: null},
  {name: 'conv', file: 'conv.ts', quick: {env: {SHAPES: '[[1,16,16,64,64,3]]'}}},
  {name: 'train', file: 'train.ts', quick: {env: {ROUNDS: '1', STEPS: '2'}}},
  {name: 'deploy', file: 'deploy.ts', quick: {env: {EPOCHS: '1', FINETUNE: '1', ROUNDS: '3'}}},
  {name: 'channels', file: 'channels.ts', env: CHANNELS_SAVE, quick: {env: {...CHANNELS_SAVE, EPOCHS: '1', FINETUNE: '1'}}},
  {name: 'channels-browser', file: 'channels_browser.ts', env: CHANNELS_SAVE, quick: {env: {...CHANNELS_SAVE, ROUNDS: '2'}}},
  {name: 'browser', file: 'browser.ts', quick: {}},
  {name: 'models', file: 'models.ts', quick: {}},
  {name: 'mobilenet', file: 'mobilenet.ts', quick: {args: ['--runs=1']}},
  {name: 'mobilenet-browser', file: 'mobilenet.ts', args: ['--browser'], quick: null},
  {name: 'mobilenet-channels', file: 'mobilenet_channels.ts', quick: {env: {ROUNDS: '1'}}},
  {name: 'graph-models', file: 'graph_models.ts', quick: {args: ['--runs=1']}},
  {name: 'graph-models-browser', file: 'graph_models.ts', args: ['--browser'], quick: null},
  {name: 'one-shot', file: 'one_shot.ts', quick: {args: ['--quick']}},
  {name: 'one-shot-nsfw', file: 'one_shot_nsfw.ts', quick: {args: ['--calibration', '16', '--eval', '16']}},
  {name: 'graph-one-shot', file: 'graph_one_shot.ts', quick: {args: ['--calibration', '16', '--eval', '8', '--sparsities', '0.5']}},
  // Threads scale only on idle cores; the bench prints the load average beside its numbers.
  {name: 'threads', file: 'threads.ts', quick: {}},
  {name: 'threads-sweep', file: 'threads.ts', args: ['--sweep'], quick: null},
  {name: 'threads-model', file: 'threads.ts', args: ['--model'], quick: null},
  {name: 'threads-browser', file: 'threads.ts', args: ['--browser', '--sweep'], quick: null},
  // Chromium has relaxed SIMD; Node 22's run (`npx -y node@22.23.3 --import tsx bench/relaxed.ts --node`)
  // needs another Node than the one running this runner.
  {name: 'relaxed', file: 'relaxed.ts', quick: {}},
  {name: 'relaxed-dot', file: 'relaxed.ts', args: ['--dot'], quick: null},
];

/** The files of bench/ that are not benches: shared plumbing, and this runner. */
export const BENCH_HELPERS = ['util.ts', 'page.ts', 'run.ts'];

/** The runs `argv` asks for (`--quick`, `--only=a,b`), with their final arguments and environment. */
export function selectRuns(argv: string[]): Array<{name: string; file: string; args: string[]; env: Record<string, string>}> {
  const quick = argv.includes('--quick');
  const onlyFlag = argv.find(a => a.startsWith('--only='));
  const only = onlyFlag === undefined ? undefined : onlyFlag.slice('--only='.length).split(',').filter(Boolean);
  const unknown = (only ?? []).filter(name => !BENCH_RUNS.some(r => r.name === name));
  if (unknown.length > 0) {
    throw new Error(`--only: unknown bench ${unknown.join(', ')}; the benches are ${BENCH_RUNS.map(r => r.name).join(', ')}`);
  }
  const flags = argv.filter(a => a !== '--quick' && !a.startsWith('--only=') && a !== '--list');
  if (flags.length > 0) throw new Error(`unknown argument ${flags.join(' ')} (use --quick, --only=a,b or --list)`);
  return BENCH_RUNS.filter(r => (only ? only.includes(r.name) : !quick || r.quick !== null)).map(r => {
    const mode = quick && r.quick !== null ? r.quick : r;
    return {name: r.name, file: r.file, args: mode.args ?? r.args ?? [], env: {...r.env, ...mode.env}};
  });
}

function main(argv: string[]): number {
  const runs = selectRuns(argv);
  if (argv.includes('--list')) {
    for (const r of runs) console.log(`${r.name}: node --import tsx bench/${r.file} ${r.args.join(' ')} ${JSON.stringify(r.env)}`);
    return 0;
  }
  const dir = dirname(fileURLToPath(import.meta.url));
  const results: Array<{name: string; seconds: number; status: string}> = [];
  for (const r of runs) {
    const env = Object.entries(r.env).map(([k, v]) => `${k}=${v} `).join('');
    console.log(`\n## ${r.name}: ${env}node --import tsx bench/${r.file} ${r.args.join(' ')}\n`);
    const started = performance.now();
    const child = spawnSync(process.execPath, ['--import', 'tsx', join(dir, r.file), ...r.args],
                            {stdio: 'inherit', env: {...process.env, ...r.env}});
    const status = child.error ? child.error.message : child.status === 0 ? 'ok' : `exit ${child.status ?? child.signal}`;
    results.push({name: r.name, seconds: (performance.now() - started) / 1000, status});
  }
  console.log('\n| bench | seconds | status |\n|---|---|---|');
  for (const r of results) console.log(`| ${r.name} | ${r.seconds.toFixed(0)} | ${r.status} |`);
  return results.every(r => r.status === 'ok') ? 0 : 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    process.exitCode = 2;
  }
}
