/**
 * Pure input mapping for the viewer page (console/viewer.js): browser geometry, keys and wheel deltas → the data
 * channel messages of shared-protocol's stream-input.ts. No DOM and no imports, because tsc compiles this file to
 * `dist/console/input-map.js`, which the browser loads as is; unit-tested in input-map.test.ts.
 */

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * Where the video picture lies inside its element with `object-fit: contain`: scaled to fit, centred, with bars
 * on two sides (letterboxing or pillarboxing). Null until the video has a size.
 */
export function contentBox(elementWidth: number, elementHeight: number, videoWidth: number, videoHeight: number): Box | null {
  if (!(elementWidth > 0 && elementHeight > 0 && videoWidth > 0 && videoHeight > 0)) return null;
  const scale = Math.min(elementWidth / videoWidth, elementHeight / videoHeight);
  const width = videoWidth * scale;
  const height = videoHeight * scale;
  return { x: (elementWidth - width) / 2, y: (elementHeight - height) / 2, width, height };
}

export interface NormalisedPoint {
  /** In [0, 1] of the picture (clamped). */
  x: number;
  y: number;
  /** False when the point was on the bars or outside the element (a press there is ignored). */
  inside: boolean;
}

/** A point relative to the element's top-left corner → normalised picture coordinates. */
export function normalisePoint(px: number, py: number, box: Box): NormalisedPoint {
  const fx = (px - box.x) / box.width;
  const fy = (py - box.y) / box.height;
  const inside = fx >= 0 && fx <= 1 && fy >= 0 && fy <= 1;
  return { x: clamp01(fx), y: clamp01(fy), inside };
}

function clamp01(v: number): number {
  return Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 0;
}

/** Android KeyEvent keycodes for the keys that are not text (KeyboardEvent.key names). */
export const SPECIAL_KEYCODES: Readonly<Record<string, number>> = {
  Enter: 66,
  Backspace: 67,
  ArrowUp: 19,
  ArrowDown: 20,
  ArrowLeft: 21,
  ArrowRight: 22,
  Escape: 4, // BACK, as scrcpy does
  Tab: 61,
  Delete: 112, // FORWARD_DEL
  Home: 122, // MOVE_HOME
  End: 123, // MOVE_END
  PageUp: 92,
  PageDown: 93,
  Insert: 124,
};

/** Android meta state bits (KeyEvent.META_*). */
export const META = { SHIFT: 0x1, ALT: 0x2, CTRL: 0x1000, META: 0x10000 } as const;

export interface KeyLike {
  key: string;
  code: string;
  shiftKey: boolean;
  altKey: boolean;
  ctrlKey: boolean;
  metaKey: boolean;
}

export type KeyAction = { kind: "text"; text: string } | { kind: "key"; keycode: number; meta: number } | null;

export function metaState(e: Pick<KeyLike, "shiftKey" | "altKey" | "ctrlKey" | "metaKey">): number {
  return (e.shiftKey ? META.SHIFT : 0) | (e.altKey ? META.ALT : 0) | (e.ctrlKey ? META.CTRL : 0) | (e.metaKey ? META.META : 0);
}

/** KEYCODE_A..Z (29..54) and KEYCODE_0..9 (7..16) for shortcuts such as Ctrl+A, from the physical key. */
function letterOrDigitKeycode(code: string): number | null {
  const letter = /^Key([A-Z])$/.exec(code);
  if (letter) return 29 + letter[1]!.charCodeAt(0) - 65;
  const digit = /^Digit([0-9])$/.exec(code);
  if (digit) return 7 + Number(digit[1]);
  return null;
}

/**
 * What a keydown means for the phone: special keys become keycodes (down here, up on keyup), a shortcut with
 * Ctrl/Alt/Meta on a letter or digit becomes that keycode with its meta state, and any other single printable
 * character becomes `text` (so the phone's IME receives the character the user's layout produced). Shift+Tab is
 * left to the browser so keyboard users can leave the screen. Null: not for the phone.
 */
