/*
 * Violation reports: a bounded queue filled by handshake threads and one
 * thread that builds the JSON, shows it to the application and POSTs it.
 *
 * The split is about the handshake's time: a submitter copies the chains'
 * DER (already made for the reportable verdict), takes a policy reference
 * for the rule, hashes the dedup key and holds the mutex for a push. PEM,
 * JSON, the callback and libcurl all run on the reporter thread. Nothing on
 * the submitting side waits for that thread.
 *
 * Dedup is on the submitting side, before the queue, so that a storm of
 * identical violations costs one queue slot and never crowds out a
 * different report. The key is SHA-256 (an attacker chooses the chain, so a
 * weaker hash would let it make its report collide with an earlier one and
 * be suppressed).
 */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certpin/certpin_report.h"
#include "internal.h"

#define DEFAULT_WINDOW_S 86400u
#define DEFAULT_QUEUE 64u
#define DEFAULT_CONNECT_MS 5000u
#define DEFAULT_TIMEOUT_MS 10000u

/* One queued report: what the JSON is made from, copied at submission. */
typedef struct cp_item {
	certpin_policy *policy;          /* a reference: the rule lives there */
	const struct certpin_rule *rule; /* borrowed from policy */
	certpin_verdict_code code;
	unsigned port;
	int64_t when;
	char host[CERTPIN_HOST_MAX + 1];
	char reason[256];
	size_t n[2];
	size_t off[2][CERTPIN_MAX_CHAIN];
	size_t len[2][CERTPIN_MAX_CHAIN];
	uint8_t *der; /* both chains back to back, owned */
} cp_item;

typedef struct cp_dedup {
	uint8_t key[CERTPIN_HASH_LEN];
	int64_t at;
} cp_dedup;

struct certpin_reporter {
	atomic_uint refs;
	atomic_int stop; /* read by the libcurl progress callback */
	pthread_mutex_t mu;
	pthread_cond_t wake; /* an item was queued, or stop */
	pthread_cond_t idle; /* the queue drained and nothing is in flight */
	pthread_t thread;
	/* under mu */
	cp_item **q;
	size_t q_head, q_len, q_max;
	int busy;
	cp_dedup *dd;
	size_t dd_n;
	certpin_reporter_stats st;
	/* set at creation, read-only afterwards */
	char *app_id, *app_version, *default_uri, *cafile;
	unsigned window_s, connect_ms, timeout_ms, flags;
	certpin_report_cb cb;
	void *cb_arg;
	int64_t (*now)(void);
};

struct certpin_report {
	json_t *obj;
	char *text; /* NULL when stale */
	certpin_verdict_code code;
	const char *uris[CERTPIN_MAX_REPORT_URIS + 1];
	size_t n_uris;
};

static int64_t wall_clock(void)
{
	return (int64_t)time(NULL);
}

static void item_free(cp_item *it)
{
	if (it == NULL)
		return;
	certpin_policy_free(it->policy);
	free(it->der);
	free(it);
}

/* ---- configuration ------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* An https:// URI with a host and no user name (libcurl's own parser). */
static int uri_ok(const char *uri)
{
	if (uri == NULL || strlen(uri) > CERTPIN_REPORT_URI_MAX || strncmp(uri, "https://", 8) != 0)
		return 0;
	CURLU *u = curl_url();
	char *host = NULL, *user = NULL;
	int ok = u != NULL && curl_url_set(u, CURLUPART_URL, uri, 0) == CURLUE_OK &&
	         curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host != NULL &&
	         host[0] != '\0' && curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_NO_USER;
	curl_free(host);
	curl_free(user);
	curl_url_cleanup(u);
	return ok;
}

static char *dup_or_null(const char *s, int *fail)
{
	if (s == NULL)
		return NULL;
	char *d = strdup(s);
	if (d == NULL)
		*fail = 1;
	return d;
}

static void *worker(void *arg);

