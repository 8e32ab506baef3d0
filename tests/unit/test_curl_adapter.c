/*
 * The libcurl adapter against real TLS servers on 127.0.0.1: `openssl
 * s_server -www` with a kernel-chosen port, under `timeout 120`, stopped by
 * PID in each test's teardown, and for connection reuse a small in-process
 * HTTP/1.1 keep-alive server (s_server closes every connection). The name is
 * api.test everywhere (CURLOPT_CONNECT_TO / CURLOPT_RESOLVE to 127.0.0.1),
 * CURLOPT_CAINFO is the test root. A throwaway PKI is made per run.
 *
 * Covers: pinned transfer, mismatch with its message, VERIFYPEER=0 and
 * VERIFYHOST=0, a rogue CA the client trusts, IP-literal URLs, RESOLVE, a
 * multi handle with several handles and hosts, a policy swap between
 * transfers (new connection with a resumable session, and a reused
 * connection), a connection left in a multi's pool by an unpinned handle,
 * duplicated and unpinned handles, bad arguments.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "certpin/certpin_curl.h"
#include "internal.h"
#include "testutil.h"

/* ---- PKI ---------------------------------------------------------------- */

static struct pki {
	EVP_PKEY *root_key, *int_key, *leaf_key, *backup_key, *rogue_key, *rogue_leaf_key;
	X509 *root, *inter, *leaf, *rogue_root, *rogue_leaf;
	char root_pin[64], int_pin[64], leaf_pin[64], backup_pin[64], rogue_leaf_pin[64];
	char dir[256];
} P;

static int setup_pki(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	cp_strlcpy(P.dir, tu_tmpdir(), sizeof P.dir);
	int64_t now = (int64_t)time(NULL);
	int64_t nb = now - 86400, na = now + 86400 * 30;
	P.root_key = tu_key(TU_P256);
	P.int_key = tu_key(TU_P256);
	P.leaf_key = tu_key(TU_P256);
	P.backup_key = tu_key(TU_P256);
	P.rogue_key = tu_key(TU_P256);
	P.rogue_leaf_key = tu_key(TU_P256);
	P.root = tu_cert(P.root_key, "Test Root", NULL, NULL, 1, NULL, nb, na);
	P.inter = tu_cert(P.int_key, "Test Intermediate", P.root, P.root_key, 1, NULL, nb, na);
	P.leaf = tu_cert(P.leaf_key, "api.test", P.inter, P.int_key, 0, "DNS:api.test,IP:127.0.0.1",
	                 nb, na);
	P.rogue_root = tu_cert(P.rogue_key, "Rogue Root", NULL, NULL, 1, NULL, nb, na);
	P.rogue_leaf = tu_cert(P.rogue_leaf_key, "api.test", P.rogue_root, P.rogue_key, 0,
	                       "DNS:api.test,IP:127.0.0.1", nb, na);
	cp_strlcpy(P.root_pin, tu_spki_pin_text(P.root_key), sizeof P.root_pin);
	cp_strlcpy(P.int_pin, tu_spki_pin_text(P.int_key), sizeof P.int_pin);
	cp_strlcpy(P.leaf_pin, tu_spki_pin_text(P.leaf_key), sizeof P.leaf_pin);
	cp_strlcpy(P.backup_pin, tu_spki_pin_text(P.backup_key), sizeof P.backup_pin);
	cp_strlcpy(P.rogue_leaf_pin, tu_spki_pin_text(P.rogue_leaf_key), sizeof P.rogue_leaf_pin);

	tu_write_pem("root.pem", &P.root, 1, NULL);
	tu_write_pem("rogue_root.pem", &P.rogue_root, 1, NULL);
	tu_write_pem("int.pem", &P.inter, 1, NULL);
	tu_write_pem("leaf.pem", &P.leaf, 1, NULL);
	tu_write_pem("leaf.key", NULL, 0, P.leaf_key);
	tu_write_pem("rogue_leaf.pem", &P.rogue_leaf, 1, NULL);
	tu_write_pem("rogue_leaf.key", NULL, 0, P.rogue_leaf_key);
	X509 *both[] = {P.root, P.rogue_root};
	tu_write_pem("both_roots.pem", both, 2, NULL);
	assert_int_equal(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
	return 0;
}

static int teardown_pki(void **state)
{
	(void)state;
	X509 *xs[] = {P.root, P.inter, P.leaf, P.rogue_root, P.rogue_leaf};
	for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++)
		X509_free(xs[i]);
	EVP_PKEY *ks[] = {P.root_key,   P.int_key,   P.leaf_key,
	                  P.backup_key, P.rogue_key, P.rogue_leaf_key};
	for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
		EVP_PKEY_free(ks[i]);
	curl_global_cleanup();
	return 0;
}

