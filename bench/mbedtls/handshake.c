/*
 * The pin check's cost inside an mbedTLS handshake (make bench): the same
 * TLS 1.2 ECDHE-ECDSA P-256 handshake between an in-memory mbedTLS client
 * and server, with the client's config plain (mbedTLS validation only) or
 * with certpin attached (validation, then the pin check at depth 0).
 *
 *   certpin_mbedtls_bench DIR [--mode ab|plain|pinned] [--count N] [--rounds R]
 * DIR holds root.pem, chain.pem (leaf + intermediate), leaf.key and
 * policy.json (written by bench/mbedtls/run). ab (default) interleaves
 * rounds of N plain and N pinned handshakes and prints the medians; plain
 * and pinned run N handshakes of one kind (for callgrind and memcheck).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ssl.h>

#include <mbedtls/version.h>

#include "certpin/certpin_mbedtls.h"

struct pipe {
	unsigned char buf[1 << 16];
	size_t len;
};

/* One end of the connection: writes to out, reads from in. */
struct end {
	struct pipe *out, *in;
};

static int pipe_send(void *ctx, const unsigned char *b, size_t n)
{
	struct pipe *p = ((struct end *)ctx)->out;
	if (n > sizeof p->buf - p->len)
		n = sizeof p->buf - p->len;
	if (n == 0)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	memcpy(p->buf + p->len, b, n);
	p->len += n;
	return (int)n;
}

static int pipe_recv(void *ctx, unsigned char *b, size_t n)
{
	struct pipe *p = ((struct end *)ctx)->in;
	if (p->len == 0)
		return MBEDTLS_ERR_SSL_WANT_READ;
	if (n > p->len)
		n = p->len;
	memcpy(b, p->buf, n);
	memmove(p->buf, p->buf + n, p->len - n);
	p->len -= n;
	return (int)n;
}

static struct pipe c2s, s2c;
static struct end client_end = {&c2s, &s2c}, server_end = {&s2c, &c2s};
static mbedtls_ssl_config cconf_plain, cconf_pinned, sconf;
static mbedtls_ssl_context cli_plain, cli_pinned, srv;
static certpin_mbedtls_conn *conn;

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

/* One full handshake; 0 or -1. */
static int handshake(mbedtls_ssl_context *cli, int pinned)
{
	c2s.len = s2c.len = 0;
	if (mbedtls_ssl_session_reset(cli) != 0 || mbedtls_ssl_session_reset(&srv) != 0)
		return -1;
	if (pinned && certpin_mbedtls_setup(cli, conn) != CERTPIN_OK)
		return -1;
	int cd = 0, sd = 0;
	for (int i = 0; i < 1000 && !(cd && sd); i++) {
		if (!cd) {
			int r = mbedtls_ssl_handshake(cli);
			if (r == 0)
				cd = 1;
			else if (r != MBEDTLS_ERR_SSL_WANT_READ && r != MBEDTLS_ERR_SSL_WANT_WRITE)
				return -1;
		}
		if (!sd) {
			int r = mbedtls_ssl_handshake(&srv);
			if (r == 0)
				sd = 1;
			else if (r != MBEDTLS_ERR_SSL_WANT_READ && r != MBEDTLS_ERR_SSL_WANT_WRITE)
				return -1;
		}
	}
	if (!(cd && sd))
		return -1;
	return pinned && certpin_mbedtls_check(conn) != CERTPIN_OK ? -1 : 0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: certpin_mbedtls_bench DIR [--mode ab|plain|pinned] "
		                "[--count N] [--rounds R]\n");
		return 64;
	}
	const char *dir = argv[1], *mode = "ab";
	int count = 200, rounds = 9;
	for (int i = 2; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--mode") == 0)
			mode = argv[i + 1];
		else if (strcmp(argv[i], "--count") == 0)
			count = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--rounds") == 0)
			rounds = atoi(argv[i + 1]);
	}
	char path[4096];
	mbedtls_x509_crt root, chain;
	mbedtls_pk_context key;
	mbedtls_entropy_context ent;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_x509_crt_init(&root);
	mbedtls_x509_crt_init(&chain);
	mbedtls_pk_init(&key);
	mbedtls_entropy_init(&ent);
	mbedtls_ctr_drbg_init(&drbg);
	certpin_policy *policy = NULL;
	snprintf(path, sizeof path, "%s/policy.json", dir);
	if (certpin_policy_load_file(path, 0, &policy, NULL, NULL) != CERTPIN_OK)
		return 4;
	certpin_ctx *ctx = certpin_ctx_new(policy);
	snprintf(path, sizeof path, "%s/root.pem", dir);
	int bad = mbedtls_x509_crt_parse_file(&root, path);
	snprintf(path, sizeof path, "%s/chain.pem", dir);
	bad |= mbedtls_x509_crt_parse_file(&chain, path);
	snprintf(path, sizeof path, "%s/leaf.key", dir);
