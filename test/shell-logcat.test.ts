// Interactive shell and live logcat over WebSocket (issue 4: A1), end to end: a `ws` client plays the browser
// against the real control plane, which pipes it through a duplex tunnel to the real agent, which relays the test
// device's adbd (shell v2 PTY, logcat) through the real adb server. Tickets are single use and bound to user, device
// and purpose; another user's device is 404.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { api } from "./support/api.js";
import { execInContainer } from "./support/docker.js";
import { startAgent, startControlPlane, type AgentHandle, type ControlPlaneHandle } from "./support/processes.js";
import { callAs, registerUser, type TestUser } from "./support/users.js";
import { sleep, waitFor } from "./support/wait.js";

const MAX_SHELLS = 2;
let cp: ControlPlaneHandle;
let agent: AgentHandle;
let alice: TestUser;
let bob: TestUser;
let deviceId = "";
let otherDeviceId = "";
/** Pids on the device before any session. */
let baseline: string[] = [];

const createRunningDevice = (ownerId: string): Promise<string> => api(cp).createRunningDevice(ownerId);

beforeAll(async () => {
  cp = await startControlPlane();
  agent = await startAgent({
    controlPlane: cp,
    token: await api(cp).createEnrollmentToken(),
    config: { runtime: { privileged: false }, reconcileIntervalMs: 1000, shell: { maxPerDevice: MAX_SHELLS } },
  });
  await waitFor(async () => (await api(cp).listHosts()).find((h) => h.id === agent.hostId && h.status === "online"), { message: "host online" });
  alice = await registerUser(cp.httpUrl, "alice");
  bob = await registerUser(cp.httpUrl, "bob");
  [deviceId, otherDeviceId] = await Promise.all([createRunningDevice(alice.id), createRunningDevice(alice.id)]);
  baseline = (await deviceProcesses(deviceId)).split("\n").slice(1).map((l) => l.trim().split(/\s+/)[0]!).filter(Boolean);
});
afterAll(async () => {
  await agent?.stop();
  await cp?.stop();
});

const container = (id: string) => `cloudphone-${id}`;
const wsUrl = (path: string) => `${cp.httpUrl.replace(/^http/, "ws")}${path}`;

async function ticketFor(user: TestUser, id: string, purpose: "shell" | "logcat"): Promise<string> {
  const r = await callAs<{ ticket: string; expiresAt: number }>(cp.httpUrl, user.token, "POST", `/api/devices/${id}/tickets`, { purpose });
  expect(r.status).toBe(201);
  expect(r.body.expiresAt - Date.now()).toBeLessThanOrEqual(30_000);
  return r.body.ticket;
}

/** A connected client: every frame it got so far (text and binary apart), and its close. */
class Client {
  readonly texts: string[] = [];
  private bytes = Buffer.alloc(0);
  readonly closed: Promise<{ code: number; reason: string }>;
  closeInfo: { code: number; reason: string } | null = null;

  constructor(readonly ws: WebSocket) {
    ws.on("message", (data: WebSocket.RawData, isBinary: boolean) => {
      const b = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
      if (isBinary) this.bytes = Buffer.concat([this.bytes, b]);
      else this.texts.push(b.toString("utf8"));
    });
    this.closed = new Promise((resolve) =>
      ws.on("close", (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
      }),
    );
  }

  get output(): string {
    return this.bytes.toString("utf8");
  }

  /** Control messages (JSON text frames). */
  get controls(): Record<string, unknown>[] {
    return this.texts.filter((t) => t.startsWith("{")).map((t) => JSON.parse(t) as Record<string, unknown>);
  }

  /** Log lines (non-JSON text frames, each one or more whole lines). */
  get lines(): string[] {
    return this.texts.filter((t) => !t.startsWith("{")).flatMap((t) => {
      expect(t.endsWith("\n"), "a frame carries whole lines").toBe(true);
      return t.slice(0, -1).split("\n");
    });
  }

