/**
 * Cables between network namespaces for the VTEP lab: a veth pair made with both ends already in their
 * namespaces (nothing ever appears in the root namespace, so names like "p1" or "eth0" never collide), and an
 * endpoint host (a server or pod stand-in) with an address and TX checksum offload off, which TCP into a
 * userspace (netdev) OVS datapath needs.
 */
import { run } from '../exec.ts';

const timeoutMs = 15_000;

export interface LinkEnd {
  netns: string;
  ifname: string;
}

export interface CableOptions {
  /** Set on both ends (e.g. 9000 for an underlay that carries VXLAN without lowering the overlay MTU). */
  mtu?: number;
}

async function ip(args: string[]): Promise<void> {
  await run('ip', args, { timeoutMs });
}

/** A veth pair from `a` to `b`, both ends up. */
export async function addCable(a: LinkEnd, b: LinkEnd, options: CableOptions = {}): Promise<void> {
  await ip([
    'link',
    'add',
    'name',
    a.ifname,
    'netns',
    a.netns,
    'type',
    'veth',
    'peer',
    'name',
    b.ifname,
    'netns',
    b.netns,
  ]);
  for (const end of [a, b]) {
    const mtu = options.mtu === undefined ? [] : ['mtu', String(options.mtu)];
    await ip(['-n', end.netns, 'link', 'set', end.ifname, ...mtu, 'up']);
  }
}

/** Unplugs a cable (the peer end goes with it); a missing one is success. */
export async function removeCable(end: LinkEnd): Promise<void> {
  await run('ip', ['-n', end.netns, 'link', 'del', end.ifname], { timeoutMs, allowFailure: true });
}

export interface HostAddressOptions {
  /** Default true: TCP over veth into a netdev OVS bridge needs the sender's checksums computed in software. */
  txOff?: boolean;
}

/** Gives a host's interface its address (CIDR) and turns TX checksum offload off. */
export async function configureHostInterface(
  end: LinkEnd,
  cidr: string,
  options: HostAddressOptions = {},
): Promise<void> {
  await ip(['-n', end.netns, 'addr', 'add', cidr, 'dev', end.ifname]);
  await ip(['-n', end.netns, 'link', 'set', end.ifname, 'up']);
  if (options.txOff ?? true) {
    await run('ip', ['netns', 'exec', end.netns, 'ethtool', '-K', end.ifname, 'tx', 'off'], { timeoutMs });
  }
}
