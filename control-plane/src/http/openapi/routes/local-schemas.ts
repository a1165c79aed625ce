import { z } from "zod";
import { InvoicePeriod } from "@cloudphone/shared-protocol";

/**
 * Mirrors of query/path schemas that their route modules keep private (not exported), so the document can show
 * them. Keep in step with the named file; better: export the route's own schema and import it here instead.
 */

/** routes-ops.ts `EventsQuery`. */
export const EventsQuery = z.object({
  hostId: z.string().min(1).max(64).optional(),
  deviceId: z.string().min(1).max(64).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).default(1000),
});

/** routes-ops.ts and routes-devices.ts `LimitQuery`. */
export const LimitQuery = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) });

/** routes-devices.ts `ListQuery`. */
export const DeviceListQuery = z.object({
  includeDeleted: z.enum(["true", "false"]).default("false"),
  hostId: z.string().min(1).max(64).optional(),
  ownerId: z.string().min(1).max(64).optional().describe("admins only; a user always sees just their own devices"),
});

/** routes-admin.ts `PlansQuery`. */
export const PlansQuery = z.object({ includeInactive: z.enum(["true", "false"]).default("true") });

/** routes-billing.ts `PeriodParam`. */
export const Period = InvoicePeriod;
