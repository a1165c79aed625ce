/**
 * scrcpy control messages as the test device records them (`/data/scrcpy/control-<scid>.bin`, byte for byte):
 * reading the file out of the container, splitting it into messages, and building the expected messages
 * independently of the agent's serialisers (layouts per scrcpy's ControlMessageReader.java, big-endian).
 */
import { docker } from "./docker.js";

/** A file of a running container, raw bytes (docker's archive API: a tar with one entry), or null if absent. */
export async function readContainerFile(container: string, path: string): Promise<Buffer | null> {
  let stream: NodeJS.ReadableStream;
  try {
    stream = await docker.getContainer(container).getArchive({ path });
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) return null;
    throw e;
  }
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as string));
  const tar = Buffer.concat(chunks);
  const size = parseInt(tar.subarray(124, 136).toString("latin1").replace(/\0.*$/s, "").trim(), 8);
  return tar.subarray(512, 512 + size);
}

/** The message list of a control byte stream; throws on a truncated or unknown message. */
export function splitControlMessages(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off < buf.length) {
    const type = buf[off]!;
    let len: number;
    switch (type) {
      case 0: len = 14; break; // INJECT_KEYCODE
      case 1: len = 5 + buf.readUInt32BE(off + 1); break; // INJECT_TEXT
      case 2: len = 32; break; // INJECT_TOUCH_EVENT
      case 3: len = 21; break; // INJECT_SCROLL_EVENT
      case 4: case 8: case 10: len = 2; break; // BACK_OR_SCREEN_ON, GET_CLIPBOARD, SET_DISPLAY_POWER
      case 5: case 6: case 7: case 11: case 17: len = 1; break; // panels, ROTATE_DEVICE, RESET_VIDEO
      case 9: len = 14 + buf.readUInt32BE(off + 10); break; // SET_CLIPBOARD
      default: throw new Error(`unknown control message type ${type} at offset ${off}`);
    }
    if (off + len > buf.length) throw new Error(`truncated control message type ${type} at offset ${off}`);
    out.push(buf.subarray(off, off + len));
    off += len;
  }
  return out;
}

export const RESET_VIDEO = 17;

export function keycodeMsg(action: 0 | 1, keycode: number, repeat = 0, meta = 0): Buffer {
  const b = Buffer.alloc(14);
  b[0] = 0;
  b[1] = action;
  b.writeInt32BE(keycode, 2);
  b.writeInt32BE(repeat, 6);
  b.writeInt32BE(meta, 10);
  return b;
}

export function textMsg(text: string): Buffer {
  const t = Buffer.from(text, "utf8");
  const b = Buffer.alloc(5 + t.length);
  b[0] = 1;
  b.writeUInt32BE(t.length, 1);
  t.copy(b, 5);
  return b;
}

/** MotionEvent action 0 down, 1 up, 2 move; pressure in [0, 1] → u16 fixed point (1.0 → 0xffff). */
export function touchMsg(action: 0 | 1 | 2, pointerId: bigint, x: number, y: number, width: number, height: number, pressure: number): Buffer {
  const b = Buffer.alloc(32);
  b[0] = 2;
  b[1] = action;
  b.writeBigInt64BE(pointerId, 2);
  b.writeInt32BE(x, 10);
  b.writeInt32BE(y, 14);
  b.writeUInt16BE(width, 18);
  b.writeUInt16BE(height, 20);
  b.writeUInt16BE(Math.min(0xffff, Math.trunc(pressure * 0x10000)), 22);
  return b; // action button and buttons: 0
}

/** A touch message's fields, for readable assertion messages. */
export function describeTouch(m: Buffer): string {
  return `touch action=${m[1]} id=${m.readBigInt64BE(2)} x=${m.readInt32BE(10)} y=${m.readInt32BE(14)} ${m.readUInt16BE(18)}x${m.readUInt16BE(20)} p=${m.readUInt16BE(22)}`;
}
