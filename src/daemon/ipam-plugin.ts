/**
 * `patchbay-ipam`, served by the node daemon: the shim runs as `patchbay-ipam` when a delegate (macvlan,
 * bridge, ovs, sriov...) calls its IPAM plugin, and the daemon answers with its own API connection and IPBlock
 * cache (src/ipam/README.md). ADD allocates one address per family of the pool, keyed by (container, network,
 * interface); DEL releases exactly that key (compare-and-release), queueing the release on disk when the
 * apiserver cannot take it; CHECK confirms the allocation; GC releases this node's allocations of the network
 * that the runtime no longer lists. Fixed addresses come from the runtime's `ips` capability, the pod's
 * selection element, or the pool's static assignments; an `ipam-claim-reference` makes the address outlive
 * the pod (per replica for a StatefulSet, see ipam-claims.ts).
 */
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { IPPool } from '../api/ip-pool.ts';
import {
  defaultInterfaceName,
  NETWORKS_ANNOTATION,
  parseNetworkSelection,
} from '../api/network-selection.ts';
import { k8sArgs, parseCniArgs } from '../cni/args.ts';
import { CniError, CniErrorCode } from '../cni/errors.ts';
import type { CniResult } from '../cni/types.ts';
import { AddressError, formatAddress } from '../ipam/address.ts';
import { AllocationError, BlockAllocator } from '../ipam/block-allocator.ts';
import { type AllocationKey, type IpBlock, ipBlockResource } from '../ipam/ip-block.ts';
import {
  fixedAddresses,
  IpamConfError,
  inlinePoolName,
  ipamResult,
  parseIpamConf,
  type ResolvedPool,
  resolveBlock,
  staticAssignment,
} from '../ipam/pool-config.ts';
import { PoolSpecError } from '../ipam/pool-space.ts';
import { isNotFound } from '../kube/errors.ts';
import { Informer } from '../kube/informer.ts';
import { kubeRequest, resourcePath } from '../kube/request.ts';
import { SOCKET_ENV } from '../shim/protocol.ts';
import { ensureReplicaClaim, statefulSetOf } from './ipam-claims.ts';
import { PendingReleases } from './ipam-pending.ts';
import type { CniCall } from './shim-calls.ts';

export const IPAM_PLUGIN_NAME = 'patchbay-ipam';

/** Plugin-specific CNI codes (the spec leaves 100+ to plugins). */
export enum IpamErrorCode {
  PoolExhausted = 100,
  AddressUnavailable = 101,
}

const IPPOOL_RESOURCE = { group: 'patchbay.dev', version: 'v1alpha1', plural: 'ippools' } as const;

/** What the daemon reads of an IPPool. */
type PoolObject = { metadata: { name: string }; spec: IPPool['spec'] };

export interface IpamPluginOptions {
  kc: KubeConfig;
  node: string;
  cacheDir: string;
  /** The pod, by name (and uid when given); undefined when it does not exist. */
  getPod: (namespace: string, name: string, uid?: string) => Promise<V1Pod | undefined>;
  logger: Logger;
  /** How often queued releases are retried. */
  replayIntervalMs?: number;
  /** How long an ADD waits for the IPBlock cache after a start. */
  syncWaitMs?: number;
}

export class IpamPlugin {
  readonly blocks: Informer<IpBlock>;
  readonly pools: Informer<PoolObject>;
  readonly allocator: BlockAllocator;
  readonly pending: PendingReleases;
  private timer: NodeJS.Timeout | undefined;
  private replaying: Promise<void> | undefined;

  constructor(private readonly o: IpamPluginOptions) {
    this.blocks = new Informer<IpBlock>(o.kc, { name: `ipblocks-${o.node}`, resource: ipBlockResource });
    this.pools = new Informer<PoolObject>(o.kc, { name: `ippools-${o.node}`, resource: IPPOOL_RESOURCE });
    this.allocator = new BlockAllocator(o.kc, o.node, this.blocks);
    this.pending = new PendingReleases(o.cacheDir);
  }

