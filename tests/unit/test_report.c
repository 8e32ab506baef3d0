/*
 * Violation reports end to end on loopback: a throwaway PKI, `openssl
 * s_server` as the pinned server and tests/report/collector.py as the
 * collector (HTTPS on 127.0.0.1 with a certificate from the test root, which
 * the reporter trusts through its cafile), both on kernel-chosen ports under
 * `timeout`, stopped by PID.
 *
 * Covers: reports of a blocked handshake, a report-only mismatch, a failed
 * validation and an expired pin set, checked field by field; the callback
 * (sees first, adds fields, vetoes); dedup (1,000 identical violations give
 * one POST, different chains one each, a new window another); collectors
 * that answer 500, redirect, never answer or are down; the queue bound; URIs
 * with credentials; the libcurl adapter; concurrent handshakes that all
 * report (the case the TSan build runs).
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "certpin/certpin_curl.h"
#include "certpin/certpin_openssl.h"
#include "certpin/certpin_report.h"
#include "internal.h"
#include "testutil.h"

/* ---- PKI ---------------------------------------------------------------- */

static struct pki {
	EVP_PKEY *root_key, *int_key, *leaf_key, *backup_key, *rogue_key, *coll_key;
	X509 *root, *inter, *leaf, *rogue_leaf, *coll;
	char int_pin[64], leaf_pin[64], backup_pin[64];
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
	P.coll_key = tu_key(TU_P256);
	P.root = tu_cert(P.root_key, "Test Root", NULL, NULL, 1, NULL, nb, na);
	P.inter = tu_cert(P.int_key, "Test Intermediate", P.root, P.root_key, 1, NULL, nb, na);
	P.leaf = tu_cert(P.leaf_key, "api.test", P.inter, P.int_key, 0, "DNS:api.test", nb, na);
	/* self-signed: validation fails */
	P.rogue_leaf = tu_cert(P.rogue_key, "api.test", NULL, NULL, 0, "DNS:api.test", nb, na);
	P.coll = tu_cert(P.coll_key, "collector", P.root, P.root_key, 0, "IP:127.0.0.1", nb, na);
	cp_strlcpy(P.int_pin, tu_spki_pin_text(P.int_key), sizeof P.int_pin);
	cp_strlcpy(P.leaf_pin, tu_spki_pin_text(P.leaf_key), sizeof P.leaf_pin);
	cp_strlcpy(P.backup_pin, tu_spki_pin_text(P.backup_key), sizeof P.backup_pin);
	tu_write_pem("root.pem", &P.root, 1, NULL);
	tu_write_pem("int.pem", &P.inter, 1, NULL);
	tu_write_pem("leaf.pem", &P.leaf, 1, NULL);
	tu_write_pem("leaf.key", NULL, 0, P.leaf_key);
	tu_write_pem("rogue.pem", &P.rogue_leaf, 1, NULL);
	tu_write_pem("rogue.key", NULL, 0, P.rogue_key);
	tu_write_pem("coll.pem", &P.coll, 1, NULL);
	tu_write_pem("coll.key", NULL, 0, P.coll_key);
	return 0;
}

static int teardown_pki(void **state)
{
	(void)state;
	X509 *xs[] = {P.root, P.inter, P.leaf, P.rogue_leaf, P.coll};
	for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++)
		X509_free(xs[i]);
	EVP_PKEY *ks[] = {P.root_key, P.int_key, P.leaf_key, P.backup_key, P.rogue_key, P.coll_key};
	for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
		EVP_PKEY_free(ks[i]);
	return 0;
}

/* ---- servers -------------------------------------------------------------- */

static struct servers {
	pid_t tls_pid, coll_pid;
	int tls_port, coll_port;
	char log[600];
} S;

static void tls_start(const char *cert, const char *key, const char *chain)
{
	S.tls_port = tu_s_server_www(cert, key, chain, &S.tls_pid);
}

static void collector_start(const char *mode)
{
	static unsigned serial;
	snprintf(S.log, sizeof S.log, "%s/posts.%u.jsonl", P.dir, serial++);
	char script[600], cert[600], key[600], m[32];
	const char *src = getenv("CERTPIN_SRC");
	snprintf(script, sizeof script, "%s/tests/report/collector.py",
	         src != NULL && src[0] != '\0' ? src : CERTPIN_SOURCE_DIR);
	snprintf(cert, sizeof cert, "%s", tu_path("coll.pem"));
	snprintf(key, sizeof key, "%s", tu_path("coll.key"));
	snprintf(m, sizeof m, "%s", mode);
	char *cmd[] = {(char *)(uintptr_t) "python3", script, (char *)(uintptr_t) "--cert", cert,
	               (char *)(uintptr_t) "--key", key, (char *)(uintptr_t) "--log", S.log,
	               (char *)(uintptr_t) "--mode", m, NULL};
	S.coll_port = tu_listener_start(cmd, &S.coll_pid);
}

static int stop_all(void **state)
{
	(void)state;
	tu_s_server_stop(&S.tls_pid);
	tu_s_server_stop(&S.coll_pid);
	S.tls_port = S.coll_port = 0;
	return 0;
}

static int start_real(void **state)
{
	(void)state;
	tls_start("leaf.pem", "leaf.key", "int.pem");
	collector_start("ok");
	return 0;
}

static int start_rogue(void **state)
{
	(void)state;
	tls_start("rogue.pem", "rogue.key", NULL);
	collector_start("ok");
	return 0;
}

static int start_collector(void **state)
{
	(void)state;
	collector_start("ok");
	return 0;
}

/* The requests the collector logged (a JSON array of the log lines). */
static json_t *posts(void)
{
	json_t *a = json_array();
	FILE *f = fopen(S.log, "r");
	char line[1 << 16];
	while (f != NULL && fgets(line, sizeof line, f) != NULL) {
		json_error_t e;
		json_t *o = json_loads(line, 0, &e);
		if (o == NULL)
			fail_msg("collector log: %s", e.text);
		json_array_append_new(a, o);
	}
	if (f != NULL)
		fclose(f);
	return a;
}

/* The body of request i as JSON (a new reference). */
static json_t *post_body(json_t *ps, size_t i)
{
	json_t *rec = json_array_get(ps, i);
	assert_non_null(rec);
	json_error_t e;
	json_t *b = json_loads(json_string_value(json_object_get(rec, "body")), 0, &e);
	if (b == NULL)
		fail_msg("report body is not JSON: %s", e.text);
	return b;
}

