import type { DeviceSpec } from "@cloudphone/shared-protocol";

export const LABEL_MANAGED = "io.cloudphone.managed";
export const LABEL_HOST = "io.cloudphone.host-id";
export const LABEL_DEVICE = "io.cloudphone.device-id";
export const LABEL_OWNER = "io.cloudphone.owner-id";
export const LABEL_DISK_MB = "io.cloudphone.disk-mb";
export const LABEL_ADB_PORT = "io.cloudphone.adb-port";
export const ADB_PORT = "5555/tcp";
/**
 * Boot arg telling the device's adbd which TCP port to listen on (host network mode, where every device needs its
 * own port). Stock redroid images have no such boot arg (their adbd listens on 5555); an image used in host mode
 * must map it to `service.adb.tcp.port` in its init (see docs/operations.md).
 */
export const ADB_PORT_BOOT_ARG = "androidboot.redroid_adb_port";

export interface RuntimeProfileConfig {
  hostId: string;
  image: string;
  networkMode: "bridge" | "host";
  privileged: boolean;
  extraBootArgs: readonly string[];
}

export interface DeviceIdentity {
  id: string;
  spec: DeviceSpec;
  ownerId: string | null;
  /** Host network mode: the device's own adbd port (allocated by the agent, recorded on the device). */
  adbPort?: number | null;
}

export const containerName = (deviceId: string) => `cloudphone-${deviceId}`;
export const volumeName = (deviceId: string) => `cloudphone-data-${deviceId}`;

export interface ContainerCreateOptions {
  name: string;
  Image: string;
  Cmd: string[];
  Labels: Record<string, string>;
  ExposedPorts?: Record<string, Record<string, never>>;
  HostConfig: {
    Privileged: boolean;
    NanoCpus: number;
    Memory: number;
    MemorySwap: number;
    PidsLimit: number;
    RestartPolicy: { Name: "no" };
    NetworkMode: "bridge" | "host";
    Mounts: { Type: "volume"; Source: string; Target: string }[];
    PortBindings?: Record<string, { HostIp: string; HostPort: string }[]>;
  };
}

export function deviceLabels(cfg: Pick<RuntimeProfileConfig, "hostId">, dev: DeviceIdentity): Record<string, string> {
  const labels: Record<string, string> = {
    [LABEL_MANAGED]: "true",
    [LABEL_HOST]: cfg.hostId,
    [LABEL_DEVICE]: dev.id,
    // Neither vfs nor overlay2 without xfs project quotas can enforce a disk limit, so the size is recorded
    // for capacity accounting and operators rather than enforced.
    [LABEL_DISK_MB]: String(dev.spec.diskMb),
  };
  if (dev.ownerId) labels[LABEL_OWNER] = dev.ownerId;
  return labels;
}

/** Device spec + agent config → Docker create options. Pure. */
export function containerOptions(cfg: RuntimeProfileConfig, dev: DeviceIdentity): ContainerCreateOptions {
  const s = dev.spec;
  const memory = s.memoryMb * 1048576;
  const ownPort = cfg.networkMode === "host" && dev.adbPort ? dev.adbPort : null;
  const opts: ContainerCreateOptions = {
    name: containerName(dev.id),
    Image: s.image ?? cfg.image,
    Cmd: [
      `androidboot.redroid_width=${s.width}`,
      `androidboot.redroid_height=${s.height}`,
      `androidboot.redroid_dpi=${s.dpi}`,
      `androidboot.redroid_fps=${s.fps}`,
      "androidboot.use_memfd=true",
      ...(ownPort ? [`${ADB_PORT_BOOT_ARG}=${ownPort}`] : []),
      ...cfg.extraBootArgs,
    ],
    // The port label lets inspect() report it and lets every agent on this Docker host see which ports are taken.
    Labels: ownPort ? { ...deviceLabels(cfg, dev), [LABEL_ADB_PORT]: String(ownPort) } : deviceLabels(cfg, dev),
    HostConfig: {
      Privileged: cfg.privileged,
      NanoCpus: s.cpuMillis * 1_000_000,
      Memory: memory,
      MemorySwap: memory, // equal to Memory: no swap, predictable OOM
      PidsLimit: 4096,
      RestartPolicy: { Name: "no" }, // the agent decides about restarts (recovery with back-off)
      NetworkMode: cfg.networkMode,
      Mounts: [{ Type: "volume", Source: volumeName(dev.id), Target: "/data" }],
    },
  };
  if (cfg.networkMode === "bridge") {
    opts.ExposedPorts = { [ADB_PORT]: {} };
    // adbd has no authentication: publish on loopback only, on a port Docker picks (read back by inspect).
    opts.HostConfig.PortBindings = { [ADB_PORT]: [{ HostIp: "127.0.0.1", HostPort: "" }] };
  }
  return opts;
}

/** The adbd port recorded in a container's labels (host network mode), or null. Pure. */
export function adbPortFromLabels(labels: Record<string, string> | undefined | null): number | null {
  const raw = labels?.[LABEL_ADB_PORT];
  const port = raw !== undefined && /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
  return Number.isInteger(port) && port > 0 && port <= 65535 ? port : null;
}
