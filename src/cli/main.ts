#!/usr/bin/env node
/**
 * The `tfjs-sparsity` command. Exit codes: 0 success, 1 the job failed, 2 bad usage (unknown
 * command or flag, bad value, missing file).
 */
import {Command, CommanderError} from 'commander';
import {runBench} from './bench_cmd';
import {runModelBench} from './bench_model_cmd';
import {runInspectChannels, runPruneChannels} from './channels_cmd';
import {runConvert} from './convert_cmd';
import {isGraphModelFile, runConvertGraph, runInspectGraph, runPruneGraph, runPruneGraphOneShot, runSensitivityGraph} from './graph_cmd';
import {runDemo} from './demo_cmd';
import {flagChoice, listFlag, parseBlock, parsePort, parsePositiveInt, parseSparsity, parseSparsityList} from './flags';
import {runInspect} from './inspect_cmd';
import {runPrune} from './prune_cmd';
import {runSensitivity} from './sensitivity_cmd';
import {DEFAULT_MODELS_DIR, runServe} from './serve_cmd';
import {isUsageError} from './usage';

export {parseBlock, parseSparsity};

/** Builds the program (its commands, their flags and the parsers that check them). */
function buildProgram(): Command {
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
      .description('one-shot pruning of a saved layers or graph model: by magnitude (like tfmot\'s prune_for_benchmark), with calibration data (Wanda, OBC; graph models: their 1x1 convolutions and matmuls), per-layer allocation and BatchNorm recalibration (layers models), with an HTML report, or whole channels (--structure channels)')
      .argument('<model.json>', 'path of a tfjs layers-model or graph model')
      .requiredOption('--sparsity <s>', 'target sparsity in [0, 1)', parseSparsity)
      .option('--block <HxW>', 'block size, e.g. 1x16 (Dense/rank-2 weights only)', parseBlock)
      .option('--pooling <type>', 'block pooling: avg or max', 'avg')
      .option('--structure <kind>', 'weights (zeros in place, default) or channels (remove whole channels: a smaller ' +
          'dense model, and shrink-report.json)', 'weights')
      .option('--score <score>', 'with --structure channels: channel score l1, l2 or batchNormScale', 'l1')
      .option('--method <m>', 'magnitude, wanda or obc (default: obc with --calibration, else magnitude)')
      .option('--calibration <data>', "calibration samples: 'mnist' (the digits of the `mnist` package) or a .npy file")
      .option('--samples <n>', 'calibration samples to use', parsePositiveInt, 256)
      .option('--allocation <a>', 'uniform, erk or sensitivity; with --structure channels: uniform (each layer) or ' +
          'global (ranked over the model)', 'uniform')
      .option('--recalibrate-bn', 're-estimate BatchNormalization statistics on the calibration data')
      .option('--quiet', 'no progress bars')
      .requiredOption('--out <dir>', 'folder to write the pruned model (and its report) to')
      .action(async (path, opts) => {
        if (flagChoice(opts.structure, ['weights', 'channels'], '--structure') === 'channels') await runPruneChannels(path, opts);
        else if (!isGraphModelFile(path)) await runPrune(path, opts);
        else if (opts.method !== undefined || opts.calibration !== undefined || opts.allocation !== 'uniform' || opts.recalibrateBn) {
          await runPruneGraphOneShot(path, opts);
        } else await runPruneGraph(path, opts);
      });

  program.command('sensitivity')
      .description('per-layer sensitivity of a saved layers-model (or graph model: its 1x1 convolutions and matmuls): prune one layer at a time and measure how far the outputs move; writes sensitivity.json and an HTML report with the curves')
      .argument('<model.json>', 'path of a tfjs layers-model or graph model')
      .option('--data <data>', "samples: 'mnist' (the digits of the `mnist` package) or a .npy file", 'mnist')
      .option('--samples <n>', 'samples to use', parsePositiveInt, 256)
      .option('--sparsities <list>', 'comma-separated sparsities, e.g. 0.5,0.8,0.9', parseSparsityList)
      .option('--metric <m>', 'kl, mse or top1', 'kl')
      .option('--method <m>', 'how each layer is pruned: magnitude, wanda or obc', 'magnitude')
      .option('--out <dir>', 'output folder', 'tfjs-sparsity-sensitivity')
      .option('--json', 'print the result as JSON')
      .option('--quiet', 'no progress bars')
      .action((path, opts) => (isGraphModelFile(path) ? runSensitivityGraph(path, opts) : runSensitivity(path, opts)));

  program.command('inspect')
      .description('per-layer sparsity table of a saved layers-model or graph model (pruned, stripped or sparse)')
      .argument('<model.json>', 'path of a tfjs layers-model or graph model')
      .option('--json', 'print JSON instead of a table')
      .option('--channels', 'per-layer channel counts before and after channel removal (shrinkModel)')
      .action((path, opts) => (opts.channels ? runInspectChannels(path, opts) :
          isGraphModelFile(path) ? runInspectGraph(path, opts) : runInspect(path, opts)));

  program.command('convert')
      .description('convert a pruned or stripped model to a compact block-sparse model (toSparse)')
      .argument('<model.json>', 'path of a tfjs layers-model')
      .option('--dtype <dtype>', 'float32 or int8', 'float32')
      .option('--min-sparsity <s>', 'leave layers below this sparsity dense', parseSparsity)
      .option('--block <HxW>', 'block shape for the sparse format (default: from the pruning, or chosen)', parseBlock)
      .requiredOption('--out <dir>', 'folder to write the sparse model to')
      .action((path, opts) => (isGraphModelFile(path) ? runConvertGraph(path, opts) : runConvert(path, opts)));

  program.command('bench')
      .description('block-size trade-off harness: kernel speedup, model size and MNIST accuracy per block shape and sparsity')
      .option('--out <dir>', 'output folder', 'tfjs-sparsity-bench')
      .option('--quick', 'a small subset (3 block shapes, 2 sparsities, 1 fine-tuning epoch)')
      .option('--blocks <list>', 'comma-separated block shapes, e.g. 1x1,1x16')
      .option('--sparsities <list>', 'comma-separated sparsities, e.g. 0.5,0.9')
      .option('--quiet', 'no progress bars')
      .option('--model <model.json>', 'run the harness on this layers or graph model instead of the MNIST demo: one-shot ' +
          'pruning per block shape and sparsity, end-to-end latency, bytes and per-layer results')
      .option('--runs <n>', 'with --model: timed calls per configuration (median)', parsePositiveInt, 20)
      .action(async (opts) => {
        if (opts.model === undefined) {
          await runBench(opts);
          return;
        }
        await runModelBench({model: opts.model, out: opts.out, quick: opts.quick, runs: opts.runs,
          blocks: listFlag(opts.blocks, parseBlock, '--blocks'), sparsities: listFlag(opts.sparsities, parseSparsity, '--sparsities')});
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
  // demo is the default command: without this check a mistyped command would reach it as an argument.
  const commands = program.commands.map(c => c.name());
  if (argv.length > 0 && !argv[0].startsWith('-') && !commands.includes(argv[0])) {
    console.error(`error: unknown command '${argv[0]}' (commands: ${commands.join(', ')})`);
    return 2;
  }
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
