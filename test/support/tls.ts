// Certificates for the TLS tests, made with the openssl command line: a CA, a server
// certificate for localhost and 127.0.0.1 signed by it, and a client certificate. Fresh keys
// every time, in the directory given.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

export interface TestPki {
  dir: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
  ca: Buffer;
  clientCert: Buffer;
  clientKey: Buffer;
  /** Writes a new server certificate and key (subject CN=cn) over certFile and keyFile. */
  rotate(cn: string): void;
}

function openssl(dir: string, ...args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

function signed(dir: string, name: string, cn: string, ext: string): void {
  openssl(dir, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`);
  writeFileSync(path.join(dir, `${name}.ext`), ext);
  openssl(dir, "x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.pem`, "-days", "2", "-extfile", `${name}.ext`);
}

export function makePki(dir: string): TestPki {
  openssl(dir, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=pushkit test CA");
  const serverExt = "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n";
  signed(dir, "server", "localhost", serverExt);
  signed(dir, "client", "test-client", "extendedKeyUsage=clientAuth\n");
  const f = (n: string) => path.join(dir, n);
  return {
    dir,
    caFile: f("ca.pem"),
    certFile: f("server.pem"),
    keyFile: f("server.key"),
    clientCertFile: f("client.pem"),
    clientKeyFile: f("client.key"),
    ca: readFileSync(f("ca.pem")),
    clientCert: readFileSync(f("client.pem")),
    clientKey: readFileSync(f("client.key")),
    rotate(cn) {
      signed(dir, "rotated", cn, serverExt);
      writeFileSync(f("server.key"), readFileSync(f("rotated.key")));
      writeFileSync(f("server.pem"), readFileSync(f("rotated.pem")));
    },
  };
}
