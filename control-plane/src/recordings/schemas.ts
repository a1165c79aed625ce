import { RPC_METHODS, RecordingStatus, RecordingView } from "@cloudphone/shared-protocol";
import { z } from "zod";

/** `POST /api/devices/:id/recordings`: the agent's own start params. */
export const StartRecordingBody = RPC_METHODS["device.recording.start"].params;

export const ListRecordingsQuery = z.strictObject({
  status: RecordingStatus.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(100),
});

export const DeviceRecordingsResponse = z.strictObject({
  recordings: z.array(RecordingView),
  /** false: the agent did not answer, so this is what the control plane last heard from it. */
  live: z.boolean(),
});

export const RecordingsResponse = z.strictObject({ recordings: z.array(RecordingView) });
