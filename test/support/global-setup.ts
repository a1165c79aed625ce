/**
 * vitest globalSetup of the integration project: Docker must answer, the test device image must be
 * current, and devices left by earlier runs are removed. Agents leave containers running on purpose,
 * so the teardown removes the devices of every host this run enrolled.
 *
 * The sweep spares anything younger than CLOUDPHONE_TEST_LEFTOVER_MIN_AGE_S (default 600 s) so that
 * two runs sharing one daemon (developers on one machine) do not remove each other's live devices;
 * set it to 0 to remove every managed container and volume.
 */
import { ensureTestDeviceImage } from "./device-image.js";
import { assertDockerAnswers, removeManaged } from "./docker.js";
import { beginRun, endRun, hostsOfRun } from "./run-hosts.js";

export default async function setup(): Promise<() => Promise<void>> {
  await assertDockerAnswers();
  const built = await ensureTestDeviceImage();
  const minAgeS = Number(process.env.CLOUDPHONE_TEST_LEFTOVER_MIN_AGE_S ?? "600");
  if (!Number.isFinite(minAgeS) || minAgeS < 0) {
    throw new Error(`CLOUDPHONE_TEST_LEFTOVER_MIN_AGE_S must be a number of seconds >= 0, got '${process.env.CLOUDPHONE_TEST_LEFTOVER_MIN_AGE_S}'`);
  }
  const removed = await removeManaged({ createdBeforeMs: Date.now() - minAgeS * 1000 });
  if (process.env.CLOUDPHONE_TEST_VERBOSE === "1") {
    process.stderr.write(`${built}\nremoved leftovers: ${JSON.stringify(removed)}\n`);
  }
  const runDir = beginRun();
  return async () => {
    const hostIds = hostsOfRun(runDir);
    if (hostIds.length > 0) await removeManaged({ hostIds });
    endRun(runDir);
  };
}
