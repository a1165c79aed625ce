import type { Config } from "../config.js";

/**
 * Resilience testing only (`faultCrashAfterSagaStep`, env CLOUDPHONE_CP_FAULT_CRASH_AFTER_SAGA_STEP): the process
 * SIGKILLs itself right after committing that saga step, so tests can prove a restart resumes every saga exactly once.
 * Never set it in production.
 */
export function crashIfFaultStep(config: Pick<Config, "faultCrashAfterSagaStep">, step: string): void {
  if (config.faultCrashAfterSagaStep !== undefined && config.faultCrashAfterSagaStep === step) {
    process.kill(process.pid, "SIGKILL");
  }
}
