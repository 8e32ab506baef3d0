/*
 * Signed pin bundles: base64url, key sets and kids (with the RFC 8037
 * thumbprint vector), sign/verify round trips for ES256 and EdDSA, and every
 * refusal with its error: tampering, unknown keys, alg none, HS256 with the
 * public key as secret, alg/key mismatch, header members, structure, claims,
 * expiry, audience, pin_files, signer sets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "certpin/certpin_bundle.h"
#include "internal.h"
#include "testutil.h"

#define NOW 1800000000LL
#define POLICY                                                                                \
	"{\"certpin\":1,\"domains\":[{\"host\":\"api.test\",\"pins\":["                        \
	"\"sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","                             \
	"\"sha256/BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA=\"],\"expires\":\"2030-01-01\"}]}"

static char *pem_of(EVP_PKEY *k, int priv)
{
	BIO *b = BIO_new(BIO_s_mem());
	assert_non_null(b);
	assert_int_equal(priv ? PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)
	                      : PEM_write_bio_PUBKEY(b, k),
	                 1);
	char *data;
	long l = BIO_get_mem_data(b, &data);
	char *out = malloc((size_t)l + 1);
	assert_non_null(out);
	memcpy(out, data, (size_t)l);
	out[l] = '\0';
	BIO_free(b);
	return out;
}

struct keys {
	EVP_PKEY *ec, *ed, *other;
	char *ec_priv, *ec_pub, *ed_priv, *ed_pub, *other_priv;
	certpin_keyset *trusted; /* ec and ed */
	char ec_kid[CERTPIN_KID_STRLEN], ed_kid[CERTPIN_KID_STRLEN];
};
static struct keys K;

static int setup(void **state)
{
	(void)state;
	K.ec = tu_key(TU_P256);
	K.ed = tu_key(TU_ED25519);
	K.other = tu_key(TU_P256);
	K.ec_priv = pem_of(K.ec, 1);
	K.ec_pub = pem_of(K.ec, 0);
	K.ed_priv = pem_of(K.ed, 1);
	K.ed_pub = pem_of(K.ed, 0);
	K.other_priv = pem_of(K.other, 1);
	K.trusted = certpin_keyset_new();
	assert_int_equal(certpin_keyset_add_pem(K.trusted, K.ec_pub, strlen(K.ec_pub), K.ec_kid, NULL),
	                 CERTPIN_OK);
	assert_int_equal(certpin_keyset_add_pem(K.trusted, K.ed_pub, strlen(K.ed_pub), K.ed_kid, NULL),
	                 CERTPIN_OK);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	certpin_keyset_free(K.trusted);
	EVP_PKEY_free(K.ec);
	EVP_PKEY_free(K.ed);
	EVP_PKEY_free(K.other);
	free(K.ec_priv);
	free(K.ec_pub);
	free(K.ed_priv);
	free(K.ed_pub);
	free(K.other_priv);
	return 0;
}

static char *sign_with(const char *key_pem, const char *policy, int64_t seq, int64_t iat,
                       int64_t exp, const char *aud)
{
	certpin_bundle_claims c = {.seq = seq, .iat = iat, .exp = exp, .aud = aud};
	char *out = NULL;
	certpin_error err;
	assert_int_equal(certpin_bundle_sign(policy, strlen(policy), key_pem, strlen(key_pem), &c,
	                                     &out, &err),
	                 CERTPIN_OK);
	return out;
}

/* A hand-made JWS: header and payload JSON, signed with key (or with the
 * raw signature bytes sig when key is NULL). */
static char *make_jws(const char *header, const char *payload, const char *key_pem,
                      const uint8_t *sig, size_t sl)
{
	size_t hl = strlen(header), pl = strlen(payload);
	char *out = malloc(hl * 2 + pl * 2 + 200);
	assert_non_null(out);
	size_t n = cp_b64url_encode((const uint8_t *)header, hl, out);
	out[n++] = '.';
	n += cp_b64url_encode((const uint8_t *)payload, pl, out + n);
	uint8_t s[64];
	if (key_pem != NULL) {
		cp_jkey *k = NULL;
		assert_int_equal(cp_jkey_from_pem(key_pem, strlen(key_pem), &k, NULL), CERTPIN_OK);
		assert_int_equal(cp_jkey_sign(k, (const uint8_t *)out, n, s), 0);
		cp_jkey_free(k);
		sig = s;
		sl = 64;
	}
	out[n++] = '.';
	n += cp_b64url_encode(sig, sl, out + n);
	out[n] = '\0';
	return out;
}

