/*
 * Single-host formats: curl's --pinnedpubkey / CURLOPT_PINNEDPUBLICKEY
 * string ("sha256//A;sha256//B") and the HTTP Public-Key-Pins header.
 * Both describe one host, named with --host on import and export.
 *
 * curl compares the pins with the leaf's public key only: importing gives
 * leaf_pins; exporting writes pins and leaf_pins and says on stderr that
 * pins of CA keys will never match. HPKP pins match any certificate of the
 * chain (pins); max-age is counted from the conversion time (--at).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "convert.h"

/* The rule a single-host export writes, with the policy reduced to it. */
static certpin_err one_rule(const cv_policy *p, const cv_opts *o, const char *fmt,
                            const cv_rule **out, certpin_error *err)
{
	char host[CERTPIN_HOST_MAX + 1];
	certpin_error he;
	if (o->host == NULL)
		return cv_err(err, CERTPIN_E_INVALID_ARG, NULL, 0, 0,
		              "%s describes one host: name it with --host", fmt);
	if (certpin_host_normalize(o->host, host, sizeof host, &he) != CERTPIN_OK)
		return cv_err(err, CERTPIN_E_HOST, NULL, 0, 0, "--host %s: %s", o->host, he.message);
	const cv_rule *r = cv_policy_lookup(p, host);
	if (r == NULL || r->exclude)
		return cv_err(err, CERTPIN_E_SCHEMA, NULL, 0, 0, "no pinning rule applies to %s%s%s",
		              host, r ? " (rule " : "", r ? "excludes it)" : "");
	*out = r;
	return CERTPIN_OK;
}

static size_t rule_losses(const cv_policy *p, const cv_rule *r, const char *fmt, unsigned ok,
                          cv_log *log)
{
	cv_policy one;
	memset(&one, 0, sizeof one);
	one.validation = p->validation;
	cv_rule copy = *r;
	one.rules = &copy;
	one.n = 1;
	return cv_common_losses(&one, fmt, ok, log);
}

static void trim(const char **s, size_t *n)
{
	while (*n > 0 && strchr(" \t\r\n", (*s)[0]) != NULL && (*s)[0] != '\0') {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && strchr(" \t\r\n", (*s)[*n - 1]) != NULL && (*s)[*n - 1] != '\0')
		(*n)--;
}

static certpin_err import_host(const cv_opts *o, const char *fmt, char *host, size_t cap,
                               certpin_error *err)
{
	certpin_error he;
	if (o->host == NULL)
		return cv_err(err, CERTPIN_E_INVALID_ARG, o->name, 0, 0,
		              "%s pins are for one host: name it with --host", fmt);
	if (certpin_host_normalize(o->host, host, cap, &he) != CERTPIN_OK)
		return cv_err(err, CERTPIN_E_HOST, NULL, 0, 0, "--host %s: %s", o->host, he.message);
	return CERTPIN_OK;
}

/* ---- curl ---- */