static void reporter_destroy(certpin_reporter *r)
{
	for (size_t i = 0; i < r->q_len; i++)
		item_free(r->q[(r->q_head + i) % r->q_max]);
	free(r->q);
	free(r->dd);
	free(r->app_id);
	free(r->app_version);
	free(r->default_uri);
	free(r->cafile);
	pthread_cond_destroy(&r->wake);
	pthread_cond_destroy(&r->idle);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

certpin_err certpin_reporter_new(const certpin_reporter_config *cfg, certpin_reporter **out,
                                 certpin_error *err)
{
	if (out != NULL)
		*out = NULL;
	if (cfg == NULL || out == NULL)
		return cp_err_set(err, CERTPIN_E_INVALID_ARG, "NULL config or output");
	if (cfg->queue_max > CERTPIN_REPORT_QUEUE_MAX)
		return cp_err_set(err, CERTPIN_E_INVALID_ARG, "queue_max %u is over the cap of %u",
		                  cfg->queue_max, CERTPIN_REPORT_QUEUE_MAX);
	if (cfg->default_uri != NULL && !uri_ok(cfg->default_uri))
		return cp_err_set(err, CERTPIN_E_INVALID_ARG,
		                  "default_uri must be https:// with a host and no user name");
	if (cfg->cafile != NULL) {
		FILE *f = fopen(cfg->cafile, "r");
		if (f == NULL)
			return cp_err_set(err, CERTPIN_E_INVALID_ARG, "cannot read cafile %s",
			                  cfg->cafile);
		fclose(f);
	}
	if ((cfg->flags & CERTPIN_REPORTER_NO_SEND) == 0 &&
	    (pthread_once(&curl_once, curl_init) != 0 || curl_init_rc != CURLE_OK))
		return cp_err_set(err, CERTPIN_E_INTERNAL, "libcurl cannot be initialised");

	certpin_reporter *r = calloc(1, sizeof *r);
	if (r == NULL)
		return cp_err_set(err, CERTPIN_E_NOMEM, "out of memory");
	atomic_init(&r->refs, 1u);
	atomic_init(&r->stop, 0);
	r->q_max = cfg->queue_max ? cfg->queue_max : DEFAULT_QUEUE;
	r->window_s = cfg->dedup_window_s ? cfg->dedup_window_s : DEFAULT_WINDOW_S;
	r->connect_ms = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : DEFAULT_CONNECT_MS;
	r->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
	r->flags = cfg->flags;
	r->cb = cfg->callback;
	r->cb_arg = cfg->callback_arg;
	r->now = wall_clock;
	r->st.queue_max = r->q_max;
	int fail = 0;
	r->app_id = dup_or_null(cfg->app_id, &fail);
	r->app_version = dup_or_null(cfg->app_version, &fail);
	r->default_uri = dup_or_null(cfg->default_uri, &fail);
	r->cafile = dup_or_null(cfg->cafile, &fail);
	r->q = calloc(r->q_max, sizeof *r->q);
	r->dd = calloc(CERTPIN_REPORT_DEDUP_ENTRIES, sizeof *r->dd);
	pthread_condattr_t ca;
	int sync_ok = pthread_mutex_init(&r->mu, NULL) == 0;
	int ca_ok = pthread_condattr_init(&ca) == 0;
	if (ca_ok && pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0)
		sync_ok = 0;
	if (!ca_ok || pthread_cond_init(&r->wake, &ca) != 0 || pthread_cond_init(&r->idle, &ca) != 0)
		sync_ok = 0; /* a half-made reporter is never freed: see below */
	if (ca_ok)
		pthread_condattr_destroy(&ca);
	if (fail || r->q == NULL || r->dd == NULL || !sync_ok) {
		/* Initialisation of a default mutex/condvar does not fail on Linux;
		 * when it did, leak them rather than destroy what was not made. */
		free(r->q);
		free(r->dd);
		free(r->app_id);
		free(r->app_version);
		free(r->default_uri);
		free(r->cafile);
		free(r);
		return cp_err_set(err, sync_ok ? CERTPIN_E_NOMEM : CERTPIN_E_INTERNAL,
		                  sync_ok ? "out of memory" : "cannot make the reporter's locks");
	}
	if (pthread_create(&r->thread, NULL, worker, r) != 0) {
		reporter_destroy(r);
		return cp_err_set(err, CERTPIN_E_INTERNAL, "cannot start the reporter thread");
	}
	*out = r;
	return CERTPIN_OK;
}

certpin_reporter *certpin_reporter_ref(certpin_reporter *r)
{
	if (r != NULL)
		atomic_fetch_add_explicit(&r->refs, 1u, memory_order_relaxed);
	return r;
}

void certpin_reporter_free(certpin_reporter *r)
{
	if (r == NULL || atomic_fetch_sub_explicit(&r->refs, 1u, memory_order_acq_rel) != 1u)
		return;
	atomic_store(&r->stop, 1);
	if (pthread_mutex_lock(&r->mu) == 0) {
		pthread_cond_broadcast(&r->wake);
		pthread_mutex_unlock(&r->mu);
	}
	pthread_join(r->thread, NULL);
	reporter_destroy(r);
}

void cp_reporter_set_clock(certpin_reporter *r, int64_t (*now)(void))
{
	if (r != NULL && pthread_mutex_lock(&r->mu) == 0) {
		r->now = now != NULL ? now : wall_clock;
		pthread_mutex_unlock(&r->mu);
	}
}

/* ---- submission (the handshake's thread) ------------------------------------ */

/* The rule belongs to policy (it points into its rule array). */
static int rule_of(const certpin_policy *p, const struct certpin_rule *rule)
{
	if (rule == NULL || p->n_rules == 0)
		return 0;
	uintptr_t a = (uintptr_t)rule, lo = (uintptr_t)p->rules,
	          hi = (uintptr_t)(p->rules + p->n_rules);
	return a >= lo && a < hi && (a - lo) % sizeof *rule == 0;
}

static int hash_list(const cp_pin_list *l, uint8_t out[CERTPIN_HASH_LEN])
{
	static const uint8_t none = 0;
	if (l->n == 0)
		return cp_sha256(&none, 0, out);
	return cp_sha256((const uint8_t *)l->v, l->n * sizeof *l->v, out);
}

/*
 * SHA-256 over host, rule, verdict, the validated chain (each certificate's
 * hash, or the chain's SPKI pins when no DER was kept) and the rule's pins.
 * 0, or -1 (then the report is not deduplicated).
 */
static int dedup_key(const cp_item *it, const certpin_verdict *v, uint8_t key[CERTPIN_HASH_LEN])
{
	uint8_t buf[2 * (CERTPIN_HOST_MAX + 2) + 8 + (2 * CERTPIN_MAX_CHAIN + 3) * CERTPIN_HASH_LEN];
	size_t k = 0;
	size_t hl = strlen(it->host), rl = strlen(it->rule->host_text);
	memcpy(buf + k, it->host, hl + 1);
	k += hl + 1;
	memcpy(buf + k, it->rule->host_text, rl + 1);
	k += rl + 1;
	uint32_t code = (uint32_t)it->code;
	memcpy(buf + k, &code, sizeof code);
	k += sizeof code;
	for (size_t i = 0; i < it->n[CERTPIN_CHAIN_VALIDATED]; i++, k += CERTPIN_HASH_LEN)
		if (cp_sha256(it->der + it->off[CERTPIN_CHAIN_VALIDATED][i],
		              it->len[CERTPIN_CHAIN_VALIDATED][i], buf + k) != 0)
			return -1;
	for (size_t i = 0; i < certpin_verdict_chain_len(v) && i < CERTPIN_MAX_CHAIN;
	     i++, k += CERTPIN_HASH_LEN)
		memcpy(buf + k, certpin_verdict_chain_pin(v, i)->hash, CERTPIN_HASH_LEN);
	if (hash_list(&it->rule->pins, buf + k) != 0 ||
	    hash_list(&it->rule->leaf_pins, buf + k + CERTPIN_HASH_LEN) != 0 ||
	    hash_list(&it->rule->ca_pins, buf + k + 2 * CERTPIN_HASH_LEN) != 0)
		return -1;
	k += 3 * CERTPIN_HASH_LEN;
	return cp_sha256(buf, k, key);
}

/* The item for v: copies of everything the report needs. NULL on ENOMEM. */
static cp_item *item_make(const certpin_policy *policy, const certpin_verdict *v,
                          const struct certpin_rule *rule, unsigned port, const certpin_der *served,
                          size_t n_served, int64_t now)
{
	cp_item *it = calloc(1, sizeof *it);
	if (it == NULL)
		return NULL;
	it->rule = rule;
	it->code = certpin_verdict_get_code(v);
	it->port = port;
	it->when = now;
	cp_strlcpy(it->host, certpin_verdict_host(v), sizeof it->host);
	cp_strlcpy(it->reason, certpin_verdict_reason(v), sizeof it->reason);

	const uint8_t *src[2][CERTPIN_MAX_CHAIN];
	size_t total = 0;
	if (served != NULL && n_served > CERTPIN_MAX_CHAIN)
		n_served = CERTPIN_MAX_CHAIN;
	for (size_t k = 0; k < 2; k++) {
		size_t n = k == CERTPIN_CHAIN_SERVED && served != NULL
		               ? n_served
		               : certpin_verdict_cert_count(v, (certpin_chain_kind)k);
		size_t m = 0;
		for (size_t i = 0; i < n; i++) {
			size_t len = 0;
			const uint8_t *d;
			if (k == CERTPIN_CHAIN_SERVED && served != NULL) {
				d = served[i].der;
				len = served[i].len;
			} else {
				d = certpin_verdict_cert(v, (certpin_chain_kind)k, i, &len);
			}
			if (d == NULL || len == 0 || len > 256u * 1024u)
				continue; /* nothing usable to show */
			src[k][m] = d;
			it->len[k][m] = len;
			it->off[k][m] = total;
			total += len;
			m++;
		}
		it->n[k] = m;
	}
	it->der = malloc(total ? total : 1);
	if (it->der == NULL) {
		free(it);
		return NULL;
	}
	for (size_t k = 0; k < 2; k++)
		for (size_t i = 0; i < it->n[k]; i++)
			memcpy(it->der + it->off[k][i], src[k][i], it->len[k][i]);
	/* the rule lives in the policy: keep it alive while queued */
	it->policy = certpin_policy_ref((certpin_policy *)(uintptr_t)policy);
	return it;
}

certpin_err certpin_reporter_submit(certpin_reporter *r, const certpin_policy *policy,
                                    const certpin_verdict *v, unsigned port,
                                    const certpin_der *served, size_t n_served,
                                    certpin_report_status *status)
{
	certpin_report_status dummy;
	if (status == NULL)
		status = &dummy;
	*status = CERTPIN_REPORT_NOT_REPORTABLE;
	if (r == NULL || policy == NULL || v == NULL || (served == NULL && n_served != 0))
		return CERTPIN_E_INVALID_ARG;
	if (!cp_verdict_reportable(v))
		return CERTPIN_OK;
	const struct certpin_rule *rule = certpin_verdict_rule(v);
	if (!rule_of(policy, rule))
		return CERTPIN_E_INVALID_ARG;

	int64_t (*clock_fn)(void) = wall_clock;
	if (pthread_mutex_lock(&r->mu) != 0)
		return CERTPIN_E_INTERNAL;
	clock_fn = r->now;
	pthread_mutex_unlock(&r->mu);
	int64_t now = clock_fn();

	if (rule->n_report_uris == 0 && r->default_uri == NULL && r->cb == NULL) {
		*status = CERTPIN_REPORT_NO_DESTINATION;
		if (pthread_mutex_lock(&r->mu) == 0) {
			r->st.submitted++;
			pthread_mutex_unlock(&r->mu);
		}
		return CERTPIN_OK;
	}
	cp_item *it = item_make(policy, v, rule, port, served, n_served, now);
	if (it == NULL)
		return CERTPIN_E_NOMEM;
	uint8_t key[CERTPIN_HASH_LEN];
	int dedup = (r->flags & CERTPIN_REPORTER_NO_DEDUP) == 0 && dedup_key(it, v, key) == 0;

	if (pthread_mutex_lock(&r->mu) != 0) {
		item_free(it);
		return CERTPIN_E_INTERNAL;
	}
	r->st.submitted++;
	size_t slot = CERTPIN_REPORT_DEDUP_ENTRIES, oldest = 0;
	if (dedup) {
		for (size_t i = 0; i < r->dd_n; i++) {
			if (memcmp(r->dd[i].key, key, sizeof key) == 0) {
				slot = i;
				break;
			}
			if (r->dd[i].at < r->dd[oldest].at)
				oldest = i;
		}
		if (slot < r->dd_n && now >= r->dd[slot].at &&
		    now - r->dd[slot].at < (int64_t)r->window_s) {
			r->st.duplicates++;
			pthread_mutex_unlock(&r->mu);
			item_free(it);
			*status = CERTPIN_REPORT_DUPLICATE;
			return CERTPIN_OK;
		}
	}
	if (r->q_len == r->q_max) {
		r->st.dropped++; /* the newest is dropped: what is queued stays */
		pthread_mutex_unlock(&r->mu);
		item_free(it);
		*status = CERTPIN_REPORT_DROPPED;
		return CERTPIN_OK;
	}
	r->q[(r->q_head + r->q_len) % r->q_max] = it;
	r->q_len++;
	if (dedup) {
		if (slot == CERTPIN_REPORT_DEDUP_ENTRIES)
			slot = r->dd_n < CERTPIN_REPORT_DEDUP_ENTRIES ? r->dd_n++ : oldest;
		memcpy(r->dd[slot].key, key, sizeof key);
		r->dd[slot].at = now;
	}
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->mu);
	*status = CERTPIN_REPORT_QUEUED;
	return CERTPIN_OK;
}

