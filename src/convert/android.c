/*
 * Android network security config (res/xml/network_security_config.xml).
 *
 * Read with libxml2 with the network off, no DTD loading and no entity
 * substitution; a document with a DOCTYPE is refused outright (Android's
 * files never have one), which closes XXE and entity-expansion attacks
 * before libxml2 sees the text. Unknown elements and attributes are errors:
 * a pinning setting this importer does not understand must not vanish.
 *
 * Mapping: each <domain> of a <domain-config> is one rule (nested configs
 * inherit pin-set, trust-anchors and cleartextTrafficPermitted);
 * includeSubdomains="true" is "**.name"; <pin-set expiration> is
 * "expires" with on_expiry "unpinned" (Android stops pinning after that
 * date); trust-anchors listing only @raw/ certificates is trust_anchors
 * "pinned" with those files as pin_files; a domain-config without a pin-set
 * is an exclude rule.
 */
#include <dirent.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"

typedef struct actx {
	const cv_opts *o;
	cv_policy *p;
	cv_log *log;
	certpin_error *err;
} actx;

/* What a domain-config passes to its nested configs. */
typedef struct inherited {
	xmlNodePtr pin_set;
	xmlNodePtr anchors;
	int cleartext;
} inherited;

static unsigned line_of(xmlNodePtr n)
{
	long l = xmlGetLineNo(n);
	return l > 0 && l < 0x7fffffffL ? (unsigned)l : 0;
}

