/**
 * go-plugin's AutoMTLS, server side: a fresh self-signed certificate for this run (ECDSA P-256 with
 * SHA-256, for `localhost`, usable as its own CA since go-plugin's client trusts it as a root), sent to
 * Terraform in the handshake line as base64 (no padding) DER; Terraform's own certificate
 * (PLUGIN_CLIENT_CERT, PEM) is the only CA client certificates are verified against.
 * Sources: hashicorp/go-plugin server.go and mtls.go (what the certificate holds); RFC 5280 (X.509
 * layout) and X.690 (DER), written out here with node:crypto doing the key and the signature, so the
 * plugin starts without an X.509 library.
 */
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';

/** A certificate and key in PEM, and the certificate's DER as the handshake line carries it. */
export interface PluginCertificate {
  certPem: string;
  keyPem: string;
  /** base64 of the DER, without padding (Go's RawStdEncoding). */
  handshake: string;
}

/** One DER element: tag, definite length, content. */
function der(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  const n = body.length;
  let len: Buffer;
  if (n < 0x80) len = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    len = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), len, body]);
}

const seq = (...c: Buffer[]) => der(0x30, ...c);
const set = (...c: Buffer[]) => der(0x31, ...c);
const octets = (b: Buffer) => der(0x04, b);
const bool = (v: boolean) => der(0x01, Buffer.from([v ? 0xff : 0]));

/** An OBJECT IDENTIFIER from its dotted form. */
function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const out = [40 * arcs[0]! + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const b = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) b.unshift((v & 0x7f) | 0x80);
    out.push(...b);
  }
  return der(0x06, Buffer.from(out));
}

/** UTCTime before 2050, GeneralizedTime from then on (RFC 5280 4.1.2.5). */
function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14); // YYYYMMDDHHMMSS
  return d.getUTCFullYear() < 2050
    ? der(0x17, Buffer.from(`${iso.slice(2)}Z`))
    : der(0x18, Buffer.from(`${iso}Z`));
}

const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));
const NAME = seq(set(seq(oid('2.5.4.3'), der(0x0c, Buffer.from('localhost')))));

const pem = (label: string, body: Buffer) =>
  `-----BEGIN ${label}-----\n${body
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '')}\n-----END ${label}-----\n`;

/** Generates the plugin's certificate for one run. */
export async function pluginCertificate(): Promise<PluginCertificate> {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01; // positive and minimal
  const now = Date.now();
  const extensions = seq(
    // basicConstraints, critical: CA (go-plugin's client trusts this certificate as a root).
    seq(oid('2.5.29.19'), bool(true), octets(seq(bool(true)))),
    // keyUsage, critical: digitalSignature, keyAgreement, keyCertSign.
    seq(oid('2.5.29.15'), bool(true), octets(der(0x03, Buffer.from([0x02, 0x8c])))),
    // extKeyUsage: serverAuth, clientAuth.
    seq(oid('2.5.29.37'), octets(seq(oid('1.3.6.1.5.5.7.3.1'), oid('1.3.6.1.5.5.7.3.2')))),
    // subjectAltName: DNS localhost (the name go-plugin's client verifies).
    seq(oid('2.5.29.17'), octets(seq(der(0x82, Buffer.from('localhost'))))),
  );
  const tbs = seq(
    der(0xa0, der(0x02, Buffer.from([2]))), // version 3
    der(0x02, serial),
    ECDSA_SHA256,
    NAME,
    seq(time(new Date(now - 30_000)), time(new Date(now + 10 * 365 * 24 * 3600_000))),
    NAME,
    publicKey.export({ type: 'spki', format: 'der' }),
    der(0xa3, extensions),
  );
  const signature = sign('sha256', tbs, privateKey); // DER ECDSA-Sig-Value
  const cert = seq(tbs, ECDSA_SHA256, der(0x03, Buffer.from([0]), signature));
  return {
    certPem: pem('CERTIFICATE', cert),
    keyPem: pem('PRIVATE KEY', privateKey.export({ type: 'pkcs8', format: 'der' })),
    handshake: cert.toString('base64').replace(/=+$/, ''),
  };
}