void cp_report_verdict(certpin_ctx *c, const certpin_policy *p, const certpin_verdict *v,
                       unsigned port)
{
	if (p == NULL || !cp_verdict_reportable(v))
		return;
	certpin_reporter *r = cp_ctx_reporter(c);
	if (r == NULL)
		return;
	(void)certpin_reporter_submit(r, p, v, port, NULL, 0, NULL);
	certpin_reporter_free(r);
}

/* ---- flush and statistics ---------------------------------------------------- */

certpin_err certpin_reporter_flush(certpin_reporter *r, unsigned timeout_ms)
{
	if (r == NULL)
		return CERTPIN_E_INVALID_ARG;
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += (time_t)(timeout_ms / 1000u);
	dl.tv_nsec += (long)(timeout_ms % 1000u) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	if (pthread_mutex_lock(&r->mu) != 0)
		return CERTPIN_E_INTERNAL;
	int rc = 0;
	while ((r->q_len > 0 || r->busy) && rc == 0)
		rc = pthread_cond_timedwait(&r->idle, &r->mu, &dl);
	int done = r->q_len == 0 && !r->busy;
	pthread_mutex_unlock(&r->mu);
	return done ? CERTPIN_OK : CERTPIN_E_TIMEOUT;
}

void certpin_reporter_get_stats(certpin_reporter *r, certpin_reporter_stats *out)
{
	if (out == NULL)
		return;
	memset(out, 0, sizeof *out);
	if (r == NULL || pthread_mutex_lock(&r->mu) != 0)
		return;
	*out = r->st;
	out->queued = r->q_len;
	pthread_mutex_unlock(&r->mu);
}

