/*
 * iOS App Transport Security pins (Info.plist NSAppTransportSecurity ->
 * NSPinnedDomains), read from XML or binary plists and written as XML, both
 * with libplist.
 *
 * Mapping: a pinned domain is a rule; NSIncludesSubdomains is "**.name";
 * NSPinnedLeafIdentities / NSPinnedCAIdentities are leaf_pins / ca_pins
 * (iOS requires a match in each list given, as certpin does); each identity
 * is a dict whose SPKI-SHA256-BASE64 is the base64 of a "sha256/" pin.
 * Importing a whole Info.plist keeps only the pinning part.
 */
#include <plist/plist.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"

#define perr(o, err, code, ...) cv_err((err), (code), (o)->name, 0, 0, __VA_ARGS__)

static certpin_err identities(const cv_opts *o, plist_t arr, const char *host, const char *key,
                              cv_strs *out, certpin_error *err)
{
	if (plist_get_node_type(arr) != PLIST_ARRAY)
		return perr(o, err, CERTPIN_E_SCHEMA, "NSPinnedDomains.%s.%s must be an array", host,
		            key);
	uint32_t n = plist_array_get_size(arr);
	if (n == 0)
		return perr(o, err, CERTPIN_E_SCHEMA, "NSPinnedDomains.%s.%s is empty", host, key);
	if (n > CERTPIN_MAX_PINS_PER_RULE)
		return perr(o, err, CERTPIN_E_TOO_LARGE, "NSPinnedDomains.%s.%s: too many identities",
		            host, key);
	for (uint32_t i = 0; i < n; i++) {
		plist_t id = plist_array_get_item(arr, i);
		plist_t v = plist_get_node_type(id) == PLIST_DICT
		                    ? plist_dict_get_item(id, "SPKI-SHA256-BASE64")
		                    : NULL;
		if (v == NULL || plist_get_node_type(v) != PLIST_STRING || plist_dict_get_size(id) != 1)
			return perr(o, err, CERTPIN_E_SCHEMA,
			            "NSPinnedDomains.%s.%s: each identity must be a dict with only "
			            "SPKI-SHA256-BASE64 (a string)",
			            host, key);
		/* by pointer and length: plist_get_string_val asserts on a NUL inside */
		uint64_t slen = 0;
		const char *s = plist_get_string_ptr(v, &slen);
		char text[128], canon[CERTPIN_PIN_STRLEN];
		int len = s != NULL && slen < 100 && memchr(s, '\0', (size_t)slen) == NULL
		                  ? snprintf(text, sizeof text, "sha256/%.*s", (int)slen, s)
		                  : -1;
		certpin_error pe;
		if (len < 0 || (size_t)len >= sizeof text ||
		    cv_pin_canon(text, (size_t)len, canon, &pe) != 0)
			return cv_err(err, CERTPIN_E_PIN_SYNTAX, o->name, 0, 0,
			              "NSPinnedDomains.%s.%s[%u]: SPKI-SHA256-BASE64 must be the base64 "
			              "of a 32-byte SHA-256",
			              host, key, i);
		if (cv_strs_has(out, canon))
			return cv_err(err, CERTPIN_E_SCHEMA, o->name, 0, 0,
			              "NSPinnedDomains.%s.%s[%u]: duplicate identity", host, key, i);
		if (cv_strs_add(out, canon) != 0)
			return cv_err(err, CERTPIN_E_NOMEM, o->name, 0, 0, "out of memory");
	}
	return CERTPIN_OK;
}

