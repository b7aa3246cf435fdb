import type { KubeConfig } from '@kubernetes/client-node';
import { isConflict, statusCodeOf } from '../kube/errors.ts';
import { kubeRequest, resourcePath } from '../kube/request.ts';
import { KeyedMutex } from '../util/keyed-mutex.ts';
import { type Address, formatAddress, formatCidr } from './address.ts';
import { chooseUnclaimedBlock, freeCount, pickFreeOffset } from './allocate.ts';
import {
  type Allocation,
  type AllocationKey,
  blockName,
  type IpBlock,
  ipBlockResource,
  nodeLabel,
  poolLabel,
  sameKey,
} from './ip-block.ts';
import type { PoolSpace } from './pool-space.ts';

/** A pool as the allocator sees it: a name and one resolved space per address family. */
export interface PoolRef {
  name: string;
  spaces: PoolSpace[];
}

export interface AllocateRequest extends AllocationKey {
  pool: PoolRef;
  podNamespace: string;
  podName: string;
  podUID?: string;
  claim?: string;
  /** Fixed addresses; for a family without one, the allocator picks. */
  fixed?: Address[];
}

export interface Allocated {
  address: Address;
  block: string;
  space: PoolSpace;
}

export class AllocationError extends Error {
  constructor(
    message: string,
    readonly reason: 'exhausted' | 'taken' | 'outside' | 'conflicts',
  ) {
    super(message);
    this.name = 'AllocationError';
  }
}

/** What the allocator reads blocks from: the daemon's informer cache (all blocks of all pools). */
export interface BlockSource {
  list(): IpBlock[];
}

interface Job {
  kind: 'allocate' | 'release' | 'rebind';
  /** Needed to allocate (which offsets are allocatable); releases go by key alone. */
  space?: PoolSpace;
  ignoreClaim?: boolean;
  key: AllocationKey;
  allocation?: Allocation;
  fixedOffset?: bigint;
  resolve: (r: {
    offset?: bigint;
    outcome: 'ok' | 'full' | 'taken' | 'absent' | 'kept';
    holder?: Allocation;
  }) => void;
  reject: (err: unknown) => void;
}

interface BlockQueue {
  jobs: Job[];
  running: boolean;
}

const maxAttempts = 50;

/**
 * Allocates and releases addresses in IPBlocks through the apiserver, without any lock: blocks are affine to
 * nodes, writes carry the resourceVersion they were computed from, and concurrent requests for one block are
 * committed together (group commit). See README.md.
 */
export class BlockAllocator {
  /** Optimistic-concurrency conflicts (409) this allocator resolved by re-reading and retrying. */
  conflicts = 0;
  /** Writes that reached the apiserver (group commit makes this far smaller than the number of requests). */
  writes = 0;
  /** Our own latest view of blocks we wrote or re-read: fresher than the informer right after a write. */
  private readonly known = new Map<string, IpBlock>();
  private readonly queues = new Map<string, BlockQueue>();
  /** Allocations chosen for a block but not yet committed: they count against its free addresses. */
  private readonly pending = new Map<string, number>();
  private readonly selection = new KeyedMutex();

  constructor(
    private readonly kc: KubeConfig,
    readonly node: string,
    private readonly source: BlockSource,
  ) {}

  /** Blocks of one pool family, the fresher of the informer's and our own copy. */
  private blocksOf(pool: string, space: PoolSpace): IpBlock[] {
    const byName = new Map<string, IpBlock>();
    for (const b of this.source.list()) if (b.spec.pool === pool) byName.set(b.metadata.name, b);
    for (const [name, b] of this.known) {
      if (b.spec.pool !== pool) continue;
      const other = byName.get(name);
      if (!other || newer(b, other)) byName.set(name, b);
    }
    const prefix = space.blockNamePrefix(pool);
    return [...byName.values()].filter((b) => b.metadata.name.startsWith(prefix));
  }

  /** Every block of a pool, whatever its CIDR (a DEL needs no pool spec: the pool may be gone by then). */
  private allBlocksOf(pool: string): IpBlock[] {
    const byName = new Map<string, IpBlock>();
    for (const b of this.source.list()) if (b.spec.pool === pool) byName.set(b.metadata.name, b);
    for (const [name, b] of this.known) {
      if (b.spec.pool !== pool) continue;
      const other = byName.get(name);
      if (!other || newer(b, other)) byName.set(name, b);
    }
    return [...byName.values()];
  }