static int is(xmlNodePtr n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static certpin_err fail(actx *a, xmlNodePtr n, certpin_err code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static certpin_err fail(actx *a, xmlNodePtr n, certpin_err code, const char *fmt, ...)
{
	char msg[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return cv_err(a->err, code, a->o->name, n ? line_of(n) : 0, 0, "%s", msg);
}

/* Only these attributes; anything else is an error. */
static certpin_err check_attrs(actx *a, xmlNodePtr n, const char *const *allowed)
{
	for (xmlAttrPtr at = n->properties; at != NULL; at = at->next) {
		int ok = 0;
		for (size_t i = 0; allowed[i] != NULL; i++)
			if (strcmp((const char *)at->name, allowed[i]) == 0)
				ok = 1;
		if (!ok)
			return fail(a, n, CERTPIN_E_SCHEMA, "<%s>: unknown attribute '%s'",
			            (const char *)n->name, (const char *)at->name);
	}
	return CERTPIN_OK;
}

/* "true"/"false" attribute into *out (CV_UNSET when absent). */
static certpin_err bool_attr(actx *a, xmlNodePtr n, const char *name, int *out)
{
	xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
	*out = CV_UNSET;
	if (v == NULL)
		return CERTPIN_OK;
	certpin_err rc = CERTPIN_OK;
	if (strcmp((const char *)v, "true") == 0)
		*out = 1;
	else if (strcmp((const char *)v, "false") == 0)
		*out = 0;
	else
		rc = fail(a, n, CERTPIN_E_SCHEMA, "%s must be \"true\" or \"false\", not '%s'", name,
		          (const char *)v);
	xmlFree(v);
	return rc;
}

/* Element children must be of the given names; text only whitespace. */
static certpin_err check_children(actx *a, xmlNodePtr n, const char *const *allowed)
{
	for (xmlNodePtr c = n->children; c != NULL; c = c->next) {
		if (c->type == XML_COMMENT_NODE || c->type == XML_PI_NODE)
			continue;
		if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
			for (const xmlChar *t = c->content; t != NULL && *t != '\0'; t++)
				if (*t != ' ' && *t != '\t' && *t != '\n' && *t != '\r')
					return fail(a, c, CERTPIN_E_SCHEMA, "<%s>: unexpected text",
					            (const char *)n->name);
			continue;
		}
		if (c->type != XML_ELEMENT_NODE)
			return fail(a, c, CERTPIN_E_SCHEMA,
			            "<%s>: entity references and other nodes are not allowed",
			            (const char *)n->name);
		int ok = 0;
		for (size_t i = 0; allowed[i] != NULL; i++)
			if (strcmp((const char *)c->name, allowed[i]) == 0)
				ok = 1;
		if (!ok)
			return fail(a, c, CERTPIN_E_SCHEMA, "<%s>: unknown element <%s>",
			            (const char *)n->name, (const char *)c->name);
	}
	return CERTPIN_OK;
}

/* The element's text without surrounding whitespace, only text children. */
static certpin_err element_text(actx *a, xmlNodePtr n, char *out, size_t cap)
{
	size_t len = 0;
	for (xmlNodePtr c = n->children; c != NULL; c = c->next) {
		if (c->type == XML_COMMENT_NODE)
			continue;
		if (c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE)
			return fail(a, n, CERTPIN_E_SCHEMA, "<%s> must hold text only",
			            (const char *)n->name);
		size_t m = strlen((const char *)c->content);
		if (len + m >= cap)
			return fail(a, n, CERTPIN_E_TOO_LARGE, "<%s>: text too long",
			            (const char *)n->name);
		memcpy(out + len, c->content, m);
		len += m;
	}
	out[len] = '\0';
	size_t s = 0;
	while (s < len && strchr(" \t\r\n", out[s]) != NULL)
		s++;
	while (len > s && strchr(" \t\r\n", out[len - 1]) != NULL)
		len--;
	memmove(out, out + s, len - s);
	out[len - s] = '\0';
	return CERTPIN_OK;
}

/* res/raw/NAME.* next to the input's res/xml/ directory, as a path relative to it. */
static certpin_err find_raw(actx *a, xmlNodePtr n, const char *name, char *out, size_t cap)
{
	char dir[1024];
	snprintf(dir, sizeof dir, "%s/../raw", a->o->base_dir ? a->o->base_dir : ".");
	size_t nl = strlen(name);
	int found = 0;
	DIR *d = opendir(dir);
	if (d != NULL) {
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (strncmp(e->d_name, name, nl) == 0 &&
			    (e->d_name[nl] == '\0' ||
			     (e->d_name[nl] == '.' && strchr(e->d_name + nl + 1, '.') == NULL))) {
				if (found++ == 0)
					snprintf(out, cap, "../raw/%s", e->d_name);
			}
		}
		closedir(d);
	}
	if (found == 1)
		return CERTPIN_OK;
	return fail(a, n, CERTPIN_E_IO,
	            found ? "@raw/%s: more than one file of that name in %s"
	                  : "@raw/%s: no such certificate file in %s (res/raw/ beside res/xml/)",
	            name, dir);
}

/* Applies <trust-anchors> to a rule (or checks base-config's when r is NULL). */
static certpin_err apply_anchors(actx *a, xmlNodePtr ta, cv_rule *r, const char *where)
{
	static const char *const kids[] = {"certificates", NULL};
	static const char *const attrs[] = {"src", "overridePins", NULL};
	certpin_err rc = check_children(a, ta, kids);
	if (rc != CERTPIN_OK)
		return rc;
	int system = 0, user = 0, raw = 0;
	for (xmlNodePtr c = ta->children; c != NULL; c = c->next) {
		if (!is(c, "certificates"))
			continue;
		if ((rc = check_attrs(a, c, attrs)) != CERTPIN_OK)
			return rc;
		int override;
		if ((rc = bool_attr(a, c, "overridePins", &override)) != CERTPIN_OK)
			return rc;
		xmlChar *src = xmlGetProp(c, (const xmlChar *)"src");
		if (src == NULL)
			return fail(a, c, CERTPIN_E_SCHEMA, "<certificates> needs src");
		const char *s = (const char *)src;
		if (override == 1)
			cv_log_add(a->log, CV_LOSS,
			           "%s: overridePins=\"true\" on certificates src=\"%s\" (line %u): "
			           "certpin never lets a CA bypass pins (dropped)",
			           where, s, line_of(c));
		if (strcmp(s, "system") == 0) {
			system = 1;
		} else if (strcmp(s, "user") == 0) {
			user = 1;
		} else if (strncmp(s, "@raw/", 5) == 0 && s[5] != '\0') {
			raw = 1;
			if (r != NULL) {
				char path[1200];
				rc = find_raw(a, c, s + 5, path, sizeof path);
				if (rc == CERTPIN_OK && !cv_strs_has(&r->pin_files, path) &&
				    cv_strs_add(&r->pin_files, path) != 0)
					rc = cv_err(a->err, CERTPIN_E_NOMEM, a->o->name, 0, 0,
					            "out of memory");
			}
		} else {
			rc = fail(a, c, CERTPIN_E_SCHEMA,
			          "certificates src must be \"system\", \"user\" or \"@raw/NAME\", "
			          "not '%s'",
			          s);
		}
		xmlFree(src);
		if (rc != CERTPIN_OK)
			return rc;
	}
	if (user)
		cv_log_add(a->log, CV_LOSS,
		           "%s: trust-anchors src=\"user\": certpin does not trust user-added CAs "
		           "(dropped)",
		           where);
	if (r == NULL) {
		if (raw)
			cv_log_add(a->log, CV_LOSS,
			           "base-config: @raw trust anchors for every host: certpin sets trust "
			           "anchors per rule (dropped)");
		return CERTPIN_OK;
	}
	if (raw && (system || user)) {
		cv_log_add(a->log, CV_LOSS,
		           "%s: @raw certificates added to the system anchors: certpin trusts either "
		           "the system store or only pinned CAs (kept the system store)",
		           where);
		cv_strs_free(&r->pin_files);
	} else if (raw) {
		r->trust_anchors = CERTPIN_ANCHORS_PINNED;
	}
	return CERTPIN_OK;
}

static certpin_err apply_pin_set(actx *a, xmlNodePtr ps, cv_rule *r)
{
	static const char *const kids[] = {"pin", NULL};
	static const char *const ps_attrs[] = {"expiration", NULL};
	static const char *const pin_attrs[] = {"digest", NULL};
	certpin_err rc = check_children(a, ps, kids);
	if (rc == CERTPIN_OK)
		rc = check_attrs(a, ps, ps_attrs);
	if (rc != CERTPIN_OK)
		return rc;
	xmlChar *exp = xmlGetProp(ps, (const xmlChar *)"expiration");
	if (exp != NULL) {
		const char *e = (const char *)exp;
		certpin_error terr;
		if (strlen(e) != 10 ||
		    certpin_time_parse(e, CERTPIN_TIME_DATE_END, &r->expires, &terr) != CERTPIN_OK)
			rc = fail(a, ps, CERTPIN_E_TIME, "pin-set expiration must be yyyy-MM-dd, not '%s'",
			          e);
		r->has_expires = 1;
		r->on_expiry = CERTPIN_ON_EXPIRY_UNPINNED;
		xmlFree(exp);
		if (rc != CERTPIN_OK)
			return rc;
	}
	for (xmlNodePtr c = ps->children; c != NULL; c = c->next) {
		if (!is(c, "pin"))
			continue;
		if ((rc = check_attrs(a, c, pin_attrs)) != CERTPIN_OK)
			return rc;
		xmlChar *dg = xmlGetProp(c, (const xmlChar *)"digest");
		int sha256 = dg != NULL && strcmp((const char *)dg, "SHA-256") == 0;
		if (!sha256)
			rc = fail(a, c, CERTPIN_E_PIN_ALGORITHM,
			          "pin digest must be \"SHA-256\" (the only one Android knows), not '%s'",
			          dg ? (const char *)dg : "(missing)");
		xmlFree(dg);
		if (rc != CERTPIN_OK)
			return rc;
		char text[128] = "sha256/";
		if ((rc = element_text(a, c, text + 7, sizeof text - 7)) != CERTPIN_OK)
			return rc;
		char canon[CERTPIN_PIN_STRLEN];
		certpin_error perr;
		if (cv_pin_canon(text, strlen(text), canon, &perr) != 0)
			return cv_err(a->err, perr.code, a->o->name, line_of(c), 0, "<pin>: %s",
			              perr.message);
		if (!cv_strs_has(&r->pins, canon) && cv_strs_add(&r->pins, canon) != 0)
			return cv_err(a->err, CERTPIN_E_NOMEM, a->o->name, 0, 0, "out of memory");
	}
	return CERTPIN_OK;
}

static certpin_err domain_config(actx *a, xmlNodePtr dc, const inherited *up, unsigned depth)
{
	static const char *const kids[] = {"domain", "trust-anchors", "pin-set", "domain-config",
	                                   NULL};
	static const char *const attrs[] = {"cleartextTrafficPermitted", NULL};
	static const char *const dattrs[] = {"includeSubdomains", NULL};
	if (depth > CV_MAX_DEPTH)
		return fail(a, dc, CERTPIN_E_TOO_LARGE, "domain-configs nested too deep");
	certpin_err rc = check_children(a, dc, kids);
	if (rc == CERTPIN_OK)
		rc = check_attrs(a, dc, attrs);
	if (rc != CERTPIN_OK)
		return rc;
	inherited here = *up;
	int ct;
	if ((rc = bool_attr(a, dc, "cleartextTrafficPermitted", &ct)) != CERTPIN_OK)
		return rc;
	if (ct != CV_UNSET)
		here.cleartext = ct;
	size_t n_domains = 0;
	for (xmlNodePtr c = dc->children; c != NULL; c = c->next) {
		if (is(c, "pin-set")) {
			if (here.pin_set != up->pin_set)
				return fail(a, c, CERTPIN_E_SCHEMA, "more than one <pin-set>");
			here.pin_set = c;
		} else if (is(c, "trust-anchors")) {
			if (here.anchors != up->anchors)
				return fail(a, c, CERTPIN_E_SCHEMA, "more than one <trust-anchors>");
			here.anchors = c;
		} else if (is(c, "domain")) {
			n_domains++;
		}
	}
	if (n_domains == 0)
		return fail(a, dc, CERTPIN_E_SCHEMA, "<domain-config> without a <domain>");
	for (xmlNodePtr c = dc->children; c != NULL; c = c->next) {
		if (!is(c, "domain"))
			continue;
		int sub;
		if ((rc = check_attrs(a, c, dattrs)) != CERTPIN_OK ||
		    (rc = bool_attr(a, c, "includeSubdomains", &sub)) != CERTPIN_OK)
			return rc;
		char name[300], host[310];
		if ((rc = element_text(a, c, name, sizeof name)) != CERTPIN_OK)
			return rc;
		if (name[0] == '\0' || strchr(name, '*') != NULL)
			return fail(a, c, CERTPIN_E_HOST,
			            "<domain> must name a host ('%s'); use includeSubdomains for names "
			            "below it",
			            name);
		snprintf(host, sizeof host, "%s%s", sub == 1 ? "**." : "", name);
		if (cv_policy_find(a->p, host) != NULL)
			return fail(a, c, CERTPIN_E_DUPLICATE, "domain '%s' is configured twice", host);
		cv_rule *r = cv_policy_add_rule(a->p, host, line_of(c), 0);
		if (r == NULL)
			return cv_err(a->err, CERTPIN_E_NOMEM, a->o->name, 0, 0, "out of memory");
		r->cleartext = here.cleartext;
		if (here.anchors != NULL && (rc = apply_anchors(a, here.anchors, r, host)) != CERTPIN_OK)
			return rc;
		if (here.pin_set != NULL && (rc = apply_pin_set(a, here.pin_set, r)) != CERTPIN_OK)
			return rc;
		if (r->pins.n == 0 && r->pin_files.n == 0) {
			r->exclude = 1;
			r->has_expires = 0;
		}
	}
	for (xmlNodePtr c = dc->children; c != NULL; c = c->next)
		if (is(c, "domain-config") && (rc = domain_config(a, c, &here, depth + 1)) != CERTPIN_OK)
			return rc;
	return CERTPIN_OK;
}

/* The debug-overrides element as XML text, to write back to android-nsc. */
static certpin_err keep_debug_overrides(actx *a, xmlDocPtr doc, xmlNodePtr n)
{
	xmlBufferPtr buf = xmlBufferCreate();
	if (buf == NULL || xmlNodeDump(buf, doc, n, 1, 1) < 0) {
		xmlBufferFree(buf);
		return cv_err(a->err, CERTPIN_E_NOMEM, a->o->name, 0, 0, "out of memory");
	}
	a->p->debug_overrides = strdup((const char *)xmlBufferContent(buf));
	xmlBufferFree(buf);
	if (a->p->debug_overrides == NULL)
		return cv_err(a->err, CERTPIN_E_NOMEM, a->o->name, 0, 0, "out of memory");
	return CERTPIN_OK;
}

static void silent(void *ctx, const char *msg, ...) __attribute__((format(printf, 2, 3)));
static void silent(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

/* Line and column of byte offset off in data. */
static void position(const char *data, size_t off, unsigned *line, unsigned *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off; i++) {
		if (data[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

certpin_err cv_import_android(const char *data, size_t len, const cv_opts *o, cv_policy *p,
                              cv_log *log, certpin_error *err)
{
	actx a = {o, p, log, err};
	unsigned line, col;
	/* Plain UTF-8 only (no UTF-16 to hide a DOCTYPE in), and no DTD at all. */
	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\0') {
			position(data, i, &line, &col);
			return cv_err(err, CERTPIN_E_SCHEMA, o->name, line, col,
			              "NUL byte: the file must be UTF-8 text");
		}
		if (data[i] == '<' && len - i >= 9 && memcmp(data + i, "<!DOCTYPE", 9) == 0) {
			position(data, i, &line, &col);
			return cv_err(err, CERTPIN_E_SCHEMA, o->name, line, col,
			              "DOCTYPE not allowed (no DTDs or entities in a network security "
			              "config)");
		}
	}
	if (len > 0x7fffffff)
		return cv_err(err, CERTPIN_E_TOO_LARGE, o->name, 0, 0, "input too large");
	/* Encoding errors bypass XML_PARSE_NOERROR: silence libxml2's generic
	 * handler for this parse (the error is reported through err). */
	xmlGenericErrorFunc old_handler = xmlGenericError;
	void *old_ctx = xmlGenericErrorContext;
	xmlSetGenericErrorFunc(NULL, silent);
	xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
	if (ctxt == NULL)
		xmlSetGenericErrorFunc(old_ctx, old_handler);
	if (ctxt == NULL)
		return cv_err(err, CERTPIN_E_NOMEM, o->name, 0, 0, "out of memory");
	/* NONET; no NOENT, DTDLOAD, DTDATTR, DTDVALID, XINCLUDE; no error printing. */
	xmlDocPtr doc = xmlCtxtReadMemory(ctxt, data, (int)len, o->name, NULL,
	                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
	                                          XML_PARSE_BIG_LINES | XML_PARSE_NOCDATA);
	certpin_err rc = CERTPIN_OK;
	if (doc == NULL || !ctxt->wellFormed) {
		const xmlError *e = xmlCtxtGetLastError(ctxt);
		rc = cv_err(err, CERTPIN_E_SCHEMA, o->name, e ? (unsigned)e->line : 0,
		            e ? (unsigned)e->int2 : 0, "XML: %s",
		            e && e->message ? e->message : "not well-formed");
		goto done;
	}
	if (doc->intSubset != NULL || doc->extSubset != NULL) {
		rc = cv_err(err, CERTPIN_E_SCHEMA, o->name, 0, 0, "DOCTYPE not allowed");
		goto done;
	}
	xmlNodePtr root = xmlDocGetRootElement(doc);
	if (root == NULL || !is(root, "network-security-config")) {
		rc = cv_err(err, CERTPIN_E_SCHEMA, o->name, root ? line_of(root) : 0, 0,
		            "the root element must be <network-security-config>");
		goto done;
	}
	static const char *const kids[] = {"base-config", "domain-config", "debug-overrides", NULL};
	static const char *const none[] = {NULL};
	static const char *const base_attrs[] = {"cleartextTrafficPermitted", NULL};
	static const char *const base_kids[] = {"trust-anchors", NULL};
	if ((rc = check_children(&a, root, kids)) != CERTPIN_OK ||
	    (rc = check_attrs(&a, root, none)) != CERTPIN_OK)
		goto done;
	inherited top = {NULL, NULL, CV_UNSET};
	int seen_base = 0, seen_debug = 0;
	for (xmlNodePtr c = root->children; c != NULL && rc == CERTPIN_OK; c = c->next) {
		if (is(c, "base-config")) {
			if (seen_base++) {
				rc = fail(&a, c, CERTPIN_E_SCHEMA, "more than one <base-config>");
				break;
			}
			if ((rc = check_attrs(&a, c, base_attrs)) != CERTPIN_OK ||
			    (rc = check_children(&a, c, base_kids)) != CERTPIN_OK ||
			    (rc = bool_attr(&a, c, "cleartextTrafficPermitted", &p->base_cleartext)) !=
			            CERTPIN_OK)
				break;
			for (xmlNodePtr t = c->children; t != NULL && rc == CERTPIN_OK; t = t->next)
				if (is(t, "trust-anchors"))
					rc = apply_anchors(&a, t, NULL, "base-config");
		} else if (is(c, "debug-overrides")) {
			if (seen_debug++) {
				rc = fail(&a, c, CERTPIN_E_SCHEMA, "more than one <debug-overrides>");
				break;
			}
			if ((rc = check_attrs(&a, c, none)) != CERTPIN_OK ||
			    (rc = check_children(&a, c, base_kids)) != CERTPIN_OK)
				break;
			rc = keep_debug_overrides(&a, doc, c);
			cv_log_add(log, CV_NOTE,
			           "debug-overrides apply to debuggable builds only: kept for android-nsc "
			           "output, not part of the policy");
		} else if (is(c, "domain-config")) {
			rc = domain_config(&a, c, &top, 1);
		}
	}
	if (rc == CERTPIN_OK) {
		int cleartext = p->base_cleartext != CV_UNSET;
		for (size_t i = 0; i < p->n; i++)
			cleartext |= p->rules[i].cleartext != CV_UNSET;
		if (cleartext)
			cv_log_add(log, CV_NOTE,
			           "cleartextTrafficPermitted has no effect on pinning: kept for "
			           "android-nsc output only");
		if (p->n == 0)
			rc = cv_err(err, CERTPIN_E_SCHEMA, o->name, line_of(root), 0,
			            "no <domain-config>: nothing is pinned");
	}
done:
	xmlFreeDoc(doc);
	xmlFreeParserCtxt(ctxt);
	xmlSetGenericErrorFunc(old_ctx, old_handler);
	return rc;
}

/* ---- export ---- */

static void xml_escape(cv_buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '<':
			cv_buf_puts(b, "&lt;");
			break;
		case '>':
			cv_buf_puts(b, "&gt;");
			break;
		case '&':
			cv_buf_puts(b, "&amp;");
			break;
		case '"':
			cv_buf_puts(b, "&quot;");
			break;
		default:
			cv_buf_add(b, s, 1);
			break;
		}
	}
}

/* "dir/my_ca.pem" -> "my_ca": Android resource names drop the extension. */
static void raw_name(const char *path, char *out, size_t cap)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	snprintf(out, cap, "%s", base);
	char *dot = strchr(out, '.');
	if (dot != NULL && dot != out)
		*dot = '\0';
}

