// Benchmark: file push throughput (A1). One control plane, one agent, one test device (host networking, the real
// adb server). In the same run, the same 64 MB random file is pushed
//   platform: PUT /api/devices/:id/files (HTTP → control plane → tunnel → agent → adb sync → device), timed until
//             the 200 (the file is verified and renamed into place);
//   adb CLI:  `adb -s <serial> push <file> <path>` through the same adb server to the same device.
// Each is run `--rounds` times alternately; reported: MB/s (median) of both and platform / adb.
// Usage: pnpm bench:files [-- --mb 64] [-- --rounds 3] [-- --smoke]   (smoke: 8 MB, 1 round, nothing written)
import { parseArgs } from "node:util";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createReadStream, statSync, writeFileSync } from "node:fs";
import { Readable } from "node:stream";
import { join } from "node:path";
import { tempDir, summarize, writeResult } from "./lib.mjs";
import { startPlatform, TEST_DEVICE_IMAGE as IMAGE, waitForDevices } from "./platform.mjs";

const { values: args } = parseArgs({ options: { mb: { type: "string", default: "64" }, rounds: { type: "string", default: "3" }, smoke: { type: "boolean", default: false } } });
const MB = args.smoke ? 8 : Number(args.mb);
const ROUNDS = args.smoke ? 1 : Number(args.rounds);
const spec = { cpuMillis: 1000, memoryMb: 512, diskMb: 2048, width: 720, height: 1280, dpi: 320, fps: 30 };

const platform = await startPlatform({ CLOUDPHONE_CP_RATE_LIMIT_PER_MINUTE: "1000000" });
const { cp, localPort } = platform;

const file = join(tempDir("cloudphone-bench-file-"), "payload.bin");
writeFileSync(file, randomBytes(MB * 1024 * 1024));
const size = statSync(file).size;

let result;
const deviceId = (await cp.call("POST", "/api/devices", spec)).id;
try {
  await waitForDevices(cp, [deviceId], "running");
  const local = await (await fetch(`http://127.0.0.1:${localPort}/v1/devices`)).json();
  const serial = `127.0.0.1:${local.devices.find((d) => d.deviceId === deviceId).adb.port}`;

  const platform = [];
  const adb = [];
  for (let round = 0; round < ROUNDS; round++) {
    let t = performance.now();
    const res = await fetch(`${cp.http}/api/devices/${deviceId}/files?path=${encodeURIComponent(`/data/local/tmp/platform-${round}.bin`)}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${cp.adminToken}`, "content-length": String(size) },
      body: Readable.toWeb(createReadStream(file)),
      duplex: "half",
    });
    const body = await res.json();
    if (res.status !== 200 || body.bytes !== size) throw new Error(`platform push failed: ${res.status} ${JSON.stringify(body)}`);
    platform.push(performance.now() - t);

    t = performance.now();
    execFileSync("adb", ["-s", serial, "push", file, `/data/local/tmp/adb-${round}.bin`], { stdio: "ignore" });
    adb.push(performance.now() - t);
    execFileSync("adb", ["-s", serial, "shell", "rm -f /data/local/tmp/*.bin"], { stdio: "ignore" });
  }
  const mbps = (ms) => +(size / 1024 / 1024 / (ms / 1000)).toFixed(1);
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  result = {
    params: { fileBytes: size, rounds: ROUNDS, image: IMAGE, networkMode: "host" },
    platform: { medianMBps: mbps(median(platform)), ms: summarize(platform.map((v) => +v.toFixed(1))) },
    adbCli: { medianMBps: mbps(median(adb)), ms: summarize(adb.map((v) => +v.toFixed(1))) },
    platformOverAdb: +(mbps(median(platform)) / mbps(median(adb))).toFixed(2),
  };
} finally {
  await cp.call("DELETE", `/api/devices/${deviceId}`);
  await waitForDevices(cp, [deviceId], "deleted", { intervalMs: 200, timeoutMs: 20_000 });
  await platform.stop();
}
console.log(JSON.stringify(result, null, 2));
if (!args.smoke) console.error(`written to ${writeResult("file-push", result)}`);