  /**
   * One address per family of the pool; idempotent for the same key. A family with several CIDRs fills them
   * in order: the next one is used once the earlier ones are full. A fixed address goes to the CIDR holding it.
   */
  async allocate(req: AllocateRequest): Promise<Allocated[]> {
    const out: Allocated[] = [];
    for (const family of [4, 6] as const) {
      const spaces = req.pool.spaces.filter((s) => s.family === family);
      if (spaces.length === 0) continue;
      const fixed = req.fixed?.find((a) => a.family === family);
      const existing = spaces.map((s) => this.existing(req.pool.name, s, req)).find((a) => a);
      if (existing) {
        out.push(existing);
        continue;
      }
      if (fixed) {
        const space = spaces.find((s) => s.contains(fixed)) ?? spaces[0]!;
        out.push(await this.allocateIn(req, space, fixed));
        continue;
      }
      let done: Allocated | undefined;
      for (const [i, space] of spaces.entries()) {
        try {
          done = await this.allocateIn(req, space);
          break;
        } catch (err) {
          const last = i === spaces.length - 1;
          if (!(err instanceof AllocationError) || err.reason !== 'exhausted' || last) {
            if (last && err instanceof AllocationError && err.reason === 'exhausted' && spaces.length > 1)
              throw new AllocationError(
                `pool ${req.pool.name} has no free IPv${family} address left (${spaces.map((s) => s.describe()).join(', ')})`,
                'exhausted',
              );
            throw err;
          }
        }
      }
      out.push(done!);
    }
    return out;
  }

  private existing(pool: string, space: PoolSpace, key: AllocationKey): Allocated | undefined {
    for (const block of this.blocksOf(pool, space)) {
      for (const [offset, a] of Object.entries(block.spec.allocations ?? {})) {
        if (sameKey(a, key)) return this.result(space, block, BigInt(offset));
      }
    }
    return undefined;
  }

  private result(space: PoolSpace, block: IpBlock, offset: bigint): Allocated {
    return {
      address: { family: space.family, value: space.blockCidr(blockIndex(block)).base + offset },
      block: block.metadata.name,
      space,
    };
  }

