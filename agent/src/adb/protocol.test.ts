import { describe, expect, it } from "vitest";
import {
  SHELL_V2,
  ShellProtocolError,
  ShellV2Decoder,
  commandLine,
  encodeRequest,
  encodeShellPacket,
  parseHexLength,
  shellQuote,
  shellV2Service,
} from "./protocol.js";

describe("smart-socket requests", () => {
  it("prefixes the byte length as 4 hex digits", () => {
    expect(encodeRequest("host:version").toString("ascii")).toBe("000chost:version");
    expect(encodeRequest("host:transport:127.0.0.1:20001").toString("ascii")).toBe("001ehost:transport:127.0.0.1:20001");
    expect(encodeRequest("é").subarray(0, 4).toString("ascii")).toBe("0002"); // bytes, not characters
    expect(() => encodeRequest("x".repeat(65536))).toThrow(RangeError);
  });
  it("parses hex length fields and rejects anything else", () => {
    expect(parseHexLength(Buffer.from("001e"))).toBe(30);
    expect(parseHexLength(Buffer.from("FFFF"))).toBe(65535);
    expect(parseHexLength(Buffer.from("OKAY"))).toBeNull();
  });
});

describe("shell protocol v2 packets", () => {
  const stream = Buffer.concat([
    encodeShellPacket(SHELL_V2.stdout, Buffer.from("hello\n")),
    encodeShellPacket(SHELL_V2.stderr, Buffer.from("oops\n")),
    encodeShellPacket(SHELL_V2.stdout, Buffer.alloc(0)),
    encodeShellPacket(SHELL_V2.exit, Buffer.from([3])),
  ]);
  const expected = [
    { id: 1, data: "hello\n" },
    { id: 2, data: "oops\n" },
    { id: 1, data: "" },
    { id: 3, data: "\u0003" },
  ];
  const text = (ps: { id: number; data: Buffer }[]) => ps.map((p) => ({ id: p.id, data: p.data.toString("latin1") }));

  it("encodes [id u8][length u32 little-endian][data]", () => {
    expect([...encodeShellPacket(SHELL_V2.exit, Buffer.from([7]))]).toEqual([3, 1, 0, 0, 0, 7]);
    expect([...encodeShellPacket(SHELL_V2.closeStdin)]).toEqual([4, 0, 0, 0, 0]);
    const big = encodeShellPacket(SHELL_V2.stdin, Buffer.alloc(0x1234));
    expect(big.readUInt32LE(1)).toBe(0x1234);
  });

  it("decodes several packets from one chunk", () => {
    const d = new ShellV2Decoder();
    expect(text(d.push(stream))).toEqual(expected);
    expect(d.pending).toBe(0);
  });

  it("decodes the same packets fed one byte at a time, and at every split point", () => {
    const d = new ShellV2Decoder();
    const got = [];
    for (const b of stream) got.push(...d.push(Buffer.from([b])));
    expect(text(got)).toEqual(expected);
    for (let cut = 1; cut < stream.length; cut++) {
      const e = new ShellV2Decoder();
      const parts = [...e.push(stream.subarray(0, cut)), ...e.push(stream.subarray(cut))];
      expect(text(parts), `split at ${cut}`).toEqual(expected);
    }
  });

  it("keeps an incomplete packet until its rest arrives", () => {
    const d = new ShellV2Decoder();
    const p = encodeShellPacket(SHELL_V2.stdout, Buffer.from("abcdef"));
    expect(d.push(p.subarray(0, 7))).toEqual([]);
    expect(d.pending).toBe(7);
    expect(text(d.push(p.subarray(7)))).toEqual([{ id: 1, data: "abcdef" }]);
  });

  it("returns packets that do not share memory with later input", () => {
    const d = new ShellV2Decoder();
    const chunk = Buffer.from(encodeShellPacket(SHELL_V2.stdout, Buffer.from("xy")));
    const [p] = d.push(chunk);
    chunk.fill(0);
    expect(p!.data.toString()).toBe("xy");
  });

  it("rejects a length no adbd would send (not a v2 stream, e.g. a v1 shell's text)", () => {
    expect(() => new ShellV2Decoder().push(Buffer.from("hello world\n"))).toThrow(ShellProtocolError);
  });
});

describe("command lines", () => {
  it("passes a string through and quotes an argv for the device shell", () => {
    expect(commandLine("ls -l /data; echo $?")).toBe("ls -l /data; echo $?");
    expect(commandLine(["pm", "list", "packages"])).toBe("pm list packages");
    expect(commandLine(["echo", "a b", "it's", "$HOME", ""])).toBe(`echo 'a b' 'it'\\''s' '$HOME' ''`);
    expect(shellQuote("/data/local/tmp/x.apk")).toBe("/data/local/tmp/x.apk");
    expect(shellV2Service("id")).toBe("shell,v2,raw:id");
  });
});