static certpin_err verify(const char *jws, const char *aud, certpin_error *err)
{
	certpin_bundle *b = NULL;
	certpin_err rc = certpin_bundle_verify(jws, strlen(jws), "b.jws", K.trusted, NOW, aud, &b, err);
	if (rc == CERTPIN_OK)
		assert_non_null(b);
	else
		assert_null(b);
	certpin_bundle_free(b);
	return rc;
}

static void expect_refusal(const char *jws, certpin_err code, const char *msg_part)
{
	certpin_error err;
	memset(&err, 0, sizeof err);
	assert_int_equal(verify(jws, NULL, &err), code);
	if (strstr(err.message, msg_part) == NULL)
		fail_msg("message '%s' lacks '%s'", err.message, msg_part);
	assert_string_equal(err.file, "b.jws");
}

static char *header_for(const char *alg, const char *kid)
{
	static char h[256];
	snprintf(h, sizeof h, "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"certpin-bundle+jws\"}", alg,
	         kid);
	return h;
}

static const char *payload_with(const char *claims)
{
	static char p[1024];
	snprintf(p, sizeof p,
	         "{\"certpin\":1,\"domains\":[{\"host\":\"api.test\",\"pins\":["
	         "\"sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]}]%s%s}",
	         claims[0] ? "," : "", claims);
	return p;
}

#define GOOD_CLAIMS "\"seq\":3,\"iat\":1700000000,\"exp\":1900000000"

/* ---- base64url ------------------------------------------------------------ */

static void b64url_round_trips_and_refuses_non_canonical(void **state)
{
	(void)state;
	uint8_t in[5] = {0xfb, 0xff, 0x00, 0x3e, 0x7f}, out[8];
	char text[16];
	for (size_t n = 0; n <= 5; n++) {
		size_t l = cp_b64url_encode(in, n, text);
		assert_null(strchr(text, '='));
		assert_int_equal(cp_b64url_decode(text, l, out, sizeof out), n);
		assert_memory_equal(in, out, n);
	}
	assert_string_equal((cp_b64url_encode(in, 2, text), text), "-_8");
	assert_int_equal(cp_b64url_decode("-_8=", 4, out, sizeof out), (size_t)-1); /* padding */
	assert_int_equal(cp_b64url_decode("+/8", 3, out, sizeof out), (size_t)-1);  /* std alphabet */
	assert_int_equal(cp_b64url_decode("-_9", 3, out, sizeof out), (size_t)-1);  /* unused bits */
	assert_int_equal(cp_b64url_decode("A", 1, out, sizeof out), (size_t)-1);    /* 1 mod 4 */
	assert_int_equal(cp_b64url_decode("AAAA", 4, out, 2), (size_t)-1);         /* over cap */
}

/* ---- keys ---------------------------------------------------------------------- */

static void ed25519_kid_matches_rfc8037_vector(void **state)
{
	(void)state;
	/* RFC 8037 A.2/A.3: x and its RFC 7638 thumbprint */
	uint8_t x[32];
	assert_int_equal(cp_b64url_decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", 43, x,
	                                  sizeof x),
	                 32);
	EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, 32);
	assert_non_null(k);
	char *pem = pem_of(k, 0), kid[CERTPIN_KID_STRLEN];
	certpin_keyset *ks = certpin_keyset_new();
	assert_int_equal(certpin_keyset_add_pem(ks, pem, strlen(pem), kid, NULL), CERTPIN_OK);
	assert_string_equal(kid, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
	certpin_keyset_free(ks);
	free(pem);
	EVP_PKEY_free(k);
}

/* small-order and non-canonical Ed25519 points: a signature would verify
 * for any message, so such a key must never be trusted */