uint64_t certpin_reporter_dropped(certpin_reporter *r)
{
	certpin_reporter_stats st;
	certpin_reporter_get_stats(r, &st);
	return st.dropped;
}

static void count(certpin_reporter *r, uint64_t *field)
{
	if (pthread_mutex_lock(&r->mu) == 0) {
		(*field)++;
		pthread_mutex_unlock(&r->mu);
	}
}

/* ---- the report JSON (reporter thread) ---------------------------------------- */

int certpin_report_trustkit_result(certpin_verdict_code code)
{
	switch (code) {
	case CERTPIN_V_PINNED:
	case CERTPIN_V_NOT_PINNED:
	case CERTPIN_V_EXPIRED_UNPINNED:
		return 0; /* TSKTrustEvaluationSuccess: the connection went ahead */
	case CERTPIN_V_PIN_MISMATCH:
	case CERTPIN_V_REPORT_ONLY_MISMATCH:
	case CERTPIN_V_EXPIRED_BLOCKED:
		return 1; /* TSKTrustEvaluationFailedNoMatchingPin */
	case CERTPIN_V_CHAIN_INVALID:
	case CERTPIN_V_HOSTNAME_MISMATCH:
		return 2; /* TSKTrustEvaluationFailedInvalidCertificateChain */
	case CERTPIN_V_UNLISTED_HOST:
	case CERTPIN_V_INTERNAL_ERROR:
	default:
		return 3; /* TSKTrustEvaluationErrorInvalidParameters */
	}
}

