// The kernel module's exports: one line per kernel family (DESIGN §1).
export * from './mask';
