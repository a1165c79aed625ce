/** A background part of the control plane started by the composition root after the bus is up. */
export interface Service {
  start(): void;
  /** Stops timers and waits for in-flight work; must be safe to call twice. */
  stop(): Promise<void>;
}
