import { defineConfig, type Plugin } from 'vite';
import { resolve } from 'node:path';

/** COOP/COEP on every response, so the page is cross-origin isolated and wasm can use threads. */
export function crossOriginIsolation(): Plugin {
  const headers = (res: { setHeader(name: string, value: string): void }) => {
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  };
  return {
    name: 'kinema-cross-origin-isolation',
    configureServer(server) {
      server.middlewares.use((_req, res, next) => { headers(res); next(); });
    },
    configurePreviewServer(server) {
      server.middlewares.use((_req, res, next) => { headers(res); next(); });
    },
  };
}

const root = import.meta.dirname;

export default defineConfig(({ mode }) => {
  const shared = {
    plugins: [crossOriginIsolation()],
    optimizeDeps: { exclude: ['onnxruntime-web'] },
    worker: { format: 'es' as const },
  };
  if (mode === 'lib') {
    // The npm package: ESM entry points; the worker and the runtime's wasm files are emitted as assets.
    return {
      ...shared,
      publicDir: false as const,
      build: {
        outDir: 'dist',
        emptyOutDir: false,
        target: 'es2022',
        sourcemap: true,
        lib: {
          entry: { kinema: resolve(root, 'src/index.ts') },
          formats: ['es' as const],
        },
        rollupOptions: { external: [] },
      },
    };
  }
  // The demo page (npm start / npm run build → dist-demo).
  return {
    ...shared,
    root: resolve(root, 'demo'),
    publicDir: resolve(root, 'public'),
    server: { host: '127.0.0.1', port: 5173, fs: { allow: [root] } },
    preview: { host: '127.0.0.1', port: 4173 },
    build: {
      outDir: resolve(root, 'dist-demo'),
      emptyOutDir: true,
      target: 'es2022',
      rollupOptions: { input: { index: resolve(root, 'demo/index.html') } },
    },
  };
});
