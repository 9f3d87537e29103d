// src/kernels/exports.ts's `KernelExports` against the module it types: the exports the build compiled
// from assembly/ (names), and their AssemblyScript signatures (parameters and result), so the bridge
// cannot call a kernel with a stale argument list.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {readdirSync, readFileSync} from 'node:fs';
import ts from 'typescript';
import {kernelModule} from '../src/kernels/module';

const root = new URL('..', import.meta.url);

/** A function signature: parameter names and whether it returns a value. */
interface Signature {params: string[]; returns: boolean}

/** The `KernelExports` members of src/kernels/exports.ts, read with the TypeScript compiler. */
function interfaceSignatures(): Map<string, Signature> {
  const file = ts.createSourceFile('exports.ts', readFileSync(new URL('src/kernels/exports.ts', root), 'utf8'),
      ts.ScriptTarget.ES2020, true);
  const out = new Map<string, Signature>();
  file.forEachChild(node => {
    if (!ts.isInterfaceDeclaration(node) || node.name.text !== 'KernelExports') return;
    for (const member of node.members) {
      if (!ts.isMethodSignature(member)) continue;
      out.set(member.name.getText(file), {params: member.parameters.map(p => p.name.getText(file)),
        returns: member.type?.kind !== ts.SyntaxKind.VoidKeyword});
    }
  });
  return out;
}

/** The exported functions of assembly/*.ts: `export function name(params): type {`. */
function assemblySignatures(): Map<string, Signature> {
  const out = new Map<string, Signature>();
  for (const name of readdirSync(new URL('assembly/', root)).filter(f => f.endsWith('.ts'))) {
    const source = readFileSync(new URL(`assembly/${name}`, root), 'utf8');
    for (const m of source.matchAll(/^export function (\w+)\(([^)]*)\):\s*(\w+)/gm)) {
      const params = m[2].split(',').map(p => p.trim()).filter(p => p !== '').map(p => p.split(':')[0].trim());
      out.set(m[1], {params, returns: m[3] !== 'void'});
    }
  }
  return out;
}

const exportsSuite = suite('KernelExports');

exportsSuite('names every function the compiled module exports, and nothing else', () => {
  const compiled = WebAssembly.Module.exports(kernelModule()).filter(e => e.kind === 'function').map(e => e.name).sort();
  assert.ok(compiled.length > 40, `the module exports ${compiled.length} functions`);
  assert.equal([...interfaceSignatures().keys()].sort(), compiled);
});

exportsSuite('each member has its AssemblyScript export\'s parameters, in order, and result', () => {
  const asm = assemblySignatures();
  const mismatched: string[] = [];
  for (const [name, sig] of interfaceSignatures()) {
    const want = asm.get(name);
    if (want == null) mismatched.push(`${name}: no such export in assembly/`);
    else if (want.params.join() !== sig.params.join() || want.returns !== sig.returns) {
      mismatched.push(`${name}: exports.ts (${sig.params.join(', ')}) => ${sig.returns ? 'number' : 'void'}, ` +
          `assembly (${want.params.join(', ')}) => ${want.returns ? 'number' : 'void'}`);
    }
  }
  assert.equal(mismatched, []);
});

exportsSuite('the signature readers see a mismatch (a check that can fail)', () => {
  const asm = assemblySignatures();
  const one = asm.get('f32_count_nonzero__simd128');
  assert.equal(one, {params: ['src', 'n'], returns: true});
  assert.equal(interfaceSignatures().get('f32_count_nonzero__simd128'), one);
  assert.is.not(interfaceSignatures().get('f32_apply_mask__simd128')?.params.join(), ['src', 'n'].join());
});

exportsSuite.run();