/* PEM text of one DER certificate (64-column base64), malloc'd. */
static char *pem_of(const uint8_t *der, size_t len)
{
	static const char head[] = "-----BEGIN CERTIFICATE-----\n";
	static const char tail[] = "-----END CERTIFICATE-----\n";
	size_t b64n = 4 * ((len + 2) / 3);
	char *b64 = malloc(b64n + 1);
	char *out = malloc(sizeof head + b64n + b64n / 64 + 2 + sizeof tail);
	if (b64 == NULL || out == NULL) {
		free(b64);
		free(out);
		return NULL;
	}
	size_t n = cp_b64_encode(der, len, b64);
	size_t k = 0;
	memcpy(out, head, sizeof head - 1);
	k += sizeof head - 1;
	for (size_t i = 0; i < n; i += 64) {
		size_t l = n - i < 64 ? n - i : 64;
		memcpy(out + k, b64 + i, l);
		k += l;
		out[k++] = '\n';
	}
	memcpy(out + k, tail, sizeof tail);
	free(b64);
	return out;
}

static json_t *pem_array(const cp_item *it, size_t which)
{
	json_t *a = json_array();
	for (size_t i = 0; a != NULL && i < it->n[which]; i++) {
		char *pem = pem_of(it->der + it->off[which][i], it->len[which][i]);
		if (pem == NULL || json_array_append_new(a, json_string(pem)) != 0) {
			free(pem);
			json_decref(a);
			return NULL;
		}
		free(pem);
	}
	return a;
}

