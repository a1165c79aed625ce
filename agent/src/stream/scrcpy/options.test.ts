import { describe, expect, it } from "vitest";
import {
  AvcLevel,
  AvcProfile,
  formatScid,
  PINNED_SCRCPY_VERSION,
  randomScid,
  scrcpyFraming,
  scrcpyListEncodersArgs,
  scrcpyServerArgs,
  scrcpyServerCommand,
  scrcpySocketName,
} from "./options.js";

describe("scrcpy server options", () => {
  it("builds the argv with the version first and key=value pairs", () => {
    const args = scrcpyServerArgs({ version: "3.3.4", scid: 0x0badcafe });
    expect(args).toEqual([
      "3.3.4",
      "scid=0badcafe",
      "log_level=info",
      "tunnel_forward=true",
      "audio=false",
      "control=true",
      "video_codec=h264",
      "max_size=1280",
      "max_fps=30",
      "video_bit_rate=4000000",
      "video_codec_options=i-frame-interval=2",
      "clipboard_autosync=true",
      "send_device_meta=false",
      "cleanup=true",
    ]);
  });

  it("passes profile, level, encoder and limits", () => {
    const args = scrcpyServerArgs({
      version: PINNED_SCRCPY_VERSION,
      scid: 1,
      maxSize: 720,
      maxFps: 60,
      videoBitRate: 2_000_000,
      iFrameIntervalSeconds: 1,
      profile: AvcProfile.CONSTRAINED_BASELINE,
      level: AvcLevel.L31,
      videoEncoder: "c2.android.avc.encoder",
      control: false,
    });
    expect(args).toContain("scid=00000001");
    expect(args).toContain("video_codec_options=i-frame-interval=1,profile=65536,level=512");
    expect(args).toContain("video_encoder=c2.android.avc.encoder");
    expect(args).toContain("control=false");
    expect(args).toContain("max_size=720");
    expect(args).toContain("max_fps=60");
    expect(args).toContain("video_bit_rate=2000000");
  });

  it("builds the shell command and socket name", () => {
    expect(scrcpyServerCommand({ version: "4.1", scid: 0x7fffffff })).toMatch(
      /^CLASSPATH=\/data\/local\/tmp\/scrcpy-server\.jar app_process \/ com\.genymobile\.scrcpy\.Server 4\.1 scid=7fffffff /,
    );
    expect(() => scrcpyServerCommand({ version: "4.1", scid: 1 }, "/tmp/x;rm -rf /")).toThrow("jar path must be absolute and plain");
    expect(scrcpySocketName(0xcafe)).toBe("scrcpy_0000cafe");
    expect(scrcpyListEncodersArgs("3.3.4")).toContain("list_encoders=true");
  });

  it("validates inputs and names the field", () => {
    expect(() => scrcpyServerArgs({ version: "4.1", scid: 0x8000_0000 })).toThrow(/scid/);
    expect(() => scrcpyServerArgs({ version: "4.1", scid: 1, videoEncoder: "x; reboot" })).toThrow(/encoder name/);
    expect(() => scrcpyServerArgs({ version: "latest", scid: 1 })).toThrow(/version/);
    expect(() => scrcpyServerArgs({ version: "1.25", scid: 1 })).toThrow('unsupported scrcpy server version "1.25"');
  });

  it("draws 31-bit scids and maps versions to framings", () => {
    for (let i = 0; i < 1000; i++) {
      const s = randomScid();
      expect(s >= 0 && s < 2 ** 31).toBe(true);
      expect(formatScid(s)).toMatch(/^[0-7][0-9a-f]{7}$/);
    }
    expect(scrcpyFraming("2.7")).toBe(3);
    expect(scrcpyFraming("3.3.4")).toBe(3);
    expect(scrcpyFraming("4.0")).toBe(4);
    expect(scrcpyFraming(PINNED_SCRCPY_VERSION)).toBe(4);
  });
});
