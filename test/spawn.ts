// The `tfjs-sparsity` command as a user runs it: the built binary in its own process, directly
// (`node dist/cli.mjs`) or through the package's `bin` (`npx --no-install tfjs-sparsity`).
import {execFileSync, spawn} from 'node:child_process';
import {readdirSync, statSync} from 'node:fs';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';

/** The package's root folder. */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The built command (package.json `bin`). */
export const CLI = join(ROOT, 'dist', 'cli.mjs');

/** Result of one run of the command. */
export interface CliRun {
  code: number|null;
  signal: NodeJS.Signals|null;
  stdout: string;
  stderr: string;
}

function newestMtime(path: string): number {
  const stats = statSync(path);
  if (!stats.isDirectory()) return stats.mtimeMs;
  return Math.max(0, ...readdirSync(path).map(name => newestMtime(join(path, name))));
}

let built = false;

/**
 * Builds dist/ (`npm run build`) when any source is newer than the built command, so spawned tests
 * never run a stale build.
 */
export function ensureBuilt(): void {
  if (built) return;
  const sources = Math.max(...['src', 'assembly', 'rollup.config.mjs', 'package.json'].map(p => newestMtime(join(ROOT, p))));
  let outputs = 0;
  try {
    outputs = Math.min(...['cli.mjs', 'index.mjs', 'tfjs-sparsity.browser.mjs'].map(f => statSync(join(ROOT, 'dist', f)).mtimeMs));
  } catch {
    outputs = 0;  // not built yet
  }
  if (outputs < sources) execFileSync('npm', ['run', 'build'], {cwd: ROOT, stdio: 'ignore'});
  built = true;
}

/** Options of `runCli`. */
export interface RunOptions {
  /** 'node' runs `node dist/cli.mjs`; 'npx' runs the package's bin as `npx --no-install tfjs-sparsity`. */
  via?: 'node'|'npx';
  /** Working folder; default the package root (where `npx` finds the package's own bin). */
  cwd?: string;
  /** Extra `node` flags (e.g. `--import` of a test fixture). */
  nodeArgs?: string[];
  /**
   * Called with stdout as it grows, and a function that sends SIGINT (Ctrl-C): for a command that
   * runs until stopped, such as serve.
   */
  onStdout?: (stdout: string, interrupt: () => void) => void;
}

/** Runs the command with `args` in a child process and collects its exit code and output. */
export function runCli(args: string[], {via = 'node', cwd = ROOT, nodeArgs = [], onStdout}: RunOptions = {}): Promise<CliRun> {
  ensureBuilt();
  const [command, argv] = via === 'npx' ?
      ['npx', ['--no-install', 'tfjs-sparsity', ...args]] : [process.execPath, [...nodeArgs, CLI, ...args]];
  return new Promise((done, fail) => {
    // NODE_OPTIONS may carry the test runner's loader (tsx), FORCE_COLOR its colours: the command
    // must run as a user runs it, its output piped.
    const env = {...process.env, NODE_OPTIONS: '', FORCE_COLOR: '0'};
    const child = spawn(command, argv, {cwd, env, stdio: ['ignore', 'pipe', 'pipe']});
    let stdout = '', stderr = '';
    const interrupt = () => { child.kill('SIGINT'); };
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      onStdout?.(stdout, interrupt);
    });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.on('error', fail);
    child.on('close', (code, signal) => done({code, signal, stdout, stderr}));
  });
}