/* pin-sha256="..." (RFC 7469); whole-certificate pins as pin-cert-sha256="...". */
static int add_pins(json_t *a, const cp_pin_list *l)
{
	char text[CERTPIN_PIN_STRLEN], out[CERTPIN_PIN_STRLEN + 16];
	for (size_t i = 0; i < l->n; i++) {
		if (certpin_pin_format(&l->v[i], text, sizeof text) == 0)
			return -1;
		const char *b64 = strchr(text, '/');
		if (b64 == NULL)
			return -1;
		snprintf(out, sizeof out, "%s=\"%s\"",
		         l->v[i].type == CERTPIN_PIN_CERT_SHA256 ? "pin-cert-sha256" : "pin-sha256",
		         b64 + 1);
		if (json_array_append_new(a, json_string(out)) != 0)
			return -1;
	}
	return 0;
}

static int set(json_t *o, const char *key, json_t *value)
{
	return value != NULL && json_object_set_new(o, key, value) == 0 ? 0 : -1;
}

/* The RFC 7469 / TrustKit object for it. NULL on allocation failure. */
static json_t *report_object(const certpin_reporter *r, const cp_item *it)
{
	const struct certpin_rule *rule = it->rule;
	char when[32], exp[32], day[32];
	json_t *o = json_object();
	json_t *pins = json_array();
	if (o == NULL || pins == NULL || certpin_time_format(it->when, when, sizeof when) == 0)
		goto fail;
	int bad = 0;
	bad |= set(o, "date-time", json_string(when));
	bad |= set(o, "hostname", json_string(it->host));
	bad |= set(o, "port", json_integer((json_int_t)it->port));
	bad |= set(o, "noted-hostname", json_string(rule->key.name));
	bad |= set(o, "include-subdomains", json_boolean(rule->key.kind != CP_HOST_EXACT));
	bad |= set(o, "enforce-pinning", json_boolean(rule->mode == CERTPIN_MODE_ENFORCE));
	if (rule->has_expires && certpin_time_format(rule->expires, exp, sizeof exp) != 0 &&
	    certpin_time_format(rule->expires - 1, day, sizeof day) != 0) {
		day[10] = '\0'; /* YYYY-MM-DD of the last day the pins were valid */
		bad |= set(o, "effective-expiration-date", json_string(exp));
		bad |= set(o, "known-pins-expiration-date", json_string(day));
	}
	bad |= set(o, "served-certificate-chain", pem_array(it, CERTPIN_CHAIN_SERVED));
	bad |= set(o, "validated-certificate-chain", pem_array(it, CERTPIN_CHAIN_VALIDATED));
	bad |= add_pins(pins, &rule->pins) | add_pins(pins, &rule->leaf_pins) |
	       add_pins(pins, &rule->ca_pins);
	bad |= set(o, "known-pins", json_incref(pins));
	bad |= set(o, "validation-result", json_integer(certpin_report_trustkit_result(it->code)));
	bad |= set(o, "certpin-verdict", json_string(certpin_verdict_code_name(it->code)));
	bad |= set(o, "certpin-rule", json_string(rule->host_text));
	if (it->reason[0] != '\0')
		bad |= set(o, "certpin-reason", json_string(it->reason));
	if (r->app_id != NULL)
		bad |= set(o, "app-id", json_string(r->app_id));
	if (r->app_version != NULL)
		bad |= set(o, "app-version", json_string(r->app_version));
	bad |= set(o, "certpin-version", json_string(certpin_version()));
	if (bad)
		goto fail;
	json_decref(pins);
	return o;
fail:
	json_decref(pins);
	json_decref(o);
	return NULL;
}

