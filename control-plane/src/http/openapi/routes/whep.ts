import { WhepQuery, WhepSessionParams } from "../../routes-whep.js";
import { err, type RouteDoc } from "../types.js";

const notFound = err(404, "device_not_found", "unknown device, or another user's (same answer)");

export const WHEP_ROUTES: readonly RouteDoc[] = [
  {
    method: "options", path: "/api/devices/:id/whep", tag: "devices", auth: "bearer", scope: "devices:read",
    summary: "ICE servers for a viewer (WHEP OPTIONS)",
    description:
      "Answers 204 with one `Link: <url>; rel=\"ice-server\"` header per configured STUN/TURN server (with `username` and " +
      "`credential` attributes for TURN), so a viewer that does not trickle can gather relay candidates before its offer.",
    response: { status: 204, description: "ICE servers in Link headers" },
    errors: [notFound],
  },
  {
    method: "post", path: "/api/devices/:id/whep", tag: "devices", auth: "bearer", scope: "devices:write",
    summary: "Watch and control the device's screen (WHEP offer)",
    description:
      "WHEP (draft-ietf-wish-whep): the body is the viewer's SDP offer as `Content-Type: application/sdp` (at most 32 KiB), " +
      "recvonly H.264 video plus a data channel labelled `control` (input and heartbeat, `stream-input.ts`), with its ICE " +
      "candidates gathered (no trickle). The answer (`application/sdp`, complete with the agent's candidates) carries exactly " +
      "one H.264 payload type. `Location` names the session for DELETE; `Link: <url>; rel=\"ice-server\"` headers list the " +
      "configured STUN/TURN servers; `X-Stream-Control` says whether this viewer holds input control (`holder`) or watches " +
      "(`view-only`). A viewer that sends no `ping` on the data channel for 5 s is closed, as are all viewers when the device stops. " +
      "Authenticate with a bearer header or `?ticket=` (a one-time `stream` ticket from POST /api/devices/{id}/tickets).",
    query: WhepQuery,
    response: { status: 201, description: "the SDP answer", contentType: "application/sdp" },
    errors: [
      err(400, "invalid_sdp", "the body is not an SDP offer with video (the message names the problem)"),
      err(401, "invalid_ticket", "the ticket is unknown, used, expired, or for another device or purpose"),
      notFound,
      err(409, "device_not_ready", "the device is not running, or its encoder did not start"),
      err(413, "too_large", "the offer is larger than 32 KiB"),
      err(415, "unsupported_media_type", "the Content-Type is not application/sdp"),
      err(502, "failed", "the agent could not set up the stream"),
      err(503, "host_offline", "the device's host is not connected"),
      err(504, "timeout", "the agent did not answer in time"),
    ],
  },
  {
    method: "delete", path: "/api/devices/:id/whep/:sessionId", tag: "devices", auth: "bearer", scope: "devices:write",
    summary: "End a stream session (WHEP resource)",
    description: "Ends the viewer's WebRTC session on the device's agent. Only the user who opened it, or an admin, may end it.",
    params: WhepSessionParams,
    response: { status: 204, description: "the session is ended" },
    errors: [notFound, err(404, "session_not_found", "no such session on this device, or another user's")],
  },
];
