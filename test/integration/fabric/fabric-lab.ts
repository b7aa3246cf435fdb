/**
 * Real ovsdb-servers playing the seed's switches sw1 and sw2 (ports p1..p3 managed, p4 foreign), for either
 * schema; an independent reader (the `ovsdb-client` tool, over the unix socket) and a transaction count taken
 * from the server's own jsonrpc log (our drivers use tcp, the reader unix, so the two never mix).
 */
import { readFile, rm } from 'node:fs/promises';
import { computeDesired, type DesiredFabric, updateLastUsed } from '../../../src/fabric/desired.ts';
import type { SwitchDriver } from '../../../src/fabric/drivers/driver.ts';
import type { FabricNetwork, NodeCabling, PodUse, SwitchTarget } from '../../../src/fabric/model.ts';
import { type SwitchSyncResult, syncFabric } from '../../../src/fabric/sync.ts';
import { runTool, startOvsdbServer, type TestOvsdbServer } from '../../helpers/ovsdb-server.ts';

export const allPorts = ['p1', 'p2', 'p3', 'p4'];

function vswitchSeed(name: string, trunks: Record<string, number[]>): unknown[] {
  const ops: unknown[] = [];
  for (const port of allPorts) {
    ops.push(
      { op: 'insert', table: 'Interface', row: { name: `${name}-${port}` }, 'uuid-name': `i${port}` },
      {
        op: 'insert',
        table: 'Port',
        row: { name: port, interfaces: ['named-uuid', `i${port}`], trunks: ['set', trunks[port] ?? []] },
        'uuid-name': port,
      },
    );
  }
  ops.push(
    {
      op: 'insert',
      table: 'Bridge',
      row: { name: `br-${name}`, ports: ['set', allPorts.map((p) => ['named-uuid', p])] },
      'uuid-name': 'br',
    },
    { op: 'insert', table: 'Open_vSwitch', row: { bridges: ['named-uuid', 'br'] } },
  );
  return ops;
}

function vtepSeed(name: string, tunnelIp: string): unknown[] {
  return [
    ...allPorts.map((p) => ({ op: 'insert', table: 'Physical_Port', row: { name: p }, 'uuid-name': p })),
    {
      op: 'insert',
      table: 'Physical_Switch',
      row: { name, ports: ['set', allPorts.map((p) => ['named-uuid', p])], tunnel_ips: tunnelIp },
      'uuid-name': 'ps',
    },
    { op: 'insert', table: 'Global', row: { switches: ['named-uuid', 'ps'] } },
  ];
}

export interface LabSwitch {
  name: string;
  server: TestOvsdbServer;
  seed: unknown[];
}

export async function startLabSwitch(
  schema: 'vswitch' | 'vtep',
  name: string,
  options: { tunnelIp?: string; trunks?: Record<string, number[]> } = {},
): Promise<LabSwitch> {
  const server = await startOvsdbServer({ schema });
  const seed =
    schema === 'vswitch' ? vswitchSeed(name, options.trunks ?? {}) : vtepSeed(name, options.tunnelIp ?? '');
  await server.peerTransact(seed);
  await server.appctl('vlog/set', 'jsonrpc:file:dbg');
  return { name, server, seed };
}

/** Transactions our drivers sent (over tcp), counted in the server's log. */
export async function countTransactions(sw: LabSwitch): Promise<number> {
  const log = await readFile(sw.server.logPath, 'utf8');
  return log.split('\n').filter((l) => /\|tcp:[^|]*received request, method="transact"/.test(l)).length;
}

/** Stops the server, replaces its database with a fresh one holding only the seed, and starts it again. */
export async function restartEmpty(sw: LabSwitch): Promise<void> {
  await sw.server.stop();
  await rm(sw.server.dbPath, { force: true });
  const schemaFile =
    sw.server.schema === 'vswitch'
      ? '/usr/share/openvswitch/vswitch.ovsschema'
      : '/usr/share/openvswitch/vtep.ovsschema';
  await runTool('ovsdb-tool', ['create', sw.server.dbPath, schemaFile]);
  await sw.server.offlineTransact(sw.seed);
  await sw.server.start();
  await sw.server.appctl('vlog/set', 'jsonrpc:file:dbg');
}