#if MBEDTLS_VERSION_MAJOR >= 3
	bad |= mbedtls_pk_parse_keyfile(&key, path, NULL, mbedtls_ctr_drbg_random, &drbg);
#else
	bad |= mbedtls_pk_parse_keyfile(&key, path, NULL);
#endif
	bad |= mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent, NULL, 0);
	if (bad != 0) {
		fprintf(stderr, "certpin_mbedtls_bench: cannot load the PKI in %s\n", dir);
		return 4;
	}
	mbedtls_ssl_config *cfs[2] = {&cconf_plain, &cconf_pinned};
	for (int i = 0; i < 2; i++) {
		mbedtls_ssl_config_init(cfs[i]);
		mbedtls_ssl_config_defaults(cfs[i], MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
		                            MBEDTLS_SSL_PRESET_DEFAULT);
		mbedtls_ssl_conf_authmode(cfs[i], MBEDTLS_SSL_VERIFY_REQUIRED);
		mbedtls_ssl_conf_ca_chain(cfs[i], &root, NULL);
		mbedtls_ssl_conf_rng(cfs[i], mbedtls_ctr_drbg_random, &drbg);
	}
	certpin_mbedtls_attach(&cconf_pinned, ctx);
	mbedtls_ssl_config_init(&sconf);
	mbedtls_ssl_config_defaults(&sconf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
	                            MBEDTLS_SSL_PRESET_DEFAULT);
	mbedtls_ssl_conf_rng(&sconf, mbedtls_ctr_drbg_random, &drbg);
	mbedtls_ssl_conf_own_cert(&sconf, &chain, &key);
	mbedtls_ssl_init(&cli_plain);
	mbedtls_ssl_init(&cli_pinned);
	mbedtls_ssl_init(&srv);
	conn = certpin_mbedtls_conn_new(ctx);
	if (conn == NULL || mbedtls_ssl_setup(&cli_plain, &cconf_plain) != 0 ||
	    mbedtls_ssl_setup(&cli_pinned, &cconf_pinned) != 0 || mbedtls_ssl_setup(&srv, &sconf) != 0 ||
	    mbedtls_ssl_set_hostname(&cli_plain, "api.test") != 0 ||
	    mbedtls_ssl_set_hostname(&cli_pinned, "api.test") != 0)
		return 3;
	mbedtls_ssl_set_bio(&cli_plain, &client_end, pipe_send, pipe_recv, NULL);
	mbedtls_ssl_set_bio(&cli_pinned, &client_end, pipe_send, pipe_recv, NULL);
	mbedtls_ssl_set_bio(&srv, &server_end, pipe_send, pipe_recv, NULL);
	int ex = 0;
	if (strcmp(mode, "ab") != 0) {
		int pinned = strcmp(mode, "pinned") == 0;
		for (int i = 0; i < count; i++)
			if (handshake(pinned ? &cli_pinned : &cli_plain, pinned) != 0) {
				fprintf(stderr, "certpin_mbedtls_bench: handshake failed\n");
				return 3;
			}
		printf("%d %s handshakes\n", count, mode);
	} else {
		double *a = calloc((size_t)rounds, sizeof *a), *b = calloc((size_t)rounds, sizeof *b);
		for (int r = 0; r < rounds && ex == 0; r++) {
			double t0 = now_us();
			for (int i = 0; i < count && ex == 0; i++)
				ex = handshake(&cli_plain, 0);
			double t1 = now_us();
			for (int i = 0; i < count && ex == 0; i++)
				ex = handshake(&cli_pinned, 1);
			double t2 = now_us();
			a[r] = (t1 - t0) / count;
			b[r] = (t2 - t1) / count;
		}
		if (ex != 0) {
			fprintf(stderr, "certpin_mbedtls_bench: handshake failed\n");
			return 3;
		}
		qsort(a, (size_t)rounds, sizeof *a, cmp);
		qsort(b, (size_t)rounds, sizeof *b, cmp);
		printf("mbedTLS handshake (client + server, in memory), median of %d rounds of %d:\n"
		       "  plain   %8.1f us\n  pinned  %8.1f us  (%+.2f%%, %+.1f us)\n",
		       rounds, count, a[rounds / 2], b[rounds / 2],
		       100.0 * (b[rounds / 2] - a[rounds / 2]) / a[rounds / 2], b[rounds / 2] - a[rounds / 2]);
		free(a);
		free(b);
	}
	certpin_mbedtls_conn_free(conn);
	mbedtls_ssl_free(&cli_plain);
	mbedtls_ssl_free(&cli_pinned);
	mbedtls_ssl_free(&srv);
	mbedtls_ssl_config_free(&cconf_plain);
	mbedtls_ssl_config_free(&cconf_pinned);
	mbedtls_ssl_config_free(&sconf);
	mbedtls_x509_crt_free(&root);
	mbedtls_x509_crt_free(&chain);
	mbedtls_pk_free(&key);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&ent);
	certpin_ctx_free(ctx);
	certpin_policy_free(policy);
	return ex;
}
