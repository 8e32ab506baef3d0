/*
 * Evaluation of a validated chain against a policy, and the verdict object.
 *
 * The hot path (certpin_evaluate) walks each certificate's DER to find its
 * SubjectPublicKeyInfo, hashes it once, and copies the subject Name bytes so
 * that messages can be made later without re-reading the chain. Nothing is
 * parsed with the X.509 parser and nothing is allocated once a verdict has
 * been used: the SHA-256 per certificate is the floor the cost is held to.
 *
 * Fail closed: a verdict starts as INTERNAL_ERROR and only the decision
 * code below moves it to an allowed value.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct certpin_verdict {
	certpin_verdict_code code;
	const struct certpin_rule *rule; /* borrowed from the policy */
	int matched;                     /* chain index of the first match, or -1 */
	size_t n;
	certpin_pin pins[CERTPIN_MAX_CHAIN];
	size_t subj_off[CERTPIN_MAX_CHAIN];
	size_t subj_len[CERTPIN_MAX_CHAIN];
	uint8_t *subj;                   /* copies of the subject Names */
	size_t subj_cap;
	char host[CERTPIN_HOST_MAX + 1];
	char reason[256];
	/*
	 * Reportable verdicts only (cp_verdict_reportable): DER copies of the
	 * chain the peer served and of the validated chain, for violation
	 * reports. Filled after the decision, so the allowed path never pays.
	 */
	uint8_t *certs;                          /* the copies, back to back */
	size_t certs_used, certs_cap;
	size_t n_certs[2];                       /* per certpin_chain_kind */
	size_t cert_off[2][CERTPIN_MAX_CHAIN];
	size_t cert_len[2][CERTPIN_MAX_CHAIN];
};

static const struct {
	certpin_verdict_code code;
	const char *name;
} verdict_names[] = {
	{CERTPIN_V_PINNED, "PINNED"},
	{CERTPIN_V_NOT_PINNED, "NOT_PINNED"},
	{CERTPIN_V_EXPIRED_UNPINNED, "EXPIRED_UNPINNED"},
	{CERTPIN_V_REPORT_ONLY_MISMATCH, "REPORT_ONLY_MISMATCH"},
	{CERTPIN_V_PIN_MISMATCH, "PIN_MISMATCH"},
	{CERTPIN_V_UNLISTED_HOST, "UNLISTED_HOST"},
	{CERTPIN_V_EXPIRED_BLOCKED, "EXPIRED_BLOCKED"},
	{CERTPIN_V_CHAIN_INVALID, "CHAIN_INVALID"},
	{CERTPIN_V_HOSTNAME_MISMATCH, "HOSTNAME_MISMATCH"},
	{CERTPIN_V_INTERNAL_ERROR, "INTERNAL_ERROR"},
};

const char *certpin_verdict_code_name(certpin_verdict_code code)
{
	for (size_t i = 0; i < sizeof verdict_names / sizeof verdict_names[0]; i++)
		if (verdict_names[i].code == code)
			return verdict_names[i].name;
	return "UNKNOWN";
}

int certpin_verdict_code_allowed(certpin_verdict_code code)
{
	switch (code) {
	case CERTPIN_V_PINNED:
	case CERTPIN_V_NOT_PINNED:
	case CERTPIN_V_EXPIRED_UNPINNED:
	case CERTPIN_V_REPORT_ONLY_MISMATCH:
		return 1;
	case CERTPIN_V_PIN_MISMATCH:
	case CERTPIN_V_UNLISTED_HOST:
	case CERTPIN_V_EXPIRED_BLOCKED:
	case CERTPIN_V_CHAIN_INVALID:
	case CERTPIN_V_HOSTNAME_MISMATCH:
	case CERTPIN_V_INTERNAL_ERROR:
	default:
		return 0;
	}
}

certpin_verdict *certpin_verdict_new(void)
{
	certpin_verdict *v = calloc(1, sizeof *v);
	if (v == NULL)
		return NULL;
	v->code = CERTPIN_V_INTERNAL_ERROR;
	v->matched = -1;
	return v;
}

void certpin_verdict_free(certpin_verdict *v)
{
	if (v == NULL)
		return;
	free(v->subj);
	free(v->certs);
	free(v);
}

