import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// Built into the Python package; served by `tercet dashboard` with no network access,
// so every asset is bundled (nothing loads from a CDN).
export default defineConfig({
  plugins: [svelte()],
  base: './',
  build: {
    outDir: '../src/tercet/static',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 2000,
  },
  worker: { format: 'es' },
  server: { host: '127.0.0.1', port: 8000, strictPort: false },
});