/** sw -> port -> trunks, straight from the server. */
export async function readTrunks(sw: LabSwitch): Promise<Record<string, number[]>> {
  const [r] = (await sw.server.peerTransact([
    { op: 'select', table: 'Port', where: [], columns: ['name', 'trunks'] },
  ])) as [{ rows: { name: string; trunks: unknown }[] }];
  const out: Record<string, number[]> = {};
  for (const row of r.rows) {
    const t = row.trunks as number | ['set', number[]];
    out[row.name] = (typeof t === 'number' ? [t] : t[1]).sort((a, b) => a - b);
  }
  return out;
}

/** port -> "vlan:tunnel_key" list (foreign LSs without a key show "vlan:name"), straight from the server. */
export async function readVtepBindings(sw: LabSwitch): Promise<Record<string, string[]>> {
  const [ports, lss] = (await sw.server.peerTransact([
    { op: 'select', table: 'Physical_Port', where: [], columns: ['name', 'vlan_bindings'] },
    { op: 'select', table: 'Logical_Switch', where: [], columns: ['_uuid', 'name', 'tunnel_key'] },
  ])) as [
    { rows: { name: string; vlan_bindings: ['map', [number, ['uuid', string]][]] }[] },
    { rows: { _uuid: ['uuid', string]; name: string; tunnel_key: number | ['set', number[]] }[] },
  ];
  const key = new Map(
    lss.rows.map((ls) => [ls._uuid[1], typeof ls.tunnel_key === 'number' ? String(ls.tunnel_key) : ls.name]),
  );
  const out: Record<string, string[]> = {};
  for (const p of ports.rows)
    out[p.name] = p.vlan_bindings[1].map(([vlan, [, u]]) => `${vlan}:${key.get(u)}`).sort();
  return out;
}

/** Rows of each operation of a `select` transaction, as the server answers them. */
export type Rows = { rows: Record<string, unknown>[] }[];

/** The members of an OVSDB set value (a one-member set comes as the bare value). */
export const setOf = (v: unknown): unknown[] => {
  const x = v as [string, unknown];
  return Array.isArray(x) && x[0] === 'set' ? (x[1] as unknown[]) : [v];
};

/** Physical_Switch -> port -> "vlan:tunnel_key", straight from a vtep server (over its unix socket). */
export async function readVtepBindingsBySwitch(
  server: TestOvsdbServer,
): Promise<Record<string, Record<string, string[]>>> {
  const [ps, pp, ls] = (await server.peerTransact([
    { op: 'select', table: 'Physical_Switch', where: [], columns: ['name', 'ports'] },
    { op: 'select', table: 'Physical_Port', where: [], columns: ['_uuid', 'name', 'vlan_bindings'] },
    { op: 'select', table: 'Logical_Switch', where: [], columns: ['_uuid', 'tunnel_key'] },
  ])) as Rows;
  const key = new Map(ls!.rows.map((r) => [(r._uuid as [string, string])[1], String(r.tunnel_key)]));
  const port = new Map(pp!.rows.map((r) => [(r._uuid as [string, string])[1], r]));
  const out: Record<string, Record<string, string[]>> = {};
  for (const s of ps!.rows) {
    const byPort: Record<string, string[]> = {};
    for (const u of setOf(s.ports) as [string, string][]) {
      const row = port.get(u[1])!;
      const map = (row.vlan_bindings as ['map', [number, ['uuid', string]][]])[1];
      byPort[row.name as string] = map.map(([vlan, [, l]]) => `${vlan}:${key.get(l)}`).sort();
    }
    out[s.name as string] = Object.fromEntries(Object.entries(byPort).sort(([a], [b]) => a.localeCompare(b)));
  }
  return out;
}

/** A stand-in for the controller's loop over the pure core: desired state, hold-down bookkeeping, one sync. */
export class TestReconciler {
  lastUsed = new Map<string, number>();
  desired: DesiredFabric | undefined;

  constructor(
    readonly networks: FabricNetwork[],
    readonly cabling: NodeCabling[],
    readonly targets: SwitchTarget[],
    readonly drivers: SwitchDriver[],
    readonly holdDownMs = 0,
  ) {}

  async reconcile(pods: PodUse[], nowMs = Date.now()): Promise<SwitchSyncResult[]> {
    const hold = { nowMs, holdDownMs: this.holdDownMs, lastUsed: this.lastUsed };
    const desired = computeDesired({
      networks: this.networks,
      cabling: this.cabling,
      targets: this.targets,
      pods,
      holdDown: hold,
      reservedVlans: [4094],
    });
    this.desired = desired;
    this.lastUsed = updateLastUsed(this.lastUsed, desired, hold);
    const results = await syncFabric({ desired, drivers: this.drivers });
    for (const r of results) if (r.error) throw r.error;
    return results;
  }
}
