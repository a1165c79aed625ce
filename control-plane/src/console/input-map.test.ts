import { describe, expect, it } from "vitest";
import { ViewerMessage } from "@cloudphone/shared-protocol";
import { PointerSlots, classifyKey, contentBox, normalisePoint, parseIceServerLinks, wheelToScroll, type KeyLike } from "./input-map.js";

const key = (key: string, code: string, mods: Partial<KeyLike> = {}): KeyLike => ({ key, code, shiftKey: false, altKey: false, ctrlKey: false, metaKey: false, ...mods });

describe("contentBox (object-fit: contain)", () => {
  it("pillarboxes a portrait video in a wider element", () => {
    // 720x1280 in 600x400: scale 400/1280 = 0.3125 → 225 x 400, centred horizontally.
    expect(contentBox(600, 400, 720, 1280)).toEqual({ x: 187.5, y: 0, width: 225, height: 400 });
  });
  it("letterboxes a landscape video in a taller element", () => {
    expect(contentBox(360, 640, 1280, 720)).toEqual({ x: 0, y: 218.75, width: 360, height: 202.5 });
  });
  it("fills an element of the same aspect ratio exactly", () => {
    expect(contentBox(360, 640, 720, 1280)).toEqual({ x: 0, y: 0, width: 360, height: 640 });
  });
  it("is null until the video and element have a size", () => {
    expect(contentBox(360, 640, 0, 0)).toBeNull();
    expect(contentBox(0, 640, 720, 1280)).toBeNull();
  });
});

describe("normalisePoint", () => {
  const box = contentBox(600, 400, 720, 1280)!;
  it("maps the picture's corners and centre", () => {
    expect(normalisePoint(187.5, 0, box)).toEqual({ x: 0, y: 0, inside: true });
    expect(normalisePoint(412.5, 400, box)).toEqual({ x: 1, y: 1, inside: true });
    expect(normalisePoint(300, 200, box)).toEqual({ x: 0.5, y: 0.5, inside: true });
  });
  it("marks points on the bars as outside and clamps them (a drag leaving the picture still ends on its edge)", () => {
    expect(normalisePoint(100, 200, box)).toEqual({ x: 0, y: 0.5, inside: false });
    expect(normalisePoint(500, 450, box)).toEqual({ x: 1, y: 1, inside: false });
  });
  it("gives values the touch message schema accepts", () => {
    const p = normalisePoint(333.3, 123.4, box);
    expect(ViewerMessage.parse({ t: "touch", action: "down", id: 0, x: p.x, y: p.y })).toMatchObject({ x: p.x, y: p.y, pressure: 1 });
  });
});

describe("classifyKey", () => {
  it("maps special keys to Android keycodes", () => {
    const codes = Object.fromEntries(
      ["Enter", "Backspace", "ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "Escape", "Tab", "Delete"].map((k) => [k, classifyKey(key(k, k))]),
    );
    expect(codes).toEqual({
      Enter: { kind: "key", keycode: 66, meta: 0 },
      Backspace: { kind: "key", keycode: 67, meta: 0 },
      ArrowUp: { kind: "key", keycode: 19, meta: 0 },
      ArrowDown: { kind: "key", keycode: 20, meta: 0 },
      ArrowLeft: { kind: "key", keycode: 21, meta: 0 },
      ArrowRight: { kind: "key", keycode: 22, meta: 0 },
      Escape: { kind: "key", keycode: 4, meta: 0 },
      Tab: { kind: "key", keycode: 61, meta: 0 },
      Delete: { kind: "key", keycode: 112, meta: 0 },
    });
  });
  it("sends printable characters as text, whatever the layout produced", () => {
    expect(classifyKey(key("a", "KeyA"))).toEqual({ kind: "text", text: "a" });
    expect(classifyKey(key("A", "KeyA", { shiftKey: true }))).toEqual({ kind: "text", text: "A" });
    expect(classifyKey(key(" ", "Space"))).toEqual({ kind: "text", text: " " });
    expect(classifyKey(key("é", "Digit2"))).toEqual({ kind: "text", text: "é" });
    expect(classifyKey(key("😀", ""))).toEqual({ kind: "text", text: "😀" });
  });
  it("sends shortcuts as the physical key's keycode with the meta state", () => {
    expect(classifyKey(key("a", "KeyA", { ctrlKey: true }))).toEqual({ kind: "key", keycode: 29, meta: 0x1000 });
    expect(classifyKey(key("Z", "KeyZ", { ctrlKey: true, shiftKey: true }))).toEqual({ kind: "key", keycode: 54, meta: 0x1001 });
    expect(classifyKey(key("1", "Digit1", { altKey: true }))).toEqual({ kind: "key", keycode: 8, meta: 0x2 });
    expect(classifyKey(key("F5", "F5", { ctrlKey: true }))).toBeNull();
  });
  it("leaves modifiers, function keys and Shift+Tab to the browser", () => {
    for (const k of ["Shift", "Control", "Alt", "Meta", "F1", "CapsLock", "Dead", "Unidentified"]) expect(classifyKey(key(k, k)), k).toBeNull();
    expect(classifyKey(key("Tab", "Tab", { shiftKey: true }))).toBeNull();
  });
});

describe("wheelToScroll", () => {
  it("turns one pixel-mode notch down into one notch of negative vertical scroll", () => {
    expect(wheelToScroll(0, 100, 0)).toEqual({ dx: 0, dy: -1 });
    expect(wheelToScroll(-50, 0, 0)).toEqual({ dx: 0.5, dy: 0 });
  });
  it("handles line and page modes and clamps to the schema's ±16", () => {
    expect(wheelToScroll(0, -3, 1)).toEqual({ dx: 0, dy: 1 });
    expect(wheelToScroll(0, 2, 2)).toEqual({ dx: 0, dy: -2 });
    expect(wheelToScroll(0, 1e6, 0)).toEqual({ dx: 0, dy: -16 });
    expect(wheelToScroll(Number.NaN, 0, 0)).toEqual({ dx: 0, dy: 0 });
  });
});

describe("PointerSlots", () => {
  it("gives fingers the lowest free id in 1..31 and reuses ids after release", () => {
    const s = new PointerSlots();
    expect(s.acquire(1234)).toBe(1);
    expect(s.acquire(99)).toBe(2);
    expect(s.acquire(1234)).toBe(1); // same finger, same id
    expect(s.release(1234)).toBe(1);
    expect(s.acquire(7)).toBe(1);
    expect(s.get(99)).toBe(2);
    expect(s.size).toBe(2);
  });
  it("refuses a 32nd finger", () => {
    const s = new PointerSlots();
    for (let i = 0; i < 31; i++) expect(s.acquire(i)).toBe(i + 1);
    expect(s.acquire(100)).toBeNull();
  });
});

describe("parseIceServerLinks", () => {
  it("reads WHEP ice-server links with credentials and skips other relations", () => {
    const h = '<stun:stun.example.net>; rel="ice-server", <turn:turn.example.net:3478?transport=udp>; rel="ice-server"; username="user"; credential="p\\"w;d", </api/x>; rel="next"';
    expect(parseIceServerLinks(h)).toEqual([
      { urls: "stun:stun.example.net" },
      { urls: "turn:turn.example.net:3478?transport=udp", username: "user", credential: 'p"w;d' },
    ]);
  });
  it("is empty without a header", () => {
    expect(parseIceServerLinks(null)).toEqual([]);
    expect(parseIceServerLinks("")).toEqual([]);
  });
  it("ignores links that are not STUN/TURN URLs", () => {
    expect(parseIceServerLinks('<https://evil.example>; rel="ice-server"')).toEqual([]);
  });
});