certpin_err cv_import_curl(const char *data, size_t len, const cv_opts *o, cv_policy *p,
                           cv_log *log, certpin_error *err)
{
	char host[CERTPIN_HOST_MAX + 1];
	certpin_err rc = import_host(o, "curl", host, sizeof host, err);
	if (rc != CERTPIN_OK)
		return rc;
	const char *s = data;
	size_t n = len;
	trim(&s, &n);
	if (n == 0)
		return cv_err(err, CERTPIN_E_SCHEMA, o->name, 1, 1, "empty pin string");
	cv_rule *r = cv_policy_add_rule(p, host, 1, 1);
	if (r == NULL)
		return cv_err(err, CERTPIN_E_NOMEM, o->name, 0, 0, "out of memory");
	size_t i = 0;
	while (i <= n) {
		size_t j = i;
		while (j < n && s[j] != ';')
			j++;
		const char *item = s + i;
		size_t m = j - i;
		unsigned col = (unsigned)(s - data + (ptrdiff_t)i) + 1;
		for (size_t k = 0; k < (size_t)(s - data) + i; k++)
			if (data[k] == '\n')
				return cv_err(err, CERTPIN_E_SCHEMA, o->name, 0, 0,
				              "the pin string must be one line");
		if (m < 8 || memcmp(item, "sha256//", 8) != 0)
			return cv_err(err, CERTPIN_E_PIN_SYNTAX, o->name, 1, col,
			              "expected sha256//<base64>%s",
			              m >= 3 && memchr(item, '/', m) != NULL && memcmp(item, "sha", 3) != 0
			                      ? " (curl also takes a key file: pin it with `certpin pin "
			                        "FILE`)"
			                      : "");
		char text[128], canon[CERTPIN_PIN_STRLEN];
		certpin_error pe;
		int tl = snprintf(text, sizeof text, "sha256/%.*s", (int)(m - 8 < 100 ? m - 8 : 100),
		                  item + 8);
		if (tl < 0 || m - 8 >= 100 || cv_pin_canon(text, (size_t)tl, canon, &pe) != 0)
			return cv_err(err, CERTPIN_E_PIN_SYNTAX, o->name, 1, col,
			              "sha256//: not the base64 of a 32-byte SHA-256");
		if (cv_strs_has(&r->leaf_pins, canon))
			return cv_err(err, CERTPIN_E_SCHEMA, o->name, 1, col, "duplicate pin");
		if (r->leaf_pins.n >= CERTPIN_MAX_PINS_PER_RULE)
			return cv_err(err, CERTPIN_E_TOO_LARGE, o->name, 1, col, "too many pins");
		if (cv_strs_add(&r->leaf_pins, canon) != 0)
			return cv_err(err, CERTPIN_E_NOMEM, o->name, 0, 0, "out of memory");
		i = j + 1;
	}
	cv_log_add(log, CV_NOTE, "curl matches its pins against the leaf's key only: imported as "
	                         "leaf_pins of %s",
	           host);
	return CERTPIN_OK;
}

certpin_err cv_export_curl(const cv_policy *p, const cv_opts *o, cv_buf *out, cv_log *log,
                           certpin_error *err)
{
	const cv_rule *r;
	certpin_err rc = one_rule(p, o, "curl", &r, err);
	if (rc != CERTPIN_OK)
		return rc;
	rule_losses(p, r, "curl", CV_OK_SCOPES, log);
	if (r->ca_pins.n != 0)
		cv_log_add(log, CV_LOSS,
		           "%s: ca_pins: curl checks the leaf's key only and cannot require a CA "
		           "(dropped)",
		           r->host);
	cv_strs pins = {0};
	for (size_t k = 0; k < r->leaf_pins.n; k++)
		if (strncmp(r->leaf_pins.v[k], "sha256/", 7) == 0)
			(void)cv_strs_add(&pins, r->leaf_pins.v[k]);
	size_t leaf = pins.n;
	cv_rule_spki_pins(r, &pins);
	if (pins.n > leaf)
		cv_log_add(log, CV_NOTE,
		           "# curl compares pins with the leaf certificate's public key only: the "
		           "pins of CA keys in %s will never match",
		           r->host);
	if (pins.n == 0)
		cv_log_add(log, CV_LOSS, "%s: no SHA-256 public-key pin left to write", r->host);
	for (size_t k = 0; k < pins.n; k++)
		cv_buf_printf(out, "%ssha256//%s", k ? ";" : "", pins.v[k] + 7);
	cv_buf_puts(out, "\n");
	cv_strs_free(&pins);
	return CERTPIN_OK;
}

/* ---- HPKP ---- */

#define HPKP_DEFAULT_MAX_AGE 5184000 /* 60 days, what the lossy export assumes */

