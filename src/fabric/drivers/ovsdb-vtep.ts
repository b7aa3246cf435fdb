/**
 * hardware_vtep (the VTEP schema of many ToR switches): a binding is Physical_Port.vlan_bindings[vlan] ->
 * a Logical_Switch whose tunnel_key is the VNI. Those tables have no external_ids, so a Logical_Switch is ours
 * when its other_config carries our owner mark; a binding is ours when it points at one of ours. A foreign
 * Logical_Switch with the VNI we need makes that VNI unavailable on this switch (reported, never taken over).
 *
 * With the bindings come what they imply, in the same transaction: our Logical_Switches (replication_mode
 * source_node: the default service_node floods to one remote only), Mcast_Macs_Remote "unknown-dst" -> a new
 * Physical_Locator_Set of the other switches carrying the VNI (locator sets are immutable: replaced, not
 * edited), and the other switches' Ucast_Macs_Local copied into our Ucast_Macs_Remote, so known unicast goes
 * straight to the right VTEP instead of being flooded.
 */
import {
  deleteRows,
  insertRow,
  mutateRows,
  mutation,
  type Operation,
  updateRows,
  waitRows,
  whereUuid,
} from '../../ovsdb/operations.ts';
import { encodeRow, encodeValue, type PlainRow } from '../../ovsdb/schema.ts';
import { set } from '../../ovsdb/wire.ts';
import {
  type ActualPort,
  emptySwitchActual,
  type LocalMac,
  type PeerSwitch,
  type SwitchActual,
  type SwitchOp,
  type SwitchTarget,
} from '../model.ts';
import {
  type ApplyContext,
  type ApplyResult,
  type DriftListener,
  networkKey,
  ownerKey,
  SwitchApplyError,
  type SwitchDriver,
} from './driver.ts';
import { type OvsdbDriverOptions, OvsdbSession } from './ovsdb-session.ts';

const db = 'hardware_vtep';
const unknownDst = 'unknown-dst';
const encapsulation = 'vxlan_over_ipv4';

export interface VtepDriverOptions extends OvsdbDriverOptions {
  /**
   * The Physical_Switch whose ports are managed. Omitted: the database's only Physical_Switch, or (with several)
   * the one named like the Switch. Ports of every other Physical_Switch are never touched.
   */
  physicalSwitch?: string;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const s = new Set(a);
  return b.every((x) => s.has(x));
}

/** Rows of the monitor cache indexed for one apply. */
interface View {
  switchRow: PlainRow | undefined;
  ports: Map<string, PlainRow>;
  allPorts: PlainRow[];
  logicalSwitches: Map<string, PlainRow>;
  locators: Map<string, PlainRow>;
  locatorSets: Map<string, PlainRow>;
  rows(table: string): PlainRow[];
}

export class OvsdbVtepDriver implements SwitchDriver {
  readonly parksEmptyPorts = false;
  private readonly session: OvsdbSession;
  private lastRead: View | undefined;

  constructor(
    readonly target: SwitchTarget,
    private readonly options: VtepDriverOptions,
  ) {
    this.session = new OvsdbSession(target.name, db, options);
  }

  get transactionCount(): number {
    return this.session.transactions;
  }

  async connect(): Promise<void> {
    await this.session.connect({
      Physical_Switch: { columns: ['name', 'ports', 'tunnel_ips'] },
      Physical_Port: { columns: ['name', 'vlan_bindings'] },
      Logical_Switch: { columns: ['name', 'tunnel_key', 'replication_mode', 'other_config', 'description'] },
      Ucast_Macs_Local: { columns: ['MAC', 'logical_switch', 'locator', 'ipaddr'] },
      Mcast_Macs_Local: { columns: ['MAC', 'logical_switch'] },
      Ucast_Macs_Remote: { columns: ['MAC', 'logical_switch', 'locator', 'ipaddr'] },
      Mcast_Macs_Remote: { columns: ['MAC', 'logical_switch', 'locator_set'] },
      Physical_Locator_Set: { columns: ['locators'] },
      Physical_Locator: { columns: ['encapsulation_type', 'dst_ip', 'tunnel_key'] },
    });
  }

