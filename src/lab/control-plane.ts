import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { applyObjects, waitForCrdsEstablished } from '../kube/apply.ts';
import { loadKubeConfig } from '../kube/config.ts';
import { waitFor } from '../util/wait.ts';
import type { Progress } from './deps/go-build.ts';
import { ensureLabDeps, type LabBinaries } from './deps/index.ts';
import { httpsGet, type TlsFiles } from './https-probe.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import { LabPki } from './pki.ts';
import {
  isRunning,
  type ProcessRecord,
  readRecord,
  removeRecord,
  startDaemon,
  stopProcess,
  writeRecord,
} from './process.ts';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const crdDir = join(repoRoot, 'deploy', 'crds');

export interface LabOptions {
  dir: string;
  /** apiserver = base, etcd client = base+1, etcd peer = base+2, controller-manager = base+3, scheduler = base+4. */
  basePort: number;
}

export const defaultBasePort = 16443;

export interface ComponentStatus {
  name: string;
  pid?: number;
  running: boolean;
  healthy: boolean;
  log: string;
}

export interface LabStatus {
  dir: string;
  kubeconfig: string;
  server: string;
  components: ComponentStatus[];
}

interface Component {
  name: string;
  command(bins: LabBinaries): string[];
  /** A bounded health probe; resolves true when the component serves. */
  healthy(): Promise<boolean>;
  startTimeoutMs: number;
}

/** The lab's control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler on 127.0.0.1, all TLS. */
export class ControlPlane {
  readonly pki: LabPki;
  readonly ports: {
    apiserver: number;
    etcd: number;
    etcdPeer: number;
    controllerManager: number;
    scheduler: number;
  };

  constructor(readonly options: LabOptions) {
    this.pki = new LabPki(join(options.dir, 'pki'));
    const b = options.basePort;
    this.ports = { apiserver: b, etcd: b + 1, etcdPeer: b + 2, controllerManager: b + 3, scheduler: b + 4 };
  }

  get dir(): string {
    return this.options.dir;
  }
  get server(): string {
    return `https://127.0.0.1:${this.ports.apiserver}`;
  }
  /** The admin kubeconfig (system:masters): for the operator and the tests, never for Patchbay's own daemons. */
  get kubeconfig(): string {
    return join(this.dir, 'admin.kubeconfig');
  }
  private get runDir(): string {
    return join(this.dir, 'run');
  }
  private get logDir(): string {
    return join(this.dir, 'logs');
  }
  private recordFile(name: string): string {
    return join(this.runDir, `${name}.json`);
  }

