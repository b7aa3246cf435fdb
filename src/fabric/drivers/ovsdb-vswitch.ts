/**
 * Open vSwitch (Open_vSwitch schema): a binding is a VLAN in a Port's `trunks`. The schema has no VNI, so the
 * fabric keeps link VLANs unique and `vlanToVni` says what a VLAN means. OVS reads empty `trunks` as "all
 * VLANs", so a managed port without networks is parked on a reserved VLAN, and no apply may leave it empty.
 * Ownership lives in the Port's external_ids: the owning fabric, and the VLANs Patchbay put there (so a VLAN
 * of a network deleted since is still known as ours and removed, while an operator's own VLAN is left alone).
 */
import { mutateRows, mutation, type Operation, waitRows } from '../../ovsdb/operations.ts';
import { encodeRow, type PlainRow } from '../../ovsdb/schema.ts';
import { map, set } from '../../ovsdb/wire.ts';
import {
  type ActualPort,
  emptySwitchActual,
  type SwitchActual,
  type SwitchOp,
  type SwitchTarget,
} from '../model.ts';
import {
  type ApplyResult,
  type DriftListener,
  ownerKey,
  SwitchApplyError,
  type SwitchDriver,
  vlansKey,
} from './driver.ts';
import { type OvsdbDriverOptions, OvsdbSession } from './ovsdb-session.ts';

export const defaultParkingVlan = 4094;

export interface VswitchDriverOptions extends OvsdbDriverOptions {
  /** The reserved VLAN a port without networks carries; never a network's VLAN. */
  parkingVlan?: number;
  /** VLAN -> VNI of the fabric's networks (DesiredFabric.vlanToVni); read on every read(). */
  vlanToVni: () => ReadonlyMap<number, number>;
  /** Only the ports of this bridge are seen and managed; every bridge's when omitted. */
  bridge?: string;
}

const db = 'Open_vSwitch';
const portColumns = ['name', 'trunks', 'external_ids'];

function parseVlanList(text: string | undefined): Set<number> {
  const out = new Set<number>();
  for (const part of (text ?? '').split(',')) {
    const n = Number(part);
    if (part !== '' && Number.isInteger(n)) out.add(n);
  }
  return out;
}

export class OvsdbVswitchDriver implements SwitchDriver {
  readonly parksEmptyPorts = true;
  private readonly session: OvsdbSession;
  private readonly parkingVlan: number;
  /** Port rows as of the last read(): apply() waits on exactly these. */
  private lastRead = new Map<string, PlainRow>();

  constructor(
    readonly target: SwitchTarget,
    private readonly options: VswitchDriverOptions,
  ) {
    this.session = new OvsdbSession(target.name, db, options);
    this.parkingVlan = options.parkingVlan ?? defaultParkingVlan;
  }

  get transactionCount(): number {
    return this.session.transactions;
  }

  async connect(): Promise<void> {
    await this.session.connect({
      Port: { columns: portColumns },
      Bridge: { columns: ['name', 'ports'] },
    });
  }

  onDrift(listener: DriftListener): () => void {
    return this.session.onDrift(listener);
  }

  async read(): Promise<SwitchActual> {
    const vlanToVni = this.options.vlanToVni();
    const actual = emptySwitchActual(this.target.name);
    this.lastRead = new Map();
    let ofBridge: Set<string> | undefined;
    const bridge = this.options.bridge;
    if (bridge !== undefined) {
      const row = this.session.cache.rows('Bridge').find((b) => b.name === bridge);
      ofBridge = new Set((row?.ports as string[] | undefined) ?? []);
      if (row === undefined)
        actual.problems.push({
          reason: 'PortMissing',
          switch: this.target.name,
          message: `the switch has no bridge named ${bridge} (spec.bridge)`,
        });
    }
    for (const row of this.session.cache.rows('Port')) {
      // Ports of other bridges are not ours to see: never read, never written.
      if (ofBridge !== undefined && !ofBridge.has(row._uuid!)) continue;
      const name = row.name as string;
      this.lastRead.set(name, row);
      const trunks = (row.trunks as number[]) ?? [];
      const ids = (row.external_ids as Map<string, string>) ?? new Map();
      const recorded = parseVlanList(ids.get(vlansKey));
      const port: ActualPort = { bindings: new Map(), parked: trunks.includes(this.parkingVlan) };
      const owner = ids.get(ownerKey);
      if (owner !== undefined && owner !== this.options.owner) port.claimedBy = owner;
      for (const vlan of trunks) {
        if (vlan === this.parkingVlan) continue;
        const vni = vlanToVni.get(vlan);
        port.bindings.set(vlan, { vni: vni ?? 0, owned: vni !== undefined || recorded.has(vlan) });
      }
      actual.ports.set(name, port);
    }
    return actual;
  }

