/**
 * The meta-plugin: what the daemon does for each CNI verb the shim relays.
 *
 * ADD reads the pod, plans its delegates (default network first), records the plan in the node-local cache
 * before anything runs, runs each delegate (recording each result), writes network-status, and returns the
 * default network's result. A failure anywhere undoes every delegate already started, in reverse order.
 * DEL, CHECK and GC work from the cache alone; STATUS looks at the daemon and the default network only.
 */
import { access } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { DeviceInfo, NetworkStatus } from '../api/network-status.ts';
import { createNetworkStatuses } from '../api/network-status.ts';
import { k8sArgs, parseCniArgs } from '../cni/args.ts';
import { CniError, CniErrorCode, toCniError } from '../cni/errors.ts';
import { toCurrent } from '../cni/result.ts';
import type { CniResult, GcAttachment, NetConfList } from '../cni/types.ts';
import { KeyedMutex } from '../util/keyed-mutex.ts';
import type { AttachmentCache, AttachmentRecord, DelegateRecord } from './attachment-cache.ts';
import { RECORD_FORMAT } from './attachment-cache.ts';
import { findConf } from './conf-dir.ts';
import {
  addDelegate,
  checkDelegate,
  type DelegateCall,
  type DelegateRunner,
  delDelegate,
  gcDelegate,
  statusDelegate,
} from './delegate.ts';
import { attachDevices, prepareDeviceInfo } from './device/attach-devices.ts';
import { DEFAULT_DEVICE_INFO_DIR, readDeviceInfo, removeDeviceInfo } from './device/device-info.ts';
import type { DeviceLookup } from './device/pod-devices.ts';
import { ReadWriteLock } from './locks.ts';
import {
  type NadLookup,
  nadConflist,
  type PlannedDelegate,
  type PodInfo,
  planAttachment,
} from './networks.ts';
import type { PodEvent, PodRef } from './pod-status.ts';
import type { CniCall } from './shim-calls.ts';

/** The daemon's view of the cluster; absent when it runs without one (default network only). */
export interface ClusterAccess {
  getPod(namespace: string, name: string, uid?: string): Promise<PodInfo | undefined>;
  getNad: NadLookup;
  writeNetworkStatus(pod: PodRef, statuses: NetworkStatus[]): Promise<void>;
  recordEvent(pod: PodRef, event: PodEvent): Promise<void>;
}

export interface MetaPluginOptions {
  node: string;
  cache: AttachmentCache;
  confDir: string;
  /** CNI_PATH for delegates; the runtime's CNI_PATH when empty. */
  cniPath: string[];
  wrapper: string[];
  defaultNetwork?: string;
  globalNamespaces: readonly string[];
  cluster?: ClusterAccess;
  /** Where pods' device-plugin devices come from (NADs with a resourceName); without it such NADs fail. */
  devices?: { lookup: DeviceLookup; deviceInfoDir?: string };
  logger: Logger;
}

export const EVENT_ADD_FAILED = 'ErrorAddingNetwork';

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

export class MetaPlugin {
  private readonly attachments = new KeyedMutex();
  private readonly gcLock = new ReadWriteLock();
  private readonly background = new Set<Promise<unknown>>();

  constructor(private readonly o: MetaPluginOptions) {}

  /** The handler for shimCallHandler. */
  handle = async (call: CniCall): Promise<CniResult | undefined> => {
    switch (call.verb) {
      case 'ADD':
        return this.locked(call, () => this.cmdAdd(call));
      case 'DEL':
        return this.locked(call, () => this.cmdDel(call)).then(() => undefined);
      case 'CHECK':
        return this.locked(call, () => this.cmdCheck(call)).then(() => undefined);
      case 'STATUS':
        return this.cmdStatus(call).then(() => undefined);
      case 'GC':
        return this.gcLock.write(() => this.cmdGc(call)).then(() => undefined);
    }
  };

