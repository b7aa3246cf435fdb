/**
 * One fabric round: read every switch, diff it against the desired state, and apply each switch's diff as at
 * most one transaction, all switches in parallel. hardware_vtep switches also get their peers (which VNIs the
 * others will carry after this round, and the MACs they learned), so flooding lists and remote MACs converge
 * in the same round. A failing switch fails alone.
 */
import type { DesiredFabric } from './desired.ts';
import { applySwitchOps, diffSwitch } from './diff.ts';
import type { SwitchDriver } from './drivers/driver.ts';
import type { FabricProblem, PeerSwitch, SwitchActual, SwitchOp } from './model.ts';

export interface SyncOptions {
  desired: DesiredFabric;
  drivers: readonly SwitchDriver[];
  /** Compute and report, change nothing: for every switch (true) or the named ones. */
  readOnly?: boolean | ReadonlySet<string>;
  /** More changes than this on one switch in one round is suspicious: stop and report instead. */
  maxOpsPerSwitch?: number;
}

export interface SwitchSyncResult {
  switch: string;
  ops: SwitchOp[];
  problems: FabricProblem[];
  transactions: number;
  /** What was read (for status and the next round's hold-down seeding). */
  actual?: SwitchActual;
  error?: Error;
}

export async function syncFabric(options: SyncOptions): Promise<SwitchSyncResult[]> {
  const { desired, drivers } = options;
  const reads = await Promise.allSettled(drivers.map((d) => d.read()));
  const results: SwitchSyncResult[] = [];
  const peers: PeerSwitch[] = [];

  drivers.forEach((driver, i) => {
    const name = driver.target.name;
    const read = reads[i]!;
    const result: SwitchSyncResult = { switch: name, ops: [], problems: [], transactions: 0 };
    results.push(result);
    if (read.status === 'rejected') {
      result.error = read.reason as Error;
      result.problems.push({
        reason: 'SwitchError',
        switch: name,
        message: `read failed: ${result.error.message}`,
      });
      // Its peers still flood to it for what it should carry.
      const vnis = new Set(
        [...(desired.switches.get(name)?.ports.values() ?? [])].flatMap((b) => [...b.values()]),
      );
      if (driver.target.vtepIp) peers.push({ name, tunnelIp: driver.target.vtepIp, vnis, localMacs: [] });
      return;
    }
    const actual = read.value;
    result.actual = actual;
    const diff = diffSwitch(desired.switches.get(name), actual, {
      managedPorts: driver.target.managedPorts,
      parking: driver.parksEmptyPorts,
      protectedVnis: desired.protectedVnis,
    });
    result.ops = diff.ops;
    result.problems.push(...actual.problems, ...diff.problems);
    const after = applySwitchOps(actual, diff.ops);
    const vnis = new Set<number>();
    for (const port of after.ports.values())
      for (const b of port.bindings.values()) if (b.owned) vnis.add(b.vni);
    const tunnelIp = driver.target.vtepIp ?? actual.tunnelIps[0];
    if (tunnelIp !== undefined) peers.push({ name, tunnelIp, vnis, localMacs: actual.localMacs });
  });

  await Promise.all(
    drivers.map(async (driver, i) => {
      const result = results[i]!;
      if (result.actual === undefined) return;
      const name = driver.target.name;
      const readOnly =
        options.readOnly === true || (typeof options.readOnly === 'object' && options.readOnly.has(name));
      if (readOnly) {
        if (result.ops.length > 0) {
          result.problems.push({
            reason: 'ReadOnly',
            switch: name,
            message: `read-only: ${result.ops.length} change(s) computed, none applied`,
          });
        }
        return;
      }
      if (options.maxOpsPerSwitch !== undefined && result.ops.length > options.maxOpsPerSwitch) {
        result.problems.push({
          reason: 'TooManyChanges',
          switch: name,
          message: `${result.ops.length} changes exceed the cap of ${options.maxOpsPerSwitch} per round; nothing applied`,
        });
        return;
      }
      try {
        const applied = await driver.apply(result.ops, { peers });
        result.transactions = applied.transactions;
      } catch (err) {
        result.error = err as Error;
        result.problems.push({
          reason: 'SwitchError',
          switch: name,
          message: `apply failed: ${(err as Error).message}`,
        });
      }
    }),
  );
  return results;
}
