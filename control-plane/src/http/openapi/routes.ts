import type { RouteDoc } from "./types.js";
import { OPS_ROUTES } from "./routes/ops.js";
import { DEVICE_ROUTES } from "./routes/devices.js";
import { USER_ROUTES } from "./routes/users.js";
import { BILLING_ROUTES } from "./routes/billing.js";
import { ORDER_ROUTES } from "./routes/orders.js";
import { APP_ROUTES } from "./routes/apps.js";
import { RECORDING_ROUTES } from "./routes/recordings.js";
import { DEVICE_OPS_ROUTES } from "./routes/device-ops.js";
import { APP_INSTALL_ROUTES } from "./routes/app-installs.js";
import { DEVICE_WS_ROUTES } from "./routes/device-ws.js";
import { WHEP_ROUTES } from "./routes/whep.js";

/** Every route of the control plane's HTTP API; a unit test keeps it equal to what the app registers. */
export const ROUTE_DOCS: readonly RouteDoc[] = [...OPS_ROUTES, ...DEVICE_ROUTES, ...DEVICE_OPS_ROUTES, ...DEVICE_WS_ROUTES, ...WHEP_ROUTES, ...USER_ROUTES, ...BILLING_ROUTES, ...ORDER_ROUTES, ...APP_ROUTES, ...APP_INSTALL_ROUTES, ...RECORDING_ROUTES];
