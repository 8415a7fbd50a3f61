// Types live in detector.d.mts (TypeScript resolves a .mjs import to .d.mts); this file serves tools that look for .d.ts.
export * from './detector.mjs';
