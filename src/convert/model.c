/*
 * The conversion model: lists, logs, output buffers, validation through the
 * public policy builder, normal form and the host-pattern arithmetic the
 * exporters need (which rule applies, which pattern covers which).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"

static const char *const format_names[CV_FORMAT_COUNT] = {
	"certpin", "android-nsc", "ios-plist", "trustkit", "trustkit-swift", "okhttp", "curl", "hpkp",
};

int cv_format_from_name(const char *name)
{
	for (size_t i = 0; i < CV_FORMAT_COUNT; i++)
		if (strcmp(name, format_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *cv_format_name(cv_format f)
{
	return (unsigned)f < CV_FORMAT_COUNT ? format_names[f] : "?";
}

int cv_format_can_import(cv_format f)
{
	return (unsigned)f < CV_FORMAT_COUNT && f != CV_TRUSTKIT_SWIFT;
}

/* ---- errors, logs, buffers ---- */

certpin_err cv_err(certpin_error *err, certpin_err code, const char *file, unsigned line,
                   unsigned column, const char *fmt, ...)
{
	if (err == NULL)
		return code;
	memset(err, 0, sizeof *err);
	err->code = code;
	snprintf(err->file, sizeof err->file, "%s", file != NULL ? file : "");
	err->line = line;
	err->column = line != 0 ? column : 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	/* One line: a parser's message may end with a newline. */
	for (char *c = err->message; *c != '\0'; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	size_t n = strlen(err->message);
	while (n > 0 && err->message[n - 1] == ' ')
		err->message[--n] = '\0';
	return code;
}

void cv_log_add(cv_log *log, cv_log_kind kind, const char *fmt, ...)
{
	if (log == NULL)
		return;
	if (kind == CV_LOSS)
		log->losses++;
	if (log->n == log->cap) {
		size_t cap = log->cap ? log->cap * 2 : 16;
		if (cap > 100000) {
			log->oom = 1;
			return;
		}
		cv_log_entry *v = realloc(log->v, cap * sizeof *v);
		if (v == NULL) {
			log->oom = 1;
			return;
		}
		log->v = v;
		log->cap = cap;
	}
	cv_log_entry *e = &log->v[log->n++];
	e->kind = kind;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->text, sizeof e->text, fmt, ap);
	va_end(ap);
}

void cv_log_free(cv_log *log)
{
	if (log == NULL)
		return;
	free(log->v);
	memset(log, 0, sizeof *log);
}

void cv_buf_add(cv_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->cap - b->n <= n) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap - b->n <= n) {
			if (cap > 64u * 1024u * 1024u) {
				b->oom = 1;
				return;
			}
			cap *= 2;
		}
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

void cv_buf_puts(cv_buf *b, const char *s)
{
	cv_buf_add(b, s, strlen(s));
}

void cv_buf_printf(cv_buf *b, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = 1;
		return;
	}
	if ((size_t)n < sizeof small) {
		cv_buf_add(b, small, (size_t)n);
		return;
	}
	char *big = malloc((size_t)n + 1);
	if (big == NULL) {
		b->oom = 1;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	cv_buf_add(b, big, (size_t)n);
	free(big);
}

void cv_buf_free(cv_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* ---- model ---- */

int cv_strs_add(cv_strs *s, const char *str)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4;
		char **v = realloc(s->v, cap * sizeof *v);
		if (v == NULL)
			return -1;
		s->v = v;
		s->cap = cap;
	}
	char *c = strdup(str);
	if (c == NULL)
		return -1;
	s->v[s->n++] = c;
	return 0;
}

int cv_strs_has(const cv_strs *s, const char *str)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], str) == 0)
			return 1;
	return 0;
}

void cv_strs_free(cv_strs *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof *s);
}

cv_policy *cv_policy_new(void)
{
	cv_policy *p = calloc(1, sizeof *p);
	if (p != NULL)
		p->base_cleartext = CV_UNSET;
	return p;
}

static void rule_free(cv_rule *r)
{
	free(r->host);
	cv_strs_free(&r->pins);
	cv_strs_free(&r->leaf_pins);
	cv_strs_free(&r->ca_pins);
	cv_strs_free(&r->pin_files);
	cv_strs_free(&r->file_pins);
	cv_strs_free(&r->report_uris);
}