const char *certpin_report_json(certpin_report *report)
{
	if (report == NULL)
		return NULL;
	if (report->text == NULL)
		report->text = json_dumps(report->obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	return report->text;
}

const char *certpin_report_get_string(const certpin_report *report, const char *key)
{
	if (report == NULL || key == NULL)
		return NULL;
	return json_string_value(json_object_get(report->obj, key));
}

certpin_verdict_code certpin_report_verdict_code(const certpin_report *report)
{
	return report != NULL ? report->code : CERTPIN_V_INTERNAL_ERROR;
}

static certpin_err report_set(certpin_report *report, const char *key, json_t *value)
{
	if (value == NULL)
		return CERTPIN_E_INVALID_ARG;
	if (json_object_set_new(report->obj, key, value) != 0)
		return CERTPIN_E_NOMEM;
	free(report->text);
	report->text = NULL;
	return CERTPIN_OK;
}

certpin_err certpin_report_set_string(certpin_report *report, const char *key, const char *value)
{
	if (report == NULL || key == NULL || value == NULL)
		return CERTPIN_E_INVALID_ARG;
	return report_set(report, key, json_string(value));
}

certpin_err certpin_report_set_integer(certpin_report *report, const char *key, int64_t value)
{
	if (report == NULL || key == NULL)
		return CERTPIN_E_INVALID_ARG;
	return report_set(report, key, json_integer((json_int_t)value));
}

size_t certpin_report_uri_count(const certpin_report *report)
{
	return report != NULL ? report->n_uris : 0;
}

const char *certpin_report_uri(const certpin_report *report, size_t i)
{
	return report != NULL && i < report->n_uris ? report->uris[i] : NULL;
}

/* ---- sending (reporter thread) ------------------------------------------------ */

static size_t discard_body(char *p, size_t size, size_t n, void *u)
{
	(void)p, (void)u;
	return size * n;
}

/* Aborts a POST in flight when the reporter is being freed. */
static int xfer_progress(void *clientp, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)dt, (void)dn, (void)ut, (void)un;
	const certpin_reporter *r = clientp;
	return atomic_load(&r->stop) ? 1 : 0;
}

