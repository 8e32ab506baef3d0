/*
 * The libcurl adapter: the OpenSSL adapter on every SSL_CTX libcurl makes,
 * plus a re-check of reused connections.
 *
 * Facts about libcurl 7.88 (OpenSSL backend, lib/vtls/openssl.c) this relies
 * on, checked with a probe against s_server:
 *  - ossl_connect_step1() makes a new SSL_CTX for every connection, sets it
 *    up (verify mode, CA file, session cache callbacks), calls
 *    CURLOPT_SSL_CTX_FUNCTION with the easy handle that connects, then
 *    SSL_new(), SNI and SSL_set_session() from curl's own session cache.
 *    SSL_new() copies the SSL_CTX's X509_VERIFY_PARAM (hosts and IP).
 *  - SNI is the URL's host name whatever VERIFYHOST/VERIFYPEER say and with
 *    CONNECT_TO/RESOLVE; no SNI for IP literals; SSL_set1_host() is never
 *    called (curl checks the name itself after the handshake).
 *  - VERIFYPEER=0 is SSL_CTX_set_verify(SSL_VERIFY_NONE): the OpenSSL
 *    adapter turns a blocked check into a failed handshake anyway.
 *  - A reused connection has no handshake, so no SSL_CTX callback and no
 *    certificate check; CURLOPT_PREREQFUNCTION (7.80+) runs before every
 *    request and CURLINFO_TLS_SSL_PTR then gives the connection's SSL.
 *  - The SSL is freed when a failed connection is closed, before
 *    curl_easy_perform() returns: the verdict is copied (code, host,
 *    formatted message) from the info callback, which the adapter chains to.
 *
 * Per-handle state is found by the handle's address in a registry (libcurl
 * has no way to read an option back and no per-handle destructor). SSL_CTXs
 * hold references to it, so a connection that outlives its handle in a pool
 * never points at freed memory.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certpin/certpin_curl.h"
#include "certpin/certpin_openssl.h"
#include "internal.h"

/* Longest failure message kept per handle. */
#define CP_CURL_MSG_MAX (256u * 1024u)
#define CP_CURL_BUCKETS 1024u

/* Per pinned easy handle. */
typedef struct cp_curl {
	atomic_uint refs;
	CURL *easy; /* registry key; certpin calls libcurl on it only from its callbacks */
	certpin_ctx *ctx;
	struct cp_curl *next; /* registry chain, under reg_mu */
	pthread_mutex_t mu;   /* the last-check fields below */
	certpin_verdict_code last_code;
	char *last_msg;
	char last_host[CERTPIN_HOST_MAX + 1];
	certpin_verdict *scratch; /* re-checks, on the handle's thread only */
} cp_curl;

/* Per SSL_CTX libcurl made for one of our handles. */
typedef struct cp_curl_sctx {
	cp_curl *st;         /* a reference */
	uint64_t ctx_id;     /* of st->ctx when attached */
	uint64_t gen_setup;  /* generation before any check on it could start */
	void (*prev_info)(const SSL *ssl, int where, int ret);
} cp_curl_sctx;

/* Per SSL: the last successful check of this connection. */
typedef struct cp_curl_conn {
	uint64_t ctx_id;
	uint64_t generation;
} cp_curl_conn;

static cp_curl *reg[CP_CURL_BUCKETS];
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static int idx_sctx = -1, idx_conn = -1;
static pthread_once_t idx_once = PTHREAD_ONCE_INIT;

static cp_curl *state_ref(cp_curl *st)
{
	atomic_fetch_add(&st->refs, 1u);
	return st;
}

static void state_unref(cp_curl *st)
{
	if (st == NULL || atomic_fetch_sub(&st->refs, 1u) != 1u)
		return;
	certpin_ctx_free(st->ctx);
	certpin_verdict_free(st->scratch);
	free(st->last_msg);
	pthread_mutex_destroy(&st->mu);
	free(st);
}

static size_t bucket(const CURL *easy)
{
	uintptr_t h = (uintptr_t)easy;
	h ^= h >> 17;
	h *= (uintptr_t)0x9E3779B97F4A7C15ull;
	return (size_t)(h >> 7) % CP_CURL_BUCKETS;
}

