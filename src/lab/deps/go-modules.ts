import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { upstreamModuleDir } from './go-build.ts';
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

const npwgHarnessMain = `// Reads one JSON request per line on stdin and prints what the reference implementations make of it:
// Multus's own selection parser (k8sclient.GetPodNetwork), the NPWG client library's parser
// (utils.ParseNetworkAnnotation) and its network-status creation (utils.CreateNetworkStatuses).
package main

import (
	"bufio"
	"encoding/json"
	"os"

	cni100 "github.com/containernetworking/cni/pkg/types/100"
	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	nadutils "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/utils"
	"gopkg.in/k8snetworkplumbingwg/multus-cni.v4/pkg/k8sclient"
	"gopkg.in/k8snetworkplumbingwg/multus-cni.v4/pkg/logging"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type request struct {
	Annotation *string          \`json:"annotation,omitempty"\`
	Namespace  string           \`json:"namespace"\`
	Result     *json.RawMessage \`json:"result,omitempty"\`
	Name       string           \`json:"name"\`
	Default    bool             \`json:"default"\`
	DeviceInfo *nadv1.DeviceInfo \`json:"deviceInfo,omitempty"\`
}

type outcome struct {
	Value interface{} \`json:"value,omitempty"\`
	Error string      \`json:"error,omitempty"\`
}

func wrap(v interface{}, err error) outcome {
	if err != nil {
		return outcome{Error: err.Error()}
	}
	return outcome{Value: v}
}

func main() {
	logging.SetLogStderr(false)
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 16<<20)
	out := json.NewEncoder(os.Stdout)
	out.SetEscapeHTML(false)
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			_ = out.Encode(map[string]string{"fatal": err.Error()})
			continue
		}
		answer := map[string]outcome{}
		if req.Annotation != nil {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
				Name: "p", Namespace: req.Namespace,
				Annotations: map[string]string{"k8s.v1.cni.cncf.io/networks": *req.Annotation},
			}}
			answer["multus"] = wrap(k8sclient.GetPodNetwork(pod))
			answer["nadclient"] = wrap(nadutils.ParseNetworkAnnotation(*req.Annotation, req.Namespace))
		}
		if req.Result != nil {
			result, err := cni100.NewResult(*req.Result)
			if err != nil {
				answer["status"] = outcome{Error: err.Error()}
			} else {
				answer["status"] = wrap(nadutils.CreateNetworkStatuses(result, req.Name, req.Default, req.DeviceInfo))
			}
		}
		_ = out.Encode(answer)
	}
}
`;

/**
 * The differential-test harness: Multus's and the NPWG client library's own parsers behind a JSON-lines pipe,
 * for test/integration/api/differential.test.ts. Built on demand, not part of labPrograms.
 */
export const npwgHarness: GoProgram = {
  name: 'npwg-harness',
  version: 'multus-v4.2.3-nadclient-v1.7.7',
  binaries: ['npwg-harness'],
  build: {
    kind: 'wrapper',
    output: 'npwg-harness',
    async files() {
      return {
        'go.mod':
          'module patchbay.dev/labbins/npwgharness\n\ngo 1.26.0\n\nrequire (\n' +
          '\tgopkg.in/k8snetworkplumbingwg/multus-cni.v4 v4.2.3\n' +
          '\tgithub.com/k8snetworkplumbingwg/network-attachment-definition-client v1.7.7\n' +
          '\tgithub.com/containernetworking/cni v1.3.0\n' +
          '\tk8s.io/api v0.32.5\n\tk8s.io/apimachinery v0.32.5\n)\n',
        'main.go': npwgHarnessMain,
      };
    },
  },
};

