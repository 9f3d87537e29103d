/**
 * The browser entry of tfjs-sparsity (`dist/tfjs-sparsity.browser.mjs`): everything but the parts
 * that write files (TensorBoard summaries, the `file://` handler), which `index.ts` adds for Node.
 * The bundle imports only `@tensorflow/*` packages (the build fails on anything else), so a page
 * loads it through an import map with no bundler; await `ready()` before the first op.
 */
export * from './common';
