// The worker's scheduling logic (order per device, concurrency across devices, readiness, deleted devices) with a
// fake package manager; the real install through adb is tested in test/app-install.test.ts.
import type { DeviceCommand } from "@cloudphone/shared-protocol";
import pino from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { observe } from "../devices/observe.js";
import { applyCommand } from "../sync/commands.js";
import { SPEC, makeStore, type TestStore } from "../test-support/fixtures.js";
import type { PackageManager, PmResult } from "./installer.js";
import { AppJobQueue } from "./queue.js";
import { AppWorker } from "./worker.js";

let s: TestStore;
let worker: AppWorker | null = null;
beforeEach(() => {
  s = makeStore();
});
afterEach(async () => {
  await worker?.stop();
  s.cleanup();
});

let n = 0;
const base = (deviceId: string) => ({ id: `cmd0000${++n}`, seq: n, ts: 1, v: 1 as const, hostId: "host-1", deviceId, generation: 1 });
const install = (deviceId: string, installId: string): DeviceCommand => ({
  ...base(deviceId),
  action: "app_install",
  installId,
  app: { id: "app00001", sha256: "b".repeat(64), size: 3, packageName: "com.example.app" },
});

function device(id: string, state: "running" | "booting", port: number) {
  applyCommand(s.ctx, { ...base(id), action: "create", spec: SPEC });
  observe(s.ctx, id, { state, event: null, adbPort: port });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(pred: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error("timed out");
    await sleep(5);
  }
}

/** Records calls; each install takes `delayMs`; `failOn` serials answer a pm failure. */
function fakePm(delayMs: number, failOn = new Set<string>()) {
  const log: string[] = [];
  let active = 0;
  let maxActive = 0;
  const ok: PmResult = { ok: true, exitCode: 0, output: "Success", timedOut: false };
  const pm: PackageManager = {
    async install(serial) {
      active++;
      maxActive = Math.max(maxActive, active);
      log.push(`start ${serial}`);
      await sleep(delayMs);
      log.push(`end ${serial}`);
      active--;
      return failOn.has(serial) ? { ok: false, exitCode: 1, output: "Failure [INSTALL_FAILED_X]", timedOut: false } : ok;
    },
    async uninstall() {
      return ok;
    },
    async versionCode() {
      return 5;
    },
  };
  return { pm, log, maxActive: () => maxActive };
}

function start(pm: PackageManager, concurrency: number) {
  const queue = AppJobQueue.of(s.db, s.outbox, "host-1");
  worker = new AppWorker({
    queue,
    repo: s.repo,
    pm,
    apks: { acquire: async () => "/nonexistent.apk", release: () => {} },
    serialOf: (p) => `127.0.0.1:${p}`,
    concurrency,
    installTimeoutMs: 5000,
    maxAttempts: 2,
    retryBackoffMs: 10,
    pollMs: 20,
    onFinished: () => {},
    log: pino({ level: "silent" }),
  });
  worker.start();
  return queue;
}

describe("AppWorker", () => {
  it("runs one device's jobs in order, one at a time, and devices concurrently up to the bound", async () => {
    for (const [i, id] of ["d1", "d2", "d3"].entries()) device(id, "running", 20000 + i);
    for (const id of ["d1", "d2", "d3"]) for (const k of [1, 2]) applyCommand(s.ctx, install(id, `inst-${id}-${k}`));
    const f = fakePm(30, new Set(["127.0.0.1:20001"]));
    const queue = start(f.pm, 2);
    await until(() => queue.devicesWithJobs().length === 0);
    expect(f.maxActive()).toBe(2);
    // Per device: start, end, start, end (never two at once on one device).
    for (const serial of ["127.0.0.1:20000", "127.0.0.1:20001", "127.0.0.1:20002"]) {
      expect(f.log.filter((l) => l.endsWith(serial))).toEqual([`start ${serial}`, `end ${serial}`, `start ${serial}`, `end ${serial}`]);
    }
    expect(queue.get("inst-d1-1")).toMatchObject({ status: "done" });
    expect(queue.get("inst-d2-2")).toMatchObject({ status: "failed", error: expect.stringContaining("INSTALL_FAILED_X") });
  });

  it("waits for a device to be running, and fails the jobs of a deleted device", async () => {
    device("d1", "booting", 20000);
    device("d2", "running", 20001);
    applyCommand(s.ctx, install("d1", "inst-a"));
    applyCommand(s.ctx, install("d2", "inst-b"));
    applyCommand(s.ctx, { ...base("d2"), generation: 2, action: "delete" });
    const f = fakePm(1);
    const queue = start(f.pm, 8);
    await until(() => queue.get("inst-b")?.status === "failed");
    expect(queue.get("inst-b")?.error).toMatch(/deleted/);
    await sleep(100);
    expect(queue.get("inst-a")?.status).toBe("queued");
    observe(s.ctx, "d1", { state: "running", event: null });
    worker!.kick();
    await until(() => queue.get("inst-a")?.status === "done");
    expect(f.log).toEqual(["start 127.0.0.1:20000", "end 127.0.0.1:20000"]);
  });
});
