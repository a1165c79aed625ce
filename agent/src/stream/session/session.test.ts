import { afterEach, describe, expect, it, vi } from "vitest";
import { ControlHolder } from "./control-holder.js";
import { Heartbeat } from "./heartbeat.js";
import { controlMessagesFor, toPixel } from "./input.js";
import { MinInterval, TokenBucket } from "./rate-limiter.js";
import { Timeline } from "../capture/timeline.js";
import { pickH264 } from "../webrtc/codec.js";

describe("control holder", () => {
  it("the first viewer controls; others watch; the holder leaving passes control to the oldest viewer", () => {
    const h = new ControlHolder();
    expect(h.join("a", "alice")).toEqual({ holder: "a", changed: true });
    expect(h.join("b", "bob")).toEqual({ holder: "a", changed: false });
    h.join("c", "carol");
    expect(h.request("b")).toMatchObject({ granted: false, holder: "a" });
    expect(h.leave("a")).toEqual({ holder: "b", changed: true });
  });
  it("request is granted when nobody holds control or the holder is the same user; release hands over or frees", () => {
    const h = new ControlHolder();
    h.join("a", "alice");
    h.join("a2", "alice");
    h.join("b", "bob");
    expect(h.request("a2")).toMatchObject({ granted: true, holder: "a2", changed: true });
    expect(h.release("b")).toMatchObject({ allowed: false, holder: "a2" });
    expect(h.release("a2", "b")).toMatchObject({ allowed: true, holder: "b", changed: true });
    expect(h.release("b", "nosuch")).toMatchObject({ allowed: true, holder: null });
    expect(h.request("a")).toMatchObject({ granted: true, holder: "a" });
  });
});

describe("input mapping", () => {
  it("maps normalised coordinates into the current video size (exact scrcpy touch bytes)", () => {
    expect(toPixel(0, 720)).toBe(0);
    expect(toPixel(1, 720)).toBe(719);
    const [touch] = controlMessagesFor({ t: "touch", action: "down", id: 0, x: 0.5, y: 0.25, pressure: 1 }, { width: 720, height: 1280 })!;
    expect(touch!.toString("hex")).toBe("0200fffffffffffffffe000001680000014002d00500ffff0000000000000000");
    const [rotated] = controlMessagesFor({ t: "touch", action: "up", id: 3, x: 0.5, y: 0.25, pressure: 1 }, { width: 1280, height: 720 })!;
    expect(rotated!.subarray(10, 24).toString("hex")).toBe("00000280000000b405000" + "2d00000");
    expect(controlMessagesFor({ t: "touch", action: "down", id: 0, x: 0, y: 0, pressure: 1 }, null)).toBeNull();
  });
  it("nav buttons are keycode down+up; text is chunked; rotate and clipboard", () => {
    const nav = controlMessagesFor({ t: "nav", button: "app_switch" }, null)!;
    expect(nav.map((b) => b.toString("hex"))).toEqual(["0000000000bb0000000000000000", "0001000000bb0000000000000000"]);
    expect(controlMessagesFor({ t: "text", text: "x".repeat(301) }, null)!.map((b) => b.length)).toEqual([305, 6]);
    expect(controlMessagesFor({ t: "rotate" }, null)![0]!.toString("hex")).toBe("0b");
    expect(controlMessagesFor({ t: "clipboard.get" }, null)![0]!.toString("hex")).toBe("0800");
  });
});

describe("rate limiting, heartbeat, timeline, codec choice", () => {
  afterEach(() => vi.useRealTimers());
  it("token bucket refills at the rate, up to the burst", () => {
    const b = new TokenBucket(10, 2, 0);
    expect([b.take(0), b.take(0), b.take(0)]).toEqual([true, true, false]);
    expect(b.take(100)).toBe(true);
    const m = new MinInterval(500);
    expect([m.tryNow(0), m.tryNow(499), m.tryNow(500)]).toEqual([true, false, true]);
  });
  it("heartbeat expires without pings and not while pinged", () => {
    vi.useFakeTimers();
    const expired = vi.fn();
    const h = new Heartbeat({ timeoutMs: 5000, firstTimeoutMs: 15000, onExpire: expired });
    vi.advanceTimersByTime(14_000);
    h.beat();
    vi.advanceTimersByTime(4_900);
    h.beat();
    vi.advanceTimersByTime(4_900);
    expect(expired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(200);
    expect(expired).toHaveBeenCalledTimes(1);
    const h2 = new Heartbeat({ timeoutMs: 5000, firstTimeoutMs: 100, onExpire: expired });
    h2.stop();
    vi.advanceTimersByTime(1000);
    expect(expired).toHaveBeenCalledTimes(1);
  });
  it("timeline stays strictly increasing when the source restarts its clock", () => {
    const t = new Timeline(33_333);
    expect([t.map(0), t.map(33_333), t.map(0), t.map(33_333)]).toEqual([0, 33_333, 66_666, 99_999]);
  });
  it("picks one H.264 with packetization-mode=1 and the stream's profile", () => {
    const offered = [
      { payloadType: 102, mimeType: "video/H264", parameters: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f" },
      { payloadType: 106, mimeType: "video/H264", parameters: "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f" },
      { payloadType: 108, mimeType: "video/H264", parameters: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f" },
      { payloadType: 96, mimeType: "video/VP8" },
    ];
    expect(pickH264(offered, "42c01f")?.payloadType).toBe(108);
    expect(pickH264(offered.slice(3), "42c01f")).toBeNull();
  });
});
