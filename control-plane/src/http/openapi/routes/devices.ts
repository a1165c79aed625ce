import { z } from "zod";
import { CreateDeviceRequest, DeviceView } from "@cloudphone/shared-protocol";
import { err, type ErrorDoc, type RouteDoc } from "../types.js";
import { DeviceListQuery, LimitQuery } from "./local-schemas.js";

const Device = DeviceView.extend({ deletedAt: z.number().int().nullable(), stateDetail: z.unknown() });
const ActionAnswer = z.object({ device: Device, commandId: z.string() });
const notFound = err(404, "device_not_found", "unknown device, or another user's (same answer)");
const actionErrors: ErrorDoc[] = [
  notFound,
  err(409, "device_deleted", "the device is being deleted"),
  err(409, "host_revoked", "the device's host is revoked"),
];
const startErrors: ErrorDoc[] = [err(402, "insufficient_funds", "the owner's balance is zero or negative"), ...actionErrors];

const action = (name: "start" | "stop" | "restart"): RouteDoc => ({
  method: "post", path: `/api/devices/:id/${name}`, tag: "devices", auth: "bearer", scope: "devices:write",
  summary: `${name[0]!.toUpperCase()}${name.slice(1)} a device (asynchronous)`,
  response: { status: 202, description: "the new desired state and its command are committed", schema: ActionAnswer },
  errors: name === "stop" ? actionErrors : startErrors,
});

export const DEVICE_ROUTES: readonly RouteDoc[] = [
  {
    method: "post", path: "/api/devices", tag: "devices", auth: "admin", summary: "Create a device (fleet operation; users buy plans instead)",
    body: CreateDeviceRequest,
    response: { status: 201, description: "the device, with the id of its create command", schema: Device.extend({ commandId: z.string() }) },
    errors: [
      err(404, "host_not_found", "the pinned hostId does not exist"),
      err(409, "no_host_online", "placement found no online host"),
      err(409, "no_capacity", "no host (or the pinned one) has room"),
      err(409, "host_unavailable", "the pinned host is revoked"),
      err(409, "quota_exceeded", "the owner's quota would be exceeded"),
    ],
  },
  {
    method: "get", path: "/api/devices", tag: "devices", auth: "bearer", scope: "devices:read", summary: "List devices (own; admins all)",
    query: DeviceListQuery,
    response: { status: 200, description: "devices ordered by createdAt", schema: z.object({ devices: z.array(Device) }) },
  },
  {
    method: "get", path: "/api/devices/:id", tag: "devices", auth: "bearer", scope: "devices:read", summary: "One device",
    response: { status: 200, description: "the device", schema: Device },
    errors: [notFound],
  },
  {
    method: "get", path: "/api/devices/:id/events", tag: "devices", auth: "bearer", scope: "devices:read", summary: "Events of one device",
    query: LimitQuery,
    response: { status: 200, description: "`{events: Event[]}` oldest first" },
    errors: [notFound],
  },
  action("start"),
  action("stop"),
  action("restart"),
  {
    method: "delete", path: "/api/devices/:id", tag: "devices", auth: "bearer", scope: "devices:write", summary: "Delete a device (asynchronous)",
    response: { status: 202, description: "desired state `deleted` and its command are committed", schema: ActionAnswer },
    errors: actionErrors,
  },
];