  /** Waits for event writes still in flight (bounded by their own request timeouts). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.background]);
  }

  private locked<T>(call: CniCall, fn: () => Promise<T>): Promise<T> {
    const key = `${call.env.containerId}/${call.env.ifname}`;
    return this.gcLock.read(() => this.attachments.run(key, fn));
  }

  private runner(call: CniCall): DelegateRunner {
    return {
      cniPath: this.o.cniPath.length ? this.o.cniPath : call.env.path,
      wrapper: this.o.wrapper,
      onStderr: (plugin, text) => this.o.logger.debug({ plugin, stderr: text.trim() }, 'delegate stderr'),
    };
  }

  private delegateCall(r: AttachmentRecord, d: DelegateRecord, netns: string | undefined): DelegateCall {
    const c: DelegateCall = {
      network: d.network,
      conflist: d.conflist,
      containerId: r.containerId,
      ifname: d.ifname,
      cniArgs: d.cniArgs,
      capabilityArgs: d.capabilityArgs,
    };
    if (netns) c.netns = netns;
    return c;
  }

  // ---- ADD -------------------------------------------------------------------------------------------

  private async cmdAdd(call: CniCall): Promise<CniResult> {
    const { containerId, ifname, netns } = call.env as Required<Pick<CniCall['env'], 'containerId'>> &
      CniCall['env'];
    const runner = this.runner(call);
    const log = this.o.logger.child({ containerId, ifname: ifname });

    // A record left by an earlier ADD of this attachment (a crash, or a runtime retrying after a timeout):
    // release it first, so that nothing it allocated is orphaned by the new one.
    const stale = await this.o.cache.read(containerId, ifname!);
    if (stale) {
      log.info('releasing the earlier attachment of this container before ADD');
      await this.release(stale, runner, call.env.netns);
    }

    const runtimeArgs = parseCniArgs(call.env.args);
    const k8s = k8sArgs(runtimeArgs);
    let pod: PodInfo | undefined;
    let podRef: PodRef | undefined;
    if (k8s.podNamespace && k8s.podName && this.o.cluster) {
      podRef = {
        namespace: k8s.podNamespace,
        name: k8s.podName,
        ...(k8s.podUid ? { uid: k8s.podUid } : {}),
      };
      try {
        pod = await this.o.cluster.getPod(k8s.podNamespace, k8s.podName, k8s.podUid);
      } catch (err) {
        throw new CniError({
          code: CniErrorCode.TryAgainLater,
          msg: 'cannot read the pod',
          details: `pod ${k8s.podNamespace}/${k8s.podName}: ${err instanceof Error ? err.message : String(err)}`,
          cause: err,
        });
      }
      if (!pod)
        throw new CniError({
          code: CniErrorCode.UnknownContainer,
          msg: 'pod not found',
          details: `pod ${k8s.podNamespace}/${k8s.podName}${k8s.podUid ? ` with uid ${k8s.podUid}` : ''} does not exist`,
        });
      podRef.uid = pod.uid ?? k8s.podUid;
    }

    try {
      const t0 = performance.now();
      const planned = await planAttachment({
        ...(pod ? { pod } : {}),
        ifname: ifname!,
        runtimeCapabilities: call.conf.runtimeConfig ?? {},
        runtimeArgs,
        confDir: this.o.confDir,
        ...(this.o.defaultNetwork ? { defaultNetwork: this.o.defaultNetwork } : {}),
        globalNamespaces: this.o.globalNamespaces,
        getNad: this.o.cluster?.getNad ?? (async () => undefined),
      });
      if (podRef && planned.some((d) => d.resourceName))
        await this.attachDevices(planned, podRef, containerId, log);
      const now = new Date().toISOString();
      const record: AttachmentRecord = {
        format: RECORD_FORMAT,
        containerId,
        ifname: ifname!,
        netns: netns ?? '',
        ...(podRef ? { pod: podRef } : {}),
        complete: false,
        createdAt: now,
        updatedAt: now,
        delegates: planned.map((p) => ({ ...p, state: 'pending' })),
      };
      await this.o.cache.write(record);
      if (this.o.devices && record.delegates.some((d) => d.deviceInfoFile))
        await prepareDeviceInfo(
          record.delegates,
          this.o.devices.deviceInfoDir ?? DEFAULT_DEVICE_INFO_DIR,
          (m) => log.warn(m),
        );
      const t1 = performance.now();
      await this.addAll(record, runner, netns, log);
      const t2 = performance.now();

      const deviceInfos = await Promise.all(record.delegates.map((d) => this.deviceInfoOf(d, log)));
      const statuses = record.delegates.flatMap((d, i) =>
        createNetworkStatuses(toCurrent(d.result!), d.network, d.isDefault, deviceInfos[i]),
      );
      if (podRef && this.o.cluster) {
        try {
          await this.o.cluster.writeNetworkStatus(podRef, statuses);
        } catch (err) {
          const failure = new CniError({
            code: CniErrorCode.TryAgainLater,
            msg: 'cannot write network-status',
            details: `pod ${podRef.namespace}/${podRef.name}: ${err instanceof Error ? err.message : String(err)}`,
            cause: err,
          });
          throw await this.rollback(record, record.delegates.length - 1, runner, netns, failure, log);
        }
      }
      const t3 = performance.now();
      record.complete = true;
      await this.o.cache.write(record);
      const ms = (x: number) => Math.round(x);
      log.info(
        {
          networks: record.delegates.map((d) => `${d.network}@${d.ifname}`),
          // Where an ADD's time goes: planning (NAD reads), delegates (with their cache writes), status patch.
          ms: {
            plan: ms(t1 - t0),
            delegates: ms(t2 - t1),
            status: ms(t3 - t2),
            total: ms(performance.now() - t0),
          },
        },
        'attached',
      );
      return record.delegates[0]!.result!;
    } catch (err) {
      const e = toCniError(err);
      if (podRef) this.emitEvent(podRef, { type: 'Warning', reason: EVENT_ADD_FAILED, message: e.message });
      throw e;
    }
  }

  private async attachDevices(planned: PlannedDelegate[], pod: PodRef, containerId: string, log: Logger) {
    const devices = this.o.devices;
    if (!devices) {
      const d = planned.find((p) => p.resourceName)!;
      throw new CniError({
        code: CniErrorCode.InvalidNetworkConfig,
        msg: 'no device for network',
        details: `pod ${pod.namespace}/${pod.name}: networkattachmentdefinition ${d.network} needs a device of resource "${d.resourceName}", and this daemon has no device source`,
      });
    }
    const source = await attachDevices(planned, {
      pod,
      containerId,
      deviceInfoDir: devices.deviceInfoDir ?? DEFAULT_DEVICE_INFO_DIR,
      lookup: devices.lookup,
    });
    log.debug(
      { source, devices: planned.filter((d) => d.deviceId).map((d) => `${d.network}=${d.deviceId}`) },
      'devices',
    );
  }

  /** The attachment's device information (Device Information Specification 6.1.1), if its file has any. */
  private async deviceInfoOf(d: DelegateRecord, log: Logger): Promise<DeviceInfo | undefined> {
    if (!d.deviceInfoFile) return undefined;
    try {
      return await readDeviceInfo(d.deviceInfoFile);
    } catch (err) {
      log.warn(
        { network: d.network, err: err instanceof Error ? err.message : String(err) },
        'device information',
      );
      return undefined;
    }
  }

