// Vite builds the client into OUT_DIR (scripts/build-web passes the CMake build's web/ folder):
// index.html plus hashed assets under assets/, which the server embeds (src/api/web/).
import { defineConfig } from "vite";
import preact from "@preact/preset-vite";

export default defineConfig({
  plugins: [preact()],
  build: {
    outDir: process.env.PARLEY_WEB_OUT ?? "dist",
    emptyOutDir: true,
    // No inline scripts or styles: the server's Content-Security-Policy forbids them.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    target: "es2022",
    sourcemap: false,
  },
  server: {
    // `npm run dev`: the API and /ws of a server on 8080 behind Vite's dev server.
    proxy: {
      "^/(auth|api|chat|groups|conversations|users|sync|me|files|events|poll|keys|ws|healthz)": {
        target: "http://127.0.0.1:8080",
        ws: true,
      },
    },
  },
});