const podResourcesHarnessMain = `// A stand-in kubelet for the SR-IOV path's tests, built from the kubelet's own packages: the PodResources v1
// gRPC service (k8s.io/kubelet podresources v1, google.golang.org/grpc) on a unix socket, and the device
// manager's checkpoint file written by the kubelet's checkpoint manager (k8s.io/kubernetes devicemanager).
//
//   podresources-harness serve --socket S --pods F [--get=false]   (F is read again for every call)
//   podresources-harness checkpoint --dir D --pods F               (writes D/kubelet_internal_checkpoint)
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"
	"k8s.io/kubernetes/pkg/kubelet/checkpointmanager"
	"k8s.io/kubernetes/pkg/kubelet/cm/devicemanager/checkpoint"
)

type device struct {
	ResourceName string   \`json:"resourceName"\`
	DeviceIDs    []string \`json:"deviceIds"\`
	// The NUMA node of the devices; absent: none (the kubelet's -1).
	NUMA *int64 \`json:"numa,omitempty"\`
}

type container struct {
	Name    string   \`json:"name"\`
	Devices []device \`json:"devices"\`
}

type pod struct {
	Namespace  string      \`json:"namespace"\`
	Name       string      \`json:"name"\`
	UID        string      \`json:"uid"\`
	Containers []container \`json:"containers"\`
}

type state struct {
	Pods       []pod               \`json:"pods"\`
	Registered map[string][]string \`json:"registered"\`
}

func load(path string) (*state, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s state
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

func resources(p pod) *podresourcesv1.PodResources {
	out := &podresourcesv1.PodResources{Name: p.Name, Namespace: p.Namespace}
	for _, c := range p.Containers {
		cr := &podresourcesv1.ContainerResources{Name: c.Name}
		for _, d := range c.Devices {
			cd := &podresourcesv1.ContainerDevices{ResourceName: d.ResourceName, DeviceIds: d.DeviceIDs}
			if d.NUMA != nil {
				cd.Topology = &podresourcesv1.TopologyInfo{Nodes: []*podresourcesv1.NUMANode{{ID: *d.NUMA}}}
			}
			cr.Devices = append(cr.Devices, cd)
		}
		cr.CpuIds = []int64{0, 1}
		out.Containers = append(out.Containers, cr)
	}
	return out
}

type server struct {
	podresourcesv1.UnimplementedPodResourcesListerServer
	pods string
	get  bool
}

func (s *server) List(ctx context.Context, _ *podresourcesv1.ListPodResourcesRequest) (*podresourcesv1.ListPodResourcesResponse, error) {
	st, err := load(s.pods)
	if err != nil {
		return nil, err
	}
	out := &podresourcesv1.ListPodResourcesResponse{}
	for _, p := range st.Pods {
		out.PodResources = append(out.PodResources, resources(p))
	}
	return out, nil
}

func (s *server) Get(ctx context.Context, req *podresourcesv1.GetPodResourcesRequest) (*podresourcesv1.GetPodResourcesResponse, error) {
	if !s.get {
		// What a kubelet older than 1.27 answers.
		return nil, status.Errorf(codes.Unimplemented, "method Get not implemented")
	}
	st, err := load(s.pods)
	if err != nil {
		return nil, err
	}
	for _, p := range st.Pods {
		if p.Namespace == req.PodNamespace && p.Name == req.PodName {
			return &podresourcesv1.GetPodResourcesResponse{PodResources: resources(p)}, nil
		}
	}
	// The kubelet's own words (pkg/kubelet/apis/podresources/server_v1.go).
	return nil, fmt.Errorf("pod %s in namespace %s not found", req.PodName, req.PodNamespace)
}

func serve(socket, pods string, get bool) error {
	_ = os.Remove(socket)
	lis, err := net.Listen("unix", socket)
	if err != nil {
		return err
	}
	srv := grpc.NewServer()
	podresourcesv1.RegisterPodResourcesListerServer(srv, &server{pods: pods, get: get})
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		srv.Stop()
	}()
	fmt.Println("ready")
	return srv.Serve(lis)
}

func writeCheckpoint(dir, pods string) error {
	st, err := load(pods)
	if err != nil {
		return err
	}
	var entries []checkpoint.PodDevicesEntry
	for _, p := range st.Pods {
		for _, c := range p.Containers {
			for _, d := range c.Devices {
				numa := int64(-1)
				if d.NUMA != nil {
					numa = *d.NUMA
				}
				ids := checkpoint.NewDevicesPerNUMA()
				ids[numa] = d.DeviceIDs
				entries = append(entries, checkpoint.PodDevicesEntry{
					PodUID: p.UID, ContainerName: c.Name, ResourceName: d.ResourceName,
					DeviceIDs: ids, AllocResp: []byte{},
				})
			}
		}
	}
	mgr, err := checkpointmanager.NewCheckpointManager(dir)
	if err != nil {
		return err
	}
	return mgr.CreateCheckpoint("kubelet_internal_checkpoint", checkpoint.New(entries, st.Registered))
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: podresources-harness {serve|checkpoint} ...")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	socket := fs.String("socket", "", "unix socket to serve on")
	pods := fs.String("pods", "", "JSON file describing the pods and their devices")
	dir := fs.String("dir", "", "checkpoint directory")
	get := fs.Bool("get", true, "serve Get (false: Unimplemented, as kubelets before 1.27)")
	_ = fs.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(*socket, *pods, *get)
	case "checkpoint":
		err = writeCheckpoint(*dir, *pods)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`;

