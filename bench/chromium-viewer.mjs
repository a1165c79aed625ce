// A real browser as the joining viewer for bench/stream-latency.mjs: Debian's Chromium driven by playwright-core, with
// the launch path and flags of the viewer page tests (test/support/chromium.ts, loaded from its source so the two never
// drift apart). One browser, one blank page; each join is a fresh RTCPeerConnection set up like the console's viewer
// (control-plane/src/console/stream.js: max-bundle, recvonly video, the `control` data channel, non-trickle offer),
// answered in Node by the caller, and timed in the page up to the first presented frame (requestVideoFrameCallback).
//
// Loopback only. Without a media permission Chromium does not enumerate adapters: it gathers on ONE UDP socket bound
// to the any address and advertises it under the default route's address (here the host's eth0 address), hidden
// behind an mDNS name that it announces to 224.0.0.251, and that werift would try to resolve by multicast. So:
//   --force-webrtc-ip-handling-policy=default_public_interface_only  pins that one any-address socket (no enumeration,
//       whatever the permission state);
//   --disable-features=WebRtcHideLocalIpsWithMdns  no mDNS name, so no multicast announcement and no lookup in werift;
//   --host-resolver-rules=MAP * ~NOTFOUND  Chromium's own background lookups (update.googleapis.com, seen under strace
//       despite --disable-component-update) never reach the resolver;
//   the offer's IPv4 host candidate is rewritten to 127.0.0.1 with the same port (the socket is bound to 0.0.0.0, so
//       it receives there), other candidates dropped; the answer keeps only the agent's 127.0.0.1 candidate
//       (test/support/loopback-ice.ts, shared with the tests; the Chromium flags are the tests' CHROMIUM_ARGS).
// Chromium then sends checks to 127.0.0.1 only (from its any-address socket, i.e. from 127.0.0.1), and werift only
// ever sees 127.0.0.1 peers. Every join asserts both sides: each checked pair in the page's stats and each pair werift
// formed has a 127.0.0.1 remote. (Verified once under strace -f: Chromium's only non-loopback connect() calls are the
// UDP route probes to 8.8.8.8 / 2001:4860:4860::8888, which send nothing.)
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { importTsHelper, repoRoot } from "./lib.mjs";

const { anyAddressOfferAtLoopback, assertLoopbackPairs, LOOPBACK, loopbackOnly } = await importTsHelper("test/support/loopback-ice.ts");
/**
 * As the console page (control-plane/src/console/stream.js) without ICE servers: the offer goes out when gathering
 * completes, HOST_SETTLE_MS after the first host candidate, or after GATHER_TIMEOUT_MS.
 */
const GATHER_TIMEOUT_MS = 3000;
const HOST_SETTLE_MS = 40;
const FRAME_TIMEOUT_MS = 10_000;

/**
 * test/support/chromium.ts (CHROMIUM_PATH, CHROMIUM_ARGS, playwright's `chromium`), transpiled into a temp module whose
 * playwright-core import points at the test package's copy (the bench package does not depend on it).
 */
async function loadChromiumSupport() {
  const testRequire = createRequire(join(repoRoot, "test/package.json"));
  const playwright = pathToFileURL(join(dirname(testRequire.resolve("playwright-core/package.json")), "index.mjs")).href;
  const support = await importTsHelper("test/support/chromium.ts", { imports: { "playwright-core": playwright } });
  const { chromium } = await import(playwright);
  return { chromium, path: support.CHROMIUM_PATH, args: support.CHROMIUM_ARGS };
}

