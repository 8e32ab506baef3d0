/*
 * The certpin policy JSON as a conversion format. Reading goes through
 * certpin_policy_load_mem, so a policy is checked (and its errors located)
 * exactly as the library would load it; the model is then taken from the
 * loaded policy's accessors, and jansson only recovers which pins came from
 * pin_files so that those keep being written as file names.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"

static certpin_err oom(certpin_error *err, const cv_opts *o)
{
	return cv_err(err, CERTPIN_E_NOMEM, o->name, 0, 0, "out of memory");
}

static int add_scope(const certpin_rule *r, certpin_pin_scope s, cv_strs *out)
{
	char text[CERTPIN_PIN_STRLEN];
	for (size_t i = 0; i < certpin_rule_pin_count(r, s); i++) {
		if (certpin_pin_format(certpin_rule_pin(r, s, i), text, sizeof text) == 0 ||
		    cv_strs_add(out, text) != 0)
			return -1;
	}
	return 0;
}

certpin_err cv_import_certpin(const char *data, size_t len, const cv_opts *o, cv_policy *p,
                              cv_log *log, certpin_error *err)
{
	(void)log;
	certpin_policy *pol = NULL;
	certpin_err rc = certpin_policy_load_mem(data, len, o->name, o->base_dir, 0, &pol, NULL, err);
	if (rc != CERTPIN_OK)
		return rc;
	json_error_t jerr;
	json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) { /* the loader accepted it: cannot happen but fail closed */
		certpin_policy_free(pol);
		return cv_err(err, CERTPIN_E_JSON, o->name, (unsigned)jerr.line,
		              (unsigned)jerr.column, "%s", jerr.text);
	}
	json_t *domains = json_object_get(root, "domains");
	const char *v = json_string_value(json_object_get(root, "validation"));
	if (v != NULL && strcmp(v, "openssl") == 0)
		p->validation = CERTPIN_VALIDATION_OPENSSL;
	else if (v != NULL)
		p->validation = CERTPIN_VALIDATION_WEBPKI;
	p->unlisted = certpin_policy_unlisted(pol);
	rc = CERTPIN_OK;
	for (size_t i = 0; rc == CERTPIN_OK && i < certpin_policy_rule_count(pol); i++) {
		const certpin_rule *r = certpin_policy_rule(pol, i);
		cv_rule *m = cv_policy_add_rule(p, certpin_rule_host(r), 0, 0);
		if (m == NULL) {
			rc = oom(err, o);
			break;
		}
		m->exclude = certpin_rule_is_exclude(r);
		m->mode = certpin_rule_mode(r);
		m->on_expiry = certpin_rule_on_expiry(r);
		m->trust_anchors = certpin_rule_trust_anchors(r);
		m->validation = certpin_rule_validation(r);
		m->has_expires = certpin_rule_expires(r, &m->expires);
		if (!m->has_expires)
			m->on_expiry = CERTPIN_ON_EXPIRY_UNPINNED;
		for (size_t k = 0; k < certpin_rule_report_uri_count(r); k++)
			if (cv_strs_add(&m->report_uris, certpin_rule_report_uri(r, k)) != 0)
				rc = oom(err, o);
		cv_strs any = {0};
		if (add_scope(r, CERTPIN_SCOPE_ANY, &any) != 0 ||
		    add_scope(r, CERTPIN_SCOPE_LEAF, &m->leaf_pins) != 0 ||
		    add_scope(r, CERTPIN_SCOPE_CA, &m->ca_pins) != 0)
			rc = oom(err, o);
		/* Which of the rule's pins were written as pins, which came from files. */
		json_t *d = json_array_get(domains, i);
		json_t *files = json_object_get(d, "pin_files");
		json_t *pins = json_object_get(d, "pins");
		size_t k;
		json_t *f;
		json_array_foreach(files, k, f)
		{
			if (json_is_string(f) && cv_strs_add(&m->pin_files, json_string_value(f)) != 0)
				rc = oom(err, o);
		}
		for (size_t j = 0; rc == CERTPIN_OK && j < any.n; j++) {
			int listed = files == NULL || json_array_size(files) == 0;
			json_t *pj;
			json_array_foreach(pins, k, pj)
			{
				char canon[CERTPIN_PIN_STRLEN];
				const char *s = json_string_value(pj);
				if (s != NULL && cv_pin_canon(s, strlen(s), canon, NULL) == 0 &&
				    strcmp(canon, any.v[j]) == 0)
					listed = 1;
			}
			if (cv_strs_add(listed ? &m->pins : &m->file_pins, any.v[j]) != 0)
				rc = oom(err, o);
		}
		cv_strs_free(&any);
	}
	json_decref(root);
	certpin_policy_free(pol);
	return rc;
}

