import type { RouteDoc } from "./types.js";
import { OPS_ROUTES } from "./routes/ops.js";
import { DEVICE_ROUTES } from "./routes/devices.js";
import { USER_ROUTES } from "./routes/users.js";
import { BILLING_ROUTES } from "./routes/billing.js";
import { ORDER_ROUTES } from "./routes/orders.js";
import { APP_ROUTES } from "./routes/apps.js";

/** Every route of the control plane's HTTP API; a unit test keeps it equal to what the app registers. */
export const ROUTE_DOCS: readonly RouteDoc[] = [...OPS_ROUTES, ...DEVICE_ROUTES, ...USER_ROUTES, ...BILLING_ROUTES, ...ORDER_ROUTES, ...APP_ROUTES];