/* ---- the server: openssl s_server, one per test ----------------------- */

static struct server {
	pid_t pid; /* of `timeout`, which passes SIGTERM on to s_server */
	int port;
} S;

static void server_stop(void)
{
	tu_s_server_stop(&S.pid);
	S.port = 0;
}

/* Starts s_server on 127.0.0.1:0 and reads the port it got from its "ACCEPT" line. */
static void server_start(const char *cert, const char *key, const char *chain)
{
	S.port = tu_s_server_www(cert, key, chain, &S.pid);
}

static int start_real(void **state)
{
	(void)state;
	server_start("leaf.pem", "leaf.key", "int.pem");
	return 0;
}

static int start_rogue(void **state)
{
	(void)state;
	server_start("rogue_leaf.pem", "rogue_leaf.key", NULL);
	return 0;
}

static int stop_server(void **state)
{
	(void)state;
	server_stop();
	return 0;
}

/* ---- a keep-alive HTTPS server in a thread (connection reuse) ------------ */

static struct kserver {
	pthread_t thread;
	int fd, port;
	SSL_CTX *ctx;
	atomic_int stop;
	atomic_int accepted;
} K;

static void *kserver_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&K.stop)) {
		int c = accept(K.fd, NULL, NULL);
		if (c < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		atomic_fetch_add(&K.accepted, 1);
		struct timeval tv = {10, 0};
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		SSL *ssl = SSL_new(K.ctx);
		if (ssl != NULL && SSL_set_fd(ssl, c) == 1 && SSL_accept(ssl) == 1) {
			char req[4096];
			size_t have = 0;
			int n;
			while ((n = SSL_read(ssl, req + have, (int)(sizeof req - 1 - have))) > 0) {
				have += (size_t)n;
				req[have] = '\0';
				char *end = strstr(req, "\r\n\r\n");
				if (end == NULL) {
					if (have >= sizeof req - 1)
						break;
					continue;
				}
				static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
				                           "Connection: keep-alive\r\n\r\nok";
				if (SSL_write(ssl, resp, (int)strlen(resp)) <= 0)
					break;
				size_t used = (size_t)(end + 4 - req);
				memmove(req, req + used, have - used);
				have -= used;
			}
			SSL_shutdown(ssl);
		}
		ERR_clear_error();
		SSL_free(ssl);
		close(c);
	}
	ERR_clear_error();
	OPENSSL_thread_stop();
	return NULL;
}

static int kserver_start(void **state)
{
	(void)state;
	K.ctx = SSL_CTX_new(TLS_server_method());
	assert_non_null(K.ctx);
	assert_int_equal(SSL_CTX_use_certificate_file(K.ctx, tu_path("leaf.pem"), SSL_FILETYPE_PEM), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey_file(K.ctx, tu_path("leaf.key"), SSL_FILETYPE_PEM), 1);
	assert_int_equal(SSL_CTX_add1_chain_cert(K.ctx, P.inter), 1);
	K.fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(K.fd >= 0);
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* never anything but 127.0.0.1 */
	assert_int_equal(bind(K.fd, (struct sockaddr *)&sa, sizeof sa), 0);
	socklen_t len = sizeof sa;
	assert_int_equal(getsockname(K.fd, (struct sockaddr *)&sa, &len), 0);
	K.port = ntohs(sa.sin_port);
	assert_int_equal(listen(K.fd, 16), 0);
	atomic_store(&K.stop, 0);
	atomic_store(&K.accepted, 0);
	assert_int_equal(pthread_create(&K.thread, NULL, kserver_main, NULL), 0);
	S.port = K.port; /* the helpers below connect to S.port */
	return 0;
}

