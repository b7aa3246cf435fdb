/** Parse throughput of the networks and network-status annotations, in annotations per second. */
import { parseNetworkSelection } from '../src/api/network-selection.ts';
import { createNetworkStatuses, formatNetworkStatus, parseNetworkStatus } from '../src/api/network-status.ts';

const ctx = { namespace: 'default', object: 'pod default/web-0' };

const inputs: [string, () => unknown][] = [
  ['networks, list form (1 entry)', () => parseNetworkSelection('blue', ctx)],
  ['networks, list form (3 entries)', () => parseNetworkSelection('blue, other-ns/green@eth1,red@eth2', ctx)],
  ['networks, JSON form (1 entry)', () => parseNetworkSelection('[{"name":"blue"}]', ctx)],
  [
    'networks, JSON form (3 entries, ips/mac/default-route)',
    () =>
      parseNetworkSelection(
        '[{"name":"blue","interface":"eth1","ips":["10.1.2.3/24","2001:db8::5/64"],"mac":"02:23:45:67:89:01"},' +
          '{"name":"green","namespace":"other-ns","default-route":["10.0.0.1"]},{"name":"red","cni-args":{"spoofchk":"on"}}]',
        ctx,
      ),
  ],
  [
    'networks, invalid (error with hint)',
    () => {
      try {
        parseNetworkSelection('[{"name":"blue"},]', ctx);
      } catch {
        // The cost of building the message is what is measured.
      }
    },
  ],
];

const status = formatNetworkStatus(
  createNetworkStatuses(
    {
      interfaces: [{ name: 'net1', mac: '86:1d:96:ff:55:0d', sandbox: '/var/run/netns/p' }],
      ips: [{ address: '192.168.1.205/24', interface: 0 }],
      routes: [{ dst: '0.0.0.0/0', gw: '192.168.1.1' }],
    },
    'default/blue',
    false,
  ),
);
inputs.push(['network-status, parse (1 entry)', () => parseNetworkStatus(status)]);

function measure(fn: () => unknown, ms: number): number {
  const end = performance.now() + ms;
  let n = 0;
  while (performance.now() < end) {
    for (let i = 0; i < 1000; i++) fn();
    n += 1000;
  }
  return (n / ms) * 1000;
}

for (const [title, fn] of inputs) {
  measure(fn, 200);
  const perSecond = measure(fn, 1000);
  console.log(
    `${title.padEnd(56)} ${Math.round(perSecond).toLocaleString('en-US').padStart(12)} annotations/s`,
  );
}