/* The registered state of easy as a new reference, or NULL. */
static cp_curl *reg_get(const CURL *easy)
{
	cp_curl *found = NULL;
	if (pthread_mutex_lock(&reg_mu) != 0)
		return NULL;
	for (cp_curl *s = reg[bucket(easy)]; s != NULL; s = s->next)
		if (s->easy == easy) {
			found = state_ref(s);
			break;
		}
	pthread_mutex_unlock(&reg_mu);
	return found;
}

/* Unlinks easy's state and returns the registry's reference, or NULL. */
static cp_curl *reg_take(const CURL *easy)
{
	cp_curl *found = NULL;
	if (pthread_mutex_lock(&reg_mu) != 0)
		return NULL;
	for (cp_curl **pp = &reg[bucket(easy)]; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->easy == easy) {
			found = *pp;
			*pp = found->next;
			found->next = NULL;
			break;
		}
	pthread_mutex_unlock(&reg_mu);
	return found;
}

static void sctx_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	cp_curl_sctx *x = ptr;
	if (x == NULL)
		return;
	state_unref(x->st);
	free(x);
}

static void conn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	free(ptr);
}

/* SSL_dup: the copy has not been checked. */
static int conn_dup(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void **from_d, int idx,
                    long argl, void *argp)
{
	(void)to, (void)from, (void)idx, (void)argl, (void)argp;
	*from_d = NULL;
	return 1;
}

static void idx_init(void)
{
	idx_sctx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, sctx_free);
	idx_conn = SSL_get_ex_new_index(0, NULL, NULL, conn_dup, conn_free);
}

static int indices_ready(void)
{
	return pthread_once(&idx_once, idx_init) == 0 && idx_sctx >= 0 && idx_conn >= 0;
}

/* Copies what the application may ask for after the SSL is gone. */
static void record(cp_curl *st, const certpin_verdict *v)
{
	char small[1024];
	size_t need = certpin_verdict_format(v, small, sizeof small);
	char *msg = NULL;
	if (need < sizeof small) {
		msg = malloc(need + 1);
		if (msg != NULL)
			memcpy(msg, small, need + 1);
	} else {
		size_t n = (need < CP_CURL_MSG_MAX ? need : CP_CURL_MSG_MAX) + 1;
		msg = malloc(n);
		if (msg != NULL)
			(void)certpin_verdict_format(v, msg, n);
	}
	if (pthread_mutex_lock(&st->mu) != 0) {
		free(msg);
		return;
	}
	st->last_code = certpin_verdict_get_code(v);
	cp_strlcpy(st->last_host, certpin_verdict_host(v), sizeof st->last_host);
	free(st->last_msg);
	st->last_msg = msg; /* NULL after an allocation failure: the message reads "" */
	pthread_mutex_unlock(&st->mu);
}

/* Marks ssl as checked under generation gen of the holder ctx_id. */
static void conn_mark(SSL *ssl, uint64_t ctx_id, uint64_t gen)
{
	cp_curl_conn *cc = SSL_get_ex_data(ssl, idx_conn);
	if (cc == NULL) {
		cc = malloc(sizeof *cc);
		if (cc == NULL)
			return; /* unmarked: the next request re-checks */
		if (SSL_set_ex_data(ssl, idx_conn, cc) != 1) {
			free(cc);
			return;
		}
	}
	cc->ctx_id = ctx_id;
	cc->generation = gen;
}

/*
 * Runs after the OpenSSL adapter's own info callback (it chains to the one
 * set before it was attached), so its verdict for this handshake is final
 * at HANDSHAKE_DONE and at a fatal alert.
 */
