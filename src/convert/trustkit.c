/*
 * TrustKit configuration (the dictionary given to TrustKit's
 * initSharedInstanceWithConfiguration:), read and written as JSON with
 * jansson, and written as a Swift dictionary literal.
 *
 * Mapping: a TSKPinnedDomains entry is a rule; TSKPublicKeyHashes (base64
 * SPKI SHA-256, any position of the chain) are pins; TSKIncludeSubdomains
 * is "**.name"; TSKEnforcePinning false is mode "report";
 * TSKExpirationDate (yyyy-MM-dd) is expires with on_expiry "unpinned";
 * TSKReportUris are report_uris; TSKExcludeSubdomainFromParentPolicy is an
 * exclude rule.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"

#define TK_ERR(o, err, code, ...) cv_err((err), (code), (o)->name, 0, 0, __VA_ARGS__)

static certpin_err tk_bool(const cv_opts *o, json_t *v, const char *host, const char *key, int *out,
                           certpin_error *err)
{
	if (!json_is_boolean(v))
		return TK_ERR(o, err, CERTPIN_E_SCHEMA, "TSKPinnedDomains.%s.%s must be true or false",
		              host, key);
	*out = json_is_true(v);
	return CERTPIN_OK;
}

static certpin_err tk_domain(const cv_opts *o, const char *host, json_t *d, cv_policy *p,
                             cv_log *log, certpin_error *err)
{
	if (!json_is_object(d))
		return TK_ERR(o, err, CERTPIN_E_SCHEMA, "TSKPinnedDomains.%s must be an object", host);
	if (host[0] == '\0' || strchr(host, '*') != NULL || strlen(host) > CERTPIN_HOST_MAX)
		return TK_ERR(o, err, CERTPIN_E_HOST,
		              "TSKPinnedDomains: '%s' is not a domain name (use TSKIncludeSubdomains)",
		              host);
	int sub = 0, enforce = 1, exclude = 0;
	json_t *hashes = NULL, *expiry = NULL, *uris = NULL;
	const char *key;
	json_t *v;
	certpin_err rc = CERTPIN_OK;
	json_object_foreach(d, key, v)
	{
		if (strcmp(key, "TSKIncludeSubdomains") == 0)
			rc = tk_bool(o, v, host, key, &sub, err);
		else if (strcmp(key, "TSKEnforcePinning") == 0)
			rc = tk_bool(o, v, host, key, &enforce, err);
		else if (strcmp(key, "TSKExcludeSubdomainFromParentPolicy") == 0)
			rc = tk_bool(o, v, host, key, &exclude, err);
		else if (strcmp(key, "TSKPublicKeyHashes") == 0)
			hashes = v;
		else if (strcmp(key, "TSKExpirationDate") == 0)
			expiry = v;
		else if (strcmp(key, "TSKReportUris") == 0)
			uris = v;
		else if (strcmp(key, "TSKDisableDefaultReportUri") == 0 ||
		         strcmp(key, "TSKPublicKeyAlgorithms") == 0)
			cv_log_add(log, CV_NOTE, "TSKPinnedDomains.%s.%s: ignored (certpin sends no "
			                         "default reports and reads the key type from the pin)",
			           host, key);
		else
			rc = TK_ERR(o, err, CERTPIN_E_SCHEMA, "TSKPinnedDomains.%s: unknown key '%s'",
			            host, key);
		if (rc != CERTPIN_OK)
			return rc;
	}
	char pattern[CERTPIN_HOST_MAX + 8];
	snprintf(pattern, sizeof pattern, "%s%s", sub ? "**." : "", host);
	cv_rule *r = cv_policy_add_rule(p, pattern, 0, 0);
	if (r == NULL)
		return TK_ERR(o, err, CERTPIN_E_NOMEM, "out of memory");
	if (exclude) {
		if (hashes != NULL || expiry != NULL || uris != NULL)
			return TK_ERR(o, err, CERTPIN_E_SCHEMA,
			              "TSKPinnedDomains.%s: TSKExcludeSubdomainFromParentPolicy takes no "
			              "pins, expiry or report URIs",
			              host);
		r->exclude = 1;
		return CERTPIN_OK;
	}
	if (!json_is_array(hashes) || json_array_size(hashes) == 0)
		return TK_ERR(o, err, CERTPIN_E_SCHEMA,
		              "TSKPinnedDomains.%s: TSKPublicKeyHashes must be a non-empty array", host);
	size_t i;
	json_array_foreach(hashes, i, v)
	{
		const char *s = json_string_value(v);
		char text[128], canon[CERTPIN_PIN_STRLEN];
		certpin_error pe;
		int len = s ? snprintf(text, sizeof text, "sha256/%s", s) : -1;
		if (len < 0 || (size_t)len >= sizeof text ||
		    cv_pin_canon(text, (size_t)len, canon, &pe) != 0)
			return TK_ERR(o, err, CERTPIN_E_PIN_SYNTAX,
			              "TSKPinnedDomains.%s.TSKPublicKeyHashes[%zu]: must be the base64 of "
			              "a 32-byte SPKI SHA-256",
			              host, i);
		if (cv_strs_has(&r->pins, canon))
			return TK_ERR(o, err, CERTPIN_E_SCHEMA,
			              "TSKPinnedDomains.%s.TSKPublicKeyHashes[%zu]: duplicate pin", host, i);
		if (cv_strs_add(&r->pins, canon) != 0)
			return TK_ERR(o, err, CERTPIN_E_NOMEM, "out of memory");
	}
	if (json_array_size(hashes) < 2)
		cv_log_add(log, CV_NOTE,
		           "TSKPinnedDomains.%s: TrustKit refuses fewer than 2 pins (a backup pin)", host);
	r->mode = enforce ? CERTPIN_MODE_ENFORCE : CERTPIN_MODE_REPORT;
	if (expiry != NULL) {
		const char *e = json_string_value(expiry);
		certpin_error te;
		if (e == NULL || strlen(e) != 10 ||
		    certpin_time_parse(e, CERTPIN_TIME_DATE_END, &r->expires, &te) != CERTPIN_OK)
			return TK_ERR(o, err, CERTPIN_E_TIME,
			              "TSKPinnedDomains.%s.TSKExpirationDate must be yyyy-MM-dd", host);
		r->has_expires = 1;
	}
	if (uris != NULL) {
		if (!json_is_array(uris))
			return TK_ERR(o, err, CERTPIN_E_SCHEMA,
			              "TSKPinnedDomains.%s.TSKReportUris must be an array", host);
		json_array_foreach(uris, i, v)
		{
			if (!json_is_string(v))
				return TK_ERR(o, err, CERTPIN_E_SCHEMA,
				              "TSKPinnedDomains.%s.TSKReportUris[%zu] must be a string", host,
				              i);
			if (cv_strs_add(&r->report_uris, json_string_value(v)) != 0)
				return TK_ERR(o, err, CERTPIN_E_NOMEM, "out of memory");
		}
	}
	return CERTPIN_OK;
}

certpin_err cv_import_trustkit(const char *data, size_t len, const cv_opts *o, cv_policy *p,
                               cv_log *log, certpin_error *err)
{
	json_error_t je;
	json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL)
		return cv_err(err, CERTPIN_E_JSON, o->name, (unsigned)(je.line > 0 ? je.line : 0),
		              (unsigned)(je.column > 0 ? je.column : 0), "%s", je.text);
	certpin_err rc = CERTPIN_OK;
	json_t *domains = NULL;
	const char *key;
	json_t *v;
	if (!json_is_object(root)) {
		rc = TK_ERR(o, err, CERTPIN_E_SCHEMA, "the TrustKit configuration must be an object");
		goto done;
	}
	json_object_foreach(root, key, v)
	{
		if (strcmp(key, "TSKPinnedDomains") == 0)
			domains = v;
		else if (strcmp(key, "TSKSwizzleNetworkDelegates") == 0 ||
		         strcmp(key, "TSKIgnorePinningForUserDefinedTrustAnchors") == 0)
			cv_log_add(log, CV_NOTE, "%s: not about which pins apply (ignored)", key);
		else {
			rc = TK_ERR(o, err, CERTPIN_E_SCHEMA, "unknown TrustKit key '%s'", key);
			goto done;
		}
	}
	if (!json_is_object(domains) || json_object_size(domains) == 0) {
		rc = TK_ERR(o, err, CERTPIN_E_SCHEMA, "TSKPinnedDomains must be a non-empty object");
		goto done;
	}
	if (json_object_size(domains) > CERTPIN_MAX_DOMAINS) {
		rc = TK_ERR(o, err, CERTPIN_E_TOO_LARGE, "too many pinned domains");
		goto done;
	}
	json_object_foreach(domains, key, v)
	{
		if ((rc = tk_domain(o, key, v, p, log, err)) != CERTPIN_OK)
			break;
	}
done:
	json_decref(root);
	return rc;
}

/* ---- export ---- */