static void weak_ed25519_keys_are_refused(void **state)
{
	(void)state;
	uint8_t pts[4][32];
	memset(pts, 0, sizeof pts);
	pts[0][0] = 1;                              /* identity (order 1) */
	memset(pts[1], 0xff, 32), pts[1][0] = 0xec, pts[1][31] = 0x7f; /* p-1 (order 2) */
	memset(pts[2], 0xff, 32), pts[2][0] = 0xee, pts[2][31] = 0x7f; /* p+1: non-canonical 1 */
	pts[3][0] = 1, pts[3][31] = 0x80;          /* identity with the sign bit */
	for (int i = 0; i < 4; i++) {
		EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pts[i], 32);
		assert_non_null(k);
		char *pem = pem_of(k, 0);
		certpin_keyset *ks = certpin_keyset_new();
		certpin_error err;
		assert_int_equal(certpin_keyset_add_pem(ks, pem, strlen(pem), NULL, &err), CERTPIN_E_KEY_FILE);
		certpin_keyset_free(ks);
		free(pem);
		EVP_PKEY_free(k);
	}
	/* and not through a bundle's signer set either */
	char *t = make_jws(header_for("ES256", K.ec_kid),
	                   payload_with(GOOD_CLAIMS ",\"signers\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
	                                "\"x\":\"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}]"),
	                   K.ec_priv, NULL, 0);
	certpin_error err;
	assert_int_equal(verify(t, NULL, &err), CERTPIN_E_BUNDLE);
	assert_non_null(strstr(err.message, "valid Ed25519 key"));
	free(t);
}

static void keyset_refuses_rsa_duplicates_and_a_17th_key(void **state)
{
	(void)state;
	certpin_error err;
	certpin_keyset *ks = certpin_keyset_new();
	EVP_PKEY *rsa = tu_key(TU_RSA2048);
	char *pem = pem_of(rsa, 0);
	assert_int_equal(certpin_keyset_add_pem(ks, pem, strlen(pem), NULL, &err), CERTPIN_E_KEY_FILE);
	assert_non_null(strstr(err.message, "not P-256 (ES256) or Ed25519"));
	assert_int_equal(certpin_keyset_add_pem(ks, K.ec_pub, strlen(K.ec_pub), NULL, NULL), CERTPIN_OK);
	/* the private key of the same pair is the same key */
	assert_int_equal(certpin_keyset_add_pem(ks, K.ec_priv, strlen(K.ec_priv), NULL, &err),
	                 CERTPIN_E_DUPLICATE);
	assert_int_equal(certpin_keyset_add_pem(ks, "junk", 4, NULL, &err), CERTPIN_E_KEY_FILE);
	for (int i = 1; i < 16; i++) {
		EVP_PKEY *k = tu_key(TU_P256);
		char *p = pem_of(k, 0);
		assert_int_equal(certpin_keyset_add_pem(ks, p, strlen(p), NULL, NULL), CERTPIN_OK);
		free(p);
		EVP_PKEY_free(k);
	}
	assert_int_equal(certpin_keyset_count(ks), 16);
	assert_int_equal(certpin_keyset_add_pem(ks, K.ed_pub, strlen(K.ed_pub), NULL, &err),
	                 CERTPIN_E_TOO_LARGE);
	certpin_keyset_free(ks);
	free(pem);
	EVP_PKEY_free(rsa);
}

static void encrypted_key_is_refused_without_prompting(void **state)
{
	(void)state;
	BIO *b = BIO_new(BIO_s_mem());
	char pass[] = "secret";
	assert_int_equal(PEM_write_bio_PKCS8PrivateKey(b, K.ec, EVP_aes_128_cbc(), pass,
	                                               (int)strlen(pass), NULL, NULL),
	                 1);
	char *data;
	long l = BIO_get_mem_data(b, &data);
	certpin_error err;
	certpin_keyset *ks = certpin_keyset_new();
	assert_int_equal(certpin_keyset_add_pem(ks, data, (size_t)l, NULL, &err), CERTPIN_E_KEY_FILE);
	certpin_keyset_free(ks);
	BIO_free(b);
}

