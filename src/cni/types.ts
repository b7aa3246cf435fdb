/**
 * CNI data types by spec version, as they appear on the wire. Results come in three shapes:
 * 0.1.0/0.2.0 (`ip4`/`ip6`), 0.3.x/0.4.0 (`interfaces`, `ips` with `version`), 1.x (no `version`,
 * interfaces may carry mtu, socketPath, pciID).
 */

export interface Dns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface Route {
  /** CIDR. */
  dst: string;
  gw?: string;
  /** 1.x route attributes; 0.4.0 results from the Go library carry them too, 0.2.0 drops them. */
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface Interface {
  name: string;
  mac?: string;
  /** 1.0.0+ only. */
  mtu?: number;
  sandbox?: string;
  /** 1.0.0+ only. */
  socketPath?: string;
  /** 1.0.0+ only. */
  pciID?: string;
}

export interface IpConfig {
  /** CIDR: `192.168.1.3/24`. */
  address: string;
  gateway?: string;
  /** Index into `interfaces`. */
  interface?: number;
}

/** Results of 1.0.0 and 1.1.0. */
export interface Result100 {
  cniVersion: string;
  interfaces?: Interface[];
  ips?: IpConfig[];
  routes?: Route[];
  dns?: Dns;
}

/** Results of 0.3.0, 0.3.1 and 0.4.0. */
export interface Result040 {
  cniVersion: string;
  interfaces?: Array<Pick<Interface, 'name' | 'mac' | 'sandbox'>>;
  ips?: Array<IpConfig & { version: '4' | '6' }>;
  routes?: Route[];
  dns?: Dns;
}

export interface IpConfig020 {
  ip: string;
  gateway?: string;
  routes?: Array<Pick<Route, 'dst' | 'gw'>>;
}

/** Results of 0.1.0 and 0.2.0. */
export interface Result020 {
  cniVersion: string;
  ip4?: IpConfig020;
  ip6?: IpConfig020;
  dns?: Dns;
}

export type CniResult = Result100 | Result040 | Result020;

export interface VersionResult {
  cniVersion: string;
  supportedVersions: string[];
}

/** One plugin's configuration inside a list (or a whole single-plugin config): unknown keys belong to it. */
export interface PluginConf {
  type: string;
  cniVersion?: string;
  name?: string;
  capabilities?: Record<string, boolean>;
  ipam?: { type?: string; [key: string]: unknown };
  dns?: Dns;
  [key: string]: unknown;
}

/** A network configuration list (the spec's "network configuration"). */
export interface NetConfList {
  /** The version selected from `cniVersion` / `cniVersions` (see selectVersion). */
  cniVersion: string;
  cniVersions?: string[];
  name: string;
  disableCheck: boolean;
  disableGC: boolean;
  loadOnlyInlinedPlugins: boolean;
  plugins: PluginConf[];
  /** Unknown top-level keys, kept (ours: `daemonSocket`, Multus-like options). */
  extra: Record<string, unknown>;
}

export interface GcAttachment {
  containerID: string;
  ifname: string;
}
