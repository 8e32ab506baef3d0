/*
 * The pin-bundle updater: start-up from a verified cache or the baseline,
 * and refreshes that fetch, verify, persist atomically and only then swap.
 *
 * The cache is one file, certpin-cache.json in the app's cache directory:
 *   {"certpin_cache": 2, "seq": N, "etag": "...", "url": "...",
 *    "rotations": ["<JWS>", ...], "bundle": "<the JWS>"}
 * Nothing in it is trusted for being there. At start-up the signer keys are
 * derived again from the app's own keys: each bundle in "rotations" (every
 * accepted bundle that carried a "signers" set, in order) must verify with
 * the keys in force before it, and hands over to its signers; the cached
 * bundle must then verify with the keys that result. So a cache file someone
 * wrote cannot introduce a key, only a chain of bundles signed from the app's
 * keys can. One file replaced by rename() means the bundle, its seq (the
 * anti-rollback floor) and the rotations change together or not at all: a
 * process killed mid-write leaves the previous cache intact. At most 16
 * rotations are kept (a 17th is refused: ship a release with the new keys).
 *
 * The cache directory should still be private to the app: whoever can write
 * it can delete it, which resets the anti-rollback floor to the app's
 * min_seq (set it to the seq the release was built with).
 */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "certpin/certpin_bundle.h"
#include "certpin/certpin_curl.h"
#include "internal.h"

#define CACHE_NAME "certpin-cache.json"
#define TMP_PREFIX CACHE_NAME ".tmp."
#define DEFAULT_MAX (1024u * 1024u)
#define ETAG_MAX 256
#define MAX_ROTATIONS 16

/* Test hook (tests only, never exported): called once with the file
 * descriptor after the first half of a cache write. */
void (*cp_updater_test_write_hook)(int fd);

struct certpin_updater {
	certpin_ctx *ctx;
	certpin_policy *baseline;
	certpin_keyset *configured; /* the app's keys */
	certpin_keyset *trusted;    /* keys for the next bundle */
	json_t *rotations;          /* the JWS strings of the bundles that carried signers */
	char *url, *cache_dir, *cache_path, *audience, *cafile;
	struct curl_slist *resolve;
	int64_t min_seq, highest;
	_Atomic int64_t current;
	size_t max_size;
	long connect_ms, total_ms;
	char etag[ETAG_MAX + 1];
	char *etag_url; /* the URL etag came from: an ETag names one resource */
	pthread_mutex_t lock; /* serialises refreshes */
	certpin_update_cb cb;
	void *cb_arg;
};

static const char *const result_names[] = {
	[CERTPIN_UPDATE_UPDATED] = "updated",
	[CERTPIN_UPDATE_NOT_MODIFIED] = "not-modified",
	[CERTPIN_UPDATE_SIGNATURE_INVALID] = "signature-invalid",
	[CERTPIN_UPDATE_ROLLBACK] = "rollback-refused",
	[CERTPIN_UPDATE_EXPIRED] = "expired",
	[CERTPIN_UPDATE_TOO_LARGE] = "too-large",
	[CERTPIN_UPDATE_NETWORK_ERROR] = "network-error",
	[CERTPIN_UPDATE_CACHE_WRITE_FAILED] = "cache-write-failed",
	[CERTPIN_UPDATE_INVALID] = "invalid",
	[CERTPIN_UPDATE_CACHE_LOADED] = "cache-loaded",
	[CERTPIN_UPDATE_BASELINE] = "baseline",
};

const char *certpin_update_result_name(certpin_update_result r)
{
	size_t i = (size_t)r;
	if (i < sizeof result_names / sizeof result_names[0] && result_names[i] != NULL)
		return result_names[i];
	return "unknown";
}