  onDrift(listener: DriftListener): () => void {
    return this.session.onDrift(listener);
  }

  private isOurs(ls: PlainRow | undefined): boolean {
    return (ls?.other_config as Map<string, string> | undefined)?.get(ownerKey) === this.options.owner;
  }

  private snapshot(): View {
    const cache = this.session.cache;
    const byUuid = (table: string) => new Map(cache.rows(table).map((r) => [r._uuid!, r]));
    const switchRow = this.physicalSwitchRow(cache.rows('Physical_Switch'));
    const portRows = byUuid('Physical_Port');
    const ports = new Map<string, PlainRow>();
    for (const u of (switchRow?.ports as string[] | undefined) ?? []) {
      const row = portRows.get(u);
      if (row !== undefined) ports.set(row.name as string, row);
    }
    return {
      switchRow,
      ports,
      allPorts: [...portRows.values()],
      logicalSwitches: byUuid('Logical_Switch'),
      locators: byUuid('Physical_Locator'),
      locatorSets: byUuid('Physical_Locator_Set'),
      rows: (table) => cache.rows(table),
    };
  }

  private physicalSwitchName(): string {
    return this.options.physicalSwitch ?? this.target.name;
  }

  private physicalSwitchRow(rows: PlainRow[]): PlainRow | undefined {
    if (this.options.physicalSwitch !== undefined)
      return rows.find((r) => r.name === this.options.physicalSwitch);
    return rows.length === 1 ? rows[0] : rows.find((r) => r.name === this.target.name);
  }

  async read(): Promise<SwitchActual> {
    const view = this.snapshot();
    this.lastRead = view;
    const actual = emptySwitchActual(this.target.name);
    if (view.switchRow === undefined) {
      actual.problems.push({
        reason: 'PortMissing',
        switch: this.target.name,
        message:
          this.options.physicalSwitch === undefined
            ? `the switch's database has no single Physical_Switch and none named ${this.target.name} (set spec.physicalSwitch)`
            : `the switch's database has no Physical_Switch named ${this.options.physicalSwitch}`,
      });
      return actual;
    }
    actual.tunnelIps = [...((view.switchRow.tunnel_ips as string[]) ?? [])];
    for (const [name, row] of view.ports) {
      const port: ActualPort = { bindings: new Map(), parked: false };
      for (const [vlan, lsUuid] of (row.vlan_bindings as Map<number, string>) ?? []) {
        const ls = view.logicalSwitches.get(lsUuid);
        port.bindings.set(vlan, { vni: (ls?.tunnel_key as number | undefined) ?? 0, owned: this.isOurs(ls) });
      }
      actual.ports.set(name, port);
    }
    for (const ls of view.logicalSwitches.values()) {
      const vni = ls.tunnel_key as number | undefined;
      if (vni === undefined || this.isOurs(ls)) continue;
      actual.unavailableVnis.set(
        vni,
        `foreign Logical_Switch ${JSON.stringify(ls.name)} on ${this.target.name} holds tunnel_key ${vni}; not taking it over`,
      );
    }
    for (const row of view.rows('Ucast_Macs_Local')) {
      const ls = view.logicalSwitches.get(row.logical_switch as string);
      const vni = ls?.tunnel_key as number | undefined;
      if (vni === undefined || !this.isOurs(ls)) continue;
      const mac: LocalMac = { vni, mac: row.MAC as string };
      if (row.ipaddr) mac.ipaddr = row.ipaddr as string;
      actual.localMacs.push(mac);
    }
    return actual;
  }

