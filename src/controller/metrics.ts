/** The controller's Prometheus metrics, on a registry of its own (two controllers in one process never clash). */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface ControllerMetrics {
  registry: Registry;
  reconciles: Counter<'result'>;
  reconcileSeconds: Histogram;
  transactions: Counter<'switch'>;
  operations: Counter<'switch' | 'kind'>;
  errors: Counter<'switch' | 'reason'>;
  bindings: Gauge<'switch'>;
  problems: Gauge<'reason'>;
  leader: Gauge;
  queueLength: Gauge;
}

export function makeMetrics(): ControllerMetrics {
  const registry = new Registry();
  const registers = [registry];
  return {
    registry,
    reconciles: new Counter({
      name: 'patchbay_fabric_reconciles_total',
      help: 'Fabric reconcile rounds, by result (ok, error)',
      labelNames: ['result'],
      registers,
    }),
    reconcileSeconds: new Histogram({
      name: 'patchbay_fabric_reconcile_duration_seconds',
      help: 'Duration of one fabric round: desired state, diff, and every switch transaction',
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    transactions: new Counter({
      name: 'patchbay_fabric_transactions_total',
      help: 'Transactions sent to switches',
      labelNames: ['switch'],
      registers,
    }),
    operations: new Counter({
      name: 'patchbay_fabric_operations_total',
      help: 'Binding changes applied to switches, by kind (bind, unbind, park, unpark)',
      labelNames: ['switch', 'kind'],
      registers,
    }),
    errors: new Counter({
      name: 'patchbay_fabric_errors_total',
      help: 'Failed switch rounds, by reason (SwitchError, TooManyChanges, NotLeader, Unreachable)',
      labelNames: ['switch', 'reason'],
      registers,
    }),
    bindings: new Gauge({
      name: 'patchbay_fabric_bindings',
      help: 'Bindings Patchbay owns on each switch, as last read',
      labelNames: ['switch'],
      registers,
    }),
    problems: new Gauge({
      name: 'patchbay_fabric_problems',
      help: 'Problems reported by the last round, by reason',
      labelNames: ['reason'],
      registers,
    }),
    leader: new Gauge({ name: 'patchbay_controller_leader', help: '1 while this replica leads', registers }),
    queueLength: new Gauge({
      name: 'patchbay_fabric_queue_length',
      help: 'Switches waiting for a round',
      registers,
    }),
  };
}