static void info_cb(const SSL *cssl, int where, int ret)
{
	const cp_curl_sctx *x = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(cssl), idx_sctx);
	if (x == NULL)
		return;
	if (!SSL_is_server(cssl)) {
		const certpin_verdict *v = certpin_openssl_get_verdict(cssl);
		int fatal_alert = (where & SSL_CB_WRITE_ALERT) == SSL_CB_WRITE_ALERT &&
		                  (ret >> 8) == SSL3_AL_FATAL;
		/* a failed handshake whose alert could not be written */
		int failed_exit = (where & SSL_CB_CONNECT_EXIT) == SSL_CB_CONNECT_EXIT && ret <= 0 &&
		                  SSL_want(cssl) == SSL_NOTHING;
		if (v != NULL && (where & SSL_CB_HANDSHAKE_DONE)) {
			record(x->st, v);
			if (certpin_verdict_allowed(v)) {
				/* OpenSSL passes its own, mutable SSL as const. */
				conn_mark((SSL *)(uintptr_t)cssl, x->ctx_id, x->gen_setup);
			}
		} else if (v != NULL && (fatal_alert || failed_exit) && !certpin_verdict_allowed(v)) {
			record(x->st, v);
		}
	}
	if (x->prev_info != NULL)
		x->prev_info(cssl, where, ret);
}

/*
 * The host of the request easy is making, from CURLINFO_EFFECTIVE_URL,
 * without IPv6 brackets. Sets *is_ip. 0 on success, -1 otherwise.
 */
static int url_host(CURL *easy, char *out, size_t n, int *is_ip)
{
	char *url = NULL;
	if (curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &url) != CURLE_OK || url == NULL ||
	    url[0] == '\0')
		return -1;
	CURLU *u = curl_url();
	char *h = NULL;
	int rc = -1;
	if (u != NULL &&
	    curl_url_set(u, CURLUPART_URL, url, CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) ==
	        CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK && h != NULL) {
		size_t len = strlen(h);
		const char *p = h;
		if (len >= 2 && h[0] == '[' && h[len - 1] == ']') {
			p = h + 1;
			len -= 2;
		}
		if (len > 0 && len < n) {
			memcpy(out, p, len);
			out[len] = '\0';
			struct in6_addr a6;
			struct in_addr a4;
			*is_ip = inet_pton(AF_INET, out, &a4) == 1 || inet_pton(AF_INET6, out, &a6) == 1;
			rc = 0;
		}
	}
	curl_free(h);
	curl_url_cleanup(u);
	return rc;
}

/* The port of the request's URL (the scheme's default when it has none), or 0. */
static unsigned url_port(CURL *easy)
{
	char *url = NULL, *port = NULL;
	unsigned n = 0;
	if (curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &url) != CURLE_OK || url == NULL)
		return 0;
	CURLU *u = curl_url();
	if (u != NULL && curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK && port != NULL) {
		char *end = NULL;
		unsigned long v = strtoul(port, &end, 10);
		if (end != port && *end == '\0' && v > 0 && v < 65536)
			n = (unsigned)v;
	}
	curl_free(port);
	curl_url_cleanup(u);
	return n;
}

static CURLcode sslctx_cb(CURL *easy, void *sslctx, void *userptr)
{
	(void)userptr;
	SSL_CTX *sctx = sslctx;
	cp_curl *st = reg_get(easy); /* the reference goes to x */
	if (st == NULL || sctx == NULL)
		goto fail; /* a duplicated or unpinned handle that kept the callback */
	cp_curl_sctx *x = calloc(1, sizeof *x);
	if (x == NULL)
		goto fail;
	x->st = st;
	x->ctx_id = cp_ctx_id(st->ctx);
	x->gen_setup = certpin_ctx_generation(st->ctx);
	x->prev_info = SSL_CTX_get_info_callback(sctx);
	if (SSL_CTX_get_ex_data(sctx, idx_sctx) != NULL || SSL_CTX_set_ex_data(sctx, idx_sctx, x) != 1) {
		free(x);
		goto fail;
	}
	st = NULL; /* owned by x, freed with the SSL_CTX from here */

	char host[CERTPIN_HOST_MAX + 1];
	int is_ip = 0;
	if (url_host(easy, host, sizeof host, &is_ip) == 0 && is_ip &&
	    X509_VERIFY_PARAM_set1_ip_asc(SSL_CTX_get0_param(sctx), host) != 1)
		return CURLE_SSL_CONNECT_ERROR;
	/*
	 * VERIFYPEER=0: libcurl loads no CA file or path then, and certpin still
	 * validates (invariant 4), so it gets OpenSSL's default store.
	 */
	if (SSL_CTX_get_verify_mode(sctx) == SSL_VERIFY_NONE &&
	    SSL_CTX_set_default_verify_paths(sctx) != 1)
		ERR_clear_error(); /* no default store: only pinned trust anchors work */
	SSL_CTX_set_info_callback(sctx, info_cb);
	if (certpin_openssl_attach(sctx, x->st->ctx) != CERTPIN_OK)
		return CURLE_SSL_CONNECT_ERROR;
	(void)cp_openssl_set_port_hint(sctx, url_port(easy)); /* for reports only */
	return CURLE_OK;
fail:
	state_unref(st);
	return CURLE_SSL_CONNECT_ERROR;
}