  private components(): Component[] {
    const p = this.pki;
    const crt = (n: string) => p.path(n, 'crt');
    const key = (n: string) => p.path(n, 'key');
    const ca = crt('ca');
    const etcdUrl = `https://127.0.0.1:${this.ports.etcd}`;
    const peerUrl = `https://127.0.0.1:${this.ports.etcdPeer}`;
    const etcdClient: TlsFiles = {
      ca,
      cert: crt('apiserver-etcd-client'),
      key: key('apiserver-etcd-client'),
    };
    const admin: TlsFiles = { ca, cert: crt('admin'), key: key('admin') };
    const ok = async (url: string, tls: TlsFiles, expect: (body: string) => boolean) => {
      try {
        const res = await httpsGet(url, tls);
        return res.status === 200 && expect(res.body);
      } catch {
        return false;
      }
    };
    const kubeconfigOf = (n: string) => join(this.dir, `${n}.kubeconfig`);
    return [
      {
        name: 'etcd',
        startTimeoutMs: 60_000,
        command: (bins) => [
          bins.etcd,
          '--name=lab',
          `--data-dir=${join(this.dir, 'etcd')}`,
          `--listen-client-urls=${etcdUrl}`,
          `--advertise-client-urls=${etcdUrl}`,
          `--listen-peer-urls=${peerUrl}`,
          `--initial-advertise-peer-urls=${peerUrl}`,
          `--initial-cluster=lab=${peerUrl}`,
          `--cert-file=${crt('etcd-server')}`,
          `--key-file=${key('etcd-server')}`,
          `--trusted-ca-file=${ca}`,
          '--client-cert-auth=true',
          `--peer-cert-file=${crt('etcd-server')}`,
          `--peer-key-file=${key('etcd-server')}`,
          `--peer-trusted-ca-file=${ca}`,
          '--peer-client-cert-auth=true',
          // A lab's data is disposable; fsync on every commit would make the tests disk-bound.
          '--unsafe-no-fsync=true',
          '--log-level=warn',
        ],
        healthy: () => ok(`${etcdUrl}/health`, etcdClient, (b) => b.includes('"health":"true"')),
      },
      {
        name: 'kube-apiserver',
        startTimeoutMs: 90_000,
        command: (bins) => [
          bins.kubeApiserver,
          '--bind-address=127.0.0.1',
          '--advertise-address=127.0.0.1',
          `--secure-port=${this.ports.apiserver}`,
          `--etcd-servers=${etcdUrl}`,
          `--etcd-cafile=${ca}`,
          `--etcd-certfile=${crt('apiserver-etcd-client')}`,
          `--etcd-keyfile=${key('apiserver-etcd-client')}`,
          `--tls-cert-file=${crt('apiserver')}`,
          `--tls-private-key-file=${key('apiserver')}`,
          `--client-ca-file=${ca}`,
          // The aggregation layer's front proxy, as kubeadm sets it up: its own CA and client identity.
          `--requestheader-client-ca-file=${crt('front-proxy-ca')}`,
          '--requestheader-allowed-names=front-proxy-client',
          '--requestheader-username-headers=X-Remote-User',
          '--requestheader-group-headers=X-Remote-Group',
          '--requestheader-extra-headers-prefix=X-Remote-Extra-',
          `--proxy-client-cert-file=${crt('front-proxy-client')}`,
          `--proxy-client-key-file=${key('front-proxy-client')}`,
          '--authorization-mode=Node,RBAC',
          '--enable-admission-plugins=NodeRestriction',
          '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
          `--service-account-key-file=${p.path('service-account', 'pub')}`,
          `--service-account-signing-key-file=${p.path('service-account', 'key')}`,
          '--service-cluster-ip-range=10.96.0.0/16',
          // The lab's apiserver is reachable only on loopback, which Endpoints may not hold.
          '--endpoint-reconciler-type=none',
          '--allow-privileged=true',
          '--profiling=false',
          `--cert-dir=${join(this.dir, 'pki', 'generated')}`,
          '--v=1',
        ],
        healthy: () => ok(`${this.server}/readyz`, admin, (b) => b.trim() === 'ok'),
      },
      {
        name: 'kube-controller-manager',
        startTimeoutMs: 60_000,
        command: (bins) => [
          bins.kubeControllerManager,
          `--kubeconfig=${kubeconfigOf('controller-manager')}`,
          `--authentication-kubeconfig=${kubeconfigOf('controller-manager')}`,
          `--authorization-kubeconfig=${kubeconfigOf('controller-manager')}`,
          '--bind-address=127.0.0.1',
          `--secure-port=${this.ports.controllerManager}`,
          `--tls-cert-file=${crt('controller-manager-serving')}`,
          `--tls-private-key-file=${key('controller-manager-serving')}`,
          '--leader-elect=false',
          '--use-service-account-credentials=true',
          `--service-account-private-key-file=${p.path('service-account', 'key')}`,
          `--root-ca-file=${ca}`,
          `--cluster-signing-cert-file=${ca}`,
          `--cluster-signing-key-file=${key('ca')}`,
          '--profiling=false',
          '--v=1',
        ],
        healthy: () =>
          ok(`https://127.0.0.1:${this.ports.controllerManager}/healthz`, { ca }, (b) => b.trim() === 'ok'),
      },
      {
        name: 'kube-scheduler',
        startTimeoutMs: 60_000,
        command: (bins) => [
          bins.kubeScheduler,
          `--kubeconfig=${kubeconfigOf('scheduler')}`,
          `--authentication-kubeconfig=${kubeconfigOf('scheduler')}`,
          `--authorization-kubeconfig=${kubeconfigOf('scheduler')}`,
          '--bind-address=127.0.0.1',
          `--secure-port=${this.ports.scheduler}`,
          `--tls-cert-file=${crt('scheduler-serving')}`,
          `--tls-private-key-file=${key('scheduler-serving')}`,
          '--leader-elect=false',
          '--profiling=false',
          '--v=1',
        ],
        healthy: () =>
          ok(`https://127.0.0.1:${this.ports.scheduler}/healthz`, { ca }, (b) => b.trim() === 'ok'),
      },
    ];
  }

  private async ensurePki(): Promise<void> {
    const p = this.pki;
    await p.ensureCa();
    await p.ensureCa('front-proxy-ca', 'patchbay-lab-front-proxy-ca');
    await p.ensureCert({
      name: 'front-proxy-client',
      commonName: 'front-proxy-client',
      usage: ['client'],
      ca: 'front-proxy-ca',
    });
    const loopback = { dnsNames: ['localhost'], ips: ['127.0.0.1'] };
    await p.ensureCert({ name: 'etcd-server', commonName: 'etcd', usage: ['server', 'client'], ...loopback });
    await p.ensureCert({
      name: 'apiserver-etcd-client',
      commonName: 'kube-apiserver-etcd-client',
      usage: ['client'],
    });
    await p.ensureCert({
      name: 'apiserver',
      commonName: 'kube-apiserver',
      usage: ['server'],
      dnsNames: [
        'localhost',
        'kubernetes',
        'kubernetes.default',
        'kubernetes.default.svc',
        'kubernetes.default.svc.cluster.local',
      ],
      ips: ['127.0.0.1', '10.96.0.1'],
    });
    await p.ensureCert({
      name: 'admin',
      commonName: 'patchbay-admin',
      organization: 'system:masters',
      usage: ['client'],
    });
    await p.ensureCert({
      name: 'controller-manager',
      commonName: 'system:kube-controller-manager',
      usage: ['client'],
    });
    await p.ensureCert({ name: 'scheduler', commonName: 'system:kube-scheduler', usage: ['client'] });
    await p.ensureCert({
      name: 'controller-manager-serving',
      commonName: 'kube-controller-manager',
      usage: ['server'],
      ...loopback,
    });
    await p.ensureCert({
      name: 'scheduler-serving',
      commonName: 'kube-scheduler',
      usage: ['server'],
      ...loopback,
    });
    await p.ensureSigningKey('service-account');
    const ca = p.path('ca', 'crt');
    for (const [file, user] of [
      ['admin', 'admin'],
      ['controller-manager', 'controller-manager'],
      ['scheduler', 'scheduler'],
    ] as const) {
      await writeKubeconfig(join(this.dir, `${file}.kubeconfig`), {
        server: this.server,
        caFile: ca,
        user,
        certFile: p.path(user, 'crt'),
        keyFile: p.path(user, 'key'),
      });
    }
  }

