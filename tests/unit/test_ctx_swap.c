/*
 * Live policy swaps under load: 4 threads make real TLS handshakes (OpenSSL
 * client with certpin attached, OpenSSL server, in memory through BIO pairs)
 * in a loop while the main thread swaps the policy 1,000 times between A
 * (pins the leaf and a backup: PINNED) and B (pins only the backup:
 * PIN_MISMATCH). Every swap installs a newly loaded policy and drops the
 * test's own reference, so each replaced policy is freed as soon as its last
 * handshake lets go: a reader that took a reference to a policy being freed
 * is a use-after-free under ASan. Every handshake's verdict must come from
 * exactly one of the two: PINNED with a completed handshake and A's rule
 * (two pins), PIN_MISMATCH with a failed one and B's (one pin). Run under ASan and ThreadSanitizer
 * (make test builds build-tsan for this test).
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "certpin/certpin_openssl.h"
#include "testutil.h"

#define THREADS 4
#define SWAPS 1000

static SSL_CTX *server_ctx, *client_ctx;
static certpin_ctx *holder;
static char leaf_pin[64], backup_pin[64];
static atomic_int stop, bad, pinned, mismatched;
static char bad_msg[256];

static certpin_policy *policy_with(const char *pin1, const char *pin2)
{
	char json[512];
	snprintf(json, sizeof json,
	         "{\"certpin\":1,\"domains\":[{\"host\":\"api.test\",\"pins\":[\"%s\"%s%s%s]}]}", pin1,
	         pin2 ? ",\"" : "", pin2 ? pin2 : "", pin2 ? "\"" : "");
	certpin_policy *p = NULL;
	assert_int_equal(certpin_policy_load_mem(json, strlen(json), "swap", NULL, 0, &p, NULL, NULL),
	                 CERTPIN_OK);
	return p;
}

/* One in-memory handshake. 1 completed, 0 failed. *pins: the pin count of
 * the verdict's rule (2: policy A, 1: policy B), read while the verdict and
 * so its policy are alive. */
static int handshake(certpin_verdict_code *code, size_t *pins)
{
	SSL *c = SSL_new(client_ctx), *s = SSL_new(server_ctx);
	BIO *bc = NULL, *bs = NULL;
	int done = 0, ok = 0;
	*code = (certpin_verdict_code)0;
	*pins = 0;
	if (c == NULL || s == NULL || BIO_new_bio_pair(&bc, 0, &bs, 0) != 1)
		goto out;
	SSL_set_bio(c, bc, bc);
	SSL_set_bio(s, bs, bs);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	if (SSL_set1_host(c, "api.test") != 1)
		goto out;
	for (int i = 0; i < 100 && !done; i++) {
		int rc = SSL_do_handshake(c);
		int rs = SSL_do_handshake(s);
		if (rc == 1 && rs == 1) {
			done = ok = 1;
		} else if ((rc <= 0 && SSL_get_error(c, rc) != SSL_ERROR_WANT_READ) ||
		           (rs <= 0 && SSL_get_error(s, rs) != SSL_ERROR_WANT_READ)) {
			done = 1;
		}
	}
	const certpin_verdict *v = certpin_openssl_get_verdict(c);
	*code = v ? certpin_verdict_get_code(v) : (certpin_verdict_code)0;
	const certpin_rule *rule = v ? certpin_verdict_rule(v) : NULL;
	*pins = rule ? certpin_rule_pin_count(rule, CERTPIN_SCOPE_ANY) : 0;
out:
	SSL_free(c);
	SSL_free(s);
	ERR_clear_error();
	return ok;
}

static void fail_with(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail_with(const char *fmt, ...)
{
	if (atomic_fetch_add(&bad, 1) == 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(bad_msg, sizeof bad_msg, fmt, ap);
		va_end(ap);
	}
}

static void *worker(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		certpin_verdict_code code = (certpin_verdict_code)0;
		size_t pins = 0;
		int ok = handshake(&code, &pins);
		if (code == CERTPIN_V_PINNED && ok && pins == 2)
			atomic_fetch_add(&pinned, 1);
		else if (code == CERTPIN_V_PIN_MISMATCH && !ok && pins == 1)
			atomic_fetch_add(&mismatched, 1);
		else
			fail_with("verdict %s, handshake %s, rule with %zu pins",
			          certpin_verdict_code_name(code), ok ? "completed" : "failed", pins);
	}
	return NULL;
}

