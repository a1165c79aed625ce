#!/usr/bin/env node
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { NotEnrolledError, startAgent } from "./agent.js";
import { USAGE, UsageError, parseArgs } from "./cli.js";
import { ConfigError, loadConfigFile } from "./config/load.js";
import { readCredentials } from "./enroll/credentials.js";
import { EnrollError, enroll } from "./enroll/enroll.js";
import { createLogger } from "./log.js";

export { startAgent, type RunningAgent } from "./agent.js";
export type { AgentConfig, AgentConfigInput } from "./config/schema.js";

function fail(code: number, message: string): never {
  process.stderr.write(message + "\n");
  process.exit(code);
}

/** p-retry's AbortError wraps the real error. */
function unwrap(e: unknown): unknown {
  if (e && typeof e === "object" && "originalError" in e) return (e as { originalError: unknown }).originalError;
  return e;
}

export async function runCli(argv: readonly string[]): Promise<void> {
  let cmd;
  try {
    cmd = parseArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) fail(2, `${e.message}\n${USAGE}`);
    throw e;
  }
  if (cmd.command === "help") {
    process.stdout.write(USAGE + "\n");
    return;
  }
  let loaded;
  try {
    loaded = loadConfigFile(cmd.config);
  } catch (e) {
    if (e instanceof ConfigError) fail(2, e.message);
    throw e;
  }
  const { config, warnings } = loaded;
  const log = createLogger(config.logLevel);
  for (const w of warnings) log.warn(w);

  if (cmd.command === "enroll") {
    try {
      const res = await enroll(config, cmd.token);
      process.stdout.write(res.alreadyEnrolled ? `already enrolled as ${res.credentials.hostId}\n` : `enrolled as ${res.credentials.hostId}\n`);
      return;
    } catch (e) {
      const err = unwrap(e);
      fail(1, err instanceof EnrollError ? err.message : `enrollment failed: ${(err as Error).message}`);
    }
  }

  let credsPresent: boolean;
  try {
    credsPresent = readCredentials(config.dataDir) !== null;
  } catch (e) {
    fail(1, (e as Error).message);
  }
  if (!credsPresent && !cmd.token) fail(2, new NotEnrolledError(config.dataDir).message);
  let agent;
  try {
    agent = await startAgent(config, { ...(cmd.token ? { token: cmd.token } : {}), logger: log });
  } catch (e) {
    const err = unwrap(e);
    log.fatal({ err: (err as Error).message }, "agent failed to start");
    fail(1, (err as Error).message);
  }
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down (devices keep running)");
    const force = setTimeout(() => process.exit(1), 20_000);
    force.unref();
    agent.close().then(
      () => process.exit(0),
      (e: unknown) => {
        log.error({ err: (e as Error).message }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

function invokedDirectly(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  runCli(process.argv.slice(2)).catch((e: unknown) => fail(1, `fatal: ${(e as Error).stack ?? String(e)}`));
}
