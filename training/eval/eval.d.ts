// Types live in eval.d.mts (TypeScript resolves a .mjs import to .d.mts); this file serves tools that look for .d.ts.
export * from './eval.mjs';
