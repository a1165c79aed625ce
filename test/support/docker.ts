/** dockerode helpers for integration tests (the real local daemon; nothing is mocked). */
import { PassThrough } from "node:stream";
import Docker from "dockerode";

export const MANAGED_LABEL = "io.cloudphone.managed";

export const docker = new Docker();

/** Resolves when the daemon answers `ping`, rejects with a readable reason otherwise. */
export async function assertDockerAnswers(): Promise<void> {
  try {
    await docker.ping();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `Docker daemon not reachable (${reason}). Start dockerd (see .ci/run, which starts one when none answers) ` +
        `or set DOCKER_HOST, then re-run the tests.`,
    );
  }
}

/**
 * Containers labelled as managed by cloudphone, optionally only those of one host. The host is matched
 * by label value, so this helper does not depend on the agent's exact host label key.
 */
export async function listManagedContainers(hostId?: string): Promise<Docker.ContainerInfo[]> {
  const all = await docker.listContainers({ all: true, filters: { label: [`${MANAGED_LABEL}=true`] } });
  if (hostId === undefined) return all;
  return all.filter((info) => Object.values(info.Labels ?? {}).includes(hostId));
}

export function inspect(idOrName: string): Promise<Docker.ContainerInspectInfo> {
  return docker.getContainer(idOrName).inspect();
}

export async function killContainer(idOrName: string, signal = "SIGKILL"): Promise<void> {
  await docker.getContainer(idOrName).kill({ signal });
}

/** Runs a command in a running container and returns its exit code and output. */
export async function execInContainer(
  idOrName: string,
  cmd: string[],
): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
  const exec = await docker.getContainer(idOrName).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on("data", (chunk: Buffer) => out.push(chunk));
  stderr.on("data", (chunk: Buffer) => err.push(chunk));
  docker.modem.demuxStream(stream, stdout, stderr);
  await new Promise<void>((resolve, reject) => {
    stream.on("end", resolve);
    stream.on("close", resolve);
    stream.on("error", reject);
  });
  const info = await exec.inspect();
  return { exitCode: info.ExitCode, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

export interface SweepFilter {
  /** Only what was created before this time (ms since epoch). */
  createdBeforeMs?: number;
  /** Only what belongs to one of these hosts (matched by label value). */
  hostIds?: readonly string[];
}

/** Removes containers (with anonymous volumes) and volumes labelled managed that match the filter. */
export async function removeManaged(filter: SweepFilter = {}): Promise<{ containers: number; volumes: number }> {
  const labels = { label: [`${MANAGED_LABEL}=true`] };
  const ofHosts = (values: Record<string, string> | undefined): boolean =>
    filter.hostIds === undefined || Object.values(values ?? {}).some((value) => filter.hostIds?.includes(value));
  const before = filter.createdBeforeMs ?? Number.POSITIVE_INFINITY;
  const containers = (await docker.listContainers({ all: true, filters: labels })).filter(
    (info) => info.Created * 1000 < before && ofHosts(info.Labels),
  );
  await Promise.all(containers.map((info) => docker.getContainer(info.Id).remove({ force: true, v: true }).catch(() => undefined)));
  const volumes = ((await docker.listVolumes({ filters: labels })).Volumes ?? []).filter((volume) => {
    const created = Date.parse((volume as { CreatedAt?: string }).CreatedAt ?? "");
    return (Number.isNaN(created) || created < before) && ofHosts(volume.Labels ?? undefined);
  });
  await Promise.all(volumes.map((volume) => docker.getVolume(volume.Name).remove({ force: true }).catch(() => undefined)));
  return { containers: containers.length, volumes: volumes.length };
}