  private async allocateIn(req: AllocateRequest, space: PoolSpace, fixed?: Address): Promise<Allocated> {
    const pool = req.pool.name;
    const found = this.existing(pool, space, req);
    if (found) return found;
    const allocation: Allocation = {
      containerID: req.containerID,
      network: req.network,
      interface: req.interface,
      podNamespace: req.podNamespace,
      podName: req.podName,
      ...(req.podUID ? { podUID: req.podUID } : {}),
      node: this.node,
      ...(req.claim ? { claim: req.claim } : {}),
      allocatedAt: new Date().toISOString(),
    };
    if (req.claim) {
      const rebound = await this.rebindClaim(pool, space, allocation);
      if (rebound) return rebound;
    }
    if (fixed) return this.allocateFixed(pool, space, fixed, allocation);
    const full = new Set<string>();
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const target = await this.reserveBlock(pool, space, full);
      if (!target) {
        throw new AllocationError(`pool ${pool} (${space.describe()}) has no free address left`, 'exhausted');
      }
      try {
        const r = await this.enqueue(target, { kind: 'allocate', space, key: req, allocation });
        if (r.outcome === 'ok') return this.result(space, this.known.get(target)!, r.offset!);
        full.add(target);
      } finally {
        this.pending.set(target, (this.pending.get(target) ?? 1) - 1);
      }
    }
    throw new AllocationError(`pool ${pool}: gave up after ${maxAttempts} attempts`, 'conflicts');
  }

  /**
   * Picks the block for one more allocation and counts it as pending there, under a per-pool lock: without it,
   * a burst of requests would all see the same last free slot, or all race to claim the same new block.
   * Order: this node's blocks, then a newly claimed block, then a free address in another node's block.
   */
  private reserveBlock(pool: string, space: PoolSpace, full: Set<string>): Promise<string | undefined> {
    return this.selection.run(`${pool}/${space.family}`, async () => {
      const roomIn = (b: IpBlock) =>
        full.has(b.metadata.name)
          ? 0n
          : freeCount(space.blockAllocatable(blockIndex(b)), usedOffsets(b)) -
            BigInt(this.pending.get(b.metadata.name) ?? 0);
      const blocks = this.blocksOf(pool, space).sort(byIndex);
      const target =
        blocks.find((b) => b.spec.node === this.node && roomIn(b) > 0n)?.metadata.name ??
        (await this.claimBlock(pool, space, new Set(blocks.map((b) => blockIndex(b))))) ??
        // Read the blocks again: losing a claim race means a block the cache had not shown yet exists now.
        this.blocksOf(pool, space)
          .sort(byIndex)
          .find((b) => roomIn(b) > 0n)?.metadata.name;
      if (target) this.pending.set(target, (this.pending.get(target) ?? 0) + 1);
      return target;
    });
  }

  /** Creates a new, empty block affine to this node; undefined when the pool has no unclaimed block left. */
  private async claimBlock(
    pool: string,
    space: PoolSpace,
    claimed: Set<bigint>,
  ): Promise<string | undefined> {
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const index = chooseUnclaimedBlock(space, claimed, this.node);
      if (index === undefined) return undefined;
      const block = newBlock(pool, space, index, this.node, {});
      if (await this.create(block)) return block.metadata.name;
      claimed.add(index); // another node won the race for it
    }
    return undefined;
  }

  private async allocateFixed(
    pool: string,
    space: PoolSpace,
    address: Address,
    allocation: Allocation,
  ): Promise<Allocated> {
    const text = formatAddress(address);
    if (!space.contains(address)) {
      throw new AllocationError(`${text} is outside pool ${pool} (${space.describe()})`, 'outside');
    }
    if (!space.isAllocatable(address)) {
      throw new AllocationError(
        `${text} is reserved in pool ${pool} (network, broadcast, gateway or excluded)`,
        'outside',
      );
    }
    const index = space.blockIndexOf(address);
    const offset = address.value - space.blockCidr(index).base;
    const name = blockName(pool, space.family, index, space.ordinal);
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const exists =
        this.blocksOf(pool, space).some((b) => b.metadata.name === name) || (await this.refresh(name));
      if (!exists) {
        const block = newBlock(pool, space, index, undefined, { [offset.toString()]: allocation });
        if (await this.create(block)) return this.result(space, this.known.get(name)!, offset);
        continue;
      }
      const r = await this.enqueue(name, {
        kind: 'allocate',
        space,
        key: allocation,
        allocation,
        fixedOffset: offset,
      });
      if (r.outcome === 'ok') return this.result(space, this.known.get(name)!, offset);
      const holder = r.holder;
      throw new AllocationError(
        `${text} in pool ${pool} is taken by pod ${holder?.podNamespace}/${holder?.podName} (container ${holder?.containerID.slice(0, 12)}, ${holder?.network}/${holder?.interface})`,
        'taken',
      );
    }
    throw new AllocationError(`pool ${pool}: gave up on ${text} after ${maxAttempts} attempts`, 'conflicts');
  }

  /**
   * An IPAMClaim's address follows the claim, not the sandbox: a new pod naming the claim takes over the
   * allocation (same address), recorded under its own container id.
   */
  private async rebindClaim(
    pool: string,
    space: PoolSpace,
    allocation: Allocation,
  ): Promise<Allocated | undefined> {
    for (const block of this.blocksOf(pool, space)) {
      const held = Object.values(block.spec.allocations ?? {}).some((a) => a.claim === allocation.claim);
      if (!held) continue;
      const r = await this.enqueue(block.metadata.name, {
        kind: 'rebind',
        space,
        key: allocation,
        allocation,
      });
      if (r.outcome === 'ok') return this.result(space, this.known.get(block.metadata.name)!, r.offset!);
    }
    return undefined;
  }

  /**
   * Releases what `key` holds in the pool (compare-and-release): 'released', 'absent' when it held nothing
   * (an idempotent or late DEL), or 'claimed' when an IPAMClaim owns the address and keeps it.
   */
  async release(pool: PoolRef | string, key: AllocationKey): Promise<'released' | 'absent' | 'claimed'> {
    let outcome: 'released' | 'absent' | 'claimed' = 'absent';
    for (const block of this.allBlocksOf(typeof pool === 'string' ? pool : pool.name)) {
      const holds = Object.values(block.spec.allocations ?? {}).some((a) => sameKey(a, key));
      if (!holds) continue;
      const r = await this.enqueue(block.metadata.name, { kind: 'release', key });
      if (r.outcome === 'ok') outcome = 'released';
      else if (r.outcome === 'kept' && outcome === 'absent') outcome = 'claimed';
    }
    return outcome;
  }

  /** What `key` holds in the pool, from the cache (CHECK). */
  held(pool: string, key: AllocationKey): Array<{ block: IpBlock; offset: bigint }> {
    const out: Array<{ block: IpBlock; offset: bigint }> = [];
    for (const block of this.allBlocksOf(pool))
      for (const [offset, a] of Object.entries(block.spec.allocations ?? {}))
        if (sameKey(a, key)) out.push({ block, offset: BigInt(offset) });
    return out;
  }

  /** Allocations of this node in `network` (GC): block name, offset and allocation. */
  nodeAllocations(network: string): Array<{ pool: string; block: string; allocation: Allocation }> {
    const byName = new Map<string, IpBlock>();
    for (const b of this.source.list()) byName.set(b.metadata.name, b);
    for (const [name, b] of this.known) {
      const other = byName.get(name);
      if (!other || newer(b, other)) byName.set(name, b);
    }
    const out: Array<{ pool: string; block: string; allocation: Allocation }> = [];
    for (const block of byName.values())
      for (const a of Object.values(block.spec.allocations ?? {}))
        if (a.node === this.node && a.network === network)
          out.push({ pool: block.spec.pool, block: block.metadata.name, allocation: a });
    return out;
  }

  /**
   * Releases one allocation by block and key, ignoring claims: for the leak collector, once the owning pod
   * or claim is gone. Still compare-and-release: a slot taken over since is left alone.
   */
  async releaseLeak(block: string, key: AllocationKey): Promise<boolean> {
    const r = await this.enqueue(block, { kind: 'release', key, ignoreClaim: true });
    return r.outcome === 'ok';
  }

  private enqueue(
    name: string,
    job: Omit<Job, 'resolve' | 'reject'>,
  ): Promise<Parameters<Job['resolve']>[0]> {
    return new Promise((resolve, reject) => {
      let queue = this.queues.get(name);
      if (!queue) {
        queue = { jobs: [], running: false };
        this.queues.set(name, queue);
      }
      queue.jobs.push({ ...job, resolve, reject });
      if (!queue.running) void this.drain(name, queue);
    });
  }

  /** The block's single writer: takes every queued job, applies them all, writes once. */
  private async drain(name: string, queue: BlockQueue): Promise<void> {
    queue.running = true;
    try {
      while (queue.jobs.length > 0) {
        const batch = queue.jobs.splice(0, queue.jobs.length);
        try {
          await this.commit(name, batch);
        } catch (err) {
          for (const job of batch) job.reject(err);
        }
      }
    } finally {
      queue.running = false;
    }
  }

  private async commit(name: string, batch: Job[]): Promise<void> {
    const cached = this.source.list().find((b) => b.metadata.name === name);
    const own = this.known.get(name);
    let block = own && (!cached || newer(own, cached)) ? own : cached;
    let fresh = false;
    if (!block) {
      block = await this.get(name);
      fresh = true;
    }
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const next: IpBlock = structuredClone(block);
      next.spec.allocations ??= {};
      const outcomes = batch.map((job) => applyJob(next, job));
      const changed = outcomes.some((o) => o.changed);
      if (!changed) {
        // "Nothing to do" from a cached copy may only mean the copy is old (an allocation it has not seen
        // yet): a DEL must not conclude "absent" from that. Confirm against the apiserver once.
        if (!fresh) {
          block = await this.get(name);
          fresh = true;
          continue;
        }
        for (const [i, job] of batch.entries()) job.resolve(outcomes[i]!.result);
        return;
      }
      try {
        const written = await kubeRequest<IpBlock>(this.kc, {
          method: 'PUT',
          path: resourcePath({ ...ipBlockResource, name }),
          body: next,
        });
        this.writes++;
        this.known.set(name, written);
        for (const [i, job] of batch.entries()) job.resolve(outcomes[i]!.result);
        return;
      } catch (err) {
        if (!isConflict(err)) throw err;
        this.conflicts++;
        block = await this.get(name);
        fresh = true;
      }
    }
    throw new AllocationError(`block ${name}: still conflicting after ${maxAttempts} attempts`, 'conflicts');
  }

  private async get(name: string): Promise<IpBlock> {
    const block = await kubeRequest<IpBlock>(this.kc, {
      method: 'GET',
      path: resourcePath({ ...ipBlockResource, name }),
    });
    this.known.set(name, block);
    return block;
  }

  private async refresh(name: string): Promise<boolean> {
    try {
      await this.get(name);
      return true;
    } catch (err) {
      if (statusCodeOf(err) === 404) return false;
      throw err;
    }
  }

  private async create(block: IpBlock): Promise<boolean> {
    try {
      const created = await kubeRequest<IpBlock>(this.kc, {
        method: 'POST',
        path: resourcePath(ipBlockResource),
        body: block,
      });
      this.writes++;
      this.known.set(created.metadata.name, created);
      return true;
    } catch (err) {
      if (statusCodeOf(err) !== 409) throw err;
      this.conflicts++;
      await this.refresh(block.metadata.name);
      return false;
    }
  }
}