/* ---- helpers ---------------------------------------------------------------- */

static certpin_policy *load_policy(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static certpin_policy *load_policy(const char *fmt, ...)
{
	char json[4096];
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

/* One rule for api.test: pins, mode and expiry given; reports to the collector. */
static certpin_policy *rule_policy(const char *host, const char *pins, const char *mode,
                                   const char *expires)
{
	return load_policy("{\"certpin\":1,\"domains\":[{\"host\":\"%s\",\"pins\":[%s],"
	                   "\"mode\":\"%s\",\"expires\":\"%s\","
	                   "\"report_uris\":[\"https://127.0.0.1:%d/pins\"]}]}",
	                   host, pins, mode, expires, S.coll_port);
}

static certpin_reporter *reporter(unsigned flags, unsigned queue_max, certpin_report_cb cb,
                                  void *arg)
{
	certpin_reporter_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.app_id = "com.example.app";
	cfg.app_version = "1.2.3";
	cfg.cafile = tu_path("root.pem");
	cfg.flags = flags;
	cfg.queue_max = queue_max;
	cfg.callback = cb;
	cfg.callback_arg = arg;
	cfg.connect_timeout_ms = 3000;
	cfg.timeout_ms = 5000;
	certpin_reporter *r = NULL;
	certpin_error err;
	if (certpin_reporter_new(&cfg, &r, &err) != CERTPIN_OK)
		fail_msg("reporter: %s", err.message);
	return r;
}

static int tcp_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct timeval tv = {10, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* never anything but 127.0.0.1 */
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static SSL_CTX *client_ctx(certpin_ctx *c)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_load_verify_locations(ctx, tu_path("root.pem"), NULL), 1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	assert_int_equal(certpin_openssl_attach(ctx, c), CERTPIN_OK);
	return ctx;
}

/* One handshake for api.test; returns whether it succeeded and the verdict code. */
static int handshake(SSL_CTX *ctx, certpin_verdict_code *code)
{
	int fd = tcp_connect(S.tls_port);
	if (fd < 0)
		return -1;
	SSL *ssl = SSL_new(ctx);
	int ok = -1;
	if (ssl != NULL && SSL_set1_host(ssl, "api.test") == 1 &&
	    SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
	             (void *)(uintptr_t) "api.test") == 1 &&
	    SSL_set_fd(ssl, fd) == 1) {
		ok = SSL_connect(ssl) == 1;
		const certpin_verdict *v = certpin_openssl_get_verdict(ssl);
		*code = v ? certpin_verdict_get_code(v) : (certpin_verdict_code)0;
		if (ok == 1)
			SSL_shutdown(ssl);
	}
	ERR_clear_error();
	SSL_free(ssl);
	close(fd);
	return ok;
}

/* PEM of x as a string (static buffer). */
static const char *pem_text(X509 *x)
{
	static char buf[8192];
	BIO *b = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_X509(b, x), 1);
	int n = BIO_read(b, buf, sizeof buf - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	BIO_free(b);
	return buf;
}

static void expect_chain(json_t *body, const char *field, X509 *const *xs, size_t n)
{
	json_t *a = json_object_get(body, field);
	assert_true(json_is_array(a));
	assert_int_equal(json_array_size(a), n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(json_string_value(json_array_get(a, i)), pem_text(xs[i]));
}

static void expect_str(json_t *body, const char *field, const char *want)
{
	const char *got = json_string_value(json_object_get(body, field));
	if (got == NULL || strcmp(got, want) != 0)
		fail_msg("%s: expected \"%s\", got \"%s\"", field, want, got ? got : "(none)");
}

/* pin-sha256="..." of a "sha256/..." pin. */
static const char *hpkp(const char *pin)
{
	static char b[2][96];
	static int k;
	char *o = b[k++ % 2];
	snprintf(o, sizeof b[0], "pin-sha256=\"%.60s\"", pin + 7);
	return o;
}

/* Fields every report has, with these values. */
static void expect_common(json_t *body, const char *verdict, int tk, int enforce, int subdomains,
                          const char *noted)
{
	const char *dt = json_string_value(json_object_get(body, "date-time"));
	assert_non_null(dt);
	int64_t t = 0;
	assert_int_equal(certpin_time_parse(dt, 0, &t, NULL), CERTPIN_OK);
	assert_true(llabs((long long)(t - (int64_t)time(NULL))) < 600);
	assert_int_equal(strlen(dt), 20); /* YYYY-MM-DDTHH:MM:SSZ */
	expect_str(body, "hostname", "api.test");
	expect_str(body, "noted-hostname", noted);
	assert_true(json_is_boolean(json_object_get(body, "include-subdomains")));
	assert_int_equal(json_is_true(json_object_get(body, "include-subdomains")), subdomains);
	assert_int_equal(json_is_true(json_object_get(body, "enforce-pinning")), enforce);
	assert_true(json_is_boolean(json_object_get(body, "enforce-pinning")));
	expect_str(body, "effective-expiration-date", "2099-06-02T00:00:00Z");
	expect_str(body, "known-pins-expiration-date", "2099-06-01");
	json_t *kp = json_object_get(body, "known-pins");
	assert_int_equal(json_array_size(kp), 1);
	expect_str(body, "certpin-verdict", verdict);
	assert_int_equal(json_integer_value(json_object_get(body, "validation-result")), tk);
	assert_true(json_is_integer(json_object_get(body, "validation-result")));
	expect_str(body, "app-id", "com.example.app");
	expect_str(body, "app-version", "1.2.3");
	expect_str(body, "certpin-version", certpin_version());
}

/* A POST as a reporter must make it: JSON, no cookies, no credentials. */
static void expect_clean_post(json_t *ps, size_t i, const char *path)
{
	json_t *rec = json_array_get(ps, i);
	expect_str(rec, "method", "POST");
	expect_str(rec, "path", path);
	json_t *h = json_object_get(rec, "headers");
	expect_str(h, "content-type", "application/json");
	assert_null(json_object_get(h, "cookie"));
	assert_null(json_object_get(h, "authorization"));
	assert_non_null(strstr(json_string_value(json_object_get(h, "user-agent")), "certpin/"));
}

/* ---- configuration and arguments -------------------------------------------- */

static void reporter_new_refuses_bad_configuration(void **state)
{
	(void)state;
	certpin_reporter_config cfg;
	certpin_reporter *r = (certpin_reporter *)(uintptr_t)1;
	certpin_error err;
	assert_int_equal(certpin_reporter_new(NULL, &r, &err), CERTPIN_E_INVALID_ARG);
	assert_null(r);
	static const char *const bad_uris[] = {"http://127.0.0.1/r", "https://", "ftp://x/",
	                                        "https://user:pw@127.0.0.1/r",
	                                        "https://user@127.0.0.1/r"};
	for (size_t i = 0; i < sizeof bad_uris / sizeof bad_uris[0]; i++) {
		memset(&cfg, 0, sizeof cfg);
		cfg.default_uri = bad_uris[i];
		assert_int_equal(certpin_reporter_new(&cfg, &r, &err), CERTPIN_E_INVALID_ARG);
		assert_non_null(strstr(err.message, "https://"));
		assert_null(r);
	}
	memset(&cfg, 0, sizeof cfg);
	cfg.queue_max = CERTPIN_REPORT_QUEUE_MAX + 1;
	assert_int_equal(certpin_reporter_new(&cfg, &r, &err), CERTPIN_E_INVALID_ARG);
	assert_non_null(strstr(err.message, "queue_max"));
	memset(&cfg, 0, sizeof cfg);
	cfg.cafile = "/nonexistent/ca.pem";
	assert_int_equal(certpin_reporter_new(&cfg, &r, &err), CERTPIN_E_INVALID_ARG);
	assert_non_null(strstr(err.message, "cafile"));
	/* a good one, with every default */
	memset(&cfg, 0, sizeof cfg);
	cfg.default_uri = "https://127.0.0.1:1/r";
	assert_int_equal(certpin_reporter_new(&cfg, &r, &err), CERTPIN_OK);
	certpin_reporter_stats st;
	certpin_reporter_get_stats(r, &st);
	assert_int_equal(st.queue_max, 64);
	assert_int_equal(certpin_reporter_flush(r, 0), CERTPIN_OK); /* nothing queued */
	assert_ptr_equal(certpin_reporter_ref(r), r);
	certpin_reporter_free(r);
	certpin_reporter_free(r);
	certpin_reporter_free(NULL);
	assert_int_equal(certpin_reporter_dropped(NULL), 0);
	assert_int_equal(certpin_reporter_flush(NULL, 0), CERTPIN_E_INVALID_ARG);
	assert_int_equal(certpin_ctx_set_reporter(NULL, NULL), CERTPIN_E_INVALID_ARG);
	assert_string_equal(certpin_strerror(CERTPIN_E_TIMEOUT), "deadline passed");
}

/* The DER of x (malloc'd) as a certpin_der. */
static certpin_der der_of(X509 *x)
{
	certpin_der d;
	d.der = tu_der(x, &d.len);
	return d;
}

static void submit_refuses_bad_arguments_and_skips_allowed_verdicts(void **state)
{
	(void)state;
	certpin_policy *p = rule_policy("api.test", "\"sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"",
	                                "enforce", "2099-06-01");
	certpin_policy *other = rule_policy("api.test", "\"sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"",
	                                    "enforce", "2099-06-01");
	certpin_der chain[3] = {der_of(P.leaf), der_of(P.inter), der_of(P.root)};
	certpin_verdict *v = NULL;
	assert_int_equal(certpin_evaluate(p, "api.test", chain, 3, 0, &v), CERTPIN_OK);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_PIN_MISMATCH);
	assert_true(certpin_verdict_reportable(v));
	/* certpin_evaluate keeps the validated chain of a reportable verdict, not the served one */
	assert_int_equal(certpin_verdict_cert_count(v, CERTPIN_CHAIN_VALIDATED), 3);
	assert_int_equal(certpin_verdict_cert_count(v, CERTPIN_CHAIN_SERVED), 0);
	size_t len = 0;
	const uint8_t *d = certpin_verdict_cert(v, CERTPIN_CHAIN_VALIDATED, 1, &len);
	assert_int_equal(len, chain[1].len);
	assert_memory_equal(d, chain[1].der, len);
	assert_null(certpin_verdict_cert(v, CERTPIN_CHAIN_VALIDATED, 3, &len));
	assert_int_equal(len, 0);

	certpin_reporter *r = reporter(CERTPIN_REPORTER_NO_SEND, 0, NULL, NULL);
	certpin_report_status st;
	assert_int_equal(certpin_reporter_submit(NULL, p, v, 443, NULL, 0, &st), CERTPIN_E_INVALID_ARG);
	assert_int_equal(certpin_reporter_submit(r, NULL, v, 443, NULL, 0, &st), CERTPIN_E_INVALID_ARG);
	assert_int_equal(certpin_reporter_submit(r, p, NULL, 443, NULL, 0, &st), CERTPIN_E_INVALID_ARG);
	assert_int_equal(certpin_reporter_submit(r, p, v, 443, NULL, 2, &st), CERTPIN_E_INVALID_ARG);
	/* a verdict whose rule belongs to another policy */
	assert_int_equal(certpin_reporter_submit(r, other, v, 443, NULL, 0, &st),
	                 CERTPIN_E_INVALID_ARG);

	/* a pinned verdict is not reportable, and keeps no chain */
	certpin_policy *ok = load_policy("{\"certpin\":1,\"domains\":[{\"host\":\"api.test\","
	                                 "\"pins\":[\"%s\"]},{\"host\":\"other.test\",\"exclude\":true}]}",
	                                 P.int_pin);
	assert_int_equal(certpin_evaluate(ok, "api.test", chain, 3, 0, &v), CERTPIN_OK);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_PINNED);
	assert_false(certpin_verdict_reportable(v));
	assert_int_equal(certpin_verdict_cert_count(v, CERTPIN_CHAIN_VALIDATED), 0);
	assert_int_equal(certpin_reporter_submit(r, ok, v, 443, NULL, 0, &st), CERTPIN_OK);
	assert_int_equal(st, CERTPIN_REPORT_NOT_REPORTABLE);
	/* nor are NOT_PINNED (unlisted, excluded) and UNLISTED_HOST */
	assert_int_equal(certpin_evaluate(ok, "nothing.test", chain, 3, 0, &v), CERTPIN_OK);
	assert_false(certpin_verdict_reportable(v));
	assert_int_equal(certpin_evaluate(ok, "other.test", chain, 3, 0, &v), CERTPIN_OK);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_NOT_PINNED);
	assert_false(certpin_verdict_reportable(v));
	certpin_policy *deny = load_policy("{\"certpin\":1,\"unlisted_hosts\":\"deny\",\"domains\":[]}");
	assert_int_equal(certpin_evaluate(deny, "x.test", chain, 3, 0, &v), CERTPIN_OK);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_UNLISTED_HOST);
	assert_false(certpin_verdict_reportable(v));
	assert_false(certpin_verdict_reportable(NULL));

	/* no URI and no callback: nobody to tell */
	certpin_policy *quiet = load_policy("{\"certpin\":1,\"domains\":[{\"host\":\"api.test\","
	                                    "\"pins\":[\"%s\"]}]}",
	                                    P.backup_pin);
	assert_int_equal(certpin_evaluate(quiet, "api.test", chain, 3, 0, &v), CERTPIN_OK);
	assert_int_equal(certpin_reporter_submit(r, quiet, v, 443, NULL, 0, &st), CERTPIN_OK);
	assert_int_equal(st, CERTPIN_REPORT_NO_DESTINATION);

	certpin_verdict_free(v);
	certpin_reporter_free(r);
	for (size_t i = 0; i < 3; i++)
		free((void *)(uintptr_t)chain[i].der);
	certpin_policy_free(p);
	certpin_policy_free(other);
	certpin_policy_free(ok);
	certpin_policy_free(deny);
	certpin_policy_free(quiet);
}