void cv_policy_free(cv_policy *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++)
		rule_free(&p->rules[i]);
	free(p->rules);
	free(p->debug_overrides);
	free(p);
}

cv_rule *cv_policy_add_rule(cv_policy *p, const char *host, unsigned line, unsigned column)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		if (cap > CERTPIN_MAX_DOMAINS * 2u)
			return NULL;
		cv_rule *v = realloc(p->rules, cap * sizeof *v);
		if (v == NULL)
			return NULL;
		p->rules = v;
		p->cap = cap;
	}
	cv_rule *r = &p->rules[p->n];
	memset(r, 0, sizeof *r);
	r->host = strdup(host);
	if (r->host == NULL)
		return NULL;
	r->cleartext = CV_UNSET;
	r->line = line;
	r->column = column;
	p->n++;
	return r;
}

cv_rule *cv_policy_find(cv_policy *p, const char *host)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->rules[i].host, host) == 0)
			return &p->rules[i];
	return NULL;
}

int cv_pin_canon(const char *in, size_t len, char out[CERTPIN_PIN_STRLEN], certpin_error *err)
{
	certpin_pin pin;
	if (certpin_pin_parse(in, len, &pin, err) != CERTPIN_OK)
		return -1;
	if (certpin_pin_format(&pin, out, CERTPIN_PIN_STRLEN) == 0)
		return -1;
	return 0;
}

int cv_expiry_date(int64_t expires, char out[11])
{
	if (expires % 86400 != 0)
		return 0;
	char t[32];
	if (certpin_time_format(expires - 86400, t, sizeof t) == 0)
		return 0;
	memcpy(out, t, 10);
	out[10] = '\0';
	return 1;
}

/* ---- validation ---- */

certpin_err cv_validate(const cv_policy *p, const cv_opts *o, certpin_policy **out,
                        certpin_error *err)
{
	if (out != NULL)
		*out = NULL;
	certpin_builder *b = certpin_builder_new(o->base_dir);
	if (b == NULL)
		return cv_err(err, CERTPIN_E_NOMEM, o->name, 0, 0, "out of memory");
	certpin_err rc = certpin_builder_set_unlisted(b, p->unlisted);
	if (rc == CERTPIN_OK && p->validation != CERTPIN_VALIDATION_DEFAULT)
		rc = certpin_builder_set_validation(b, p->validation);
	if (rc != CERTPIN_OK) {
		certpin_builder_free(b);
		return cv_err(err, rc, o->name, 0, 0, "%s", certpin_strerror(rc));
	}
	for (size_t i = 0; i < p->n; i++) {
		const cv_rule *r = &p->rules[i];
		certpin_rule_spec s;
		memset(&s, 0, sizeof s);
		s.host = r->host;
		s.exclude = r->exclude;
		s.pins = (const char *const *)r->pins.v;
		s.n_pins = r->pins.n;
		s.leaf_pins = (const char *const *)r->leaf_pins.v;
		s.n_leaf_pins = r->leaf_pins.n;
		s.ca_pins = (const char *const *)r->ca_pins.v;
		s.n_ca_pins = r->ca_pins.n;
		s.pin_files = (const char *const *)r->pin_files.v;
		s.n_pin_files = r->pin_files.n;
		s.has_expires = r->has_expires;
		s.expires = r->expires;
		s.on_expiry = r->on_expiry;
		s.mode = r->mode;
		s.trust_anchors = r->trust_anchors;
		s.validation = r->validation;
		s.report_uris = (const char *const *)r->report_uris.v;
		s.n_report_uris = r->report_uris.n;
		certpin_error e;
		memset(&e, 0, sizeof e);
		rc = certpin_builder_add_rule(b, &s, &e);
		if (rc != CERTPIN_OK) {
			certpin_builder_free(b);
			return cv_err(err, rc, o->name, r->line, r->column, "rule for '%s': %s%s%s",
			              r->host, e.path, e.path[0] ? ": " : "",
			              e.message[0] ? e.message : certpin_strerror(rc));
		}
	}
	certpin_policy *pol = NULL;
	certpin_error e;
	memset(&e, 0, sizeof e);
	rc = certpin_builder_finish(b, 0, &pol, NULL, &e);
	if (rc != CERTPIN_OK) {
		/* A duplicate: two source rules for one host. */
		const cv_rule *r = NULL;
		unsigned long k;
		const char *at = strstr(e.message, "domains[");
		if (at != NULL && sscanf(at, "domains[%lu]", &k) == 1 && k < p->n)
			r = &p->rules[k];
		return cv_err(err, rc, o->name, r ? r->line : 0, r ? r->column : 0, "%s",
		              e.message[0] ? e.message : certpin_strerror(rc));
	}
	if (out != NULL)
		*out = pol;
	else
		certpin_policy_free(pol);
	return CERTPIN_OK;
}

