/**
 * A switch that exists only in memory: apply() records the operations and plays them onto its state. For
 * `patchbay plan` (start from what a real driver read, see what a sync would do) and for tests of callers.
 */
import { applySwitchOps } from '../diff.ts';
import type { SwitchActual, SwitchOp, SwitchTarget } from '../model.ts';
import { emptySwitchActual } from '../model.ts';
import type { ApplyContext, ApplyResult, DriftListener, SwitchDriver } from './driver.ts';

export interface RecordedApply {
  ops: SwitchOp[];
  context: ApplyContext;
}

export class DryRunDriver implements SwitchDriver {
  readonly recorded: RecordedApply[] = [];
  private state: SwitchActual;
  private readonly listeners = new Set<DriftListener>();

  constructor(
    readonly target: SwitchTarget,
    options: { initial?: SwitchActual; parksEmptyPorts?: boolean } = {},
  ) {
    this.parksEmptyPorts = options.parksEmptyPorts ?? false;
    this.state = options.initial ?? emptySwitchActual(target.name);
    if (options.initial === undefined) {
      for (const port of target.managedPorts)
        this.state.ports.set(port, { bindings: new Map(), parked: false });
    }
  }

  readonly parksEmptyPorts: boolean;

  get transactionCount(): number {
    return this.recorded.length;
  }

  async connect(): Promise<void> {}

  async read(): Promise<SwitchActual> {
    return applySwitchOps(this.state, []);
  }

  async apply(ops: readonly SwitchOp[], context: ApplyContext = {}): Promise<ApplyResult> {
    if (ops.length === 0) return { transactions: 0, operations: 0 };
    this.recorded.push({ ops: [...ops], context });
    this.state = applySwitchOps(this.state, ops);
    return { transactions: 1, operations: ops.length };
  }

  /** Replaces the state as if someone changed the switch by hand, and tells the listeners. */
  simulateDrift(state: SwitchActual, reason = 'changed by hand'): void {
    this.state = state;
    for (const listener of this.listeners) listener(reason);
  }

  onDrift(listener: DriftListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }
}