static int kserver_stop(void **state)
{
	(void)state;
	atomic_store(&K.stop, 1);
	shutdown(K.fd, SHUT_RDWR);
	pthread_join(K.thread, NULL);
	close(K.fd);
	SSL_CTX_free(K.ctx);
	S.port = 0;
	return 0;
}

/* ---- client side -------------------------------------------------------- */

static certpin_policy *load_policy(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static certpin_policy *load_policy(const char *fmt, ...)
{
	char json[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(json, sizeof json, fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof json);
	certpin_policy *p = NULL;
	certpin_error err;
	if (certpin_policy_load_mem(json, (size_t)n, NULL, P.dir, 0, &p, NULL, &err) != CERTPIN_OK)
		fail_msg("policy: %s: %s", err.path, err.message);
	return p;
}

/* A holder whose policy pins host to pin (its only reference is the holder's). */
static certpin_ctx *pin_ctx(const char *host, const char *pin)
{
	certpin_policy *p = load_policy("{\"certpin\":1,\"domains\":[{\"host\":\"%s\","
	                                "\"pins\":[\"%s\"]}]}",
	                                host, pin);
	certpin_ctx *c = certpin_ctx_new(p);
	assert_non_null(c);
	certpin_policy_free(p);
	return c;
}

static size_t discard(char *p, size_t size, size_t n, void *u)
{
	(void)p, (void)u;
	return size * n;
}

enum { OPT_NO_VERIFYPEER = 1, OPT_NO_VERIFYHOST = 2, OPT_TRUST_BOTH = 4, OPT_RESOLVE = 8 };

/* An easy handle for URLs on S.port, pinned with c (when non-NULL). */
static CURL *easy_new(certpin_ctx *c, unsigned opts)
{
	CURL *h = curl_easy_init();
	assert_non_null(h);
	char rule[64];
	if (opts & OPT_RESOLVE)
		snprintf(rule, sizeof rule, "api.test:%d:127.0.0.1", S.port);
	else
		snprintf(rule, sizeof rule, "::127.0.0.1:%d", S.port);
	/* the list lives as long as the handle: easy_free frees it */
	struct curl_slist *list = curl_slist_append(NULL, rule);
	assert_non_null(list);
	curl_easy_setopt(h, CURLOPT_PRIVATE, (void *)list);
	assert_int_equal(curl_easy_setopt(h, (opts & OPT_RESOLVE) ? CURLOPT_RESOLVE : CURLOPT_CONNECT_TO,
	                                  list),
	                 CURLE_OK);
	curl_easy_setopt(h, CURLOPT_CAINFO,
	                 tu_path((opts & OPT_TRUST_BOTH) ? "both_roots.pem" : "root.pem"));
	curl_easy_setopt(h, CURLOPT_CAPATH, (char *)NULL);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	if (opts & OPT_NO_VERIFYPEER)
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
	if (opts & OPT_NO_VERIFYHOST)
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	if (c != NULL)
		assert_int_equal(certpin_curl_pin(h, c), CERTPIN_OK);
	return h;
}

static void easy_free(CURL *h)
{
	char *list = NULL;
	curl_easy_getinfo(h, CURLINFO_PRIVATE, &list);
	certpin_curl_unpin(h);
	curl_easy_cleanup(h);
	curl_slist_free_all((struct curl_slist *)(void *)list);
}

/* GET https://HOST:S.port/ */
static CURLcode get(CURL *h, const char *host)
{
	char url[128];
	snprintf(url, sizeof url, "https://%s:%d/", host, S.port);
	curl_easy_setopt(h, CURLOPT_URL, url);
	return curl_easy_perform(h);
}

static long new_connections(CURL *h)
{
	long n = -1;
	assert_int_equal(curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &n), CURLE_OK);
	return n;
}

static const char *last_message(CURL *h)
{
	static char buf[8192];
	size_t n = certpin_curl_last_message(h, buf, sizeof buf);
	assert_true(n < sizeof buf);
	return buf;
}

/* One transfer to host under a fresh holder pinning rule_host to pin; returns the verdict. */
static certpin_verdict_code one(const char *rule_host, const char *pin, const char *host,
                                unsigned opts, CURLcode *rc)
{
	certpin_ctx *c = pin_ctx(rule_host, pin);
	CURL *h = easy_new(c, opts);
	*rc = get(h, host);
	certpin_verdict_code code = certpin_curl_last_verdict_code(h);
	easy_free(h);
	certpin_ctx_free(c);
	return code;
}

/* ---- tests ---------------------------------------------------------------- */

static void bad_arguments_and_unpinned_handles(void **state)
{
	(void)state;
	certpin_ctx *c = pin_ctx("api.test", P.leaf_pin);
	CURL *h = curl_easy_init();
	assert_non_null(h);
	assert_int_equal(certpin_curl_pin(NULL, c), CERTPIN_E_INVALID_ARG);
	assert_int_equal(certpin_curl_pin(h, NULL), CERTPIN_E_INVALID_ARG);
	char buf[8] = "x";
	assert_int_equal(certpin_curl_last_verdict_code(h), 0);
	assert_int_equal(certpin_curl_last_message(h, buf, sizeof buf), 0);
	assert_string_equal(buf, "");
	assert_int_equal(certpin_curl_last_host(NULL, buf, sizeof buf), 0);
	certpin_curl_unpin(h);    /* not pinned: no-op */
	certpin_curl_unpin(NULL); /* no-op */
	assert_int_equal(certpin_curl_pin(h, c), CERTPIN_OK);
	assert_int_equal(certpin_curl_pin(h, c), CERTPIN_OK); /* again: allowed */
	certpin_curl_unpin(h);
	certpin_curl_unpin(h);
	curl_easy_cleanup(h);
	certpin_ctx_free(c);
}

static void pinned_transfer_succeeds_with_verdict_pinned(void **state)
{
	(void)state;
	const char *pins[] = {P.leaf_pin, P.int_pin, P.root_pin};
	for (size_t i = 0; i < 3; i++) {
		certpin_ctx *c = pin_ctx("api.test", pins[i]);
		CURL *h = easy_new(c, 0);
		assert_int_equal(get(h, "api.test"), CURLE_OK);
		long status = 0;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		assert_int_equal(status, 200);
		assert_int_equal(certpin_curl_last_verdict_code(h), CERTPIN_V_PINNED);
		char host[64];
		assert_int_equal(certpin_curl_last_host(h, host, sizeof host), 8);
		assert_string_equal(host, "api.test");
		easy_free(h);
		certpin_ctx_free(c);
	}
}

static void resolve_instead_of_connect_to_is_pinned_too(void **state)
{
	(void)state;
	CURLcode rc;
	assert_int_equal(one("api.test", P.leaf_pin, "api.test", OPT_RESOLVE, &rc), CERTPIN_V_PINNED);
	assert_int_equal(rc, CURLE_OK);
	assert_int_equal(one("api.test", P.backup_pin, "api.test", OPT_RESOLVE, &rc),
	                 CERTPIN_V_PIN_MISMATCH);
	assert_int_not_equal(rc, CURLE_OK);
}

static void mismatch_fails_with_pin_mismatch_and_message(void **state)
{
	(void)state;
	certpin_ctx *c = pin_ctx("api.test", P.backup_pin);
	CURL *h = easy_new(c, 0);
	CURLcode rc = get(h, "api.test");
	assert_int_equal(rc, CURLE_PEER_FAILED_VERIFICATION);
	assert_int_equal(certpin_curl_last_verdict_code(h), CERTPIN_V_PIN_MISMATCH);
	const char *msg = last_message(h);
	assert_non_null(strstr(msg, "Certificate pinning failure for api.test (rule api.test):"));
	assert_non_null(strstr(msg, P.leaf_pin));
	assert_non_null(strstr(msg, P.root_pin));
	assert_non_null(strstr(msg, P.backup_pin));
	/* truncation is snprintf-like */
	char small[16];
	size_t full = certpin_curl_last_message(h, small, sizeof small);
	assert_true(full > sizeof small);
	assert_int_equal(strlen(small), sizeof small - 1);
	easy_free(h);
	certpin_ctx_free(c);
}

static void verifypeer_off_still_blocks_a_mismatch(void **state)
{
	(void)state;
	CURLcode rc;
	certpin_verdict_code code =
	    one("api.test", P.backup_pin, "api.test", OPT_NO_VERIFYPEER | OPT_NO_VERIFYHOST, &rc);
	assert_int_not_equal(rc, CURLE_OK);
	assert_false(certpin_verdict_code_allowed(code));

	/*
	 * With the rule's own anchors (libcurl loads no CAINFO when VERIFYPEER
	 * is 0): a leaf pin that does not match is a PIN_MISMATCH, the right
	 * one passes.
	 */
	certpin_policy *p = load_policy("{\"certpin\":1,\"domains\":[{\"host\":\"api.test\","
	                                "\"pin_files\":[\"int.pem\"],\"trust_anchors\":\"pinned\"}]}");
	certpin_ctx *c = certpin_ctx_new(p);
	certpin_policy_free(p);
	CURL *h = easy_new(c, OPT_NO_VERIFYPEER);
	assert_int_equal(get(h, "api.test"), CURLE_OK);
	assert_int_equal(certpin_curl_last_verdict_code(h), CERTPIN_V_PINNED);
	easy_free(h);
	certpin_ctx_free(c);

	p = load_policy("{\"certpin\":1,\"domains\":[{\"host\":\"api.test\","
	                "\"pin_files\":[\"rogue_root.pem\"],\"trust_anchors\":\"pinned\"}]}");
	c = certpin_ctx_new(p);
	certpin_policy_free(p);
	h = easy_new(c, OPT_NO_VERIFYPEER | OPT_NO_VERIFYHOST);
	assert_int_not_equal(get(h, "api.test"), CURLE_OK);
	assert_int_equal(certpin_curl_last_verdict_code(h), CERTPIN_V_CHAIN_INVALID);
	easy_free(h);
	certpin_ctx_free(c);
}

static void verifyhost_off_wrong_name_is_blocked(void **state)
{
	(void)state;
	/* wrong.test is pinned to the server's own key: the name still must match */
	CURLcode rc;
	assert_int_equal(one("wrong.test", P.leaf_pin, "wrong.test", OPT_NO_VERIFYHOST, &rc),
	                 CERTPIN_V_HOSTNAME_MISMATCH);
	assert_int_not_equal(rc, CURLE_OK);
	/* both off: the rule's own anchors (no CAINFO then), the name still checked */
	certpin_policy *p = load_policy("{\"certpin\":1,\"domains\":[{\"host\":\"wrong.test\","
	                                "\"pin_files\":[\"int.pem\"],\"trust_anchors\":\"pinned\"}]}");
	certpin_ctx *c = certpin_ctx_new(p);
	certpin_policy_free(p);
	CURL *h = easy_new(c, OPT_NO_VERIFYHOST | OPT_NO_VERIFYPEER);
	assert_int_not_equal(get(h, "wrong.test"), CURLE_OK);
	assert_int_equal(certpin_curl_last_verdict_code(h), CERTPIN_V_HOSTNAME_MISMATCH);
	/* the right name, no rule: validated against the default store, which lacks our root */
	assert_int_not_equal(get(h, "api.test"), CURLE_OK);
	assert_int_equal(certpin_curl_last_verdict_code(h), CERTPIN_V_CHAIN_INVALID);
	easy_free(h);
	certpin_ctx_free(c);
}

static void rogue_ca_trusted_by_client_is_blocked(void **state)
{
	(void)state;
	/* Unpinned, the interception works: the attack is real. */
	CURLcode rc;
	assert_int_equal(one("other.test", P.leaf_pin, "api.test", OPT_TRUST_BOTH, &rc),
	                 CERTPIN_V_NOT_PINNED);
	assert_int_equal(rc, CURLE_OK);
	assert_int_equal(one("api.test", P.int_pin, "api.test", OPT_TRUST_BOTH, &rc),
	                 CERTPIN_V_PIN_MISMATCH);
	assert_int_equal(rc, CURLE_PEER_FAILED_VERIFICATION);
}

static void ip_literal_url_uses_the_ip_rule(void **state)
{
	(void)state;
	CURLcode rc;
	assert_int_equal(one("127.0.0.1", P.leaf_pin, "127.0.0.1", 0, &rc), CERTPIN_V_PINNED);
	assert_int_equal(rc, CURLE_OK);
	assert_int_equal(one("127.0.0.1", P.backup_pin, "127.0.0.1", 0, &rc),
	                 CERTPIN_V_PIN_MISMATCH);
	assert_int_not_equal(rc, CURLE_OK);
	/* The name rule does not apply to the address. */
	assert_int_equal(one("api.test", P.backup_pin, "127.0.0.1", 0, &rc), CERTPIN_V_NOT_PINNED);
	assert_int_equal(rc, CURLE_OK);
}

static void multi_handle_checks_each_connection_for_its_host(void **state)
{
	(void)state;
	certpin_ctx *good = pin_ctx("api.test", P.leaf_pin);
	certpin_policy *p = load_policy("{\"certpin\":1,\"domains\":["
	                                "{\"host\":\"api.test\",\"pins\":[\"%s\"]},"
	                                "{\"host\":\"127.0.0.1\",\"pins\":[\"%s\"]}]}",
	                                P.leaf_pin, P.backup_pin);
	certpin_ctx *mixed = certpin_ctx_new(p);
	certpin_policy_free(p);
	CURL *hs[4];
	const char *hosts[4] = {"api.test", "127.0.0.1", "api.test", "127.0.0.1"};
	certpin_ctx *ctxs[4] = {good, mixed, mixed, good};
	const certpin_verdict_code want[4] = {CERTPIN_V_PINNED, CERTPIN_V_PIN_MISMATCH,
	                                      CERTPIN_V_PINNED, CERTPIN_V_NOT_PINNED};
	CURLM *m = curl_multi_init();
	assert_non_null(m);
	char rule[64];
	snprintf(rule, sizeof rule, "::127.0.0.1:%d", S.port);
	struct curl_slist *ct = curl_slist_append(NULL, rule);
	for (int i = 0; i < 4; i++) {
		hs[i] = curl_easy_init();
		assert_non_null(hs[i]);
		char url[128];
		snprintf(url, sizeof url, "https://%s:%d/", hosts[i], S.port);
		curl_easy_setopt(hs[i], CURLOPT_URL, url);
		curl_easy_setopt(hs[i], CURLOPT_CONNECT_TO, ct);
		curl_easy_setopt(hs[i], CURLOPT_CAINFO, tu_path("root.pem"));
		curl_easy_setopt(hs[i], CURLOPT_CAPATH, (char *)NULL);
		curl_easy_setopt(hs[i], CURLOPT_TIMEOUT, 20L);
		curl_easy_setopt(hs[i], CURLOPT_WRITEFUNCTION, discard);
		assert_int_equal(certpin_curl_pin(hs[i], ctxs[i]), CERTPIN_OK);
		assert_int_equal(curl_multi_add_handle(m, hs[i]), CURLM_OK);
	}
	int running = 1, left;
	while (running) {
		assert_int_equal(curl_multi_perform(m, &running), CURLM_OK);
		if (running)
			assert_int_equal(curl_multi_poll(m, NULL, 0, 1000, NULL), CURLM_OK);
	}
	CURLMsg *msg;
	int done = 0;
	while ((msg = curl_multi_info_read(m, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		for (int i = 0; i < 4; i++)
			if (msg->easy_handle == hs[i]) {
				done++;
				assert_int_equal(certpin_curl_last_verdict_code(hs[i]), want[i]);
				if (certpin_verdict_code_allowed(want[i]))
					assert_int_equal(msg->data.result, CURLE_OK);
				else
					assert_int_not_equal(msg->data.result, CURLE_OK);
			}
	}
	assert_int_equal(done, 4);
	for (int i = 0; i < 4; i++) {
		curl_multi_remove_handle(m, hs[i]);
		certpin_curl_unpin(hs[i]);
		curl_easy_cleanup(hs[i]);
	}
	curl_multi_cleanup(m);
	curl_slist_free_all(ct);
	certpin_ctx_free(good);
	certpin_ctx_free(mixed);
}

/* s_server closes each connection: the second transfer is a new connection. */
static void policy_swap_blocks_the_next_connection(void **state)
{
	(void)state;
	certpin_ctx *c = pin_ctx("api.test", P.leaf_pin);
	CURL *h = easy_new(c, 0);
	assert_int_equal(get(h, "api.test"), CURLE_OK);
	assert_int_equal(get(h, "api.test"), CURLE_OK); /* curl offers its cached session */
	assert_int_equal(certpin_curl_last_verdict_code(h), CERTPIN_V_PINNED);
	certpin_policy *bad = load_policy("{\"certpin\":1,\"domains\":[{\"host\":\"api.test\","
	                                  "\"pins\":[\"%s\"]}]}",
	                                  P.backup_pin);
	assert_int_equal(certpin_ctx_set_policy(c, bad), CERTPIN_OK);
	certpin_policy_free(bad);
	assert_int_not_equal(get(h, "api.test"), CURLE_OK);
	assert_int_equal(certpin_curl_last_verdict_code(h), CERTPIN_V_PIN_MISMATCH);
	easy_free(h);
	certpin_ctx_free(c);
}

static void reused_connection_is_rechecked_after_policy_swap(void **state)
{
	(void)state;
	certpin_ctx *c = pin_ctx("api.test", P.leaf_pin);
	CURL *h = easy_new(c, 0);
	assert_int_equal(get(h, "api.test"), CURLE_OK);
	assert_int_equal(new_connections(h), 1);
	assert_int_equal(get(h, "api.test"), CURLE_OK);
	assert_int_equal(new_connections(h), 0); /* reused */
	assert_int_equal(atomic_load(&K.accepted), 1);

	/* A new generation that still pins the leaf: re-checked, allowed, reused. */
	certpin_policy *p = load_policy("{\"certpin\":1,\"domains\":[{\"host\":\"api.test\","
	                                "\"pins\":[\"%s\",\"%s\"]}]}",
	                                P.leaf_pin, P.backup_pin);
	assert_int_equal(certpin_ctx_set_policy(c, p), CERTPIN_OK);
	certpin_policy_free(p);
	assert_int_equal(get(h, "api.test"), CURLE_OK);
	assert_int_equal(new_connections(h), 0);
	assert_int_equal(certpin_curl_last_verdict_code(h), CERTPIN_V_PINNED);

	/* Now the leaf is no longer pinned: the reused connection is refused. */
	p = load_policy("{\"certpin\":1,\"domains\":[{\"host\":\"api.test\","
	                "\"pins\":[\"%s\"]}]}",
	                P.backup_pin);
	assert_int_equal(certpin_ctx_set_policy(c, p), CERTPIN_OK);
	certpin_policy_free(p);
	assert_int_equal(get(h, "api.test"), CURLE_ABORTED_BY_CALLBACK);
	assert_int_equal(new_connections(h), 0);
	assert_int_equal(certpin_curl_last_verdict_code(h), CERTPIN_V_PIN_MISMATCH);
	assert_non_null(strstr(last_message(h), "Certificate pinning failure for api.test"));
	assert_int_equal(atomic_load(&K.accepted), 1);
	easy_free(h);
	certpin_ctx_free(c);
}

static void connection_of_an_unpinned_handle_is_checked_before_reuse(void **state)
{
	(void)state;
	CURLM *m = curl_multi_init();
	assert_non_null(m);
	CURL *plain = easy_new(NULL, 0);
	certpin_ctx *c = pin_ctx("api.test", P.backup_pin);
	CURL *pinned = easy_new(c, 0);
	CURL *order[2] = {plain, pinned};
	CURLcode results[2] = {CURLE_OK, CURLE_OK};
	for (int i = 0; i < 2; i++) {
		char url[128];
		snprintf(url, sizeof url, "https://api.test:%d/", S.port);
		curl_easy_setopt(order[i], CURLOPT_URL, url);
		assert_int_equal(curl_multi_add_handle(m, order[i]), CURLM_OK);
		int running = 1, left;
		while (running) {
			assert_int_equal(curl_multi_perform(m, &running), CURLM_OK);
			if (running)
				assert_int_equal(curl_multi_poll(m, NULL, 0, 1000, NULL), CURLM_OK);
		}
		CURLMsg *msg;
		while ((msg = curl_multi_info_read(m, &left)) != NULL)
			if (msg->msg == CURLMSG_DONE)
				results[i] = msg->data.result;
		curl_multi_remove_handle(m, order[i]);
	}
	assert_int_equal(results[0], CURLE_OK);
	assert_int_equal(new_connections(pinned), 0); /* it got the unpinned handle's connection */
	assert_int_equal(results[1], CURLE_ABORTED_BY_CALLBACK);
	assert_int_equal(certpin_curl_last_verdict_code(pinned), CERTPIN_V_PIN_MISMATCH);
	easy_free(pinned);
	easy_free(plain);
	curl_multi_cleanup(m);
	certpin_ctx_free(c);
}

static void duplicated_handle_fails_until_pinned_and_unpin_unpins(void **state)
{
	(void)state;
	certpin_ctx *c = pin_ctx("api.test", P.backup_pin);
	CURL *h = easy_new(c, 0);
	CURL *dup = curl_easy_duphandle(h);
	assert_non_null(dup);
	char url[128];
	snprintf(url, sizeof url, "https://api.test:%d/", S.port);
	curl_easy_setopt(dup, CURLOPT_URL, url);
	assert_int_equal(curl_easy_perform(dup), CURLE_SSL_CONNECT_ERROR); /* fails closed */
	assert_int_equal(certpin_curl_pin(dup, c), CERTPIN_OK);
	assert_int_equal(curl_easy_perform(dup), CURLE_PEER_FAILED_VERIFICATION);
	assert_int_equal(certpin_curl_last_verdict_code(dup), CERTPIN_V_PIN_MISMATCH);
	assert_int_equal(certpin_curl_last_verdict_code(h), 0); /* per handle */
	certpin_curl_unpin(dup);
	assert_int_equal(curl_easy_perform(dup), CURLE_OK); /* unpinned */
	curl_easy_cleanup(dup);
	easy_free(h);
	certpin_ctx_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(bad_arguments_and_unpinned_handles),
	    cmocka_unit_test_setup_teardown(pinned_transfer_succeeds_with_verdict_pinned, start_real,
	                                    stop_server),
	    cmocka_unit_test_setup_teardown(resolve_instead_of_connect_to_is_pinned_too, start_real,
	                                    stop_server),
	    cmocka_unit_test_setup_teardown(mismatch_fails_with_pin_mismatch_and_message, start_real,
	                                    stop_server),
	    cmocka_unit_test_setup_teardown(verifypeer_off_still_blocks_a_mismatch, start_real,
	                                    stop_server),
	    cmocka_unit_test_setup_teardown(verifyhost_off_wrong_name_is_blocked, start_real,
	                                    stop_server),
	    cmocka_unit_test_setup_teardown(rogue_ca_trusted_by_client_is_blocked, start_rogue,
	                                    stop_server),
	    cmocka_unit_test_setup_teardown(ip_literal_url_uses_the_ip_rule, start_real, stop_server),
	    cmocka_unit_test_setup_teardown(multi_handle_checks_each_connection_for_its_host,
	                                    start_real, stop_server),
	    cmocka_unit_test_setup_teardown(policy_swap_blocks_the_next_connection, start_real,
	                                    stop_server),
	    cmocka_unit_test_setup_teardown(duplicated_handle_fails_until_pinned_and_unpin_unpins,
	                                    start_real, stop_server),
	    cmocka_unit_test_setup_teardown(reused_connection_is_rechecked_after_policy_swap,
	                                    kserver_start, kserver_stop),
	    cmocka_unit_test_setup_teardown(connection_of_an_unpinned_handle_is_checked_before_reuse,
	                                    kserver_start, kserver_stop),
	};
	int rc = cmocka_run_group_tests(tests, setup_pki, teardown_pki);
	server_stop();
	return rc;
}
