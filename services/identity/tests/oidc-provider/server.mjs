// A real OpenID Provider that nobody on this project wrote (the certified
// `oidc-provider` package), for identity's federation tests: the same
// relying-party code logs in through it with ESIA's extras switched off.
// Started by the tests (oidc.rs) with PORT and OIDC_CONFIG in the
// environment; prints "ready <issuer>" once it listens. Test use only.
import http from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const config = JSON.parse(process.env.OIDC_CONFIG);
const issuer = `http://127.0.0.1:${port}`;
const accounts = config.accounts;

const provider = new Provider(issuer, {
  clients: [{
    client_id: config.client_id,
    client_secret: config.client_secret,
    redirect_uris: [config.redirect_uri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  // `snils` and `trusted` are what a region's provider is asked to release
  // for the `snils` scope.
  claims: {
    openid: ['sub'],
    profile: ['family_name', 'given_name', 'middle_name', 'birthdate'],
    snils: ['snils', 'trusted'],
  },
  features: { devInteractions: { enabled: false } },
  pkce: { required: () => true },
  cookies: { keys: ['asurso-test-cookie-key'] },
  async findAccount(_ctx, sub) {
    const account = accounts[sub];
    if (!account) return undefined;
    return { accountId: sub, async claims() { return { sub, ...account }; } };
  },
  // Consent is given at login: the tests log in as an account, nothing more.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(ctx.oidc.params.scope);
    await grant.save();
    return grant;
  },
});

const serve = provider.callback();
http.createServer(async (req, res) => {
  // GET /interaction/<uid>/login?account=<id>: the person logs in as <id>.
  const login = req.url.match(/^\/interaction\/([^/?]+)\/login\?account=([^&]+)$/);
  if (login) {
    try {
      await provider.interactionFinished(
        req, res,
        { login: { accountId: decodeURIComponent(login[2]) } },
        { mergeWithLastSubmission: false },
      );
    } catch (error) {
      res.statusCode = 400;
      res.end(String(error));
    }
    return;
  }
  serve(req, res);
}).listen(port, '127.0.0.1', () => console.log(`ready ${issuer}`));