static void swift_string(cv_buf *b, const char *s)
{
	cv_buf_puts(b, "\"");
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			cv_buf_puts(b, "\\");
		cv_buf_add(b, s, 1);
	}
	cv_buf_puts(b, "\"");
}

static void swift_value(cv_buf *b, json_t *v, int depth)
{
	char pad[64];
	int ind = (depth + 1) * 4;
	snprintf(pad, sizeof pad, "%*s", ind < 60 ? ind : 60, "");
	if (json_is_object(v)) {
		const char *key;
		json_t *x;
		cv_buf_puts(b, "[\n");
		json_object_foreach(v, key, x)
		{
			cv_buf_puts(b, pad);
			if (strncmp(key, "TSK", 3) == 0)
				cv_buf_printf(b, "k%s", key);
			else
				swift_string(b, key);
			cv_buf_puts(b, ": ");
			swift_value(b, x, depth + 1);
			cv_buf_puts(b, ",\n");
		}
		cv_buf_printf(b, "%*s]", depth * 4 < 60 ? depth * 4 : 60, "");
	} else if (json_is_array(v)) {
		size_t i;
		json_t *x;
		cv_buf_puts(b, "[\n");
		json_array_foreach(v, i, x)
		{
			cv_buf_puts(b, pad);
			swift_value(b, x, depth + 1);
			cv_buf_puts(b, ",\n");
		}
		cv_buf_printf(b, "%*s]", depth * 4 < 60 ? depth * 4 : 60, "");
	} else if (json_is_boolean(v)) {
		cv_buf_puts(b, json_is_true(v) ? "true" : "false");
	} else if (json_is_string(v)) {
		swift_string(b, json_string_value(v));
	}
}

