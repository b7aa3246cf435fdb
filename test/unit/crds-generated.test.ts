import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { renderCrdFiles } from '../../src/api/gen-crds.ts';
import { crdDir } from '../../src/lab/control-plane.ts';

test('deploy/crds is what `npm run gen` writes from src/api (no stale or stray files)', async () => {
  const expected = renderCrdFiles();
  const onDisk = (await readdir(crdDir)).filter((f) => f.endsWith('.yaml')).sort();
  assert.deepEqual(onDisk, Object.keys(expected).sort(), 'run `npm run gen`');
  for (const [file, text] of Object.entries(expected)) {
    assert.equal(
      await readFile(join(crdDir, file), 'utf8'),
      text,
      `deploy/crds/${file} is stale: run \`npm run gen\``,
    );
  }
});

test('generated CRD schemas are structural: no const, and no type inside anyOf', () => {
  const walk = (node: unknown, path: string): void => {
    if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${path}[${i}]`));
    if (!node || typeof node !== 'object') return;
    const obj = node as Record<string, unknown>;
    assert.ok(!('const' in obj), `${path}: const is not allowed in CRD schemas`);
    if (Array.isArray(obj.anyOf)) {
      for (const [i, alt] of (obj.anyOf as Array<Record<string, unknown>>).entries()) {
        // The one exception the apiserver allows: int-or-string.
        if (obj['x-kubernetes-int-or-string'] === true) continue;
        assert.ok(!('type' in alt), `${path}.anyOf[${i}]: type inside anyOf is not structural`);
      }
    }
    for (const [k, v] of Object.entries(obj)) walk(v, `${path}.${k}`);
  };
  for (const [file, text] of Object.entries(renderCrdFiles())) walk(parse(text), file);
});