certpin_err cv_export_android(const cv_policy *p, const cv_opts *o, cv_buf *out, cv_log *log,
                              certpin_error *err)
{
	(void)o;
	(void)err;
	cv_common_losses(p, "Android", CV_OK_EXPIRY | CV_OK_ANCHORS, log);
	cv_buf_puts(out, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	                 "<!-- Generated by certpin convert. -->\n"
	                 "<network-security-config>\n");
	if (p->base_cleartext != CV_UNSET)
		cv_buf_printf(out, "    <base-config cleartextTrafficPermitted=\"%s\"/>\n",
		              p->base_cleartext ? "true" : "false");
	for (size_t i = 0; i < p->n; i++) {
		const cv_rule *r = &p->rules[i];
		const char *name = r->host;
		int sub = 0;
		if (strncmp(name, "**.", 3) == 0) {
			name += 3;
			sub = 1;
		} else if (strncmp(name, "*.", 2) == 0) {
			cv_log_add(log, CV_LOSS,
			           "%s: Android has no one-label wildcard (written as includeSubdomains, "
			           "which also covers %s and every depth below)",
			           r->host, r->host + 2);
			name += 2;
			sub = 1;
		}
		cv_buf_puts(out, "    <domain-config");
		if (r->cleartext != CV_UNSET)
			cv_buf_printf(out, " cleartextTrafficPermitted=\"%s\"",
			              r->cleartext ? "true" : "false");
		cv_buf_puts(out, ">\n        <domain");
		if (sub)
			cv_buf_puts(out, " includeSubdomains=\"true\"");
		cv_buf_puts(out, ">");
		xml_escape(out, name);
		cv_buf_puts(out, "</domain>\n");
		if (r->exclude) {
			cv_buf_puts(out, "        <!-- not pinned -->\n    </domain-config>\n");
			continue;
		}
		if (r->trust_anchors == CERTPIN_ANCHORS_PINNED) {
			cv_buf_puts(out, "        <trust-anchors>\n");
			for (size_t k = 0; k < r->pin_files.n; k++) {
				char rn[256];
				raw_name(r->pin_files.v[k], rn, sizeof rn);
				cv_buf_puts(out, "            <certificates src=\"@raw/");
				xml_escape(out, rn);
				cv_buf_puts(out, "\"/>\n");
				cv_log_add(log, CV_NOTE, "%s: copy %s to res/raw/ (as @raw/%s)", r->host,
				           r->pin_files.v[k], rn);
			}
			cv_buf_puts(out, "        </trust-anchors>\n");
		}
		cv_strs pins = {0};
		cv_rule_spki_pins(r, &pins);
		{ /* leaf/ca scopes widen to any position (a loss listed above) */
			for (size_t k = 0; k < r->leaf_pins.n; k++)
				if (strncmp(r->leaf_pins.v[k], "sha256/", 7) == 0 &&
				    !cv_strs_has(&pins, r->leaf_pins.v[k]))
					(void)cv_strs_add(&pins, r->leaf_pins.v[k]);
			for (size_t k = 0; k < r->ca_pins.n; k++)
				if (strncmp(r->ca_pins.v[k], "sha256/", 7) == 0 &&
				    !cv_strs_has(&pins, r->ca_pins.v[k]))
					(void)cv_strs_add(&pins, r->ca_pins.v[k]);
		}
		char date[11] = "";
		if (r->has_expires && !cv_expiry_date(r->expires, date)) {
			cv_expiry_date(r->expires - r->expires % 86400, date);
			cv_log_add(log, CV_LOSS,
			           "%s: expires is not at the end of a day: Android takes a date "
			           "(written as %s, ending before it)",
			           r->host, date);
		}
		if (pins.n != 0) {
			cv_buf_puts(out, "        <pin-set");
			if (r->has_expires)
				cv_buf_printf(out, " expiration=\"%s\"", date);
			cv_buf_puts(out, ">\n");
			for (size_t k = 0; k < pins.n; k++)
				cv_buf_printf(out, "            <pin digest=\"SHA-256\">%s</pin>\n",
				              pins.v[k] + 7);
			cv_buf_puts(out, "        </pin-set>\n");
		} else if (r->trust_anchors != CERTPIN_ANCHORS_PINNED) {
			cv_log_add(log, CV_LOSS, "%s: no SHA-256 public-key pin left to write (rule dropped)",
			           r->host);
		}
		cv_strs_free(&pins);
		cv_buf_puts(out, "    </domain-config>\n");
	}
	if (p->debug_overrides != NULL) {
		cv_buf_puts(out, "    ");
		cv_buf_puts(out, p->debug_overrides);
		cv_buf_puts(out, "\n");
	}
	cv_buf_puts(out, "</network-security-config>\n");
	return CERTPIN_OK;
}
