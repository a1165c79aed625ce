// Benchmark: APK install fan-out (A2). One control plane, one agent, N test devices on one host (host networking,
// the real adb server). In the same run, with two different APKs (so that each starts with a cold APK cache):
//   fan-out:    one POST /api/apps/:id/install for all N devices, timed until every device reports `installed`;
//   sequential: N requests one after another, each waiting for its device's result before the next.
// Reported: both wall times, the per-device latency of the fan-out, and sequential / fan-out.
// Usage: pnpm bench:apps [-- --devices 20] [-- --smoke]   (smoke: 3 devices, nothing written)
import { parseArgs } from "node:util";
import { summarize, writeResult, sleep, importTsHelper } from "./lib.mjs";
import { startPlatform, TEST_DEVICE_IMAGE as IMAGE, waitForDevices } from "./platform.mjs";

// Test tooling is not part of the control plane's dist/: transpile the APK builder the tests use.
const { buildTestApk } = await importTsHelper("control-plane/src/apps/testing/apk.ts");

const { values: args } = parseArgs({ options: { devices: { type: "string", default: "20" }, smoke: { type: "boolean", default: false } } });
const N = args.smoke ? 3 : Number(args.devices);
const spec = { cpuMillis: 100, memoryMb: 256, diskMb: 256, width: 720, height: 1280, dpi: 320, fps: 30 };

const platform = await startPlatform({ CLOUDPHONE_CP_RATE_LIMIT_PER_MINUTE: "1000000", CLOUDPHONE_CP_COMMAND_RESEND_MS: "2000" });
const { cp } = platform;

async function upload(packageName) {
  const res = await fetch(`${cp.http}/api/apps`, {
    method: "POST",
    headers: { authorization: `Bearer ${cp.adminToken}`, "content-type": "application/vnd.android.package-archive" },
    body: buildTestApk({ packageName, versionCode: 1, versionName: "1" }),
  });
  if (!res.ok) throw new Error(`upload → ${res.status} ${await res.text()}`);
  return res.json();
}

/** Resolves with each install's settle time (ms since `t0`) once all of `ids` left `pending`. */
async function settled(appId, ids, t0) {
  const at = new Map();
  for (;;) {
    const { installs } = await cp.call("GET", `/api/apps/${appId}/installs`);
    for (const i of installs) {
      if (!ids.includes(i.id) || i.status === "pending" || at.has(i.id)) continue;
      if (i.status !== "installed") throw new Error(`install ${i.id} on ${i.deviceId}: ${i.status} ${i.error}`);
      at.set(i.id, performance.now() - t0);
    }
    if (at.size === ids.length) return [...at.values()];
    await sleep(10);
  }
}

let result;
try {
  const devices = [];
  for (let i = 0; i < N; i++) devices.push((await cp.call("POST", "/api/devices", spec)).id);
  await waitForDevices(cp, devices, "running");
  const fanApp = await upload("io.cloudphone.bench.fanout");
  const seqApp = await upload("io.cloudphone.bench.sequential");

  const t0 = performance.now();
  const r = await cp.call("POST", `/api/apps/${fanApp.id}/install`, { deviceIds: devices });
  if (r.refused.length) throw new Error(`refused: ${JSON.stringify(r.refused)}`);
  const perDevice = await settled(fanApp.id, r.installs.map((i) => i.id), t0);
  const fanOutMs = performance.now() - t0;

  const t1 = performance.now();
  const each = [];
  for (const id of devices) {
    const s = performance.now();
    const one = await cp.call("POST", `/api/apps/${seqApp.id}/install`, { deviceIds: [id] });
    await settled(seqApp.id, [one.installs[0].id], s);
    each.push(performance.now() - s);
  }
  const sequentialMs = performance.now() - t1;

  result = {
    params: { devices: N, image: IMAGE, networkMode: "host", apkBytes: fanApp.size, agentAppsConcurrency: 8 },
    fanOut: { allInstalledMs: +fanOutMs.toFixed(1), perDeviceSettledMs: summarize(perDevice.map((v) => +v.toFixed(1))) },
    sequential: { allInstalledMs: +sequentialMs.toFixed(1), perRequestMs: summarize(each.map((v) => +v.toFixed(1))) },
    ratio: { sequentialOverFanOut: +(sequentialMs / fanOutMs).toFixed(2) },
  };
  for (const id of devices) await cp.call("DELETE", `/api/devices/${id}`);
  await waitForDevices(cp, devices, "deleted", { intervalMs: 200, timeoutMs: 60_000 });
} finally {
  await platform.stop();
}
console.log(JSON.stringify(result, null, 2));
if (!args.smoke) console.error(`written to ${writeResult("app-fanout", result)}`);
