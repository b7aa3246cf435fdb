/**
 * The one interface every switch driver speaks. A driver reads the switch into the fabric model, applies a
 * diff as at most one transaction, and reports drift it sees through the switch's own change notifications.
 * It owns only what it created: ports outside the target's managed ports and bindings it did not make are
 * reported (as foreign), never changed.
 */
import { PatchbayError } from '../../api/errors.ts';
import type { PeerSwitch, SwitchActual, SwitchOp, SwitchTarget } from '../model.ts';

export interface ApplyContext {
  /** The other switches of the fabric (hardware_vtep: flooding lists and remote MACs). Ignored by VLAN drivers. */
  peers?: readonly PeerSwitch[];
}

export interface ApplyResult {
  /** Transactions sent: 0 when nothing needed changing, else 1. */
  transactions: number;
  /** Database operations in that transaction (waits and comments excluded). */
  operations: number;
}

export type DriftListener = (reason: string) => void;

export interface SwitchDriver {
  readonly target: SwitchTarget;
  /** A port left with no binding must be parked (see SwitchOp 'park'). */
  readonly parksEmptyPorts: boolean;
  /** Transactions this driver has sent since it was made. */
  readonly transactionCount: number;
  /** Connects and starts watching the switch; resolves once the first full state is known. */
  connect(): Promise<void>;
  /** The switch as last seen (kept current by the monitor). apply() checks against exactly this read. */
  read(): Promise<SwitchActual>;
  /** Sends `ops` (plus what they imply, e.g. Logical_Switches and flood lists) as one transaction, or none. */
  apply(ops: readonly SwitchOp[], context?: ApplyContext): Promise<ApplyResult>;
  /** Called when the switch's state changes or is re-read after a reconnect; returns an unsubscribe. */
  onDrift(listener: DriftListener): () => void;
  close(): Promise<void>;
}

/** The switch changed between read() and apply() (a `wait` failed): read again and re-diff. Retryable. */
export class SwitchConflictError extends PatchbayError {
  constructor(switchName: string, cause?: unknown) {
    super({
      code: 'SwitchConflict',
      object: `switch ${switchName}`,
      detail: 'the switch changed since it was read; nothing was applied',
      cause,
    });
    this.name = 'SwitchConflictError';
  }
}

/** An apply that cannot be expressed safely (e.g. it would leave a port with empty trunks). Not retryable. */
export class SwitchApplyError extends PatchbayError {
  constructor(switchName: string, detail: string) {
    super({ code: 'SwitchApply', object: `switch ${switchName}`, detail });
    this.name = 'SwitchApplyError';
  }
}

/** Ownership marks written on the switch. */
export const ownerKey = 'patchbay.dev/owner';
export const vlansKey = 'patchbay.dev/vlans';
export const networkKey = 'patchbay.dev/vni';
