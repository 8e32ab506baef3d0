/*
 * certpin eval: validate a chain offline with OpenSSL, then evaluate a policy
 * on the validated chain. Answers "will the apps I shipped accept this
 * certificate?" before it is deployed.
 */
#include <errno.h>
#include <getopt.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certpin/certpin.h"
#include "certpin/certpin_openssl.h"
#include "cli.h"

static void eval_usage(FILE *f)
{
	fprintf(f,
	        "usage: certpin eval --policy POLICY --chain CHAIN.pem [--cafile CA.pem] [--at TIME]\n"
	        "                    [--max-depth N] [--json] HOST\n"
	        "\n"
	        "Validates CHAIN (leaf first; further certificates are untrusted intermediates)\n"
	        "for HOST at TIME with OpenSSL, then evaluates POLICY on the validated chain.\n"
	        "\n"
	        "  --policy FILE  certpin policy JSON\n"
	        "  --chain FILE   PEM or DER certificates, leaf first\n"
	        "  --cafile FILE  trust anchors (replaces the system trust store)\n"
	        "  --at TIME      RFC 3339 time or YYYY-MM-DD (midnight UTC); default: now.\n"
	        "                 Sets the clock for certificate validity and pin-set expiry.\n"
	        "  --max-depth N  at most N intermediates between leaf and trust anchor\n"
	        "                 (default and cap: 14, certpin's bound)\n"
	        "  --json         print the verdict as JSON on stdout\n"
	        "\n"
	        "exit: 0 allowed, 1 blocked by pinning, 2 certificate validation failed,\n"
	        "      4 policy or input error, 64 usage\n");
}

int cmd_eval(int argc, char **argv)
{
	static const struct option opts[] = {
		{"policy", required_argument, NULL, 'p'}, {"chain", required_argument, NULL, 'c'},
		{"cafile", required_argument, NULL, 'C'}, {"at", required_argument, NULL, 't'},
		{"json", no_argument, NULL, 'j'},         {"help", no_argument, NULL, 'h'},
		{"max-depth", required_argument, NULL, 'd'},
		{NULL, 0, NULL, 0},
	};
	const char *policy_path = NULL, *chain_path = NULL, *cafile = NULL, *at = NULL;
	int json = 0, c;
	long max_depth = -1;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			policy_path = optarg;
			break;
		case 'c':
			chain_path = optarg;
			break;
		case 'C':
			cafile = optarg;
			break;
		case 't':
			at = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'd': {
			char *end = NULL;
			errno = 0;
			max_depth = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || max_depth < 0) {
				cli_error("eval: --max-depth '%s': not a number >= 0", optarg);
				return EXIT_USAGE;
			}
			if (max_depth > (long)CERTPIN_MAX_CHAIN - 2)
				max_depth = (long)CERTPIN_MAX_CHAIN - 2; /* certpin's own bound */
			break;
		}
		case 'h':
			eval_usage(stdout);
			return 0;
		default:
			cli_error("eval: unknown or incomplete option '%s' (see 'certpin eval --help')",
			          argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (policy_path == NULL || chain_path == NULL || optind != argc - 1) {
		cli_error("eval: needs --policy, --chain and one HOST (see 'certpin eval --help')");
		return EXIT_USAGE;
	}
	const char *host = argv[optind];

	char line[1024];
	certpin_error err;
	int64_t now = CERTPIN_TIME_NOW;
	if (at != NULL && certpin_time_parse(at, CERTPIN_TIME_DATE_START, &now, &err) != CERTPIN_OK) {
		cli_error("--at '%s': %s", at, err.message);
		return EXIT_USAGE;
	}
	certpin_policy *policy = NULL;
	if (certpin_policy_load_file(policy_path, 0, &policy, NULL, &err) != CERTPIN_OK) {
		certpin_error_format(&err, line, sizeof line);
		cli_error("%s", line);
		return EXIT_INPUT;
	}

	int ret = EXIT_INPUT;
	X509 *leaf = NULL;
	STACK_OF(X509) *rest = NULL;
	X509_STORE *store = X509_STORE_new();
	certpin_verdict *v = NULL;
	if (store == NULL || cli_load_chain(chain_path, &leaf, &rest) != 0)
		goto out;
	if (cafile != NULL) {
		if (X509_STORE_load_file(store, cafile) != 1) {
			cli_error("%s: cannot load CA certificates", cafile);
			goto out;
		}
	} else if (X509_STORE_set_default_paths(store) != 1) {
		cli_error("cannot load the system trust store");
		goto out;
	}
	if (max_depth >= 0)
		X509_STORE_set_depth(store, (int)max_depth); /* certpin only ever lowers it */
	if (certpin_openssl_verify(policy, host, leaf, rest, store, now, &v) != CERTPIN_OK &&
	    v == NULL) {
		cli_error("out of memory");
		ret = EXIT_BLOCKED;
		goto out;
	}
	cli_print_verdict(v, json);
	ret = cli_verdict_exit(certpin_verdict_get_code(v));
out:
	certpin_verdict_free(v);
	X509_free(leaf);
	sk_X509_pop_free(rest, X509_free);
	X509_STORE_free(store);
	certpin_policy_free(policy);
	return ret;
}
