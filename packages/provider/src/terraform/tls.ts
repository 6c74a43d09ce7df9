/**
 * go-plugin's AutoMTLS, server side: a fresh self-signed certificate for this run (ECDSA P-256, for
 * `localhost`, usable as its own CA as go-plugin's client trusts it as a root), sent to Terraform in the
 * handshake line as base64 (no padding) DER; Terraform's own certificate (PLUGIN_CLIENT_CERT, PEM) is the
 * only CA client certificates are verified against. Source: hashicorp/go-plugin server.go, mtls.go.
 */
import { webcrypto } from 'node:crypto';

/** A certificate and key in PEM, and the certificate's DER as the handshake line carries it. */
export interface PluginCertificate {
  certPem: string;
  keyPem: string;
  /** base64 of the DER, without padding (Go's RawStdEncoding). */
  handshake: string;
}

/** Generates the plugin's certificate for one run. */
export async function pluginCertificate(): Promise<PluginCertificate> {
  // @peculiar/x509 needs the Reflect metadata polyfill loaded before it.
  await import('reflect-metadata');
  const x509 = await import('@peculiar/x509');
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)))
      .toString('hex')
      .replace(/^[89a-f]/, '1'),
    name: 'CN=localhost, O=Stratus',
    notBefore: new Date(now - 30_000),
    notAfter: new Date(now + 10 * 365 * 24 * 3600_000),
    keys,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature |
          x509.KeyUsageFlags.keyAgreement |
          x509.KeyUsageFlags.keyCertSign,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'localhost' }]),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '')}\n-----END PRIVATE KEY-----\n`;
  return {
    certPem: cert.toString('pem'),
    keyPem,
    handshake: Buffer.from(cert.rawData).toString('base64').replace(/=+$/, ''),
  };
}
