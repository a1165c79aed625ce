// O1: install.sh installs the agent from this checkout into a prefix, enrolls it with a one-time token,
// upgrades in place when re-run (one host, configuration and credentials kept), and the installed agent runs.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api } from "./support/api.js";
import { ManagedChild } from "./support/child.js";
import { TEST_DEVICE_IMAGE } from "./support/device-image.js";
import { freePort, repoRoot, startControlPlane, type ControlPlaneHandle } from "./support/processes.js";
import { recordHost } from "./support/run-hosts.js";
import { writeScrcpyServerStandIn } from "./support/scrcpy-server.js";
import { waitFor } from "./support/wait.js";

const execFileAsync = promisify(execFile);
let cp: ControlPlaneHandle;
let root: string;
let agent: ManagedChild | undefined;

const paths = () => ({
  prefix: join(root, "opt"),
  configDir: join(root, "etc"),
  dataDir: join(root, "var"),
  config: join(root, "etc", "agent.json"),
  credentials: join(root, "var", "credentials.json"),
});

async function runInstall(token: string, extra: string[] = []): Promise<string> {
  const p = paths();
  const args = [
    ...extra,
    "--control-plane", cp.httpUrl, "--token", token, "--no-systemd",
    "--prefix", p.prefix, "--config-dir", p.configDir, "--data-dir", p.dataDir,
    "--image", TEST_DEVICE_IMAGE, "--network-mode", "host", "--no-privileged",
  ];
  try {
    const { stdout } = await execFileAsync(join(repoRoot, "install.sh"), args, { timeout: 200_000, maxBuffer: 10 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`install.sh failed: ${failed.message}\n${failed.stdout ?? ""}\n${failed.stderr ?? ""}`);
  }
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "cloudphone-install-"));
  cp = await startControlPlane();
});

afterAll(async () => {
  await agent?.stop();
  await cp?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe("install.sh", () => {
  it("rejects bad flags with a message naming the flag", async () => {
    const run = execFileAsync(join(repoRoot, "install.sh"), ["--network-mode", "sideways"]);
    await expect(run).rejects.toMatchObject({ stderr: expect.stringContaining("--network-mode must be bridge or host") });
  });

  it("installs, enrolls, upgrades in place and the installed agent comes online", async () => {
    const p = paths();
    const scrcpyServer = writeScrcpyServerStandIn("4.1", join(root, "scrcpy-server-v4.1"));
    const firstOutput = await runInstall(await api(cp).createEnrollmentToken(), ["--scrcpy-server", scrcpyServer]);
    expect(firstOutput).toContain("--no-systemd");

    const credentials = JSON.parse(readFileSync(p.credentials, "utf8")) as { hostId: string };
    recordHost(credentials.hostId);
    expect(statSync(p.credentials).mode & 0o777).toBe(0o600);
    const hosts = await api(cp).listHosts();
    expect(hosts.map((h) => h.id)).toEqual([credentials.hostId]);

    const config = JSON.parse(readFileSync(p.config, "utf8")) as Record<string, unknown>;
    expect(config).toMatchObject({
      controlPlaneUrl: cp.httpUrl,
      dataDir: p.dataDir,
      runtime: { image: TEST_DEVICE_IMAGE, networkMode: "host", privileged: false },
      stream: { scrcpyServerPath: join(p.prefix, "scrcpy-server") },
    });
    // The server file sits beside app/, so the upgrade below (without the flag) keeps it.
    expect(readFileSync(join(p.prefix, "scrcpy-server"))).toEqual(readFileSync(scrcpyServer));
    // Operator edits survive an upgrade.
    const localApiPort = await freePort();
    const edited = { ...config, reconcileIntervalMs: 2000, localApi: { host: "127.0.0.1", port: localApiPort } };
    writeFileSync(p.config, JSON.stringify(edited, null, 2));
    const credentialsBefore = readFileSync(p.credentials, "utf8");

    const secondOutput = await runInstall(await api(cp).createEnrollmentToken());
    expect(secondOutput).toContain("already enrolled");
    expect(JSON.parse(readFileSync(p.config, "utf8"))).toEqual(edited);
    expect(readFileSync(p.credentials, "utf8")).toBe(credentialsBefore);
    expect(readFileSync(join(p.prefix, "scrcpy-server"))).toEqual(readFileSync(scrcpyServer));
    expect((await api(cp).listHosts()).map((h) => h.id)).toEqual([credentials.hostId]);

    agent = new ManagedChild(
      { name: "installed-agent", command: join(p.prefix, "bin", "cloudphone-agent"), args: ["run", "--config", p.config], env: process.env, cwd: root },
      [],
    );
    const ready = await agent.waitForLog((r) => r.msg === "agent ready", '"agent ready"', 20_000);
    expect(ready.hostId).toBe(credentials.hostId);
    await waitFor(async () => (await api(cp).listHosts()).find((h) => h.id === credentials.hostId && h.status === "online"), {
      timeoutMs: 20_000,
      message: "installed host online",
    });
  });
});
