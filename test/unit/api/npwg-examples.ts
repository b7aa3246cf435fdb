/**
 * NetworkAttachmentDefinitions from the NPWG spec text, Multus's documentation and the
 * seed, plus typical mistakes. The apiserver stores any string in spec.config (the
 * standard's CRD says nothing more), so `parses` is what our parser, and so `patchbay
 * validate`, answers.
 */
export interface NadExample {
  title: string;
  name: string;
  annotations?: Record<string, string>;
  /** Undefined: no spec.config (the node's conf file of the NAD's name is used). */
  config?: string;
  parses: boolean;
  vni?: number;
}

const j = (o: unknown) => JSON.stringify(o, null, 2);

export const nadExamples: NadExample[] = [
  {
    title: 'spec 3.4: a bridge network with host-local IPAM',
    name: 'a-bridge-network',
    config: j({
      cniVersion: '0.3.0',
      name: 'a-bridge-network',
      type: 'bridge',
      bridge: 'br0',
      isGateway: true,
      ipam: { type: 'host-local', subnet: '192.168.5.0/24', dataDir: '/mnt/cluster-ipam' },
    }),
    parses: true,
  },
  {
    title: 'spec 3.4.1: no config, the conf file on the node is used',
    name: 'a-bridge-network-file',
    parses: true,
  },
  {
    title: 'spec: a conflist (bridge + tuning)',
    name: 'dbnet',
    config: j({
      cniVersion: '0.3.1',
      name: 'dbnet',
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          ipam: { type: 'host-local', subnet: '10.1.0.0/16', gateway: '10.1.0.1' },
        },
        { type: 'tuning', sysctl: { 'net.core.somaxconn': '500' } },
      ],
    }),
    parses: true,
  },
  {
    title: 'spec 3.2 / device plugins: resourceName annotation with an SR-IOV config',
    name: 'sriov-net-a',
    annotations: { 'k8s.v1.cni.cncf.io/resourceName': 'intel.com/sriov' },
    config: j({
      type: 'sriov',
      cniVersion: '0.3.1',
      name: 'sriov-network',
      ipam: {
        type: 'host-local',
        subnet: '10.56.217.0/24',
        routes: [{ dst: '0.0.0.0/0' }],
        gateway: '10.56.217.1',
      },
    }),
    parses: true,
  },
  {
    title: 'Multus quickstart: macvlan-conf',
    name: 'macvlan-conf',
    config: j({
      cniVersion: '0.3.0',
      type: 'macvlan',
      master: 'eth0',
      mode: 'bridge',
      ipam: {
        type: 'host-local',
        subnet: '192.168.1.0/24',
        rangeStart: '192.168.1.200',
        rangeEnd: '192.168.1.216',
        routes: [{ dst: '0.0.0.0/0' }],
        gateway: '192.168.1.1',
      },
    }),
    parses: true,
  },
  {
    title:
      'Multus how-to: a conflist without name (the NAD name is used), static IPAM with the ips capability',
    name: 'macvlan-static',
    config: j({
      cniVersion: '0.3.1',
      plugins: [
        {
          type: 'macvlan',
          capabilities: { ips: true },
          master: 'eth0',
          mode: 'bridge',
          ipam: { type: 'static' },
        },
        { type: 'tuning' },
      ],
    }),
    parses: true,
  },
  {
    title: 'Multus how-to: MAC capability with tuning',
    name: 'macvlan-mac',
    config: j({
      cniVersion: '0.3.1',
      plugins: [
        {
          type: 'macvlan',
          capabilities: { ips: true },
          master: 'eth0',
          mode: 'bridge',
          ipam: { type: 'static' },
        },
        { type: 'tuning', capabilities: { mac: true } },
      ],
    }),
    parses: true,
  },
  {
    title: 'seed: "VNI": "1111" in the config',
    name: 'blue',
    config: j({ cniVersion: '1.0.0', name: 'blue', type: 'macvlan', master: 'nic1', VNI: '1111' }),
    parses: true,
    vni: 1111,
  },
  {
    title: 'patchbay.dev/vni annotation on a hand-written NAD',
    name: 'green',
    annotations: { 'patchbay.dev/vni': '2222' },
    config: j({ cniVersion: '1.0.0', name: 'green', type: 'bridge', bridge: 'br-green' }),
    parses: true,
    vni: 2222,
  },
  {
    title: 'mistake: trailing comma (Multus #1195)',
    name: 'trailing-comma',
    config: '{"cniVersion": "0.3.1", "type": "macvlan", "master": "eth0",}',
    parses: false,
  },
  {
    title: 'mistake: YAML written into config (Multus #635)',
    name: 'yaml-config',
    config: 'cniVersion: 0.3.1\ntype: macvlan\n',
    parses: false,
  },
  {
    title: 'mistake: no type',
    name: 'no-type',
    config: j({ cniVersion: '0.3.1', name: 'x', master: 'eth0' }),
    parses: false,
  },
  {
    title: 'mistake: numeric cniVersion',
    name: 'num-version',
    config: '{"cniVersion": 1.0, "type": "macvlan"}',
    parses: false,
  },
  {
    title: 'mistake: VNI out of range',
    name: 'vni-big',
    config: j({ cniVersion: '1.0.0', type: 'macvlan', VNI: 16777216 }),
    parses: false,
  },
];
