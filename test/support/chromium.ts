/**
 * Debian's Chromium (`apt-get install chromium`) driven by playwright-core, for the viewer page tests. Playwright's
 * own browser download cannot work here, so the system binary is launched with the flags this machine needs
 * (no sandbox as root, no GPU, no background networking towards hosts the closed network refuses).
 */
import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";

export const CHROMIUM_PATH = process.env.CLOUDPHONE_CHROMIUM ?? "/usr/bin/chromium";

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--autoplay-policy=no-user-gesture-required",
  // WebRTC on loopback only (with test/support/loopback-ice.ts): one UDP socket on the any address, advertised under
  // its real address rather than an mDNS name (no multicast announcements or lookups), then moved to 127.0.0.1 in the
  // offer; no DNS lookups at all except of the loopback address the pages are served from.
  "--force-webrtc-ip-handling-policy=default_public_interface_only",
  "--disable-features=WebRtcHideLocalIpsWithMdns",
  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
];

/** A headless Chromium (Playwright gives it a fresh temporary profile); fails with a hint when it is not installed. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) throw new Error(`${CHROMIUM_PATH} not found: install Debian's chromium (apt-get install chromium), as .ci/run does`);
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
}

export interface Rgb {
  r: number;
  g: number;
  b: number;
}

/**
 * Decodes a PNG in a blank page (the browser's own decoder) and returns the median colour of a small square around
 * each point, points given as fractions of the image's width and height.
 */
export async function sampleImage(page: Page, png: Buffer, points: readonly [number, number][], half = 4): Promise<{ width: number; height: number; colours: Rgb[] }> {
  return page.evaluate(
    async ({ b64, points, half }) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const bmp = await createImageBitmap(new Blob([bytes], { type: "image/png" }));
      const canvas = new OffscreenCanvas(bmp.width, bmp.height);
      const ctx = canvas.getContext("2d")!;
      ctx.drawImage(bmp, 0, 0);
      const median = (v: number[]) => v.sort((a, b) => a - b)[v.length >> 1]!;
      const colours = points.map(([fx, fy]) => {
        const x = Math.max(0, Math.round(fx * bmp.width) - half);
        const y = Math.max(0, Math.round(fy * bmp.height) - half);
        const d = ctx.getImageData(x, y, half * 2, half * 2).data;
        const r: number[] = [], g: number[] = [], b: number[] = [];
        for (let i = 0; i < d.length; i += 4) {
          r.push(d[i]!);
          g.push(d[i + 1]!);
          b.push(d[i + 2]!);
        }
        return { r: median(r), g: median(g), b: median(b) };
      });
      return { width: bmp.width, height: bmp.height, colours };
    },
    { b64: png.toString("base64"), points: points.map((p) => [p[0], p[1]] as [number, number]), half },
  );
}

/** ffmpeg testsrc2's six vertical bars, left to right (each a sixth of the width). */
export const TESTSRC2_BARS: readonly { name: string; rgb: Rgb }[] = [
  { name: "red", rgb: { r: 255, g: 0, b: 0 } },
  { name: "green", rgb: { r: 0, g: 255, b: 0 } },
  { name: "yellow", rgb: { r: 255, g: 255, b: 0 } },
  { name: "blue", rgb: { r: 0, g: 0, b: 255 } },
  { name: "magenta", rgb: { r: 255, g: 0, b: 255 } },
  { name: "cyan", rgb: { r: 0, g: 255, b: 255 } },
];

/** The bar whose colour is nearest (each channel within `tolerance`), or null. */
export function nearestBar(c: Rgb, tolerance = 70): string | null {
  for (const bar of TESTSRC2_BARS) {
    if (Math.abs(c.r - bar.rgb.r) <= tolerance && Math.abs(c.g - bar.rgb.g) <= tolerance && Math.abs(c.b - bar.rgb.b) <= tolerance) return bar.name;
  }
  return null;
}