  /** Runs each delegate in order, recording each result; on failure undoes them all and throws. */
  private async addAll(
    record: AttachmentRecord,
    runner: DelegateRunner,
    netns: string | undefined,
    log: Logger,
  ): Promise<void> {
    for (let i = 0; i < record.delegates.length; i++) {
      const d = record.delegates[i]!;
      d.state = 'adding';
      try {
        d.result = await addDelegate(runner, this.delegateCall(record, d, netns));
      } catch (err) {
        throw await this.rollback(record, i, runner, netns, toCniError(err), log);
      }
      d.state = 'added';
      await this.o.cache.write(record);
    }
  }

  /**
   * DEL of delegates `upTo`..0 (the failed one too: a plugin may have left part of its work), then the
   * record goes. If some DEL fails, the record stays (DEL or GC will finish), and the error says so.
   */
  private async rollback(
    record: AttachmentRecord,
    upTo: number,
    runner: DelegateRunner,
    netns: string | undefined,
    cause: CniError,
    log: Logger,
  ): Promise<CniError> {
    const left: DelegateRecord[] = [];
    for (let j = upTo; j >= 0; j--) {
      const d = record.delegates[j]!;
      try {
        await delDelegate(runner, this.delegateCall(record, d, netns), d.result);
        if (d.deviceInfoFile) await removeDeviceInfo(d.deviceInfoFile);
      } catch (err) {
        log.warn({ err: toCniError(err).message, network: d.network }, 'rollback DEL failed');
        left.unshift(d);
      }
    }
    if (left.length === 0) {
      await this.o.cache.remove(record.containerId, record.ifname);
      return cause;
    }
    record.delegates = left;
    await this.o.cache.write(record);
    return new CniError({
      code: cause.cniCode,
      msg: cause.msg,
      details: `${cause.details}; undoing failed for ${left.map((d) => `"${d.network}"`).join(', ')} (kept in the cache for DEL/GC)`,
      cause,
    });
  }