  type(text: string): void {
    this.ws.send(Buffer.from(text, "utf8"), { binary: true });
  }

  async waitOutput(re: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
    return waitFor(() => this.output.match(re) ?? undefined, { timeoutMs, message: `${re} in shell output; got ${JSON.stringify(this.output.slice(-500))}, texts ${JSON.stringify(this.texts)}, close ${JSON.stringify(this.closeInfo)}` });
  }
}

/** Opens a socket; resolves with the client once open, or with the HTTP status the upgrade was refused with. */
function connect(path: string, headers: Record<string, string> = {}): Promise<Client | { status: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(path), { headers });
    const client = new Client(ws);
    ws.once("open", () => resolve(client));
    ws.once("unexpected-response", (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      ws.terminate();
    });
    ws.once("error", (e) => reject(e));
  });
}

async function open(path: string, headers: Record<string, string> = {}): Promise<Client> {
  const c = await connect(path, headers);
  if (!(c instanceof Client)) throw new Error(`upgrade of ${path} refused with ${c.status}`);
  return c;
}

async function openShell(query = ""): Promise<Client> {
  const t = await ticketFor(alice, deviceId, "shell");
  return open(`/api/devices/${deviceId}/shell?ticket=${encodeURIComponent(t)}${query}`);
}

async function deviceProcesses(id: string): Promise<string> {
  const r = await execInContainer(container(id), ["ps", "-o", "pid,args"]);
  return r.stdout;
}

describe("interactive shell", () => {
  it("runs what is typed on a PTY and reports the exit status", async () => {
    const sh = await openShell("&cols=120&rows=40");
    sh.type("echo $((6*7))\n");
    // The PTY echoes the command line; only the shell's answer is 42 on a line of its own.
    await sh.waitOutput(/\r?\n42\r?\n/);
    sh.type("tty; stty size\n");
    await sh.waitOutput(/\/dev\/pts\/\d+\r?\n40 120\r?\n/);
    sh.type("exit 3\n");
    expect(await sh.closed).toEqual({ code: 1000, reason: "" });
    expect(sh.controls).toEqual([{ type: "exit", code: 3 }]);
  });

  it("passes a resize on to the PTY", async () => {
    const sh = await openShell();
    sh.type("stty size\n");
    await sh.waitOutput(/\r?\n24 80\r?\n/); // the defaults
    sh.ws.send(JSON.stringify({ type: "resize", cols: 132, rows: 43 }));
    await sleep(200);
    sh.type("stty size\n");
    await sh.waitOutput(/\r?\n43 132\r?\n/);
    // A bad control message is answered, and the shell goes on.
    sh.ws.send(JSON.stringify({ type: "resize", cols: 0, rows: 43 }));
    await waitFor(() => sh.controls.find((m) => m.type === "error"), { message: "error frame" });
    expect(String(sh.controls.find((m) => m.type === "error")!.message)).toContain("cols");
    sh.type("exit\n");
    expect((await sh.closed).code).toBe(1000);
    expect(sh.controls.at(-1)).toEqual({ type: "exit", code: 0 });
  });

  it("leaves no process on the device when the viewer closes the socket", async () => {
    const marker = 4000 + Math.floor(Math.random() * 5000);
    const sh = await openShell();
    sh.type("echo pid=$$\n");
    const pid = (await sh.waitOutput(/pid=(\d+)\r?\n/))[1]!;
    sh.type(`sleep ${marker}\n`);
    await waitFor(async () => ((await deviceProcesses(deviceId)).includes(`sleep ${marker}`) ? true : undefined), { message: "sleep running" });
    sh.ws.close(1000);
    await sh.closed;
    // adbd hangs up the session (SIGHUP, then SIGKILL a second later).
    await waitFor(
      async () => {
        const ps = await deviceProcesses(deviceId);
        return !ps.includes(`sleep ${marker}`) && !new RegExp(`^\\s*${pid}\\s`, "m").test(ps) ? true : undefined;
      },
      { timeoutMs: 10_000, message: "shell and sleep gone" },
    );
  });

  it(`refuses a shell beyond ${MAX_SHELLS} per device with 4409 conflict, and frees the slot on close`, async () => {
    const shells = [];
    for (let i = 0; i < MAX_SHELLS; i++) {
      const s = await openShell();
      s.type("echo ready\n");
      await s.waitOutput(/\r?\nready\r?\n/);
      shells.push(s);
    }
    const extra = await openShell();
    const closed = await extra.closed;
    expect(closed.code).toBe(4409);
    expect(extra.controls[0]).toMatchObject({ type: "error", code: "conflict" });
    shells[0]!.ws.close();
    await shells[0]!.closed;
    await sleep(300); // the agent sees the tunnel close
    const again = await openShell();
    again.type("echo again\n");
    await again.waitOutput(/\r?\nagain\r?\n/);
    for (const s of [again, ...shells.slice(1)]) s.ws.close();
    await Promise.all([again.closed, ...shells.slice(1).map((s) => s.closed)]);
    await sleep(300); // the agent frees the slots once it sees the tunnels close
  });

  it("also takes a bearer header instead of a ticket (non-browser clients)", async () => {
    const sh = await open(`/api/devices/${deviceId}/shell`, { authorization: `Bearer ${alice.token}` });
    sh.type("echo bearer-ok\n");
    await sh.waitOutput(/\r?\nbearer-ok\r?\n/);
    sh.ws.close();
    await sh.closed;
  });
});

