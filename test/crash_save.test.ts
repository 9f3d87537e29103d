// Crash-safe saves: a child process saves a model with 64 MB of weights in a loop and is killed
// (SIGKILL) at increasing delays into a save; the folder must then hold no model.json, or one whose
// weights load completely and all come from one saved version, never one pointing at partial weights.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tfl from '@tensorflow/tfjs-layers';
import {spawn} from 'node:child_process';
import {existsSync, mkdtempSync, readdirSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {fileSystem} from '../src/io/file';
import {useBackend} from './helpers';

const CHILD = join(import.meta.dirname, 'fixtures', 'crash_save_child.ts');

/** Kill delays (ms) after the child reports `start <version>`: most within the ~0.3 s that the temporary files of a ~0.7 s save exist. */
const DELAYS = [0, 200, 350, 420, 480, 540, 600, 660, 720, 800];

/**
 * Starts the child saving into `dir`, waits for its `start <afterVersion>` line and `delay` ms more,
 * kills it with SIGKILL, and returns the versions it reported saved completely.
 */
function killMidSave(dir: string, afterVersion: number, delay: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir], {stdio: ['ignore', 'pipe', 'pipe']});
    const saved: number[] = [];
    let out = '', err = '', killing = false;
    child.stdout.on('data', chunk => {
      out += chunk;
      for (const m of out.matchAll(/saved (\d+)\n/g)) if (!saved.includes(+m[1])) saved.push(+m[1]);
      if (!killing && out.includes(`start ${afterVersion}\n`)) {
        killing = true;
        setTimeout(() => child.kill('SIGKILL'), delay);
      }
    });
    child.stderr.on('data', chunk => { err += chunk; });
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(saved);
      else reject(new Error(`the child exited (code ${code}) before it was killed: ${err}`));
    });
  });
}

const crash = suite('crash-safe saves');

crash('a save killed at any point leaves no model.json or a complete one (64 MB of weights, 10 kills)', async () => {
  await useBackend('cpu');
  const root = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-crash-'));
  let midSave = 0, loaded = 0;
  try {
    for (const [i, delay] of DELAYS.entries()) {
      // Odd runs kill the first save into an empty folder; even runs kill the second, over a saved model.
      const dir = join(root, `run${i}`);
      const afterVersion = i % 2 ? 1 : 2;
      const saved = await killMidSave(dir, afterVersion, delay);
      const what = `kill ${delay} ms after 'start ${afterVersion}'`;
      // The first save creates the folder: a kill before that leaves none.
      if (existsSync(dir) && readdirSync(dir).some(f => f.endsWith('.tmp'))) midSave++;
      const json = join(dir, 'model.json');
      if (!existsSync(json)) {
        assert.is(saved.length, 0, `${what}: version ${saved} was reported saved, but there is no model.json`);
        continue;
      }
      const model = await tfl.loadLayersModel(fileSystem(json));
      const values = model.getWeights().map(w => w.dataSync() as Float32Array);
      model.dispose();
      const version = values[0][0];
      assert.ok(Number.isInteger(version) && version >= 1, `${what}: weights hold version ${version}`);
      assert.ok(version >= Math.max(0, ...saved), `${what}: version ${version} is older than the last reported save`);
      assert.equal(values.map(v => v.length), [4096 * 4096, 4096], `${what}: weight sizes`);
      for (const v of values) {
        for (let j = 0; j < v.length; j++) {
          if (v[j] !== version) assert.unreachable(`${what}: weight ${j} is ${v[j]}, not version ${version}`);
        }
      }
      loaded++;
    }
  } finally {
    rmSync(root, {recursive: true, force: true});
  }
  // The kills must have hit saves in progress (temporary files left behind), and left loadable models.
  assert.ok(midSave >= 1, `no kill landed in the middle of a save (${midSave} of ${DELAYS.length})`);
  assert.ok(loaded >= 1, 'no run left a model to load');
});

crash.run();
