/*
 * The mbedTLS adapter's fail-closed rules against a live server
 * (tests/mbedtls/test_failclosed.sh):
 *   mbedtls_failclosed CAFILE POLICY PORT
 * Prints one line per case, "CASE: allowed|blocked|refused (...)":
 *   full                a normal handshake (set up, certpin_mbedtls_handshake)
 *   resume-before-setup a session to resume set before setup: setup refuses
 *   resume-after-setup  set after setup: the handshake completes without a
 *                       check and certpin_mbedtls_handshake refuses it
 *   hs-none-after-setup per-handshake authmode NONE after setup: refused
 *   reset-no-setup      session reset, new host name, no new setup: blocked
 *   host-changed        setup, then another host name: blocked
 * The host name is api.test for every case but reset-no-setup's second
 * handshake (localhost), which the policy would leave unpinned.
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

static mbedtls_ssl_config conf;
static certpin_ctx *ctx;
static const char *port;

enum step { NONE, RESUME_BEFORE, RESUME_AFTER, HS_NONE_AFTER, HOST_AFTER };

/* One connection; returns 1 when the handshake was allowed. */
static int run(const char *label, enum step how, mbedtls_ssl_session *save,
               const mbedtls_ssl_session *resume)
{
	mbedtls_net_context net;
	mbedtls_ssl_context ssl;
	mbedtls_net_init(&net);
	mbedtls_ssl_init(&ssl);
	certpin_mbedtls_conn *conn = certpin_mbedtls_conn_new(ctx);
	int allowed = 0;
	char why[200] = "";
	if (conn == NULL || mbedtls_ssl_setup(&ssl, &conf) != 0 ||
	    mbedtls_ssl_set_hostname(&ssl, "api.test") != 0)
		goto out;
	if (how == RESUME_BEFORE && resume != NULL)
		mbedtls_ssl_set_session(&ssl, resume);
	if (certpin_mbedtls_setup(&ssl, conn) != CERTPIN_OK) {
		printf("%s: refused (certpin_mbedtls_setup)\n", label);
		goto out;
	}
	if (how == RESUME_AFTER && resume != NULL)
		mbedtls_ssl_set_session(&ssl, resume);
	if (how == HS_NONE_AFTER)
		mbedtls_ssl_set_hs_authmode(&ssl, MBEDTLS_SSL_VERIFY_NONE);
	if (how == HOST_AFTER)
		mbedtls_ssl_set_hostname(&ssl, "localhost");
	if (mbedtls_net_connect(&net, "127.0.0.1", port, MBEDTLS_NET_PROTO_TCP) != 0)
		goto out;
	mbedtls_ssl_set_bio(&ssl, &net, mbedtls_net_send, mbedtls_net_recv, NULL);
	int ret;
	while ((ret = certpin_mbedtls_handshake(&ssl, conn)) == MBEDTLS_ERR_SSL_WANT_READ ||
	       ret == MBEDTLS_ERR_SSL_WANT_WRITE)
		;
	const certpin_verdict *v = certpin_mbedtls_verdict(conn);
	if (ret == 0) {
		allowed = 1;
		printf("%s: allowed (%s)\n", label, certpin_verdict_code_name(certpin_verdict_get_code(v)));
		if (save != NULL)
			mbedtls_ssl_get_session(&ssl, save);
	} else {
		mbedtls_strerror(ret, why, sizeof why);
		printf("%s: blocked (%s; %s)\n", label,
		       v ? certpin_verdict_code_name(certpin_verdict_get_code(v)) : "no check ran",
		       v ? certpin_verdict_reason(v) : why);
	}
	if (ret == 0 && how == NONE && save == NULL) {
		/* reset-no-setup: a second handshake on the same context */
		mbedtls_ssl_close_notify(&ssl);
		mbedtls_net_free(&net);
		mbedtls_ssl_session_reset(&ssl);
		mbedtls_ssl_set_hostname(&ssl, "localhost");
		if (mbedtls_net_connect(&net, "127.0.0.1", port, MBEDTLS_NET_PROTO_TCP) != 0)
			goto out;
		mbedtls_ssl_set_bio(&ssl, &net, mbedtls_net_send, mbedtls_net_recv, NULL);
		while ((ret = certpin_mbedtls_handshake(&ssl, conn)) == MBEDTLS_ERR_SSL_WANT_READ ||
		       ret == MBEDTLS_ERR_SSL_WANT_WRITE)
			;
		v = certpin_mbedtls_verdict(conn);
		printf("reset-no-setup: %s (%s)\n", ret == 0 ? "allowed" : "blocked",
		       v ? certpin_verdict_reason(v) : "no check ran");
	}
	mbedtls_ssl_close_notify(&ssl);
out:
	mbedtls_net_free(&net);
	mbedtls_ssl_free(&ssl);
	certpin_mbedtls_conn_free(conn);
	return allowed;
}

int main(int argc, char **argv)
{
	if (argc != 4)
		return 64;
	port = argv[3];
	certpin_policy *p = NULL;
	if (certpin_policy_load_file(argv[2], 0, &p, NULL, NULL) != CERTPIN_OK)
		return 4;
	ctx = certpin_ctx_new(p);
	mbedtls_x509_crt ca;
	mbedtls_entropy_context ent;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_x509_crt_init(&ca);
	mbedtls_entropy_init(&ent);
	mbedtls_ctr_drbg_init(&drbg);
	mbedtls_ssl_config_init(&conf);
	if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent, NULL, 0) != 0 ||
	    mbedtls_x509_crt_parse_file(&ca, argv[1]) != 0 ||
	    mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
	                                MBEDTLS_SSL_PRESET_DEFAULT) != 0)
		return 4;
	mbedtls_ssl_conf_ca_chain(&conf, &ca, NULL);
	mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
	mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	certpin_mbedtls_attach(&conf, ctx);

	mbedtls_ssl_session saved;
	mbedtls_ssl_session_init(&saved);
	run("full", NONE, &saved, NULL);
	run("resume-before-setup", RESUME_BEFORE, NULL, &saved);
	run("resume-after-setup", RESUME_AFTER, NULL, &saved);
	run("hs-none-after-setup", HS_NONE_AFTER, NULL, NULL);
	run("host-changed", HOST_AFTER, NULL, NULL);
	run("first-of-two", NONE, NULL, NULL); /* then reset-no-setup */
	mbedtls_ssl_session_free(&saved);
	mbedtls_ssl_config_free(&conf);
	mbedtls_x509_crt_free(&ca);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&ent);
	certpin_ctx_free(ctx);
	certpin_policy_free(p);
	return 0;
}
