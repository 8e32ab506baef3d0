// The other side of the bundle interop test (tests/cli/test_bundle_interop.sh):
// signs and verifies certpin bundles with the `jose` package only, so nothing
// of certpin's own code decides. Local files only; no network.
//
//   node jose_tool.mjs sign ALG KEY.pem POLICY.json SEQ TTL_S OUT [AUD]
//   node jose_tool.mjs verify ALG PUB.pem BUNDLE     (exit 0 valid, 1 refused)
//   node jose_tool.mjs thumbprint ALG PUB.pem        (RFC 7638, SHA-256)
//   node jose_tool.mjs version
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as jose from 'jose';

const TYP = 'certpin-bundle+jws';
const [cmd, ...args] = process.argv.slice(2);

// The public JWK with only the members RFC 7638 hashes.
async function publicJwk(key) {
  const jwk = await jose.exportJWK(key);
  const out = { kty: jwk.kty, crv: jwk.crv, x: jwk.x };
  if (jwk.kty === 'EC') out.y = jwk.y;
  return out;
}

async function main() {
  switch (cmd) {
    case 'sign': {
      const [alg, keyPath, policyPath, seq, ttl, outPath, aud] = args;
      const priv = await jose.importPKCS8(readFileSync(keyPath, 'utf8'), alg, { extractable: true });
      const kid = await jose.calculateJwkThumbprint(await publicJwk(priv), 'sha256');
      const payload = JSON.parse(readFileSync(policyPath, 'utf8'));
      const iat = Math.floor(Date.now() / 1000);
      Object.assign(payload, { seq: Number(seq), iat, exp: iat + Number(ttl) });
      if (aud) payload.aud = aud;
      const jws = await new jose.CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
        .setProtectedHeader({ alg, kid, typ: TYP })
        .sign(priv);
      writeFileSync(outPath, jws);
      console.log(`kid: ${kid}`);
      return 0;
    }
    case 'verify': {
      const [alg, pubPath, bundlePath] = args;
      const pub = await jose.importSPKI(readFileSync(pubPath, 'utf8'), alg, { extractable: true });
      const jws = readFileSync(bundlePath, 'utf8').trim();
      try {
        const { payload, protectedHeader } = await jose.compactVerify(jws, pub, { algorithms: [alg] });
        const kid = await jose.calculateJwkThumbprint(await publicJwk(pub), 'sha256');
        if (protectedHeader.typ !== TYP) throw new Error(`typ is ${protectedHeader.typ}`);
        if (protectedHeader.kid !== kid) throw new Error(`kid ${protectedHeader.kid} is not the key's ${kid}`);
        const claims = JSON.parse(new TextDecoder().decode(payload));
        console.log(`valid: alg ${protectedHeader.alg} kid ${kid} seq ${claims.seq} exp ${claims.exp}` +
                    ` rules ${claims.domains.length}`);
        return 0;
      } catch (e) {
        console.error(`jose: ${bundlePath}: ${e.code || e.name}: ${e.message}`);
        return 1;
      }
    }
    case 'thumbprint': {
      const [alg, pubPath] = args;
      const pub = await jose.importSPKI(readFileSync(pubPath, 'utf8'), alg, { extractable: true });
      console.log(await jose.calculateJwkThumbprint(await publicJwk(pub), 'sha256'));
      return 0;
    }
    case 'version': {
      const require = createRequire(import.meta.url);
      console.log(require('jose/package.json').version);
      return 0;
    }
    default:
      console.error('usage: jose_tool.mjs sign|verify|thumbprint|version ...');
      return 64;
  }
}

process.exitCode = await main();
