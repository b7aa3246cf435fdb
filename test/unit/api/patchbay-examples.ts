/**
 * Examples of every Patchbay resource, valid and invalid, shared by the unit tests (our
 * checker) and the integration tests (the real apiserver with the generated CRDs): both
 * must accept the valid ones and reject the invalid ones, naming the same field.
 */

export interface Example {
  title: string;
  kind: 'Network' | 'Switch' | 'NodeTopology' | 'IPPool';
  object: Record<string, unknown>;
  /** Absent for valid examples. `path` is our checker's field path; the apiserver's message must mention `api`. */
  invalid?: { path: string; api: string };
  /** Rules only our checker has (CEL cannot say them): the apiserver accepts these. */
  offlineOnly?: boolean;
}

const meta = (name: string) => ({ name });
const obj = (kind: Example['kind'], name: string, spec: unknown) => ({
  apiVersion: 'patchbay.dev/v1alpha1',
  kind,
  metadata: meta(name),
  spec,
});

export const blueSpec = {
  vni: 1111,
  vlan: { id: 100 },
  attachment: { type: 'ovs', ovs: { bridge: 'br-patchbay' } },
  uplinks: [{ role: 'uplink-a' }],
  mtu: 1500,
  ipam: { pool: { name: 'blue-pool' } },
  namespaceSelector: { matchLabels: { 'patchbay.dev/blue': 'true' } },
};

const net = (
  title: string,
  name: string,
  spec: unknown,
  invalid?: Example['invalid'],
  offlineOnly = false,
): Example => ({
  title,
  kind: 'Network',
  object: obj('Network', name, spec),
  ...(invalid ? { invalid } : {}),
  ...(offlineOnly ? { offlineOnly } : {}),
});