/* ---- round trips ---------------------------------------------------------------- */

static void es256_and_eddsa_bundles_round_trip(void **state)
{
	(void)state;
	const char *privs[2] = {K.ec_priv, K.ed_priv}, *algs[2] = {"ES256", "EdDSA"};
	const char *kids[2] = {K.ec_kid, K.ed_kid};
	for (int i = 0; i < 2; i++) {
		char *jws = sign_with(privs[i], POLICY, 7, NOW - 10, NOW + 3600, "com.example.app");
		certpin_bundle *b = NULL;
		certpin_error err;
		assert_int_equal(certpin_bundle_verify(jws, strlen(jws), "x", K.trusted, NOW,
		                                       "com.example.app", &b, &err),
		                 CERTPIN_OK);
		assert_int_equal(certpin_bundle_seq(b), 7);
		assert_int_equal(certpin_bundle_iat(b), NOW - 10);
		assert_int_equal(certpin_bundle_exp(b), NOW + 3600);
		assert_string_equal(certpin_bundle_aud(b), "com.example.app");
		assert_string_equal(certpin_bundle_alg(b), algs[i]);
		assert_string_equal(certpin_bundle_kid(b), kids[i]);
		assert_null(certpin_bundle_signers(b));
		certpin_policy *p = certpin_bundle_policy(b);
		assert_int_equal(certpin_policy_rule_count(p), 1);
		assert_non_null(certpin_policy_lookup(p, "api.test"));
		certpin_bundle_free(b);
		/* a trailing newline (a file, an HTTP body) is fine */
		size_t l = strlen(jws);
		char *nl = malloc(l + 2);
		memcpy(nl, jws, l);
		memcpy(nl + l, "\n", 2);
		assert_int_equal(verify(nl, NULL, NULL), CERTPIN_OK);
		free(nl);
		free(jws);
	}
}

static void signer_set_round_trips(void **state)
{
	(void)state;
	certpin_keyset *next = certpin_keyset_new();
	assert_int_equal(certpin_keyset_add_pem(next, K.other_priv, strlen(K.other_priv), NULL, NULL),
	                 CERTPIN_OK);
	assert_int_equal(certpin_keyset_add_pem(next, K.ed_pub, strlen(K.ed_pub), NULL, NULL),
	                 CERTPIN_OK);
	certpin_bundle_claims c = {.seq = 2, .iat = NOW, .exp = NOW + 60, .signers = next};
	char *jws = NULL;
	assert_int_equal(certpin_bundle_sign(POLICY, strlen(POLICY), K.ec_priv, strlen(K.ec_priv), &c,
	                                     &jws, NULL),
	                 CERTPIN_OK);
	certpin_bundle *b = NULL;
	assert_int_equal(certpin_bundle_verify(jws, strlen(jws), "x", K.trusted, NOW - 1, NULL, &b,
	                                       NULL),
	                 CERTPIN_OK);
	const certpin_keyset *s = certpin_bundle_signers(b);
	assert_non_null(s);
	assert_int_equal(certpin_keyset_count(s), 2);
	/* the next bundle, signed by the new key, verifies with the carried set */
	char *jws2 = sign_with(K.other_priv, POLICY, 3, NOW, NOW + 60, NULL);
	certpin_bundle *b2 = NULL;
	assert_int_equal(certpin_bundle_verify(jws2, strlen(jws2), "x", s, NOW, NULL, &b2, NULL),
	                 CERTPIN_OK);
	/* and not with the old set */
	assert_int_equal(verify(jws2, NULL, NULL), CERTPIN_E_SIGNATURE);
	certpin_bundle_free(b2);
	certpin_bundle_free(b);
	certpin_keyset_free(next);
	free(jws);
	free(jws2);
}

