/* Target: the payload of a bundle whose signature verified
 * (cp_bundle_parse_payload): the claims seq, iat, exp, aud and signers (JWKs
 * with point checks), expiry and audience, then the certpin policy with
 * pin_files refused. The signature stands in front of this code in
 * certpin_bundle_verify, so fuzz_bundle rarely reaches it with new content;
 * this target does directly. pin_files are refused before any file is
 * opened, so the fuzzer never reads the machine's files.
 *
 * Invariants (abort() on violation):
 *  - failure returns no bundle, err.code == the result and a message;
 *  - success gives a policy, seq 1..2^53-1, 0 <= iat < exp, exp after now,
 *    an aud of at most 256 characters (exactly the required one when one is
 *    required), and a signers key set of 1..16 keys or none;
 *  - a payload that is not a JSON object jansson accepts never succeeds;
 *  - requiring an audience never turns a failure into a success, and a
 *    later "now" never turns an expired bundle into a valid one.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certpin/certpin_bundle.h"
#include "fuzz.h"
#include "internal.h"

#define FUZZ_NOW 1800000000
#define FUZZ_AUD "com.example.app"

static certpin_err parse(const uint8_t *data, size_t size, int64_t now, const char *aud,
                         certpin_bundle **b)
{
	certpin_error err;
	memset(&err, 0, sizeof err);
	certpin_err rc = cp_bundle_parse_payload(data, size, "fuzz.json", now, aud, b, &err);
	if (rc != CERTPIN_OK) {
		CHECK(*b == NULL);
		CHECK(err.code == rc && err.message[0] != '\0');
		return rc;
	}
	CHECK(*b != NULL && certpin_bundle_policy(*b) != NULL);
	int64_t seq = certpin_bundle_seq(*b), iat = certpin_bundle_iat(*b),
	        exp = certpin_bundle_exp(*b);
	CHECK(seq >= 1 && seq <= 9007199254740991LL);
	CHECK(iat >= 0 && iat < exp && exp > now);
	const char *a = certpin_bundle_aud(*b);
	CHECK(strlen(a) <= 256);
	if (aud != NULL)
		CHECK(strcmp(a, aud) == 0);
	const certpin_keyset *s = certpin_bundle_signers(*b);
	if (s != NULL)
		CHECK(certpin_keyset_count(s) >= 1 && certpin_keyset_count(s) <= 16);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	certpin_bundle *b = NULL;
	certpin_err rc = parse(data, size, FUZZ_NOW, NULL, &b);
	if (rc == CERTPIN_OK) {
		json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
		CHECK(json_is_object(j));
		json_decref(j);
	}
	certpin_bundle_free(b);
	b = NULL;
	certpin_err rca = parse(data, size, FUZZ_NOW, FUZZ_AUD, &b);
	if (rca == CERTPIN_OK)
		CHECK(rc == CERTPIN_OK);
	certpin_bundle_free(b);
	b = NULL;
	certpin_err late = parse(data, size, FUZZ_NOW + 86400 * 365, NULL, &b);
	if (rc == CERTPIN_E_EXPIRED)
		CHECK(late == CERTPIN_E_EXPIRED);
	if (late == CERTPIN_OK)
		CHECK(rc == CERTPIN_OK);
	certpin_bundle_free(b);
	return 0;
}
