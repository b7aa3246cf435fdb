import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stagingReplacements, stagingVersion } from '../../src/lab/deps/go-modules.ts';

const goMod = `module k8s.io/kubernetes

go 1.26.0

require (
	github.com/spf13/cobra v1.10.0
	k8s.io/api v0.0.0
	k8s.io/kubectl v0.0.0
	k8s.io/streaming v0.0.0 // indirect
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/kubectl => ./staging/src/k8s.io/kubectl
	k8s.io/sample-cli-plugin => ./staging/src/k8s.io/sample-cli-plugin
	k8s.io/streaming => ./staging/src/k8s.io/streaming
)
`;

test('staging modules are replaced only where kubernetes requires them', () => {
  // sample-cli-plugin is staged but not required (and not published for every release): leave it out.
  assert.deepEqual(stagingReplacements(goMod), ['k8s.io/api', 'k8s.io/kubectl', 'k8s.io/streaming']);
});

test('staging modules carry v0.<minor>.<patch> of the kubernetes release', () => {
  assert.equal(stagingVersion('v1.36.3'), 'v0.36.3');
});
