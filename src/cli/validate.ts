/**
 * `patchbay validate -f FILE`: checks manifests offline with the same definitions the
 * daemon and controller use. NADs (config parsing, VNI, resourceName), pods and pod
 * templates (the networks and network-status annotations), Patchbay objects, IPAMClaims
 * and MultiNetworkPolicies. Prints one kubectl-style line per object; any invalid object
 * makes the exit code 1.
 */
import { readFile } from 'node:fs/promises';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { Command } from 'commander';
import { LineCounter, parseAllDocuments } from 'yaml';
import { ErrorCollector, ValidationError, ValidationErrors } from '../api/errors.ts';
import { IPAMClaimResource } from '../api/ipam-claim.ts';
import { MultiNetworkPolicyResource } from '../api/multi-network-policy.ts';
import {
  describeNad,
  NetworkAttachmentDefinition,
  nadResourceName,
  nadVni,
  parseNadConfig,
} from '../api/nad.ts';
import { NETWORKS_ANNOTATION, parseNetworkSelection } from '../api/network-selection.ts';
import { NETWORK_STATUS_ANNOTATION, parseNetworkStatus } from '../api/network-status.ts';
import { patchbayResources } from '../api/patchbay-crds.ts';
import type { Resource } from '../api/resource.ts';

export type Verdict = 'valid' | 'invalid' | 'skipped';

export interface ObjectResult {
  /** `network.patchbay.dev/blue`, `pod/web-0`, or `document 3` when the document has no kind. */
  ref: string;
  verdict: Verdict;
  /** What was checked, for valid objects: `vni 1111`, `2 networks`. */
  notes: string[];
  errors: ValidationError[];
}

interface Manifest {
  apiVersion?: unknown;
  kind?: unknown;
  metadata?: { name?: unknown; namespace?: unknown; annotations?: unknown };
  [key: string]: unknown;
}

// biome-ignore lint/suspicious/noExplicitAny: resources of every shape.
const resources: Resource<any, any>[] = [...patchbayResources, IPAMClaimResource, MultiNetworkPolicyResource];
const nadChecker = TypeCompiler.Compile(NetworkAttachmentDefinition);

/** Kinds whose pod template carries the annotations, and where the template sits. */
const TEMPLATE_PATHS: Record<string, string[]> = {
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
  PodTemplate: ['template'],
};

/** Every object of a YAML or JSON stream (multi-document, `kind: List` unrolled). */
export function validateManifests(text: string, source = '-'): ObjectResult[] {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, uniqueKeys: true });
  const results: ObjectResult[] = [];
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, i) => {
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      const at = lines.linePos(e.pos[0]);
      results.push({
        ref: `${source}: document ${i + 1}`,
        verdict: 'invalid',
        notes: [],
        errors: [
          new ValidationError({
            code: 'InvalidYAML',
            path: `line ${at.line} column ${at.col}`,
            detail: e.message.split('\n')[0] ?? 'is not valid YAML',
          }),
        ],
      });
      return;
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return; // an empty document (a trailing ---)
    for (const item of unrollLists(value)) results.push(validateObject(item, `${source}: document ${i + 1}`));
  });
  return results;
}

function unrollLists(value: unknown): unknown[] {
  const m = value as Manifest;
  if (
    m &&
    typeof m === 'object' &&
    typeof m.kind === 'string' &&
    m.kind.endsWith('List') &&
    Array.isArray(m.items)
  )
    return m.items.flatMap(unrollLists);
  return [value];
}

export function validateObject(value: unknown, where = 'document'): ObjectResult {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return {
      ref: where,
      verdict: 'invalid',
      notes: [],
      errors: [
        new ValidationError({
          value,
          detail: 'is not a Kubernetes object: expected a map with apiVersion, kind and metadata',
        }),
      ],
    };
  }
  const m = value as Manifest;
  const kind = typeof m.kind === 'string' ? m.kind : undefined;
  const apiVersion = typeof m.apiVersion === 'string' ? m.apiVersion : '';
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
  const name = typeof m.metadata?.name === 'string' ? m.metadata.name : '<unnamed>';
  const ref = kind === undefined ? where : `${kind.toLowerCase()}${group ? `.${group}` : ''}/${name}`;
  const result = (errors: ValidationError[], notes: string[] = []): ObjectResult => ({
    ref,
    verdict: errors.length > 0 ? 'invalid' : 'valid',
    notes: errors.length > 0 ? [] : notes,
    errors,
  });
  if (kind === undefined)
    return result([new ValidationError({ path: 'kind', detail: 'is missing: every object names its kind' })]);

  const resource = resources.find((r) => r.kind === kind && r.group === group);
  if (resource) return result(resource.problems(m));
  if (kind === 'NetworkAttachmentDefinition' && group === 'k8s.cni.cncf.io') return validateNad(m, result);
  if (kind === 'Pod' && apiVersion === 'v1') return validatePodAnnotations(m, m.metadata, result);
  const templatePath = TEMPLATE_PATHS[kind];
  if (templatePath && (group === 'apps' || group === 'batch' || apiVersion === 'v1')) {
    let template: unknown = m;
    for (const part of templatePath) template = (template as Record<string, unknown> | undefined)?.[part];
    const meta = (template as Manifest | undefined)?.metadata;
    // A template's pods get the owner's namespace.
    return validatePodAnnotations(m, { ...meta, namespace: m.metadata?.namespace }, result);
  }
  return {
    ref,
    verdict: 'skipped',
    notes: [`no checks for ${apiVersion || '<no apiVersion>'} ${kind}`],
    errors: [],
  };
}