export const networkExamples: Example[] = [
  net('the seed blue network (ovs, role uplink, pool)', 'blue', blueSpec),
  net('green: macvlan on nic2, auto VLAN, inline dual-stack IPAM', 'green', {
    vni: 2222,
    vlan: { mode: 'auto' },
    attachment: { type: 'macvlan', macvlan: { mode: 'bridge' } },
    uplinks: [{ nic: 'nic2' }],
    ipam: {
      cidrs: ['10.22.0.0/24', 'fd00:22::/64'],
      ranges: [{ start: '10.22.0.10', end: '10.22.0.200' }],
      excludes: ['10.22.0.100', '10.22.0.128/28'],
      gateways: ['10.22.0.1', 'fd00:22::1'],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '192.168.0.0/16', gw: '10.22.0.254' }],
    },
    namespaceSelector: {},
  }),
  net('red: sriov with resourceName, active-backup uplinks', 'red', {
    vni: 3333,
    vlan: { mode: 'static', id: 333 },
    attachment: {
      type: 'sriov',
      sriov: { resourceName: 'intel.com/sriov_netdevice', spoofChk: true, maxTxRateMbps: 1000 },
    },
    uplinks: [{ role: 'uplink-a' }, { role: 'uplink-b' }],
    mtu: 9000,
  }),
  net('host-device by PCI address', 'hostdev', {
    vni: 4000,
    attachment: { type: 'host-device', hostDevice: { pciBusID: '0000:3b:00.1' } },
    uplinks: [{ nic: 'nic3' }],
  }),
  net('raw CNI plugin list as structured YAML', 'rawcni', {
    vni: 16777215,
    vlan: { id: 4094 },
    attachment: {
      type: 'cni',
      cni: {
        plugins: [
          { type: 'bridge', bridge: 'br0', isGateway: false },
          { type: 'tuning', sysctl: { 'net.ipv4.conf.all.arp_notify': '1' } },
        ],
      },
    },
    uplinks: [{ nic: 'nic1' }],
  }),
  net('VNI 0', 'vni0', { ...blueSpec, vni: 0 }, { path: 'spec.vni', api: 'spec.vni' }),
  net('VNI above 24 bits', 'vnibig', { ...blueSpec, vni: 16777216 }, { path: 'spec.vni', api: 'spec.vni' }),
  net('VNI as a string', 'vnistr', { ...blueSpec, vni: '1111' }, { path: 'spec.vni', api: 'spec.vni' }),
  net(
    'VLAN 4095',
    'vlan4095',
    { ...blueSpec, vlan: { id: 4095 } },
    { path: 'spec.vlan.id', api: 'spec.vlan.id' },
  ),
  net('VLAN 0', 'vlan0', { ...blueSpec, vlan: { id: 0 } }, { path: 'spec.vlan.id', api: 'spec.vlan.id' }),
  net(
    'VLAN as a bare number',
    'vlannum',
    { ...blueSpec, vlan: 100 },
    { path: 'spec.vlan', api: 'spec.vlan' },
  ),
  net(
    'auto VLAN with an id',
    'vlanautoid',
    { ...blueSpec, vlan: { mode: 'auto', id: 5 } },
    { path: 'spec.vlan', api: 'spec.vlan' },
  ),
  net(
    'static VLAN without id',
    'vlannoid',
    { ...blueSpec, vlan: { mode: 'static' } },
    { path: 'spec.vlan', api: 'spec.vlan' },
  ),
  net(
    'VLAN mode other than static/auto',
    'vlanword',
    { ...blueSpec, vlan: { mode: 'any' } },
    { path: 'spec.vlan.mode', api: 'spec.vlan.mode' },
  ),
  net(
    'unknown attachment type',
    'attbad',
    { ...blueSpec, attachment: { type: 'ipvlan' } },
    {
      path: 'spec.attachment.type',
      api: 'spec.attachment.type',
    },
  ),
  net(
    'sriov without resourceName settings',
    'sriovbare',
    { ...blueSpec, attachment: { type: 'sriov' } },
    {
      path: 'spec.attachment.sriov',
      api: 'spec.attachment.sriov',
    },
  ),
  net(
    'bad resourceName',
    'sriovname',
    { ...blueSpec, attachment: { type: 'sriov', sriov: { resourceName: 'sriov_netdevice' } } },
    {
      path: 'spec.attachment.sriov.resourceName',
      api: 'spec.attachment.sriov.resourceName',
    },
  ),
  net(
    'ovs settings on a macvlan network',
    'mixed',
    { ...blueSpec, attachment: { type: 'macvlan', ovs: { bridge: 'br0' } } },
    {
      path: 'spec.attachment.ovs',
      api: 'spec.attachment.ovs',
    },
  ),
  net(
    'cni type without plugins',
    'cnibare',
    { ...blueSpec, attachment: { type: 'cni' } },
    {
      path: 'spec.attachment.cni',
      api: 'spec.attachment.cni',
    },
  ),
  net(
    'plugin without type',
    'cninotype',
    { ...blueSpec, attachment: { type: 'cni', cni: { plugins: [{ bridge: 'br0' }] } } },
    {
      path: 'spec.attachment.cni.plugins[0].type',
      api: 'spec.attachment.cni.plugins[0].type',
    },
  ),
  net(
    'uplink with both nic and role',
    'uplinkboth',
    { ...blueSpec, uplinks: [{ nic: 'nic1', role: 'uplink-a' }] },
    {
      path: 'spec.uplinks[0]',
      api: 'spec.uplinks[0]',
    },
  ),
  net('no uplinks', 'nouplink', { ...blueSpec, uplinks: [] }, { path: 'spec.uplinks', api: 'spec.uplinks' }),
  net(
    'three uplinks',
    'threeuplinks',
    { ...blueSpec, uplinks: [{ nic: 'a' }, { nic: 'b' }, { nic: 'c' }] },
    {
      path: 'spec.uplinks',
      api: 'spec.uplinks',
    },
  ),
  net(
    'NIC name of 16 characters',
    'longnic',
    { ...blueSpec, uplinks: [{ nic: 'abcdefghijklmnop' }] },
    {
      path: 'spec.uplinks[0].nic',
      api: 'spec.uplinks[0].nic',
    },
  ),
  net(
    'host-device with two uplinks',
    'hd2',
    {
      vni: 5,
      attachment: { type: 'host-device' },
      uplinks: [{ nic: 'nic1' }, { nic: 'nic2' }],
    },
    { path: 'spec.uplinks', api: 'spec.uplinks' },
  ),
  net('MTU 10000', 'mtubig', { ...blueSpec, mtu: 10000 }, { path: 'spec.mtu', api: 'spec.mtu' }),
  net(
    'pool and inline cidrs together',
    'ipamboth',
    { ...blueSpec, ipam: { pool: { name: 'p' }, cidrs: ['10.0.0.0/24'] } },
    {
      path: 'spec.ipam',
      api: 'spec.ipam',
    },
  ),
  net(
    'range outside the CIDR',
    'rangeout',
    {
      ...blueSpec,
      ipam: { cidrs: ['10.1.0.0/24'], ranges: [{ start: '10.1.0.10', end: '10.1.1.10' }] },
    },
    { path: 'spec.ipam.ranges', api: 'spec.ipam.ranges' },
  ),
  net(
    'gateway outside the CIDR',
    'gwout',
    { ...blueSpec, ipam: { cidrs: ['10.1.0.0/24'], gateways: ['10.2.0.1'] } },
    {
      path: 'spec.ipam.gateways',
      api: 'spec.ipam.gateways',
    },
  ),
  net(
    'CIDR with host bits',
    'hostbits',
    { ...blueSpec, ipam: { cidrs: ['10.1.0.5/24'] } },
    {
      path: 'spec.ipam.cidrs[0]',
      api: 'spec.ipam.cidrs[0]',
    },
  ),
  net(
    'not a CIDR',
    'notcidr',
    { ...blueSpec, ipam: { cidrs: ['10.1.0.0/33'] } },
    {
      path: 'spec.ipam.cidrs[0]',
      api: 'spec.ipam.cidrs[0]',
    },
  ),
  net(
    'route gw of the other family',
    'routefam',
    { ...blueSpec, ipam: { cidrs: ['10.1.0.0/24'], routes: [{ dst: '::/0', gw: '10.1.0.1' }] } },
    {
      path: 'spec.ipam.routes[0]',
      api: 'spec.ipam.routes[0]',
    },
  ),
  net(
    'range start after end (offline only)',
    'rangeorder',
    {
      ...blueSpec,
      ipam: { cidrs: ['10.1.0.0/24'], ranges: [{ start: '10.1.0.200', end: '10.1.0.10' }] },
    },
    { path: 'spec.ipam.ranges[0]', api: '' },
    true,
  ),
];

