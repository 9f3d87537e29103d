#!/usr/bin/env node
/**
 * The `tfjs-sparsity` command. Exit codes: 0 success, 1 the job failed, 2 bad usage (unknown
 * command or flag, bad value, missing file).
 */
import {Command, CommanderError, InvalidArgumentError} from 'commander';
import {runBench} from './bench';
import {runConvert} from './convert';
import {runDemo} from './demo';
import {runInspect} from './inspect';
import {runPrune} from './prune_cmd';
import {runSensitivity} from './sensitivity_cmd';
import {DEFAULT_MODELS_DIR, runServe} from './serve_cmd';
import {isUsageError} from './usage';

/** Parses a fraction in [0, 1) for --sparsity style flags. */
export function parseSparsity(value: string): number {
  const s = Number(value);
  if (value.trim() === '' || !(s >= 0 && s < 1)) throw new InvalidArgumentError('must be a number in [0, 1), e.g. 0.8');
  return s;
}

/** Parses a block size written `HxW` (e.g. 1x16). */
export function parseBlock(value: string): [number, number] {
  const m = /^(\d+)x(\d+)$/.exec(value.trim());
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) {
    throw new InvalidArgumentError('must be HEIGHTxWIDTH with positive integers, e.g. 1x16');
  }
  return [Number(m[1]), Number(m[2])];
}

function parseSparsityList(value: string): number[] {
  return value.split(',').map(parseSparsity);
}

function parsePort(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0 || n > 65535) {
    throw new InvalidArgumentError('must be an integer in [0, 65535] (0 picks a free port)');
  }
  return n;
}

function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

/** Builds the program; exported so tests can run commands in-process. */
export function buildProgram(): Command {
  const program = new Command('tfjs-sparsity')
      .description('Magnitude pruning (tfmot.sparsity.keras) and sparse inference for TensorFlow.js')
      .exitOverride()
      .showHelpAfterError('(add --help for usage)');

  program.command('demo', {isDefault: true})
      .description('train, prune (80% and 90% with 1x16 blocks), strip and sparsify a CNN on the MNIST digits shipped by the `mnist` package; writes TensorBoard logs and an HTML report')
      .option('--out <dir>', 'output folder', 'tfjs-sparsity-demo')
      .option('--epochs <n>', 'dense training epochs', parsePositiveInt, 5)
      .option('--finetune-epochs <n>', 'pruning/fine-tuning epochs per run', parsePositiveInt, 4)
      .option('--quiet', 'no progress bars')
      .action(async (opts) => {
        await runDemo(opts);
      });

  program.command('prune')
      .description('one-shot pruning of a saved layers-model: by magnitude (like tfmot\'s prune_for_benchmark), or with calibration data (Wanda, OBC), per-layer allocation and BatchNorm recalibration, with an HTML report')
      .argument('<model.json>', 'path of a tfjs layers-model')
      .requiredOption('--sparsity <s>', 'target sparsity in [0, 1)', parseSparsity)
      .option('--block <HxW>', 'block size, e.g. 1x16 (Dense/rank-2 weights only)', parseBlock)
      .option('--pooling <type>', 'block pooling: avg or max', 'avg')
      .option('--method <m>', 'magnitude, wanda or obc (default: obc with --calibration, else magnitude)')
      .option('--calibration <data>', "calibration samples: 'mnist' (the digits of the `mnist` package) or a .npy file")
      .option('--samples <n>', 'calibration samples to use', parsePositiveInt, 256)
      .option('--allocation <a>', 'uniform, erk or sensitivity', 'uniform')
      .option('--recalibrate-bn', 're-estimate BatchNormalization statistics on the calibration data')
      .option('--quiet', 'no progress bars')
      .requiredOption('--out <dir>', 'folder to write the pruned model (and report.html) to')
      .action(runPrune);

  program.command('sensitivity')
      .description('per-layer sensitivity of a saved layers-model: prune one layer at a time and measure how far the outputs move; writes sensitivity.json and an HTML report with the curves')
      .argument('<model.json>', 'path of a tfjs layers-model')
      .option('--data <data>', "samples: 'mnist' (the digits of the `mnist` package) or a .npy file", 'mnist')
      .option('--samples <n>', 'samples to use', parsePositiveInt, 256)
      .option('--sparsities <list>', 'comma-separated sparsities, e.g. 0.5,0.8,0.9', parseSparsityList)
      .option('--metric <m>', 'kl, mse or top1', 'kl')
      .option('--method <m>', 'how each layer is pruned: magnitude, wanda or obc', 'magnitude')
      .option('--out <dir>', 'output folder', 'tfjs-sparsity-sensitivity')
      .option('--json', 'print the result as JSON')
      .option('--quiet', 'no progress bars')
      .action(runSensitivity);

  program.command('inspect')
      .description('per-layer sparsity table of a saved layers-model (pruned, stripped or sparse)')
      .argument('<model.json>', 'path of a tfjs layers-model')
      .option('--json', 'print JSON instead of a table')
      .action(runInspect);

  program.command('convert')
      .description('convert a pruned or stripped model to a compact block-sparse model (toSparse)')
      .argument('<model.json>', 'path of a tfjs layers-model')
      .option('--dtype <dtype>', 'float32 or int8', 'float32')
      .option('--min-sparsity <s>', 'leave layers below this sparsity dense', parseSparsity)
      .option('--block <HxW>', 'block shape for the sparse format (default: from the pruning, or chosen)', parseBlock)
      .requiredOption('--out <dir>', 'folder to write the sparse model to')
      .action(runConvert);

  program.command('bench')
      .description('block-size trade-off harness: kernel speedup, model size and MNIST accuracy per block shape and sparsity')
      .option('--out <dir>', 'output folder', 'tfjs-sparsity-bench')
      .option('--quick', 'a small subset (3 block shapes, 2 sparsities, 1 fine-tuning epoch)')
      .option('--blocks <list>', 'comma-separated block shapes, e.g. 1x1,1x16')
      .option('--sparsities <list>', 'comma-separated sparsities, e.g. 0.5,0.9')
      .option('--quiet', 'no progress bars')
      .action(async (opts) => {
        await runBench(opts);
      });

  program.command('serve')
      .description('serve the demo page on 127.0.0.1: draw or pick MNIST digits, compare a dense and a sparse model\'s predictions and latencies in the browser (runs until Ctrl-C)')
      .option('--port <n>', 'port to listen on (0 picks a free one)', parsePort, 8080)
      .option('--models <dir>', 'models folder written by `tfjs-sparsity demo`', DEFAULT_MODELS_DIR)
      .action(runServe);

  return program;
}

/** Runs the command line and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, {from: 'user'});
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.exitCode === 0) return 0;
      return 2;
    }
    if (isUsageError(e)) {
      console.error(`error: ${e.message}`);
      return 2;
    }
    console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}