  private emitEvent(pod: PodRef, event: PodEvent): void {
    const cluster = this.o.cluster;
    if (!cluster) return;
    const p = cluster
      .recordEvent(pod, event)
      .catch((err) => this.o.logger.warn({ err: String(err), pod: `${pod.namespace}/${pod.name}` }, 'event'))
      .finally(() => this.background.delete(p));
    this.background.add(p);
  }

  // ---- DEL -------------------------------------------------------------------------------------------

  private async cmdDel(call: CniCall): Promise<void> {
    const record = await this.o.cache.read(call.env.containerId!, call.env.ifname!);
    // Unknown attachment: nothing of ours to undo (DEL is idempotent).
    if (!record) return;
    await this.release(record, this.runner(call), call.env.netns);
  }

  /**
   * DEL of every delegate in reverse, then the record goes. A netns that no longer exists is not passed
   * (plugins then clean the node side only). Delegates whose DEL failed stay recorded, and the error names them.
   */
  private async release(
    record: AttachmentRecord,
    runner: DelegateRunner,
    netns: string | undefined,
  ): Promise<void> {
    const path = netns || record.netns;
    const usable = path && (await exists(path)) ? path : undefined;
    const left: DelegateRecord[] = [];
    const errors: CniError[] = [];
    for (const d of [...record.delegates].reverse()) {
      try {
        await delDelegate(runner, this.delegateCall(record, d, usable), d.result);
        if (d.deviceInfoFile) await removeDeviceInfo(d.deviceInfoFile);
      } catch (err) {
        left.unshift(d);
        errors.push(toCniError(err));
      }
    }
    if (left.length === 0) {
      await this.o.cache.remove(record.containerId, record.ifname);
      return;
    }
    record.delegates = left;
    await this.o.cache.write(record);
    const first = errors[0]!;
    throw new CniError({
      code: first.cniCode,
      msg: first.msg,
      details: errors.map((e) => e.details).join('; '),
      cause: first,
    });
  }

  // ---- CHECK -----------------------------------------------------------------------------------------

  private async cmdCheck(call: CniCall): Promise<void> {
    const record = await this.o.cache.read(call.env.containerId!, call.env.ifname!);
    if (!record?.complete)
      throw new CniError({
        code: CniErrorCode.UnknownContainer,
        details: `no attachment ${call.env.containerId}/${call.env.ifname} on this node${record ? ' (its ADD did not complete)' : ''}`,
      });
    const runner = this.runner(call);
    for (const d of record.delegates)
      await checkDelegate(runner, this.delegateCall(record, d, call.env.netns), d.result);
  }