const sw = (title: string, name: string, spec: unknown, invalid?: Example['invalid']): Example => ({
  title,
  kind: 'Switch',
  object: obj('Switch', name, spec),
  ...(invalid ? { invalid } : {}),
});

export const sw1Spec = {
  driver: 'ovsdb-vtep',
  endpoint: 'ssl:127.0.0.1:6640',
  tlsSecretRef: { name: 'sw1-tls', namespace: 'patchbay-system' },
  tunnelIP: '192.0.2.11',
  physicalSwitch: 'sw1',
  managedPorts: { names: ['p1', 'p2', 'p3'], patterns: ['Ethernet1/*'] },
  lldp: { chassisId: '02:00:00:00:01:00', systemName: 'sw1' },
  maxChangesPerReconcile: 100,
};

export const switchExamples: Example[] = [
  sw('sw1: vtep over ssl with a TLS Secret', 'sw1', sw1Spec),
  sw('sw2: vswitch over tcp, read-only', 'sw2', {
    driver: 'ovsdb-vswitch',
    endpoint: 'tcp:[::1]:6641',
    bridge: 'sw2',
    managedPorts: { patterns: ['p*'] },
    readOnly: true,
  }),
  sw('unix socket endpoint', 'swunix', {
    driver: 'ovsdb-vswitch',
    endpoint: 'unix:/run/openvswitch/db.sock',
    managedPorts: { names: ['p1'] },
  }),
  sw('passive ssl endpoint', 'swpssl', {
    driver: 'ovsdb-vtep',
    endpoint: 'pssl:6640:127.0.0.1',
    tlsSecretRef: { name: 's', namespace: 'ns' },
    managedPorts: { names: ['p1'] },
  }),
  sw('dry-run needs no endpoint', 'swdry', { driver: 'dry-run', managedPorts: { patterns: ['*'] } }),
  sw(
    'unknown driver',
    'swdrv',
    { ...sw1Spec, driver: 'netconf' },
    { path: 'spec.driver', api: 'spec.driver' },
  ),
  sw(
    'http endpoint',
    'swhttp',
    { ...sw1Spec, endpoint: 'http://10.0.0.1:6640' },
    { path: 'spec.endpoint', api: 'spec.endpoint' },
  ),
  sw(
    'port out of range',
    'swport',
    { ...sw1Spec, endpoint: 'tcp:10.0.0.1:70000' },
    { path: 'spec.endpoint', api: 'spec.endpoint' },
  ),
  sw(
    'ssl without a Secret',
    'swnotls',
    { driver: 'ovsdb-vtep', endpoint: 'ssl:10.0.0.1:6640', managedPorts: { names: ['p1'] } },
    {
      path: 'spec.tlsSecretRef',
      api: 'spec.tlsSecretRef',
    },
  ),
  sw(
    'vtep without endpoint',
    'swnoep',
    { driver: 'ovsdb-vtep', managedPorts: { names: ['p1'] } },
    { path: 'spec.endpoint', api: 'spec.endpoint' },
  ),
  sw(
    'empty managed-port selector',
    'swnoports',
    { ...sw1Spec, managedPorts: {} },
    { path: 'spec.managedPorts', api: 'spec.managedPorts' },
  ),
  sw(
    'bridge on a vtep switch',
    'swbridge',
    { ...sw1Spec, bridge: 'br0' },
    { path: 'spec.bridge', api: 'spec.bridge' },
  ),
  sw(
    'tunnel IP that is not an IP',
    'swtip',
    { ...sw1Spec, tunnelIP: '192.0.2.300' },
    { path: 'spec.tunnelIP', api: 'spec.tunnelIP' },
  ),
  sw(
    'Secret without namespace',
    'swsecret',
    { ...sw1Spec, tlsSecretRef: { name: 'x' } },
    {
      path: 'spec.tlsSecretRef.namespace',
      api: 'spec.tlsSecretRef.namespace',
    },
  ),
  sw(
    'maxChangesPerReconcile 0',
    'swmax',
    { ...sw1Spec, maxChangesPerReconcile: 0 },
    {
      path: 'spec.maxChangesPerReconcile',
      api: 'spec.maxChangesPerReconcile',
    },
  ),
];

