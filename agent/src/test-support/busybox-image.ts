import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync, copyFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const TEST_IMAGE = "cloudphone-agent-test-busybox:1";

/**
 * Builds (once) a tiny image: a rootfs holding only a static /bin/busybox and a few symlinks, imported with
 * `docker import`. Its entrypoint ignores the redroid boot args the profile passes as Cmd and sleeps.
 */
export function ensureTestImage(): string {
  try {
    execFileSync("docker", ["image", "inspect", TEST_IMAGE], { stdio: "ignore" });
    return TEST_IMAGE;
  } catch {
    // not built yet
  }
  const dir = mkdtempSync(join(tmpdir(), "cp-rootfs-"));
  try {
    mkdirSync(join(dir, "bin"));
    mkdirSync(join(dir, "data"));
    copyFileSync("/bin/busybox", join(dir, "bin", "busybox"));
    for (const tool of ["sh", "sleep", "true"]) symlinkSync("busybox", join(dir, "bin", tool));
    const tarPath = `${dir}.tar`;
    execFileSync("tar", ["-C", dir, "-cf", tarPath, "."]);
    execFileSync("docker", ["import", "--change", 'ENTRYPOINT ["/bin/sh", "-c", "exec sleep 3600", "--"]', tarPath, TEST_IMAGE], {
      stdio: ["ignore", "ignore", "inherit"],
    });
    rmSync(tarPath, { force: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return TEST_IMAGE;
}
