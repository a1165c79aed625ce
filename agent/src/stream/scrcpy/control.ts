/**
 * scrcpy control socket: client → device control messages (serialisers) and device → client messages (parser).
 * Layout per `ControlMessageReader.java` / `DeviceMessageWriter.java`, unchanged from 2.0 to 4.1; all big-endian.
 */

export const ControlType = {
  INJECT_KEYCODE: 0,
  INJECT_TEXT: 1,
  INJECT_TOUCH_EVENT: 2,
  INJECT_SCROLL_EVENT: 3,
  BACK_OR_SCREEN_ON: 4,
  EXPAND_NOTIFICATION_PANEL: 5,
  EXPAND_SETTINGS_PANEL: 6,
  COLLAPSE_PANELS: 7,
  GET_CLIPBOARD: 8,
  SET_CLIPBOARD: 9,
  SET_DISPLAY_POWER: 10,
  ROTATE_DEVICE: 11,
  START_APP: 16,
  RESET_VIDEO: 17,
} as const;

/** Android KeyEvent actions and MotionEvent actions (the server derives POINTER_DOWN/UP itself). */
export const KeyAction = { DOWN: 0, UP: 1 } as const;
export const MotionAction = { DOWN: 0, UP: 1, MOVE: 2 } as const;

/** Android KeyEvent keycodes used by the viewer. */
export const Keycode = {
  HOME: 3,
  BACK: 4,
  VOLUME_UP: 24,
  VOLUME_DOWN: 25,
  POWER: 26,
  ENTER: 66,
  DEL: 67,
  MENU: 82,
  APP_SWITCH: 187,
  SLEEP: 223,
  WAKEUP: 224,
} as const;
export const MetaState = { SHIFT: 0x1, ALT: 0x2, CTRL: 0x1000 } as const;

/** Special pointer ids (scrcpy `control_msg.h`); browser touches use small non-negative ids. */
export const PointerId = { MOUSE: -1n, GENERIC_FINGER: -2n, VIRTUAL_FINGER: -3n } as const;

/** Server-side limits: longer text is rejected, so callers must chunk (see `chunkUtf8`). */
export const INJECT_TEXT_MAX_BYTES = 300;
export const CLIPBOARD_TEXT_MAX_BYTES = (1 << 18) - 14;
const DEVICE_MESSAGE_MAX_BYTES = 1 << 18;

function int32(name: string, v: number): number {
  if (!Number.isInteger(v) || v < -0x8000_0000 || v > 0x7fff_ffff) throw new RangeError(`${name} must be an int32, got ${v}`);
  return v;
}
function uint16(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`${name} must be a uint16, got ${v}`);
  return v;
}

/** [0,1] → u16 fixed point, 1.0 saturating to 0xffff (scrcpy `sc_float_to_u16fp`). */
export function toU16FixedPoint(f: number): number {
  if (!(f >= 0 && f <= 1)) throw new RangeError(`value must be in [0, 1], got ${f}`);
  return Math.min(0xffff, Math.trunc(f * 0x1_0000));
}

/** [-1,1] → i16 fixed point, 1.0 saturating to 0x7fff (scrcpy `sc_float_to_i16fp`). */
export function toI16FixedPoint(f: number): number {
  if (!(f >= -1 && f <= 1)) throw new RangeError(`value must be in [-1, 1], got ${f}`);
  return Math.min(0x7fff, Math.trunc(f * 0x8000));
}

export interface KeycodeMessage {
  action: number;
  keycode: number;
  repeat?: number;
  metaState?: number;
}

export function injectKeycode(m: KeycodeMessage): Buffer {
  const b = Buffer.allocUnsafe(14);
  b[0] = ControlType.INJECT_KEYCODE;
  b[1] = m.action & 0xff;
  b.writeInt32BE(int32("keycode", m.keycode), 2);
  b.writeInt32BE(int32("repeat", m.repeat ?? 0), 6);
  b.writeInt32BE(int32("metaState", m.metaState ?? 0), 10);
  return b;
}

