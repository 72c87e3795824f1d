/**
 * The web app's build: Vite with Preact's JSX (no plugin needed: the JSX transform is told where
 * Preact's runtime is). Output goes to dist/web, which `persona-mcp serve` serves at `/`.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    // Everything is local: no CDN, fonts bundled as files (inlining them as data: URLs would need a looser CSP).
    assetsInlineLimit: 0,
    sourcemap: false,
    chunkSizeWarningLimit: 600,
  },
  logLevel: 'warn',
});
