// A real OpenID provider for tests/integration/test_oidc.py: oidc-provider (pinned in
// package.json) over HTTPS on loopback, with keys, certificate and clients the test made.
//   node provider.mjs CONFIG.json
// CONFIG: {"port", "issuer", "cert" (PEM path), "key" (PEM path), "jwks" ({"keys": [private
// JWKs]}), "clients": [oidc-provider client metadata…]}. Prints "listening" once it serves.
// Its development login screens accept any login and password: user "carol" gets the claims
// sub=carol, email=carol@example.test (verified unless the login starts with "unverified"),
// name, preferred_username and picture.
import fs from "node:fs";
import https from "node:https";
import Provider from "oidc-provider";

const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks: config.jwks,
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({
      sub: id,
      email: `${id}@example.test`,
      email_verified: !id.startsWith("unverified"),
      name: `User ${id}`,
      preferred_username: id,
      picture: `https://img.example.test/${id}.png`,
    }),
  }),
  claims: {
    openid: ["sub"],
    email: ["email", "email_verified"],
    profile: ["name", "preferred_username", "picture"],
  },
  // The claims of the requested scopes go into the ID token too, as Google's do.
  conformIdTokenClaims: false,
  cookies: { keys: ["parley-test-cookie-key"] },
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
  ttl: { IdToken: 3600, AccessToken: 3600, AuthorizationCode: 60, Interaction: 600, Session: 600, Grant: 600 },
});
provider.on("server_error", (ctx, err) => console.error("server_error", err));

https
  .createServer({ cert: fs.readFileSync(config.cert), key: fs.readFileSync(config.key) },
                provider.callback())
  .listen(config.port, "127.0.0.1", () => console.log("listening"));
