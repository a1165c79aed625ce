// The viewer page (issue 5 acceptance) in real Chromium from apt, driven by playwright-core, against the real control
// plane, agent and test device (scrcpy server emulator with real H.264 testsrc2 at 30 fps). The page signs in, picks
// the phone and plays it over WHEP; its clicks, drags, keys and buttons must reach the device as the exact scrcpy
// control messages (the emulator records them byte for byte); a second viewer is view-only until it takes control;
// refused credentials; a page that disappears without DELETE is cleaned up by the heartbeat.
import { chromium as pw, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api } from "./support/api.js";
import { CHROMIUM_ARGS, CHROMIUM_PATH, launchChromium, nearestBar, sampleImage, TESTSRC2_BARS } from "./support/chromium.js";
import { startAgent, startControlPlane, type AgentHandle, type ControlPlaneHandle } from "./support/processes.js";
import { describeTouch, keycodeMsg, readContainerFile, RESET_VIDEO, splitControlMessages, textMsg, touchMsg } from "./support/scrcpy-control.js";
import { writeScrcpyServerStandIn } from "./support/scrcpy-server.js";
import { anyAddressOfferAtLoopback, loopbackOnly } from "./support/loopback-ice.js";
import { callAs } from "./support/users.js";
import { sleep, waitFor } from "./support/wait.js";

const SCRCPY_VERSION = "4.1";
const PASSWORD = "correct horse battery staple";
const SOURCE_FPS = 30;
const W = 720;
const H = 1280;

interface Account {
  email: string;
  token: string;
  id: string;
}

let cp: ControlPlaneHandle;
let agent: AgentHandle;
let browser: Browser;
let alice: Account;
let bob: Account;
let deviceId = "";
let bobDeviceId = "";
/** Obtained at the start; used once it has expired (tickets live 30 s; the tests before take longer). */
let earlyTicket: { ticket: string; expiresAt: number } | null = null;
const contexts: BrowserContext[] = [];

async function register(name: string): Promise<Account> {
  const email = `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@example.test`;
  const res = await fetch(`${cp.httpUrl}/api/auth/register`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ email, password: PASSWORD }) });
  expect(res.status).toBe(201);
  const s = (await res.json()) as { accessToken: string; user: { id: string } };
  return { email, token: s.accessToken, id: s.user.id };
}

