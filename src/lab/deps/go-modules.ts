import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { versions } from './versions.ts';

/**
 * A Go program: from the Go module proxy, either `go install pkg@version` (modules whose go.mod has no replace
 * directives) or a small wrapper module of ours that requires the upstream module (for projects whose go.mod
 * carries replace directives, which `go install` refuses); or a Go module of this repository.
 */
export interface GoProgram {
  name: string;
  version: string;
  /** Binaries the build leaves in its output dir. */
  binaries: string[];
  /** Extra names that link to a binary (multi-call binaries dispatch on argv[0]). */
  links?: Record<string, string>;
  /** Extra -X flags for the linker: release builds stamp their version this way. */
  linkerVars?: Record<string, string>;
  build:
    | { kind: 'install'; packages: string[] }
    | {
        kind: 'wrapper';
        files: (
          upstreamGoMod: (module: string, version: string) => Promise<string>,
        ) => Promise<Record<string, string>>;
        output: string;
      }
    | {
        /** A Go module inside this repository (the CNI shim), built from the working tree. */
        kind: 'local';
        dir: string;
        output: string;
      };
}

/** Modules that kubernetes replaces with ./staging/src/k8s.io/<m> and also requires: these need a real version. */
export function stagingReplacements(kubernetesGoMod: string): string[] {
  const replaceBlock = /^replace \(\n([\s\S]*?)^\)/m.exec(kubernetesGoMod)?.[1] ?? '';
  const staged = [...replaceBlock.matchAll(/^\s*(k8s\.io\/[\w.-]+) => \.\/staging\//gm)].map((m) => m[1]!);
  const required = new Set(
    [...kubernetesGoMod.matchAll(/^\s*(k8s\.io\/[\w.-]+) v0\.0\.0\b/gm)].map((m) => m[1]!),
  );
  return staged.filter((m) => required.has(m)).sort();
}

/** The staging modules are published as k8s.io/<m> v0.<minor>.<patch> for kubernetes v1.<minor>.<patch>. */
export function stagingVersion(kubernetesVersion: string): string {
  return kubernetesVersion.replace(/^v1\./, 'v0.');
}

const kubeMain = `// Multi-call binary: the control plane and kubectl share one compile and one link.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	kubectl "k8s.io/kubectl/pkg/cmd"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

func main() {
	name := filepath.Base(os.Args[0])
	if name == "kube" && len(os.Args) > 1 {
		name = os.Args[1]
		os.Args = os.Args[1:]
	}
	var cmd *cobra.Command
	switch strings.TrimPrefix(name, "kube-") {
	case "apiserver":
		cmd = apiserver.NewAPIServerCommand()
	case "controller-manager":
		cmd = controllermanager.NewControllerManagerCommand()
	case "scheduler":
		cmd = scheduler.NewSchedulerCommand()
	case "kubectl", "ctl":
		cmd = kubectl.NewDefaultKubectlCommand()
	default:
		fmt.Fprintln(os.Stderr, "usage: kube {apiserver|controller-manager|scheduler|kubectl} ...")
		os.Exit(2)
	}
	os.Exit(cli.Run(cmd))
}
`;

const etcdMain = `package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
`;

/** What the Kubernetes release build stamps, so /version and kubectl's skew check see the real release. */
function kubernetesVersionVars(version: string): Record<string, string> {
  const [major, minor] = version.replace(/^v/, '').split('.');
  const vars: Record<string, string> = {};
  for (const pkg of ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']) {
    vars[`${pkg}.gitVersion`] = version;
    vars[`${pkg}.gitMajor`] = major!;
    vars[`${pkg}.gitMinor`] = minor!;
    vars[`${pkg}.gitTreeState`] = 'clean';
  }
  return vars;
}

export const kubernetes: GoProgram = {
  name: 'kubernetes',
  version: versions.kubernetes,
  binaries: ['kube'],
  linkerVars: kubernetesVersionVars(versions.kubernetes),
  links: {
    'kube-apiserver': 'kube',
    'kube-controller-manager': 'kube',
    'kube-scheduler': 'kube',
    kubectl: 'kube',
  },
  build: {
    kind: 'wrapper',
    output: 'kube',
    async files(upstreamGoMod) {
      const goMod = await upstreamGoMod('k8s.io/kubernetes', versions.kubernetes);
      const staged = stagingVersion(versions.kubernetes);
      const replaces = stagingReplacements(goMod).map((m) => `\t${m} => ${m} ${staged}`);
      return {
        'go.mod': `module patchbay.dev/labbins/kube\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes ${versions.kubernetes}\n\nreplace (\n${replaces.join('\n')}\n)\n`,
        'main.go': kubeMain,
      };
    },
  },
};

export const etcd: GoProgram = {
  name: 'etcd',
  version: versions.etcd,
  binaries: ['etcd'],
  build: {
    kind: 'wrapper',
    output: 'etcd',
    async files() {
      return {
        'go.mod': `module patchbay.dev/labbins/etcd\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 ${versions.etcd}\n`,
        'main.go': etcdMain,
      };
    },
  },
};

export const cnitool: GoProgram = {
  name: 'cnitool',
  version: versions.cni,
  binaries: ['cnitool'],
  build: { kind: 'install', packages: [`github.com/containernetworking/cni/cnitool@${versions.cni}`] },
};

/** The reference plugins the tests delegate to (main, ipam and meta plugins). */
export const cniPluginNames = [
  'main/bridge',
  'main/macvlan',
  'main/host-device',
  'main/ptp',
  'main/vlan',
  'main/dummy',
  'ipam/host-local',
  'ipam/static',
  'ipam/dhcp',
  'meta/tuning',
  'meta/sbr',
  'meta/portmap',
  'meta/bandwidth',
  'meta/firewall',
] as const;

export const cniPlugins: GoProgram = {
  name: 'cni-plugins',
  version: versions.cniPlugins,
  binaries: cniPluginNames.map((p) => p.split('/')[1]!),
  build: {
    kind: 'install',
    packages: cniPluginNames.map(
      (p) => `github.com/containernetworking/plugins/plugins/${p}@${versions.cniPlugins}`,
    ),
  },
};

/** What every lab and every CI run needs. Peers for benches (Multus, whereabouts, ovs-cni) are built on demand. */
export const labPrograms: GoProgram[] = [etcd, kubernetes, cnitool, cniPlugins];

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * The CNI shim: a static binary (CGO off) that the runtime starts once per CNI call; `patchbay-ipam` is the
 * same binary under the IPAM plugin's name.
 */
export const shim: GoProgram = {
  name: 'patchbay-shim',
  version: 'local',
  binaries: ['patchbay'],
  links: { 'patchbay-ipam': 'patchbay' },
  build: { kind: 'local', dir: join(repoRoot, 'src', 'shim'), output: 'patchbay' },
};