/* ---- normal form ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_rule(const void *a, const void *b)
{
	return strcmp(((const cv_rule *)a)->host, ((const cv_rule *)b)->host);
}

static void sort_strs(cv_strs *s)
{
	if (s->n > 1)
		qsort(s->v, s->n, sizeof *s->v, cmp_str);
}

void cv_normalise(cv_policy *p)
{
	for (size_t i = 0; i < p->n; i++) {
		cv_rule *r = &p->rules[i];
		/* What is pinned counts, not whether a pin was written or read from a
		 * file; and a pin file by its name, not the directory it was found in. */
		for (size_t j = 0; j < r->file_pins.n; j++)
			if (!cv_strs_has(&r->pins, r->file_pins.v[j]) &&
			    cv_strs_add(&r->pins, r->file_pins.v[j]) != 0)
				p->oom = 1;
		cv_strs_free(&r->file_pins);
		for (size_t j = 0; j < r->pin_files.n; j++) {
			char *slash = strrchr(r->pin_files.v[j], '/');
			if (slash != NULL)
				memmove(r->pin_files.v[j], slash + 1, strlen(slash + 1) + 1);
		}
		sort_strs(&r->pins);
		sort_strs(&r->leaf_pins);
		sort_strs(&r->ca_pins);
		sort_strs(&r->pin_files);
		sort_strs(&r->file_pins);
		sort_strs(&r->report_uris);
		if (r->validation == p->validation)
			r->validation = CERTPIN_VALIDATION_DEFAULT;
		if (r->validation == CERTPIN_VALIDATION_WEBPKI &&
		    p->validation == CERTPIN_VALIDATION_DEFAULT)
			r->validation = CERTPIN_VALIDATION_DEFAULT;
	}
	if (p->validation == CERTPIN_VALIDATION_WEBPKI)
		p->validation = CERTPIN_VALIDATION_DEFAULT;
	if (p->n > 1)
		qsort(p->rules, p->n, sizeof *p->rules, cmp_rule);
}

static int strs_equal(const cv_strs *a, const cv_strs *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return 0;
	return 1;
}

int cv_equal(const cv_policy *a, const cv_policy *b)
{
	if (a->oom || b->oom || a->unlisted != b->unlisted || a->validation != b->validation || a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++) {
		const cv_rule *x = &a->rules[i], *y = &b->rules[i];
		if (strcmp(x->host, y->host) != 0 || x->exclude != y->exclude ||
		    !strs_equal(&x->pins, &y->pins) || !strs_equal(&x->leaf_pins, &y->leaf_pins) ||
		    !strs_equal(&x->ca_pins, &y->ca_pins) ||
		    !strs_equal(&x->pin_files, &y->pin_files) ||
		    !strs_equal(&x->file_pins, &y->file_pins) ||
		    !strs_equal(&x->report_uris, &y->report_uris) ||
		    x->has_expires != y->has_expires || (x->has_expires && x->expires != y->expires) ||
		    x->on_expiry != y->on_expiry || x->mode != y->mode ||
		    x->trust_anchors != y->trust_anchors || x->validation != y->validation)
			return 0;
	}
	return 1;
}

/* ---- host patterns ---- */

/* Splits a pattern: kind 0 exact, 1 "*.", 2 "**."; returns the name part. */
static const char *pattern_split(const char *pat, int *kind)
{
	if (strncmp(pat, "**.", 3) == 0) {
		*kind = 2;
		return pat + 3;
	}
	if (strncmp(pat, "*.", 2) == 0) {
		*kind = 1;
		return pat + 2;
	}
	*kind = 0;
	return pat;
}