export function injectText(text: string): Buffer {
  const utf8 = Buffer.from(text, "utf8");
  if (utf8.length > INJECT_TEXT_MAX_BYTES) {
    throw new RangeError(`text is ${utf8.length} UTF-8 bytes; at most ${INJECT_TEXT_MAX_BYTES} per message`);
  }
  const b = Buffer.allocUnsafe(5 + utf8.length);
  b[0] = ControlType.INJECT_TEXT;
  b.writeUInt32BE(utf8.length, 1);
  utf8.copy(b, 5);
  return b;
}

/** Splits text into pieces of at most `maxBytes` UTF-8 bytes without cutting a code point. */
export function chunkUtf8(text: string, maxBytes = INJECT_TEXT_MAX_BYTES): string[] {
  const out: string[] = [];
  let cur = "";
  let curBytes = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch, "utf8");
    if (curBytes + n > maxBytes && cur !== "") {
      out.push(cur);
      cur = "";
      curBytes = 0;
    }
    cur += ch;
    curBytes += n;
  }
  if (cur !== "") out.push(cur);
  return out;
}

export interface TouchMessage {
  action: number;
  /** i64; negative ids are scrcpy's mouse/finger specials. */
  pointerId: bigint | number;
  /** Position in video-frame pixels. */
  x: number;
  y: number;
  /** Current video size; the server ignores events whose size differs from its capture size. */
  screenWidth: number;
  screenHeight: number;
  /** 0..1 */
  pressure: number;
  actionButton?: number;
  buttons?: number;
}

export function injectTouch(m: TouchMessage): Buffer {
  const b = Buffer.allocUnsafe(32);
  b[0] = ControlType.INJECT_TOUCH_EVENT;
  b[1] = m.action & 0xff;
  b.writeBigInt64BE(BigInt(m.pointerId), 2);
  b.writeInt32BE(int32("x", m.x), 10);
  b.writeInt32BE(int32("y", m.y), 14);
  b.writeUInt16BE(uint16("screenWidth", m.screenWidth), 18);
  b.writeUInt16BE(uint16("screenHeight", m.screenHeight), 20);
  b.writeUInt16BE(toU16FixedPoint(m.pressure), 22);
  b.writeInt32BE(int32("actionButton", m.actionButton ?? 0), 24);
  b.writeInt32BE(int32("buttons", m.buttons ?? 0), 28);
  return b;
}

export interface ScrollMessage {
  x: number;
  y: number;
  screenWidth: number;
  screenHeight: number;
  /** Scroll amounts in [-16, 16] (clamped), sent as i16 fixed point of value/16. */
  hscroll: number;
  vscroll: number;
  buttons?: number;
}

export function injectScroll(m: ScrollMessage): Buffer {
  const norm = (v: number) => Math.max(-1, Math.min(1, v / 16));
  const b = Buffer.allocUnsafe(21);
  b[0] = ControlType.INJECT_SCROLL_EVENT;
  b.writeInt32BE(int32("x", m.x), 1);
  b.writeInt32BE(int32("y", m.y), 5);
  b.writeUInt16BE(uint16("screenWidth", m.screenWidth), 9);
  b.writeUInt16BE(uint16("screenHeight", m.screenHeight), 11);
  b.writeInt16BE(toI16FixedPoint(norm(m.hscroll)), 13);
  b.writeInt16BE(toI16FixedPoint(norm(m.vscroll)), 15);
  b.writeInt32BE(int32("buttons", m.buttons ?? 0), 17);
  return b;
}

/** BACK when the screen is on, otherwise turns it on; `action` is a KeyAction (send DOWN then UP). */
export function backOrScreenOn(action: number): Buffer {
  return Buffer.from([ControlType.BACK_OR_SCREEN_ON, action & 0xff]);
}