/**
 * The kubelet side of the SR-IOV path for test/integration/daemon/sriov.test.ts: a PodResources v1 server and
 * the device manager's checkpoint writer, both from the kubelet's own packages. Built on demand.
 */
export const podResourcesHarness: GoProgram = {
  name: 'podresources-harness',
  version: `kubernetes-${versions.kubernetes}`,
  binaries: ['podresources-harness'],
  build: {
    kind: 'wrapper',
    output: 'podresources-harness',
    async files(upstreamGoMod) {
      const goMod = await upstreamGoMod('k8s.io/kubernetes', versions.kubernetes);
      const staged = stagingVersion(versions.kubernetes);
      const replaces = stagingReplacements(goMod).map((m) => `\t${m} => ${m} ${staged}`);
      return {
        'go.mod':
          'module patchbay.dev/labbins/podresources\n\ngo 1.26.0\n\nrequire (\n' +
          `\tk8s.io/kubernetes ${versions.kubernetes}\n\tk8s.io/kubelet ${staged}\n)\n\n` +
          `replace (\n${replaces.join('\n')}\n)\n`,
        'main.go': podResourcesHarnessMain,
      };
    },
  },
};

/**
 * The lab's `ovs` CNI delegate (src/lab/fabric/ovs-plugin): ovs-cni's config, our small implementation, since
 * the Go module proxy does not serve github.com/k8snetworkplumbingwg/ovs-cni here (403). Built on demand by
 * the lab fabric.
 */
export const ovsPlugin: GoProgram = {
  name: 'patchbay-lab-ovs',
  version: 'local',
  binaries: ['ovs'],
  build: { kind: 'local', dir: join(repoRoot, 'src', 'lab', 'fabric', 'ovs-plugin'), output: 'ovs' },
};

