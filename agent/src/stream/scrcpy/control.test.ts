import { describe, expect, it } from "vitest";
import {
  backOrScreenOn,
  chunkUtf8,
  collapsePanels,
  CopyKey,
  DeviceMessageParser,
  expandNotificationPanel,
  expandSettingsPanel,
  getClipboard,
  injectKeycode,
  injectScroll,
  injectText,
  injectTouch,
  KeyAction,
  Keycode,
  MetaState,
  MotionAction,
  PointerId,
  resetVideo,
  rotateDevice,
  setClipboard,
  setDisplayPower,
  startApp,
} from "./control.js";

const hex = (s: string) => s.replace(/\s+/g, "");

describe("scrcpy control messages", () => {
  it("serialises a touch DOWN exactly as the verified 32 bytes", () => {
    const b = injectTouch({
      action: MotionAction.DOWN,
      pointerId: PointerId.GENERIC_FINGER,
      x: 100,
      y: 200,
      screenWidth: 720,
      screenHeight: 1280,
      pressure: 1,
    });
    expect(b.length).toBe(32);
    expect(b.toString("hex")).toBe(hex("02 00 fffffffffffffffe 00000064 000000c8 02d0 0500 ffff 00000000 00000000"));
  });

  it("serialises touch UP/MOVE with small pointer ids, half pressure and buttons", () => {
    const b = injectTouch({ action: MotionAction.MOVE, pointerId: 3, x: 719, y: 0, screenWidth: 720, screenHeight: 1280, pressure: 0.5, actionButton: 1, buttons: 1 });
    expect(b.toString("hex")).toBe(hex("02 02 0000000000000003 000002cf 00000000 02d0 0500 8000 00000001 00000001"));
    expect(() => injectTouch({ action: 1, pointerId: 0, x: 1, y: 1, screenWidth: 70_000, screenHeight: 1, pressure: 0 })).toThrow(
      "screenWidth must be a uint16, got 70000",
    );
    expect(() => injectTouch({ action: 1, pointerId: 0, x: 1, y: 1, screenWidth: 1, screenHeight: 1, pressure: 1.5 })).toThrow(
      "value must be in [0, 1], got 1.5",
    );
  });

  it("serialises keycodes (14 bytes)", () => {
    expect(injectKeycode({ action: KeyAction.DOWN, keycode: Keycode.HOME }).toString("hex")).toBe(hex("00 00 00000003 00000000 00000000"));
    expect(injectKeycode({ action: KeyAction.UP, keycode: Keycode.APP_SWITCH, repeat: 2, metaState: MetaState.SHIFT | MetaState.CTRL }).toString("hex")).toBe(
      hex("00 01 000000bb 00000002 00001001"),
    );
  });

  it("serialises text with a u32 length and enforces the 300-byte limit", () => {
    expect(injectText("hé").toString("hex")).toBe(hex("01 00000003 68 c3a9"));
    expect(() => injectText("x".repeat(301))).toThrow("text is 301 UTF-8 bytes; at most 300 per message");
    const parts = chunkUtf8("é".repeat(200)); // 400 bytes, 2-byte code points
    expect(parts.map((p) => Buffer.byteLength(p))).toEqual([300, 100]);
    expect(parts.join("")).toBe("é".repeat(200));
    expect(chunkUtf8("😀😀", 5)).toEqual(["😀", "😀"]);
  });

  it("serialises scroll (21 bytes, ±16 mapped to i16 fixed point of ±1)", () => {
    const b = injectScroll({ x: 10, y: 20, screenWidth: 720, screenHeight: 1280, hscroll: 0, vscroll: -1 });
    expect(b.toString("hex")).toBe(hex("03 0000000a 00000014 02d0 0500 0000 f800 00000000"));
    const full = injectScroll({ x: 0, y: 0, screenWidth: 1, screenHeight: 1, hscroll: 99, vscroll: -16, buttons: 0 });
    expect(full.subarray(13, 17).toString("hex")).toBe("7fff8000");
  });

  it("serialises the one- and two-byte commands", () => {
    expect(backOrScreenOn(KeyAction.DOWN).toString("hex")).toBe("0400");
    expect(backOrScreenOn(KeyAction.UP).toString("hex")).toBe("0401");
    expect(expandNotificationPanel().toString("hex")).toBe("05");
    expect(expandSettingsPanel().toString("hex")).toBe("06");
    expect(collapsePanels().toString("hex")).toBe("07");
    expect(getClipboard().toString("hex")).toBe("0800");
    expect(getClipboard(CopyKey.CUT).toString("hex")).toBe("0802");
    expect(setDisplayPower(true).toString("hex")).toBe("0a01");
    expect(setDisplayPower(false).toString("hex")).toBe("0a00");
    expect(rotateDevice().toString("hex")).toBe("0b");
    expect(resetVideo().toString("hex")).toBe("11");
    expect(startApp("org.example").toString("hex")).toBe("100b" + Buffer.from("org.example").toString("hex"));
  });

  it("serialises SET_CLIPBOARD (sequence u64, paste u8, len u32, UTF-8)", () => {
    expect(setClipboard({ sequence: 0x0102030405060708n, paste: true, text: "hi" }).toString("hex")).toBe(hex("09 0102030405060708 01 00000002 6869"));
    expect(setClipboard({ sequence: 0n, paste: false, text: "" }).toString("hex")).toBe(hex("09 0000000000000000 00 00000000"));
  });
});

describe("scrcpy device messages", () => {
  it("parses CLIPBOARD and ACK_CLIPBOARD across arbitrary chunk boundaries", () => {
    const stream = Buffer.concat([
      Buffer.from("00000000056869c3a921", "hex"), // CLIPBOARD "hié!"
      Buffer.from("01000000000000002a", "hex"), // ACK_CLIPBOARD 42
      Buffer.from("0000000000", "hex"), // empty CLIPBOARD
      Buffer.from("020007000201ff", "hex"), // UHID_OUTPUT id 7, 2 bytes
    ]);
    const expected = [
      { type: "clipboard", text: "hié!" },
      { type: "ackClipboard", sequence: 42n },
      { type: "clipboard", text: "" },
      { type: "uhidOutput", id: 7, data: Buffer.from([1, 0xff]) },
    ];
    for (let step = 1; step <= stream.length; step++) {
      const p = new DeviceMessageParser();
      const got = [];
      for (let i = 0; i < stream.length; i += step) got.push(...p.push(stream.subarray(i, i + step)));
      expect(got).toEqual(expected);
    }
  });

  it("rejects unknown types and oversize clipboard messages", () => {
    expect(() => new DeviceMessageParser().push(Buffer.from([9]))).toThrow("unknown device message type 9");
    expect(() => new DeviceMessageParser().push(Buffer.from("00ffffffff", "hex"))).toThrow("clipboard message of 4294967295 bytes exceeds 262144");
  });
});