/* ---- reports through the OpenSSL adapter -------------------------------------- */

/* Handshakes once under policy p with a reporter on the holder; flushes. */
static int handshake_reported(certpin_policy *p, certpin_reporter *r, certpin_verdict_code *code)
{
	certpin_ctx *c = certpin_ctx_new(p);
	assert_non_null(c);
	assert_int_equal(certpin_ctx_set_reporter(c, r), CERTPIN_OK);
	SSL_CTX *ctx = client_ctx(c);
	int ok = handshake(ctx, code);
	SSL_CTX_free(ctx);
	certpin_ctx_free(c);
	assert_int_equal(certpin_reporter_flush(r, 20000), CERTPIN_OK);
	return ok;
}

static void blocked_handshake_is_reported_field_by_field(void **state)
{
	(void)state;
	char pins[128];
	snprintf(pins, sizeof pins, "\"%s\"", P.backup_pin);
	certpin_policy *p = rule_policy("api.test", pins, "enforce", "2099-06-01");
	certpin_reporter *r = reporter(0, 0, NULL, NULL);
	certpin_verdict_code code = 0;
	assert_int_equal(handshake_reported(p, r, &code), 0);
	assert_int_equal(code, CERTPIN_V_PIN_MISMATCH);

	json_t *ps = posts();
	assert_int_equal(json_array_size(ps), 1);
	expect_clean_post(ps, 0, "/pins");
	json_t *b = post_body(ps, 0);
	expect_common(b, "PIN_MISMATCH", 1, 1, 0, "api.test");
	assert_int_equal(json_integer_value(json_object_get(b, "port")), S.tls_port);
	expect_str(b, "certpin-rule", "api.test");
	assert_string_equal(json_string_value(json_array_get(json_object_get(b, "known-pins"), 0)),
	                    hpkp(P.backup_pin));
	X509 *served[] = {P.leaf, P.inter}, *valid[] = {P.leaf, P.inter, P.root};
	expect_chain(b, "served-certificate-chain", served, 2);
	expect_chain(b, "validated-certificate-chain", valid, 3);
	json_decref(b);
	json_decref(ps);

	certpin_reporter_stats st;
	certpin_reporter_get_stats(r, &st);
	assert_int_equal(st.submitted, 1);
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.failed, 0);
	assert_int_equal(st.handled, 1);
	assert_int_equal(st.queued, 0);
	certpin_reporter_free(r);
	certpin_policy_free(p);
}

