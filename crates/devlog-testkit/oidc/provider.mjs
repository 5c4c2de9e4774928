// A real OpenID provider for devlog's single sign-on tests: the `oidc-provider` npm package
// (installed by .ci/run into $DEVLOG_TEST_OIDC_PROVIDER), configured with one confidential
// client, PKCE required, and an interaction handler that signs in the test's current user
// without a browser.
//
//   node provider.mjs PORT REDIRECT_URI
//
// Prints `ready ISSUER` on standard output once it listens on 127.0.0.1:PORT.
//
// Test control (never part of a real provider): `POST /__test/config` with JSON
// `{"user": {...claims, "sub": ...}, "mode": "..."}` chooses who signs in next and how the
// token endpoint's ID token is altered, to show the relying party refuses it:
//   normal          the provider's own token
//   bad-signature   one byte of the signature changed
//   wrong-audience  `aud` another client, re-signed with the provider's key
//   wrong-issuer    `iss` another issuer, re-signed
//   expired         `exp` ten minutes ago, re-signed
//   wrong-nonce     `nonce` another value, re-signed
//   rotated         re-signed with a second key (kid k2) that /jwks publishes from now on
//   unknown-key     re-signed with a key /jwks never publishes (kid k3)
import { pathToFileURL } from 'node:url';

// Standard output carries only the `ready` line: the test stops reading it then, so the
// provider's notices go to standard error, and a closed stdout is not fatal.
console.log = console.info = console.warn = (...args) => console.error(...args);
process.stdout.on('error', () => {});

const prefix = process.env.DEVLOG_TEST_OIDC_PROVIDER;
if (!prefix) {
  console.error('DEVLOG_TEST_OIDC_PROVIDER is not set (the npm prefix oidc-provider is installed in)');
  process.exit(2);
}
const load = (p) => import(pathToFileURL(`${prefix}/node_modules/${p}`).href);
const { default: Provider } = await load('oidc-provider/lib/index.js');
const jose = await load('jose/dist/webapi/index.js');

const port = Number(process.argv[2]);
const redirectUri = process.argv[3];
const issuer = `http://127.0.0.1:${port}`;

async function key(kid) {
  const { privateKey, publicKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const pub = { ...(await jose.exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  const priv = { ...(await jose.exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
  return { privateKey, pub, priv, kid };
}
const k1 = await key('k1');
const k2 = await key('k2');
const k3 = await key('k3');

let user = { sub: 'alice', email: 'alice@example.com', email_verified: true, name: 'Alice', groups: ['devs'] };
let mode = 'normal';
let rotated = false;

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'devlog',
    client_secret: 'devlog-test-client-secret',
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [k1.priv] },
  pkce: { required: () => true },
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
  conformIdTokenClaims: false,
  findAccount: async (_ctx, id) => ({ accountId: id, claims: async () => ({ ...user, sub: id }) }),
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: ['devlog-test-cookie-key'] },
});

async function readBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

async function resign(token, change, signer = k1) {
  const payload = jose.decodeJwt(token);
  change(payload);
  return new jose.SignJWT(payload)
    .setProtectedHeader({ alg: 'RS256', kid: signer.kid, typ: 'JWT' })
    .sign(signer.privateKey);
}

async function alter(token) {
  const now = Math.floor(Date.now() / 1000);
  switch (mode) {
    case 'bad-signature': {
      const [h, p, s] = token.split('.');
      const flipped = (s[5] === 'A' ? 'B' : 'A');
      return `${h}.${p}.${s.slice(0, 5)}${flipped}${s.slice(6)}`;
    }
    case 'wrong-audience': return resign(token, (c) => { c.aud = 'another-client'; });
    case 'wrong-issuer': return resign(token, (c) => { c.iss = 'http://127.0.0.1:1/not-the-issuer'; });
    case 'expired': return resign(token, (c) => { c.iat = now - 1200; c.exp = now - 600; });
    case 'wrong-nonce': return resign(token, (c) => { c.nonce = 'not-the-nonce-devlog-sent'; });
    case 'rotated': rotated = true; return resign(token, () => {}, k2);
    case 'unknown-key': return resign(token, () => {}, k3);
    default: return token;
  }
}

provider.use(async (ctx, next) => {
  if (ctx.path === '/__test/config' && ctx.method === 'POST') {
    const body = JSON.parse(await readBody(ctx.req) || '{}');
    if (body.user) user = body.user;
    if (body.mode) mode = body.mode;
    ctx.status = 204;
    return;
  }
  if (ctx.path.startsWith('/interaction/') && ctx.method === 'GET') {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    let result;
    if (details.prompt.name === 'login') {
      result = { login: { accountId: user.sub } };
    } else {
      const d = details.prompt.details;
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
      if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
      if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
      if (d.missingResourceScopes) {
        for (const [indicator, scopes] of Object.entries(d.missingResourceScopes)) {
          grant.addResourceScope(indicator, scopes.join(' '));
        }
      }
      result = { consent: { grantId: await grant.save() } };
    }
    const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: details.prompt.name !== 'login' });
    ctx.status = 303;
    ctx.redirect(to);
    return;
  }
  await next();
  if (ctx.path === '/token' && ctx.body && typeof ctx.body === 'object' && ctx.body.id_token) {
    ctx.body = { ...ctx.body, id_token: await alter(ctx.body.id_token) };
  }
  if (ctx.path === '/jwks' && rotated && ctx.body && Array.isArray(ctx.body.keys)) {
    ctx.body = { keys: [...ctx.body.keys, k2.pub] };
  }
});

provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