static void verdicts_match_one_policy_while_swapping_1000_times(void **state)
{
	(void)state;
	EVP_PKEY *root_key = tu_key(TU_P256), *leaf_key = tu_key(TU_P256), *backup = tu_key(TU_P256);
	int64_t now = (int64_t)time(NULL);
	X509 *root = tu_cert(root_key, "swap root", NULL, NULL, 1, NULL, now - 3600, now + 86400);
	X509 *leaf = tu_cert(leaf_key, "api.test", root, root_key, 0, "DNS:api.test", now - 3600,
	                     now + 86400);
	snprintf(leaf_pin, sizeof leaf_pin, "%s", tu_spki_pin_text(leaf_key));
	snprintf(backup_pin, sizeof backup_pin, "%s", tu_spki_pin_text(backup));

	server_ctx = SSL_CTX_new(TLS_server_method());
	assert_non_null(server_ctx);
	assert_int_equal(SSL_CTX_use_certificate(server_ctx, leaf), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(server_ctx, leaf_key), 1);
	SSL_CTX_set_num_tickets(server_ctx, 0);
	client_ctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(client_ctx);
	assert_int_equal(X509_STORE_add_cert(SSL_CTX_get_cert_store(client_ctx), root), 1);
	SSL_CTX_set_verify(client_ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_session_cache_mode(client_ctx, SSL_SESS_CACHE_OFF);
	certpin_policy *first = policy_with(leaf_pin, backup_pin);
	holder = certpin_ctx_new(first);
	certpin_policy_free(first);
	assert_non_null(holder);
	assert_int_equal(certpin_openssl_attach(client_ctx, holder), CERTPIN_OK);

	/*
	 * One handshake before the threads: OpenSSL 3.0 caches a certificate's
	 * extensions on first use behind a double-checked lock, which
	 * ThreadSanitizer reports as a race when several threads verify against
	 * the shared root for the first time at once (OpenSSL's, not certpin's:
	 * seen in 1 of 3 CI runs). Warming the root takes it out of the test.
	 */
	certpin_verdict_code warm_code;
	size_t warm_pins;
	assert_int_equal(handshake(&warm_code, &warm_pins), 1);
	assert_int_equal(warm_code, CERTPIN_V_PINNED);

	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker, NULL), 0);
	for (int i = 0; i < SWAPS; i++) {
		/* a new policy object each time; the holder keeps the only reference */
		certpin_policy *p = i % 2 ? policy_with(leaf_pin, backup_pin) : policy_with(backup_pin, NULL);
		assert_int_equal(certpin_ctx_set_policy(holder, p), CERTPIN_OK);
		certpin_policy_free(p);
		struct timespec ts = {0, 200 * 1000}; /* 0.2 ms: handshakes in between */
		nanosleep(&ts, NULL);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);

	printf("# %d swaps, %d PINNED under A, %d PIN_MISMATCH under B\n", SWAPS,
	       atomic_load(&pinned), atomic_load(&mismatched));
	if (atomic_load(&bad) != 0)
		fail_msg("%d handshakes matched neither policy; first: %s", atomic_load(&bad), bad_msg);
	/* both policies were in force during the run */
	assert_true(atomic_load(&pinned) > 0);
	assert_true(atomic_load(&mismatched) > 0);
	assert_int_equal(certpin_ctx_generation(holder), 1 + SWAPS);

	certpin_ctx_free(holder);
	SSL_CTX_free(client_ctx);
	SSL_CTX_free(server_ctx);
	X509_free(root);
	X509_free(leaf);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(leaf_key);
	EVP_PKEY_free(backup);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(verdicts_match_one_policy_while_swapping_1000_times),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