static void report_only_mismatch_is_allowed_and_reported(void **state)
{
	(void)state;
	char pins[128];
	snprintf(pins, sizeof pins, "\"%s\"", P.backup_pin);
	certpin_policy *p = rule_policy("**.api.test", pins, "report", "2099-06-01");
	certpin_reporter *r = reporter(0, 0, NULL, NULL);
	certpin_verdict_code code = 0;
	assert_int_equal(handshake_reported(p, r, &code), 1); /* allowed */
	assert_int_equal(code, CERTPIN_V_REPORT_ONLY_MISMATCH);
	json_t *ps = posts();
	assert_int_equal(json_array_size(ps), 1);
	json_t *b = post_body(ps, 0);
	expect_common(b, "REPORT_ONLY_MISMATCH", 1, 0, 1, "api.test");
	expect_str(b, "certpin-rule", "**.api.test");
	json_decref(b);
	json_decref(ps);
	certpin_reporter_free(r);
	certpin_policy_free(p);
}

static void pinned_handshake_is_not_reported(void **state)
{
	(void)state;
	char pins[160];
	snprintf(pins, sizeof pins, "\"%s\",\"%s\"", P.int_pin, P.backup_pin);
	certpin_policy *p = rule_policy("api.test", pins, "enforce", "2099-06-01");
	certpin_reporter *r = reporter(0, 0, NULL, NULL);
	certpin_verdict_code code = 0;
	assert_int_equal(handshake_reported(p, r, &code), 1);
	assert_int_equal(code, CERTPIN_V_PINNED);
	json_t *ps = posts();
	assert_int_equal(json_array_size(ps), 0);
	json_decref(ps);
	certpin_reporter_stats st;
	certpin_reporter_get_stats(r, &st);
	assert_int_equal(st.submitted, 0);
	certpin_reporter_free(r);
	certpin_policy_free(p);
}

static void validation_failure_on_pinned_host_is_reported(void **state)
{
	(void)state;
	char pins[128];
	snprintf(pins, sizeof pins, "\"%s\"", P.int_pin);
	certpin_policy *p = rule_policy("api.test", pins, "enforce", "2099-06-01");
	certpin_reporter *r = reporter(0, 0, NULL, NULL);
	certpin_verdict_code code = 0;
	assert_int_equal(handshake_reported(p, r, &code), 0);
	assert_int_equal(code, CERTPIN_V_CHAIN_INVALID);
	json_t *ps = posts();
	assert_int_equal(json_array_size(ps), 1);
	json_t *b = post_body(ps, 0);
	expect_common(b, "CHAIN_INVALID", 2, 1, 0, "api.test");
	X509 *served[] = {P.rogue_leaf};
	expect_chain(b, "served-certificate-chain", served, 1);
	/* what OpenSSL had built when it failed: the self-signed leaf */
	expect_chain(b, "validated-certificate-chain", served, 1);
	assert_non_null(strstr(json_string_value(json_object_get(b, "certpin-reason")), "self"));
	json_decref(b);
	json_decref(ps);
	certpin_reporter_free(r);
	certpin_policy_free(p);
}