  /**
   * Starts whatever is not running (a no-op when all are up), waits until each serves, then applies the CRDs.
   * Processes that died are detected through their pid records and started again.
   */
  async up(progress: Progress, bins?: LabBinaries): Promise<LabStatus> {
    const binaries = bins ?? (await ensureLabDeps(progress));
    for (const d of [this.dir, this.runDir, this.logDir]) await mkdir(d, { recursive: true, mode: 0o700 });
    await writeFile(
      join(this.dir, 'lab.json'),
      `${JSON.stringify({ basePort: this.options.basePort, binaries }, null, 2)}\n`,
    );
    await this.ensurePki();
    for (const component of this.components()) {
      const file = this.recordFile(component.name);
      const existing = await readRecord(file);
      if (existing && isRunning(existing) && (await component.healthy())) continue;
      if (existing && isRunning(existing)) {
        // Running but not (yet) healthy: give it its start window before replacing it.
        if (await this.waitHealthy(component, existing).catch(() => false)) continue;
        await stopProcess(existing);
      }
      const started = Date.now();
      const record = startDaemon(
        component.name,
        component.command(binaries),
        join(this.logDir, `${component.name}.log`),
      );
      await writeRecord(file, record);
      await this.waitHealthy(component, record);
      progress(`${component.name} ready in ${Date.now() - started} ms (pid ${record.pid})`);
    }
    await this.applyCrds();
    return this.status();
  }

  private async waitHealthy(component: Component, record: ProcessRecord): Promise<true> {
    const result = await waitFor(
      `${component.name} to become healthy (log: ${record.log})`,
      async () => {
        if (!isRunning(record)) return 'exited' as const;
        return (await component.healthy()) ? ('healthy' as const) : undefined;
      },
      { timeoutMs: component.startTimeoutMs, intervalMs: 100 },
    );
    if (result === 'exited') {
      const tail = (await readFile(record.log, 'utf8').catch(() => ''))
        .trim()
        .split('\n')
        .slice(-20)
        .join('\n');
      throw new Error(`${component.name} exited during start; last lines of ${record.log}:\n${tail}`);
    }
    return true;
  }

  async applyCrds(): Promise<void> {
    const kc = loadKubeConfig(this.kubeconfig);
    const files = (await readdir(crdDir)).filter((f) => f.endsWith('.yaml')).sort();
    const objects = [];
    for (const f of files) {
      for (const doc of parseAllDocuments(await readFile(join(crdDir, f), 'utf8'))) {
        const obj = doc.toJS();
        if (obj) objects.push(obj);
      }
    }
    await applyObjects(kc, objects, 'patchbay-lab');
    await waitForCrdsEstablished(
      kc,
      objects.filter((o) => o.kind === 'CustomResourceDefinition').map((o) => o.metadata.name as string),
    );
  }

  async status(): Promise<LabStatus> {
    const components: ComponentStatus[] = [];
    for (const component of this.components()) {
      const record = await readRecord(this.recordFile(component.name));
      const running = record ? isRunning(record) : false;
      components.push({
        name: component.name,
        pid: running ? record?.pid : undefined,
        running,
        healthy: running && (await component.healthy()),
        log: join(this.logDir, `${component.name}.log`),
      });
    }
    return { dir: this.dir, kubeconfig: this.kubeconfig, server: this.server, components };
  }

  /** Stops only the processes this lab recorded, newest first, then removes the lab's files. */
  async down(progress: Progress): Promise<void> {
    if (!existsSync(this.dir)) return;
    for (const component of this.components().reverse()) {
      const file = this.recordFile(component.name);
      const record = await readRecord(file);
      if (record && isRunning(record)) {
        await stopProcess(record);
        progress(`stopped ${component.name} (pid ${record.pid})`);
      }
      await removeRecord(file);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
