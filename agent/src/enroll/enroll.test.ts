import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { AgentConfigSchema } from "../config/schema.js";
import { credentialsPath, readCredentials } from "./credentials.js";
import { enroll } from "./enroll.js";

let server: Server | null = null;
afterEach(() => {
  server?.close();
  server = null;
});

/** A loopback HTTP endpoint answering every request with `status` and `body`; counts calls. */
async function endpoint(status: number, body: unknown): Promise<{ url: string; calls: () => number }> {
  let calls = 0;
  server = createServer((req, res) => {
    calls++;
    req.resume();
    req.on("end", () => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls: () => calls };
}

const config = (url: string) => AgentConfigSchema.parse({ controlPlaneUrl: url, dataDir: join(mkdtempSync(join(tmpdir(), "cp-enroll-")), "data") });
const OK = { hostId: "h-1", mqtt: { url: "mqtt://127.0.0.1:1883", username: "h-1", password: "p".repeat(20), clientId: "agent-h-1" } };

describe("enroll", () => {
  it("writes 0600 credentials once and is a no-op when already enrolled", async () => {
    const ep = await endpoint(201, OK);
    const cfg = config(ep.url);
    const first = await enroll(cfg, "t".repeat(20));
    expect(first).toMatchObject({ alreadyEnrolled: false, credentials: { hostId: "h-1", controlPlaneUrl: ep.url } });
    expect(statSync(credentialsPath(cfg.dataDir)).mode & 0o777).toBe(0o600);
    expect(readCredentials(cfg.dataDir)?.mqtt.clientId).toBe("agent-h-1");
    const again = await enroll(cfg, "t".repeat(20));
    expect(again.alreadyEnrolled).toBe(true);
    expect(ep.calls()).toBe(1);
  });

  it("does not retry a 4xx and reports the server's code and message", async () => {
    const ep = await endpoint(401, { error: { code: "invalid_token", message: "token expired" } });
    const cfg = config(ep.url);
    await expect(enroll(cfg, "t".repeat(20))).rejects.toThrow(/invalid_token: token expired/);
    expect(ep.calls()).toBe(1);
    expect(readCredentials(cfg.dataDir)).toBeNull();
  });

  it("retries a 5xx, then fails", async () => {
    const ep = await endpoint(503, { error: { code: "unavailable", message: "busy" } });
    await expect(enroll(config(ep.url), "t".repeat(20), { retries: 1 })).rejects.toThrow(/unavailable: busy/);
    expect(ep.calls()).toBe(2);
  });

  it("rejects an invalid response body", async () => {
    const ep = await endpoint(200, { hostId: "h-1" });
    await expect(enroll(config(ep.url), "t".repeat(20))).rejects.toThrow(/invalid enrollment response: mqtt/);
  });
});