/* The DER API path: certpin_evaluate, then an explicit submit with the served chain. */
static void expired_pin_set_is_reported_through_explicit_submit(void **state)
{
	(void)state;
	char pins[128];
	snprintf(pins, sizeof pins, "\"%s\"", P.int_pin);
	certpin_policy *p = rule_policy("api.test", pins, "enforce", "2099-06-01");
	certpin_der chain[3] = {der_of(P.leaf), der_of(P.inter), der_of(P.root)};
	certpin_verdict *v = NULL;
	int64_t after = 0;
	assert_int_equal(certpin_time_parse("2099-06-02T00:00:00Z", 0, &after, NULL), CERTPIN_OK);
	assert_int_equal(certpin_evaluate(p, "api.test", chain, 3, after, &v), CERTPIN_OK);
	assert_int_equal(certpin_verdict_get_code(v), CERTPIN_V_EXPIRED_UNPINNED);
	assert_true(certpin_verdict_allowed(v));
	certpin_reporter *r = reporter(0, 0, NULL, NULL);
	certpin_report_status st;
	assert_int_equal(certpin_reporter_submit(r, p, v, 8443, chain, 2, &st), CERTPIN_OK);
	assert_int_equal(st, CERTPIN_REPORT_QUEUED);
	assert_int_equal(certpin_reporter_flush(r, 20000), CERTPIN_OK);
	json_t *ps = posts();
	assert_int_equal(json_array_size(ps), 1);
	json_t *b = post_body(ps, 0);
	expect_common(b, "EXPIRED_UNPINNED", 0, 1, 0, "api.test");
	assert_int_equal(json_integer_value(json_object_get(b, "port")), 8443);
	X509 *served[] = {P.leaf, P.inter}, *valid[] = {P.leaf, P.inter, P.root};
	expect_chain(b, "served-certificate-chain", served, 2);
	expect_chain(b, "validated-certificate-chain", valid, 3);
	json_decref(b);
	json_decref(ps);
	certpin_verdict_free(v);
	certpin_reporter_free(r);
	for (size_t i = 0; i < 3; i++)
		free((void *)(uintptr_t)chain[i].der);
	certpin_policy_free(p);
}

/* ---- the callback ----------------------------------------------------------------- */

static struct cb_seen {
	int calls;
	int veto_next;
	char first_json[1 << 15];
	char host[64];
	certpin_verdict_code code;
	size_t n_uris;
	char uri0[128], uri1[128];
} CB;

static certpin_report_action app_cb(certpin_report *rep, void *arg)
{
	assert_ptr_equal(arg, &CB);
	CB.calls++;
	const char *j = certpin_report_json(rep);
	if (CB.calls == 1 && j != NULL)
		cp_strlcpy(CB.first_json, j, sizeof CB.first_json);
	cp_strlcpy(CB.host, certpin_report_get_string(rep, "hostname"), sizeof CB.host);
	assert_null(certpin_report_get_string(rep, "port")); /* not a string */
	assert_null(certpin_report_get_string(rep, "no-such-field"));
	CB.code = certpin_report_verdict_code(rep);
	CB.n_uris = certpin_report_uri_count(rep);
	cp_strlcpy(CB.uri0, certpin_report_uri(rep, 0) ? certpin_report_uri(rep, 0) : "", sizeof CB.uri0);
	cp_strlcpy(CB.uri1, certpin_report_uri(rep, 1) ? certpin_report_uri(rep, 1) : "", sizeof CB.uri1);
	assert_null(certpin_report_uri(rep, 5));
	assert_int_equal(certpin_report_set_string(rep, "device-model", "test-phone"), CERTPIN_OK);
	assert_int_equal(certpin_report_set_integer(rep, "session", 42), CERTPIN_OK);
	assert_int_equal(certpin_report_set_string(rep, "x", "\xff\xfe"), CERTPIN_E_INVALID_ARG);
	assert_int_equal(certpin_report_set_string(rep, NULL, "v"), CERTPIN_E_INVALID_ARG);
	/* the text follows the changes */
	assert_non_null(strstr(certpin_report_json(rep), "\"device-model\":\"test-phone\""));
	if (CB.veto_next) {
		CB.veto_next = 0;
		return CERTPIN_REPORT_DROP;
	}
	return CERTPIN_REPORT_SEND;
}

static void callback_sees_first_adds_fields_and_vetoes(void **state)
{
	(void)state;
	memset(&CB, 0, sizeof CB);
	char pins[128];
	snprintf(pins, sizeof pins, "\"%s\"", P.backup_pin);
	certpin_policy *p = rule_policy("api.test", pins, "enforce", "2099-06-01");
	char def[128];
	snprintf(def, sizeof def, "https://127.0.0.1:%d/default", S.coll_port);
	certpin_reporter_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.cafile = tu_path("root.pem");
	cfg.default_uri = def;
	cfg.callback = app_cb;
	cfg.callback_arg = &CB;
	certpin_reporter *r = NULL;
	assert_int_equal(certpin_reporter_new(&cfg, &r, NULL), CERTPIN_OK);

	certpin_der chain[3] = {der_of(P.leaf), der_of(P.inter), der_of(P.root)};
	certpin_verdict *v = NULL;
	assert_int_equal(certpin_evaluate(p, "api.test", chain, 3, 0, &v), CERTPIN_OK);
	certpin_report_status st;
	CB.veto_next = 1;
	assert_int_equal(certpin_reporter_submit(r, p, v, 443, chain, 3, &st), CERTPIN_OK);
	assert_int_equal(certpin_reporter_flush(r, 20000), CERTPIN_OK);
	assert_int_equal(CB.calls, 1);
	assert_string_equal(CB.host, "api.test");
	assert_int_equal(CB.code, CERTPIN_V_PIN_MISMATCH);
	assert_int_equal(CB.n_uris, 2); /* the rule's, then the default */
	assert_non_null(strstr(CB.uri0, "/pins"));
	assert_string_equal(CB.uri1, def);
	/* the callback saw the report before anything was sent: here, nothing was */
	assert_non_null(strstr(CB.first_json, "\"hostname\":\"api.test\""));
	json_t *ps = posts();
	assert_int_equal(json_array_size(ps), 0);
	json_decref(ps);

	/* another chain: sent to both URIs with the added fields */
	certpin_der chain2[2] = {der_of(P.rogue_leaf), der_of(P.root)};
	assert_int_equal(certpin_evaluate(p, "api.test", chain2, 2, 0, &v), CERTPIN_OK);
	assert_int_equal(certpin_reporter_submit(r, p, v, 443, chain2, 2, &st), CERTPIN_OK);
	assert_int_equal(st, CERTPIN_REPORT_QUEUED);
	assert_int_equal(certpin_reporter_flush(r, 20000), CERTPIN_OK);
	assert_int_equal(CB.calls, 2);
	ps = posts();
	assert_int_equal(json_array_size(ps), 2);
	expect_clean_post(ps, 0, "/pins");
	expect_clean_post(ps, 1, "/default");
	for (size_t i = 0; i < 2; i++) {
		json_t *b = post_body(ps, i);
		expect_str(b, "device-model", "test-phone");
		assert_int_equal(json_integer_value(json_object_get(b, "session")), 42);
		assert_null(json_object_get(b, "app-id")); /* not configured: left out */
		json_decref(b);
	}
	json_decref(ps);
	certpin_reporter_stats s;
	certpin_reporter_get_stats(r, &s);
	assert_int_equal(s.vetoed, 1);
	assert_int_equal(s.sent, 2);
	certpin_verdict_free(v);
	certpin_reporter_free(r);
	for (size_t i = 0; i < 3; i++)
		free((void *)(uintptr_t)chain[i].der);
	for (size_t i = 0; i < 2; i++)
		free((void *)(uintptr_t)chain2[i].der);
	certpin_policy_free(p);
}