static certpin_update_result report(certpin_updater *u, certpin_update_result r, int64_t seq,
                                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static certpin_update_result report(certpin_updater *u, certpin_update_result r, int64_t seq,
                                    const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (u->cb != NULL)
		u->cb(u->cb_arg, r, seq, msg);
	return r;
}

static char *dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

static certpin_update_result from_err(certpin_err e)
{
	switch (e) {
	case CERTPIN_E_SIGNATURE:
		return CERTPIN_UPDATE_SIGNATURE_INVALID;
	case CERTPIN_E_EXPIRED:
		return CERTPIN_UPDATE_EXPIRED;
	case CERTPIN_E_TOO_LARGE:
		return CERTPIN_UPDATE_TOO_LARGE;
	default:
		return CERTPIN_UPDATE_INVALID;
	}
}

/* ---- the cache file -------------------------------------------------------- */

static void remove_stale_temps(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0) {
			char path[4096];
			if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < sizeof path)
				(void)unlink(path);
		}
	}
	closedir(d);
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Temporary file, fsync, rename, fsync of the directory. 0 or -1 with why. */
static int persist(certpin_updater *u, const char *text, char *why, size_t wn)
{
	char tmp[4200];
	if ((size_t)snprintf(tmp, sizeof tmp, "%s/" TMP_PREFIX "%ld", u->cache_dir, (long)getpid()) >=
	    sizeof tmp) {
		snprintf(why, wn, "cache path too long");
		return -1;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(why, wn, "cannot create %.300s: %s", tmp, strerror(errno));
		return -1;
	}
	size_t n = strlen(text), half = n / 2;
	int ok = write_all(fd, text, half) == 0;
	if (ok && cp_updater_test_write_hook != NULL)
		cp_updater_test_write_hook(fd);
	ok = ok && write_all(fd, text + half, n - half) == 0 && fsync(fd) == 0;
	int saved = errno;
	if (close(fd) != 0 && ok) {
		ok = 0;
		saved = errno;
	}
	if (!ok) {
		snprintf(why, wn, "cannot write %.300s: %s", tmp, strerror(saved));
		(void)unlink(tmp);
		return -1;
	}
	if (rename(tmp, u->cache_path) != 0) {
		snprintf(why, wn, "cannot rename %.250s to %.250s: %s", tmp, u->cache_path, strerror(errno));
		(void)unlink(tmp);
		return -1;
	}
	int dfd = open(u->cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0) {
		snprintf(why, wn, "cannot fsync %.300s: %s", u->cache_dir, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	close(dfd);
	return 0;
}

/* The cache JSON for an accepted bundle; malloc'd. */
static char *cache_text(int64_t seq, const char *etag, const char *url, json_t *rotations,
                        const char *jws, size_t jl)
{
	json_t *o = json_object();
	json_t *b = json_stringn(jws, jl);
	char *text = NULL;
	if (o != NULL && b != NULL &&
	    json_object_set_new(o, "certpin_cache", json_integer(2)) == 0 &&
	    json_object_set_new(o, "seq", json_integer(seq)) == 0 &&
	    json_object_set_new(o, "etag", json_string(etag)) == 0 &&
	    json_object_set_new(o, "url", json_string(url)) == 0 &&
	    json_object_set(o, "rotations", rotations) == 0 && json_object_set(o, "bundle", b) == 0)
		text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(b);
	json_decref(o);
	return text;
}

static void set_etag(certpin_updater *u, const char *etag, const char *url)
{
	free(u->etag_url);
	u->etag_url = url != NULL && etag[0] != '\0' ? strdup(url) : NULL;
	cp_strlcpy(u->etag, u->etag_url != NULL ? etag : "", sizeof u->etag);
}

static void set_trusted(certpin_updater *u, certpin_keyset *ks)
{
	certpin_keyset_free(u->trusted);
	u->trusted = ks;
}

/*
 * The signer keys after the rotation chain rots, starting from the app's
 * keys; NULL with why when a link does not verify.
 */
static certpin_keyset *replay_rotations(certpin_updater *u, json_t *rots, char *why, size_t wn)
{
	certpin_keyset *keys = cp_keyset_union(u->configured, NULL);
	size_t i;
	json_t *r;
	if (!json_is_array(rots) || json_array_size(rots) > MAX_ROTATIONS) {
		snprintf(why, wn, "the cache file is corrupt (rotations)");
		certpin_keyset_free(keys);
		return NULL;
	}
	json_array_foreach(rots, i, r)
	{
		certpin_bundle *b = NULL;
		certpin_error err;
		if (keys == NULL || !json_is_string(r) ||
		    certpin_bundle_verify(json_string_value(r), json_string_length(r), u->cache_path, keys,
		                          0, u->audience, &b, &err) != CERTPIN_OK ||
		    certpin_bundle_signers(b) == NULL) {
			snprintf(why, wn, "signer rotation %zu of the cache does not verify from the app's keys",
			         i + 1);
			certpin_bundle_free(b);
			certpin_keyset_free(keys);
			return NULL;
		}
		certpin_keyset *next = cp_keyset_union(certpin_bundle_signers(b), NULL);
		certpin_bundle_free(b);
		certpin_keyset_free(keys);
		keys = next;
	}
	if (keys == NULL)
		snprintf(why, wn, "out of memory");
	return keys;
}

/* Start-up: the cached bundle if it verifies and is current, else the baseline. */
static void load_cache(certpin_updater *u)
{
	FILE *f = fopen(u->cache_path, "rb");
	if (f == NULL) {
		report(u, CERTPIN_UPDATE_BASELINE, 0, "no cached bundle (%s): the baseline is in force",
		       strerror(errno));
		return;
	}
	json_error_t je;
	json_t *o = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
	fclose(f);
	certpin_keyset *keys = NULL;
	certpin_bundle *b = NULL;
	certpin_error err;
	const char *why = NULL;
	char whybuf[800];
	json_t *seqj = json_object_get(o, "seq"), *bj = json_object_get(o, "bundle");
	json_t *rots = json_object_get(o, "rotations");
	const char *etag = json_string_value(json_object_get(o, "etag"));
	if (o == NULL || json_integer_value(json_object_get(o, "certpin_cache")) != 2 ||
	    !json_is_integer(seqj) || !json_is_string(bj) || etag == NULL ||
	    strlen(etag) > ETAG_MAX || !json_is_array(rots)) {
		why = "the cache file is corrupt";
		goto baseline;
	}
	keys = replay_rotations(u, rots, whybuf, sizeof whybuf);
	if (keys == NULL) {
		why = whybuf;
		goto baseline;
	}
	/*
	 * The cached bundle verifies with the keys in force before it: when it
	 * carried signers itself it is the last rotation, already verified.
	 */
	size_t nr = json_array_size(rots);
	int is_last_rotation = nr > 0 && json_equal(json_array_get(rots, nr - 1), bj);
	if (is_last_rotation) {
		json_t *before = json_array();
		for (size_t i = 0; before != NULL && i + 1 < nr; i++)
			json_array_append(before, json_array_get(rots, i));
		certpin_keyset *k2 = before ? replay_rotations(u, before, whybuf, sizeof whybuf) : NULL;
		json_decref(before);
		if (k2 == NULL) {
			why = whybuf;
			goto baseline;
		}
		certpin_keyset_free(keys);
		keys = k2;
	}
	/* structure and signature first (time 0: expiry is judged below) */
	certpin_err rc = certpin_bundle_verify(json_string_value(bj), json_string_length(bj),
	                                       u->cache_path, keys, 0, u->audience, &b, &err);
	if (rc != CERTPIN_OK) {
		certpin_error_format(&err, whybuf, sizeof whybuf);
		why = whybuf;
		goto baseline;
	}
	int64_t seq = certpin_bundle_seq(b);
	if (seq != json_integer_value(seqj) || seq <= u->min_seq) {
		snprintf(whybuf, sizeof whybuf,
		         "the cached bundle's seq %lld does not match the cache (%lld) or is not above "
		         "the app's minimum %lld",
		         (long long)seq, (long long)json_integer_value(seqj), (long long)u->min_seq);
		why = whybuf;
		goto baseline;
	}
	/* a verified bundle sets the anti-rollback floor and the signer keys even
	 * when it has expired */
	u->highest = seq;
	certpin_keyset *next = cp_keyset_union(certpin_bundle_signers(b) ? certpin_bundle_signers(b)
	                                                                  : keys,
	                                       NULL);
	if (next == NULL) {
		why = "out of memory";
		goto baseline;
	}
	set_trusted(u, next);
	json_decref(u->rotations);
	u->rotations = json_incref(rots);
	if (certpin_bundle_exp(b) <= (int64_t)time(NULL)) {
		char when[32];
		certpin_time_format(certpin_bundle_exp(b), when, sizeof when);
		snprintf(whybuf, sizeof whybuf, "the cached bundle (seq %lld) expired at %s",
		         (long long)seq, when);
		why = whybuf;
		goto baseline;
	}
	if (certpin_ctx_set_policy(u->ctx, certpin_bundle_policy(b)) != CERTPIN_OK) {
		why = "cannot install the cached policy";
		goto baseline;
	}
	atomic_store(&u->current, seq);
	set_etag(u, etag, json_string_value(json_object_get(o, "url")));
	report(u, CERTPIN_UPDATE_CACHE_LOADED, seq, "cached bundle seq %lld (kid %s) is in force",
	       (long long)seq, certpin_bundle_kid(b));
	goto out;
baseline:
	report(u, CERTPIN_UPDATE_BASELINE, 0, "%s: the baseline is in force", why);
out:
	certpin_bundle_free(b);
	certpin_keyset_free(keys);
	json_decref(o);
}

/* ---- create / free ----------------------------------------------------------- */

void certpin_updater_free(certpin_updater *u)
{
	if (u == NULL)
		return;
	pthread_mutex_destroy(&u->lock);
	certpin_ctx_free(u->ctx);
	certpin_policy_free(u->baseline);
	certpin_keyset_free(u->configured);
	certpin_keyset_free(u->trusted);
	json_decref(u->rotations);
	free(u->url);
	free(u->cache_dir);
	free(u->cache_path);
	free(u->audience);
	free(u->cafile);
	free(u->etag_url);
	curl_slist_free_all(u->resolve);
	free(u);
}

certpin_updater *certpin_updater_new(const certpin_updater_config *cfg, certpin_ctx *ctx,
                                     certpin_error *err)
{
	if (cfg == NULL || ctx == NULL || cfg->baseline == NULL || cfg->signers == NULL ||
	    cfg->url == NULL || cfg->cache_dir == NULL) {
		cp_err_set(err, CERTPIN_E_INVALID_ARG,
		           "the updater needs a baseline policy, signer keys, a URL and a cache directory");
		return NULL;
	}
	if (certpin_keyset_count(cfg->signers) == 0) {
		cp_err_set(err, CERTPIN_E_INVALID_ARG, "the updater needs at least one signer key");
		return NULL;
	}
	if (strncmp(cfg->url, "https://", 8) != 0) {
		cp_err_set(err, CERTPIN_E_INVALID_ARG, "the bundle URL must be https://");
		return NULL;
	}
	if (cfg->min_seq < 0) {
		cp_err_set(err, CERTPIN_E_INVALID_ARG, "min_seq must be >= 0");
		return NULL;
	}
	certpin_updater *u = calloc(1, sizeof *u);
	if (u == NULL || pthread_mutex_init(&u->lock, NULL) != 0) {
		free(u);
		cp_err_set(err, CERTPIN_E_NOMEM, "out of memory");
		return NULL;
	}
	u->ctx = certpin_ctx_ref(ctx);
	u->baseline = certpin_policy_ref(cfg->baseline);
	u->configured = cp_keyset_union(cfg->signers, NULL);
	u->trusted = cp_keyset_union(cfg->signers, NULL);
	u->rotations = json_array();
	u->url = strdup(cfg->url);
	u->cache_dir = strdup(cfg->cache_dir);
	u->audience = dup_or_null(cfg->audience);
	u->cafile = dup_or_null(cfg->cafile);
	u->min_seq = cfg->min_seq;
	u->highest = cfg->min_seq;
	u->max_size = cfg->max_bundle_size ? cfg->max_bundle_size : DEFAULT_MAX;
	if (u->max_size > CERTPIN_BUNDLE_MAX)
		u->max_size = CERTPIN_BUNDLE_MAX;
	u->connect_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 10000;
	u->total_ms = cfg->total_timeout_ms > 0 ? cfg->total_timeout_ms : 30000;
	u->cb = cfg->callback;
	u->cb_arg = cfg->callback_arg;
	size_t pl = strlen(cfg->cache_dir) + sizeof "/" CACHE_NAME;
	u->cache_path = malloc(pl);
	int bad = u->configured == NULL || u->trusted == NULL || u->rotations == NULL ||
	          u->url == NULL ||
	          u->cache_dir == NULL || u->cache_path == NULL ||
	          (cfg->audience != NULL && u->audience == NULL) ||
	          (cfg->cafile != NULL && u->cafile == NULL);
	for (const char *const *r = cfg->resolve; !bad && r != NULL && *r != NULL; r++) {
		struct curl_slist *n = curl_slist_append(u->resolve, *r);
		if (n == NULL)
			bad = 1;
		else
			u->resolve = n;
	}
	if (bad) {
		certpin_updater_free(u);
		cp_err_set(err, CERTPIN_E_NOMEM, "out of memory");
		return NULL;
	}
	snprintf(u->cache_path, pl, "%s/%s", cfg->cache_dir, CACHE_NAME);
	if (mkdir(u->cache_dir, 0700) != 0 && errno != EEXIST) {
		cp_err_set(err, CERTPIN_E_IO, "cannot create the cache directory %s: %s", u->cache_dir,
		           strerror(errno));
		certpin_updater_free(u);
		return NULL;
	}
	remove_stale_temps(u->cache_dir);
	/* never start with no policy: the baseline first, the cache over it */
	if (certpin_ctx_set_policy(u->ctx, u->baseline) != CERTPIN_OK) {
		cp_err_set(err, CERTPIN_E_INTERNAL, "cannot install the baseline policy");
		certpin_updater_free(u);
		return NULL;
	}
	load_cache(u);
	return u;
}

int64_t certpin_updater_seq(const certpin_updater *u)
{
	return u != NULL ? atomic_load(&((certpin_updater *)(uintptr_t)u)->current) : 0;
}

/* ---- refresh ---------------------------------------------------------------------- */

struct body {
	char *p;
	size_t n, cap, max;
	int too_large;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb;
	if (n > b->max - b->n) {
		b->too_large = 1;
		return 0; /* aborts the transfer */
	}
	if (b->n + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 16384;
		while (nc < b->n + n + 1)
			nc *= 2;
		if (nc > b->max + 1)
			nc = b->max + 1;
		char *np = realloc(b->p, nc);
		if (np == NULL)
			return 0;
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->n, data, n);
	b->n += n;
	b->p[b->n] = '\0';
	return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	char *etag = arg;
	size_t n = size * nmemb;
	if (n > 5 && strncasecmp(data, "ETag:", 5) == 0) {
		const char *v = data + 5;
		size_t l = n - 5;
		while (l > 0 && (*v == ' ' || *v == '\t'))
			v++, l--;
		while (l > 0 && (v[l - 1] == '\r' || v[l - 1] == '\n' || v[l - 1] == ' '))
			l--;
		int printable = 1;
		for (size_t i = 0; i < l; i++)
			printable &= (unsigned char)v[i] >= 0x21 && (unsigned char)v[i] <= 0x7e;
		/* an ETag that is not printable ASCII is not remembered: no
		 * conditional request, never a broken cache file */
		if (l <= ETAG_MAX && printable) {
			memcpy(etag, v, l);
			etag[l] = '\0';
		}
	}
	return n;
}

static certpin_update_result refresh_locked(certpin_updater *u)
{
	CURL *h = curl_easy_init();
	if (h == NULL)
		return report(u, CERTPIN_UPDATE_NETWORK_ERROR, 0, "cannot create a libcurl handle");
	struct body body = {NULL, 0, 0, u->max_size, 0};
	char etag[ETAG_MAX + 1] = "", ims[ETAG_MAX + 32], errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	certpin_update_result r;
	certpin_bundle *b = NULL;
	char *text = NULL;
	if (u->etag[0] != '\0' && u->etag_url != NULL && strcmp(u->etag_url, u->url) == 0) {
		snprintf(ims, sizeof ims, "If-None-Match: %s", u->etag);
		hdrs = curl_slist_append(NULL, ims);
	}
	char ua[64];
	snprintf(ua, sizeof ua, "certpin/%s", certpin_version());
	int setup =
	    curl_easy_setopt(h, CURLOPT_URL, u->url) == CURLE_OK &&
#if LIBCURL_VERSION_NUM >= 0x075500
	    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https") == CURLE_OK &&
#else
	    curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTPS) == CURLE_OK &&
#endif
	    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, u->connect_ms) == CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, u->total_ms) == CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)u->max_size) == CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body) == CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_HEADERDATA, etag) == CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK &&
	    curl_easy_setopt(h, CURLOPT_USERAGENT, ua) == CURLE_OK &&
	    (hdrs == NULL || curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs) == CURLE_OK) &&
	    (u->cafile == NULL || curl_easy_setopt(h, CURLOPT_CAINFO, u->cafile) == CURLE_OK) &&
	    (u->resolve == NULL || curl_easy_setopt(h, CURLOPT_RESOLVE, u->resolve) == CURLE_OK) &&
	    certpin_curl_pin(h, u->ctx) == CERTPIN_OK;
	if (!setup) {
		r = report(u, CERTPIN_UPDATE_NETWORK_ERROR, 0, "cannot set up the libcurl handle");
		goto out;
	}
	CURLcode cc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (body.too_large || cc == CURLE_FILESIZE_EXCEEDED) {
		r = report(u, CERTPIN_UPDATE_TOO_LARGE, 0, "the bundle at %s is over %zu bytes", u->url,
		           u->max_size);
		goto out;
	}
	if (cc != CURLE_OK) {
		certpin_verdict_code vc = certpin_curl_last_verdict_code(h);
		if (vc != 0 && !certpin_verdict_code_allowed(vc))
			r = report(u, CERTPIN_UPDATE_NETWORK_ERROR, 0,
			           "the bundle server failed the certificate check (%s): %s",
			           certpin_verdict_code_name(vc), u->url);
		else
			r = report(u, CERTPIN_UPDATE_NETWORK_ERROR, 0, "fetching %s failed: %s", u->url,
			           errbuf[0] ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	if (status == 304) {
		r = report(u, CERTPIN_UPDATE_NOT_MODIFIED, atomic_load(&u->current),
		           "not modified (ETag %s)", u->etag);
		goto out;
	}
	if (status != 200) {
		r = report(u, CERTPIN_UPDATE_NETWORK_ERROR, 0, "fetching %s: HTTP %ld", u->url, status);
		goto out;
	}
	certpin_error err;
	certpin_err rc = certpin_bundle_verify(body.p ? body.p : "", body.n, u->url, u->trusted,
	                                       (int64_t)time(NULL), u->audience, &b, &err);
	if (rc != CERTPIN_OK) {
		char line[800];
		certpin_error_format(&err, line, sizeof line);
		r = report(u, from_err(rc), 0, "%s", line);
		goto out;
	}
	int64_t seq = certpin_bundle_seq(b), cur = atomic_load(&u->current);
	if (seq == cur && cur != 0) {
		set_etag(u, etag, u->url);
		r = report(u, CERTPIN_UPDATE_NOT_MODIFIED, seq, "seq %lld is already in force",
		           (long long)seq);
		goto out;
	}
	if (seq <= u->highest) {
		r = report(u, CERTPIN_UPDATE_ROLLBACK, seq,
		           "seq %lld is not above %lld, the highest seen: refused", (long long)seq,
		           (long long)u->highest);
		goto out;
	}
	const certpin_keyset *next = certpin_bundle_signers(b);
	json_t *rots = json_copy(u->rotations);
	if (rots != NULL && next != NULL) {
		if (json_array_size(rots) >= MAX_ROTATIONS) {
			json_decref(rots);
			r = report(u, CERTPIN_UPDATE_CACHE_WRITE_FAILED, seq,
			           "more than %d signer rotations: ship a release with the current keys",
			           MAX_ROTATIONS);
			goto out;
		}
		json_array_append_new(rots, json_stringn(body.p, body.n));
	}
	text = rots != NULL ? cache_text(seq, etag, u->url, rots, body.p, body.n) : NULL;
	char why[600];
	if (text == NULL) {
		json_decref(rots);
		r = report(u, CERTPIN_UPDATE_CACHE_WRITE_FAILED, seq, "out of memory");
		goto out;
	}
	if (persist(u, text, why, sizeof why) != 0) {
		json_decref(rots);
		r = report(u, CERTPIN_UPDATE_CACHE_WRITE_FAILED, seq, "%s: seq %lld not applied", why,
		           (long long)seq);
		goto out;
	}
	json_decref(u->rotations);
	u->rotations = rots;
	if (certpin_ctx_set_policy(u->ctx, certpin_bundle_policy(b)) != CERTPIN_OK) {
		r = report(u, CERTPIN_UPDATE_CACHE_WRITE_FAILED, seq, "cannot install the policy");
		goto out;
	}
	if (next != NULL) {
		certpin_keyset *copy = cp_keyset_union(next, NULL);
		if (copy != NULL)
			set_trusted(u, copy);
	}
	u->highest = seq;
	atomic_store(&u->current, seq);
	set_etag(u, etag, u->url);
	r = report(u, CERTPIN_UPDATE_UPDATED, seq, "seq %lld (kid %s%s) is in force",
	           (long long)seq, certpin_bundle_kid(b), next ? ", with a new signer set" : "");
out:
	free(text);
	certpin_bundle_free(b);
	free(body.p);
	certpin_curl_unpin(h);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	return r;
}

certpin_update_result certpin_updater_refresh(certpin_updater *u)
{
	if (u == NULL)
		return CERTPIN_UPDATE_INVALID;
	if (pthread_mutex_lock(&u->lock) != 0)
		return report(u, CERTPIN_UPDATE_NETWORK_ERROR, 0, "cannot take the updater's lock");
	certpin_update_result r = refresh_locked(u);
	pthread_mutex_unlock(&u->lock);
	return r;
}
