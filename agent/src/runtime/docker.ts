import Docker from "dockerode";
import type { Logger } from "../log.js";
import { MISSING, type ContainerObservation } from "./observation.js";
import {
  ADB_PORT,
  LABEL_DEVICE,
  LABEL_HOST,
  LABEL_ADB_PORT,
  LABEL_MANAGED,
  adbPortFromLabels,
  containerName,
  containerOptions,
  deviceLabels,
  volumeName,
  type DeviceIdentity,
  type RuntimeProfileConfig,
} from "./profile.js";

export interface RuntimeConfig extends RuntimeProfileConfig {
  socketPath: string;
  stopTimeoutSeconds: number;
}

export interface ManagedContainer {
  containerId: string;
  name: string;
  deviceId: string | null;
  running: boolean;
}

/** dockerode errors carry the HTTP status of the Engine API answer. */
function statusOf(e: unknown): number | undefined {
  return typeof e === "object" && e !== null && "statusCode" in e ? (e as { statusCode?: number }).statusCode : undefined;
}

function parseDockerTime(t: string | undefined): number | null {
  if (!t || t.startsWith("0001-")) return null;
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? null : ms;
}

/**
 * The Docker side of a device. Every operation is idempotent so that a retry after a crash is harmless:
 * create adopts an existing container of the same name, start/stop accept "already", remove accepts "gone".
 */
export class DockerRuntime {
  readonly docker: Docker;

  constructor(
    private readonly cfg: RuntimeConfig,
    private readonly log: Logger,
  ) {
    this.docker = new Docker({ socketPath: cfg.socketPath });
  }

  get hostId(): string {
    return this.cfg.hostId;
  }

  /** Host network mode: every device needs its own adbd port, allocated by the agent. */
  get needsOwnAdbPorts(): boolean {
    return this.cfg.networkMode === "host";
  }

  async version(): Promise<string | null> {
    try {
      return (await this.docker.version()).Version;
    } catch {
      return null;
    }
  }

  /** Creates the data volume and the container; returns the container id (an existing one is adopted). */
  async create(dev: DeviceIdentity): Promise<{ containerId: string; adopted: boolean }> {
    const opts = containerOptions(this.cfg, dev);
    // Creating an existing named volume returns it unchanged, so this is idempotent.
    await this.docker.createVolume({ Name: volumeName(dev.id), Labels: deviceLabels(this.cfg, dev) });
    try {
      const c = await this.createOrPull(opts);
      return { containerId: c.id, adopted: false };
    } catch (e) {
      if (statusOf(e) !== 409) throw e;
      const info = await this.docker.getContainer(opts.name).inspect();
      this.log.info({ deviceId: dev.id, containerId: info.Id }, "container already exists; adopting it");
      return { containerId: info.Id, adopted: true };
    }
  }

  private async createOrPull(opts: ReturnType<typeof containerOptions>): Promise<Docker.Container> {
    try {
      return await this.docker.createContainer(opts);
    } catch (e) {
      if (statusOf(e) !== 404) throw e;
      this.log.info({ image: opts.Image }, "image not present; pulling");
      await this.pull(opts.Image);
      return await this.docker.createContainer(opts);
    }
  }

