/** Every Patchbay resource, for the CRD generator, `patchbay validate` and tests. */
import { IPPoolResource } from './ip-pool.ts';
import { NetworkResource } from './network.ts';
import { NodeTopologyResource } from './node-topology.ts';
import type { Resource } from './resource.ts';
import { SwitchResource } from './switch.ts';

// biome-ignore lint/suspicious/noExplicitAny: a heterogeneous list of resources.
export const patchbayResources: Resource<any, any>[] = [
  NetworkResource,
  SwitchResource,
  NodeTopologyResource,
  IPPoolResource,
];

export const patchbayCrds = patchbayResources.map((r) => r.crd);