/* One POST. 0 when the collector answered 2xx. */
static int post(certpin_reporter *r, CURL **hp, const char *uri, const char *body)
{
	if (!uri_ok(uri)) /* policy URIs are https://, but may carry a user name */
		return -1;
	if (*hp == NULL && (*hp = curl_easy_init()) == NULL)
		return -1;
	CURL *h = *hp;
	curl_easy_reset(h);
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	if (hdr == NULL)
		return -1;
	char ua[64];
	snprintf(ua, sizeof ua, "certpin/%s", certpin_version());
	int ok = curl_easy_setopt(h, CURLOPT_URL, uri) == CURLE_OK &&
	         curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https") == CURLE_OK &&
	         curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https") == CURLE_OK &&
	         curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
	         curl_easy_setopt(h, CURLOPT_NETRC, (long)CURL_NETRC_IGNORED) == CURLE_OK &&
	         curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
	         curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
	         curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
	         curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)r->connect_ms) == CURLE_OK &&
	         curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)r->timeout_ms) == CURLE_OK &&
	         curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr) == CURLE_OK &&
	         curl_easy_setopt(h, CURLOPT_USERAGENT, ua) == CURLE_OK &&
	         curl_easy_setopt(h, CURLOPT_POSTFIELDS, body) == CURLE_OK &&
	         curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body)) ==
	             CURLE_OK &&
	         curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_body) == CURLE_OK &&
	         curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L) == CURLE_OK &&
	         curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, xfer_progress) == CURLE_OK &&
	         curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)r) == CURLE_OK &&
	         (r->cafile == NULL || curl_easy_setopt(h, CURLOPT_CAINFO, r->cafile) == CURLE_OK);
	long status = 0;
	if (ok && curl_easy_perform(h) == CURLE_OK &&
	    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
	    status >= 200 && status < 300) {
		ok = 1;
	} else {
		ok = 0;
	}
	curl_slist_free_all(hdr);
	return ok ? 0 : -1;
}

static void handle(certpin_reporter *r, const cp_item *it, CURL **hp)
{
	certpin_report rep;
	memset(&rep, 0, sizeof rep);
	rep.code = it->code;
	for (size_t i = 0; i < it->rule->n_report_uris; i++)
		rep.uris[rep.n_uris++] = it->rule->report_uris[i];
	if (r->default_uri != NULL) {
		size_t i;
		for (i = 0; i < rep.n_uris && strcmp(rep.uris[i], r->default_uri) != 0; i++)
			;
		if (i == rep.n_uris)
			rep.uris[rep.n_uris++] = r->default_uri;
	}
	rep.obj = report_object(r, it);
	if (rep.obj == NULL) {
		count(r, &r->st.failed);
		return;
	}
	certpin_report_action act = CERTPIN_REPORT_SEND;
	if (r->cb != NULL)
		act = r->cb(&rep, r->cb_arg);
	if (act != CERTPIN_REPORT_SEND) {
		count(r, &r->st.vetoed);
	} else if ((r->flags & CERTPIN_REPORTER_NO_SEND) == 0) {
		const char *body = certpin_report_json(&rep);
		for (size_t i = 0; i < rep.n_uris && !atomic_load(&r->stop); i++)
			count(r, body != NULL && post(r, hp, rep.uris[i], body) == 0 ? &r->st.sent
			                                                              : &r->st.failed);
	}
	free(rep.text);
	json_decref(rep.obj);
}

static void *worker(void *arg)
{
	certpin_reporter *r = arg;
	CURL *h = NULL;
	if (pthread_mutex_lock(&r->mu) != 0)
		return NULL;
	for (;;) {
		while (r->q_len == 0 && !atomic_load(&r->stop))
			pthread_cond_wait(&r->wake, &r->mu);
		if (atomic_load(&r->stop))
			break;
		cp_item *it = r->q[r->q_head];
		r->q[r->q_head] = NULL;
		r->q_head = (r->q_head + 1) % r->q_max;
		r->q_len--;
		r->busy = 1;
		pthread_mutex_unlock(&r->mu);

		handle(r, it, &h);
		item_free(it);

		(void)pthread_mutex_lock(&r->mu); /* cannot fail for a valid default mutex */
		r->busy = 0;
		r->st.handled++;
		if (r->q_len == 0)
			pthread_cond_broadcast(&r->idle);
	}
	r->busy = 0;
	pthread_cond_broadcast(&r->idle);
	pthread_mutex_unlock(&r->mu);
	curl_easy_cleanup(h);
	return NULL;
}