static void decode_unverified_gives_header_and_payload(void **state)
{
	(void)state;
	char *jws = sign_with(K.ec_priv, POLICY, 1, NOW, NOW + 5, NULL), *h = NULL, *p = NULL;
	assert_int_equal(certpin_bundle_decode_unverified(jws, strlen(jws), &h, &p, NULL), CERTPIN_OK);
	assert_non_null(strstr(h, "\"typ\":\"certpin-bundle+jws\""));
	assert_non_null(strstr(p, "\"seq\":1"));
	free(h);
	free(p);
	assert_int_equal(certpin_bundle_decode_unverified("a.b", 3, &h, &p, NULL), CERTPIN_E_BUNDLE);
	free(jws);
}

/* ---- refusals ---------------------------------------------------------------------- */

static void tampered_payload_and_header_are_refused(void **state)
{
	(void)state;
	char *jws = sign_with(K.ec_priv, POLICY, 1, NOW, NOW + 60, NULL);
	char *d1 = strchr(jws, '.'), *d2 = strchr(d1 + 1, '.');
	/* flip a payload character to another valid base64url one */
	char *t = strdup(jws);
	size_t pi = (size_t)(d1 - jws) + 5;
	t[pi] = t[pi] == 'A' ? 'B' : 'A';
	expect_refusal(t, CERTPIN_E_SIGNATURE, "does not verify");
	free(t);
	/* a header with the same alg and kid but re-encoded (whitespace) */
	char hdr[256];
	snprintf(hdr, sizeof hdr, "{\"alg\":\"ES256\", \"kid\":\"%s\",\"typ\":\"certpin-bundle+jws\"}",
	         K.ec_kid);
	char hb[400];
	size_t hl = cp_b64url_encode((const uint8_t *)hdr, strlen(hdr), hb);
	size_t tl = hl + strlen(d1) + 1;
	t = malloc(tl);
	memcpy(t, hb, hl);
	strcpy(t + hl, d1);
	expect_refusal(t, CERTPIN_E_SIGNATURE, "does not verify");
	free(t);
	/* truncated signature */
	t = strdup(jws);
	t[(size_t)(d2 - jws) + 10] = '\0';
	expect_refusal(t, CERTPIN_E_SIGNATURE, "not 64 bytes");
	free(t);
	free(jws);
}

static void unknown_key_is_refused(void **state)
{
	(void)state;
	char *jws = sign_with(K.other_priv, POLICY, 1, NOW, NOW + 60, NULL);
	expect_refusal(jws, CERTPIN_E_SIGNATURE, "no trusted signer key has kid");
	free(jws);
	/* the right kid, signed by another key */
	char *forged = make_jws(header_for("ES256", K.ec_kid), payload_with(GOOD_CLAIMS), K.other_priv,
	                        NULL, 0);
	expect_refusal(forged, CERTPIN_E_SIGNATURE, "does not verify");
	free(forged);
}

static void alg_none_and_unknown_algs_are_refused(void **state)
{
	(void)state;
	const char *algs[] = {"none", "HS256", "RS256", "ES384", "PS256", "es256", "Ed25519", ""};
	for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
		char *t = make_jws(header_for(algs[i], K.ec_kid), payload_with(GOOD_CLAIMS), NULL,
		                   (const uint8_t *)"0123456789012345678901234567890123456789012345678901234567890123",
		                   64);
		expect_refusal(t, CERTPIN_E_SIGNATURE, "is refused (only ES256 and EdDSA)");
		free(t);
	}
	/* unsigned: "header.payload." */
	char *t = make_jws(header_for("none", K.ec_kid), payload_with(GOOD_CLAIMS), NULL,
	                   (const uint8_t *)"", 0);
	expect_refusal(t, CERTPIN_E_BUNDLE, "an unsigned JWS is refused");
	free(t);
}

static void hs256_with_the_public_key_as_secret_is_refused(void **state)
{
	(void)state;
	/* the classic confusion attack: HMAC keyed with the verifier's public key */
	const char *h = header_for("HS256", K.ec_kid), *p = payload_with(GOOD_CLAIMS);
	char si[2048];
	size_t n = cp_b64url_encode((const uint8_t *)h, strlen(h), si);
	si[n++] = '.';
	n += cp_b64url_encode((const uint8_t *)p, strlen(p), si + n);
	uint8_t mac[32];
	unsigned ml = 0;
	assert_non_null(HMAC(EVP_sha256(), K.ec_pub, (int)strlen(K.ec_pub), (const uint8_t *)si, n,
	                     mac, &ml));
	char *t = make_jws(h, p, NULL, mac, ml);
	expect_refusal(t, CERTPIN_E_SIGNATURE, "\"HS256\" is refused");
	free(t);
}

