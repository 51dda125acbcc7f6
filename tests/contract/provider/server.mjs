// Runs panva's oidc-provider (OpenID Certified, installed from npm, not written by this
// project) for the contract tests: over TLS on localhost, mounted at /<tenant>/v2.0 (the
// path shape the portal and msal use), with state kept in a file so the tests can stop
// the provider and start it again without losing pending device codes.
//
// Everything here is configuration of that provider, plus one thing it leaves to the
// deployment: RFC 8628 §3.5 lets a server answer slow_down to a client that polls faster
// than the interval; oidc-provider does not, so a small middleware in front does,
// raising the interval by 5 seconds each time as the RFC says. Every poll is appended to
// the poll log so the tests can see when each request arrived.
//
// Usage: node server.mjs <config.json>   (the config is written by tests/contract).

import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import https from 'node:https';
import querystring from 'node:querystring';

import Provider, { errors } from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));

// --- State in a JSON file (oidc-provider's adapter interface) -----------------------

function load() {
  return existsSync(config.stateFile) ? JSON.parse(readFileSync(config.stateFile, 'utf8')) : {};
}

function save(state) {
  writeFileSync(`${config.stateFile}.tmp`, JSON.stringify(state));
  renameSync(`${config.stateFile}.tmp`, config.stateFile);
}

const now = () => Math.floor(Date.now() / 1000);

class FileAdapter {
  constructor(name) {
    this.name = name;
  }

  async upsert(id, payload, expiresIn) {
    const state = load();
    state[this.name] ??= {};
    state[this.name][id] = { payload, expiresAt: expiresIn ? now() + expiresIn : null };
    save(state);
  }

  #all() {
    return Object.entries(load()[this.name] ?? {});
  }

  #live(entry) {
    return entry && (entry.expiresAt === null || entry.expiresAt > now()) ? entry.payload : undefined;
  }

  async find(id) {
    return this.#live((load()[this.name] ?? {})[id]);
  }

  async findByUserCode(userCode) {
    const found = this.#all().find(([, e]) => e.payload.userCode === userCode);
    return found ? this.#live(found[1]) : undefined;
  }

  async findByUid(uid) {
    const found = this.#all().find(([, e]) => e.payload.uid === uid);
    return found ? this.#live(found[1]) : undefined;
  }

  async consume(id) {
    const state = load();
    const entry = state[this.name]?.[id];
    if (entry) {
      entry.payload.consumed = now();
      save(state);
    }
  }

  async destroy(id) {
    const state = load();
    if (state[this.name]) delete state[this.name][id];
    save(state);
  }

  async revokeByGrantId(grantId) {
    const state = load();
    for (const models of Object.values(state)) {
      for (const [id, entry] of Object.entries(models)) {
        if (entry.payload.grantId === grantId) delete models[id];
      }
    }
    save(state);
  }
}

// --- The provider ----------------------------------------------------------------------

const accounts = config.accounts;
// Set by the tests through /_control (outside the provider's mount): the lifetime of
// the next device codes, to see the provider's own expired_token.
const control = {};
const resourceServers = {
  [config.graphResource]: { scope: config.graphScopes.join(' '), audience: config.graphResource },
  [config.apiResource]: { scope: config.apiScopes.join(' '), audience: config.apiResource },
};

const provider = new Provider(config.issuer, {
  adapter: FileAdapter,
  clients: config.clients,
  jwks: config.jwks,
  cookies: { keys: config.cookieKeys },
  async findAccount(ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, tid: config.tenantId, ...account };
      },
    };
  },
  claims: { openid: ['sub', 'oid', 'tid'], profile: ['name', 'preferred_username'] },
  // Entra puts the profile claims in the id_token; so does this provider.
  conformIdTokenClaims: false,
  scopes: ['openid', 'offline_access', 'profile'],
  features: {
    devInteractions: { enabled: true },
    deviceFlow: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (ctx, client, oneOf) => oneOf ?? config.graphResource,
      useGrantedResource: () => true,
      getResourceServerInfo(ctx, resource) {
        const server = resourceServers[resource];
        if (!server) throw new errors.InvalidTarget();
        return { ...server, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
      },
    },
  },
  // The claims the portal reads from access tokens, named as Entra names them.
  async extraTokenClaims(ctx, token) {
    if (token.kind !== 'AccessToken' || !token.accountId) return undefined;
    const account = accounts[token.accountId] ?? {};
    const scp = (token.scope ?? '')
      .split(' ')
      .filter((s) => s && !['openid', 'offline_access', 'profile'].includes(s))
      .join(' ');
    return { oid: account.oid, tid: config.tenantId, scp, preferred_username: account.preferred_username };
  },
  ttl: {
    AccessToken: config.accessTokenTtl,
    AuthorizationCode: 60,
    DeviceCode: () => control.deviceCodeTtl ?? config.deviceCodeTtl,
    Grant: 14 * 86400,
    IdToken: 3600,
    Interaction: 600,
    RefreshToken: 14 * 86400,
    Session: 3600,
  },
  pkce: { required: () => true },
});
provider.proxy = false;
provider.on('server_error', (ctx, error) => {
  process.stderr.write(`server_error: ${error.stack}\n`);
});

// --- slow_down, as RFC 8628 §3.5 allows a server to answer --------------------------

const polls = {};

function logPoll(deviceCode, outcome) {
  const who = createHash('sha256').update(deviceCode).digest('hex').slice(0, 16);
  appendFileSync(config.pollLog, `${JSON.stringify({ at: Date.now() / 1000, device: who, outcome })}\n`);
}

provider.use(async (ctx, next) => {
  if (ctx.method !== 'POST' || ctx.path !== '/token') return next();
  const chunks = [];
  for await (const chunk of ctx.req) chunks.push(chunk);
  const body = Buffer.concat(chunks).toString();
  ctx.req.body = body; // oidc-provider reads an already-read body from here
  const params = querystring.parse(body);
  if (params.grant_type !== 'urn:ietf:params:oauth:grant-type:device_code' || !params.device_code) {
    return next();
  }
  const code = String(params.device_code);
  const seen = polls[code] ?? { last: 0, interval: config.interval };
  const early = Date.now() / 1000 - seen.last < seen.interval;
  seen.last = Date.now() / 1000;
  polls[code] = seen;
  if (early) {
    seen.interval += 5;
    logPoll(code, 'slow_down');
    ctx.status = 400;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { error: 'slow_down', error_description: 'polling faster than the interval' };
    return undefined;
  }
  await next();
  logPoll(code, ctx.body?.error ?? (ctx.status === 200 ? 'tokens' : String(ctx.status)));
  return undefined;
});

// --- Serve it under /<tenant>/v2.0 over TLS --------------------------------------------

const mount = new URL(config.issuer).pathname.replace(/\/$/, '');
const callback = provider.callback();
const server = https.createServer(
  { cert: readFileSync(config.certFile), key: readFileSync(config.keyFile) },
  (req, res) => {
    if (req.url === mount || req.url.startsWith(`${mount}/`) || req.url.startsWith(`${mount}?`)) {
      req.originalUrl = req.url;
      req.url = req.url.slice(mount.length) || '/';
      return callback(req, res);
    }
    const url = new URL(req.url, 'https://localhost');
    if (req.method === 'POST' && url.pathname === '/_control/device-code-ttl') {
      control.deviceCodeTtl = Number(url.searchParams.get('seconds')) || undefined;
      res.statusCode = 204;
      res.end();
      return undefined;
    }
    res.statusCode = 404;
    res.end();
    return undefined;
  },
);
server.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`listening on ${config.port}\n`);
});
