// Dual ESM/CJS bundles with one .d.ts; tfjs and Node built-ins stay external (peer dependencies).
import typescript from '@rollup/plugin-typescript';
import {dts} from 'rollup-plugin-dts';

const external = (id) => id.startsWith('@tensorflow/') || id.startsWith('node:');

export default [
  {
    input: 'src/index.ts',
    external,
    plugins: [typescript({tsconfig: './tsconfig.json', include: ['src/**/*.ts'], declaration: false,
                          outDir: undefined, compilerOptions: {outDir: undefined, declaration: false}})],
    output: [
      {file: 'dist/index.mjs', format: 'es', sourcemap: true},
      {file: 'dist/index.cjs', format: 'cjs', sourcemap: true, exports: 'named'},
    ],
  },
  {
    input: 'src/index.ts',
    external,
    plugins: [dts()],
    output: {file: 'dist/index.d.ts', format: 'es'},
  },
];
