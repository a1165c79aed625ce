import type { ViewerMessage } from "@cloudphone/shared-protocol";
import {
  CopyKey,
  KeyAction,
  Keycode,
  MotionAction,
  PointerId,
  chunkUtf8,
  getClipboard,
  injectKeycode,
  injectScroll,
  injectText,
  injectTouch,
  rotateDevice,
  setClipboard,
} from "../scrcpy/control.js";

/**
 * Viewer input (stream-input.ts `ViewerMessage`) → exact scrcpy control messages. Pure. Coordinates arrive
 * normalised to [0, 1] of the picture and are mapped to pixels of the current video size, which the server
 * requires in every positional message (it drops events carrying another size).
 */

export interface VideoSize {
  width: number;
  height: number;
}

/** [0, 1] → pixel column/row in [0, size - 1]. */
export function toPixel(unit: number, size: number): number {
  return Math.min(size - 1, Math.max(0, Math.floor(unit * size)));
}

/** Browser pointer ids: 0 (the mouse, or the first touch) is scrcpy's generic finger; others keep their number. */
export function scrcpyPointerId(id: number): bigint {
  return id === 0 ? PointerId.GENERIC_FINGER : BigInt(id);
}

const TOUCH_ACTION = { down: MotionAction.DOWN, move: MotionAction.MOVE, up: MotionAction.UP, cancel: MotionAction.UP } as const;
const NAV_KEYCODE = { back: Keycode.BACK, home: Keycode.HOME, app_switch: Keycode.APP_SWITCH } as const;

export type InputMessage = Extract<ViewerMessage, { t: "touch" | "scroll" | "key" | "text" | "nav" | "rotate" | "clipboard.get" | "clipboard.set" }>;
const INPUT_TYPES: ReadonlySet<string> = new Set(["touch", "scroll", "key", "text", "nav", "rotate", "clipboard.get", "clipboard.set"]);

export function isInputMessage(m: ViewerMessage): m is InputMessage {
  return INPUT_TYPES.has(m.t);
}

/** The control messages for one input message; `null` when the video size is not known yet (nothing to map to). */
export function controlMessagesFor(m: InputMessage, size: VideoSize | null): Buffer[] | null {
  switch (m.t) {
    case "touch": {
      if (!size) return null;
      const up = m.action === "up" || m.action === "cancel";
      return [
        injectTouch({
          action: TOUCH_ACTION[m.action],
          pointerId: scrcpyPointerId(m.id),
          x: toPixel(m.x, size.width),
          y: toPixel(m.y, size.height),
          screenWidth: size.width,
          screenHeight: size.height,
          // Like scrcpy's own client: a lifted pointer has no pressure.
          pressure: up ? 0 : m.pressure,
        }),
      ];
    }
    case "scroll":
      if (!size) return null;
      return [
        injectScroll({ x: toPixel(m.x, size.width), y: toPixel(m.y, size.height), screenWidth: size.width, screenHeight: size.height, hscroll: m.dx, vscroll: m.dy }),
      ];
    case "key":
      return [injectKeycode({ action: m.action === "down" ? KeyAction.DOWN : KeyAction.UP, keycode: m.keycode, repeat: m.repeat, metaState: m.meta })];
    case "text":
      return chunkUtf8(m.text).map((part) => injectText(part));
    case "nav": {
      const keycode = NAV_KEYCODE[m.button];
      return [injectKeycode({ action: KeyAction.DOWN, keycode }), injectKeycode({ action: KeyAction.UP, keycode })];
    }
    case "rotate":
      return [rotateDevice()];
    case "clipboard.get":
      return [getClipboard(CopyKey.NONE)];
    case "clipboard.set":
      // Sequence 0: no acknowledgement wanted (the viewer is not told when the device applied it).
      return [setClipboard({ sequence: 0n, paste: m.paste, text: m.text })];
  }
}