/* host is name or below it by `labels` or more (labels 0 = the name itself). */
static int below(const char *host, const char *name, int exactly_one)
{
	size_t hn = strlen(host), nn = strlen(name);
	if (hn <= nn + 1 || host[hn - nn - 1] != '.' || strcasecmp(host + hn - nn, name) != 0)
		return 0;
	if (!exactly_one)
		return 1;
	return memchr(host, '.', hn - nn - 1) == NULL;
}

int cv_host_matches(const char *pattern, const char *host)
{
	int kind;
	const char *name = pattern_split(pattern, &kind);
	switch (kind) {
	case 0:
		return strcasecmp(name, host) == 0;
	case 1:
		return below(host, name, 1);
	case 2:
		return strcasecmp(name, host) == 0 || below(host, name, 0);
	default:
		return 0;
	}
}

int cv_host_covers(const char *outer, const char *inner)
{
	int ko, ki;
	const char *no = pattern_split(outer, &ko);
	const char *ni = pattern_split(inner, &ki);
	switch (ki) {
	case 0:
		return cv_host_matches(outer, ni);
	case 1: /* one label below ni */
		if (ko == 1)
			return strcasecmp(no, ni) == 0;
		if (ko == 2)
			return strcasecmp(no, ni) == 0 || below(ni, no, 0);
		return 0;
	case 2:
		return ko == 2 && (strcasecmp(no, ni) == 0 || below(ni, no, 0));
	default:
		return 0;
	}
}

/* Specificity of a matching pattern: exact above all, then longer suffix,
 * then "*." before "**." on the same suffix. */
static size_t specificity(const char *pattern)
{
	int kind;
	const char *name = pattern_split(pattern, &kind);
	if (kind == 0)
		return (size_t)-1;
	return strlen(name) * 2 + (kind == 1 ? 1 : 0);
}

const cv_rule *cv_policy_lookup(const cv_policy *p, const char *host)
{
	const cv_rule *best = NULL;
	size_t best_s = 0;
	for (size_t i = 0; i < p->n; i++) {
		if (!cv_host_matches(p->rules[i].host, host))
			continue;
		size_t s = specificity(p->rules[i].host);
		if (best == NULL || s > best_s) {
			best = &p->rules[i];
			best_s = s;
		}
	}
	return best;
}

/* ---- what exporters share ---- */

void cv_rule_spki_pins(const cv_rule *r, cv_strs *out)
{
	const cv_strs *lists[] = {&r->pins, &r->file_pins};
	for (size_t l = 0; l < 2; l++)
		for (size_t i = 0; i < lists[l]->n; i++)
			if (strncmp(lists[l]->v[i], "sha256/", 7) == 0 &&
			    !cv_strs_has(out, lists[l]->v[i]))
				(void)cv_strs_add(out, lists[l]->v[i]);
}

static int has_cert_pins(const cv_strs *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (strncmp(s->v[i], "cert-sha256/", 12) == 0)
			return 1;
	return 0;
}

