/**
 * Pinned versions of everything the lab builds or installs. A version here is the cache key:
 * changing one rebuilds just that component.
 */
export const versions = {
  /** Kubernetes control plane + kubectl, one multi-call binary (see go-modules.ts). */
  kubernetes: 'v1.36.3',
  /** etcd 3.6: Debian's 3.4 lacks what kube-apiserver >= 1.31 needs (health endpoints, RequestWatchProgress). */
  etcd: 'v3.6.16',
  /** cnitool, the CNI project's reference client. */
  cni: 'v1.3.1',
  /** CNI reference plugins: Debian's 1.1.1 stop at spec 1.0.0; these speak 1.1.0 (GC, STATUS). */
  cniPlugins: 'v1.9.1',
  /**
   * whereabouts, the IPAM peer of bench/ipam.ts (built on demand). v0.8.0 is the newest release whose checksum
   * the Go checksum database confirms here (the proxy serves v0.9.x, sum.golang.org answers 404 for it).
   */
  whereabouts: 'v0.8.0',
} as const;

/** Debian packages the lab's data plane and tooling need (a binary in each is checked before apt runs). */
export const debianPackages: ReadonlyArray<{ pkg: string; binary: string }> = [
  { pkg: 'openvswitch-switch', binary: '/usr/sbin/ovs-vswitchd' },
  { pkg: 'openvswitch-vtep', binary: '/usr/bin/vtep-ctl' },
  { pkg: 'lldpd', binary: '/usr/sbin/lldpd' },
  { pkg: 'iproute2', binary: '/usr/bin/ip' },
  { pkg: 'nftables', binary: '/usr/sbin/nft' },
  { pkg: 'ethtool', binary: '/usr/sbin/ethtool' },
  { pkg: 'iputils-ping', binary: '/usr/bin/ping' },
  { pkg: 'openssl', binary: '/usr/bin/openssl' },
];