static certpin_err domain(const cv_opts *o, const char *host, plist_t d, cv_policy *p,
                          certpin_error *err)
{
	if (plist_get_node_type(d) != PLIST_DICT)
		return perr(o, err, CERTPIN_E_SCHEMA, "NSPinnedDomains.%s must be a dict%s", host, "");
	if (host[0] == '\0' || strchr(host, '*') != NULL || strlen(host) > CERTPIN_HOST_MAX)
		return perr(o, err, CERTPIN_E_HOST,
		            "NSPinnedDomains: '%s' is not a domain name%s (use NSIncludesSubdomains)",
		            host, "");
	plist_t sub = NULL, leaf = NULL, ca = NULL;
	plist_dict_iter it = NULL;
	plist_dict_new_iter(d, &it);
	if (it == NULL)
		return cv_err(err, CERTPIN_E_NOMEM, o->name, 0, 0, "out of memory");
	certpin_err rc = CERTPIN_OK;
	for (;;) {
		char *key = NULL;
		plist_t val = NULL;
		plist_dict_next_item(d, it, &key, &val);
		if (val == NULL) {
			free(key);
			break;
		}
		if (key != NULL && strcmp(key, "NSIncludesSubdomains") == 0)
			sub = val;
		else if (key != NULL && strcmp(key, "NSPinnedLeafIdentities") == 0)
			leaf = val;
		else if (key != NULL && strcmp(key, "NSPinnedCAIdentities") == 0)
			ca = val;
		else
			rc = perr(o, err, CERTPIN_E_SCHEMA, "NSPinnedDomains.%s: unknown key '%s'", host,
			          key ? key : "");
		free(key);
		if (rc != CERTPIN_OK)
			break;
	}
	free(it);
	if (rc != CERTPIN_OK)
		return rc;
	uint8_t include = 0;
	if (sub != NULL) {
		if (plist_get_node_type(sub) != PLIST_BOOLEAN)
			return perr(o, err, CERTPIN_E_SCHEMA,
			            "NSPinnedDomains.%s.NSIncludesSubdomains must be a boolean%s", host, "");
		plist_get_bool_val(sub, &include);
	}
	if (leaf == NULL && ca == NULL)
		return perr(o, err, CERTPIN_E_SCHEMA,
		            "NSPinnedDomains.%s has neither NSPinnedLeafIdentities nor "
		            "NSPinnedCAIdentities%s",
		            host, "");
	char pattern[CERTPIN_HOST_MAX + 8];
	snprintf(pattern, sizeof pattern, "%s%s", include ? "**." : "", host);
	cv_rule *r = cv_policy_add_rule(p, pattern, 0, 0);
	if (r == NULL)
		return cv_err(err, CERTPIN_E_NOMEM, o->name, 0, 0, "out of memory");
	if (leaf != NULL &&
	    (rc = identities(o, leaf, host, "NSPinnedLeafIdentities", &r->leaf_pins, err)) != CERTPIN_OK)
		return rc;
	if (ca != NULL &&
	    (rc = identities(o, ca, host, "NSPinnedCAIdentities", &r->ca_pins, err)) != CERTPIN_OK)
		return rc;
	return CERTPIN_OK;
}

