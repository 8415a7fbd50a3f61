import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';
import { CHROMIUM_ARGS, findChromium } from './src/node/chromium.ts';
import { crossOriginIsolation } from './vite.config.ts';

export default defineConfig({
  plugins: [crossOriginIsolation()],
  // mediabunny and comlink pre-bundled up front: discovering them mid-run makes Vite reload the test page.
  optimizeDeps: { exclude: ['onnxruntime-web'], include: ['mediabunny', 'comlink'] },
  test: {
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'node',
          environment: 'node',
          include: ['test/node/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
      {
        // The reliability suite's Node half: the catalogue of bad inputs, its doc check, and the faults
        // that need no browser (test/reliability/README.md). Its browser half runs in the browser project.
        extends: true,
        test: {
          name: 'reliability',
          environment: 'node',
          include: ['test/reliability/**/*.test.ts'],
          exclude: ['test/reliability/browser/**'],
          testTimeout: 60_000,
        },
      },
      {
        // Cross-language checks: the Python converter's output run by kinema's component runner and held to
        // the converter's PyTorch modules (needs /usr/bin/python3 with torch, onnx and numpy; skips loudly without).
        extends: true,
        test: {
          name: 'convert',
          environment: 'node',
          include: ['test/convert/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
      {
        // The packed tarball installed into a fresh Vite app (needs `npm run build` first; npm test does it).
        extends: true,
        test: {
          name: 'packaging',
          environment: 'node',
          include: ['test/packaging/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts', 'test/reliability/browser/**/*.test.ts'],
          globalSetup: ['test/browser/global-setup.ts', 'test/browser/wan-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          fileParallelism: false,
          browser: {
            enabled: true,
            headless: true,
            screenshotFailures: false,
            provider: playwright({
              // --expose-gc and precise memory info: the soak test reads the heap after a full GC.
              launchOptions: { executablePath: findChromium(), args: [...CHROMIUM_ARGS, '--js-flags=--expose-gc', '--enable-precise-memory-info'] },
            }),
            instances: [{ browser: 'chromium' }],
          },
        },
      },
    ],
  },
});
