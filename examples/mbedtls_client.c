/*
 * An mbedTLS client with certpin attached (libcertpin built with
 * -DCERTPIN_CRYPTO=mbedtls): the integration is the calls marked "certpin".
 * It connects, sends `HEAD / HTTP/1.1` and prints the status line.
 *
 * usage: mbedtls_client [--cafile CA] [--connect ADDR:PORT]
 *                       [--authmode required|optional|none]
 *                       [--no-hostname] [--no-setup] POLICY.json HOST:PORT
 *   --connect     connect to ADDR:PORT but use HOST for SNI, host-name
 *                 checking and the policy
 *   --cafile      trust only the certificates in CA (PEM)
 *   --authmode    the config's authmode (default required); certpin still
 *                 blocks with optional, and refuses none
 *   --no-hostname do not call mbedtls_ssl_set_hostname (certpin refuses)
 *   --no-setup    do not call certpin_mbedtls_setup (the attached config
 *                 then fails the handshake)
 * exit: 0 success, 1 blocked by pinning (the failure message is printed),
 *       2 certificate validation failed, 3 connection or TLS error,
 *       4 policy or input error, 64 usage. Reads time out after 10 s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>

#include "certpin/certpin_mbedtls.h"

static void usage(void)
{
	fprintf(stderr, "usage: mbedtls_client [--cafile CA] [--connect ADDR:PORT] "
	                "[--authmode required|optional|none] [--no-hostname] [--no-setup] "
	                "POLICY HOST:PORT\n");
}

static int split(const char *in, char *host, size_t hn, char *port, size_t pn)
{
	const char *c = strrchr(in, ':');
	if (c == NULL || (size_t)(c - in) >= hn || strlen(c + 1) >= pn || c == in || c[1] == '\0')
		return -1;
	memcpy(host, in, (size_t)(c - in));
	host[c - in] = '\0';
	strcpy(port, c + 1);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cafile = NULL, *connect_to = NULL;
	int authmode = MBEDTLS_SSL_VERIFY_REQUIRED, set_hostname = 1, do_setup = 1, i = 1;
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--cafile") == 0 && i + 1 < argc) {
			cafile = argv[++i];
		} else if (strcmp(argv[i], "--connect") == 0 && i + 1 < argc) {
			connect_to = argv[++i];
		} else if (strcmp(argv[i], "--authmode") == 0 && i + 1 < argc) {
			const char *m = argv[++i];
			authmode = strcmp(m, "optional") == 0 ? MBEDTLS_SSL_VERIFY_OPTIONAL
			           : strcmp(m, "none") == 0   ? MBEDTLS_SSL_VERIFY_NONE
			                                      : MBEDTLS_SSL_VERIFY_REQUIRED;
		} else if (strcmp(argv[i], "--no-hostname") == 0) {
			set_hostname = 0;
		} else if (strcmp(argv[i], "--no-setup") == 0) {
			do_setup = 0;
		} else {
			usage();
			return 64;
		}
	}
	if (argc - i != 2) {
		usage();
		return 64;
	}
	char host[256], port[16], addr[256], aport[16];
	if (split(argv[i + 1], host, sizeof host, port, sizeof port) != 0 ||
	    split(connect_to ? connect_to : argv[i + 1], addr, sizeof addr, aport, sizeof aport) != 0) {
		usage();
		return 64;
	}

	/* certpin: the policy and the holder the connections check against */
	certpin_policy *policy = NULL;
	certpin_error err;
	if (certpin_policy_load_file(argv[i], 0, &policy, NULL, &err) != CERTPIN_OK) {
		char line[1024];
		certpin_error_format(&err, line, sizeof line);
		fprintf(stderr, "mbedtls_client: %s\n", line);
		return 4;
	}
	certpin_ctx *ctx = certpin_ctx_new(policy);
	certpin_policy_free(policy);

	mbedtls_net_context net;
	mbedtls_ssl_context ssl;
	mbedtls_ssl_config conf;
	mbedtls_x509_crt ca;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_net_init(&net);
	mbedtls_ssl_init(&ssl);
	mbedtls_ssl_config_init(&conf);
	mbedtls_x509_crt_init(&ca);
	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	certpin_mbedtls_conn *conn = NULL;
	int ret, ex = 3;
	char msg[8192];

	if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0) != 0 ||
	    mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
	                                MBEDTLS_SSL_PRESET_DEFAULT) != 0)
		goto out;
	if (cafile != NULL && mbedtls_x509_crt_parse_file(&ca, cafile) < 0) {
		fprintf(stderr, "mbedtls_client: cannot read %s\n", cafile);
		ex = 4;
		goto out;
	}
	if (cafile != NULL)
		mbedtls_ssl_conf_ca_chain(&conf, &ca, NULL);
	mbedtls_ssl_conf_authmode(&conf, authmode);
	mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
	mbedtls_ssl_conf_read_timeout(&conf, 10000);
	certpin_mbedtls_attach(&conf, ctx); /* certpin: 1 */

	conn = certpin_mbedtls_conn_new(ctx); /* certpin: 2 */
	if (conn == NULL || mbedtls_ssl_setup(&ssl, &conf) != 0 ||
	    (set_hostname && mbedtls_ssl_set_hostname(&ssl, host) != 0))
		goto out;
	if (do_setup) {
		certpin_err rc = certpin_mbedtls_setup(&ssl, conn); /* certpin: 3 */
		if (rc != CERTPIN_OK) {
			fprintf(stderr, "mbedtls_client: certpin refused the connection: %s%s\n",
			        certpin_strerror(rc),
			        set_hostname ? "" : " (no host name: call mbedtls_ssl_set_hostname)");
			ex = 1;
			goto out;
		}
	}
	if ((ret = mbedtls_net_connect(&net, addr, aport, MBEDTLS_NET_PROTO_TCP)) != 0) {
		fprintf(stderr, "mbedtls_client: cannot connect to %s port %s\n", addr, aport);
		goto out;
	}
	mbedtls_ssl_set_bio(&ssl, &net, mbedtls_net_send, NULL, mbedtls_net_recv_timeout);
	while ((ret = mbedtls_ssl_handshake(&ssl)) != 0) {
		if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE)
			continue;
		const certpin_verdict *v = certpin_mbedtls_verdict(conn);
		if (v != NULL && !certpin_verdict_allowed(v)) {
			certpin_verdict_format(v, msg, sizeof msg);
			printf("%s\nverdict: %s\n", msg, certpin_verdict_code_name(certpin_verdict_get_code(v)));
			certpin_verdict_code c = certpin_verdict_get_code(v);
			ex = c == CERTPIN_V_CHAIN_INVALID || c == CERTPIN_V_HOSTNAME_MISMATCH ? 2 : 1;
		} else {
			mbedtls_strerror(ret, msg, sizeof msg);
			fprintf(stderr, "mbedtls_client: TLS handshake with %s failed: %s\n", host, msg);
		}
		goto out;
	}
	/* belt and braces: a check ran and allowed this connection */
	if (certpin_mbedtls_check(conn) != CERTPIN_OK) {
		fprintf(stderr, "mbedtls_client: the handshake completed without an allowing verdict\n");
		ex = 1;
		goto out;
	}
	certpin_verdict_format(certpin_mbedtls_verdict(conn), msg, sizeof msg);
	printf("%s\n", msg);
	int n = snprintf(msg, sizeof msg, "HEAD / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
	                 host);
	while ((ret = mbedtls_ssl_write(&ssl, (const unsigned char *)msg, (size_t)n)) <= 0)
		if (ret != MBEDTLS_ERR_SSL_WANT_READ && ret != MBEDTLS_ERR_SSL_WANT_WRITE)
			goto out;
	ret = mbedtls_ssl_read(&ssl, (unsigned char *)msg, sizeof msg - 1);
	if (ret <= 0)
		goto out;
	msg[ret] = '\0';
	msg[strcspn(msg, "\r\n")] = '\0';
	printf("%s\n", msg);
	ex = 0;
	mbedtls_ssl_close_notify(&ssl);
out:
	mbedtls_net_free(&net);
	mbedtls_ssl_free(&ssl);
	certpin_mbedtls_conn_free(conn);
	mbedtls_ssl_config_free(&conf);
	mbedtls_x509_crt_free(&ca);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
	certpin_ctx_free(ctx);
	return ex;
}
