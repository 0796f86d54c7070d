/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// Built into the gateway package, which serves it at /studio/ (and the page at /).
export default defineConfig({
  base: "/studio/",
  plugins: [react()],
  build: {
    outDir: "../services/gateway/ombudsman/gateway/ui/studio",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test-setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    testTimeout: 30_000,  // user-event typing on a loaded shared 2-core machine outlasts the 5 s default
  },
});
