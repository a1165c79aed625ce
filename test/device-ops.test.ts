// Device operations through the control plane (issue 4: A1): exec with exit codes, file push/pull as streams
// through tunnels the agent opens back, path validation, size limits, aborted pushes leaving nothing, screenshots,
// authorisation, and a stopped agent answering fast. Real control plane, agent, adb server and test device.
import { randomBytes } from "node:crypto";
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api } from "./support/api.js";
import { startAgent, startControlPlane, type AgentHandle, type ControlPlaneHandle } from "./support/processes.js";
import { callAs, registerUser } from "./support/users.js";
import { sleep, waitFor } from "./support/wait.js";

const MAX_PUSH = 8 * 1024 * 1024;
let cp: ControlPlaneHandle;
let agent: AgentHandle;
let deviceId = "";

beforeAll(async () => {
  cp = await startControlPlane({ env: { CLOUDPHONE_CP_FILES_MAX_PUSH_BYTES: String(MAX_PUSH) } });
  agent = await startAgent({
    controlPlane: cp,
    token: await api(cp).createEnrollmentToken(),
    config: { runtime: { privileged: false }, reconcileIntervalMs: 1000 },
  });
  await waitFor(async () => (await api(cp).listHosts()).find((h) => h.id === agent.hostId && h.status === "online"), { message: "host online" });
  const res = await api(cp).createDevice({ cpuMillis: 100, memoryMb: 256, diskMb: 256 });
  expect(res.status).toBe(201);
  deviceId = res.body.id as string;
  await waitFor(async () => (await api(cp).getDevice(deviceId)).body.state === "running", { timeoutMs: 40_000, message: "device running" });
});
afterAll(async () => {
  await agent?.stop();
  await cp?.stop();
});

const url = (path: string) => `${cp.httpUrl}/api/devices/${deviceId}${path}`;
const auth = () => ({ authorization: `Bearer ${cp.adminToken}` });
const call = (method: string, path: string, body?: unknown) => callAs(cp.httpUrl, cp.adminToken, method, `/api/devices/${deviceId}${path}`, body);
const q = (p: string) => encodeURIComponent(p);

async function tunnelsOpen(): Promise<number> {
  const text = await (await fetch(`${cp.httpUrl}/metrics`)).text();
  const m = /^cloudphone_tunnels_open (\d+)/m.exec(text);
  if (!m) throw new Error("no cloudphone_tunnels_open gauge in /metrics");
  return Number(m[1]);
}

async function listNames(dir: string): Promise<string[]> {
  const r = await call("GET", `/files/list?path=${q(dir)}`);
  expect(r.status).toBe(200);
  return (r.body as { entries: { name: string }[] }).entries.map((e) => e.name);
}