certpin_err cv_import_hpkp(const char *data, size_t len, const cv_opts *o, cv_policy *p,
                           cv_log *log, certpin_error *err)
{
	char host[CERTPIN_HOST_MAX + 1];
	certpin_err rc = import_host(o, "HPKP", host, sizeof host, err);
	if (rc != CERTPIN_OK)
		return rc;
	const char *s = data;
	size_t n = len;
	trim(&s, &n);
	for (size_t k = 0; k < n; k++)
		if (s[k] == '\n' || s[k] == '\0')
			return cv_err(err, CERTPIN_E_SCHEMA, o->name, 0, 0,
			              "the header must be one line");
	int report = 0;
	static const char *const names[] = {"Public-Key-Pins-Report-Only:", "Public-Key-Pins:"};
	for (size_t k = 0; k < 2; k++) {
		size_t m = strlen(names[k]);
		if (n >= m && strncasecmp(s, names[k], m) == 0) {
			report = k == 0;
			s += m;
			n -= m;
			break;
		}
	}
	cv_rule *r = cv_policy_add_rule(p, host, 1, 1);
	if (r == NULL)
		return cv_err(err, CERTPIN_E_NOMEM, o->name, 0, 0, "out of memory");
	int sub = 0, have_age = 0;
	long long age = 0;
	size_t i = 0;
	while (i < n) {
		size_t j = i;
		int quoted = 0;
		while (j < n && (quoted || s[j] != ';')) {
			if (s[j] == '"')
				quoted = !quoted;
			j++;
		}
		const char *d = s + i;
		size_t m = j - i;
		unsigned col = (unsigned)(d - data) + 1;
		trim(&d, &m);
		col = (unsigned)(d - data) + 1;
		i = j + 1;
		if (m == 0)
			continue;
		size_t eq = 0;
		while (eq < m && d[eq] != '=')
			eq++;
		size_t nl = eq;
		while (nl > 0 && (d[nl - 1] == ' ' || d[nl - 1] == '\t'))
			nl--;
		const char *v = eq < m ? d + eq + 1 : NULL;
		size_t vl = eq < m ? m - eq - 1 : 0;
		if (v != NULL)
			trim(&v, &vl);
		if (v != NULL && vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
			v++;
			vl -= 2;
		}
		char val[300];
		if (vl >= sizeof val)
			return cv_err(err, CERTPIN_E_TOO_LARGE, o->name, 1, col, "directive too long");
		memcpy(val, v ? v : "", vl);
		val[vl] = '\0';
		if (nl == 10 && strncasecmp(d, "pin-sha256", 10) == 0 && v != NULL) {
			char text[320], canon[CERTPIN_PIN_STRLEN];
			certpin_error pe;
			int tl = snprintf(text, sizeof text, "sha256/%s", val);
			if (tl < 0 || (size_t)tl >= sizeof text ||
			    cv_pin_canon(text, (size_t)tl, canon, &pe) != 0)
				return cv_err(err, CERTPIN_E_PIN_SYNTAX, o->name, 1, col,
				              "pin-sha256: not the base64 of a 32-byte SHA-256");
			if (cv_strs_has(&r->pins, canon))
				return cv_err(err, CERTPIN_E_SCHEMA, o->name, 1, col, "duplicate pin");
			if (r->pins.n >= CERTPIN_MAX_PINS_PER_RULE)
				return cv_err(err, CERTPIN_E_TOO_LARGE, o->name, 1, col, "too many pins");
			if (cv_strs_add(&r->pins, canon) != 0)
				return cv_err(err, CERTPIN_E_NOMEM, o->name, 0, 0, "out of memory");
		} else if (nl == 7 && strncasecmp(d, "max-age", 7) == 0 && v != NULL) {
			char *end = NULL;
			if (have_age++)
				return cv_err(err, CERTPIN_E_SCHEMA, o->name, 1, col, "max-age given twice");
			if (vl == 0 || vl > 10 || val[0] < '0' || val[0] > '9')
				return cv_err(err, CERTPIN_E_SCHEMA, o->name, 1, col,
				              "max-age must be a number of seconds");
			age = strtoll(val, &end, 10);
			if (end == NULL || *end != '\0')
				return cv_err(err, CERTPIN_E_SCHEMA, o->name, 1, col,
				              "max-age must be a number of seconds");
		} else if (nl == 17 && strncasecmp(d, "includeSubDomains", 17) == 0 && v == NULL) {
			if (sub++)
				return cv_err(err, CERTPIN_E_SCHEMA, o->name, 1, col,
				              "includeSubDomains given twice");
		} else if (nl == 10 && strncasecmp(d, "report-uri", 10) == 0 && v != NULL) {
			if (r->report_uris.n != 0)
				return cv_err(err, CERTPIN_E_SCHEMA, o->name, 1, col, "report-uri given twice");
			if (cv_strs_add(&r->report_uris, val) != 0)
				return cv_err(err, CERTPIN_E_NOMEM, o->name, 0, 0, "out of memory");
		} else {
			return cv_err(err, CERTPIN_E_SCHEMA, o->name, 1, col, "unknown directive '%.*s'",
			              (int)(nl < 60 ? nl : 60), d);
		}
	}
	if (r->pins.n == 0)
		return cv_err(err, CERTPIN_E_SCHEMA, o->name, 1, 1, "no pin-sha256 directive");
	if (!have_age)
		return cv_err(err, CERTPIN_E_SCHEMA, o->name, 1, 1, "no max-age directive");
	if (age == 0)
		return cv_err(err, CERTPIN_E_SCHEMA, o->name, 1, 1,
		              "max-age=0 tells clients to forget the pins: nothing to import");
	if (sub) {
		char pat[CERTPIN_HOST_MAX + 8];
		snprintf(pat, sizeof pat, "**.%s", host);
		char *h = strdup(pat);
		if (h == NULL)
			return cv_err(err, CERTPIN_E_NOMEM, o->name, 0, 0, "out of memory");
		free(r->host);
		r->host = h;
	}
	r->has_expires = 1;
	r->expires = o->now + age;
	r->on_expiry = CERTPIN_ON_EXPIRY_UNPINNED;
	r->mode = report ? CERTPIN_MODE_REPORT : CERTPIN_MODE_ENFORCE;
	char t[32];
	certpin_time_format(r->expires, t, sizeof t);
	cv_log_add(log, CV_NOTE, "max-age=%lld counted from the conversion time: expires %s", age, t);
	return CERTPIN_OK;
}