  async apply(ops: readonly SwitchOp[]): Promise<ApplyResult> {
    const byPort = new Map<string, SwitchOp[]>();
    for (const op of ops) {
      const list = byPort.get(op.port);
      if (list === undefined) byPort.set(op.port, [op]);
      else list.push(op);
    }
    if (byPort.size === 0) return { transactions: 0, operations: 0 };
    const table = this.session.table('Port');
    const operations: Operation[] = [];
    let changes = 0;
    for (const [name, portOps] of [...byPort].sort((a, b) => a[0].localeCompare(b[0]))) {
      const row = this.lastRead.get(name);
      if (row === undefined)
        throw new SwitchApplyError(this.target.name, `port ${name} was not in the last read`);
      const trunks = new Set((row.trunks as number[]) ?? []);
      const ids = new Map((row.external_ids as Map<string, string>) ?? []);
      const recorded = parseVlanList(ids.get(vlansKey));
      const add = new Set<number>();
      const remove = new Set<number>();
      for (const op of portOps) {
        if (op.kind === 'bind') {
          add.add(op.vlan);
          remove.delete(op.vlan);
          recorded.add(op.vlan);
        } else if (op.kind === 'unbind') {
          remove.add(op.vlan);
          add.delete(op.vlan);
          recorded.delete(op.vlan);
        } else if (op.kind === 'park') {
          add.add(this.parkingVlan);
          remove.delete(this.parkingVlan);
        } else {
          remove.add(this.parkingVlan);
          add.delete(this.parkingVlan);
        }
      }
      const final = new Set([...trunks].filter((v) => !remove.has(v)));
      for (const v of add) final.add(v);
      if (final.size === 0) {
        // Empty trunks would put every VLAN of the switch on this port.
        throw new SwitchApplyError(
          this.target.name,
          `port ${name} would be left with empty trunks (all VLANs)`,
        );
      }
      const keptRecord = [...recorded]
        .filter((v) => final.has(v) && v !== this.parkingVlan)
        .sort((a, b) => a - b);
      const where = [['name', '==', name] as [string, '==', string]];
      operations.push(
        waitRows(
          'Port',
          where,
          ['trunks', 'external_ids'],
          [encodeRow(table, { trunks: row.trunks ?? [], external_ids: row.external_ids ?? new Map() })],
        ),
        mutateRows('Port', where, [
          mutation('trunks', 'delete', set([...remove].sort((a, b) => a - b))),
          mutation('trunks', 'insert', set([...add].sort((a, b) => a - b))),
          mutation('external_ids', 'delete', set([ownerKey, vlansKey])),
          mutation(
            'external_ids',
            'insert',
            map({ [ownerKey]: this.options.owner, [vlansKey]: keptRecord.join(',') }),
          ),
        ]),
      );
      changes += portOps.length;
    }
    // As ovs-vsctl does: ovs-vswitchd 3.1 (netdev, verified in the lab) applies a Port change only at its next
    // reconfiguration, which a bump of next_cfg triggers; without it new trunks sit in the database unused.
    operations.push(mutateRows('Open_vSwitch', [], [mutation('next_cfg', '+=', 1)]));
    const summary = ops
      .map((o) => ('vlan' in o ? `${o.kind} ${o.port}:${o.vlan}` : `${o.kind} ${o.port}`))
      .join(', ');
    await this.session.transact(operations, `${this.target.name}: ${summary}`);
    return { transactions: 1, operations: changes };
  }

  async close(): Promise<void> {
    await this.session.close();
  }
}