/** cmd/multus/main.go of Multus v4.2.3, unchanged but for the comments: the thin plugin's whole entry point. */
const multusThinMain = `package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/containernetworking/cni/pkg/skel"
	cniversion "github.com/containernetworking/cni/pkg/version"
	"gopkg.in/k8snetworkplumbingwg/multus-cni.v4/pkg/multus"
)

func main() {
	flag.CommandLine = flag.NewFlagSet(os.Args[0], flag.ExitOnError)
	versionOpt := false
	flag.BoolVar(&versionOpt, "version", false, "Show application version")
	flag.BoolVar(&versionOpt, "v", false, "Show application version")
	flag.Parse()
	if versionOpt {
		fmt.Printf("multus: %s\\n", multus.PrintVersionString())
		return
	}
	skel.PluginMainFuncs(
		skel.CNIFuncs{
			Add: func(args *skel.CmdArgs) error {
				result, err := multus.CmdAdd(args, nil, nil)
				if err != nil {
					return err
				}
				return result.Print()
			},
			Del:    func(args *skel.CmdArgs) error { return multus.CmdDel(args, nil, nil) },
			Check:  func(args *skel.CmdArgs) error { return multus.CmdCheck(args, nil, nil) },
			GC:     func(args *skel.CmdArgs) error { return multus.CmdGC(args, nil, nil) },
			Status: func(args *skel.CmdArgs) error { return multus.CmdStatus(args, nil, nil) },
		},
		cniversion.All, "meta-plugin that delegates to other CNI plugins")
}
`;

/**
 * Multus thin (the plugin binary that does everything in-process: reads the pod and its NADs, runs the
 * delegates, writes network-status), the reference Patchbay is compared with in
 * test/integration/daemon/multus-parity.test.ts and bench/cni-add.ts; the release the differential-test
 * harness links. A wrapper module (`go install pkg@version` asks the proxy for the module's version list,
 * which it refuses for gopkg.in paths). Built on demand, not part of labPrograms.
 */
export const multusThin: GoProgram = {
  name: 'multus-thin',
  version: 'v4.2.3',
  binaries: ['multus'],
  build: {
    kind: 'wrapper',
    output: 'multus',
    async files() {
      return {
        'go.mod':
          'module patchbay.dev/labbins/multusthin\n\ngo 1.26.0\n\nrequire gopkg.in/k8snetworkplumbingwg/multus-cni.v4 v4.2.3\n',
        'main.go': multusThinMain,
      };
    },
  },
};

const whereaboutsModule = 'github.com/k8snetworkplumbingwg/whereabouts';

/**
 * whereabouts, the cluster IPAM that bench/ipam.ts measures Patchbay against. Its go.mod has a replace
 * directive, so `go install` refuses it; the wrapper module requires it (with the same replace) and its main
 * package is upstream's cmd/whereabouts.go, copied verbatim from the module cache. Built on demand, not part
 * of labPrograms.
 */
export const whereabouts: GoProgram = {
  name: 'whereabouts',
  version: versions.whereabouts,
  binaries: ['whereabouts'],
  linkerVars: {
    [`${whereaboutsModule}/pkg/version.Version`]: versions.whereabouts,
    [`${whereaboutsModule}/pkg/version.ReleaseStatus`]: 'released',
  },
  build: {
    kind: 'wrapper',
    output: 'whereabouts',
    async files(upstreamGoMod) {
      const goMod = await upstreamGoMod(whereaboutsModule, versions.whereabouts);
      const replaces = [...goMod.matchAll(/^replace (.+)$/gm)].map((m) => `replace ${m[1]}`);
      const dir = await upstreamModuleDir(whereaboutsModule, versions.whereabouts);
      return {
        'go.mod': `module patchbay.dev/labbins/whereabouts\n\ngo 1.26.0\n\nrequire ${whereaboutsModule} ${versions.whereabouts}\n\n${replaces.join('\n')}\n`,
        'main.go': await readFile(join(dir, 'cmd', 'whereabouts.go'), 'utf8'),
      };
    },
  },
};

/** whereabouts' CRDs (IPPool, OverlappingRangeIPReservation) as shipped in its module, YAML text each. */
export async function whereaboutsCrds(): Promise<string[]> {
  const dir = join(await upstreamModuleDir(whereaboutsModule, versions.whereabouts), 'doc', 'crds');
  return Promise.all(
    [
      'whereabouts.cni.cncf.io_ippools.yaml',
      'whereabouts.cni.cncf.io_overlappingrangeipreservations.yaml',
    ].map((f) => readFile(join(dir, f), 'utf8')),
  );
}
