/** Builds the test device image (test/device-image/build.sh) from Node; a no-op when it is up to date. */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

export const TEST_DEVICE_IMAGE = process.env.CLOUDPHONE_TEST_IMAGE ?? "cloudphone/test-device:dev";

const buildScript = fileURLToPath(new URL("../device-image/build.sh", import.meta.url));
const execFileAsync = promisify(execFile);

export async function ensureTestDeviceImage(options: { force?: boolean } = {}): Promise<string> {
  const args = options.force ? ["--force"] : [];
  try {
    const { stdout } = await execFileAsync(buildScript, args, {
      env: { ...process.env, CLOUDPHONE_TEST_IMAGE: TEST_DEVICE_IMAGE },
      timeout: 120_000,
    });
    return stdout.trim();
  } catch (error) {
    const detail = error as { stderr?: string; message: string };
    throw new Error(`building ${TEST_DEVICE_IMAGE} failed: ${detail.stderr?.trim() || detail.message}`);
  }
}
