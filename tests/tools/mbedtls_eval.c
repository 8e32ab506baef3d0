/*
 * `certpin eval` on the mbedTLS build, for the differential tests:
 *   mbedtls_eval --policy P --chain CHAIN.pem --cafile CA.pem [--at EPOCH] HOST
 * Validates CHAIN (leaf first) with mbedTLS through certpin_mbedtls_verify
 * and prints "verdict: NAME" and the reason; exits like `certpin eval`
 * (0 allowed, 1 blocked by pinning, 2 validation failed, 4 input).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certpin/certpin_mbedtls.h"

int main(int argc, char **argv)
{
	const char *policy_path = NULL, *chain_path = NULL, *ca_path = NULL, *host = NULL;
	int64_t at = CERTPIN_MBEDTLS_TIME_NOW;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--policy") == 0 && i + 1 < argc)
			policy_path = argv[++i];
		else if (strcmp(argv[i], "--chain") == 0 && i + 1 < argc)
			chain_path = argv[++i];
		else if (strcmp(argv[i], "--cafile") == 0 && i + 1 < argc)
			ca_path = argv[++i];
		else if (strcmp(argv[i], "--at") == 0 && i + 1 < argc)
			at = strtoll(argv[++i], NULL, 10);
		else if (host == NULL)
			host = argv[i];
		else
			return 64;
	}
	if (policy_path == NULL || chain_path == NULL || ca_path == NULL || host == NULL)
		return 64;
	certpin_policy *p = NULL;
	certpin_error err;
	if (certpin_policy_load_file(policy_path, 0, &p, NULL, &err) != CERTPIN_OK) {
		fprintf(stderr, "mbedtls_eval: %s\n", err.message);
		return 4;
	}
	mbedtls_x509_crt chain, ca;
	mbedtls_x509_crt_init(&chain);
	mbedtls_x509_crt_init(&ca);
	int ex = 4;
	/* parse what parses: limbo has certificates mbedTLS refuses to parse */
	int bad_chain = mbedtls_x509_crt_parse_file(&chain, chain_path);
	int bad_ca = mbedtls_x509_crt_parse_file(&ca, ca_path);
	certpin_verdict *v = NULL;
	if (chain.raw.p == NULL || bad_chain != 0) {
		printf("verdict: CHAIN_INVALID\nreason: mbedTLS cannot parse the chain (%d)\n", bad_chain);
		ex = 2;
	} else if (certpin_mbedtls_verify(p, host, &chain, bad_ca < 0 ? NULL : &ca, at, &v) ==
	           CERTPIN_OK) {
		certpin_verdict_code c = certpin_verdict_get_code(v);
		printf("verdict: %s\nreason: %s\n", certpin_verdict_code_name(c), certpin_verdict_reason(v));
		ex = certpin_verdict_allowed(v) ? 0
		     : c == CERTPIN_V_CHAIN_INVALID || c == CERTPIN_V_HOSTNAME_MISMATCH ? 2
		                                                                          : 1;
	}
	certpin_verdict_free(v);
	mbedtls_x509_crt_free(&chain);
	mbedtls_x509_crt_free(&ca);
	certpin_policy_free(p);
	return ex;
}