describe("live logcat", () => {
  async function openLogcat(query: string): Promise<Client> {
    const t = await ticketFor(alice, deviceId, "logcat");
    return open(`/api/devices/${deviceId}/logcat?ticket=${encodeURIComponent(t)}&${query}`);
  }
  const log = (tag: string, msg: string, prio = "i") => execInContainer(container(deviceId), ["log", "-p", prio, "-t", tag, msg]);

  it("streams new lines live with the tag filter applied", async () => {
    const run = randomBytes(4).toString("hex");
    const lc = await openLogcat("specs=F4Tag:I,*:S");
    await log("F4Tag", `first ${run}`);
    await log("OtherTag", `other ${run}`);
    await log("F4Tag", `debug ${run}`, "d"); // below F4Tag:I
    await waitFor(() => lc.lines.find((l) => l.includes(`first ${run}`)), { timeoutMs: 15_000, message: "first line" });
    // Live: written after the first arrived.
    await log("F4Tag", `second ${run}`);
    const second = await waitFor(() => lc.lines.find((l) => l.includes(`second ${run}`)), { timeoutMs: 15_000, message: "second line" });
    expect(second).toMatch(/^\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} +\d+ +\d+ I F4Tag\s*: second /); // threadtime
    await sleep(1500); // a Heartbeat line a second would have come by now
    for (const l of lc.lines) expect(l).toMatch(/ I F4Tag\s*: /);
    expect(lc.lines.some((l) => l.includes(`other ${run}`) || l.includes(`debug ${run}`))).toBe(false);
    expect(await deviceProcesses(deviceId)).toContain("logcat -v threadtime");
    lc.ws.close();
    await lc.closed;
    // Closing the socket ended logcat on the device.
    await waitFor(async () => (!(await deviceProcesses(deviceId)).includes("logcat -v threadtime") ? true : undefined), { timeoutMs: 10_000, message: "logcat gone" });
  });

  it("applies `contains` on the agent and dumps then closes with dump=true", async () => {
    const run = randomBytes(4).toString("hex");
    await log("F4Dump", `keep ${run} 1`);
    await log("F4Dump", `drop ${run}`);
    await log("F4Dump", `keep ${run} 2`);
    const lc = await openLogcat(`specs=F4Dump:V,*:S&contains=${encodeURIComponent(`keep ${run}`)}&dump=true`);
    expect(await lc.closed).toEqual({ code: 1000, reason: "" });
    expect(lc.lines.map((l) => l.replace(/^.*F4Dump\s*: /, ""))).toEqual([`keep ${run} 1`, `keep ${run} 2`]);
    expect(lc.controls).toEqual([{ type: "exit", code: 0 }]);
  });

  it("refuses bad filters before upgrading, naming the field", async () => {
    const r = await callAs<{ error: { code: string; fields: { path: string }[] } }>(cp.httpUrl, alice.token, "GET", `/api/devices/${deviceId}/logcat?specs=nocolon`);
    expect(r.status).toBe(400);
    expect(r.body.error.fields.map((f) => f.path)).toContain("specs.0");
    const p = await callAs<{ error: { fields: { path: string }[] } }>(cp.httpUrl, alice.token, "GET", `/api/devices/${deviceId}/logcat?priority=S`);
    expect(p.status).toBe(400);
    expect(p.body.error.fields.map((f) => f.path)).toContain("priority");
  });
});