export const expandNotificationPanel = (): Buffer => Buffer.from([ControlType.EXPAND_NOTIFICATION_PANEL]);
export const expandSettingsPanel = (): Buffer => Buffer.from([ControlType.EXPAND_SETTINGS_PANEL]);
export const collapsePanels = (): Buffer => Buffer.from([ControlType.COLLAPSE_PANELS]);
export const rotateDevice = (): Buffer => Buffer.from([ControlType.ROTATE_DEVICE]);
/** Restarts capture: a new config packet and an IDR follow (how the agent asks for a keyframe). */
export const resetVideo = (): Buffer => Buffer.from([ControlType.RESET_VIDEO]);

export const CopyKey = { NONE: 0, COPY: 1, CUT: 2 } as const;

/** Asks for the device clipboard (answered by a CLIPBOARD device message), optionally pressing COPY/CUT first. */
export function getClipboard(copyKey: number = CopyKey.NONE): Buffer {
  return Buffer.from([ControlType.GET_CLIPBOARD, copyKey & 0xff]);
}

/** Sets the device clipboard; a non-zero `sequence` is acknowledged by ACK_CLIPBOARD; `paste` also pastes it. */
export function setClipboard(m: { sequence: bigint; paste: boolean; text: string }): Buffer {
  const utf8 = Buffer.from(m.text, "utf8");
  if (utf8.length > CLIPBOARD_TEXT_MAX_BYTES) {
    throw new RangeError(`clipboard text is ${utf8.length} UTF-8 bytes; at most ${CLIPBOARD_TEXT_MAX_BYTES}`);
  }
  const b = Buffer.allocUnsafe(14 + utf8.length);
  b[0] = ControlType.SET_CLIPBOARD;
  b.writeBigUInt64BE(m.sequence, 1);
  b[9] = m.paste ? 1 : 0;
  b.writeUInt32BE(utf8.length, 10);
  utf8.copy(b, 14);
  return b;
}

export function setDisplayPower(on: boolean): Buffer {
  return Buffer.from([ControlType.SET_DISPLAY_POWER, on ? 1 : 0]);
}

/** Starts an app by package name (or `+name` to force-stop first); name length is a u8. */
export function startApp(name: string): Buffer {
  const utf8 = Buffer.from(name, "utf8");
  if (utf8.length === 0 || utf8.length > 255) throw new RangeError(`app name must be 1..255 UTF-8 bytes, got ${utf8.length}`);
  return Buffer.concat([Buffer.from([ControlType.START_APP, utf8.length]), utf8]);
}

export type DeviceMessage =
  | { type: "clipboard"; text: string }
  | { type: "ackClipboard"; sequence: bigint }
  | { type: "uhidOutput"; id: number; data: Buffer };

export class DeviceMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DeviceMessageError";
  }
}

/** Incremental parser for device → client messages on the control socket (any chunking). */
export class DeviceMessageParser {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Uint8Array): DeviceMessage[] {
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    const out: DeviceMessage[] = [];
    for (;;) {
      const r = this.parseOne();
      if (!r) break;
      out.push(r.msg);
      this.buf = this.buf.subarray(r.size);
    }
    return out;
  }

  private parseOne(): { msg: DeviceMessage; size: number } | null {
    const b = this.buf;
    if (b.length < 1) return null;
    const type = b[0] as number;
    switch (type) {
      case 0: {
        if (b.length < 5) return null;
        const len = b.readUInt32BE(1);
        if (len > DEVICE_MESSAGE_MAX_BYTES) throw new DeviceMessageError(`clipboard message of ${len} bytes exceeds ${DEVICE_MESSAGE_MAX_BYTES}`);
        if (b.length < 5 + len) return null;
        return { msg: { type: "clipboard", text: b.toString("utf8", 5, 5 + len) }, size: 5 + len };
      }
      case 1:
        if (b.length < 9) return null;
        return { msg: { type: "ackClipboard", sequence: b.readBigUInt64BE(1) }, size: 9 };
      case 2: {
        if (b.length < 5) return null;
        const len = b.readUInt16BE(3);
        if (b.length < 5 + len) return null;
        return { msg: { type: "uhidOutput", id: b.readUInt16BE(1), data: Buffer.from(b.subarray(5, 5 + len)) }, size: 5 + len };
      }
      default:
        throw new DeviceMessageError(`unknown device message type ${type}`);
    }
  }
}
