import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TSchema } from '@sinclair/typebox';
import { parse } from 'yaml';
import type { CrdManifest } from '../../src/api/crds/npwg.ts';
import { renderCrdFiles } from '../../src/api/gen-crds.ts';
import { findNonStructural } from '../../src/api/schema-helpers.ts';
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
  for (const [file, text] of Object.entries(renderCrdFiles())) {
    const crd = parse(text) as CrdManifest;
    for (const version of crd.spec.versions) {
      const problems = findNonStructural(
        version.schema.openAPIV3Schema as TSchema,
        `${file}:${version.name}`,
      );
      assert.deepEqual(problems, []);
    }
  }
});