certpin_err cv_import_plist(const char *data, size_t len, const cv_opts *o, cv_policy *p,
                            cv_log *log, certpin_error *err)
{
	if (len < 8 || len > CV_MAX_INPUT)
		return cv_err(err, CERTPIN_E_SCHEMA, o->name, 0, 0, "not a property list");
	if (memcmp(data, "bplist", 6) != 0 && memchr(data, '\0', len) != NULL)
		return cv_err(err, CERTPIN_E_SCHEMA, o->name, 0, 0,
		              "NUL byte in an XML property list");
	plist_t parsed = NULL;
	plist_from_memory(data, (uint32_t)len, &parsed);
	if (parsed == NULL)
		return cv_err(err, CERTPIN_E_SCHEMA, o->name, 0, 0,
		              "not a property list (XML or binary) libplist can read");
	/*
	 * libplist 2.2 abort()s (an assert) when asked for a key or string that
	 * holds a NUL byte, which a binary plist can carry. Its XML writer ends
	 * every string at the first NUL: reading the tree back from that XML
	 * gives one whose strings are safe to ask for.
	 */
	char *xml = NULL;
	uint32_t xml_len = 0;
	plist_to_xml(parsed, &xml, &xml_len);
	plist_free(parsed);
	plist_t root = NULL;
	if (xml != NULL && memchr(xml, '\0', xml_len) != NULL) {
		plist_to_xml_free(xml);
		return cv_err(err, CERTPIN_E_SCHEMA, o->name, 0, 0, "NUL byte in a plist string");
	}
	if (xml != NULL)
		plist_from_xml(xml, xml_len, &root);
	plist_to_xml_free(xml);
	if (root == NULL)
		return cv_err(err, CERTPIN_E_SCHEMA, o->name, 0, 0,
		              "not a property list (XML or binary) libplist can read");
	certpin_err rc = CERTPIN_OK;
	plist_t ats = NULL, pinned = NULL;
	if (plist_get_node_type(root) != PLIST_DICT) {
		rc = cv_err(err, CERTPIN_E_SCHEMA, o->name, 0, 0, "the top level must be a dict");
		goto done;
	}
	ats = plist_dict_get_item(root, "NSAppTransportSecurity");
	if (ats != NULL) {
		if (plist_dict_get_size(root) > 1)
			cv_log_add(log, CV_NOTE,
			           "Info.plist: only NSAppTransportSecurity.NSPinnedDomains is imported");
	} else {
		ats = root; /* the ATS dictionary itself */
	}
	if (plist_get_node_type(ats) != PLIST_DICT) {
		rc = cv_err(err, CERTPIN_E_SCHEMA, o->name, 0, 0, "NSAppTransportSecurity must be a dict");
		goto done;
	}
	pinned = plist_dict_get_item(ats, "NSPinnedDomains");
	if (pinned == NULL || plist_get_node_type(pinned) != PLIST_DICT) {
		rc = cv_err(err, CERTPIN_E_SCHEMA, o->name, 0, 0,
		            "no NSAppTransportSecurity.NSPinnedDomains dict: nothing is pinned");
		goto done;
	}
	if (plist_dict_get_size(ats) > 1)
		cv_log_add(log, CV_NOTE,
		           "NSAppTransportSecurity: keys other than NSPinnedDomains (exception domains, "
		           "arbitrary loads) are not about pinning and are not imported");
	if (plist_dict_get_size(pinned) > CERTPIN_MAX_DOMAINS) {
		rc = cv_err(err, CERTPIN_E_TOO_LARGE, o->name, 0, 0, "too many pinned domains");
		goto done;
	}
	plist_dict_iter it = NULL;
	plist_dict_new_iter(pinned, &it);
	if (it == NULL) {
		rc = cv_err(err, CERTPIN_E_NOMEM, o->name, 0, 0, "out of memory");
		goto done;
	}
	for (;;) {
		char *key = NULL;
		plist_t val = NULL;
		plist_dict_next_item(pinned, it, &key, &val);
		if (val == NULL) {
			free(key);
			break;
		}
		rc = domain(o, key ? key : "", val, p, err);
		free(key);
		if (rc != CERTPIN_OK)
			break;
	}
	free(it);
	if (rc == CERTPIN_OK && p->n == 0)
		rc = cv_err(err, CERTPIN_E_SCHEMA, o->name, 0, 0, "NSPinnedDomains is empty");
done:
	plist_free(root);
	return rc;
}

/* ---- export ---- */

static plist_t identity_array(const cv_strs *pins)
{
	plist_t a = plist_new_array();
	for (size_t i = 0; a != NULL && i < pins->n; i++) {
		if (strncmp(pins->v[i], "sha256/", 7) != 0)
			continue;
		plist_t d = plist_new_dict();
		if (d == NULL)
			break;
		plist_dict_set_item(d, "SPKI-SHA256-BASE64", plist_new_string(pins->v[i] + 7));
		plist_array_append_item(a, d);
	}
	return a;
}