/** A new access token for `who` (the file outlives the 30 s tokens). */
async function freshToken(who: Account): Promise<string> {
  const res = await fetch(`${cp.httpUrl}/api/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ email: who.email, password: PASSWORD }) });
  expect(res.status).toBe(200);
  return ((await res.json()) as { accessToken: string }).accessToken;
}

const runningDevice = (ownerId: string): Promise<string> => api(cp).createRunningDevice(ownerId);

beforeAll(async () => {
  // Short-lived access tokens (the minimum, 30 s): the page must refresh its token to get through the file.
  cp = await startControlPlane({ env: { CLOUDPHONE_CP_ACCESS_TOKEN_TTL_SECONDS: "30" } });
  agent = await startAgent({
    controlPlane: cp,
    token: await api(cp).createEnrollmentToken(),
    config: {
      reconcileIntervalMs: 1000,
      stream: { source: "scrcpy", scrcpyServerPath: writeScrcpyServerStandIn(SCRCPY_VERSION), scrcpyVersion: SCRCPY_VERSION, additionalHostAddresses: ["127.0.0.1"] },
    },
  });
  await waitFor(async () => (await api(cp).listHosts()).find((h) => h.id === agent.hostId && h.status === "online"), { message: "host online" });
  [alice, bob] = await Promise.all([register("alice"), register("bob")]);
  [deviceId, bobDeviceId] = await Promise.all([runningDevice(alice.id), runningDevice(bob.id)]);
  const t = await callAs<{ ticket: string; expiresAt: number }>(cp.httpUrl, alice.token, "POST", `/api/devices/${deviceId}/tickets`, { purpose: "stream" });
  expect(t.status).toBe(201);
  earlyTicket = t.body;
  browser = await launchChromium();
});

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await agent?.stop();
  await cp?.stop();
});

const container = (id: string) => `cloudphone-${id}`;

/** A new browser context (its own cookies and storage, like another browser), signed in as `who`, on the phone list. */
/**
 * The network rule: media only on 127.0.0.1. The page's WHEP offer gets its candidates moved to 127.0.0.1 and the
 * agent's answer keeps only its 127.0.0.1 candidate, on the wire between page and control plane (the page itself is
 * unchanged; on a real network both sides keep every candidate).
 */
async function keepIceOnLoopback(context: BrowserContext): Promise<void> {
  await context.route(/\/api\/devices\/[^/]+\/whep$/, async (route) => {
    const req = route.request();
    if (req.method() !== "POST") return route.continue();
    const offer = req.postData() ?? "";
    // An offer without candidates (a refused-request test) names no address to rewrite.
    const res = await route.fetch({ postData: offer.includes("a=candidate:") ? anyAddressOfferAtLoopback(offer) : offer });
    const body = await res.text();
    await route.fulfill({ response: res, body: res.status() === 201 ? loopbackOnly(body, "the agent's answer") : body });
  });
}

async function signedInPage(who: Account, b: Browser = browser): Promise<Page> {
  const context = await b.newContext({ viewport: { width: 900, height: 900 } });
  contexts.push(context);
  await keepIceOnLoopback(context);
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error(`[page error] ${e.message}`));
  await page.goto(`${cp.httpUrl}/`);
  expect(new URL(page.url()).pathname).toBe("/console/");
  await page.getByLabel("Email").fill(who.email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#device-list").waitFor();
  return page;
}

/**
 * Clicks the phone in the list and waits until its video has a decoded frame and the data channel is open; resolves
 * with the milliseconds from the click to then.
 */
async function openPhone(page: Page, id: string): Promise<number> {
  const open = page.locator(`button[data-device-id="${id}"]`);
  await expect.poll(() => open.isEnabled(), { timeout: 10_000 }).toBe(true);
  const clickedAt = Date.now();
  await open.click();
  await page.waitForFunction(() => {
    const v = document.getElementById("video") as HTMLVideoElement;
    const s = (window as unknown as { cloudphoneViewer: { session: { channel: RTCDataChannel | null } | null } }).cloudphoneViewer.session;
    return v.videoWidth > 0 && v.currentTime > 0 && s?.channel?.readyState === "open";
  }, undefined, { timeout: 20_000 });
  return Date.now() - clickedAt;
}

interface InboundVideo {
  framesDecoded: number;
  framesDropped: number;
  framesReceived: number;
  pliCount: number;
  packetsLost: number;
  frameWidth: number;
  frameHeight: number;
}

function inboundVideo(page: Page): Promise<InboundVideo> {
  return page.evaluate(async () => {
    const pc = (window as unknown as { cloudphoneViewer: { session: { pc: RTCPeerConnection } } }).cloudphoneViewer.session.pc;
    for (const r of (await pc.getStats()).values()) {
      if (r.type === "inbound-rtp" && r.kind === "video") {
        const { framesDecoded = 0, framesDropped = 0, framesReceived = 0, pliCount = 0, packetsLost = 0, frameWidth = 0, frameHeight = 0 } = r;
        return { framesDecoded, framesDropped, framesReceived, pliCount, packetsLost, frameWidth, frameHeight };
      }
    }
    throw new Error("no inbound-rtp video stats");
  });
}

/** Messages the device received after `from` bytes of its control file, RESET_VIDEO (the agent's keyframe asks) left out. */
async function controlSince(from: number): Promise<Buffer[]> {
  const bin = await controlFile();
  return splitControlMessages(bin.subarray(from)).filter((m) => m[0] !== RESET_VIDEO);
}

/** The control file of the device's current capture (the scid of the last line in sessions.log). */
async function controlFile(): Promise<Buffer> {
  const sessions = (await readContainerFile(container(deviceId), "/data/scrcpy/sessions.log"))?.toString("utf8").trim().split("\n") ?? [];
  const scid = /scid=(\S+)/.exec(sessions.at(-1) ?? "")?.[1];
  if (!scid) throw new Error(`no capture in sessions.log: ${JSON.stringify(sessions)}`);
  return (await readContainerFile(container(deviceId), `/data/scrcpy/control-${scid}.bin`)) ?? Buffer.alloc(0);
}

/** Waits until the device has received `n` messages since `from`, then a little longer to catch extra ones. */
async function receivedSince(from: number, n: number): Promise<Buffer[]> {
  await waitFor(async () => (await controlSince(from)).length >= n, { timeoutMs: 10_000, message: `${n} control messages on the device` });
  await sleep(300);
  return controlSince(from);
}

/** Viewport point of a device pixel's centre on the page's video (object-fit: contain), and the pixel it maps back to. */
async function pointFor(page: Page, px: number, py: number): Promise<{ x: number; y: number; dev: [number, number] }> {
  const r = await page.evaluate(() => {
    const v = document.getElementById("video") as HTMLVideoElement;
    const b = v.getBoundingClientRect();
    return { left: b.left, top: b.top, width: b.width, height: b.height, vw: v.videoWidth, vh: v.videoHeight };
  });
  const scale = Math.min(r.width / r.vw, r.height / r.vh);
  const ox = (r.width - r.vw * scale) / 2;
  const oy = (r.height - r.vh * scale) / 2;
  // Integer viewport coordinates (what the input pipeline delivers exactly), then the device pixel they denote.
  const x = Math.round(r.left + ox + (px + 0.5) * scale);
  const y = Math.round(r.top + oy + (py + 0.5) * scale);
  const dev = (c: number, o: number, size: number) => Math.min(size - 1, Math.max(0, Math.floor(((c - o) / (size * scale)) * size)));
  return { x, y, dev: [dev(x - r.left, ox, r.vw), dev(y - r.top, oy, r.vh)] };
}

describe("viewer page in Chromium", () => {
  let page: Page;
  let signedInAt = 0;
  let firstAuthorization = "";
  const authorization = (p: Page) => p.evaluate(() => (window as unknown as { cloudphoneViewer: { api: { authorization: string } } }).cloudphoneViewer.api.authorization);

  it("signs in, lists the phone, plays it at the source frame rate without decode errors, and shows the test pattern", async () => {
    page = await signedInPage(alice);
    signedInAt = Date.now();
    firstAuthorization = await authorization(page);
    await expect.poll(() => page.locator("#device-list li").count()).toBe(1); // alice's phone only, not bob's
    const firstFrameMs = await openPhone(page, deviceId);
    console.log(`first frame playing ${firstFrameMs} ms after the click (capture starting with this first viewer)`);
    await expect.poll(() => page.locator("#control-state").textContent(), { timeout: 10_000 }).toBe("You have control");
    // scrcpy streams take input, and the agent says so up front: no view-only notice, input controls enabled.
    expect(await page.evaluate(() => (window as unknown as { cloudphoneViewer: { session: { input: boolean | null } } }).cloudphoneViewer.session.input)).toBe(true);
    expect(await page.locator("#input-notice").isHidden()).toBe(true);
    expect(await page.getByRole("button", { name: "Rotate" }).isEnabled()).toBe(true);

    // Settle one second past the first frame, then count over 5 s.
    await sleep(1000);
    await page.evaluate(() => {
      const v = document.getElementById("video") as HTMLVideoElement;
      const w = window as unknown as { __rvfc: number };
      w.__rvfc = 0;
      const tick = () => {
        w.__rvfc++;
        v.requestVideoFrameCallback(tick);
      };
      v.requestVideoFrameCallback(tick);
    });
    const q0 = await page.evaluate(() => (document.getElementById("video") as HTMLVideoElement).getVideoPlaybackQuality().totalVideoFrames);
    const s0 = await inboundVideo(page);
    const t0 = Date.now();
    await sleep(5000);
    const s1 = await inboundVideo(page);
    const seconds = (Date.now() - t0) / 1000;
    const rvfc = await page.evaluate(() => (window as unknown as { __rvfc: number }).__rvfc);
    const q1 = await page.evaluate(() => {
      const q = (document.getElementById("video") as HTMLVideoElement).getVideoPlaybackQuality();
      return { totalVideoFrames: q.totalVideoFrames, droppedVideoFrames: q.droppedVideoFrames };
    });
    const sent = SOURCE_FPS * seconds;
    const decoded = s1.framesDecoded - s0.framesDecoded;
    console.log(`viewer: ${seconds.toFixed(2)} s, source ${sent.toFixed(0)} frames, decoded ${decoded}, painted (rVFC) ${rvfc}, ` +
      `playback quality +${q1.totalVideoFrames - q0} frames (${q1.droppedVideoFrames} dropped), dropped ${s1.framesDropped - s0.framesDropped}, ` +
      `PLI ${s1.pliCount - s0.pliCount}, lost ${s1.packetsLost - s0.packetsLost}, ${s1.frameWidth}x${s1.frameHeight}`);
    expect([s1.frameWidth, s1.frameHeight]).toEqual([W, H]);
    expect(decoded).toBeGreaterThanOrEqual(0.9 * sent);
    expect(q1.totalVideoFrames - q0).toBeGreaterThanOrEqual(0.9 * sent);
    expect(rvfc).toBeGreaterThanOrEqual(0.9 * sent);
    expect(s1.framesDropped - s0.framesDropped).toBe(0);
    expect(s1.pliCount - s0.pliCount, "a PLI means the decoder hit an error").toBe(0);
    expect(s1.packetsLost - s0.packetsLost).toBe(0);
    // Chromium got all of this from the agent's own SRTP writer, not werift's sender path.
    const connections = (await (await fetch(`${agent.localApiUrl}/metrics`)).text()).split("\n").filter((l) => l.startsWith("cloudphone_agent_stream_viewer_connections_total{"));
    console.log(`agent write paths: ${connections.join("; ")}`);
    expect(connections.some((l) => l.includes('path="direct"') && / [1-9]\d*$/.test(l)), connections.join("; ")).toBe(true);
    expect(connections.some((l) => l.includes('path="werift"'))).toBe(false);

    // The screenshot of the video element shows testsrc2's six bars, in order. Its moving parts (a diagonal gradient
    // line sweeping the frame, dots, a checkerboard low on the right) may cover a sample, so each bar is sampled at
    // seven heights and must be recognised at most of them. Samples are placed in the picture, not the black bars.
    // CLOUDPHONE_VIEWER_SHOTS=<dir> keeps the screenshots for a look.
    const shots = process.env.CLOUDPHONE_VIEWER_SHOTS;
    const shot = await page.locator("#video").screenshot(shots ? { path: `${shots}/video.png` } : {});
    if (shots) await page.screenshot({ path: `${shots}/page.png` });
    const probe = await browser.newPage();
    try {
      const size = await sampleImage(probe, shot, []);
      const scale = Math.min(size.width / W, size.height / H);
      const ox = (size.width - W * scale) / 2 / size.width;
      const oy = (size.height - H * scale) / 2 / size.height;
      const fw = (W * scale) / size.width;
      const fh = (H * scale) / size.height;
      const heights = [0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6];
      const points: [number, number][] = [];
      for (let i = 0; i < 6; i++) for (const fy of heights) points.push([ox + ((i + 0.5) / 6) * fw, oy + fy * fh]);
      const { colours } = await sampleImage(probe, shot, points);
      TESTSRC2_BARS.forEach((bar, i) => {
        const seen = colours.slice(i * heights.length, (i + 1) * heights.length);
        const hits = seen.filter((c) => nearestBar(c) === bar.name).length;
        expect(hits, `${bar.name} bar (sixth ${i + 1}) recognised at ${hits}/${heights.length} heights: ${JSON.stringify(seen)}`).toBeGreaterThanOrEqual(5);
      });
    } finally {
      await probe.close();
    }
  });

  it("sends a click, a drag and key presses that reach the device as the exact scrcpy control messages", async () => {
    const from = (await controlFile()).length;
    // Click at device pixel (180, 320).
    const click = await pointFor(page, 180, 320);
    await page.mouse.click(click.x, click.y);
    // Drag from (600, 1100) to (120, 200) in 12 steps.
    const a = await pointFor(page, 600, 1100);
    const b = await pointFor(page, 120, 200);
    await page.mouse.move(a.x, a.y);
    await page.mouse.down();
    await page.mouse.move(b.x, b.y, { steps: 12 });
    await page.mouse.up();
    // Keys: text, then special keys (down and up each).
    await page.keyboard.type("Hi!");
    for (const k of ["Enter", "Backspace", "ArrowLeft", "Escape"]) await page.keyboard.press(k);

    const got = await receivedSince(from, 2 + 2 + 3 + 8);
    const finger = -2n; // the mouse is pointer 0 → scrcpy's generic finger
    const [c0, c1, ...rest] = got;
    expect(c0, describeTouch(c0!)).toEqual(touchMsg(0, finger, click.dev[0], click.dev[1], W, H, 1));
    expect(c1, describeTouch(c1!)).toEqual(touchMsg(1, finger, click.dev[0], click.dev[1], W, H, 0));
    const drag = rest.slice(0, rest.findIndex((m) => m[0] === 2 && m[1] === 1) + 1);
    expect(drag[0], describeTouch(drag[0]!)).toEqual(touchMsg(0, finger, a.dev[0], a.dev[1], W, H, 1));
    expect(drag.at(-1), describeTouch(drag.at(-1)!)).toEqual(touchMsg(1, finger, b.dev[0], b.dev[1], W, H, 0));
    const moves = drag.slice(1, -1);
    expect(moves.length).toBeGreaterThanOrEqual(1);
    let lastX = a.dev[0] + 1;
    for (const m of moves) {
      // Each move is a full-pressure MOVE of the same pointer on the drag line, moving towards its end.
      const x = m.readInt32BE(10);
      const y = m.readInt32BE(14);
      expect(m, describeTouch(m)).toEqual(touchMsg(2, finger, x, y, W, H, 1));
      expect(x).toBeLessThan(lastX);
      lastX = x;
      const onLine = a.dev[1] + ((x - a.dev[0]) * (b.dev[1] - a.dev[1])) / (b.dev[0] - a.dev[0]);
      expect(Math.abs(y - onLine), describeTouch(m)).toBeLessThanOrEqual(6);
    }
    const keys = rest.slice(drag.length);
    expect(keys).toEqual([
      textMsg("H"), textMsg("i"), textMsg("!"),
      keycodeMsg(0, 66), keycodeMsg(1, 66),
      keycodeMsg(0, 67), keycodeMsg(1, 67),
      keycodeMsg(0, 21), keycodeMsg(1, 21),
      keycodeMsg(0, 4), keycodeMsg(1, 4),
    ]);
  });

  it("sends Back, Home and Recent apps from its buttons as key down and up", async () => {
    const from = (await controlFile()).length;
    await page.getByRole("button", { name: "Back" }).click();
    await page.getByRole("button", { name: "Home" }).click();
    await page.getByRole("button", { name: "Recent" }).click();
    expect(await receivedSince(from, 6)).toEqual([
      keycodeMsg(0, 4), keycodeMsg(1, 4),
      keycodeMsg(0, 3), keycodeMsg(1, 3),
      keycodeMsg(0, 187), keycodeMsg(1, 187),
    ]);
  });

  it("gives a second viewer of the same user view-only until it requests control", async () => {
    const second = await signedInPage(alice);
    console.log(`second viewer: first frame playing ${await openPhone(second, deviceId)} ms after the click (stream already running)`);
    await expect.poll(() => second.locator("#control-state").textContent(), { timeout: 10_000 }).toBe("View only");
    await expect.poll(() => page.locator("#control-state").textContent()).toBe("You have control");

    // Its taps are refused (the page says so) and nothing reaches the device.
    let from = (await controlFile()).length;
    const p = await pointFor(second, 360, 640);
    await second.mouse.click(p.x, p.y);
    await expect.poll(() => second.locator("#error").textContent(), { timeout: 5000 }).toContain("View only");
    await sleep(500);
    expect(await controlSince(from)).toEqual([]);

    // Requesting control hands it over (same user); the first page becomes view-only.
    await second.getByRole("button", { name: "Request control" }).click();
    await expect.poll(() => second.locator("#control-state").textContent(), { timeout: 5000 }).toBe("You have control");
    await expect.poll(() => page.locator("#control-state").textContent(), { timeout: 5000 }).toBe("View only");
    from = (await controlFile()).length;
    await second.mouse.click(p.x, p.y);
    expect(await receivedSince(from, 2)).toEqual([
      touchMsg(0, -2n, p.dev[0], p.dev[1], W, H, 1),
      touchMsg(1, -2n, p.dev[0], p.dev[1], W, H, 0),
    ]);
    await second.context().close();
  });

  it("pastes text into the phone, copies its clipboard back, and rotates it (the page follows the new size)", async () => {
    // Control went to the second page, now closed: it comes back to this one (asked for if it did not).
    await sleep(500);
    if ((await page.locator("#control-state").textContent()) !== "You have control") await page.getByRole("button", { name: "Request control" }).click();
    await expect.poll(() => page.locator("#control-state").textContent(), { timeout: 5000 }).toBe("You have control");

    let from = (await controlFile()).length;
    await page.getByLabel("Clipboard text").fill("héllo wörld");
    await page.getByRole("button", { name: "Paste to phone" }).click();
    const text = Buffer.from("héllo wörld", "utf8");
    const set = Buffer.alloc(14 + text.length);
    set[0] = 9; // SET_CLIPBOARD, sequence 0 (no ack), paste = 1
    set[9] = 1;
    set.writeUInt32BE(text.length, 10);
    text.copy(set, 14);
    expect(await receivedSince(from, 1)).toEqual([set]);

    from = (await controlFile()).length;
    await page.getByLabel("Clipboard text").fill("");
    await page.getByRole("button", { name: "Copy from phone" }).click();
    expect(await receivedSince(from, 1)).toEqual([Buffer.from([8, 0])]); // GET_CLIPBOARD, no copy key
    await expect.poll(() => page.getByLabel("Clipboard text").inputValue(), { timeout: 5000 }).toBe("héllo wörld");

    from = (await controlFile()).length;
    await page.getByRole("button", { name: "Rotate" }).click();
    expect(await receivedSince(from, 1)).toEqual([Buffer.from([11])]); // ROTATE_DEVICE
    await expect.poll(() => page.locator("#video-size").textContent(), { timeout: 10_000 }).toBe(`${H}×${W}`);
    await expect.poll(() => page.locator("#status").textContent(), { timeout: 5000 }).toContain(`${H}×${W}`);
  });

  it("refuses another user's phone, a garbage ticket, a used ticket and an expired one", async () => {
    const whep = async (id: string, query: string, headers: Record<string, string> = {}) => {
      const offer = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=recvonly\r\n";
      const r = await fetch(`${cp.httpUrl}/api/devices/${id}/whep${query}`, { method: "POST", headers: { "content-type": "application/sdp", ...headers }, body: offer });
      return r.status;
    };
    // From the page itself: alice's token on bob's phone is a 404, as if it did not exist.
    const status = await page.evaluate(async (id) => {
      const api = (window as unknown as { cloudphoneViewer: { api: { authorization: string } } }).cloudphoneViewer.api;
      const pc = new RTCPeerConnection();
      pc.addTransceiver("video", { direction: "recvonly" });
      pc.createDataChannel("control");
      const offer = await pc.createOffer();
      pc.close();
      const r = await fetch(`/api/devices/${id}/whep`, { method: "POST", headers: { authorization: api.authorization, "content-type": "application/sdp" }, body: offer.sdp });
      return r.status;
    }, bobDeviceId);
    expect(status).toBe(404);
    expect(await whep(deviceId, "?ticket=cpk_not-a-ticket")).toBe(401);

    const token = await freshToken(alice);
    const t = await callAs<{ ticket: string }>(cp.httpUrl, token, "POST", `/api/devices/${deviceId}/tickets`, { purpose: "stream" });
    expect(t.status).toBe(201);
    expect(await whep(bobDeviceId, `?ticket=${encodeURIComponent(t.body.ticket)}`), "a ticket for another phone").toBe(401);
    const t2 = await callAs<{ ticket: string }>(cp.httpUrl, token, "POST", `/api/devices/${deviceId}/tickets`, { purpose: "stream" });
    const first = await whep(deviceId, `?ticket=${encodeURIComponent(t2.body.ticket)}`);
    expect(first, "the first use passes the ticket check (the minimal SDP may then be refused as malformed)").not.toBe(401);
    expect(await whep(deviceId, `?ticket=${encodeURIComponent(t2.body.ticket)}`), "a used ticket").toBe(401);

    const early = earlyTicket!;
    if (Date.now() <= early.expiresAt) await sleep(early.expiresAt - Date.now() + 100);
    expect(await whep(deviceId, `?ticket=${encodeURIComponent(early.ticket)}`), "an expired ticket").toBe(401);
  });

  it("cleans up a viewer whose browser vanished without DELETE within 5 s (heartbeat)", async () => {
    const viewers = async () => {
      const text = await (await fetch(`${agent.localApiUrl}/metrics`)).text();
      const m = /^cloudphone_agent_stream_viewers(?:\{[^}]*\})? (\d+)/m.exec(text);
      if (!m) throw new Error("no cloudphone_agent_stream_viewers in the agent's /metrics");
      return Number(m[1]);
    };
    const before = await viewers();
    // A browser of its own, killed with SIGKILL: no pagehide, no DELETE, no DTLS/SCTP close.
    const server = await pw.launchServer({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
    try {
      const doomed = await pw.connect(server.wsEndpoint());
      const p = await signedInPage(alice, doomed);
      await openPhone(p, deviceId);
      await waitFor(async () => (await viewers()) === before + 1, { timeoutMs: 5000, message: "the new viewer counted" });
      const lastPingAt = await p.evaluate(() => (window as unknown as { cloudphoneViewer: { session: { lastPingAt: number } } }).cloudphoneViewer.session.lastPingAt);
      const killedAt = Date.now();
      server.process().kill("SIGKILL");
      await waitFor(async () => (await viewers()) === before, { timeoutMs: 10_000, intervalMs: 50, message: "the vanished viewer closed" });
      const closedAt = Date.now();
      console.log(`vanished viewer closed ${closedAt - killedAt} ms after its browser was killed, ${closedAt - lastPingAt} ms after its last ping`);
      // The agent closes a viewer 5 s after its last ping (sent ≤ 1 s before the kill); allow the metric's update.
      expect(closedAt - lastPingAt).toBeLessThanOrEqual(5000 + 600);
      expect(closedAt - killedAt).toBeLessThanOrEqual(5000 + 600);
    } finally {
      await server.close().catch(() => {});
    }
  });

  it("ends the session with DELETE when the viewer leaves, with the access token it refreshed meanwhile", async () => {
    // The sign-in's token (30 s) has expired by now; the page refreshed it before (at 80 % of its lifetime).
    if (Date.now() - signedInAt < 31_000) await sleep(31_000 - (Date.now() - signedInAt));
    expect(await authorization(page)).not.toBe(firstAuthorization);
    const location = await page.evaluate(() => (window as unknown as { cloudphoneViewer: { session: { location: string } } }).cloudphoneViewer.session.location);
    expect(location).toMatch(new RegExp(`^/api/devices/${deviceId}/whep/.+`));
    const deleted = page.waitForRequest((r) => r.method() === "DELETE" && new URL(r.url()).pathname === location);
    await page.getByRole("button", { name: "Leave" }).click();
    const res = await (await deleted).response();
    expect(res?.status()).toBe(204);
    await expect.poll(() => page.locator("#device-list").isVisible()).toBe(true);
    await expect.poll(() => page.locator("#device-list li").count()).toBe(1); // the list loaded with the refreshed token
  });
});