type MakeResult = (errors: ValidationError[], notes?: string[]) => ObjectResult;

function validateNad(m: Manifest, result: MakeResult): ObjectResult {
  const first = nadChecker.Errors(m).First();
  const nad = m as unknown as NetworkAttachmentDefinition;
  if (first) {
    const path = first.path.replace(/^\//, '').replace(/\//g, '.');
    return result([
      new ValidationError({
        object: typeof m.metadata?.name === 'string' ? describeNad(nad) : 'networkattachmentdefinition',
        path,
        value: first.value,
        detail: first.message,
      }),
    ]);
  }
  const errors = new ErrorCollector();
  const notes: string[] = [];
  const config = errors.guard(() => parseNadConfig(nad));
  if (config) {
    notes.push(
      config.source === 'file'
        ? `no spec.config: the node's conf file "${config.name}" is used`
        : config.kind === 'conflist'
          ? `conflist of ${config.config.plugins.length} plugin(s)`
          : `plugin ${config.config.type}`,
    );
    const vni = errors.guard(() => nadVni(nad, config));
    if (vni !== undefined) notes.push(`vni ${vni}`);
  }
  const resourceName = nadResourceName(nad);
  if (resourceName) notes.push(`resourceName ${resourceName}`);
  return result(errors.errors, notes);
}

function validatePodAnnotations(
  m: Manifest,
  meta: Manifest['metadata'] | undefined,
  result: MakeResult,
): ObjectResult {
  const annotations = (meta?.annotations ?? {}) as Record<string, unknown>;
  const namespace = typeof meta?.namespace === 'string' ? meta.namespace : 'default';
  const name = typeof m.metadata?.name === 'string' ? m.metadata.name : '<unnamed>';
  const object = `${String(m.kind).toLowerCase()} ${namespace}/${name}`;
  const errors = new ErrorCollector();
  const notes: string[] = [];
  for (const [key, parse] of [
    [NETWORKS_ANNOTATION, (t: string) => parseNetworkSelection(t, { namespace, object }).length],
    [NETWORK_STATUS_ANNOTATION, (t: string) => parseNetworkStatus(t, { object }).length],
  ] as const) {
    const text = annotations[key];
    if (text === undefined) continue;
    if (typeof text !== 'string') {
      errors.add(
        new ValidationError({
          object,
          path: `metadata.annotations[${key}]`,
          value: text,
          detail: 'is not a string: annotation values are strings',
        }),
      );
      continue;
    }
    const n = errors.guard(() => parse(text));
    if (n !== undefined)
      notes.push(`${n} ${key === NETWORKS_ANNOTATION ? 'network selection(s)' : 'network status(es)'}`);
  }
  if (notes.length === 0 && errors.ok) notes.push('no network annotations');
  return result(errors.errors, notes);
}

/** One line per object, then the problems of invalid ones, each with its path. */
export function formatResults(results: ObjectResult[]): string {
  const out: string[] = [];
  for (const r of results) {
    if (r.verdict === 'invalid') {
      out.push(`${r.ref} invalid:`);
      for (const e of r.errors.flatMap((x) => (x instanceof ValidationErrors ? x.errors : [x]))) {
        const at = e.path === '' ? '' : `${e.path}: `;
        out.push(`  - ${at}${e.detail}${e.hint ? `\n    hint: ${e.hint}` : ''}`);
      }
    } else {
      out.push(`${r.ref} ${r.verdict}${r.notes.length ? ` (${r.notes.join(', ')})` : ''}`);
    }
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

async function readInput(file: string): Promise<string> {
  if (file !== '-') return readFile(file, 'utf8');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Validates each file; returns the exit code (1 when any object is invalid or a file is unreadable). */
export async function runValidate(
  files: string[],
  write: (s: string) => void,
  output: 'text' | 'json' = 'text',
): Promise<number> {
  let code = 0;
  const all: ObjectResult[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readInput(file);
    } catch (e) {
      write(`${file}: cannot read: ${e instanceof Error ? e.message : String(e)}\n`);
      code = 1;
      continue;
    }
    const results = validateManifests(text, file === '-' ? 'stdin' : file);
    if (results.some((r) => r.verdict === 'invalid')) code = 1;
    if (output === 'text') write(formatResults(results));
    all.push(...results);
  }
  if (output === 'json')
    write(
      `${JSON.stringify(
        all.map((r) => ({
          ref: r.ref,
          verdict: r.verdict,
          notes: r.notes,
          errors: r.errors.map((e) => e.toJSON()),
        })),
        null,
        2,
      )}\n`,
    );
  return code;
}

export function registerValidateCommand(program: Command): void {
  program
    .command('validate')
    .description(
      'check manifests offline: NADs, pods and workloads (network annotations), Patchbay objects, IPAMClaims, MultiNetworkPolicies',
    )
    .requiredOption('-f, --filename <file...>', 'YAML or JSON file(s), multi-document; - for stdin')
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (flags: { filename: string[]; output: string }) => {
      if (flags.output !== 'text' && flags.output !== 'json')
        throw new Error(`--output: "${flags.output}" is not text or json`);
      process.exitCode = await runValidate(flags.filename, (s) => process.stdout.write(s), flags.output);
    });
}