function applyJob(block: IpBlock, job: Job): { changed: boolean; result: Parameters<Job['resolve']>[0] } {
  const allocations = block.spec.allocations;
  const mine = Object.entries(allocations).find(([, a]) => sameKey(a, job.key));
  if (job.kind === 'release') {
    if (!mine) return { changed: false, result: { outcome: 'absent' } };
    if (mine[1].claim && !job.ignoreClaim) return { changed: false, result: { outcome: 'kept' } };
    delete allocations[mine[0]];
    return { changed: true, result: { outcome: 'ok', offset: BigInt(mine[0]) } };
  }
  if (mine) return { changed: false, result: { outcome: 'ok', offset: BigInt(mine[0]) } };
  if (job.kind === 'rebind') {
    const claimed = Object.entries(allocations).find(([, a]) => a.claim === job.allocation!.claim);
    if (!claimed) return { changed: false, result: { outcome: 'absent' } };
    allocations[claimed[0]] = job.allocation!;
    return { changed: true, result: { outcome: 'ok', offset: BigInt(claimed[0]) } };
  }
  if (job.fixedOffset !== undefined) {
    const holder = allocations[job.fixedOffset.toString()];
    if (holder) return { changed: false, result: { outcome: 'taken', holder } };
    allocations[job.fixedOffset.toString()] = job.allocation!;
    return { changed: true, result: { outcome: 'ok', offset: job.fixedOffset } };
  }
  const allocatable = job.space!.blockAllocatable(blockIndex(block));
  const offset = pickFreeOffset(allocatable, usedOffsets(block));
  if (offset === undefined) return { changed: false, result: { outcome: 'full' } };
  allocations[offset.toString()] = job.allocation!;
  return { changed: true, result: { outcome: 'ok', offset } };
}