static void alg_that_does_not_match_the_key_is_refused(void **state)
{
	(void)state;
	/* EdDSA header naming the P-256 key, signed by the Ed25519 key */
	char *t = make_jws(header_for("EdDSA", K.ec_kid), payload_with(GOOD_CLAIMS), K.ed_priv, NULL, 0);
	expect_refusal(t, CERTPIN_E_SIGNATURE, "the header says EdDSA but key");
	free(t);
	t = make_jws(header_for("ES256", K.ed_kid), payload_with(GOOD_CLAIMS), K.ec_priv, NULL, 0);
	expect_refusal(t, CERTPIN_E_SIGNATURE, "is an Ed25519 key");
	free(t);
}

static void header_must_be_exactly_alg_kid_typ(void **state)
{
	(void)state;
	char h[512];
	const char *p = payload_with(GOOD_CLAIMS);
	snprintf(h, sizeof h,
	         "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"certpin-bundle+jws\",\"jku\":\"https://x\"}",
	         K.ec_kid);
	char *t = make_jws(h, p, K.ec_priv, NULL, 0);
	expect_refusal(t, CERTPIN_E_BUNDLE, "only alg, kid and typ");
	free(t);
	snprintf(h, sizeof h, "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"JWT\"}", K.ec_kid);
	t = make_jws(h, p, K.ec_priv, NULL, 0);
	expect_refusal(t, CERTPIN_E_BUNDLE, "\"typ\" must be");
	free(t);
	snprintf(h, sizeof h, "{\"alg\":\"ES256\",\"typ\":\"certpin-bundle+jws\"}");
	t = make_jws(h, p, K.ec_priv, NULL, 0);
	expect_refusal(t, CERTPIN_E_BUNDLE, "\"kid\" must be");
	free(t);
	snprintf(h, sizeof h,
	         "{\"alg\":\"ES256\",\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"certpin-bundle+jws\"}",
	         K.ec_kid);
	t = make_jws(h, p, K.ec_priv, NULL, 0);
	expect_refusal(t, CERTPIN_E_BUNDLE, "not valid JSON");
	free(t);
	t = make_jws("[1]", p, K.ec_priv, NULL, 0);
	expect_refusal(t, CERTPIN_E_BUNDLE, "not a JSON object");
	free(t);
}

static void structure_is_strict(void **state)
{
	(void)state;
	char *jws = sign_with(K.ec_priv, POLICY, 1, NOW, NOW + 60, NULL);
	size_t l = strlen(jws);
	char *t = malloc(l + 8);
	expect_refusal("abc", CERTPIN_E_BUNDLE, "compact serialization");
	expect_refusal("a.b", CERTPIN_E_BUNDLE, "compact serialization");
	snprintf(t, l + 8, "%s.x", jws);
	expect_refusal(t, CERTPIN_E_BUNDLE, "compact serialization");
	snprintf(t, l + 8, "%s", strchr(jws, '.')); /* empty header */
	expect_refusal(t, CERTPIN_E_BUNDLE, "part is empty");
	snprintf(t, l + 8, "%s=", jws); /* padding on the signature */
	expect_refusal(t, CERTPIN_E_SIGNATURE, "canonical base64url");
	memcpy(t, jws, l + 1);
	t[1] = '+'; /* standard alphabet in the header */
	expect_refusal(t, CERTPIN_E_BUNDLE, "not canonical unpadded base64url");
	free(t);
	/* over the hard cap */
	char *big = malloc(CERTPIN_BUNDLE_MAX + 2);
	memset(big, 'A', CERTPIN_BUNDLE_MAX + 1);
	big[CERTPIN_BUNDLE_MAX + 1] = '\0';
	expect_refusal(big, CERTPIN_E_TOO_LARGE, "at most");
	free(big);
	free(jws);
}