  async apply(ops: readonly SwitchOp[], context: ApplyContext = {}): Promise<ApplyResult> {
    const view = this.lastRead;
    if (view === undefined) throw new SwitchApplyError(this.target.name, 'apply before read');
    if (view.switchRow === undefined && ops.length > 0) {
      throw new SwitchApplyError(this.target.name, `no Physical_Switch named ${this.physicalSwitchName()}`);
    }
    const t = (name: string) => this.session.table(name);
    const operations: Operation[] = [];
    let changes = 0;
    const notes: string[] = [];

    // Our Logical_Switches by VNI; a second one of ours for the same VNI is surplus and goes when unused.
    const ourLs = new Map<number, string>();
    for (const ls of view.logicalSwitches.values()) {
      const vni = ls.tunnel_key as number | undefined;
      if (vni !== undefined && this.isOurs(ls) && !ourLs.has(vni)) ourLs.set(vni, ls._uuid!);
    }

    // Bindings after the ops, per port of this switch: vlan -> VNI (ours) or LS uuid (untouched).
    const byPort = new Map<string, SwitchOp[]>();
    for (const op of ops) {
      if (op.kind === 'park' || op.kind === 'unpark') continue; // nothing to park: an empty map binds nothing
      const list = byPort.get(op.port);
      if (list === undefined) byPort.set(op.port, [op]);
      else list.push(op);
    }
    const neededVnis = new Set<number>();
    const referenced = new Set<string>();
    for (const row of view.allPorts) {
      const touched =
        view.ports.get(row.name as string)?._uuid === row._uuid ? byPort.get(row.name as string) : undefined;
      const bindings = new Map((row.vlan_bindings as Map<number, string>) ?? []);
      for (const op of touched ?? []) if (op.kind === 'unbind') bindings.delete(op.vlan);
      for (const lsUuid of bindings.values()) {
        referenced.add(lsUuid);
        const ls = view.logicalSwitches.get(lsUuid);
        if (this.isOurs(ls) && view.ports.get(row.name as string)?._uuid === row._uuid)
          neededVnis.add(ls!.tunnel_key as number);
      }
      for (const op of touched ?? []) if (op.kind === 'bind') neededVnis.add(op.vni);
    }

    // Logical_Switches to create; the wait refuses the transaction if any switch got that tunnel_key meanwhile.
    const lsRef = new Map<number, string>();
    for (const vni of [...neededVnis].sort((a, b) => a - b)) {
      const existing = ourLs.get(vni);
      if (existing !== undefined) {
        lsRef.set(vni, existing);
        const row = view.logicalSwitches.get(existing)!;
        if (row.replication_mode !== 'source_node') {
          operations.push(
            updateRows('Logical_Switch', whereUuid(existing), { replication_mode: set(['source_node']) }),
          );
          changes++;
        }
        continue;
      }
      const name = `ls${vni}`;
      lsRef.set(vni, name);
      operations.push(
        waitRows(
          'Logical_Switch',
          [['tunnel_key', '==', encodeValue(t('Logical_Switch'), 'tunnel_key', vni)]],
          ['name'],
          [],
        ),
        insertRow(
          'Logical_Switch',
          encodeRow(t('Logical_Switch'), {
            name: `patchbay-vni-${vni}`,
            tunnel_key: vni,
            replication_mode: 'source_node',
            description: `managed by Patchbay (${this.options.owner})`,
            other_config: new Map([
              [ownerKey, this.options.owner],
              [networkKey, String(vni)],
            ]),
          }),
          { uuidName: name },
        ),
      );
      changes++;
      notes.push(`create vni ${vni}`);
    }

    // Port bindings, each guarded by a wait on the bindings we read.
    for (const [name, portOps] of [...byPort].sort((a, b) => a[0].localeCompare(b[0]))) {
      const row = view.ports.get(name);
      if (row === undefined)
        throw new SwitchApplyError(this.target.name, `port ${name} was not in the last read`);
      const where = whereUuid(row._uuid!);
      const remove = new Set<number>();
      const add = new Map<number, string>();
      for (const op of portOps) {
        if (op.kind === 'unbind') {
          remove.add(op.vlan);
          add.delete(op.vlan);
        } else if (op.kind === 'bind') {
          remove.add(op.vlan); // replace whatever sits there (the diff only binds over our own or nothing)
          add.set(op.vlan, lsRef.get(op.vni)!);
        }
      }
      operations.push(
        waitRows(
          'Physical_Port',
          where,
          ['vlan_bindings'],
          [encodeRow(t('Physical_Port'), { vlan_bindings: row.vlan_bindings ?? new Map() })],
        ),
        mutateRows('Physical_Port', where, [
          mutation('vlan_bindings', 'delete', set([...remove].sort((a, b) => a - b))),
          mutation('vlan_bindings', 'insert', encodeValue(t('Physical_Port'), 'vlan_bindings', add)),
        ]),
      );
      changes += portOps.length;
      notes.push(
        ...portOps.map((o) => ('vlan' in o ? `${o.kind} ${o.port}:${o.vlan}` : `${o.kind} ${o.port}`)),
      );
    }

    // Flooding and MAC distribution for every Logical_Switch of ours; unneeded ones get none.
    const ownIps = new Set([
      ...((view.switchRow?.tunnel_ips as string[]) ?? []),
      ...(this.target.vtepIp ? [this.target.vtepIp] : []),
    ]);
    const peers = (context.peers ?? []).filter((p) => p.name !== this.target.name && !ownIps.has(p.tunnelIp));
    const locatorRefs = new Map<string, string>();
    const locatorRef = (ip: string): string => {
      let ref = locatorRefs.get(ip);
      if (ref !== undefined) return ref;
      const existing = [...view.locators.values()].find(
        (l) => l.dst_ip === ip && l.encapsulation_type === encapsulation && l.tunnel_key === undefined,
      );
      if (existing !== undefined) {
        ref = existing._uuid!;
        // Physical_Locator is not a root table: the server drops a locator once nothing refers to it (ovs-vtep's
        // Tunnel rows come and go), so one from our read may be gone. Then this wait fails the transaction as a
        // retryable conflict instead of a referential integrity error.
        operations.push(
          waitRows(
            'Physical_Locator',
            whereUuid(ref),
            ['dst_ip'],
            [encodeRow(t('Physical_Locator'), { dst_ip: ip })],
          ),
        );
      } else {
        ref = `loc${locatorRefs.size}`;
        operations.push(
          insertRow(
            'Physical_Locator',
            encodeRow(t('Physical_Locator'), { encapsulation_type: encapsulation, dst_ip: ip }),
            {
              uuidName: ref,
            },
          ),
        );
      }
      locatorRefs.set(ip, ref);
      return ref;
    };
    const locatorIp = (uuid: string) => view.locators.get(uuid)?.dst_ip as string | undefined;

    const ourLsUuids = [...view.logicalSwitches.values()]
      .filter((ls) => this.isOurs(ls))
      .map((ls) => ls._uuid!);
    const mcastRows = view.rows('Mcast_Macs_Remote');
    const ucastRows = view.rows('Ucast_Macs_Remote');
    const remoteTargets: { ref: string; uuid?: string; vni?: number }[] = [
      ...ourLsUuids.map((uuid) => {
        const vni = view.logicalSwitches.get(uuid)!.tunnel_key as number | undefined;
        const needed = vni !== undefined && neededVnis.has(vni) && ourLs.get(vni) === uuid;
        return needed ? { ref: uuid, uuid, vni } : { ref: uuid, uuid };
      }),
      ...[...lsRef].filter(([vni]) => !ourLs.has(vni)).map(([vni, ref]) => ({ ref, vni })),
    ];
    let setCounter = 0;
    for (const target of remoteTargets) {
      const carriers = target.vni === undefined ? [] : peers.filter((p) => p.vnis.has(target.vni!));
      const wantIps = [...new Set(carriers.map((p) => p.tunnelIp))].sort();
      const current =
        target.uuid === undefined
          ? []
          : mcastRows.filter((r) => r.logical_switch === target.uuid && r.MAC === unknownDst);
      const currentIps =
        current.length === 1
          ? ((view.locatorSets.get(current[0]!.locator_set as string)?.locators as string[]) ?? []).map(
              (u) => locatorIp(u) ?? '',
            )
          : [];
      if (wantIps.length === 0) {
        for (const r of current) operations.push(deleteRows('Mcast_Macs_Remote', whereUuid(r._uuid!)));
        changes += current.length;
      } else if (current.length !== 1 || !sameSet(currentIps, wantIps)) {
        const setName = `set${setCounter++}`;
        operations.push(
          insertRow(
            'Physical_Locator_Set',
            encodeRow(t('Physical_Locator_Set'), { locators: wantIps.map(locatorRef) }),
            {
              uuidName: setName,
            },
          ),
        );
        if (current.length === 1) {
          operations.push(
            updateRows(
              'Mcast_Macs_Remote',
              whereUuid(current[0]!._uuid!),
              encodeRow(t('Mcast_Macs_Remote'), { locator_set: setName }),
            ),
          );
        } else {
          for (const r of current) operations.push(deleteRows('Mcast_Macs_Remote', whereUuid(r._uuid!)));
          operations.push(
            insertRow(
              'Mcast_Macs_Remote',
              encodeRow(t('Mcast_Macs_Remote'), {
                MAC: unknownDst,
                logical_switch: target.ref,
                locator_set: setName,
              }),
            ),
          );
        }
        changes++;
        notes.push(`flood vni ${target.vni} -> ${wantIps.join(' ')}`);
      }

      // Unicast: each peer's locally learned MACs on this VNI, pointing at that peer's tunnel IP.
      const wantMacs = new Map<string, { ip: string; ipaddr: string }>();
      for (const peer of [...carriers].sort((a, b) => a.name.localeCompare(b.name))) {
        for (const m of peer.localMacs) {
          if (m.vni !== target.vni || wantMacs.has(m.mac)) continue;
          wantMacs.set(m.mac, { ip: peer.tunnelIp, ipaddr: m.ipaddr ?? '' });
        }
      }
      const seen = new Set<string>();
      for (const r of target.uuid === undefined
        ? []
        : ucastRows.filter((u) => u.logical_switch === target.uuid)) {
        const mac = r.MAC as string;
        const want = wantMacs.get(mac);
        if (want === undefined || seen.has(mac)) {
          operations.push(deleteRows('Ucast_Macs_Remote', whereUuid(r._uuid!)));
          changes++;
          continue;
        }
        seen.add(mac);
        if (locatorIp(r.locator as string) !== want.ip || (r.ipaddr ?? '') !== want.ipaddr) {
          operations.push(
            updateRows(
              'Ucast_Macs_Remote',
              whereUuid(r._uuid!),
              encodeRow(t('Ucast_Macs_Remote'), { locator: locatorRef(want.ip), ipaddr: want.ipaddr }),
            ),
          );
          changes++;
        }
      }
      for (const [mac, want] of wantMacs) {
        if (seen.has(mac)) continue;
        operations.push(
          insertRow(
            'Ucast_Macs_Remote',
            encodeRow(t('Ucast_Macs_Remote'), {
              MAC: mac,
              logical_switch: target.ref,
              locator: locatorRef(want.ip),
              ipaddr: want.ipaddr,
            }),
          ),
        );
        changes++;
      }
    }

    // Logical_Switches of ours nobody binds any more go, unless the switch itself still refers to them.
    const localRefs = new Set(
      [...view.rows('Ucast_Macs_Local'), ...view.rows('Mcast_Macs_Local')].map(
        (r) => r.logical_switch as string,
      ),
    );
    for (const uuid of ourLsUuids) {
      const vni = view.logicalSwitches.get(uuid)!.tunnel_key as number | undefined;
      if (vni !== undefined && neededVnis.has(vni) && ourLs.get(vni) === uuid) continue;
      if (referenced.has(uuid) || localRefs.has(uuid)) continue;
      operations.push(deleteRows('Logical_Switch', whereUuid(uuid)));
      changes++;
      notes.push(`delete vni ${vni}`);
    }

    if (changes === 0) return { transactions: 0, operations: 0 };
    await this.session.transact(operations, `${this.target.name}: ${notes.join(', ') || 'remote MACs'}`);
    return { transactions: 1, operations: changes };
  }

  async close(): Promise<void> {
    await this.session.close();
  }
}

/** Peers' view of each other, for ApplyContext: which VNIs each switch carries and what it learned locally. */
export function peerSwitches(
  switches: readonly {
    name: string;
    tunnelIp?: string;
    vnis: Iterable<number>;
    localMacs: readonly LocalMac[];
  }[],
): PeerSwitch[] {
  return switches
    .filter((s) => s.tunnelIp !== undefined && s.tunnelIp !== '')
    .map((s) => ({ name: s.name, tunnelIp: s.tunnelIp!, vnis: new Set(s.vnis), localMacs: s.localMacs }));
}