const topo = (
  title: string,
  name: string,
  spec: unknown,
  invalid?: Example['invalid'],
  offlineOnly = false,
): Example => ({
  title,
  kind: 'NodeTopology',
  object: obj('NodeTopology', name, spec),
  ...(invalid ? { invalid } : {}),
  ...(offlineOnly ? { offlineOnly } : {}),
});

export const topologyExamples: Example[] = [
  topo('server1: static cabling and roles', 'server1', {
    links: [
      { nic: 'nic1', switch: 'sw1', port: 'p1', mac: '02:00:00:00:11:01' },
      { nic: 'nic2', switch: 'sw2', port: 'p1' },
    ],
    roles: [
      { role: 'uplink-a', nic: 'nic1' },
      { role: 'uplink-b', nic: 'nic2' },
    ],
  }),
  topo('roles only (cabling from LLDP)', 'server2', { roles: [{ role: 'uplink-a', nic: 'nic1' }] }),
  topo(
    'bad MAC',
    'server3',
    { links: [{ nic: 'nic1', switch: 'sw1', port: 'p1', mac: '02:00:00:00:11' }] },
    {
      path: 'spec.links[0].mac',
      api: 'spec.links[0].mac',
    },
  ),
  topo(
    'link without port',
    'server4',
    { links: [{ nic: 'nic1', switch: 'sw1' }] },
    {
      path: 'spec.links[0].port',
      api: 'spec.links[0].port',
    },
  ),
  topo(
    'duplicate NIC',
    'server5',
    {
      links: [
        { nic: 'nic1', switch: 'sw1', port: 'p1' },
        { nic: 'nic1', switch: 'sw2', port: 'p1' },
      ],
    },
    { path: 'spec.links[1].nic', api: 'spec.links[1]' },
  ),
  topo(
    'role name not a DNS label',
    'server6',
    { roles: [{ role: 'Uplink_A', nic: 'nic1' }] },
    {
      path: 'spec.roles[0].role',
      api: 'spec.roles[0].role',
    },
  ),
  topo(
    'two NICs on one switch port (offline only)',
    'server7',
    {
      links: [
        { nic: 'nic1', switch: 'sw1', port: 'p1' },
        { nic: 'nic2', switch: 'sw1', port: 'p1' },
      ],
    },
    { path: 'spec.links[1]', api: '' },
    true,
  ),
];

const pool = (
  title: string,
  name: string,
  spec: unknown,
  invalid?: Example['invalid'],
  offlineOnly = false,
): Example => ({
  title,
  kind: 'IPPool',
  object: obj('IPPool', name, spec),
  ...(invalid ? { invalid } : {}),
  ...(offlineOnly ? { offlineOnly } : {}),
});