function newBlock(
  pool: string,
  space: PoolSpace,
  index: bigint,
  node: string | undefined,
  allocations: Record<string, Allocation>,
): IpBlock {
  return {
    apiVersion: 'patchbay.dev/v1alpha1',
    kind: 'IPBlock',
    metadata: {
      name: blockName(pool, space.family, index, space.ordinal),
      labels: { [poolLabel]: pool, ...(node ? { [nodeLabel]: node } : {}) },
    },
    spec: { pool, cidr: formatCidr(space.blockCidr(index)), ...(node ? { node } : {}), allocations },
  };
}

function blockIndex(block: IpBlock): bigint {
  return BigInt(`0x${block.metadata.name.slice(block.metadata.name.lastIndexOf('-') + 1)}`);
}

function usedOffsets(block: IpBlock): Set<bigint> {
  return new Set(Object.keys(block.spec.allocations ?? {}).map((k) => BigInt(k)));
}

const byIndex = (a: IpBlock, b: IpBlock) => (blockIndex(a) < blockIndex(b) ? -1 : 1);

function newer(a: IpBlock, b: IpBlock): boolean {
  const ra = Number(a.metadata.resourceVersion);
  const rb = Number(b.metadata.resourceVersion);
  return Number.isFinite(ra) && Number.isFinite(rb) ? ra > rb : false;
}
