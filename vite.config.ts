import { defineConfig, type Plugin, type UserConfig } from 'vite';
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

/**
 * Vite writes the library's worker URL as `new Worker(new URL(new URL('…', import.meta.url).href, '' +
 * import.meta.url))`, which an app's bundler sees as an opaque asset: it copies the worker file without
 * emitting the runtime wasm the worker refers to. The plain `new Worker(new URL('…', import.meta.url),
 * { type: 'module' })` is the pattern bundlers recognise, so they bundle the worker and its assets.
 */
function plainWorkerUrls(): Plugin {
  const wrapped = /new Worker\(new URL\(new URL\(`([^`$]+)`,import\.meta\.url\)\.href,``\+import\.meta\.url\),\{type:`module`/g;
  return {
    name: 'kinema-plain-worker-urls',
    enforce: 'post',
    // After Vite's own worker plugin has written the URL (it does so late, as the bundle is generated).
    generateBundle(_options, bundle) {
      for (const chunk of Object.values(bundle)) {
        if (chunk.type !== 'chunk' || !chunk.code.includes('new Worker(')) continue;
        chunk.code = chunk.code.replace(wrapped, (_match, url: string) => `new Worker(new URL(${JSON.stringify(url)},import.meta.url),{type:"module"`);
      }
    },
  };
}

const root = import.meta.dirname;

const shared: UserConfig = {
  // Relative asset URLs (resolved against import.meta.url), so the package and the demo work from any path.
  base: './',
  plugins: [crossOriginIsolation()],
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  worker: { format: 'es' },
};

export default defineConfig(({ mode }): UserConfig => {
  if (mode === 'lib') {
    // The npm package. Built as a multi-entry app build rather than Vite's library mode, because library
    // mode inlines every asset (the runtime wasm would become base64); this way the worker and the wasm
    // are emitted as files next to the entry points. The model is not copied in: the package ships it once,
    // in public/models. demo/cli.html (the page `kinema generate` drives) is built here too, so it shares
    // the package's worker and runtime files instead of shipping a second copy in a demo build.
    return {
      ...shared,
      plugins: [...(shared.plugins ?? []), plainWorkerUrls()],
      publicDir: false,
      build: {
        outDir: 'dist',
        emptyOutDir: true,
        target: 'es2022',
        sourcemap: true,
        modulePreload: false,
        assetsInlineLimit: 0,
        rolldownOptions: {
          input: {
            kinema: resolve(root, 'src/index.ts'),
            worker: resolve(root, 'src/worker.ts'),
            cloud: resolve(root, 'src/cloud/index.ts'),
            widget: resolve(root, 'src/widget/index.ts'),
            'widget-define': resolve(root, 'src/widget/define.ts'),
            'generate-page': resolve(root, 'demo/cli.html'),
          },
          preserveEntrySignatures: 'strict',
          output: {
            entryFileNames: '[name].js',
            chunkFileNames: 'chunks/[name]-[hash].js',
            assetFileNames: 'assets/[name]-[hash][extname]',
          },
        },
      },
    };
  }
  if (mode === 'node') {
    // Node-side tools (the `generate` command, the cloud proxy, the component runner): plain ESM for Node 20, dependencies external.
    return {
      publicDir: false,
      build: {
        ssr: true,
        outDir: 'dist/node',
        emptyOutDir: true,
        target: 'node20',
        sourcemap: true,
        rolldownOptions: {
          input: { cli: resolve(root, 'src/node/cli.ts'), proxy: resolve(root, 'src/node/proxy.ts'), component: resolve(root, 'src/node/component.ts') },
          output: { entryFileNames: '[name].js', chunkFileNames: 'chunks/[name]-[hash].js', format: 'es' },
        },
      },
    };
  }
  if (mode === 'bench') {
    // npm run bench: a dev server over the repository; bench/page.html imports the sources directly.
    return { ...shared, root, publicDir: resolve(root, 'public'), server: { host: '127.0.0.1', port: 0 } };
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
      assetsInlineLimit: 0,
      rolldownOptions: { input: { index: resolve(root, 'demo/index.html'), widget: resolve(root, 'demo/widget.html'), cli: resolve(root, 'demo/cli.html') } },
    },
  };
});
