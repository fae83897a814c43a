// The TLS side of the server: the secure-context options built from the PEM files (checked by
// building a context, so a key that does not match its certificate is refused), and what a
// certificate says about itself for logs and check-config.
import { X509Certificate } from "node:crypto";
import tls from "node:tls";

export interface TlsFileOptions {
  tls_cert_file: string;
  tls_key_file: string;
  tls_client_ca_file: string;
  tls_min_version: string;
}

export const MIN_VERSIONS: Record<string, tls.SecureVersion> = { "TLS1.2": "TLSv1.2", "TLS1.3": "TLSv1.3" };

export function tlsFiles(o: TlsFileOptions): string[] {
  return [o.tls_cert_file, o.tls_key_file, ...(o.tls_client_ca_file ? [o.tls_client_ca_file] : [])];
}

/** Context options from the files' contents, in tlsFiles' order; throws when they do not make a context. */
export function secureContextOptions(o: TlsFileOptions, [cert, key, ca]: Buffer[]): tls.SecureContextOptions {
  const options: tls.SecureContextOptions = { cert, key, minVersion: MIN_VERSIONS[o.tls_min_version], ...(ca ? { ca } : {}) };
  try {
    tls.createSecureContext(options);
  } catch (e) {
    throw new Error(`${o.tls_cert_file} and ${o.tls_key_file} do not make a TLS context: ${(e as Error).message}`);
  }
  return options;
}

/** "CN=pushkit, valid until 2027-01-01T00:00:00.000Z" for the first certificate of a chain. */
export function describeCertificate(cert: Buffer): string {
  const c = new X509Certificate(cert);
  const until = new Date(c.validTo);
  const expired = until.getTime() < Date.now() ? " (EXPIRED)" : "";
  return `${c.subject.replace(/\n/g, ", ")}, valid until ${until.toISOString()}${expired}`;
}