/* ---- dedup -------------------------------------------------------------------- */

static _Atomic int64_t fake_now;
static int64_t fake_clock(void)
{
	return atomic_load(&fake_now);
}

static void identical_violations_are_sent_once_per_window(void **state)
{
	(void)state;
	char pins[128];
	snprintf(pins, sizeof pins, "\"%s\"", P.backup_pin);
	certpin_policy *p = rule_policy("api.test", pins, "enforce", "2099-06-01");
	certpin_reporter *r = reporter(0, 0, NULL, NULL);
	atomic_store(&fake_now, (int64_t)time(NULL));
	cp_reporter_set_clock(r, fake_clock);

	certpin_der chain[3] = {der_of(P.leaf), der_of(P.inter), der_of(P.root)};
	certpin_verdict *v = NULL;
	assert_int_equal(certpin_evaluate(p, "api.test", chain, 3, 0, &v), CERTPIN_OK);
	int queued = 0, dups = 0;
	for (int i = 0; i < 1000; i++) {
		certpin_report_status st;
		assert_int_equal(certpin_reporter_submit(r, p, v, 443, chain, 3, &st), CERTPIN_OK);
		queued += st == CERTPIN_REPORT_QUEUED;
		dups += st == CERTPIN_REPORT_DUPLICATE;
	}
	assert_int_equal(queued, 1);
	assert_int_equal(dups, 999);
	assert_int_equal(certpin_reporter_flush(r, 20000), CERTPIN_OK);
	json_t *ps = posts();
	assert_int_equal(json_array_size(ps), 1);
	json_decref(ps);

	/* different validated chains: one POST each */
	X509 *leaves[3];
	EVP_PKEY *keys[3];
	int64_t now = (int64_t)time(NULL);
	for (int i = 0; i < 3; i++) {
		keys[i] = tu_key(TU_P256);
		leaves[i] = tu_cert(keys[i], "api.test", P.inter, P.int_key, 0, "DNS:api.test",
		                    now - 3600, now + 86400);
		certpin_der c2[3] = {der_of(leaves[i]), chain[1], chain[2]};
		assert_int_equal(certpin_evaluate(p, "api.test", c2, 3, 0, &v), CERTPIN_OK);
		for (int k = 0; k < 10; k++)
			assert_int_equal(certpin_reporter_submit(r, p, v, 443, c2, 3, NULL), CERTPIN_OK);
		free((void *)(uintptr_t)c2[0].der);
	}
	assert_int_equal(certpin_reporter_flush(r, 20000), CERTPIN_OK);
	ps = posts();
	assert_int_equal(json_array_size(ps), 4);
	json_decref(ps);

	/* the same verdict under another result is another report */
	certpin_policy *rp = rule_policy("api.test", pins, "report", "2099-06-01");
	assert_int_equal(certpin_evaluate(rp, "api.test", chain, 3, 0, &v), CERTPIN_OK);
	certpin_report_status st;
	assert_int_equal(certpin_reporter_submit(r, rp, v, 443, chain, 3, &st), CERTPIN_OK);
	assert_int_equal(st, CERTPIN_REPORT_QUEUED);

	/* a day later the first one is sent again, once */
	assert_int_equal(certpin_evaluate(p, "api.test", chain, 3, 0, &v), CERTPIN_OK);
	atomic_store(&fake_now, atomic_load(&fake_now) + 86399);
	assert_int_equal(certpin_reporter_submit(r, p, v, 443, chain, 3, &st), CERTPIN_OK);
	assert_int_equal(st, CERTPIN_REPORT_DUPLICATE);
	atomic_store(&fake_now, atomic_load(&fake_now) + 1);
	assert_int_equal(certpin_reporter_submit(r, p, v, 443, chain, 3, &st), CERTPIN_OK);
	assert_int_equal(st, CERTPIN_REPORT_QUEUED);
	assert_int_equal(certpin_reporter_submit(r, p, v, 443, chain, 3, &st), CERTPIN_OK);
	assert_int_equal(st, CERTPIN_REPORT_DUPLICATE);
	assert_int_equal(certpin_reporter_flush(r, 20000), CERTPIN_OK);
	ps = posts();
	assert_int_equal(json_array_size(ps), 6);
	json_decref(ps);
	certpin_reporter_stats s;
	certpin_reporter_get_stats(r, &s);
	assert_int_equal(s.submitted, 1000 + 30 + 1 + 3);
	assert_int_equal(s.duplicates, 999 + 27 + 2);
	assert_int_equal(s.sent, 6);
	assert_int_equal(s.dropped, 0);

	for (int i = 0; i < 3; i++) {
		X509_free(leaves[i]);
		EVP_PKEY_free(keys[i]);
	}
	certpin_verdict_free(v);
	certpin_reporter_free(r);
	for (size_t i = 0; i < 3; i++)
		free((void *)(uintptr_t)chain[i].der);
	certpin_policy_free(p);
	certpin_policy_free(rp);
}