describe("tickets and authorisation", () => {
  it("refuses a reused ticket, a ticket for another device or purpose, and no ticket at all", async () => {
    const t = await ticketFor(alice, deviceId, "shell");
    const first = await open(`/api/devices/${deviceId}/shell?ticket=${t}`);
    expect(await connect(`/api/devices/${deviceId}/shell?ticket=${t}`)).toEqual({ status: 401 });
    first.ws.close();
    await first.closed;

    const forOther = await ticketFor(alice, otherDeviceId, "shell");
    expect(await connect(`/api/devices/${deviceId}/shell?ticket=${forOther}`)).toEqual({ status: 401 });
    // Presenting it burnt it: not even its own device takes it now.
    expect(await connect(`/api/devices/${otherDeviceId}/shell?ticket=${forOther}`)).toEqual({ status: 401 });

    const logcatTicket = await ticketFor(alice, deviceId, "logcat");
    expect(await connect(`/api/devices/${deviceId}/shell?ticket=${logcatTicket}`)).toEqual({ status: 401 });
    expect(await connect(`/api/devices/${deviceId}/shell`)).toEqual({ status: 401 });
    expect(await connect(`/api/devices/${deviceId}/shell?ticket=cwt_${"A".repeat(43)}`)).toEqual({ status: 401 });
  });

  it("answers another user's device like a missing one (404)", async () => {
    const r = await callAs<{ error: { code: string } }>(cp.httpUrl, bob.token, "POST", `/api/devices/${deviceId}/tickets`, { purpose: "shell" });
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe("device_not_found");
    expect(await connect(`/api/devices/${deviceId}/shell`, { authorization: `Bearer ${bob.token}` })).toEqual({ status: 404 });
    expect(await connect(`/api/devices/${deviceId}/logcat`, { authorization: `Bearer ${bob.token}` })).toEqual({ status: 404 });
    // Bob's own ticket is for a device he may not see: refused the same way.
    const missing = await callAs(cp.httpUrl, bob.token, "POST", `/api/devices/00000000000000000000000000/tickets`, { purpose: "logcat" });
    expect(missing.status).toBe(404);
  });
});

describe("after all sessions", () => {
  it("leaves no tunnel open on the control plane and no shell or logcat on the device", async () => {
    await waitFor(
      async () => {
        const text = await (await fetch(`${cp.httpUrl}/metrics`)).text();
        return /^cloudphone_tunnels_open 0$/m.test(text) ? true : undefined;
      },
      { timeoutMs: 10_000, message: "cloudphone_tunnels_open 0" },
    );
    // Every process not there before the first session is the heartbeat's `sleep 1` (or our `ps`).
    const ps = await deviceProcesses(deviceId);
    const extra = ps
      .split("\n")
      .slice(1)
      .filter((l) => l.trim() !== "")
      .filter((l) => !baseline.includes(l.trim().split(/\s+/)[0]!))
      .map((l) => l.trim().replace(/^\d+\s+/, ""))
      .filter((cmd) => cmd !== "sleep 1" && !cmd.startsWith("ps ") && !cmd.startsWith("log "));
    expect(extra, ps).toEqual([]);
  });
});
