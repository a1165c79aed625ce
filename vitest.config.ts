import { defineConfig } from "vitest/config";

// Two projects: pure/unit tests run in parallel; integration tests share one dockerd, one adb
// server and fixed loopback ports, so they run one file at a time.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["shared-protocol/src/**/*.test.ts", "control-plane/src/**/*.test.ts", "agent/src/**/*.test.ts"],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/**/*.test.ts"],
          globalSetup: ["test/support/global-setup.ts"],
          fileParallelism: false,
          testTimeout: 240_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