  private async pull(image: string): Promise<void> {
    const stream = await this.docker.pull(image);
    await new Promise<void>((resolve, reject) => {
      this.docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve()));
    });
  }

  async start(deviceId: string): Promise<void> {
    try {
      await this.docker.getContainer(containerName(deviceId)).start();
    } catch (e) {
      if (statusOf(e) !== 304) throw e; // 304: already started
    }
  }

  /** Stops (if running) and starts the container: a fresh boot, used by recovery. */
  async restart(deviceId: string): Promise<void> {
    await this.stop(deviceId);
    await this.start(deviceId);
  }

  async stop(deviceId: string): Promise<void> {
    try {
      await this.docker.getContainer(containerName(deviceId)).stop({ t: this.cfg.stopTimeoutSeconds });
    } catch (e) {
      const s = statusOf(e);
      if (s !== 304 && s !== 404) throw e; // 304: already stopped; 404: gone, nothing to stop
    }
  }

  /** Removes the container (forced) and its data volume; both absent counts as success. */
  async remove(deviceId: string): Promise<void> {
    await this.removeContainer(containerName(deviceId));
    try {
      await this.docker.getVolume(volumeName(deviceId)).remove();
    } catch (e) {
      if (statusOf(e) !== 404) throw e;
    }
  }

  async removeContainer(nameOrId: string): Promise<void> {
    try {
      await this.docker.getContainer(nameOrId).remove({ force: true, v: true });
    } catch (e) {
      const s = statusOf(e);
      if (s !== 404 && s !== 409) throw e; // 409: removal already in progress
    }
  }

  /** Containers carrying this host's labels, running or not. */
  async listManaged(): Promise<ManagedContainer[]> {
    const list = await this.docker.listContainers({
      all: true,
      filters: { label: [`${LABEL_MANAGED}=true`, `${LABEL_HOST}=${this.cfg.hostId}`] },
    });
    return list.map((c) => ({
      containerId: c.Id,
      name: (c.Names[0] ?? "").replace(/^\//, ""),
      deviceId: c.Labels[LABEL_DEVICE] ?? null,
      running: c.State === "running",
    }));
  }

  /**
   * adbd ports claimed by containers on this Docker host, of any agent (several agents may share one dockerd,
   * e.g. in tests); stopped containers keep their claim because they come back on the same port.
   */
  async adbPortsInUse(): Promise<Set<number>> {
    const list = await this.docker.listContainers({ all: true, filters: { label: [LABEL_ADB_PORT] } });
    const ports = new Set<number>();
    for (const c of list) {
      const p = adbPortFromLabels(c.Labels);
      if (p !== null) ports.add(p);
    }
    return ports;
  }

  /** Data volumes carrying this host's labels. */
  async listManagedVolumes(): Promise<{ name: string; deviceId: string | null }[]> {
    const res = await this.docker.listVolumes({
      filters: { label: [`${LABEL_MANAGED}=true`, `${LABEL_HOST}=${this.cfg.hostId}`] },
    });
    return (res.Volumes ?? []).map((v) => ({ name: v.Name, deviceId: v.Labels?.[LABEL_DEVICE] ?? null }));
  }

  async removeVolume(name: string): Promise<void> {
    try {
      await this.docker.getVolume(name).remove();
    } catch (e) {
      if (statusOf(e) !== 404) throw e;
    }
  }

  async inspect(deviceId: string): Promise<ContainerObservation> {
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.docker.getContainer(containerName(deviceId)).inspect();
    } catch (e) {
      if (statusOf(e) === 404) return MISSING;
      throw e;
    }
    // Someone else's container with our name is not ours to manage: treat it as a conflict.
    if (info.Config.Labels?.[LABEL_HOST] !== this.cfg.hostId) {
      throw new Error(`container ${containerName(deviceId)} exists but is not labelled for host ${this.cfg.hostId}`);
    }
    const running = info.State.Running === true;
    return {
      exists: true,
      running,
      exitCode: running ? null : info.State.ExitCode,
      oomKilled: info.State.OOMKilled === true,
      containerId: info.Id,
      adbPort: this.adbPortOf(info, running),
      finishedAt: parseDockerTime(info.State.FinishedAt),
      startedAt: parseDockerTime(info.State.StartedAt),
    };
  }

  /**
   * Where the device's adbd answers on this host: bridge mode, the loopback port Docker published (only while
   * running); host mode, the port the agent allocated (from the label, also while stopped: it stays the device's).
   */
  private adbPortOf(info: Docker.ContainerInspectInfo, running: boolean): number | null {
    if (this.cfg.networkMode === "host") {
      // Containers created before ports were allocated listen on adbd's default port.
      return adbPortFromLabels(info.Config.Labels) ?? (running ? 5555 : null);
    }
    const binding = info.NetworkSettings?.Ports?.[ADB_PORT]?.[0]?.HostPort;
    const port = binding ? Number(binding) : NaN;
    return Number.isInteger(port) && port > 0 ? port : null;
  }
}
