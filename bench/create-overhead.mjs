// Benchmark: what the agent adds to create+start of a device.
//
// Ours: the real control plane and agent (child processes, test device image, host networking). For each
// device: from the create command's arrival at the agent (its command inbox `received_at`) to the agent's
// commit of `device.started` (its outbox row `created_at`), both taken from the agent's own SQLite.
// Baseline, same run and interleaved with ours: dockerode createContainer + start alone, with the very same
// container options (the agent's own profile function), timed around the two calls.
// Reported: medians and p90 of both, and ours minus baseline (target: < 50 ms).
// Usage: pnpm bench:create [-- --devices 15]
import { parseArgs } from "node:util";
import { join } from "node:path";
import Database from "better-sqlite3";
import Docker from "dockerode";
import { containerOptions } from "@cloudphone/agent/dist/runtime/profile.js";
import { summarize, writeResult, sleep } from "./lib.mjs";
import { startPlatform, TEST_DEVICE_IMAGE as IMAGE, waitForDevices } from "./platform.mjs";

const { values: args } = parseArgs({ options: { devices: { type: "string", default: "15" }, smoke: { type: "boolean", default: false } } });
const N = args.smoke ? 2 : Number(args.devices);
const spec = { cpuMillis: 100, memoryMb: 256, diskMb: 256, width: 720, height: 1280, dpi: 320, fps: 30 };

const docker = new Docker();
const platform = await startPlatform();
const { cp } = platform;
const agentDb = new Database(join(platform.agentDataDir, "agent.db"), { readonly: true });
const arrival = agentDb.prepare("SELECT received_at FROM command_inbox WHERE device_id = ? AND action = 'create'").pluck();
const started = agentDb.prepare("SELECT created_at FROM outbox WHERE device_id = ? AND topic LIKE '%/events/device.started'").pluck();

async function oursOnce() {
  const dev = await cp.call("POST", "/api/devices", spec);
  let t0, t1;
  for (;;) {
    t0 = arrival.get(dev.id);
    t1 = started.get(dev.id);
    if (t0 !== undefined && t1 !== undefined) break;
    await sleep(5);
  }
  await cp.call("DELETE", `/api/devices/${dev.id}`);
  await waitForDevices(cp, [dev.id], "deleted", { intervalMs: 20 });
  return t1 - t0;
}

async function baselineOnce(i) {
  const opts = containerOptions({ hostId: `bench-baseline`, image: IMAGE, networkMode: "host", privileged: false, extraBootArgs: [] }, { id: `bench-baseline-${process.pid}-${i}`, spec, ownerId: null });
  const t0 = performance.now();
  const c = await docker.createContainer(opts);
  await c.start();
  const ms = performance.now() - t0;
  await c.remove({ force: true, v: true });
  for (const m of opts.HostConfig.Mounts) await docker.getVolume(m.Source).remove().catch(() => {});
  return ms;
}

const ours = [];
const base = [];
try {
  await baselineOnce(-1); // warm caches on both paths before measuring
  await oursOnce();
  for (let i = 0; i < N; i++) {
    base.push(await baselineOnce(i));
    ours.push(await oursOnce());
  }
} finally {
  agentDb.close();
  await platform.stop();
}

const o = summarize(ours);
const b = summarize(base);
const result = {
  params: { devices: N, image: IMAGE, networkMode: "host" },
  baselineDockerodeCreateStartMs: b,
  agentCommandToRunningMs: o,
  overheadMs: { p50: +(o.p50 - b.p50).toFixed(1), p90: +(o.p90 - b.p90).toFixed(1) },
  ratio: { p50: +(o.p50 / b.p50).toFixed(3) },
  target: { overheadMsBelow: 50, met: o.p50 - b.p50 < 50 },
};
console.log(JSON.stringify(result, null, 2));
if (!args.smoke) console.error(`written to ${writeResult("create-overhead", result)}`);