/** Runs in the page: one join, timed from just before `new RTCPeerConnection()`; the pc stays open (pageClose ends it). */
async function pageJoin({ gatherTimeoutMs, hostSettleMs, frameTimeoutMs }) {
  const t0 = performance.now();
  const at = () => performance.now() - t0;
  const r = { gatheredMs: null, answerMs: null, iceConnectedMs: null, connectedMs: null, firstFrameMs: null, checkedRemotes: [], videoWidth: 0 };
  const video = document.querySelector("video");
  const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
  window.benchPc = pc;
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.createDataChannel("control", { ordered: true });
  pc.oniceconnectionstatechange = () => {
    if (pc.iceConnectionState === "connected" || pc.iceConnectionState === "completed") r.iceConnectedMs ??= at();
  };
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === "connected") r.connectedMs ??= at();
  };
  let timer;
  const firstFrame = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no frame presented within ${frameTimeoutMs} ms (connection ${pc.connectionState})`)), frameTimeoutMs);
    pc.ontrack = (e) => {
      video.srcObject = e.streams[0] ?? new MediaStream([e.track]);
      video.requestVideoFrameCallback(() => resolve(at()));
    };
  });
  await pc.setLocalDescription(await pc.createOffer());
  if (pc.iceGatheringState !== "complete") {
    await new Promise((resolve) => {
      const done = setTimeout(resolve, gatherTimeoutMs);
      pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && (clearTimeout(done), resolve());
      pc.onicecandidate = (e) => e.candidate && / typ host/.test(e.candidate.candidate) && setTimeout(resolve, hostSettleMs);
    });
  }
  r.gatheredMs = at();
  const answer = await window.benchAnswer(pc.localDescription.sdp);
  r.answerMs = at();
  await pc.setRemoteDescription({ type: "answer", sdp: answer });
  try {
    r.firstFrameMs = await firstFrame;
  } finally {
    clearTimeout(timer);
  }
  r.videoWidth = video.videoWidth;
  const stats = await pc.getStats();
  for (const s of stats.values()) {
    if (s.type === "candidate-pair" && (s.requestsSent ?? 0) + (s.responsesSent ?? 0) > 0) {
      const remote = stats.get(s.remoteCandidateId);
      r.checkedRemotes.push(remote?.address ?? `${remote?.candidateType} (address hidden)`);
    }
  }
  return r;
}

function pageClose() {
  window.benchPc?.close();
  window.benchPc = null;
  document.querySelector("video").srcObject = null;
}

/**
 * Launches the browser (fails with a hint when Chromium is missing) and returns `join(answer)`: one viewer join, where
 * `answer(offerSdp)` resolves with `{ sdp, pc }` (the agent side's answer and its werift RTCPeerConnection).
 */
export async function launchChromiumViewer() {
  const { chromium, path, args } = await loadChromiumSupport();
  if (!existsSync(path)) {
    throw new Error(`bench:latency needs Chromium for its browser viewer: ${path} not found (apt-get install chromium, as .ci/run does, or set CLOUDPHONE_CHROMIUM)`);
  }
  const browser = await chromium.launch({ executablePath: path, headless: true, args });
  const page = await browser.newPage();
  let current = null;
  await page.exposeFunction("benchAnswer", async (offer) => {
    if (!current) throw new Error("an offer outside a join");
    const { sdp, pc } = await current.answer(anyAddressOfferAtLoopback(offer));
    current.pc = pc;
    return loopbackOnly(sdp, "the agent's answer");
  });
  await page.setContent("<!doctype html><title>bench viewer</title><video muted autoplay playsinline></video>");
  return {
    version: browser.version(),
    async join(answer) {
      current = { answer, pc: null };
      try {
        const r = await page.evaluate(pageJoin, { gatherTimeoutMs: GATHER_TIMEOUT_MS, hostSettleMs: HOST_SETTLE_MS, frameTimeoutMs: FRAME_TIMEOUT_MS });
        if (r.checkedRemotes.length === 0 || r.checkedRemotes.some((a) => a !== LOOPBACK)) throw new Error(`the browser checked ${r.checkedRemotes.join(", ") || "no pair"}, not only ${LOOPBACK}`);
        assertLoopbackPairs(current.pc, "the agent (browser join)");
        if (r.videoWidth === 0) throw new Error("a frame was presented but the video has no size");
        return r;
      } finally {
        current = null;
        await page.evaluate(pageClose);
      }
    },
    close: () => browser.close(),
  };
}