static json_t *strs_json(const cv_strs *s)
{
	json_t *a = json_array();
	for (size_t i = 0; a != NULL && i < s->n; i++)
		if (json_array_append_new(a, json_string(s->v[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static int set(json_t *obj, const char *key, json_t *val)
{
	return val == NULL || json_object_set_new(obj, key, val) != 0 ? -1 : 0;
}

static const char *validation_name(certpin_validation v)
{
	return v == CERTPIN_VALIDATION_OPENSSL ? "openssl" : "webpki";
}

certpin_err cv_export_certpin(const cv_policy *p, const cv_opts *o, cv_buf *out, cv_log *log,
                              certpin_error *err)
{
	(void)log;
	json_t *root = json_object();
	int bad = root == NULL;
	bad |= set(root, "certpin", json_integer(1));
	if (p->unlisted == CERTPIN_UNLISTED_DENY)
		bad |= set(root, "unlisted_hosts", json_string("deny"));
	if (p->validation != CERTPIN_VALIDATION_DEFAULT)
		bad |= set(root, "validation", json_string(validation_name(p->validation)));
	json_t *domains = json_array();
	bad |= set(root, "domains", domains);
	for (size_t i = 0; !bad && i < p->n; i++) {
		const cv_rule *r = &p->rules[i];
		json_t *d = json_object();
		bad |= d == NULL || json_array_append_new(domains, d) != 0;
		if (bad)
			break;
		if (strncmp(r->host, "**.", 3) == 0) {
			bad |= set(d, "host", json_string(r->host + 3));
			bad |= set(d, "include_subdomains", json_true());
		} else {
			bad |= set(d, "host", json_string(r->host));
		}
		if (r->exclude)
			bad |= set(d, "exclude", json_true());
		if (r->pins.n != 0 || (r->leaf_pins.n == 0 && r->ca_pins.n == 0 &&
		                       r->pin_files.n == 0 && !r->exclude))
			bad |= set(d, "pins", strs_json(&r->pins));
		if (r->leaf_pins.n != 0)
			bad |= set(d, "leaf_pins", strs_json(&r->leaf_pins));
		if (r->ca_pins.n != 0)
			bad |= set(d, "ca_pins", strs_json(&r->ca_pins));
		if (r->pin_files.n != 0)
			bad |= set(d, "pin_files", strs_json(&r->pin_files));
		if (r->has_expires) {
			char t[32];
			if (!cv_expiry_date(r->expires, t) && certpin_time_format(r->expires, t, sizeof t) == 0)
				bad = 1;
			else
				bad |= set(d, "expires", json_string(t));
			if (r->on_expiry == CERTPIN_ON_EXPIRY_BLOCK)
				bad |= set(d, "on_expiry", json_string("block"));
		}
		if (r->mode == CERTPIN_MODE_REPORT)
			bad |= set(d, "mode", json_string("report"));
		if (r->trust_anchors == CERTPIN_ANCHORS_PINNED)
			bad |= set(d, "trust_anchors", json_string("pinned"));
		if (r->validation != CERTPIN_VALIDATION_DEFAULT && r->validation != p->validation &&
		    !(p->validation == CERTPIN_VALIDATION_DEFAULT &&
		      r->validation == CERTPIN_VALIDATION_WEBPKI))
			bad |= set(d, "validation", json_string(validation_name(r->validation)));
		if (r->report_uris.n != 0)
			bad |= set(d, "report_uris", strs_json(&r->report_uris));
	}
	char *text = bad ? NULL : json_dumps(root, JSON_INDENT(2));
	json_decref(root);
	if (text == NULL)
		return cv_err(err, CERTPIN_E_NOMEM, o->name, 0, 0, "out of memory");
	cv_buf_puts(out, text);
	cv_buf_puts(out, "\n");
	free(text);
	return CERTPIN_OK;
}