  /** Starts the caches in the background (the daemon serves DELs without an apiserver) and the replay loop. */
  start(): void {
    for (const i of [this.blocks, this.pools]) {
      i.on('error', (err: unknown) =>
        this.o.logger.debug({ err: err instanceof Error ? err.message : String(err) }, 'ipam informer'),
      );
      i.start(1).catch(() => {});
    }
    this.timer = setInterval(() => {
      this.replaying ??= this.replayPending()
        .then(() => {})
        .finally(() => {
          this.replaying = undefined;
        });
    }, this.o.replayIntervalMs ?? 2_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.replaying;
    await Promise.all([this.blocks.stop(), this.pools.stop()]);
  }

  /** The handler for `patchbay-ipam` calls. */
  handle = async (call: CniCall): Promise<CniResult | undefined> => {
    switch (call.verb) {
      case 'ADD':
        return this.cmdAdd(call);
      case 'DEL':
        await this.cmdDel(call);
        return undefined;
      case 'CHECK':
        await this.cmdCheck(call);
        return undefined;
      case 'GC':
        await this.cmdGc(call);
        return undefined;
      case 'STATUS':
        if (!this.blocks.hasSynced)
          throw new CniError({
            code: CniErrorCode.PluginNotAvailable,
            msg: 'IPAM not ready',
            details: 'the IPBlock cache has not synced with the apiserver yet',
          });
        return undefined;
    }
  };

  private key(call: CniCall): AllocationKey {
    return { containerID: call.env.containerId!, network: call.conf.name, interface: call.env.ifname! };
  }

  private conf(call: CniCall) {
    try {
      return parseIpamConf(call.conf.conf.ipam, call.conf.name);
    } catch (err) {
      throw invalidConf(err);
    }
  }

  private async waitSynced(what: string): Promise<void> {
    if (this.blocks.hasSynced) return;
    try {
      await this.blocks.start(this.o.syncWaitMs ?? 10_000);
    } catch (err) {
      throw new CniError({
        code: CniErrorCode.TryAgainLater,
        msg: 'IPAM cache not ready',
        details: `${what}: ${err instanceof Error ? err.message : String(err)}`,
      });
    }
  }

  private async resolvePool(conf: ReturnType<IpamPlugin['conf']>): Promise<ResolvedPool> {
    try {
      if (conf.kind === 'inline') return resolveBlock(inlinePoolName(conf.network), conf.block);
      const pool = this.pools.get(conf.pool) ?? (await this.readPool(conf.pool));
      if (!pool)
        throw new CniError({
          code: CniErrorCode.InvalidNetworkConfig,
          msg: 'IP pool not found',
          details: `ipam.pool: IPPool "${conf.pool}" does not exist`,
        });
      const resolved = resolveBlock(pool.metadata.name, pool.spec, pool.spec.assignments ?? []);
      // Routes in the NAD's ipam block come after the pool's own.
      if (conf.routes) resolved.routes = [...resolved.routes, ...conf.routes];
      return resolved;
    } catch (err) {
      if (err instanceof CniError) throw err;
      throw invalidConf(err);
    }
  }

  private async readPool(name: string): Promise<PoolObject | undefined> {
    try {
      return await kubeRequest<PoolObject>(this.o.kc, {
        method: 'GET',
        path: resourcePath({ ...IPPOOL_RESOURCE, name }),
        timeoutMs: 10_000,
      });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw tryAgain(`IPPool ${name}`, err);
    }
  }

  // ---- ADD -------------------------------------------------------------------------------------------

  private async cmdAdd(call: CniCall): Promise<CniResult> {
    const key = this.key(call);
    const conf = this.conf(call);
    await this.waitSynced(`ADD ${key.containerID}/${key.interface}`);
    const pool = await this.resolvePool(conf);
    const k8s = k8sArgs(parseCniArgs(call.env.args));
    let pod: V1Pod | undefined;
    if (k8s.podNamespace && k8s.podName) {
      try {
        pod = await this.o.getPod(k8s.podNamespace, k8s.podName, k8s.podUid);
      } catch (err) {
        throw tryAgain(`pod ${k8s.podNamespace}/${k8s.podName}`, err);
      }
    }
    const podNamespace = k8s.podNamespace ?? '';
    const podName = k8s.podName ?? '';
    const who = podName ? `pod ${podNamespace}/${podName}` : `container ${key.containerID}`;
    const element = pod ? selectionElement(pod, key.interface) : undefined;

    // Fixed addresses: the runtime's `ips` capability (the selection's `ips`, passed by the meta-plugin),
    // else the element's own `ips` (a delegate without the capability), else a static assignment of the pool.
    const runtimeIps = call.conf.runtimeConfig?.ips;
    let ips: string[] | undefined =
      Array.isArray(runtimeIps) && runtimeIps.length ? (runtimeIps as string[]) : element?.ips;
    if (!ips?.length && pod)
      ips = staticAssignment(pool.assignments, {
        namespace: podNamespace,
        name: podName,
        ...(statefulSetOf(pod) ? { statefulSet: statefulSetOf(pod)!.name } : {}),
      });
    let fixed: ReturnType<typeof fixedAddresses> | undefined;
    try {
      fixed = ips?.length ? fixedAddresses(ips) : undefined;
    } catch (err) {
      throw new CniError({
        code: CniErrorCode.InvalidNetworkConfig,
        msg: 'invalid fixed address',
        details: `${who}: ${err instanceof Error ? err.message : String(err)}`,
      });
    }

    let claim: string | undefined;
    const reference = element?.['ipam-claim-reference'];
    if (reference && pod) {
      try {
        claim = await ensureReplicaClaim(this.o.kc, pod, reference, key);
      } catch (err) {
        throw tryAgain(`${who}: IPAMClaim ${podNamespace}/${reference}`, err);
      }
    }

    try {
      const allocated = await this.allocator.allocate({
        ...key,
        pool: pool.ref,
        podNamespace,
        podName,
        ...(pod?.metadata?.uid ? { podUID: pod.metadata.uid } : k8s.podUid ? { podUID: k8s.podUid } : {}),
        ...(claim ? { claim } : {}),
        ...(fixed ? { fixed } : {}),
      });
      const { conflicts, writes } = this.allocator;
      this.o.logger.info(
        { ...key, pod: who, ips: allocated.map((a) => formatAddress(a.address)), conflicts, writes },
        'ipam allocated',
      );
      return ipamResult(allocated, pool);
    } catch (err) {
      if (err instanceof AllocationError) {
        const exhausted = err.reason === 'exhausted';
        throw new CniError({
          code: exhausted ? IpamErrorCode.PoolExhausted : IpamErrorCode.AddressUnavailable,
          msg: exhausted ? `IP pool ${pool.ref.name} is exhausted` : 'fixed address unavailable',
          details: `${who}, network ${key.network}, interface ${key.interface}: ${err.message}`,
        });
      }
      throw tryAgain(`${who}: allocating in pool ${pool.ref.name}`, err);
    }
  }

  // ---- DEL -------------------------------------------------------------------------------------------

  private async cmdDel(call: CniCall): Promise<void> {
    const key = this.key(call);
    let conf: ReturnType<IpamPlugin['conf']>;
    try {
      conf = this.conf(call);
    } catch {
      // Nothing we could have allocated with this config: DEL is idempotent.
      return;
    }
    const pool = conf.kind === 'pool' ? conf.pool : inlinePoolName(conf.network);
    if (!this.blocks.hasSynced) {
      // Without a synced cache, "not found" would be a guess: queue it for when the apiserver answers.
      await this.queue(pool, key, 'IPBlock cache not synced');
      return;
    }
    try {
      await this.allocator.release(pool, key);
    } catch (err) {
      await this.queue(pool, key, err instanceof Error ? err.message : String(err));
    }
  }

  private async queue(pool: string, key: AllocationKey, why: string): Promise<void> {
    this.o.logger.warn({ ...key, pool, why }, 'ipam release queued until the apiserver is back');
    await this.pending.add(pool, key);
  }

  /** Retries queued releases; each one that the apiserver takes (or finds nothing to do for) is dropped. */
  async replayPending(): Promise<number> {
    if (!this.blocks.hasSynced) return 0;
    let done = 0;
    for (const r of await this.pending.list()) {
      try {
        const outcome = await this.allocator.release(r.pool, r.key);
        await this.pending.remove(r);
        done++;
        this.o.logger.info({ ...r.key, pool: r.pool, outcome }, 'queued ipam release replayed');
      } catch (err) {
        this.o.logger.debug({ err: err instanceof Error ? err.message : String(err) }, 'replay failed');
        break; // still down: try again on the next tick
      }
    }
    return done;
  }

  // ---- CHECK / GC ------------------------------------------------------------------------------------

  private async cmdCheck(call: CniCall): Promise<void> {
    const key = this.key(call);
    const conf = this.conf(call);
    await this.waitSynced(`CHECK ${key.containerID}/${key.interface}`);
    const pool = conf.kind === 'pool' ? conf.pool : inlinePoolName(conf.network);
    if (this.allocator.held(pool, key).length === 0)
      throw new CniError({
        code: CniErrorCode.Internal,
        msg: 'no address allocated',
        details: `container ${key.containerID}, network ${key.network}, interface ${key.interface} holds no address in pool ${pool}`,
      });
  }

  /** Releases this node's allocations of the network that the runtime's valid list does not name. */
  private async cmdGc(call: CniCall): Promise<void> {
    const valid = call.conf.validAttachments;
    if (!valid) return;
    await this.waitSynced('GC');
    const live = new Set(valid.map((a) => `${a.containerID}/${a.ifname}`));
    for (const { pool, allocation } of this.allocator.nodeAllocations(call.conf.name)) {
      if (live.has(`${allocation.containerID}/${allocation.interface}`)) continue;
      await this.allocator.release(pool, allocation);
    }
  }
}

/** The pod's selection element for this interface (explicit `interface`, or net1, net2... by position). */
function selectionElement(pod: V1Pod, ifname: string) {
  const value = pod.metadata?.annotations?.[NETWORKS_ANNOTATION];
  if (!value) return undefined;
  const namespace = pod.metadata?.namespace ?? 'default';
  try {
    const elements = parseNetworkSelection(value, {
      namespace,
      object: `pod ${namespace}/${pod.metadata?.name}`,
    });
    return elements.find((el, i) => (el.interface ?? defaultInterfaceName(i)) === ifname);
  } catch {
    return undefined; // the meta-plugin reports a bad annotation; IPAM allocates as if it had none
  }
}

function invalidConf(err: unknown): CniError {
  if (err instanceof CniError) return err;
  const known = err instanceof IpamConfError || err instanceof PoolSpecError || err instanceof AddressError;
  return new CniError({
    code: known ? CniErrorCode.InvalidNetworkConfig : CniErrorCode.Internal,
    msg: 'invalid IPAM configuration',
    details: err instanceof Error ? err.message : String(err),
  });
}

function tryAgain(what: string, err: unknown): CniError {
  if (err instanceof CniError) return err;
  return new CniError({
    code: CniErrorCode.TryAgainLater,
    msg: 'cannot reach the apiserver',
    details: `${what}: ${err instanceof Error ? err.message : String(err)}`,
    cause: err,
  });
}

// ---- wiring (daemon.ts) ----------------------------------------------------------------------------------

/** `patchbay-ipam` calls go to the IPAM plugin, the rest to the meta-plugin. */
export function routeIpam(
  meta: (call: CniCall) => Promise<CniResult | undefined>,
  ipam: IpamPlugin | undefined,
): (call: CniCall) => Promise<CniResult | undefined> {
  return async (call) => {
    if (call.plugin !== IPAM_PLUGIN_NAME) return meta(call);
    if (!ipam)
      throw new CniError({
        code: CniErrorCode.PluginNotAvailable,
        msg: 'IPAM not available',
        details: 'the patchbay daemon runs without cluster access, so patchbay-ipam cannot allocate',
      });
    return ipam.handle(call);
  };
}

/** IPAM calls come from delegates of calls in progress: they must not queue behind them. */
export const isIpamCall = (request: { plugin: string }) => request.plugin === IPAM_PLUGIN_NAME;

/**
 * The delegates' command prefix: a delegate's `patchbay-ipam` (the shim again) must reach this daemon, so a
 * socket other than the default is passed down in the environment (delegates hand theirs to their IPAM).
 */
export function delegateWrapper(socket: string, wrapper: readonly string[], defaultSocket: string): string[] {
  return socket === defaultSocket ? [...wrapper] : ['env', `${SOCKET_ENV}=${socket}`, ...wrapper];
}
