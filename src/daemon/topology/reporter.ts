/**
 * The topology reporter: every interval it reads lldpd (`lldpcli -u SOCKET -f json0 show neighbors`), the NICs'
 * MACs (`ip -j link show`, in the NICs' namespace), the Switch objects, and this node's NodeTopology, and writes
 * the NodeTopology status that buildTopologyReport computes.
 *
 * Writes are server-side apply under one field manager: the object itself (metadata and the daemon's NIC roles
 * in spec.roles, never forced, so a role written by hand keeps its value and the clash is reported) and the
 * status subresource (forced: the status links and the Ready/Stale/Degraded conditions are the daemon's alone).
 * Polling, not `lldpcli watch`: level-based, a missed event cannot leave the report wrong, and lastSeen has to
 * advance on a clock anyway.
 */
import { execFile } from 'node:child_process';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { type NodeTopology, NodeTopologyResource } from '../../api/node-topology.ts';
import type { Switch } from '../../api/switch.ts';
import { isConflict, isNotFound } from '../../kube/errors.ts';
import { kubeRequest, resourcePath } from '../../kube/request.ts';
import { parseLldpNeighbors } from './lldp-neighbors.ts';
import type { SwitchIdentity } from './match.ts';
import { buildTopologyReport, type TopologyProblem, type TopologyReport } from './report.ts';

export interface TopologyOptions {
  /** lldpd's control socket (`lldpd -u`). Debian's lldpcli is setuid _lldpd: its directory must be searchable by that user. */
  lldpSocket: string;
  /** How often lldpd is read and lastSeen advances (default 30 s). */
  intervalMs?: number;
  /** An LLDP link unseen this long is stale (default 3 x interval). */
  staleAfterMs?: number;
  /** role -> kernel name of this node's NICs, e.g. { 'uplink-a': 'nic1' }. */
  roles?: Record<string, string>;
  /** Command prefix that runs `ip` where the NICs are, e.g. ['ip', 'netns', 'exec', 'server1']. */
  linkWrapper?: string[];
  /** The lldpcli binary (default `lldpcli` on PATH). */
  lldpcli?: string;
}

export interface TopologyReporterConfig extends TopologyOptions {
  node: string;
  kubeConfig: KubeConfig;
  logger: Logger;
  fieldManager?: string;
}

export const TOPOLOGY_DEFAULTS = { intervalMs: 30_000, staleFactor: 3 } as const;
export const TOPOLOGY_FIELD_MANAGER = 'patchbay-daemon-topology';

const RESOURCE = {
  group: NodeTopologyResource.group,
  version: NodeTopologyResource.version,
  plural: NodeTopologyResource.plural,
};
const SWITCHES = { group: 'patchbay.dev', version: 'v1alpha1', plural: 'switches' };
const APPLY = 'application/apply-patch+yaml';

