/*
 * certpin probe: handshake with a server and show what to pin — the chain it
 * presented and the chain OpenSSL validated, each certificate with its SPKI
 * pin, subject, issuer, key, validity and days left, and a policy snippet.
 */
#include <getopt.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "certpin/certpin.h"
#include "cli.h"

static void probe_usage(FILE *f)
{
	fprintf(f,
	        "usage: certpin probe [--connect ADDR:PORT] [--cafile CA.pem] [--timeout S] [--json]\n"
	        "                     HOST[:PORT]\n"
	        "\n"
	        "Connects, handshakes and prints the chain the server presented and the chain\n"
	        "OpenSSL validated for HOST, each certificate with its SPKI pin, subject, issuer,\n"
	        "key, validity and days left, then a policy snippet to start from.\n"
	        "\n"
	        "  --connect ADDR:PORT  connect there but keep HOST for SNI and name checks\n"
	        "  --cafile FILE        trust anchors (replaces the system trust store)\n"
	        "  --timeout S          connect and handshake time limit (default 10)\n"
	        "  --json               machine-readable output on stdout\n"
	        "\n"
	        "exit: 0 validated, 2 certificate validation failed, 3 connection/TLS error,\n"
	        "      64 usage\n");
}

static void key_text(X509 *x, char *buf, size_t n)
{
	EVP_PKEY *pk = X509_get0_pubkey(x);
	if (pk == NULL) {
		snprintf(buf, n, "unknown");
		return;
	}
	int bits = EVP_PKEY_get_bits(pk);
	if (EVP_PKEY_is_a(pk, "EC")) {
		char group[64] = "";
		size_t gl = 0;
		if (EVP_PKEY_get_utf8_string_param(pk, "group", group, sizeof group, &gl) == 1) {
			const char *nist = EC_curve_nid2nist(OBJ_sn2nid(group));
			snprintf(buf, n, "EC %s", nist ? nist : group);
			return;
		}
	}
	snprintf(buf, n, "%s-%d", EVP_PKEY_get0_type_name(pk) ? EVP_PKEY_get0_type_name(pk) : "key",
	         bits);
}

static void name_text(const X509_NAME *name, char *buf, size_t n)
{
	buf[0] = '\0';
	BIO *b = BIO_new(BIO_s_mem());
	if (b == NULL)
		return;
	X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
	int k = BIO_read(b, buf, (int)n - 1);
	buf[k > 0 ? k : 0] = '\0';
	BIO_free(b);
}

static void time_text(const ASN1_TIME *t, char *buf, size_t n, long *days_left)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	if (ASN1_TIME_to_tm(t, &tm) != 1) {
		snprintf(buf, n, "?");
		*days_left = 0;
		return;
	}
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
	int d = 0, s = 0;
	if (ASN1_TIME_diff(&d, &s, NULL, t) == 1)
		*days_left = d;
	else
		*days_left = 0;
}

typedef struct cert_info {
	char pin[CERTPIN_PIN_STRLEN];
	char subject[512], issuer[512], key[64], not_before[32], not_after[32];
	long days_left;
	int is_ca;
} cert_info;

static int describe(X509 *x, cert_info *ci)
{
	memset(ci, 0, sizeof *ci);
	unsigned char *der = NULL;
	int len = i2d_X509(x, &der);
	certpin_pin pin;
	if (len <= 0 || certpin_pin_spki_from_cert_der(der, (size_t)len, &pin) != CERTPIN_OK ||
	    certpin_pin_format(&pin, ci->pin, sizeof ci->pin) == 0) {
		OPENSSL_free(der);
		return -1;
	}
	OPENSSL_free(der);
	name_text(X509_get_subject_name(x), ci->subject, sizeof ci->subject);
	name_text(X509_get_issuer_name(x), ci->issuer, sizeof ci->issuer);
	key_text(x, ci->key, sizeof ci->key);
	long unused;
	time_text(X509_get0_notBefore(x), ci->not_before, sizeof ci->not_before, &unused);
	time_text(X509_get0_notAfter(x), ci->not_after, sizeof ci->not_after, &ci->days_left);
	ci->is_ca = X509_check_ca(x) != 0;
	return 0;
}

static void print_chain_text(const char *title, STACK_OF(X509) *chain)
{
	printf("%s:\n", title);
	for (int i = 0; chain != NULL && i < sk_X509_num(chain); i++) {
		cert_info ci;
		if (describe(sk_X509_value(chain, i), &ci) != 0) {
			printf("  %d  (unreadable certificate)\n", i);
			continue;
		}
		printf("  %d  %s\n", i, ci.pin);
		printf("     subject:  %s\n", ci.subject);
		printf("     issuer:   %s\n", ci.issuer);
		printf("     key:      %s%s\n", ci.key, ci.is_ca ? " (CA)" : "");
		printf("     validity: %s .. %s (%ld days left)\n", ci.not_before, ci.not_after,
		       ci.days_left);
	}
}

static void print_chain_json(STACK_OF(X509) *chain)
{
	printf("[");
	for (int i = 0; chain != NULL && i < sk_X509_num(chain); i++) {
		cert_info ci;
		if (describe(sk_X509_value(chain, i), &ci) != 0)
			continue;
		printf("%s{\"pin\":\"%s\",\"subject\":", i ? "," : "", ci.pin);
		cli_json_string(stdout, ci.subject);
		printf(",\"issuer\":");
		cli_json_string(stdout, ci.issuer);
		printf(",\"key\":");
		cli_json_string(stdout, ci.key);
		printf(",\"is_ca\":%s,\"not_before\":\"%s\",\"not_after\":\"%s\",\"days_left\":%ld}",
		       ci.is_ca ? "true" : "false", ci.not_before, ci.not_after, ci.days_left);
	}
	printf("]");
}

