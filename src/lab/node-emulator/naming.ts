/**
 * Names of the network namespaces a lab makes. Every one starts with `pbl_<labId>_`, the lab id being a hash
 * of the lab's directory, so `lab down` finds them even when the directory is gone, two labs (a developer's
 * and a test run's) never collide, and `_` (not allowed in Kubernetes node names) separates the parts
 * unambiguously: `pbl_<labId>_<node>` is a node's host namespace, `pbl_<labId>_<node>_<containerId>` a pod
 * sandbox on it. The container id in the name lets a restart release a sandbox whose record was never written.
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';

export const NETNS_PREFIX = 'pbl_';

/** Kubernetes node names are DNS subdomains; we also keep them short enough for readable namespace names. */
const NODE_NAME = /^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/;
const CONTAINER_ID = /^[0-9a-f]{32}$/;
const LAB_ID = /^[0-9a-f]{8}$/;

export function labIdOf(labDir: string): string {
  return createHash('sha256').update(resolve(labDir)).digest('hex').slice(0, 8);
}

export function checkNodeName(name: string): string {
  if (!NODE_NAME.test(name))
    throw new Error(`node name ${JSON.stringify(name)}: lowercase letters, digits, - and ., at most 63`);
  return name;
}

export function labNetnsPrefix(labId: string): string {
  return `${NETNS_PREFIX}${labId}_`;
}

export function nodeNetnsName(labId: string, node: string): string {
  return `${labNetnsPrefix(labId)}${checkNodeName(node)}`;
}

export function sandboxNetnsName(labId: string, node: string, containerId: string): string {
  if (!CONTAINER_ID.test(containerId)) throw new Error(`container id ${containerId}: 32 hex digits expected`);
  return `${nodeNetnsName(labId, node)}_${containerId}`;
}

export type ParsedNetns =
  | { kind: 'node'; labId: string; node: string }
  | { kind: 'sandbox'; labId: string; node: string; containerId: string };

/** What a namespace name is, or undefined when it is not one of a lab's. */
export function parseNetnsName(name: string): ParsedNetns | undefined {
  if (!name.startsWith(NETNS_PREFIX)) return undefined;
  const parts = name.slice(NETNS_PREFIX.length).split('_');
  const [labId, node, containerId] = parts;
  if (!labId || !LAB_ID.test(labId) || !node || !NODE_NAME.test(node)) return undefined;
  if (parts.length === 2) return { kind: 'node', labId, node };
  if (parts.length === 3 && containerId && CONTAINER_ID.test(containerId))
    return { kind: 'sandbox', labId, node, containerId };
  return undefined;
}
