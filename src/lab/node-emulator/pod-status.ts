/**
 * The pod status a kubelet reports once a sandbox has its network and (here, nominally) its containers run:
 * phase Running, the IPs the CNI result gave, conditions Ready/ContainersReady/Initialized/
 * PodReadyToStartContainers, and a running status per container. No containers run in the lab; the status
 * says what the networking side would see.
 */
import type { V1Pod } from '@kubernetes/client-node';

export interface SandboxView {
  containerId: string;
  podIps: string[];
  /** ISO time the sandbox became ready. */
  readyAt: string;
}

/** Whether the pod's status already says what `sandboxStatus` would write (no patch needed). */
export function statusIsCurrent(pod: V1Pod, sandbox: SandboxView): boolean {
  const s = pod.status;
  if (s?.phase !== 'Running') return false;
  const ips = (s.podIPs ?? []).map((p) => p.ip);
  if (ips.join(',') !== sandbox.podIps.join(',')) return false;
  const ready = s.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True') return false;
  const names = (pod.spec?.containers ?? []).map((c) => c.name).sort();
  const running = (s.containerStatuses ?? [])
    .filter((c) => c.state?.running && c.ready)
    .map((c) => c.name)
    .sort();
  return names.join(',') === running.join(',');
}

/** A strategic-merge patch for pods/status (conditions merge by type, container statuses by name). */
export function sandboxStatus(pod: V1Pod, sandbox: SandboxView, now: string): Record<string, unknown> {
  const started = sandbox.readyAt;
  const condition = (type: string) => ({
    type,
    status: 'True',
    lastProbeTime: null,
    lastTransitionTime: pod.status?.conditions?.find((c) => c.type === type && c.status === 'True')
      ? undefined
      : now,
  });
  const containers = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  const statusOf = (c: { name: string; image?: string }, i: number, init: boolean) => ({
    name: c.name,
    image: c.image ?? '',
    imageID: '',
    containerID: `patchbay-lab://${sandbox.containerId.slice(0, 24)}${i.toString(16).padStart(8, '0')}`,
    ready: !init,
    started: !init,
    restartCount: 0,
    state: init
      ? { terminated: { exitCode: 0, reason: 'Completed', startedAt: started, finishedAt: started } }
      : { running: { startedAt: started } },
  });
  const initCount = pod.spec?.initContainers?.length ?? 0;
  const patch: Record<string, unknown> = {
    phase: 'Running',
    podIP: sandbox.podIps[0],
    podIPs: sandbox.podIps.map((ip) => ({ ip })),
    startTime: pod.status?.startTime ?? started,
    conditions: ['PodReadyToStartContainers', 'Initialized', 'ContainersReady', 'Ready'].map((t) =>
      JSON.parse(JSON.stringify(condition(t))),
    ),
    containerStatuses: (pod.spec?.containers ?? []).map((c, i) => statusOf(c, i + initCount, false)),
  };
  if (initCount)
    patch.initContainerStatuses = (pod.spec?.initContainers ?? []).map((c, i) => statusOf(c, i, true));
  if (containers.length === 0) delete patch.containerStatuses;
  return { status: patch };
}
