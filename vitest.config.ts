import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';
import { CHROMIUM_ARGS, findChromium } from './src/node/chromium.ts';
import { crossOriginIsolation, sharedAliases } from './vite.config.ts';

export default defineConfig({
  plugins: [crossOriginIsolation()],
  resolve: { alias: sharedAliases },
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
        extends: true,
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          globalSetup: ['test/browser/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          fileParallelism: false,
          browser: {
            enabled: true,
            headless: true,
            screenshotFailures: false,
            provider: playwright({
              launchOptions: { executablePath: findChromium(), args: [...CHROMIUM_ARGS] },
            }),
            instances: [{ browser: 'chromium' }],
          },
        },
      },
    ],
  },
});