size_t cv_common_losses(const cv_policy *p, const char *fmt, unsigned ok, cv_log *log)
{
	size_t before = log->losses;
	if (p->unlisted == CERTPIN_UNLISTED_DENY)
		cv_log_add(log, CV_LOSS,
		           "unlisted_hosts \"deny\": %s cannot block hosts without a rule (dropped)",
		           fmt);
	if (p->validation == CERTPIN_VALIDATION_OPENSSL)
		cv_log_add(log, CV_LOSS,
		           "validation \"openssl\": %s validates with its platform's rules (dropped)",
		           fmt);
	for (size_t i = 0; i < p->n; i++) {
		const cv_rule *r = &p->rules[i];
		if (r->exclude)
			continue;
		if (r->validation == CERTPIN_VALIDATION_OPENSSL &&
		    p->validation != CERTPIN_VALIDATION_OPENSSL)
			cv_log_add(log, CV_LOSS, "%s: validation \"openssl\" (dropped)", r->host);
		if (r->mode == CERTPIN_MODE_REPORT && !(ok & CV_OK_REPORT))
			cv_log_add(log, CV_LOSS,
			           "%s: mode \"report\": %s has no report-only mode (written as enforced)",
			           r->host, fmt);
		if (r->report_uris.n != 0 && !(ok & CV_OK_REPORT_URIS))
			cv_log_add(log, CV_LOSS, "%s: report_uris: %s sends no reports (dropped)",
			           r->host, fmt);
		if (r->has_expires && !(ok & CV_OK_EXPIRY))
			cv_log_add(log, CV_LOSS, "%s: expires: %s pins do not expire (dropped)",
			           r->host, fmt);
		if (r->has_expires && (ok & CV_OK_EXPIRY) && r->on_expiry == CERTPIN_ON_EXPIRY_BLOCK)
			cv_log_add(log, CV_LOSS,
			           "%s: on_expiry \"block\": %s stops pinning at expiry (written as "
			           "\"unpinned\")",
			           r->host, fmt);
		if (r->trust_anchors == CERTPIN_ANCHORS_PINNED && !(ok & CV_OK_ANCHORS))
			cv_log_add(log, CV_LOSS,
			           "%s: trust_anchors \"pinned\": %s keeps the system trust store "
			           "(dropped)",
			           r->host, fmt);
		if (has_cert_pins(&r->pins) || has_cert_pins(&r->leaf_pins) ||
		    has_cert_pins(&r->ca_pins))
			cv_log_add(log, CV_LOSS,
			           "%s: cert-sha256 pins: %s pins public keys only (dropped)", r->host,
			           fmt);
		if ((r->leaf_pins.n != 0 || r->ca_pins.n != 0) && !(ok & CV_OK_SCOPES))
			cv_log_add(log, CV_LOSS,
			           "%s: leaf_pins/ca_pins: %s matches pins at any position of the chain "
			           "(written as pins)",
			           r->host, fmt);
	}
	return log->losses - before;
}

/* ---- dispatch ---- */

/*
 * Checks an imported model, spells its hosts as the policy does, and records
 * the pins its pin_files hold (Android @raw/ trust anchors) as file_pins, so
 * exporters to formats that list digests see them.
 */
static certpin_err validate_and_resolve(cv_policy *p, const cv_opts *o, certpin_error *err)
{
	certpin_policy *pol = NULL;
	certpin_err rc = cv_validate(p, o, &pol, err);
	if (rc != CERTPIN_OK)
		return rc;
	for (size_t i = 0; i < p->n && rc == CERTPIN_OK; i++) {
		cv_rule *r = &p->rules[i];
		const certpin_rule *pr = certpin_policy_rule(pol, i);
		if (pr == NULL)
			continue;
		/* the host as the policy spells it: lower case, no trailing dot */
		if (strcmp(r->host, certpin_rule_host(pr)) != 0) {
			char *h = strdup(certpin_rule_host(pr));
			if (h == NULL) {
				rc = cv_err(err, CERTPIN_E_NOMEM, o->name, 0, 0, "out of memory");
				break;
			}
			free(r->host);
			r->host = h;
		}
		if (r->pin_files.n == 0)
			continue;
		for (size_t k = 0; k < certpin_rule_pin_count(pr, CERTPIN_SCOPE_ANY); k++) {
			char text[CERTPIN_PIN_STRLEN];
			if (certpin_pin_format(certpin_rule_pin(pr, CERTPIN_SCOPE_ANY, k), text,
			                       sizeof text) == 0)
				continue;
			if (!cv_strs_has(&r->pins, text) && !cv_strs_has(&r->file_pins, text) &&
			    cv_strs_add(&r->file_pins, text) != 0)
				rc = cv_err(err, CERTPIN_E_NOMEM, o->name, 0, 0, "out of memory");
		}
	}
	certpin_policy_free(pol);
	return rc;
}