export const bluePoolSpec = {
  cidrs: ['10.11.0.0/24', 'fd00:11::/64'],
  ranges: [
    { start: '10.11.0.10', end: '10.11.0.250' },
    { start: 'fd00:11::10', end: 'fd00:11::ffff' },
  ],
  excludes: ['10.11.0.100/30'],
  gateways: ['10.11.0.1', 'fd00:11::1'],
  routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0', gw: 'fd00:11::1' }],
  assignments: [
    { namespace: 'telco', pod: 'smf-0', ips: ['10.11.0.20', 'fd00:11::20'] },
    { namespace: 'telco', statefulSet: 'upf', ordinal: 1, ips: ['10.11.0.21'] },
  ],
};

export const poolExamples: Example[] = [
  pool('blue-pool: dual-stack with ranges, excludes, gateways, routes, fixed IPs', 'blue-pool', bluePoolSpec),
  pool('minimal: one CIDR', 'minimal', { cidrs: ['192.168.10.0/24'] }),
  pool('no CIDRs', 'nocidr', { cidrs: [] }, { path: 'spec.cidrs', api: 'spec.cidrs' }),
  pool(
    'CIDR typo',
    'cidrtypo',
    { cidrs: ['10.11.0.0/24', '10.11.0/24'] },
    { path: 'spec.cidrs[1]', api: 'spec.cidrs[1]' },
  ),
  pool(
    'range outside every CIDR',
    'rangeout',
    { cidrs: ['10.0.0.0/24'], ranges: [{ start: '10.0.1.1', end: '10.0.1.9' }] },
    {
      path: 'spec.ranges',
      api: 'spec.ranges',
    },
  ),
  pool(
    'range mixing families',
    'rangefam',
    { cidrs: ['10.0.0.0/24'], ranges: [{ start: '10.0.0.1', end: 'fd00::1' }] },
    {
      path: 'spec.ranges[0]',
      api: 'spec.ranges[0]',
    },
  ),
  pool(
    'exclude outside',
    'exout',
    { cidrs: ['10.0.0.0/24'], excludes: ['10.9.0.0/28'] },
    { path: 'spec.excludes', api: 'spec.excludes' },
  ),
  pool(
    'two IPv4 gateways',
    'gw2',
    { cidrs: ['10.0.0.0/24'], gateways: ['10.0.0.1', '10.0.0.2'] },
    {
      path: 'spec.gateways',
      api: 'spec.gateways',
    },
  ),
  pool(
    'gateway not an IP',
    'gwbad',
    { cidrs: ['10.0.0.0/24'], gateways: ['10.0.0.256'] },
    {
      path: 'spec.gateways[0]',
      api: 'spec.gateways[0]',
    },
  ),
  pool(
    'assignment to both a pod and a StatefulSet',
    'asboth',
    {
      cidrs: ['10.0.0.0/24'],
      assignments: [{ namespace: 'a', pod: 'p', statefulSet: 's', ordinal: 0, ips: ['10.0.0.5'] }],
    },
    { path: 'spec.assignments[0]', api: 'spec.assignments[0]' },
  ),
  pool(
    'StatefulSet without ordinal',
    'asord',
    {
      cidrs: ['10.0.0.0/24'],
      assignments: [{ namespace: 'a', statefulSet: 's', ips: ['10.0.0.5'] }],
    },
    { path: 'spec.assignments[0].ordinal', api: 'spec.assignments[0].ordinal' },
  ),
  pool(
    'assigned IP outside the pool',
    'asout',
    {
      cidrs: ['10.0.0.0/24'],
      assignments: [{ namespace: 'a', pod: 'p', ips: ['10.0.1.5'] }],
    },
    { path: 'spec.assignments', api: 'spec.assignments' },
  ),
  pool(
    'one IP assigned twice (offline only)',
    'asdup',
    {
      cidrs: ['10.0.0.0/24'],
      assignments: [
        { namespace: 'a', pod: 'p', ips: ['10.0.0.5'] },
        { namespace: 'a', pod: 'q', ips: ['10.0.0.5'] },
      ],
    },
    { path: 'spec.assignments[1].ips', api: '' },
    true,
  ),
  pool(
    'overlapping CIDRs (offline only)',
    'overlap',
    { cidrs: ['10.0.0.0/16', '10.0.1.0/24'] },
    { path: 'spec.cidrs[1]', api: '' },
    true,
  ),
];

export const allExamples: Example[] = [
  ...networkExamples,
  ...switchExamples,
  ...topologyExamples,
  ...poolExamples,
];
