import { topics, type CommandOutcome, type CommandResultMessage, type DeviceCommand } from "@cloudphone/shared-protocol";
import { observe, type ObserveContext } from "../devices/observe.js";
import { AppJobQueue, isAppCommand } from "../apps/queue.js";

export interface CommandApplyResult {
  duplicate: boolean;
  outcome: CommandOutcome | null;
  error?: string;
  /** The device's resources changed (created or deleted): capacity should be re-published. */
  capacityChanged: boolean;
}

/**
 * Commits one command in a single transaction: the inbox row (a duplicate id changes nothing else), the new
 * desired state and generation (or `superseded` for a stale generation) and the command result in the outbox.
 * Call before acknowledging the MQTT message.
 */
export function applyCommand(ctx: ObserveContext, cmd: DeviceCommand): CommandApplyResult {
  const now = (ctx.now ?? Date.now)();
  return ctx.db.transaction((): CommandApplyResult => {
    const ins = ctx.db
      .prepare(
        `INSERT OR IGNORE INTO command_inbox (command_id, device_id, generation, action, outcome, received_at)
         VALUES (?, ?, ?, ?, 'pending', ?)`,
      )
      .run(cmd.id, cmd.deviceId, cmd.generation, cmd.action, now);
    if (ins.changes === 0) return { duplicate: true, outcome: null, capacityChanged: false };

    const rec = ctx.repo.get(cmd.deviceId);
    let outcome: CommandOutcome = "applied";
    let error: string | undefined;
    let capacityChanged = false;

    if (isAppCommand(cmd)) {
      // App commands (A2) take no part in lifecycle generations: queued for the app worker, never superseded.
      if (!rec) {
        outcome = "failed";
        error = `device ${cmd.deviceId} is unknown on this host`;
      } else {
        AppJobQueue.of(ctx.db, ctx.outbox, ctx.hostId).enqueue(cmd, now);
      }
    } else if (rec && cmd.generation <= rec.generation) {
      outcome = "superseded";
    } else if (cmd.action === "create") {
      if (!rec) {
        ctx.repo.insert(cmd.deviceId, cmd.spec, cmd.ownerId ?? null, "running", cmd.generation, now);
        capacityChanged = true;
      } else {
        ctx.repo.updateSpec(cmd.deviceId, cmd.spec, cmd.ownerId ?? null, now);
        ctx.repo.setDesired(cmd.deviceId, "running", cmd.generation, now);
        if (rec.state === "deleted" || rec.state === "failed") {
          observe(ctx, cmd.deviceId, { state: "pending", event: null, recoveryAttempts: 0, error: null });
          capacityChanged = rec.state === "deleted";
        }
      }
    } else if (!rec) {
      outcome = "failed";
      error = `device ${cmd.deviceId} is unknown on this host; ${cmd.action} needs a prior create`;
    } else if (rec.desired === "deleted" && cmd.action !== "delete") {
      outcome = "failed";
      error = `device ${cmd.deviceId} is deleted; ${cmd.action} needs a new create`;
    } else {
      switch (cmd.action) {
        case "start":
        case "restart":
          ctx.repo.setDesired(cmd.deviceId, "running", cmd.generation, now);
          if (cmd.action === "restart") ctx.repo.setRestartRequested(cmd.deviceId, true, now);
          // A new start is the operator's way out of `failed`: reset recovery and try again.
          if (rec.state === "failed") observe(ctx, cmd.deviceId, { state: "stopped", event: null, recoveryAttempts: 0 });
          break;
        case "stop":
          ctx.repo.setDesired(cmd.deviceId, "stopped", cmd.generation, now);
          ctx.repo.setRestartRequested(cmd.deviceId, false, now);
          break;
        case "delete":
          ctx.repo.setDesired(cmd.deviceId, "deleted", cmd.generation, now);
          ctx.repo.setRestartRequested(cmd.deviceId, false, now);
          capacityChanged = true;
          break;
      }
    }

    ctx.db.prepare("UPDATE command_inbox SET outcome = ? WHERE command_id = ?").run(outcome, cmd.id);
    ctx.outbox.enqueue(
      topics.results(ctx.hostId),
      (): Omit<CommandResultMessage, "id" | "seq" | "ts" | "v"> => {
        const body: Omit<CommandResultMessage, "id" | "seq" | "ts" | "v"> = {
          hostId: ctx.hostId,
          deviceId: cmd.deviceId,
          commandId: cmd.id,
          outcome,
          ...(error ? { error } : {}),
          ...(cmd.requestId ? { requestId: cmd.requestId } : {}),
        };
        return body;
      },
      { deviceId: cmd.deviceId },
    );
    return { duplicate: false, outcome, ...(error ? { error } : {}), capacityChanged };
  })();
}