static void claims_are_checked(void **state)
{
	(void)state;
	static const struct {
		const char *claims, *msg, *path;
	} cases[] = {
		{"\"iat\":1,\"exp\":1900000000", "no \"seq\" claim", "$.seq"},
		{"\"seq\":0,\"iat\":1,\"exp\":1900000000", "\"seq\" must be 1..", "$.seq"},
		{"\"seq\":1.5,\"iat\":1,\"exp\":1900000000", "\"seq\" must be an integer", "$.seq"},
		{"\"seq\":\"2\",\"iat\":1,\"exp\":1900000000", "\"seq\" must be an integer", "$.seq"},
		{"\"seq\":9007199254740992,\"iat\":1,\"exp\":1900000000", "\"seq\" must be 1..", "$.seq"},
		{"\"seq\":1,\"exp\":1900000000", "no \"iat\" claim", "$.iat"},
		{"\"seq\":1,\"iat\":1900000000,\"exp\":1900000000", "\"exp\" must be after", "$.exp"},
		{GOOD_CLAIMS ",\"aud\":\"\"", "\"aud\" must be a string", "$.aud"},
		{GOOD_CLAIMS ",\"aud\":7", "\"aud\" must be a string", "$.aud"},
		{GOOD_CLAIMS ",\"signers\":[]", "\"signers\" must be an array", "$.signers"},
		{GOOD_CLAIMS ",\"signers\":[{\"kty\":\"RSA\",\"crv\":\"x\",\"x\":\"AA\"}]",
		 "EC P-256 or OKP Ed25519", "$.signers[0]"},
		{GOOD_CLAIMS ",\"signers\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AA\"}]",
		 "valid Ed25519 key", "$.signers[0]"},
		{GOOD_CLAIMS ",\"signers\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
		             "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\",\"d\":\"AA\"}]",
		 "no private or other members", "$.signers[0]"},
		{GOOD_CLAIMS ",\"signers\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
		             "\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
		             "\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}]",
		 "valid P-256 key", "$.signers[0]"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *t = make_jws(header_for("ES256", K.ec_kid), payload_with(cases[i].claims), K.ec_priv,
		                   NULL, 0);
		certpin_error err;
		memset(&err, 0, sizeof err);
		assert_int_equal(verify(t, NULL, &err), CERTPIN_E_BUNDLE);
		if (strstr(err.message, cases[i].msg) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", i, err.message, cases[i].msg);
		assert_string_equal(err.path, cases[i].path);
		free(t);
	}
}

static void expired_bundle_and_wrong_audience_are_refused(void **state)
{
	(void)state;
	char *jws = sign_with(K.ec_priv, POLICY, 4, NOW - 100, NOW, "app.one");
	expect_refusal(jws, CERTPIN_E_EXPIRED, "expired at 2027-01-15T08:00:00Z");
	free(jws);
	jws = sign_with(K.ec_priv, POLICY, 4, NOW - 100, NOW + 100, "app.one");
	certpin_error err;
	assert_int_equal(verify(jws, "app.two", &err), CERTPIN_E_AUDIENCE);
	assert_non_null(strstr(err.message, "is for \"app.one\", not \"app.two\""));
	assert_int_equal(verify(jws, "app.one", NULL), CERTPIN_OK);
	free(jws);
	jws = sign_with(K.ec_priv, POLICY, 4, NOW - 100, NOW + 100, NULL);
	assert_int_equal(verify(jws, "app.one", &err), CERTPIN_E_AUDIENCE);
	assert_non_null(strstr(err.message, "(no aud)"));
	free(jws);
}

static void payload_policy_errors_name_the_path(void **state)
{
	(void)state;
	const char *p = "{\"certpin\":1,\"domains\":[{\"host\":\"api.test\",\"pins\":[\"sha1/AAAA\"]}],"
	                GOOD_CLAIMS "}";
	char *t = make_jws(header_for("ES256", K.ec_kid), p, K.ec_priv, NULL, 0);
	certpin_error err;
	assert_int_equal(verify(t, NULL, &err), CERTPIN_E_PIN_ALGORITHM);
	assert_string_equal(err.path, "$.domains[0].pins[0]");
	assert_int_equal(err.line, 0);
	free(t);
	p = "{\"certpin\":1,\"domains\":[{\"host\":\"api.test\",\"pin_files\":[\"/etc/ssl/x.pem\"]}],"
	    GOOD_CLAIMS "}";
	t = make_jws(header_for("ES256", K.ec_kid), p, K.ec_priv, NULL, 0);
	assert_int_equal(verify(t, NULL, &err), CERTPIN_E_BUNDLE);
	assert_non_null(strstr(err.message, "cannot use pin_files"));
	assert_string_equal(err.path, "$.domains[0].pin_files");
	free(t);
	t = make_jws(header_for("ES256", K.ec_kid), "{\"seq\":1,", K.ec_priv, NULL, 0);
	expect_refusal(t, CERTPIN_E_BUNDLE, "the payload is not valid JSON");
	free(t);
}

static void signing_refuses_bad_input(void **state)
{
	(void)state;
	certpin_bundle_claims c = {.seq = 1, .iat = NOW, .exp = NOW + 1};
	char *out = NULL;
	certpin_error err;
	assert_int_equal(certpin_bundle_sign(POLICY, strlen(POLICY), K.ec_pub, strlen(K.ec_pub), &c,
	                                     &out, &err),
	                 CERTPIN_E_KEY_FILE);
	assert_non_null(strstr(err.message, "needs a private key"));
	const char *with_claim = "{\"certpin\":1,\"domains\":[],\"seq\":4}";
	assert_int_equal(certpin_bundle_sign(with_claim, strlen(with_claim), K.ec_priv,
	                                     strlen(K.ec_priv), &c, &out, &err),
	                 CERTPIN_E_SCHEMA);
	assert_non_null(strstr(err.message, "already has \"seq\""));
	const char *bad = "{\"certpin\":2,\"domains\":[]}";
	assert_int_equal(certpin_bundle_sign(bad, strlen(bad), K.ec_priv, strlen(K.ec_priv), &c, &out,
	                                     &err),
	                 CERTPIN_E_SCHEMA);
	c.exp = c.iat;
	assert_int_equal(certpin_bundle_sign(POLICY, strlen(POLICY), K.ec_priv, strlen(K.ec_priv), &c,
	                                     &out, &err),
	                 CERTPIN_E_INVALID_ARG);
	c.exp = NOW + 1;
	c.seq = 0;
	assert_int_equal(certpin_bundle_sign(POLICY, strlen(POLICY), K.ec_priv, strlen(K.ec_priv), &c,
	                                     &out, &err),
	                 CERTPIN_E_INVALID_ARG);
	assert_null(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(b64url_round_trips_and_refuses_non_canonical),
		cmocka_unit_test(ed25519_kid_matches_rfc8037_vector),
		cmocka_unit_test(keyset_refuses_rsa_duplicates_and_a_17th_key),
		cmocka_unit_test(weak_ed25519_keys_are_refused),
		cmocka_unit_test(encrypted_key_is_refused_without_prompting),
		cmocka_unit_test(es256_and_eddsa_bundles_round_trip),
		cmocka_unit_test(signer_set_round_trips),
		cmocka_unit_test(decode_unverified_gives_header_and_payload),
		cmocka_unit_test(tampered_payload_and_header_are_refused),
		cmocka_unit_test(unknown_key_is_refused),
		cmocka_unit_test(alg_none_and_unknown_algs_are_refused),
		cmocka_unit_test(hs256_with_the_public_key_as_secret_is_refused),
		cmocka_unit_test(alg_that_does_not_match_the_key_is_refused),
		cmocka_unit_test(header_must_be_exactly_alg_kid_typ),
		cmocka_unit_test(structure_is_strict),
		cmocka_unit_test(claims_are_checked),
		cmocka_unit_test(expired_bundle_and_wrong_audience_are_refused),
		cmocka_unit_test(payload_policy_errors_name_the_path),
		cmocka_unit_test(signing_refuses_bad_input),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