describe("device operations", () => {
  it("exec returns the exit code and separate stdout and stderr", async () => {
    const r = await call("POST", "/exec", { command: "echo out; echo err >&2; exit 3", timeoutMs: 10_000 });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ exitCode: 3, stdout: "out\n", stderr: "err\n", timedOut: false, truncated: false });
    const bad = await call("POST", "/exec", { command: "" });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain("command");
  });

  it("pushes a 5 MB random file and pulls it back byte-identical", async () => {
    const data = randomBytes(5 * 1024 * 1024);
    const put = await fetch(url(`/files?path=${q("/data/local/tmp/big.bin")}&mode=600`), { method: "PUT", headers: auth(), body: data });
    expect(put.status, await put.clone().text()).toBe(200);
    expect(await put.json()).toEqual({ path: "/data/local/tmp/big.bin", bytes: data.length });
    const st = await call("GET", `/files/stat?path=${q("/data/local/tmp/big.bin")}`);
    expect(st.body).toMatchObject({ name: "big.bin", type: "file", size: data.length, mode: 0o600 });
    const get = await fetch(url(`/files?path=${q("/data/local/tmp/big.bin")}`), { headers: auth() });
    expect(get.status).toBe(200);
    expect(get.headers.get("content-type")).toBe("application/octet-stream");
    expect(get.headers.get("content-length")).toBe(String(data.length));
    expect(Buffer.from(await get.arrayBuffer()).equals(data)).toBe(true);
    // No temporary file left next to it.
    expect((await listNames("/data/local/tmp")).filter((n) => n.includes("cloudphone"))).toEqual([]);
    const missing = await call("GET", `/files/stat?path=${q("/data/local/tmp/nope")}`);
    expect(missing.status).toBe(404);
  });

  it("refuses path traversal with 400 naming path, before anything is sent", async () => {
    for (const p of ["/data/local/tmp/../../etc/passwd", "relative/file", "/data//x", "/data/./x"]) {
      const put = await fetch(url(`/files?path=${q(p)}`), { method: "PUT", headers: auth(), body: "x" });
      expect(put.status).toBe(400);
      const body = (await put.json()) as { error: { fields: { path: string }[] } };
      expect(body.error.fields.map((f) => f.path)).toContain("path");
      expect((await fetch(url(`/files?path=${q(p)}`), { headers: auth() })).status).toBe(400);
    }
    expect(await tunnelsOpen()).toBe(0);
  });

  it("refuses an oversize push with 413 and writes nothing (declared length, and chunked)", async () => {
    const big = randomBytes(MAX_PUSH + 1);
    const declared = await fetch(url(`/files?path=${q("/data/local/tmp/over1.bin")}`), { method: "PUT", headers: auth(), body: big });
    expect(declared.status).toBe(413);
    const chunks = [big.subarray(0, 4 * 1024 * 1024), big.subarray(4 * 1024 * 1024)];
    const stream = new ReadableStream<Uint8Array>({
      pull(ctrl) {
        const c = chunks.shift();
        if (c) ctrl.enqueue(c);
        else ctrl.close();
      },
    });
    const chunked = await fetch(url(`/files?path=${q("/data/local/tmp/over2.bin")}`), { method: "PUT", headers: auth(), body: stream, duplex: "half" } as RequestInit);
    expect(chunked.status).toBe(413);
    await sleep(500);
    const names = await listNames("/data/local/tmp");
    expect(names.filter((n) => n.startsWith("over") || n.includes("cloudphone"))).toEqual([]);
  });

  it("an aborted push leaves no file", async () => {
    const target = "/data/local/tmp/aborted.bin";
    await new Promise<void>((resolve) => {
      const req = request(url(`/files?path=${q(target)}`), { method: "PUT", headers: { ...auth(), "content-length": String(4 * 1024 * 1024) } });
      req.on("error", () => resolve());
      req.write(randomBytes(1024 * 1024));
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 1000);
    });
    await waitFor(async () => (await tunnelsOpen()) === 0, { timeoutMs: 15_000, message: "tunnel of the aborted push closed" });
    await sleep(500);
    expect((await call("GET", `/files/stat?path=${q(target)}`)).status).toBe(404);
    expect((await listNames("/data/local/tmp")).filter((n) => n.includes("aborted"))).toEqual([]);
  });

  it("takes a screenshot as a PNG", async () => {
    const r = await fetch(url("/screenshot"), { headers: auth() });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("image/png");
    const png = Buffer.from(await r.arrayBuffer());
    expect(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
    expect(png.toString("ascii", 12, 16)).toBe("IHDR");
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([720, 1280]);
  });

  it("answers 404 for another user's device, exactly like a missing one", async () => {
    const other = await registerUser(cp.httpUrl, "devops-other");
    const theirs = await callAs(cp.httpUrl, other.token, "GET", `/api/devices/${deviceId}/files/stat?path=${q("/data")}`);
    const missing = await callAs(cp.httpUrl, other.token, "GET", `/api/devices/nope-device/files/stat?path=${q("/data")}`);
    expect(theirs.status).toBe(404);
    expect(missing.status).toBe(404);
    expect((theirs.body as { error: { code: string } }).error.code).toBe((missing.body as { error: { code: string } }).error.code);
    expect((await callAs(cp.httpUrl, other.token, "GET", `/api/devices/${deviceId}/screenshot`)).status).toBe(404);
  });

  it("closes every tunnel after all of the above", async () => {
    await waitFor(async () => (await tunnelsOpen()) === 0, { timeoutMs: 15_000, message: "no open tunnels" });
  });

  it("answers 503/504 quickly when the agent is stopped, not hanging", async () => {
    await agent.stop();
    const started = Date.now();
    const r = await call("GET", `/files/stat?path=${q("/data")}`);
    expect([503, 504]).toContain(r.status);
    expect(Date.now() - started).toBeLessThan(20_000);
    const s = await fetch(url("/screenshot"), { headers: auth(), signal: AbortSignal.timeout(40_000) });
    expect([503, 504]).toContain(s.status);
    await waitFor(async () => (await tunnelsOpen()) === 0, { timeoutMs: 15_000, message: "no open tunnels after the agent stopped" });
  });
});