static void print_snippet(const char *host, STACK_OF(X509) *chain)
{
	cert_info leaf, inter;
	int n = sk_X509_num(chain);
	if (n < 1 || describe(sk_X509_value(chain, 0), &leaf) != 0)
		return;
	int have_int = n >= 3 && describe(sk_X509_value(chain, 1), &inter) == 0;
	printf("\nPolicy snippet (the leaf's key%s; add a backup pin: a key you hold offline, e.g.\n"
	       "'certpin pin backup.key', or the pin of a second CA):\n",
	       have_int ? " and the issuing CA's key" : "");
	printf("{\n  \"certpin\": 1,\n  \"domains\": [\n    {\n      \"host\": \"%s\",\n", host);
	printf("      \"pins\": [\"%s\"%s%s%s],\n", leaf.pin, have_int ? ",\n               \"" : "",
	       have_int ? inter.pin : "", have_int ? "\"" : "");
	time_t t = time(NULL) + 365L * 86400;
	struct tm tm;
	gmtime_r(&t, &tm);
	char exp[16];
	strftime(exp, sizeof exp, "%Y-%m-%d", &tm);
	printf("      \"expires\": \"%s\"\n    }\n  ]\n}\n", exp);
}

int cmd_probe(int argc, char **argv)
{
	static const struct option opts[] = {
		{"connect", required_argument, NULL, 'c'}, {"cafile", required_argument, NULL, 'C'},
		{"timeout", required_argument, NULL, 't'}, {"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
	};
	const char *connect_to = NULL, *cafile = NULL;
	int json = 0, timeout = 10, c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			connect_to = optarg;
			break;
		case 'C':
			cafile = optarg;
			break;
		case 't':
			timeout = atoi(optarg);
			if (timeout < 1 || timeout > 600) {
				cli_error("probe: --timeout must be 1..600 seconds");
				return EXIT_USAGE;
			}
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			probe_usage(stdout);
			return 0;
		default:
			cli_error("probe: unknown or incomplete option '%s' (see 'certpin probe --help')",
			          argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		cli_error("probe: needs one HOST[:PORT] (see 'certpin probe --help')");
		return EXIT_USAGE;
	}
	struct cli_target tg;
	int bad = cli_target_parse("probe", argv[optind], connect_to, &tg);
	if (bad != 0)
		return bad;
	const char *name = tg.name, *caddr = tg.addr, *cport = tg.aport, *port = tg.port;
	int is_ip = tg.is_ip;

	int ret = EXIT_CONNECTION, fd = -1;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	char why[512];
	if (ctx == NULL)
		goto out;
	if (cli_load_trust(ctx, "probe", cafile) != 0) {
		ret = EXIT_INPUT;
		goto out;
	}
	/* Verify, but do not abort: the presented chain is shown either way. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	ssl = SSL_new(ctx);
	if (ssl == NULL)
		goto out;
	X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
	X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
	                                           X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
	X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
	if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name) != 1
	          : (SSL_set1_host(ssl, name) != 1 || SSL_set_tlsext_host_name(ssl, tg.name) != 1))
		goto out;

	struct timespec deadline;
	cli_deadline(&deadline, timeout);
	fd = cli_connect(caddr, cport, &deadline, why, sizeof why);
	if (fd < 0) {
		cli_error("probe: %s", why);
		goto out;
	}
	SSL_set_fd(ssl, fd);
	int hs = cli_handshake(ssl, &deadline);
	if (hs != 0) {
		if (hs == -2)
			snprintf(why, sizeof why, "TLS handshake timed out after %d s", timeout);
		else
			cli_openssl_error(why, sizeof why);
		cli_error("probe: %s:%s: %s", caddr, cport, why);
		goto out;
	}

	STACK_OF(X509) *presented = SSL_get_peer_cert_chain(ssl);
	long vr = SSL_get_verify_result(ssl);
	STACK_OF(X509) *validated = vr == X509_V_OK ? SSL_get0_verified_chain(ssl) : NULL;
	ret = vr == X509_V_OK ? 0 : EXIT_VALIDATION;
	if (json) {
		printf("{\"host\":");
		cli_json_string(stdout, name);
		char to[320];
		snprintf(to, sizeof to, "%s:%s", caddr, cport);
		printf(",\"port\":%s,\"connected_to\":", port);
		cli_json_string(stdout, to);
		printf(",\"protocol\":\"%s\",\"validated\":%s,\"verify_error\":", SSL_get_version(ssl),
		       vr == X509_V_OK ? "true" : "false");
		cli_json_string(stdout, vr == X509_V_OK ? "" : X509_verify_cert_error_string(vr));
		printf(",\"presented\":");
		print_chain_json(presented);
		printf(",\"validated_chain\":");
		print_chain_json(validated);
		printf("}\n");
	} else {
		printf("%s:%s (connected to %s:%s, %s)\n\n", name, port, caddr, cport,
		       SSL_get_version(ssl));
		print_chain_text("Presented chain (as the server sent it)", presented);
		printf("\n");
		if (validated != NULL) {
			print_chain_text("Validated chain (what pins are checked against)", validated);
			print_snippet(name, validated);
		} else {
			printf("Validation failed: %s\n", X509_verify_cert_error_string(vr));
			printf("(no validated chain: fix validation before pinning)\n");
		}
	}
out:
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	SSL_CTX_free(ctx);
	return ret;
}