export function classifyKey(e: KeyLike): KeyAction {
  if (e.key === "Tab" && e.shiftKey) return null;
  const special = SPECIAL_KEYCODES[e.key];
  if (special !== undefined) return { kind: "key", keycode: special, meta: metaState(e) };
  if (e.ctrlKey || e.altKey || e.metaKey) {
    const keycode = letterOrDigitKeycode(e.code);
    return keycode === null ? null : { kind: "key", keycode, meta: metaState(e) };
  }
  // One user-perceived character (an astral character is two UTF-16 units).
  if ([...e.key].length === 1 && e.key >= " ") return { kind: "text", text: e.key };
  return null;
}

/** The most a single wheel event may scroll (the schema allows ±16). */
export const MAX_SCROLL = 16;

/**
 * Wheel deltas → scroll notches, positive up/left as Android's AXIS_VSCROLL/HSCROLL (the browser's deltaY is
 * positive downwards). Pixel deltas count 100 px as a notch (Chromium's notch), lines 3, pages 1.
 */
export function wheelToScroll(deltaX: number, deltaY: number, deltaMode: number): { dx: number; dy: number } {
  const per = deltaMode === 0 ? 100 : deltaMode === 1 ? 3 : 1;
  const notch = (d: number) => {
    const v = -d / per;
    if (!Number.isFinite(v) || v === 0) return 0;
    return Math.max(-MAX_SCROLL, Math.min(MAX_SCROLL, Math.round(v * 1000) / 1000));
  };
  return { dx: notch(deltaX), dy: notch(deltaY) };
}

/**
 * Browser pointer/touch identifiers (arbitrary integers) → the small ids of the `touch` message: the mouse is
 * always 0, touches take the lowest free id in 1..31 while down. Null when 31 fingers are already down.
 */
export class PointerSlots {
  private readonly byBrowserId = new Map<number, number>();

  acquire(browserId: number): number | null {
    const had = this.byBrowserId.get(browserId);
    if (had !== undefined) return had;
    const used = new Set(this.byBrowserId.values());
    for (let id = 1; id <= 31; id++) {
      if (!used.has(id)) {
        this.byBrowserId.set(browserId, id);
        return id;
      }
    }
    return null;
  }

  get(browserId: number): number | undefined {
    return this.byBrowserId.get(browserId);
  }

  release(browserId: number): number | undefined {
    const id = this.byBrowserId.get(browserId);
    this.byBrowserId.delete(browserId);
    return id;
  }

  get size(): number {
    return this.byBrowserId.size;
  }
}

export interface IceServerLink {
  urls: string;
  username?: string;
  credential?: string;
}

/**
 * ICE servers from WHEP `Link` headers (RFC 8288 syntax; draft-ietf-wish-whep: `rel="ice-server"`, optional
 * `username`, `credential`), e.g. `<turn:turn.example.net:3478>; rel="ice-server"; username="u"; credential="p"`.
 * Links of other relations are ignored; a malformed header yields what parsed before it.
 */
export function parseIceServerLinks(header: string | null): IceServerLink[] {
  if (!header) return [];
  const out: IceServerLink[] = [];
  const link = /\s*<([^>]*)>((?:\s*;\s*[A-Za-z0-9_-]+\s*=\s*(?:"(?:[^"\\]|\\.)*"|[^;,"]*))*)\s*(?:,|$)/gy;
  let m: RegExpExecArray | null;
  while ((m = link.exec(header)) !== null && m[0] !== "") {
    const params = new Map<string, string>();
    for (const p of m[2]!.matchAll(/;\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;,"]*)/g)) {
      const raw = p[2]!.trim();
      params.set(p[1]!.toLowerCase(), raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, "$1") : raw);
    }
    const urls = m[1]!.trim();
    if (params.get("rel") !== "ice-server" || !/^(stun|stuns|turn|turns):/i.test(urls)) continue;
    const username = params.get("username");
    const credential = params.get("credential");
    out.push({ urls, ...(username !== undefined ? { username } : {}), ...(credential !== undefined ? { credential } : {}) });
  }
  return out;
}
