import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './exec.ts';

export interface CertRequest {
  /** File stem: <name>.crt and <name>.key in the pki dir. */
  name: string;
  commonName: string;
  organization?: string;
  /** "server", "client" or both. */
  usage: Array<'server' | 'client'>;
  /** The CA that signs it (default: the lab CA, "ca"). */
  ca?: string;
  dnsNames?: string[];
  ips?: string[];
}

const days = '3650';

/** Lab PKI with openssl: a CA made on first start, leaf certificates made once and kept. */
export class LabPki {
  constructor(readonly dir: string) {}

  path(name: string, ext: 'crt' | 'key' | 'pub'): string {
    return join(this.dir, `${name}.${ext}`);
  }

  async ensureCa(name = 'ca', commonName = 'patchbay-lab-ca'): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    if (existsSync(this.path(name, 'crt'))) return;
    await this.newKey(name);
    await run('openssl', [
      'req',
      '-x509',
      '-new',
      '-key',
      this.path(name, 'key'),
      '-subj',
      `/CN=${commonName}`,
      '-days',
      days,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-out',
      this.path(name, 'crt'),
    ]);
  }

  async ensureCert(req: CertRequest): Promise<void> {
    if (existsSync(this.path(req.name, 'crt'))) return;
    await this.newKey(req.name);
    const subject = `/CN=${req.commonName}${req.organization ? `/O=${req.organization}` : ''}`;
    const san = [...(req.dnsNames ?? []).map((d) => `DNS:${d}`), ...(req.ips ?? []).map((i) => `IP:${i}`)];
    const eku = req.usage.map((u) => (u === 'server' ? 'serverAuth' : 'clientAuth')).join(',');
    const ext = [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${eku}`,
      ...(san.length ? [`subjectAltName=${san.join(',')}`] : []),
    ].join('\n');
    const extFile = join(this.dir, `${req.name}.ext`);
    const csr = join(this.dir, `${req.name}.csr`);
    await writeFile(extFile, `${ext}\n`);
    try {
      await run('openssl', [
        'req',
        '-new',
        '-key',
        this.path(req.name, 'key'),
        '-subj',
        subject,
        '-out',
        csr,
      ]);
      await run('openssl', [
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        this.path(req.ca ?? 'ca', 'crt'),
        '-CAkey',
        this.path(req.ca ?? 'ca', 'key'),
        '-CAcreateserial',
        '-days',
        days,
        '-extfile',
        extFile,
        '-out',
        this.path(req.name, 'crt'),
      ]);
    } finally {
      await rm(extFile, { force: true });
      await rm(csr, { force: true });
    }
  }

  /** An RSA key pair for signing service-account tokens (the apiserver verifies with .pub). */
  async ensureSigningKey(name: string): Promise<void> {
    if (existsSync(this.path(name, 'pub'))) return;
    await run('openssl', [
      'genpkey',
      '-algorithm',
      'RSA',
      '-pkeyopt',
      'rsa_keygen_bits:2048',
      '-out',
      this.path(name, 'key'),
    ]);
    await run('openssl', ['pkey', '-in', this.path(name, 'key'), '-pubout', '-out', this.path(name, 'pub')]);
  }

  private async newKey(name: string): Promise<void> {
    await run('openssl', [
      'genpkey',
      '-algorithm',
      'EC',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-out',
      this.path(name, 'key'),
    ]);
  }
}