  // ---- STATUS ----------------------------------------------------------------------------------------

  /** The daemon answers, so it is up; the default network must be configured and its plugins ready. */
  private async cmdStatus(call: CniCall): Promise<void> {
    let conflist: NetConfList;
    const configured = this.o.defaultNetwork;
    try {
      if (configured?.includes('/')) {
        const [ns, name] = configured.split('/') as [string, string];
        const nad = await this.o.cluster?.getNad(ns, name);
        if (!nad) throw new Error(`networkattachmentdefinition ${configured} does not exist`);
        conflist = await nadConflist(nad, this.o.confDir);
      } else {
        conflist = (await findConf(this.o.confDir, configured)).list;
      }
    } catch (err) {
      throw new CniError({
        code: CniErrorCode.PluginNotAvailable,
        msg: 'default network not available',
        details: err instanceof Error ? err.message : String(err),
      });
    }
    try {
      await statusDelegate(this.runner(call), { network: conflist.name, conflist });
    } catch (err) {
      const e = toCniError(err);
      if (
        e.cniCode === CniErrorCode.PluginNotAvailable ||
        e.cniCode === CniErrorCode.PluginNotAvailableLimited
      )
        throw e;
      throw new CniError({ code: CniErrorCode.PluginNotAvailable, msg: e.msg, details: e.details, cause: e });
    }
  }

  // ---- GC --------------------------------------------------------------------------------------------

  /**
   * With a valid list (a runtime's): every attachment of a container the list does not name is released.
   * Without one (libcni's GC without arguments, as `cnitool gc` sends it) the daemon cannot know which
   * containers live, so it releases nothing itself. Then each delegate network of 1.1.0+ gets a GC whose valid
   * list is what the cache still holds for it.
   */
  private async cmdGc(call: CniCall): Promise<void> {
    const runner = this.runner(call);
    const log = this.o.logger.child({ verb: 'GC' });
    const errors: CniError[] = [];
    const bad = (file: string, err: unknown) =>
      log.warn({ file, err: String(err) }, 'unreadable cache record');
    const valid = call.conf.validAttachments;
    if (valid) {
      const live = new Set(valid.map((a) => a.containerID));
      for (const record of await this.o.cache.list(bad)) {
        if (live.has(record.containerId)) continue;
        log.info({ containerId: record.containerId, ifname: record.ifname }, 'releasing a stale attachment');
        try {
          await this.release(record, runner, undefined);
        } catch (err) {
          errors.push(toCniError(err));
        }
      }
    }
    const networks = new Map<string, { conflist: NetConfList; network: string; valid: GcAttachment[] }>();
    const note = (network: string, conflist: NetConfList, a?: GcAttachment) => {
      let entry = networks.get(conflist.name);
      if (!entry) {
        entry = { conflist, network, valid: [] };
        networks.set(conflist.name, entry);
      }
      if (a) entry.valid.push(a);
    };
    for (const record of await this.o.cache.list(bad))
      for (const d of record.delegates)
        note(d.network, d.conflist, { containerID: record.containerId, ifname: d.ifname });
    if (!this.o.defaultNetwork?.includes('/')) {
      try {
        const def = await findConf(this.o.confDir, this.o.defaultNetwork);
        note(def.list.name, def.list);
      } catch {}
    }
    for (const { conflist, network, valid: list } of networks.values()) {
      try {
        await gcDelegate(runner, { network, conflist }, list);
      } catch (err) {
        errors.push(toCniError(err));
      }
    }
    if (errors.length)
      throw new CniError({
        code: errors[0]!.cniCode,
        msg: 'GC incomplete',
        details: errors.map((e) => e.message).join('; '),
      });
  }
}