/* ---- broken collectors ------------------------------------------------------------ */

/* A policy whose rule reports to https://127.0.0.1:port/pins. */
static certpin_policy *policy_to(int port, const char *userinfo)
{
	return load_policy("{\"certpin\":1,\"domains\":[{\"host\":\"api.test\",\"pins\":[\"%s\"],"
	                   "\"report_uris\":[\"https://%s127.0.0.1:%d/pins\"]}]}",
	                   P.backup_pin, userinfo, port);
}

static void submit_one(certpin_reporter *r, certpin_policy *p)
{
	certpin_der chain[3] = {der_of(P.leaf), der_of(P.inter), der_of(P.root)};
	certpin_verdict *v = NULL;
	assert_int_equal(certpin_evaluate(p, "api.test", chain, 3, 0, &v), CERTPIN_OK);
	certpin_report_status st;
	assert_int_equal(certpin_reporter_submit(r, p, v, 443, chain, 3, &st), CERTPIN_OK);
	assert_int_equal(st, CERTPIN_REPORT_QUEUED);
	certpin_verdict_free(v);
	for (size_t i = 0; i < 3; i++)
		free((void *)(uintptr_t)chain[i].der);
}

static void collector_answering_500_counts_as_failed(void **state)
{
	(void)state;
	collector_start("500");
	certpin_policy *p = policy_to(S.coll_port, "");
	certpin_reporter *r = reporter(0, 0, NULL, NULL);
	submit_one(r, p);
	assert_int_equal(certpin_reporter_flush(r, 20000), CERTPIN_OK);
	certpin_reporter_stats s;
	certpin_reporter_get_stats(r, &s);
	assert_int_equal(s.failed, 1);
	assert_int_equal(s.sent, 0);
	json_t *ps = posts();
	assert_int_equal(json_array_size(ps), 1); /* it arrived; the answer was 500; no retry */
	json_decref(ps);
	certpin_reporter_free(r);
	certpin_policy_free(p);
}

static void redirect_is_not_followed(void **state)
{
	(void)state;
	collector_start("redirect");
	certpin_policy *p = policy_to(S.coll_port, "");
	certpin_reporter *r = reporter(0, 0, NULL, NULL);
	submit_one(r, p);
	assert_int_equal(certpin_reporter_flush(r, 20000), CERTPIN_OK);
	certpin_reporter_stats s;
	certpin_reporter_get_stats(r, &s);
	assert_int_equal(s.failed, 1); /* a 302 is not a 2xx */
	json_t *ps = posts();
	assert_int_equal(json_array_size(ps), 1); /* /redirected was never asked for */
	expect_clean_post(ps, 0, "/pins");
	json_decref(ps);
	certpin_reporter_free(r);
	certpin_policy_free(p);
}

static void uri_with_credentials_is_never_posted(void **state)
{
	(void)state;
	certpin_policy *p = policy_to(S.coll_port, "user:secret@");
	certpin_reporter *r = reporter(0, 0, NULL, NULL);
	submit_one(r, p);
	assert_int_equal(certpin_reporter_flush(r, 20000), CERTPIN_OK);
	certpin_reporter_stats s;
	certpin_reporter_get_stats(r, &s);
	assert_int_equal(s.failed, 1);
	json_t *ps = posts();
	assert_int_equal(json_array_size(ps), 0);
	json_decref(ps);
	certpin_reporter_free(r);
	certpin_policy_free(p);
}

static void collector_that_is_down_counts_as_failed(void **state)
{
	(void)state;
	/* a port that was just free: connection refused on 127.0.0.1 */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof sa;
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	close(fd);
	certpin_policy *p = policy_to(ntohs(sa.sin_port), "");
	certpin_reporter *r = reporter(0, 0, NULL, NULL);
	submit_one(r, p);
	assert_int_equal(certpin_reporter_flush(r, 20000), CERTPIN_OK);
	certpin_reporter_stats s;
	certpin_reporter_get_stats(r, &s);
	assert_int_equal(s.failed, 1);
	assert_int_equal(s.sent, 0);
	certpin_reporter_free(r);
	certpin_policy_free(p);
}

/*
 * A collector that accepts TCP connections (the kernel's backlog) and never
 * answers: submissions still return at once, the queue stays at its bound,
 * the newest are dropped and counted, flush gives up at its deadline and
 * freeing the reporter aborts the POST in flight.
 */
static void hung_collector_keeps_the_queue_bounded(void **state)
{
	(void)state;
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof sa;
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(lfd, 64), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
	certpin_policy *p = policy_to(ntohs(sa.sin_port), "");
	certpin_reporter *r = reporter(CERTPIN_REPORTER_NO_DEDUP, 4, NULL, NULL);

	certpin_der chain[3] = {der_of(P.leaf), der_of(P.inter), der_of(P.root)};
	certpin_verdict *v = NULL;
	assert_int_equal(certpin_evaluate(p, "api.test", chain, 3, 0, &v), CERTPIN_OK);
	int queued = 0, dropped = 0;
	for (int i = 0; i < 200; i++) {
		certpin_report_status st;
		assert_int_equal(certpin_reporter_submit(r, p, v, 443, chain, 3, &st), CERTPIN_OK);
		queued += st == CERTPIN_REPORT_QUEUED;
		dropped += st == CERTPIN_REPORT_DROPPED;
		certpin_reporter_stats s;
		certpin_reporter_get_stats(r, &s);
		assert_true(s.queued <= 4);
	}
	/* at most the queue plus the one the thread took */
	assert_true(queued >= 4 && queued <= 5);
	assert_int_equal(queued + dropped, 200);
	assert_int_equal(certpin_reporter_dropped(r), (uint64_t)dropped);
	assert_int_equal(certpin_reporter_flush(r, 200), CERTPIN_E_TIMEOUT);
	certpin_reporter_stats s;
	certpin_reporter_get_stats(r, &s);
	assert_int_equal(s.sent, 0);
	assert_int_equal(s.queue_max, 4);
	certpin_reporter_free(r); /* aborts the POST in flight, discards the queue */
	close(lfd);
	certpin_verdict_free(v);
	for (size_t i = 0; i < 3; i++)
		free((void *)(uintptr_t)chain[i].der);
	certpin_policy_free(p);
}

/* ---- the libcurl adapter ---------------------------------------------------------- */

static size_t sink(char *ptr, size_t size, size_t n, void *u)
{
	(void)ptr, (void)u;
	return size * n;
}

