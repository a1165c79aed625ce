import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ProtectionProfileAeadAes128Gcm, ProtectionProfileAes128CmHmacSha1_80, RtpHeader, SrtpSession } from "werift";
import type { PacketizedAccessUnit } from "../h264/packetizer.js";
import { RTP_HEADER_BYTES, ViewerRtpStream } from "../rtp/viewer.js";
import { SrtpProtector, type SrtpProfileName } from "./protect.js";

// Cross-checked against werift's own SRTP (the implementation Chromium interop was verified with): what we protect,
// werift's receiving session must authenticate and decrypt, across a sequence-number wrap.
const PROFILES: [SrtpProfileName, number, number][] = [
  ["aes128-gcm", ProtectionProfileAeadAes128Gcm, 12],
  ["aes128-cm-hmac-sha1-80", ProtectionProfileAes128CmHmacSha1_80, 14],
];

function sessions(profile: number, saltBytes: number): { sender: SrtpSession; receiver: SrtpSession } {
  const [k1, s1, k2, s2] = [randomBytes(16), randomBytes(saltBytes), randomBytes(16), randomBytes(saltBytes)];
  return {
    sender: new SrtpSession({ keys: { localMasterKey: k1, localMasterSalt: s1, remoteMasterKey: k2, remoteMasterSalt: s2 }, profile }),
    receiver: new SrtpSession({ keys: { localMasterKey: k2, localMasterSalt: s2, remoteMasterKey: k1, remoteMasterSalt: s1 }, profile }),
  };
}

function protectorOf(sender: SrtpSession, name: SrtpProfileName): SrtpProtector {
  const c = sender.localContext;
  return new SrtpProtector({ profile: name, key: c.srtpSessionKey, salt: c.srtpSessionSalt, authKey: c.srtpSessionAuthTag });
}

describe.each(PROFILES)("SrtpProtector %s", (name, profile, saltBytes) => {
  it("produces packets werift's receiving session decrypts, across a sequence wrap (ROC 0 → 1)", () => {
    const { sender, receiver } = sessions(profile, saltBytes);
    const p = protectorOf(sender, name);
    const rtp = new ViewerRtpStream({ ssrc: 0x11223344, payloadType: 102, initialSequence: 65530 });
    const au: PacketizedAccessUnit = { timestamp: 123456, ptsUs: 0, keyframe: true, payloads: Array.from({ length: 12 }, (_, i) => randomBytes(100 + 90 * i)) };
    const firstSeq = rtp.nextSequence;
    const firstRoc = rtp.rolloverCounter;
    const block = rtp.headerBlock(au);
    expect(rtp.rolloverCounter).toBe(1);
    for (let i = 0; i < au.payloads.length; i++) {
      const header = block.subarray(i * RTP_HEADER_BYTES, (i + 1) * RTP_HEADER_BYTES);
      const roc = firstRoc + ((firstSeq + i) >> 16);
      const parts = p.protect(header, au.payloads[i]!, roc);
      expect(parts[0]).toBe(header);
      expect(parts[2].length).toBe(p.tagBytes);
      const wire = Buffer.concat(parts);
      expect(wire.subarray(RTP_HEADER_BYTES, RTP_HEADER_BYTES + 16).equals(au.payloads[i]!.subarray(0, 16))).toBe(false);
      const plain = receiver.decrypt(wire);
      expect(plain.subarray(0, RTP_HEADER_BYTES).equals(header)).toBe(true);
      expect(plain.subarray(RTP_HEADER_BYTES).equals(au.payloads[i]!)).toBe(true);
    }
  });

  it("protects a whole access unit at once exactly as packet by packet, across a wrap", () => {
    const { sender, receiver } = sessions(profile, saltBytes);
    const p = protectorOf(sender, name);
    const rtp = new ViewerRtpStream({ ssrc: 0x01020304, payloadType: 96, initialSequence: 65533 });
    const au: PacketizedAccessUnit = { timestamp: 99, ptsUs: 0, keyframe: false, payloads: [1, 15, 16, 17, 1188, 700, 33].map((n) => randomBytes(n + 1).subarray(n % 2)) }; // odd offsets: the byte-wise XOR path too
    const firstRoc = rtp.rolloverCounter;
    const block = rtp.headerBlock(au);
    const all = p.protectAll(block, au.payloads, firstRoc);
    expect(all).toHaveLength(au.payloads.length);
    all.forEach((parts, i) => {
      const roc = i >= 3 ? 1 : 0; // 65533, 65534, 65535, then 0 with ROC 1
      const single = p.protect(block.subarray(i * 12, i * 12 + 12), au.payloads[i]!, roc);
      expect(Buffer.concat(parts).equals(Buffer.concat(single)), `packet ${i}`).toBe(true);
      expect(receiver.decrypt(Buffer.concat(parts)).subarray(12).equals(au.payloads[i]!)).toBe(true);
    });
  });

  it("matches werift's cipher byte for byte for a given rollover counter", () => {
    const { sender } = sessions(profile, saltBytes);
    const p = protectorOf(sender, name);
    const payload = randomBytes(1100);
    for (const roc of [0, 1, 7, 0xffffffff]) {
      const header = new RtpHeader({ payloadType: 96, sequenceNumber: 4242, timestamp: 0xfeedf00d, marker: true, ssrc: 0xcafebabe });
      const theirs = sender.localContext.cipher.encryptRtp(header, payload, roc);
      const ours = Buffer.concat(p.protect(header.serialize(header.serializeSize), payload, roc));
      expect(ours.equals(theirs)).toBe(true);
    }
  });

  it("fails authentication at the receiver when a byte is changed", () => {
    const { sender, receiver } = sessions(profile, saltBytes);
    const p = protectorOf(sender, name);
    const header = Buffer.from("80e6000100000001cafebabe", "hex");
    const wire = Buffer.concat(p.protect(header, randomBytes(200), 0));
    wire[40] = (wire[40] as number) ^ 1;
    expect(() => receiver.decrypt(wire)).toThrow();
  });
});

describe("SrtpProtector keys", () => {
  it("refuses keys of the wrong size with the reason", () => {
    expect(() => new SrtpProtector({ profile: "aes128-gcm", key: Buffer.alloc(15), salt: Buffer.alloc(12) })).toThrow(/key must be 16 bytes/);
    expect(() => new SrtpProtector({ profile: "aes128-gcm", key: Buffer.alloc(16), salt: Buffer.alloc(8) })).toThrow(/salt/);
    expect(() => new SrtpProtector({ profile: "aes128-cm-hmac-sha1-80", key: Buffer.alloc(16), salt: Buffer.alloc(14) })).toThrow(/authentication key/);
  });
});
