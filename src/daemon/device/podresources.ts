/**
 * The kubelet's PodResources v1 API (k8s.io/kubelet/pkg/apis/podresources/v1/api.proto, service
 * `v1.PodResourcesLister`): the messages this daemon reads, and a client for `Get` (one pod; GA in 1.36, on by
 * default since 1.34 behind KubeletPodResourcesGet) with `List` (every pod on the node) for kubelets that lack
 * or disable Get. Pods are named by namespace and name: the API carries no UID.
 */
import { GrpcError, GrpcStatus, grpcUnary } from './grpc.ts';
import { decodeInt64s, decodeMessage, decodeString, ProtoWriter, readFields } from './protobuf.ts';

/** The kubelet's socket (pkg/kubelet/apis/podresources: `/var/lib/kubelet/pod-resources/kubelet.sock`). */
export const DEFAULT_POD_RESOURCES_SOCKET = '/var/lib/kubelet/pod-resources/kubelet.sock';

const SERVICE = '/v1.PodResourcesLister';

export interface ContainerDevices {
  resourceName: string;
  deviceIds: string[];
  /** NUMA node ids of the devices (TopologyInfo.nodes[].ID), when the device plugin reports them. */
  numaNodes: number[];
}

export interface ContainerResources {
  name: string;
  devices: ContainerDevices[];
}

export interface PodResources {
  name: string;
  namespace: string;
  containers: ContainerResources[];
}

// Field numbers, from api.proto.
const F = {
  list: { podResources: 1 },
  get: { podResources: 1 },
  getRequest: { podName: 1, podNamespace: 2 },
  pod: { name: 1, namespace: 2, containers: 3 },
  container: { name: 1, devices: 2 },
  devices: { resourceName: 1, deviceIds: 2, topology: 3 },
  topology: { nodes: 1 },
  numaNode: { id: 1 },
} as const;

function decodeNumaNodes(buf: Uint8Array): number[] {
  const out: number[] = [];
  for (const f of readFields(buf)) {
    if (f.field !== F.topology.nodes) continue;
    // proto3 leaves out a zero ID: an empty NUMANode is node 0.
    let id = 0;
    for (const n of readFields(decodeMessage(f)))
      if (n.field === F.numaNode.id) id = Number(decodeInt64s(n).at(-1));
    out.push(id);
  }
  return out;
}

export function decodeContainerDevices(buf: Uint8Array): ContainerDevices {
  const d: ContainerDevices = { resourceName: '', deviceIds: [], numaNodes: [] };
  for (const f of readFields(buf)) {
    if (f.field === F.devices.resourceName) d.resourceName = decodeString(f);
    else if (f.field === F.devices.deviceIds) d.deviceIds.push(decodeString(f));
    else if (f.field === F.devices.topology) d.numaNodes.push(...decodeNumaNodes(decodeMessage(f)));
  }
  return d;
}

export function decodeContainerResources(buf: Uint8Array): ContainerResources {
  const c: ContainerResources = { name: '', devices: [] };
  for (const f of readFields(buf)) {
    if (f.field === F.container.name) c.name = decodeString(f);
    else if (f.field === F.container.devices) c.devices.push(decodeContainerDevices(decodeMessage(f)));
    // cpu_ids, memory, dynamic_resources: not ours.
  }
  return c;
}

export function decodePodResources(buf: Uint8Array): PodResources {
  const p: PodResources = { name: '', namespace: '', containers: [] };
  for (const f of readFields(buf)) {
    if (f.field === F.pod.name) p.name = decodeString(f);
    else if (f.field === F.pod.namespace) p.namespace = decodeString(f);
    else if (f.field === F.pod.containers) p.containers.push(decodeContainerResources(decodeMessage(f)));
  }
  return p;
}

/** ListPodResourcesResponse. */
export function decodeListResponse(buf: Uint8Array): PodResources[] {
  const out: PodResources[] = [];
  for (const f of readFields(buf))
    if (f.field === F.list.podResources) out.push(decodePodResources(decodeMessage(f)));
  return out;
}

/** GetPodResourcesResponse: its pod, if the kubelet sent one. */
export function decodeGetResponse(buf: Uint8Array): PodResources | undefined {
  let pod: PodResources | undefined;
  for (const f of readFields(buf))
    if (f.field === F.get.podResources) pod = decodePodResources(decodeMessage(f));
  return pod;
}

export function encodeGetRequest(namespace: string, name: string): Uint8Array {
  return new ProtoWriter()
    .string(F.getRequest.podName, name)
    .string(F.getRequest.podNamespace, namespace)
    .finish();
}

/** The encoders a test server or a fake needs: the inverse of the decoders above. */
export function encodePodResources(p: PodResources): ProtoWriter {
  const w = new ProtoWriter().string(F.pod.name, p.name).string(F.pod.namespace, p.namespace);
  for (const c of p.containers) {
    const cw = new ProtoWriter().string(F.container.name, c.name);
    for (const d of c.devices) {
      const dw = new ProtoWriter().string(F.devices.resourceName, d.resourceName);
      for (const id of d.deviceIds) dw.string(F.devices.deviceIds, id);
      if (d.numaNodes.length) {
        const tw = new ProtoWriter();
        for (const n of d.numaNodes) tw.message(F.topology.nodes, new ProtoWriter().varint(F.numaNode.id, n));
        dw.message(F.devices.topology, tw);
      }
      cw.message(F.container.devices, dw);
    }
    w.message(F.pod.containers, cw);
  }
  return w;
}

export interface PodResourcesClientOptions {
  socket: string;
  timeoutMs?: number;
}

/** Reads one pod's devices from the kubelet; remembers a kubelet without Get, so later calls go to List. */
export class PodResourcesClient {
  private getUnavailable = false;

  constructor(private readonly o: PodResourcesClientOptions) {}

  get socket(): string {
    return this.o.socket;
  }

  /** The pod's resources; `undefined` when the kubelet does not know the pod. */
  async podResources(namespace: string, name: string): Promise<PodResources | undefined> {
    if (!this.getUnavailable) {
      try {
        const answer = await this.call('Get', encodeGetRequest(namespace, name));
        return decodeGetResponse(answer);
      } catch (err) {
        if (!(err instanceof GrpcError)) throw err;
        if (err.status === GrpcStatus.Unimplemented) {
          // A kubelet before 1.27: no Get at all.
          this.getUnavailable = true;
        } else if (err.status !== GrpcStatus.Unknown) {
          throw err;
        }
        // Unknown: "pod ... not found", or (1.27-1.33 with the gate off) "PodResources API Get method disabled".
        // List answers both: the pod is absent from it, or there.
      }
    }
    const pods = decodeListResponse(await this.call('List', new Uint8Array()));
    return pods.find((p) => p.namespace === namespace && p.name === name);
  }

  private call(method: string, request: Uint8Array): Promise<Uint8Array> {
    return grpcUnary({
      socket: this.o.socket,
      method: `${SERVICE}/${method}`,
      request,
      timeoutMs: this.o.timeoutMs ?? 10_000,
    });
  }
}