certpin_err cv_import(cv_format f, const char *data, size_t len, const cv_opts *o,
                      cv_policy **out, cv_log *log, certpin_error *err)
{
	*out = NULL;
	if (len > CV_MAX_INPUT)
		return cv_err(err, CERTPIN_E_TOO_LARGE, o->name, 0, 0,
		              "input larger than %u bytes", CV_MAX_INPUT);
	cv_policy *p = cv_policy_new();
	if (p == NULL)
		return cv_err(err, CERTPIN_E_NOMEM, o->name, 0, 0, "out of memory");
	size_t losses = log != NULL ? log->losses : 0;
	certpin_err rc;
	switch (f) {
	case CV_CERTPIN:
		rc = cv_import_certpin(data, len, o, p, log, err);
		break;
	case CV_ANDROID_NSC:
		rc = cv_import_android(data, len, o, p, log, err);
		break;
	case CV_IOS_PLIST:
		rc = cv_import_plist(data, len, o, p, log, err);
		break;
	case CV_TRUSTKIT:
		rc = cv_import_trustkit(data, len, o, p, log, err);
		break;
	case CV_OKHTTP:
		rc = cv_import_okhttp(data, len, o, p, log, err);
		break;
	case CV_CURL:
		rc = cv_import_curl(data, len, o, p, log, err);
		break;
	case CV_HPKP:
		rc = cv_import_hpkp(data, len, o, p, log, err);
		break;
	case CV_TRUSTKIT_SWIFT:
	case CV_FORMAT_COUNT:
	default:
		rc = cv_err(err, CERTPIN_E_INVALID_ARG, o->name, 0, 0, "%s cannot be imported",
		            cv_format_name(f));
		break;
	}
	if (rc == CERTPIN_OK && f != CV_CERTPIN)
		rc = validate_and_resolve(p, o, err);
	if (rc == CERTPIN_OK && log != NULL && log->losses > losses && !o->lossy)
		rc = cv_err(err, CERTPIN_E_SCHEMA, o->name, 0, 0,
		            "%zu feature%s cannot be expressed in a certpin policy (listed above; "
		            "--lossy imports the rest)",
		            log->losses - losses, log->losses - losses == 1 ? "" : "s");
	if (rc == CERTPIN_OK && log != NULL && log->oom)
		rc = cv_err(err, CERTPIN_E_NOMEM, o->name, 0, 0, "out of memory");
	if (rc != CERTPIN_OK) {
		cv_policy_free(p);
		return rc;
	}
	*out = p;
	return CERTPIN_OK;
}

certpin_err cv_export(cv_format f, const cv_policy *p, const cv_opts *o, cv_buf *out,
                      cv_log *log, certpin_error *err)
{
	cv_buf tmp = {0};
	size_t losses = log->losses;
	certpin_err rc;
	switch (f) {
	case CV_CERTPIN:
		rc = cv_export_certpin(p, o, &tmp, log, err);
		break;
	case CV_ANDROID_NSC:
		rc = cv_export_android(p, o, &tmp, log, err);
		break;
	case CV_IOS_PLIST:
		rc = cv_export_plist(p, o, &tmp, log, err);
		break;
	case CV_TRUSTKIT:
	case CV_TRUSTKIT_SWIFT:
		rc = cv_export_trustkit(p, o, f == CV_TRUSTKIT_SWIFT, &tmp, log, err);
		break;
	case CV_OKHTTP:
		rc = cv_export_okhttp(p, o, &tmp, log, err);
		break;
	case CV_CURL:
		rc = cv_export_curl(p, o, &tmp, log, err);
		break;
	case CV_HPKP:
		rc = cv_export_hpkp(p, o, &tmp, log, err);
		break;
	case CV_FORMAT_COUNT:
	default:
		rc = cv_err(err, CERTPIN_E_INVALID_ARG, NULL, 0, 0, "unknown format");
		break;
	}
	if (rc == CERTPIN_OK && (tmp.oom || log->oom))
		rc = cv_err(err, CERTPIN_E_NOMEM, NULL, 0, 0, "out of memory");
	if (rc == CERTPIN_OK && log->losses > losses && !o->lossy)
		rc = cv_err(err, CERTPIN_E_SCHEMA, NULL, 0, 0,
		            "%zu feature%s cannot be expressed in %s (listed above; --lossy writes "
		            "the rest)",
		            log->losses - losses, log->losses - losses == 1 ? "" : "s",
		            cv_format_name(f));
	if (rc == CERTPIN_OK)
		cv_buf_add(out, tmp.p != NULL ? tmp.p : "", tmp.n);
	cv_buf_free(&tmp);
	if (rc == CERTPIN_OK && out->oom)
		rc = cv_err(err, CERTPIN_E_NOMEM, NULL, 0, 0, "out of memory");
	return rc;
}