certpin_err cv_export_plist(const cv_policy *p, const cv_opts *o, cv_buf *out, cv_log *log,
                            certpin_error *err)
{
	cv_common_losses(p, "iOS", CV_OK_SCOPES, log);
	plist_t root = plist_new_dict();
	plist_t ats = plist_new_dict();
	plist_t pinned = plist_new_dict();
	if (root == NULL || ats == NULL || pinned == NULL) {
		plist_free(root);
		plist_free(ats);
		plist_free(pinned);
		return cv_err(err, CERTPIN_E_NOMEM, o->name, 0, 0, "out of memory");
	}
	plist_dict_set_item(root, "NSAppTransportSecurity", ats);
	plist_dict_set_item(ats, "NSPinnedDomains", pinned);
	for (size_t i = 0; i < p->n; i++) {
		const cv_rule *r = &p->rules[i];
		if (r->exclude) {
			int covered = 0;
			for (size_t k = 0; k < p->n; k++)
				if (k != i && !p->rules[k].exclude &&
				    cv_host_covers(p->rules[k].host, r->host))
					covered = 1;
			if (covered)
				cv_log_add(log, CV_LOSS,
				           "%s: exclude: iOS cannot unpin a name below a pinned domain "
				           "(dropped)",
				           r->host);
			continue;
		}
		const char *name = r->host;
		int sub = 0;
		if (strncmp(name, "**.", 3) == 0) {
			name += 3;
			sub = 1;
		} else if (strncmp(name, "*.", 2) == 0) {
			cv_log_add(log, CV_LOSS,
			           "%s: iOS has no one-label wildcard (written as NSIncludesSubdomains, "
			           "which also covers %s and every depth below)",
			           r->host, r->host + 2);
			name += 2;
			sub = 1;
		}
		cv_strs any = {0}, ca = {0};
		cv_rule_spki_pins(r, &any);
		for (size_t k = 0; k < r->ca_pins.n; k++)
			(void)cv_strs_add(&ca, r->ca_pins.v[k]);
		if (any.n != 0) {
			cv_log_add(log, CV_LOSS,
			           "%s: pins (any position): iOS knows only leaf and CA identities "
			           "(written as NSPinnedCAIdentities: a leaf key among them will not "
			           "match)",
			           r->host);
			for (size_t k = 0; k < any.n; k++)
				if (!cv_strs_has(&ca, any.v[k]))
					(void)cv_strs_add(&ca, any.v[k]);
		}
		cv_strs_free(&any);
		plist_t d = plist_new_dict();
		if (sub)
			plist_dict_set_item(d, "NSIncludesSubdomains", plist_new_bool(1));
		plist_t la = identity_array(&r->leaf_pins);
		plist_t caa = identity_array(&ca);
		cv_strs_free(&ca);
		if (plist_array_get_size(la) != 0)
			plist_dict_set_item(d, "NSPinnedLeafIdentities", la);
		else
			plist_free(la);
		if (plist_array_get_size(caa) != 0)
			plist_dict_set_item(d, "NSPinnedCAIdentities", caa);
		else
			plist_free(caa);
		if (plist_dict_get_size(d) == (sub ? 1u : 0u)) {
			cv_log_add(log, CV_LOSS, "%s: no SHA-256 public-key pin left to write (dropped)",
			           r->host);
			plist_free(d);
			continue;
		}
		if (plist_dict_get_item(pinned, name) != NULL) {
			cv_log_add(log, CV_LOSS, "%s: a second rule for %s (dropped)", r->host, name);
			plist_free(d);
			continue;
		}
		plist_dict_set_item(pinned, name, d);
	}
	char *xml = NULL;
	uint32_t n = 0;
	plist_to_xml(root, &xml, &n);
	plist_free(root);
	if (xml == NULL)
		return cv_err(err, CERTPIN_E_NOMEM, o->name, 0, 0, "out of memory");
	cv_buf_add(out, xml, n);
	plist_to_xml_free(xml);
	return CERTPIN_OK;
}
