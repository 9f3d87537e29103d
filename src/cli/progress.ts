/** Progress bars for one-shot pruning and sensitivity analysis (stderr, so tables on stdout stay clean). */
import cliProgress from 'cli-progress';
import type {OneShotProgress} from '../index';

const STAGE_LABELS: Record<OneShotProgress['stage'], string> = {
  statistics: 'activations', solve: 'pruning', sensitivity: 'sensitivity', batchNorm: 'batchnorm',
};

/**
 * An `onProgress` callback drawing one bar per stage (a new bar when the stage changes), and a
 * `stop` that ends the last one. Disabled, both do nothing.
 */
export function oneShotProgressBar(enabled: boolean): {onProgress: (e: OneShotProgress) => void; stop: () => void} {
  let bar: cliProgress.SingleBar|null = null;
  let stage = '';
  const stop = () => {
    bar?.stop();
    bar = null;
    stage = '';
  };
  const onProgress = (e: OneShotProgress) => {
    if (!enabled) return;
    // Statistics passes report samples with no known total: one bar per layer pass, counting samples.
    const key = e.stage === 'statistics' ? `${e.stage}:${e.layer ?? ''}` : e.stage;
    if (key !== stage) {
      stop();
      stage = key;
      bar = new cliProgress.SingleBar({
        format: `${STAGE_LABELS[e.stage].padEnd(11)} [{bar}] {value}${e.total ? '/{total}' : ' samples'} {layer}`,
        stream: process.stderr, hideCursor: true, clearOnComplete: false,
        // Piped to a log, a line every few seconds (and the final one) instead of nothing.
        noTTYOutput: true, notTTYSchedule: 5000,
      }, cliProgress.Presets.shades_classic);
      bar.start(e.total || e.done, 0, {layer: ''});
    }
    if (!e.total && bar != null && e.done > bar.getTotal()) bar.setTotal(e.done);
    bar?.update(e.done, {layer: e.layer ?? ''});
  };
  return {onProgress, stop};
}