/*
 * Before every request. A connection whose last successful check was not
 * made by this holder under its current generation is checked again now.
 */
static int prereq_cb(void *clientp, char *primary_ip, char *local_ip, int primary_port,
                     int local_port)
{
	(void)primary_ip, (void)local_ip, (void)local_port;
	CURL *easy = clientp;
	cp_curl *st = reg_get(easy);
	if (st == NULL)
		return CURL_PREREQFUNC_ABORT;
	int rc = CURL_PREREQFUNC_ABORT;
	struct curl_tlssessioninfo *ti = NULL;
	if (curl_easy_getinfo(easy, CURLINFO_TLS_SSL_PTR, &ti) != CURLE_OK || ti == NULL)
		goto out;
	if (ti->backend == CURLSSLBACKEND_NONE || ti->internals == NULL) {
		rc = CURL_PREREQFUNC_OK; /* not TLS */
		goto out;
	}
	if (ti->backend != CURLSSLBACKEND_OPENSSL)
		goto out;
	SSL *ssl = ti->internals;
	uint64_t id = cp_ctx_id(st->ctx);
	const cp_curl_conn *cc = SSL_get_ex_data(ssl, idx_conn);
	if (cc != NULL && cc->ctx_id == id && cc->generation == certpin_ctx_generation(st->ctx)) {
		rc = CURL_PREREQFUNC_OK;
		goto out;
	}

	uint64_t gen = 0;
	certpin_policy *p = cp_ctx_snapshot(st->ctx, &gen);
	char host[CERTPIN_HOST_MAX + 1];
	int is_ip = 0;
	int have_host = url_host(easy, host, sizeof host, &is_ip) == 0;
	X509 *leaf = SSL_get0_peer_certificate(ssl);
	X509_STORE *store = NULL;
	if (SSL_get0_verify_cert_store(ssl, &store) != 1 || store == NULL)
		store = SSL_CTX_get_cert_store(SSL_get_SSL_CTX(ssl));
	certpin_err e;
	if (st->scratch == NULL)
		st->scratch = certpin_verdict_new();
	if (st->scratch == NULL)
		e = CERTPIN_E_NOMEM;
	else if (p == NULL || !have_host || leaf == NULL)
		e = certpin_verdict_set_failure(st->scratch, p, have_host ? host : NULL,
		                                CERTPIN_V_INTERNAL_ERROR,
		                                p == NULL      ? "no policy snapshot"
		                                : !have_host   ? "no host name in the request URL"
		                                               : "the connection has no peer certificate");
	else
		e = certpin_openssl_verify(p, host, leaf, SSL_get_peer_cert_chain(ssl), store,
		                           CERTPIN_TIME_NOW, &st->scratch);
	if (e == CERTPIN_OK) {
		if (p != NULL && cp_verdict_reportable(st->scratch))
			cp_report_verdict(st->ctx, p, st->scratch,
			                  primary_port > 0 ? (unsigned)primary_port : 0u);
		record(st, st->scratch);
		if (p != NULL && certpin_verdict_allowed(st->scratch)) {
			conn_mark(ssl, id, gen);
			rc = CURL_PREREQFUNC_OK;
		}
	}
	certpin_policy_free(p);
out:
	state_unref(st);
	return rc;
}