static void curl_adapter_reports_a_blocked_transfer(void **state)
{
	(void)state;
	char pins[128];
	snprintf(pins, sizeof pins, "\"%s\"", P.backup_pin);
	certpin_policy *p = rule_policy("api.test", pins, "enforce", "2099-06-01");
	certpin_reporter *r = reporter(0, 0, NULL, NULL);
	certpin_ctx *c = certpin_ctx_new(p);
	assert_int_equal(certpin_ctx_set_reporter(c, r), CERTPIN_OK);
	CURL *h = curl_easy_init();
	assert_non_null(h);
	char url[128], resolve[128];
	snprintf(url, sizeof url, "https://api.test:%d/", S.tls_port);
	snprintf(resolve, sizeof resolve, "api.test:%d:127.0.0.1", S.tls_port);
	struct curl_slist *res = curl_slist_append(NULL, resolve);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_RESOLVE, res);
	curl_easy_setopt(h, CURLOPT_CAINFO, tu_path("root.pem"));
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	assert_int_equal(certpin_curl_pin(h, c), CERTPIN_OK);
	assert_int_not_equal(curl_easy_perform(h), CURLE_OK);
	assert_int_equal(certpin_curl_last_verdict_code(h), CERTPIN_V_PIN_MISMATCH);
	certpin_curl_unpin(h);
	curl_easy_cleanup(h);
	curl_slist_free_all(res);
	assert_int_equal(certpin_reporter_flush(r, 20000), CERTPIN_OK);
	json_t *ps = posts();
	assert_int_equal(json_array_size(ps), 1);
	json_t *b = post_body(ps, 0);
	expect_common(b, "PIN_MISMATCH", 1, 1, 0, "api.test");
	assert_int_equal(json_integer_value(json_object_get(b, "port")), S.tls_port);
	json_decref(b);
	json_decref(ps);
	/* detaching: later violations are not reported */
	assert_int_equal(certpin_ctx_set_reporter(c, NULL), CERTPIN_OK);
	certpin_ctx_free(c);
	certpin_reporter_free(r);
	certpin_policy_free(p);
}

/* ---- concurrency (run under ASan and TSan) ----------------------------------------- */

#define CONC_THREADS 4
#define CONC_HANDSHAKES 6

static struct conc {
	SSL_CTX *ctx;
	atomic_int bad;
} C;

static void *conc_worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < CONC_HANDSHAKES; i++) {
		certpin_verdict_code code = 0;
		int ok = handshake(C.ctx, &code);
		if (ok != 1 || code != CERTPIN_V_REPORT_ONLY_MISMATCH)
			atomic_fetch_add(&C.bad, 1);
	}
	return NULL;
}

static void concurrent_handshakes_that_all_report(void **state)
{
	(void)state;
	char pins[128];
	snprintf(pins, sizeof pins, "\"%s\"", P.backup_pin);
	certpin_policy *p = rule_policy("api.test", pins, "report", "2099-06-01");
	certpin_reporter *r = reporter(CERTPIN_REPORTER_NO_DEDUP, 64, NULL, NULL);
	certpin_ctx *c = certpin_ctx_new(p);
	assert_int_equal(certpin_ctx_set_reporter(c, r), CERTPIN_OK);
	C.ctx = client_ctx(c);
	atomic_store(&C.bad, 0);
	pthread_t t[CONC_THREADS];
	for (int i = 0; i < CONC_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, conc_worker, NULL), 0);
	/* meanwhile: stats, and a reporter swap on the holder */
	for (int i = 0; i < 20; i++) {
		certpin_reporter_stats s;
		certpin_reporter_get_stats(r, &s);
		assert_true(s.queued <= 64);
		assert_int_equal(certpin_ctx_set_reporter(c, r), CERTPIN_OK);
		usleep(2000);
	}
	for (int i = 0; i < CONC_THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_int_equal(atomic_load(&C.bad), 0);
	assert_int_equal(certpin_reporter_flush(r, 60000), CERTPIN_OK);
	certpin_reporter_stats s;
	certpin_reporter_get_stats(r, &s);
	assert_int_equal(s.submitted, CONC_THREADS * CONC_HANDSHAKES);
	assert_int_equal(s.sent + s.dropped + s.failed, CONC_THREADS * CONC_HANDSHAKES);
	json_t *ps = posts();
	assert_int_equal(json_array_size(ps), s.sent);
	json_decref(ps);
	SSL_CTX_free(C.ctx);
	certpin_ctx_free(c);
	certpin_reporter_free(r);
	certpin_policy_free(p);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(reporter_new_refuses_bad_configuration),
	    cmocka_unit_test_setup_teardown(submit_refuses_bad_arguments_and_skips_allowed_verdicts,
	                                    start_collector, stop_all),
	    cmocka_unit_test_setup_teardown(blocked_handshake_is_reported_field_by_field, start_real,
	                                    stop_all),
	    cmocka_unit_test_setup_teardown(report_only_mismatch_is_allowed_and_reported, start_real,
	                                    stop_all),
	    cmocka_unit_test_setup_teardown(pinned_handshake_is_not_reported, start_real, stop_all),
	    cmocka_unit_test_setup_teardown(validation_failure_on_pinned_host_is_reported,
	                                    start_rogue, stop_all),
	    cmocka_unit_test_setup_teardown(expired_pin_set_is_reported_through_explicit_submit,
	                                    start_collector, stop_all),
	    cmocka_unit_test_setup_teardown(callback_sees_first_adds_fields_and_vetoes,
	                                    start_collector, stop_all),
	    cmocka_unit_test_setup_teardown(identical_violations_are_sent_once_per_window,
	                                    start_collector, stop_all),
	    cmocka_unit_test_teardown(collector_answering_500_counts_as_failed, stop_all),
	    cmocka_unit_test_teardown(redirect_is_not_followed, stop_all),
	    cmocka_unit_test_setup_teardown(uri_with_credentials_is_never_posted, start_collector,
	                                    stop_all),
	    cmocka_unit_test(collector_that_is_down_counts_as_failed),
	    cmocka_unit_test(hung_collector_keeps_the_queue_bounded),
	    cmocka_unit_test_setup_teardown(curl_adapter_reports_a_blocked_transfer, start_real,
	                                    stop_all),
	    cmocka_unit_test_setup_teardown(concurrent_handshakes_that_all_report, start_real,
	                                    stop_all),
	};
	int rc = cmocka_run_group_tests(tests, setup_pki, teardown_pki);
	curl_global_cleanup();
	return rc;
}
