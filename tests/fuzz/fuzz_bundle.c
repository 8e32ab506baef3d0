/* Target: signed pin bundles as an app receives them: certpin_bundle_verify
 * (JWS split, strict base64url, header, algorithm allow-list, kid lookup,
 * ES256/EdDSA signature, then claims and policy) with a fixed key set of one
 * P-256 and one Ed25519 key, and certpin_bundle_decode_unverified on the same
 * bytes. The seeds are real bundles signed with these keys
 * (bundle_keys/, make_bundle_corpus.sh), so mutations start from a valid
 * signature; the claims behind it have their own target (fuzz_bundle_claims).
 *
 * Invariants (abort() on violation):
 *  - failure returns no bundle, err.code == the result and a message; the
 *    result is one of the documented codes;
 *  - success gives a policy, seq in 1..2^53-1, iat < exp, exp after "now",
 *    alg "ES256" or "EdDSA" and the kid of the key of that algorithm;
 *  - with an audience required, success means the bundle carries exactly it,
 *    and success with it implies success without it;
 *  - anything that verifies also decodes unverified, to a header that is a
 *    JSON object naming the same alg and kid.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certpin/certpin_bundle.h"
#include "fuzz.h"
#include "internal.h"

/* the public halves of tests/fuzz/bundle_keys/es256.pem and ed25519.pem */
static const char ES256_PUB[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEBlkxz7unnR0ip5BHo35vsxqSuf9g\n"
    "UjF3yIBQFekhyoQDxy8UvDir9x+NXDPH/Jz3So8N+kuxgvWXhU63kuV4mw==\n"
    "-----END PUBLIC KEY-----\n";
static const char ED25519_PUB[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEABhMfKv6yhWhgLP7mvRie5XHmMPDXSTdyzOJ1unkt1As=\n"
    "-----END PUBLIC KEY-----\n";
/* 2027-01-15: the long-lived seeds are valid then, the short-lived expired */
#define FUZZ_NOW 1800000000
#define FUZZ_AUD "com.example.app"

static certpin_keyset *keys;
static char es_kid[CERTPIN_KID_STRLEN], ed_kid[CERTPIN_KID_STRLEN];

static void init(void)
{
	if (keys != NULL)
		return;
	keys = certpin_keyset_new();
	CHECK(keys != NULL);
	CHECK(certpin_keyset_add_pem(keys, ES256_PUB, sizeof ES256_PUB - 1, es_kid, NULL) ==
	      CERTPIN_OK);
	CHECK(certpin_keyset_add_pem(keys, ED25519_PUB, sizeof ED25519_PUB - 1, ed_kid, NULL) ==
	      CERTPIN_OK);
}

static int documented(certpin_err rc)
{
	switch (rc) {
	case CERTPIN_E_TOO_LARGE:
	case CERTPIN_E_BUNDLE:
	case CERTPIN_E_SIGNATURE:
	case CERTPIN_E_EXPIRED:
	case CERTPIN_E_AUDIENCE:
	case CERTPIN_E_NOMEM:
	/* policy errors, from the payload's policy */
	case CERTPIN_E_JSON:
	case CERTPIN_E_SCHEMA:
	case CERTPIN_E_PIN_SYNTAX:
	case CERTPIN_E_PIN_ALGORITHM:
	case CERTPIN_E_HOST:
	case CERTPIN_E_DUPLICATE:
	case CERTPIN_E_TIME:
	case CERTPIN_E_KEY_FILE:
	case CERTPIN_E_DER:
	case CERTPIN_E_IO:
		return 1;
	default:
		return 0;
	}
}

static certpin_err verify(const char *text, size_t size, const char *aud, certpin_bundle **b)
{
	certpin_error err;
	memset(&err, 0, sizeof err);
	certpin_err rc = certpin_bundle_verify(text, size, "fuzz.jws", keys, FUZZ_NOW, aud, b, &err);
	if (rc != CERTPIN_OK) {
		CHECK(*b == NULL);
		CHECK(err.code == rc && err.message[0] != '\0');
		CHECK(documented(rc));
		return rc;
	}
	CHECK(*b != NULL && certpin_bundle_policy(*b) != NULL);
	int64_t seq = certpin_bundle_seq(*b), iat = certpin_bundle_iat(*b),
	        exp = certpin_bundle_exp(*b);
	CHECK(seq >= 1 && seq <= 9007199254740991LL);
	CHECK(iat >= 0 && iat < exp && exp > FUZZ_NOW);
	const char *alg = certpin_bundle_alg(*b), *kid = certpin_bundle_kid(*b);
	CHECK(strcmp(alg, "ES256") == 0 || strcmp(alg, "EdDSA") == 0);
	CHECK(strcmp(kid, alg[0] == 'E' && alg[1] == 'S' ? es_kid : ed_kid) == 0);
	if (aud != NULL)
		CHECK(strcmp(certpin_bundle_aud(*b), aud) == 0);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init();
	const char *text = (const char *)data;
	certpin_bundle *b = NULL, *ba = NULL;
	certpin_err rc = verify(text, size, NULL, &b);
	certpin_err rca = verify(text, size, FUZZ_AUD, &ba);
	if (rca == CERTPIN_OK)
		CHECK(rc == CERTPIN_OK);

	char *header = NULL, *payload = NULL;
	certpin_error err;
	memset(&err, 0, sizeof err);
	certpin_err drc = certpin_bundle_decode_unverified(text, size, &header, &payload, &err);
	if (drc != CERTPIN_OK) {
		CHECK(header == NULL && payload == NULL && err.code == drc);
		CHECK(drc == CERTPIN_E_BUNDLE || drc == CERTPIN_E_TOO_LARGE || drc == CERTPIN_E_NOMEM);
		CHECK(rc != CERTPIN_OK);
	} else {
		CHECK(header != NULL && payload != NULL);
	}
	if (rc == CERTPIN_OK) {
		CHECK(drc == CERTPIN_OK);
		json_t *h = json_loads(header, 0, NULL);
		CHECK(json_is_object(h));
		const char *alg = json_string_value(json_object_get(h, "alg"));
		const char *kid = json_string_value(json_object_get(h, "kid"));
		CHECK(alg != NULL && strcmp(alg, certpin_bundle_alg(b)) == 0);
		CHECK(kid != NULL && strcmp(kid, certpin_bundle_kid(b)) == 0);
		json_decref(h);
	}
	free(header);
	free(payload);
	certpin_bundle_free(ba);
	certpin_bundle_free(b);
	return 0;
}