static void clear_options(CURL *easy)
{
	(void)curl_easy_setopt(easy, CURLOPT_SSL_CTX_FUNCTION, (curl_ssl_ctx_callback)NULL);
	(void)curl_easy_setopt(easy, CURLOPT_SSL_CTX_DATA, (void *)NULL);
	(void)curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, (curl_prereq_callback)NULL);
	(void)curl_easy_setopt(easy, CURLOPT_PREREQDATA, (void *)NULL);
}

certpin_err certpin_curl_pin(CURL *easy, certpin_ctx *c)
{
	if (easy == NULL || c == NULL)
		return CERTPIN_E_INVALID_ARG;
	const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
	if (vi == NULL || vi->ssl_version == NULL || strncmp(vi->ssl_version, "OpenSSL", 7) != 0)
		return CERTPIN_E_INVALID_ARG;
	if (!indices_ready())
		return CERTPIN_E_INTERNAL;

	cp_curl *st = reg_get(easy);
	if (st != NULL) { /* pinned again (after curl_easy_reset, or another holder) */
		certpin_ctx *old = st->ctx;
		st->ctx = certpin_ctx_ref(c);
		certpin_ctx_free(old);
		state_unref(st);
	} else {
		st = calloc(1, sizeof *st);
		if (st == NULL)
			return CERTPIN_E_NOMEM;
		if (pthread_mutex_init(&st->mu, NULL) != 0) {
			free(st);
			return CERTPIN_E_INTERNAL;
		}
		atomic_init(&st->refs, 1u);
		st->easy = easy;
		st->ctx = certpin_ctx_ref(c);
		if (pthread_mutex_lock(&reg_mu) != 0) {
			state_unref(st);
			return CERTPIN_E_INTERNAL;
		}
		size_t b = bucket(easy);
		st->next = reg[b];
		reg[b] = st;
		pthread_mutex_unlock(&reg_mu);
	}
	if (curl_easy_setopt(easy, CURLOPT_SSL_CTX_FUNCTION, sslctx_cb) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_SSL_CTX_DATA, (void *)NULL) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, prereq_cb) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_PREREQDATA, (void *)easy) != CURLE_OK) {
		certpin_curl_unpin(easy);
		return CERTPIN_E_INVALID_ARG;
	}
	return CERTPIN_OK;
}

void certpin_curl_unpin(CURL *easy)
{
	if (easy == NULL)
		return;
	cp_curl *st = reg_take(easy);
	if (st == NULL)
		return;
	clear_options(easy);
	state_unref(st);
}

certpin_verdict_code certpin_curl_last_verdict_code(CURL *easy)
{
	cp_curl *st = easy != NULL ? reg_get(easy) : NULL;
	if (st == NULL)
		return (certpin_verdict_code)0;
	certpin_verdict_code code = (certpin_verdict_code)0;
	if (pthread_mutex_lock(&st->mu) == 0) {
		code = st->last_code;
		pthread_mutex_unlock(&st->mu);
	}
	state_unref(st);
	return code;
}

/* Copies a field of the last check (which: 0 message, 1 host), snprintf-like. */
static size_t copy_last(CURL *easy, int which, char *buf, size_t n)
{
	if (buf != NULL && n > 0)
		buf[0] = '\0';
	cp_curl *st = easy != NULL ? reg_get(easy) : NULL;
	if (st == NULL)
		return 0;
	size_t len = 0;
	if (pthread_mutex_lock(&st->mu) == 0) {
		const char *s = which == 0 ? st->last_msg : st->last_host;
		if (s != NULL) {
			len = strlen(s);
			if (buf != NULL && n > 0) {
				size_t k = len < n - 1 ? len : n - 1;
				memcpy(buf, s, k);
				buf[k] = '\0';
			}
		}
		pthread_mutex_unlock(&st->mu);
	}
	state_unref(st);
	return len;
}

size_t certpin_curl_last_message(CURL *easy, char *buf, size_t n)
{
	return copy_last(easy, 0, buf, n);
}

size_t certpin_curl_last_host(CURL *easy, char *buf, size_t n)
{
	return copy_last(easy, 1, buf, n);
}