certpin_err cv_export_hpkp(const cv_policy *p, const cv_opts *o, cv_buf *out, cv_log *log,
                           certpin_error *err)
{
	const cv_rule *r;
	certpin_err rc = one_rule(p, o, "HPKP", &r, err);
	if (rc != CERTPIN_OK)
		return rc;
	rule_losses(p, r, "HPKP", CV_OK_REPORT | CV_OK_EXPIRY | CV_OK_REPORT_URIS, log);
	cv_strs pins = {0};
	cv_rule_spki_pins(r, &pins);
	for (size_t k = 0; k < r->leaf_pins.n; k++)
		if (strncmp(r->leaf_pins.v[k], "sha256/", 7) == 0 && !cv_strs_has(&pins, r->leaf_pins.v[k]))
			(void)cv_strs_add(&pins, r->leaf_pins.v[k]);
	for (size_t k = 0; k < r->ca_pins.n; k++)
		if (strncmp(r->ca_pins.v[k], "sha256/", 7) == 0 && !cv_strs_has(&pins, r->ca_pins.v[k]))
			(void)cv_strs_add(&pins, r->ca_pins.v[k]);
	long long age = HPKP_DEFAULT_MAX_AGE;
	if (!r->has_expires)
		cv_log_add(log, CV_LOSS, "%s: no expires: HPKP needs max-age (written as %lld s, 60 days)",
		           r->host, age);
	else if (r->expires <= o->now) {
		cv_strs_free(&pins);
		return cv_err(err, CERTPIN_E_SCHEMA, NULL, 0, 0,
		              "%s: the pin set has expired: no max-age left to send", r->host);
	} else {
		age = (long long)(r->expires - o->now);
	}
	if (r->report_uris.n > 1)
		cv_log_add(log, CV_LOSS, "%s: HPKP takes one report-uri (kept %s)", r->host,
		           r->report_uris.v[0]);
	if (pins.n < 2)
		cv_log_add(log, CV_NOTE,
		           "%s: browsers ignore a Public-Key-Pins header without a backup pin", r->host);
	if (pins.n == 0)
		cv_log_add(log, CV_LOSS, "%s: no SHA-256 public-key pin left to write", r->host);
	cv_buf_puts(out, r->mode == CERTPIN_MODE_REPORT ? "Public-Key-Pins-Report-Only: "
	                                                 : "Public-Key-Pins: ");
	for (size_t k = 0; k < pins.n; k++)
		cv_buf_printf(out, "pin-sha256=\"%s\"; ", pins.v[k] + 7);
	cv_buf_printf(out, "max-age=%lld", age);
	if (strncmp(r->host, "**.", 3) == 0)
		cv_buf_puts(out, "; includeSubDomains");
	if (r->report_uris.n != 0)
		cv_buf_printf(out, "; report-uri=\"%s\"", r->report_uris.v[0]);
	cv_buf_puts(out, "\n");
	cv_strs_free(&pins);
	return CERTPIN_OK;
}
