/*
 * The platform entry point: evaluate a policy on a chain of DER certificates
 * that the platform already validated.
 *
 * On iOS the chain comes from the Security framework after trust evaluation
 * (SecTrustEvaluateWithError, then SecTrustCopyCertificateChain and
 * SecCertificateCopyData for each certificate); on Android from
 * X509TrustManagerExtensions.checkServerTrusted(), which returns the cleaned,
 * validated chain (getEncoded() for each certificate). Either way the app
 * hands certpin the DER bytes, leaf first, and blocks the connection unless
 * the verdict allows it. See docs/platforms.md.
 *
 * usage: der_chain POLICY.json HOST LEAF.der [INTERMEDIATE.der ...]
 * exit:  0 allowed, 1 blocked, 4 bad input
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <certpin/certpin.h>

static unsigned char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	unsigned char *buf = malloc(CERTPIN_MAX_FILE_SIZE);
	if (buf != NULL)
		*len = fread(buf, 1, CERTPIN_MAX_FILE_SIZE, f);
	fclose(f);
	return buf;
}

int main(int argc, char **argv)
{
	if (argc < 4 || (size_t)(argc - 3) > CERTPIN_MAX_CHAIN) {
		fprintf(stderr, "usage: der_chain POLICY.json HOST LEAF.der [CA.der ...]\n");
		return 4;
	}

	/* Load once at start-up; the policy is immutable and may be shared by threads. */
	certpin_policy *policy = NULL;
	certpin_error err;
	if (certpin_policy_load_file(argv[1], 0, &policy, NULL, &err) != CERTPIN_OK) {
		char line[1024];
		certpin_error_format(&err, line, sizeof line);
		fprintf(stderr, "der_chain: %s\n", line);
		return 4;
	}

	/* The validated chain as the platform hands it over: DER, leaf first. */
	certpin_der chain[CERTPIN_MAX_CHAIN];
	unsigned char *bufs[CERTPIN_MAX_CHAIN] = {0};
	size_t n = (size_t)(argc - 3);
	int ret = 4;
	for (size_t i = 0; i < n; i++) {
		bufs[i] = read_all(argv[3 + i], &chain[i].len);
		if (bufs[i] == NULL) {
			fprintf(stderr, "der_chain: cannot read %s\n", argv[3 + i]);
			goto out;
		}
		chain[i].der = bufs[i];
	}

	certpin_verdict *v = NULL;
	if (certpin_evaluate(policy, argv[2], chain, n, (int64_t)time(NULL), &v) != CERTPIN_OK) {
		fprintf(stderr, "der_chain: evaluation failed: blocking\n");
		certpin_verdict_free(v);
		ret = 1;
		goto out;
	}
	char msg[4096];
	certpin_verdict_format(v, msg, sizeof msg);
	fputs(msg, stdout);
	printf("verdict: %s\n", certpin_verdict_code_name(certpin_verdict_get_code(v)));
	/* Fail closed: only an allowed verdict lets the connection go on. */
	ret = certpin_verdict_allowed(v) ? 0 : 1;
	certpin_verdict_free(v);
out:
	for (size_t i = 0; i < n; i++)
		free(bufs[i]);
	certpin_policy_free(policy);
	return ret;
}