function exec(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${[cmd, ...args].join(' ')}: ${(stderr || err.message).trim()}`));
      else resolve(stdout);
    });
  });
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

export class TopologyReporter {
  readonly intervalMs: number;
  readonly staleAfterMs: number;
  /** The last report written (for tests and diagnostics). */
  lastReport: TopologyReport | undefined;
  private readonly fieldManager: string;
  private switches: SwitchIdentity[] | undefined;
  private rolesApplied = false;
  private roleProblems: TopologyProblem[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;

  constructor(private readonly c: TopologyReporterConfig) {
    this.intervalMs = c.intervalMs ?? TOPOLOGY_DEFAULTS.intervalMs;
    this.staleAfterMs = c.staleAfterMs ?? TOPOLOGY_DEFAULTS.staleFactor * this.intervalMs;
    this.fieldManager = c.fieldManager ?? TOPOLOGY_FIELD_MANAGER;
  }

  start(): void {
    this.stopped = false;
    const tick = () => {
      this.running = this.pollOnce()
        .catch((err) => this.c.logger.warn({ err: message(err) }, 'topology report failed'))
        .finally(() => {
          this.running = undefined;
          if (!this.stopped) this.timer = setTimeout(tick, this.intervalMs);
        });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One round: read everything, write the status. Throws when the apiserver cannot be written. */
  async pollOnce(now = new Date()): Promise<TopologyReport> {
    const [lldp, macs] = await Promise.all([this.readLldp(), this.readMacs()]);
    await this.refreshSwitches();
    let topology = await this.getTopology();
    if (topology === undefined || !this.rolesApplied) {
      await this.applyRoles(topology);
      topology = await this.getTopology();
      if (topology === undefined) throw new Error(`nodetopology ${this.c.node} vanished right after apply`);
    }
    const report = buildTopologyReport({
      spec: topology.spec ?? {},
      previous: topology.status?.links ?? [],
      previousConditions: topology.status?.conditions ?? [],
      ...(topology.metadata.generation === undefined ? {} : { generation: topology.metadata.generation }),
      configRoles: this.c.roles ?? {},
      switches: this.switches ?? [],
      lldp,
      macs,
      now,
      staleAfterMs: this.staleAfterMs,
      extraProblems: this.roleProblems,
    });
    await kubeRequest(this.c.kubeConfig, {
      method: 'PATCH',
      path: `${resourcePath({ ...RESOURCE, name: this.c.node })}/status`,
      query: { fieldManager: this.fieldManager, force: true },
      contentType: APPLY,
      body: {
        apiVersion: NodeTopologyResource.apiVersion,
        kind: NodeTopologyResource.kind,
        metadata: { name: this.c.node },
        status: report.status,
      },
      timeoutMs: 10_000,
    });
    this.lastReport = report;
    if (report.problems.length)
      this.c.logger.debug({ problems: report.problems.map((p) => p.message) }, 'topology problems');
    return report;
  }

  private async readLldp(): Promise<
    { neighbors: ReturnType<typeof parseLldpNeighbors> } | { error: string }
  > {
    try {
      const out = await exec(
        this.c.lldpcli ?? 'lldpcli',
        ['-u', this.c.lldpSocket, '-f', 'json0', 'show', 'neighbors'],
        10_000,
      );
      return { neighbors: parseLldpNeighbors(out) };
    } catch (err) {
      return { error: message(err) };
    }
  }

  private async readMacs(): Promise<Map<string, string>> {
    const [cmd, ...pre] = [...(this.c.linkWrapper ?? []), 'ip', '-j', 'link', 'show'];
    try {
      const links = JSON.parse(await exec(cmd!, pre, 10_000)) as { ifname?: string; address?: string }[];
      return new Map(
        links.filter((l) => l.ifname && l.address).map((l) => [l.ifname!, l.address!] as [string, string]),
      );
    } catch (err) {
      this.c.logger.debug({ err: message(err) }, 'cannot read NIC MACs');
      return new Map();
    }
  }

  /** A failed list keeps the last one: matching must not flap because of one slow apiserver answer. */
  private async refreshSwitches(): Promise<void> {
    try {
      const list = await kubeRequest<{ items: Switch[] }>(this.c.kubeConfig, {
        method: 'GET',
        path: resourcePath(SWITCHES),
        timeoutMs: 10_000,
      });
      this.switches = list.items.map((s) => ({
        name: s.metadata.name,
        ...(s.spec?.lldp ? { lldp: s.spec.lldp } : {}),
      }));
    } catch (err) {
      if (this.switches === undefined) throw err;
      this.c.logger.warn({ err: message(err) }, 'cannot list switches; matching with the last list');
    }
  }

  private async getTopology(): Promise<NodeTopology | undefined> {
    try {
      return await kubeRequest<NodeTopology>(this.c.kubeConfig, {
        method: 'GET',
        path: resourcePath({ ...RESOURCE, name: this.c.node }),
        timeoutMs: 10_000,
      });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /**
   * Creates the object if needed and sets the daemon's roles in spec.roles. Not forced: a role someone wrote by
   * hand with another NIC makes the apply conflict; it is then left out, and reported.
   */
  private async applyRoles(current: NodeTopology | undefined): Promise<void> {
    const wanted = Object.entries(this.c.roles ?? {}).sort((a, b) => a[0].localeCompare(b[0]));
    const send = async (roles: [string, string][]) =>
      kubeRequest(this.c.kubeConfig, {
        method: 'PATCH',
        path: resourcePath({ ...RESOURCE, name: this.c.node }),
        query: { fieldManager: this.fieldManager },
        contentType: APPLY,
        body: {
          apiVersion: NodeTopologyResource.apiVersion,
          kind: NodeTopologyResource.kind,
          metadata: { name: this.c.node },
          spec: roles.length ? { roles: roles.map(([role, nic]) => ({ role, nic })) } : {},
        },
        timeoutMs: 10_000,
      });
    this.roleProblems = [];
    try {
      await send(wanted);
    } catch (err) {
      if (!isConflict(err)) throw err;
      const declared = new Map((current?.spec?.roles ?? []).map((r) => [r.role, r.nic]));
      const clash = wanted.filter(([role, nic]) => declared.has(role) && declared.get(role) !== nic);
      this.roleProblems = clash.map(([role, nic]) => ({
        reason: 'RoleConflict' as const,
        nic,
        message: `role ${role}: spec.roles says ${declared.get(role)}, the daemon's role map says ${nic}; spec.roles wins`,
      }));
      await send(wanted.filter(([role]) => !clash.some(([r]) => r === role)));
    }
    this.rolesApplied = true;
  }
}
