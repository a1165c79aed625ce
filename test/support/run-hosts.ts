/**
 * The hosts enrolled during one test run, shared from vitest workers to the global teardown through a
 * file, so the teardown removes exactly this run's device containers and nothing of a concurrent run.
 */
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const RUN_DIR_ENV = "CLOUDPHONE_TEST_RUN_DIR";

/** Called by the global setup; workers inherit the variable. */
export function beginRun(): string {
  const dir = mkdtempSync(join(tmpdir(), "cloudphone-test-run-"));
  process.env[RUN_DIR_ENV] = dir;
  return dir;
}

export function recordHost(hostId: string): void {
  const dir = process.env[RUN_DIR_ENV];
  if (dir && existsSync(dir)) appendFileSync(join(dir, "hosts"), `${hostId}\n`);
}

export function hostsOfRun(dir: string): string[] {
  const file = join(dir, "hosts");
  if (!existsSync(file)) return [];
  return [...new Set(readFileSync(file, "utf8").split("\n").filter((line) => line.length > 0))];
}

export function endRun(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
