/** The cases behind src/shim/testdata/*.bin; protocol_test.go builds the same values. */
import type { ShimRequest, ShimResponse } from '../../../src/shim/protocol.ts';

export const goldenRequest: ShimRequest = {
  verb: 'ADD',
  plugin: 'patchbay',
  env: {
    CNI_PATH: '/opt/cni/bin',
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: 'c0ffee',
    CNI_NETNS: '/run/netns/pod-ü',
    CNI_IFNAME: 'eth0',
    CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0<&>',
  },
  stdin: Buffer.from('{"cniVersion":"1.1.0","name":"pods","type":"patchbay"}\n', 'utf8'),
};

export const goldenResponse: ShimResponse = {
  exitCode: 0,
  stdout: Buffer.from(
    '{"cniVersion":"1.1.0","interfaces":[{"name":"eth0","sandbox":"/run/netns/pod"}],"ips":[{"address":"10.1.0.5/16","interface":0}]}',
    'utf8',
  ),
  stderr: 'delegate bridge: "ok" <done>\n',
};

export const goldenErrorResponse: ShimResponse = {
  exitCode: 1,
  stdout: Buffer.from('{"cniVersion":"1.1.0","code":7,"msg":"invalid network configuration","details":"x"}'),
  stderr: '',
};