certpin_err cv_export_trustkit(const cv_policy *p, const cv_opts *o, int swift, cv_buf *out,
                               cv_log *log, certpin_error *err)
{
	cv_common_losses(p, "TrustKit", CV_OK_REPORT | CV_OK_EXPIRY | CV_OK_REPORT_URIS, log);
	json_t *root = json_object(), *domains = json_object();
	int bad = root == NULL || domains == NULL || json_object_set(root, "TSKPinnedDomains", domains);
	for (size_t i = 0; !bad && i < p->n; i++) {
		const cv_rule *r = &p->rules[i];
		const char *name = r->host;
		int sub = 0;
		if (strncmp(name, "**.", 3) == 0) {
			name += 3;
			sub = 1;
		} else if (strncmp(name, "*.", 2) == 0) {
			cv_log_add(log, CV_LOSS,
			           "%s: TrustKit has no one-label wildcard (written as "
			           "TSKIncludeSubdomains, which also covers %s and every depth below)",
			           r->host, r->host + 2);
			name += 2;
			sub = 1;
		}
		if (json_object_get(domains, name) != NULL) {
			cv_log_add(log, CV_LOSS, "%s: a second rule for %s (dropped)", r->host, name);
			continue;
		}
		json_t *d = json_object();
		if (r->exclude) {
			int covered = 0;
			for (size_t k = 0; k < p->n; k++)
				if (k != i && !p->rules[k].exclude &&
				    cv_host_covers(p->rules[k].host, r->host))
					covered = 1;
			if (!covered) {
				json_decref(d);
				cv_log_add(log, CV_NOTE, "%s: exclude rule under no pinned domain: omitted",
				           r->host);
				continue;
			}
			if (sub)
				cv_log_add(log, CV_LOSS,
				           "%s: TrustKit excludes one domain, not its subdomains (written "
				           "for %s only)",
				           r->host, name);
			bad |= json_object_set_new(d, "TSKExcludeSubdomainFromParentPolicy", json_true());
			bad |= json_object_set_new(domains, name, d);
			continue;
		}
		cv_strs pins = {0};
		cv_rule_spki_pins(r, &pins);
		for (size_t k = 0; k < r->leaf_pins.n; k++)
			if (strncmp(r->leaf_pins.v[k], "sha256/", 7) == 0 &&
			    !cv_strs_has(&pins, r->leaf_pins.v[k]))
				(void)cv_strs_add(&pins, r->leaf_pins.v[k]);
		for (size_t k = 0; k < r->ca_pins.n; k++)
			if (strncmp(r->ca_pins.v[k], "sha256/", 7) == 0 &&
			    !cv_strs_has(&pins, r->ca_pins.v[k]))
				(void)cv_strs_add(&pins, r->ca_pins.v[k]);
		if (pins.n < 2) {
			cv_log_add(log, CV_LOSS,
			           "%s: TrustKit refuses a domain with fewer than 2 pins (dropped)",
			           r->host);
			cv_strs_free(&pins);
			json_decref(d);
			continue;
		}
		json_t *h = json_array();
		for (size_t k = 0; k < pins.n; k++)
			bad |= json_array_append_new(h, json_string(pins.v[k] + 7));
		cv_strs_free(&pins);
		bad |= json_object_set_new(d, "TSKPublicKeyHashes", h);
		if (sub)
			bad |= json_object_set_new(d, "TSKIncludeSubdomains", json_true());
		bad |= json_object_set_new(d, "TSKEnforcePinning",
		                           json_boolean(r->mode == CERTPIN_MODE_ENFORCE));
		if (r->has_expires) {
			char date[11];
			if (!cv_expiry_date(r->expires, date)) {
				cv_expiry_date(r->expires - r->expires % 86400, date);
				cv_log_add(log, CV_LOSS,
				           "%s: expires is not at the end of a day: TrustKit takes a date "
				           "(written as %s, ending before it)",
				           r->host, date);
			}
			bad |= json_object_set_new(d, "TSKExpirationDate", json_string(date));
		}
		if (r->report_uris.n != 0) {
			json_t *u = json_array();
			for (size_t k = 0; k < r->report_uris.n; k++)
				bad |= json_array_append_new(u, json_string(r->report_uris.v[k]));
			bad |= json_object_set_new(d, "TSKReportUris", u);
		}
		bad |= json_object_set_new(domains, name, d);
	}
	json_decref(domains);
	if (!bad && swift) {
		cv_buf_puts(out, "// Generated by certpin convert: pass to "
		                 "TrustKit.initSharedInstance(withConfiguration:).\n"
		                 "let trustKitConfig: [String: Any] = ");
		swift_value(out, root, 0);
		cv_buf_puts(out, "\n");
	} else if (!bad) {
		char *text = json_dumps(root, JSON_INDENT(2));
		if (text == NULL)
			bad = 1;
		else {
			cv_buf_puts(out, text);
			cv_buf_puts(out, "\n");
			free(text);
		}
	}
	json_decref(root);
	if (bad)
		return TK_ERR(o, err, CERTPIN_E_NOMEM, "out of memory");
	return CERTPIN_OK;
}
