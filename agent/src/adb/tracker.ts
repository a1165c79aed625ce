import pRetry from "p-retry";
import type { Logger } from "../log.js";
import type { AdbClient, DeviceTracker, TrackedDevice } from "./client.js";

export interface AdbTrackerHandlers {
  /** The adb server reports a device removed or no longer online. */
  onDeviceGone: (serial: string) => void;
  /** The tracker was re-created after it ended: the adb server restarted and has forgotten its TCP devices. */
  onServerBack: () => void;
}

/**
 * Follows the adb server's device list (`host:track-devices`). The tracker dies with the server (adbkit emits
 * `end`/`error`), so it is re-created with back-off for as long as the agent runs; each re-creation is reported,
 * because every device must then be checked (and re-connected) again.
 */
export class AdbDeviceTracker {
  private readonly abort = new AbortController();
  private current: DeviceTracker | null = null;
  private done: Promise<void> | null = null;

  constructor(
    private readonly client: Pick<AdbClient, "trackDevices">,
    private readonly handlers: AdbTrackerHandlers,
    private readonly log: Logger,
    private readonly backoff = { minMs: 500, maxMs: 10_000 },
  ) {}

  start(): void {
    this.done ??= this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.current?.end();
    await this.done;
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      t.unref();
      this.abort.signal.addEventListener("abort", () => {
        clearTimeout(t);
        resolve();
      }, { once: true });
    });
  }

  private async run(): Promise<void> {
    let generation = 0;
    while (!this.abort.signal.aborted) {
      let tracker: DeviceTracker;
      try {
        tracker = await pRetry(() => this.client.trackDevices(), {
          retries: Infinity,
          minTimeout: this.backoff.minMs,
          maxTimeout: this.backoff.maxMs,
          factor: 2,
          signal: this.abort.signal,
          unref: true,
          onFailedAttempt: ({ error, attemptNumber }) => {
            if (attemptNumber === 1 || attemptNumber % 10 === 0) this.log.warn({ err: error.message, attempt: attemptNumber }, "adb server unreachable; retrying");
          },
        });
      } catch {
        return; // aborted
      }
      if (this.abort.signal.aborted) {
        tracker.end();
        return;
      }
      this.current = tracker;
      const since = Date.now();
      if (generation++ > 0) {
        this.log.info("adb device tracker re-created");
        this.handlers.onServerBack();
      }
      await new Promise<void>((resolve) => {
        tracker.on("remove", (d: TrackedDevice) => this.handlers.onDeviceGone(d.id));
        tracker.on("change", (d: TrackedDevice) => {
          if (d.type !== "device") this.handlers.onDeviceGone(d.id);
        });
        // `error` is followed by `end`; the listener also keeps an error from crashing the process.
        tracker.on("error", (e: Error) => {
          if (!this.abort.signal.aborted) this.log.warn({ err: e.message }, "adb device tracker failed");
        });
        tracker.once("end", () => resolve());
      });
      this.current = null;
      if (this.abort.signal.aborted) return;
      this.log.warn("adb device tracker ended (adb server gone?); re-creating it");
      // A tracker that ends at once, again and again, must not spin.
      if (Date.now() - since < 1000) await this.pause(this.backoff.minMs);
    }
  }
}