static void verdict_reset(certpin_verdict *v)
{
	v->code = CERTPIN_V_INTERNAL_ERROR;
	v->rule = NULL;
	v->matched = -1;
	v->n = 0;
	v->host[0] = '\0';
	v->reason[0] = '\0';
	v->certs_used = 0;
	v->n_certs[0] = v->n_certs[1] = 0;
}

static void set_reason(certpin_verdict *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_reason(certpin_verdict *v, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v->reason, sizeof v->reason, fmt, ap);
	va_end(ap);
	for (char *p = v->reason; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
			*p = ' ';
}

/* Returns the verdict to fill (allocating one if *slot is NULL), reset. */
static certpin_verdict *verdict_prepare(certpin_verdict **slot)
{
	if (*slot == NULL)
		*slot = certpin_verdict_new();
	if (*slot != NULL)
		verdict_reset(*slot);
	return *slot;
}

/* Sets the host from (unnormalised) text; returns 1 when it is valid. */
static int verdict_set_host(certpin_verdict *v, const char *host, int *is_ip, size_t *len)
{
	certpin_error err;
	if (host == NULL) {
		set_reason(v, "no host name: pinning needs the name of the server");
		return 0;
	}
	if (cp_host_normalize(host, strlen(host), v->host, len, is_ip, &err) != CERTPIN_OK) {
		v->host[0] = '\0';
		set_reason(v, "invalid host name: %s", err.message);
		return 0;
	}
	return 1;
}

static int list_has(const cp_pin_list *l, const certpin_pin *spki, const certpin_pin *cert)
{
	for (size_t i = 0; i < l->n; i++) {
		const certpin_pin *p = &l->v[i];
		const certpin_pin *c = p->type == CERTPIN_PIN_SPKI_SHA256 ? spki : cert;
		if (c != NULL && c->type == p->type && memcmp(c->hash, p->hash, CERTPIN_HASH_LEN) == 0)
			return 1;
	}
	return 0;
}

/*
 * Checks the arguments and the host, and looks the rule up. Returns 1 when
 * the chain is to be evaluated, 0 when *rc is the answer (the verdict stays
 * INTERNAL_ERROR with its reason).
 */
static int evaluate_begin(const certpin_policy *policy, const char *host, int have_chain, size_t n,
                          certpin_verdict **verdict, certpin_verdict **vout, certpin_err *rc)
{
	*rc = CERTPIN_OK;
	if (verdict == NULL) {
		*rc = CERTPIN_E_INVALID_ARG;
		return 0;
	}
	certpin_verdict *v = verdict_prepare(verdict);
	if (v == NULL) {
		*rc = CERTPIN_E_NOMEM;
		return 0;
	}
	*vout = v;
	if (policy == NULL || (!have_chain && n != 0)) {
		set_reason(v, "no policy or no chain given");
		*rc = CERTPIN_E_INVALID_ARG;
		return 0;
	}

	int is_ip = 0;
	size_t hlen = 0;
	if (!verdict_set_host(v, host, &is_ip, &hlen))
		return 0; /* INTERNAL_ERROR: blocked */
	if (n == 0) {
		set_reason(v, "empty certificate chain");
		return 0;
	}
	if (n > CERTPIN_MAX_CHAIN) {
		set_reason(v, "chain of %zu certificates exceeds the limit of %u", n, CERTPIN_MAX_CHAIN);
		return 0;
	}
	v->rule = cp_index_lookup(policy->index, v->host, hlen, is_ip);
	return 1;
}

/*
 * The decision on located slices, once evaluate_begin has passed: hashes and
 * subject copies of the chain, then the rule. Fail closed: every early return
 * leaves the verdict INTERNAL_ERROR.
 */
static void evaluate_views(const certpin_policy *policy, certpin_verdict *v,
                           const cp_chain_slices *certs_in, size_t n, int64_t now)
{
	const struct certpin_rule *rule = v->rule;

	/*
	 * Pins and subjects of the chain: one hash each, on the thread's hash
	 * context looked up once (NULL fails the first hash).
	 */
	cp_sha256_ctx *hctx = cp_sha256_ctx_get();
	size_t subj_total = 0;
	for (size_t i = 0; i < n; i++) {
		if (certs_in[i].spki.p == NULL || certs_in[i].subject.p == NULL) {
			set_reason(v, "certificate %zu of the chain has no key or subject", i);
			return;
		}
		v->pins[i].type = CERTPIN_PIN_SPKI_SHA256;
		if (cp_sha256_with(hctx, certs_in[i].spki.p, certs_in[i].spki.n, v->pins[i].hash) != 0) {
			set_reason(v, "SHA-256 failed in the crypto library");
			return;
		}
		subj_total += certs_in[i].subject.n;
	}
	if (subj_total > v->subj_cap) {
		uint8_t *nb = realloc(v->subj, subj_total);
		if (nb == NULL) {
			set_reason(v, "out of memory");
			return;
		}
		v->subj = nb;
		v->subj_cap = subj_total;
	}
	size_t off = 0;
	for (size_t i = 0; i < n; i++) {
		memcpy(v->subj + off, certs_in[i].subject.p, certs_in[i].subject.n);
		v->subj_off[i] = off;
		v->subj_len[i] = certs_in[i].subject.n;
		off += certs_in[i].subject.n;
	}
	v->n = n;

	if (rule == NULL) {
		v->code = policy->unlisted == CERTPIN_UNLISTED_DENY ? CERTPIN_V_UNLISTED_HOST
		                                                    : CERTPIN_V_NOT_PINNED;
		return;
	}
	if (rule->exclude) {
		v->code = CERTPIN_V_NOT_PINNED;
		return;
	}
	if (rule->has_expires && now >= rule->expires) {
		v->code = rule->on_expiry == CERTPIN_ON_EXPIRY_BLOCK ? CERTPIN_V_EXPIRED_BLOCKED
		                                                     : CERTPIN_V_EXPIRED_UNPINNED;
		return;
	}

	/* Whole-certificate hashes only when the rule has such pins. */
	certpin_pin certs[CERTPIN_MAX_CHAIN];
	for (size_t i = 0; i < n; i++) {
		certs[i].type = CERTPIN_PIN_CERT_SHA256;
		if (!rule->has_cert_pins)
			continue;
		if (certs_in[i].whole.p == NULL) {
			set_reason(v, "certificate %zu of the chain was not given whole, and the rule "
			              "has certificate pins", i);
			return;
		}
		if (cp_sha256_with(hctx, certs_in[i].whole.p, certs_in[i].whole.n, certs[i].hash) != 0) {
			set_reason(v, "SHA-256 failed in the crypto library");
			return;
		}
	}
	const certpin_pin *certp = rule->has_cert_pins ? certs : NULL;

	int any_ok = rule->pins.n == 0, leaf_ok = rule->leaf_pins.n == 0, ca_ok = rule->ca_pins.n == 0;
	int matched = -1;
	for (size_t i = 0; i < n; i++) {
		const certpin_pin *c = certp ? &certp[i] : NULL;
		int hit = 0;
		if (rule->pins.n && list_has(&rule->pins, &v->pins[i], c)) {
			any_ok = 1;
			hit = 1;
		}
		if (i == 0 && rule->leaf_pins.n && list_has(&rule->leaf_pins, &v->pins[i], c)) {
			leaf_ok = 1;
			hit = 1;
		}
		if (i > 0 && rule->ca_pins.n && list_has(&rule->ca_pins, &v->pins[i], c)) {
			ca_ok = 1;
			hit = 1;
		}
		if (hit && matched < 0)
			matched = (int)i;
	}
	if (any_ok && leaf_ok && ca_ok && matched >= 0) {
		v->matched = matched;
		v->code = CERTPIN_V_PINNED;
	} else if (rule->mode == CERTPIN_MODE_REPORT) {
		v->code = CERTPIN_V_REPORT_ONLY_MISMATCH;
	} else {
		v->code = CERTPIN_V_PIN_MISMATCH;
	}
}

/* The chain given to certpin_evaluate is the validated one: kept for a report. */
static __attribute__((noinline)) void keep_validated(certpin_verdict *v, const certpin_der *chain,
                                                     size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (cp_verdict_add_cert(v, CERTPIN_CHAIN_VALIDATED, chain[i].der, chain[i].len) !=
		    CERTPIN_OK)
			break; /* a report then shows a shorter chain */
}

certpin_err certpin_evaluate(const certpin_policy *policy, const char *host, const certpin_der *chain,
                             size_t n, int64_t now, certpin_verdict **verdict)
{
	certpin_verdict *v = NULL;
	certpin_err rc;
	if (!evaluate_begin(policy, host, chain != NULL, n, verdict, &v, &rc))
		return rc;

	/* One DER walk per certificate locates the slices. */
	cp_chain_slices sl[CERTPIN_MAX_CHAIN];
	for (size_t i = 0; i < n; i++) {
		cp_cert_view view;
		if (chain[i].der == NULL ||
		    cp_der_cert_view(chain[i].der, chain[i].len, &view) != CERTPIN_OK) {
			set_reason(v, "certificate %zu of the chain is not a valid DER certificate", i);
			return CERTPIN_OK;
		}
		sl[i].spki = view.spki;
		sl[i].subject = view.subject;
		sl[i].whole = view.whole;
	}
	evaluate_views(policy, v, sl, n, now);
	if (cp_verdict_reportable(v))
		keep_validated(v, chain, n);
	return CERTPIN_OK;
}

certpin_err cp_evaluate_slices(const certpin_policy *policy, const char *host,
                               const cp_chain_slices *chain, size_t n, int64_t now,
                               certpin_verdict **verdict)
{
	certpin_verdict *v = NULL;
	certpin_err rc;
	if (!evaluate_begin(policy, host, chain != NULL, n, verdict, &v, &rc))
		return rc;
	evaluate_views(policy, v, chain, n, now);
	return CERTPIN_OK;
}

certpin_err certpin_verdict_set_failure(certpin_verdict *v, const certpin_policy *policy,
                                        const char *host, certpin_verdict_code code,
                                        const char *reason)
{
	if (v == NULL)
		return CERTPIN_E_INVALID_ARG;
	verdict_reset(v);
	int is_ip = 0;
	size_t len = 0;
	if (!verdict_set_host(v, host, &is_ip, &len))
		return CERTPIN_OK; /* stays INTERNAL_ERROR with the host's reason */
	if (policy != NULL)
		v->rule = cp_index_lookup(policy->index, v->host, len, is_ip);
	switch (code) {
	case CERTPIN_V_CHAIN_INVALID:
	case CERTPIN_V_HOSTNAME_MISMATCH:
	case CERTPIN_V_INTERNAL_ERROR:
		v->code = code;
		break;
	default:
		v->code = CERTPIN_V_INTERNAL_ERROR; /* only failures are set this way */
		break;
	}
	set_reason(v, "%s", reason ? reason : "");
	return CERTPIN_OK;
}

certpin_verdict_code certpin_verdict_get_code(const certpin_verdict *v)
{
	return v ? v->code : CERTPIN_V_INTERNAL_ERROR;
}

int certpin_verdict_allowed(const certpin_verdict *v)
{
	return v ? certpin_verdict_code_allowed(v->code) : 0;
}

const char *certpin_verdict_host(const certpin_verdict *v)
{
	return v ? v->host : "";
}

const certpin_rule *certpin_verdict_rule(const certpin_verdict *v)
{
	return v ? v->rule : NULL;
}

const char *certpin_verdict_reason(const certpin_verdict *v)
{
	return v ? v->reason : "";
}

size_t certpin_verdict_chain_len(const certpin_verdict *v)
{
	return v ? v->n : 0;
}

const certpin_pin *certpin_verdict_chain_pin(const certpin_verdict *v, size_t i)
{
	if (v == NULL || i >= v->n)
		return NULL;
	return &v->pins[i];
}

certpin_err certpin_verdict_chain_subject(const certpin_verdict *v, size_t i, char *buf, size_t n)
{
	if (v == NULL || buf == NULL || n == 0 || i >= v->n)
		return CERTPIN_E_INVALID_ARG;
	return cp_name_to_text(v->subj + v->subj_off[i], v->subj_len[i], buf, n);
}

/* ---- chains kept for reports --------------------------------------------- */

/* Most DER bytes a verdict keeps for its two chains. */
#define CP_VERDICT_CERT_BYTES (512u * 1024u)

int cp_verdict_reportable(const certpin_verdict *v)
{
	if (v == NULL)
		return 0;
	switch (v->code) {
	case CERTPIN_V_PIN_MISMATCH:
	case CERTPIN_V_REPORT_ONLY_MISMATCH:
	case CERTPIN_V_EXPIRED_UNPINNED:
	case CERTPIN_V_EXPIRED_BLOCKED:
		return v->rule != NULL;
	case CERTPIN_V_CHAIN_INVALID:
	case CERTPIN_V_HOSTNAME_MISMATCH:
		/* validation failed on a pinned host */
		return v->rule != NULL && !v->rule->exclude;
	case CERTPIN_V_PINNED:
	case CERTPIN_V_NOT_PINNED:
	case CERTPIN_V_UNLISTED_HOST:
	case CERTPIN_V_INTERNAL_ERROR:
	default:
		return 0;
	}
}

int certpin_verdict_reportable(const certpin_verdict *v)
{
	return cp_verdict_reportable(v);
}

certpin_err cp_verdict_add_cert(certpin_verdict *v, certpin_chain_kind which, const uint8_t *der,
                                size_t len)
{
	if (v == NULL || der == NULL || len == 0 ||
	    (which != CERTPIN_CHAIN_SERVED && which != CERTPIN_CHAIN_VALIDATED))
		return CERTPIN_E_INVALID_ARG;
	size_t k = (size_t)which;
	if (v->n_certs[k] >= CERTPIN_MAX_CHAIN || len > CP_VERDICT_CERT_BYTES - v->certs_used)
		return CERTPIN_E_TOO_LARGE;
	if (v->certs_used + len > v->certs_cap) {
		size_t cap = v->certs_cap ? v->certs_cap : 4096;
		while (cap < v->certs_used + len)
			cap *= 2;
		uint8_t *nb = realloc(v->certs, cap);
		if (nb == NULL)
			return CERTPIN_E_NOMEM;
		v->certs = nb;
		v->certs_cap = cap;
	}
	memcpy(v->certs + v->certs_used, der, len);
	v->cert_off[k][v->n_certs[k]] = v->certs_used;
	v->cert_len[k][v->n_certs[k]] = len;
	v->n_certs[k]++;
	v->certs_used += len;
	return CERTPIN_OK;
}

size_t certpin_verdict_cert_count(const certpin_verdict *v, certpin_chain_kind which)
{
	if (v == NULL || (which != CERTPIN_CHAIN_SERVED && which != CERTPIN_CHAIN_VALIDATED))
		return 0;
	return v->n_certs[(size_t)which];
}

const uint8_t *certpin_verdict_cert(const certpin_verdict *v, certpin_chain_kind which, size_t i,
                                    size_t *len)
{
	if (len != NULL)
		*len = 0;
	if (i >= certpin_verdict_cert_count(v, which))
		return NULL;
	size_t k = (size_t)which;
	if (len != NULL)
		*len = v->cert_len[k][i];
	return v->certs + v->cert_off[k][i];
}

/* ---- messages ------------------------------------------------------------ */

typedef struct outbuf {
	char *p;
	size_t cap;
	size_t len; /* length the full text needs */
} outbuf;

static void out(outbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out(outbuf *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *dst = o->len < o->cap ? o->p + o->len : NULL;
	size_t room = o->len < o->cap ? o->cap - o->len : 0;
	int k = vsnprintf(dst, room, fmt, ap);
	va_end(ap);
	if (k > 0)
		o->len += (size_t)k;
}

static void out_chain(outbuf *o, const certpin_verdict *v)
{
	char pin[CERTPIN_PIN_STRLEN];
	char subj[512];
	out(o, "  Validated chain:\n");
	for (size_t i = 0; i < v->n; i++) {
		if (certpin_pin_format(&v->pins[i], pin, sizeof pin) == 0)
			cp_strlcpy(pin, "?", sizeof pin);
		certpin_err rc = certpin_verdict_chain_subject(v, i, subj, sizeof subj);
		if (rc != CERTPIN_OK && rc != CERTPIN_E_BUFFER)
			cp_strlcpy(subj, "(unreadable subject)", sizeof subj);
		out(o, "    %s  %s\n", pin, subj);
	}
}

static void out_pins(outbuf *o, const char *title, const cp_pin_list *l)
{
	char pin[CERTPIN_PIN_STRLEN];
	if (l->n == 0)
		return;
	out(o, "  %s\n", title);
	for (size_t i = 0; i < l->n; i++) {
		if (certpin_pin_format(&l->v[i], pin, sizeof pin) == 0)
			cp_strlcpy(pin, "?", sizeof pin);
		out(o, "    %s\n", pin);
	}
}

static void out_rule_pins(outbuf *o, const certpin_verdict *v)
{
	const struct certpin_rule *r = v->rule;
	char title[CERTPIN_HOST_MAX + 64];
	snprintf(title, sizeof title, "Pinned for %s:", v->host);
	out_pins(o, title, &r->pins);
	out_pins(o, "Pinned leaf keys (must match the leaf):", &r->leaf_pins);
	out_pins(o, "Pinned CA keys (must match a CA certificate of the chain):", &r->ca_pins);
}

size_t certpin_verdict_format(const certpin_verdict *v, char *buf, size_t n)
{
	outbuf o = {buf, buf ? n : 0, 0};
	if (o.cap > 0)
		buf[0] = '\0';
	if (v == NULL)
		return 0;
	const char *rule = v->rule ? v->rule->host_text : NULL;
	char when[32] = "";
	if (v->rule && v->rule->has_expires)
		certpin_time_format(v->rule->expires, when, sizeof when);

	switch (v->code) {
	case CERTPIN_V_PINNED: {
		char pin[CERTPIN_PIN_STRLEN] = "";
		char subj[512] = "";
		if (v->matched >= 0) {
			size_t m = (size_t)v->matched;
			if (certpin_pin_format(&v->pins[m], pin, sizeof pin) == 0)
				pin[0] = '\0';
			certpin_err rc = certpin_verdict_chain_subject(v, m, subj, sizeof subj);
			if (rc != CERTPIN_OK && rc != CERTPIN_E_BUFFER)
				subj[0] = '\0';
		}
		out(&o, "%s: PINNED (rule %s): certificate %d of the validated chain matched (%s %s)\n",
		    v->host, rule ? rule : "?", v->matched, pin, subj);
		break;
	}
	case CERTPIN_V_NOT_PINNED:
		if (rule != NULL)
			out(&o, "%s: NOT_PINNED (excluded by rule %s)\n", v->host, rule);
		else
			out(&o, "%s: NOT_PINNED (no rule for this host; unlisted hosts are allowed)\n",
			    v->host);
		break;
	case CERTPIN_V_UNLISTED_HOST:
		out(&o, "Certificate pinning failure for %s: no rule matches this host and the policy "
		        "denies unlisted hosts\n",
		    v->host);
		out_chain(&o, v);
		break;
	case CERTPIN_V_EXPIRED_UNPINNED:
		out(&o, "%s: EXPIRED_UNPINNED (rule %s): the pin set expired at %s; on_expiry "
		        "\"unpinned\" lets the connection through without pinning\n",
		    v->host, rule ? rule : "?", when);
		out_chain(&o, v);
		out_rule_pins(&o, v);
		break;
	case CERTPIN_V_EXPIRED_BLOCKED:
		out(&o, "Certificate pinning failure for %s (rule %s): the pin set expired at %s and "
		        "on_expiry is \"block\"\n",
		    v->host, rule ? rule : "?", when);
		out_chain(&o, v);
		out_rule_pins(&o, v);
		break;
	case CERTPIN_V_REPORT_ONLY_MISMATCH:
		out(&o, "Certificate pinning failure for %s (rule %s, mode report: allowed and "
		        "reported):\n",
		    v->host, rule ? rule : "?");
		out_chain(&o, v);
		out_rule_pins(&o, v);
		break;
	case CERTPIN_V_PIN_MISMATCH:
		out(&o, "Certificate pinning failure for %s (rule %s):\n", v->host, rule ? rule : "?");
		out_chain(&o, v);
		out_rule_pins(&o, v);
		break;
	case CERTPIN_V_CHAIN_INVALID:
		out(&o, "Certificate validation failed for %s: %s\n", v->host, v->reason);
		break;
	case CERTPIN_V_HOSTNAME_MISMATCH:
		out(&o, "Host name mismatch for %s: %s\n", v->host, v->reason);
		break;
	case CERTPIN_V_INTERNAL_ERROR:
	default:
		out(&o, "Pinning check failed closed for %s: %s\n", v->host[0] ? v->host : "(no host)",
		    v->reason[0] ? v->reason : "internal error");
		break;
	}
	return o.len;
}

certpin_err cp_verdict_reserve(certpin_verdict *v, size_t subject_bytes)
{
	if (v == NULL)
		return CERTPIN_E_INVALID_ARG;
	if (subject_bytes <= v->subj_cap)
		return CERTPIN_OK;
	uint8_t *nb = realloc(v->subj, subject_bytes);
	if (nb == NULL)
		return CERTPIN_E_NOMEM;
	v->subj = nb;
	v->subj_cap = subject_bytes;
	return CERTPIN_OK;
}
