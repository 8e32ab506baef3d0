/*
 * Policy model: the builder that validates and copies rules, the immutable
 * reference-counted policy, its accessors, and load warnings.
 *
 * Memory layout: a policy of 100,000 rules must stay small, so each rule owns
 * exactly one heap block. host_text is the start of that block and the pins
 * (all three lists back to back), the report URIs and the anchor DER copies
 * follow it. cp_rule_clear() therefore frees one pointer; nothing else may
 * allocate the fields of a rule separately. The index key's name is the tail
 * of host_text, after its "*." / "**." prefix.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Warnings kept per load; more are dropped (a 100k-rule policy without
 * expiry dates would otherwise hold 100k warnings of 768 bytes each). */
#define CP_MAX_WARNINGS 1000u
/* Longest report URI and pin file path accepted. */
#define CP_MAX_URI_LEN  2048u
#define CP_MAX_PATH_LEN 4096u
/* Trust anchors per rule: each is a CA certificate from pin_files. */
#define CP_MAX_ANCHORS CERTPIN_MAX_PINS_PER_RULE

/* The narrow fields of struct certpin_rule hold every value the caps allow. */
_Static_assert(CERTPIN_MAX_DOMAINS <= UINT32_MAX, "spec_index is 32 bits");
_Static_assert(CERTPIN_MAX_REPORT_URIS <= UINT16_MAX && CP_MAX_ANCHORS <= UINT16_MAX &&
                   CERTPIN_MAX_PINS_PER_RULE <= UINT16_MAX,
               "rule counts are 16 bits");
_Static_assert(CERTPIN_HOST_MAX <= UINT16_MAX, "key.len is 16 bits");
/* A policy holds up to CERTPIN_MAX_DOMAINS rules: keep them small. */
_Static_assert(sizeof(struct certpin_rule) <= 128, "struct certpin_rule grew");

/*
 * pin_files work per policy: every file read parses up to 1 MiB and checks
 * each certificate's self-signature, so a small policy naming big files many
 * times could keep a loader busy for hours. These caps bound the whole load.
 */
#define CP_MAX_PIN_FILE_READS 256u
#define CP_MAX_PIN_FILE_OBJECTS 4096u

struct certpin_builder {
	char *base_dir; /* NULL: relative pin_files are relative to the cwd */
	size_t pin_file_reads;   /* pin files read by the rules added so far */
	size_t pin_file_objects; /* objects found in them */
	certpin_unlisted unlisted;
	certpin_validation validation;
	struct certpin_rule *rules;
	size_t n_rules;
	size_t cap_rules;
};

/* ---- builder ----------------------------------------------------------- */

certpin_builder *certpin_builder_new(const char *base_dir)
{
	certpin_builder *b = calloc(1, sizeof *b);
	if (b == NULL)
		return NULL;
	b->unlisted = CERTPIN_UNLISTED_ALLOW;
	b->validation = CERTPIN_VALIDATION_WEBPKI;
	if (base_dir != NULL) {
		size_t n = strlen(base_dir);
		b->base_dir = malloc(n + 1);
		if (b->base_dir == NULL) {
			free(b);
			return NULL;
		}
		memcpy(b->base_dir, base_dir, n + 1);
	}
	return b;
}

certpin_err certpin_builder_set_unlisted(certpin_builder *b, certpin_unlisted u)
{
	if (b == NULL)
		return CERTPIN_E_INVALID_ARG;
	switch (u) {
	case CERTPIN_UNLISTED_ALLOW:
	case CERTPIN_UNLISTED_DENY:
		b->unlisted = u;
		return CERTPIN_OK;
	default:
		return CERTPIN_E_INVALID_ARG;
	}
}

certpin_err certpin_builder_set_validation(certpin_builder *b, certpin_validation v)
{
	if (b == NULL)
		return CERTPIN_E_INVALID_ARG;
	switch (v) {
	case CERTPIN_VALIDATION_DEFAULT:
		b->validation = CERTPIN_VALIDATION_WEBPKI;
		return CERTPIN_OK;
	case CERTPIN_VALIDATION_WEBPKI:
	case CERTPIN_VALIDATION_OPENSSL:
		b->validation = v;
		return CERTPIN_OK;
	default:
		return CERTPIN_E_INVALID_ARG;
	}
}

static void free_rules(struct certpin_rule *rules, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cp_rule_clear(&rules[i]);
	free(rules);
}

void certpin_builder_free(certpin_builder *b)
{
	if (b == NULL)
		return;
	free_rules(b->rules, b->n_rules);
	free(b->base_dir);
	free(b);
}

void cp_rule_clear(struct certpin_rule *r)
{
	if (r == NULL)
		return;
	free(r->host_text); /* the rule's one block: see the top of this file */
	memset(r, 0, sizeof *r);
}

/* ---- add_rule ---------------------------------------------------------- */

typedef struct pin_buf {
	certpin_pin v[CERTPIN_MAX_PINS_PER_RULE];
	size_t n;
} pin_buf;

/* A rule while it is validated: nothing here is owned except the lists. */
typedef struct draft {
	cp_host_pattern pat;
	char host_text[CERTPIN_HOST_MAX + 8];
	size_t host_len;
	pin_buf any, leaf, ca;
	/* any.v[i] came only from root certificates of pin_files */
	unsigned char root_only[CERTPIN_MAX_PINS_PER_RULE];
	int has_cert_pins;
	certpin_object_list *lists[CERTPIN_MAX_PIN_FILES];
	size_t n_lists;
	const certpin_object *anchors[CP_MAX_ANCHORS];
	size_t n_anchors;
	size_t pin_file_objects; /* this rule's share, added to the builder on success */
} draft;

static void draft_release(draft *d)
{
	for (size_t i = 0; i < d->n_lists; i++)
		certpin_object_list_free(d->lists[i]);
	d->n_lists = 0;
}

static size_t align8(size_t x)
{
	return (x + 7u) & ~(size_t)7u;
}

static size_t total_pins(const draft *d)
{
	return d->any.n + d->leaf.n + d->ca.n;
}

static certpin_err too_many_pins(certpin_error *err, const char *field, size_t i)
{
	cp_err_set(err, CERTPIN_E_TOO_LARGE, "more than %u pins in one rule",
	           CERTPIN_MAX_PINS_PER_RULE);
	cp_err_prefix_path(err, "%s[%zu]", field, i);
	return CERTPIN_E_TOO_LARGE;
}

static certpin_err check_enums(const certpin_rule_spec *s, certpin_error *err)
{
	const char *bad = NULL;
	switch (s->on_expiry) {
	case CERTPIN_ON_EXPIRY_UNPINNED:
	case CERTPIN_ON_EXPIRY_BLOCK:
		break;
	default:
		bad = "on_expiry";
		break;
	}
	switch (s->mode) {
	case CERTPIN_MODE_ENFORCE:
	case CERTPIN_MODE_REPORT:
		break;
	default:
		bad = "mode";
		break;
	}
	switch (s->trust_anchors) {
	case CERTPIN_ANCHORS_SYSTEM:
	case CERTPIN_ANCHORS_PINNED:
		break;
	default:
		bad = "trust_anchors";
		break;
	}
	switch (s->validation) {
	case CERTPIN_VALIDATION_DEFAULT:
	case CERTPIN_VALIDATION_WEBPKI:
	case CERTPIN_VALIDATION_OPENSSL:
		break;
	default:
		bad = "validation";
		break;
	}
	if (bad == NULL)
		return CERTPIN_OK;
	cp_err_set(err, CERTPIN_E_INVALID_ARG, "value out of range");
	cp_err_prefix_path(err, "%s", bad);
	return CERTPIN_E_INVALID_ARG;
}

/* Parses one pin list of the spec into buf, refusing duplicates. */
static certpin_err parse_pin_list(draft *d, pin_buf *buf, const char *const *v, size_t n,
                                  const char *field, certpin_error *err)
{
	for (size_t j = 0; j < n; j++) {
		if (v[j] == NULL) {
			cp_err_set(err, CERTPIN_E_INVALID_ARG, "NULL pin");
			cp_err_prefix_path(err, "%s[%zu]", field, j);
			return CERTPIN_E_INVALID_ARG;
		}
		certpin_pin pin;
		certpin_err rc = certpin_pin_parse(v[j], strlen(v[j]), &pin, err);
		if (rc != CERTPIN_OK) {
			if (err != NULL)
				err->path[0] = '\0';
			cp_err_prefix_path(err, "%s[%zu]", field, j);
			return rc;
		}
		for (size_t k = 0; k < buf->n; k++) {
			if (certpin_pin_equal(&buf->v[k], &pin)) {
				cp_err_set(err, CERTPIN_E_SCHEMA, "duplicate pin (also %s[%zu])",
				           field, k);
				cp_err_prefix_path(err, "%s[%zu]", field, j);
				return CERTPIN_E_SCHEMA;
			}
		}
		if (pin.type == CERTPIN_PIN_CERT_SHA256)
			d->has_cert_pins = 1;
		buf->v[buf->n++] = pin;
	}
	return CERTPIN_OK;
}

static certpin_err pin_file_error(certpin_error *err, certpin_err rc, const char *path,
                                  const certpin_error *e, size_t i)
{
	if (err != NULL) {
		const char *file = e->file[0] != '\0' ? e->file : path;
		const char *msg = e->message[0] != '\0' ? e->message : certpin_strerror(rc);
		if (strstr(msg, file) != NULL)
			cp_err_set(err, rc, "%s", msg);
		else if (e->line != 0)
			cp_err_set(err, rc, "%s:%u: %s", file, e->line, msg);
		else
			cp_err_set(err, rc, "%s: %s", file, msg);
	}
	cp_err_prefix_path(err, "pin_files[%zu]", i);
	return rc;
}

static certpin_err add_anchor(draft *d, const certpin_object *o, size_t i, certpin_error *err)
{
	for (size_t k = 0; k < d->n_anchors; k++)
		if (certpin_pin_equal(&d->anchors[k]->cert_pin, &o->cert_pin))
			return CERTPIN_OK;
	if (d->n_anchors == CP_MAX_ANCHORS) {
		cp_err_set(err, CERTPIN_E_TOO_LARGE, "more than %u trust anchors in one rule",
		           CP_MAX_ANCHORS);
		cp_err_prefix_path(err, "pin_files[%zu]", i);
		return CERTPIN_E_TOO_LARGE;
	}
	if (o->der == NULL || o->der_len == 0) {
		cp_err_set(err, CERTPIN_E_INTERNAL, "CA certificate without DER");
		cp_err_prefix_path(err, "pin_files[%zu]", i);
		return CERTPIN_E_INTERNAL;
	}
	d->anchors[d->n_anchors++] = o;
	return CERTPIN_OK;
}

/* Reads pin_files[i] and adds its SPKI pins (and CA anchors) to the draft. */
static certpin_err load_pin_file(const certpin_builder *b, const certpin_rule_spec *s, draft *d,
                                 size_t i, certpin_error *err)
{
	const char *name = s->pin_files[i];
	if (b->pin_file_reads + d->n_lists >= CP_MAX_PIN_FILE_READS) {
		cp_err_set(err, CERTPIN_E_TOO_LARGE, "more than %u pin files in one policy",
		           CP_MAX_PIN_FILE_READS);
		cp_err_prefix_path(err, "pin_files[%zu]", i);
		return CERTPIN_E_TOO_LARGE;
	}
	if (name == NULL) {
		cp_err_set(err, CERTPIN_E_INVALID_ARG, "NULL pin file");
		cp_err_prefix_path(err, "pin_files[%zu]", i);
		return CERTPIN_E_INVALID_ARG;
	}
	char path[CP_MAX_PATH_LEN];
	int len;
	if (b->base_dir == NULL || name[0] == '/')
		len = snprintf(path, sizeof path, "%s", name);
	else
		len = snprintf(path, sizeof path, "%s/%s", b->base_dir, name);
	if (len < 0 || (size_t)len >= sizeof path) {
		cp_err_set(err, CERTPIN_E_IO, "pin file path too long");
		cp_err_prefix_path(err, "pin_files[%zu]", i);
		return CERTPIN_E_IO;
	}
	certpin_error e;
	memset(&e, 0, sizeof e);
	certpin_object_list *list = NULL;
	certpin_err rc = certpin_objects_from_file(path, NULL, &list, &e);
	if (rc != CERTPIN_OK) {
		certpin_object_list_free(list);
		return pin_file_error(err, rc, path, &e, i);
	}
	if (list == NULL)
		return pin_file_error(err, CERTPIN_E_INTERNAL, path, &e, i);
	d->lists[d->n_lists++] = list;

	size_t n = certpin_object_list_count(list);
	d->pin_file_objects += n;
	if (b->pin_file_objects + d->pin_file_objects > CP_MAX_PIN_FILE_OBJECTS) {
		cp_err_set(err, CERTPIN_E_TOO_LARGE,
		           "more than %u certificates and keys in the pin files of one policy",
		           CP_MAX_PIN_FILE_OBJECTS);
		cp_err_prefix_path(err, "pin_files[%zu]", i);
		return CERTPIN_E_TOO_LARGE;
	}
	for (size_t j = 0; j < n; j++) {
		const certpin_object *o = certpin_object_list_get(list, j);
		if (o == NULL)
			continue;
		int is_cert = o->kind == CERTPIN_OBJ_CERT;
		int root = is_cert && o->is_ca && o->self_signed;
		size_t k;
		for (k = 0; k < d->any.n; k++)
			if (certpin_pin_equal(&d->any.v[k], &o->spki_pin))
				break;
		if (k < d->any.n) {
			if (!root)
				d->root_only[k] = 0;
		} else {
			if (total_pins(d) >= CERTPIN_MAX_PINS_PER_RULE)
				return too_many_pins(err, "pin_files", i);
			d->root_only[d->any.n] = (unsigned char)(root ? 1 : 0);
			d->any.v[d->any.n++] = o->spki_pin;
		}
		if (s->trust_anchors == CERTPIN_ANCHORS_PINNED && is_cert && o->is_ca)
			CP_GUARD(add_anchor(d, o, i, err));
	}
	return CERTPIN_OK;
}

static certpin_err check_report_uris(const certpin_rule_spec *s, size_t *bytes, certpin_error *err)
{
	static const char scheme[] = "https://";
	*bytes = 0;
	for (size_t i = 0; i < s->n_report_uris; i++) {
		const char *u = s->report_uris[i];
		if (u == NULL) {
			cp_err_set(err, CERTPIN_E_INVALID_ARG, "NULL report URI");
			cp_err_prefix_path(err, "report_uris[%zu]", i);
			return CERTPIN_E_INVALID_ARG;
		}
		size_t n = strnlen(u, CP_MAX_URI_LEN + 1);
		if (n > CP_MAX_URI_LEN) {
			cp_err_set(err, CERTPIN_E_TOO_LARGE, "report URI longer than %u bytes",
			           CP_MAX_URI_LEN);
			cp_err_prefix_path(err, "report_uris[%zu]", i);
			return CERTPIN_E_TOO_LARGE;
		}
		if (n <= sizeof scheme - 1 || memcmp(u, scheme, sizeof scheme - 1) != 0) {
			cp_err_set(err, CERTPIN_E_SCHEMA,
			           "a report URI must start with \"https://\" and name a host");
			cp_err_prefix_path(err, "report_uris[%zu]", i);
			return CERTPIN_E_SCHEMA;
		}
		for (size_t k = 0; k < n; k++) {
			unsigned char c = (unsigned char)u[k];
			if (c <= 0x20 || c >= 0x7f) {
				cp_err_set(err, CERTPIN_E_SCHEMA,
				           "a report URI must not contain spaces, control or "
				           "non-ASCII characters");
				cp_err_prefix_path(err, "report_uris[%zu]", i);
				return CERTPIN_E_SCHEMA;
			}
		}
		*bytes += n + 1;
	}
	return CERTPIN_OK;
}

static const char *first_pin_field(const certpin_rule_spec *s)
{
	if (s->n_pins != 0)
		return "pins";
	if (s->n_leaf_pins != 0)
		return "leaf_pins";
	if (s->n_ca_pins != 0)
		return "ca_pins";
	return "pin_files";
}

/* Checks everything that needs no parsing: pointers, enums, counts. */
static certpin_err check_shape(const certpin_rule_spec *s, certpin_error *err)
{
	const size_t max = CERTPIN_MAX_PINS_PER_RULE;
	if ((s->n_pins != 0 && s->pins == NULL) || (s->n_leaf_pins != 0 && s->leaf_pins == NULL) ||
	    (s->n_ca_pins != 0 && s->ca_pins == NULL) ||
	    (s->n_pin_files != 0 && s->pin_files == NULL) ||
	    (s->n_report_uris != 0 && s->report_uris == NULL))
		return cp_err_set(err, CERTPIN_E_INVALID_ARG, "NULL list with a non-zero count");
	CP_GUARD(check_enums(s, err));
	if (s->host == NULL) {
		cp_err_set(err, CERTPIN_E_SCHEMA, "missing host");
		cp_err_prefix_path(err, "host");
		return CERTPIN_E_SCHEMA;
	}
	int any = s->n_pins != 0 || s->n_leaf_pins != 0 || s->n_ca_pins != 0 || s->n_pin_files != 0;
	if (s->exclude && any) {
		cp_err_set(err, CERTPIN_E_SCHEMA, "an exclude rule carries no pins");
		cp_err_prefix_path(err, "%s", first_pin_field(s));
		return CERTPIN_E_SCHEMA;
	}
	if (!s->exclude && !any) {
		cp_err_set(err, CERTPIN_E_SCHEMA,
		           "empty pin list: give pins, leaf_pins, ca_pins or pin_files "
		           "(or \"exclude\": true to unpin the name)");
		cp_err_prefix_path(err, "pins");
		return CERTPIN_E_SCHEMA;
	}
	if (s->n_pins > max)
		return too_many_pins(err, "pins", max);
	if (s->n_leaf_pins > max - s->n_pins)
		return too_many_pins(err, "leaf_pins", max - s->n_pins);
	if (s->n_ca_pins > max - s->n_pins - s->n_leaf_pins)
		return too_many_pins(err, "ca_pins", max - s->n_pins - s->n_leaf_pins);
	if (s->n_pin_files > CERTPIN_MAX_PIN_FILES) {
		cp_err_set(err, CERTPIN_E_TOO_LARGE, "more than %u pin files in one rule",
		           CERTPIN_MAX_PIN_FILES);
		cp_err_prefix_path(err, "pin_files[%u]", CERTPIN_MAX_PIN_FILES);
		return CERTPIN_E_TOO_LARGE;
	}
	if (s->n_report_uris > CERTPIN_MAX_REPORT_URIS) {
		cp_err_set(err, CERTPIN_E_TOO_LARGE, "more than %u report URIs in one rule",
		           CERTPIN_MAX_REPORT_URIS);
		cp_err_prefix_path(err, "report_uris[%u]", CERTPIN_MAX_REPORT_URIS);
		return CERTPIN_E_TOO_LARGE;
	}
	return CERTPIN_OK;
}

static certpin_err grow_rules(certpin_builder *b)
{
	if (b->n_rules < b->cap_rules)
		return CERTPIN_OK;
	size_t cap = b->cap_rules ? b->cap_rules * 2 : 16;
	if (cap > CERTPIN_MAX_DOMAINS)
		cap = CERTPIN_MAX_DOMAINS;
	struct certpin_rule *r = realloc(b->rules, cap * sizeof *r);
	if (r == NULL)
		return CERTPIN_E_NOMEM;
	b->rules = r;
	b->cap_rules = cap;
	return CERTPIN_OK;
}

/* Copies the draft into one block owned by r (host_text first). */
static certpin_err commit(const certpin_rule_spec *s, const draft *d, size_t uri_bytes,
                          struct certpin_rule *r)
{
	size_t npins = total_pins(d);
	size_t anchor_bytes = 0;
	for (size_t i = 0; i < d->n_anchors; i++) {
		/* Each came from a file of at most CERTPIN_MAX_FILE_SIZE bytes. */
		if (d->anchors[i]->der_len > CERTPIN_MAX_FILE_SIZE)
			return CERTPIN_E_TOO_LARGE;
		anchor_bytes += d->anchors[i]->der_len;
	}
	size_t off_pins = align8(d->host_len + 1);
	size_t off_uri_ptrs = align8(off_pins + npins * sizeof(certpin_pin));
	size_t off_uri_text = off_uri_ptrs + s->n_report_uris * sizeof(char *);
	size_t off_slices = align8(off_uri_text + uri_bytes);
	size_t off_der = off_slices + d->n_anchors * sizeof(cp_slice);
	size_t total = off_der + anchor_bytes;
	char *block = malloc(total);
	if (block == NULL)
		return CERTPIN_E_NOMEM;

	memset(r, 0, sizeof *r);
	memcpy(block, d->host_text, d->host_len + 1);
	r->host_text = block;
	/* host_text is the "*." / "**." prefix (or none), then the name. */
	r->key = cp_host_key_make(&d->pat, block + (d->host_len - d->pat.len));
	r->exclude = s->exclude != 0;
	r->include_subdomains = s->include_subdomains != 0;

	certpin_pin *pins = npins ? (certpin_pin *)(void *)(block + off_pins) : NULL;
	if (npins != 0) {
		memcpy(pins, d->any.v, d->any.n * sizeof *pins);
		memcpy(pins + d->any.n, d->leaf.v, d->leaf.n * sizeof *pins);
		memcpy(pins + d->any.n + d->leaf.n, d->ca.v, d->ca.n * sizeof *pins);
	}
	r->pins.v = d->any.n ? pins : NULL;
	r->pins.n = d->any.n;
	r->leaf_pins.v = d->leaf.n ? pins + d->any.n : NULL;
	r->leaf_pins.n = d->leaf.n;
	r->ca_pins.v = d->ca.n ? pins + d->any.n + d->leaf.n : NULL;
	r->ca_pins.n = d->ca.n;
	r->has_cert_pins = d->has_cert_pins != 0;
	r->has_expires = s->has_expires != 0;
	r->expires = r->has_expires ? s->expires : 0;
	r->on_expiry = s->on_expiry;
	r->mode = s->mode;
	r->trust_anchors = s->trust_anchors;
	r->validation = s->validation; /* DEFAULT is resolved by finish */

	if (s->n_report_uris != 0) {
		char **ptrs = (char **)(void *)(block + off_uri_ptrs);
		char *text = block + off_uri_text;
		for (size_t i = 0; i < s->n_report_uris; i++) {
			size_t n = strlen(s->report_uris[i]);
			memcpy(text, s->report_uris[i], n + 1);
			ptrs[i] = text;
			text += n + 1;
		}
		r->report_uris = ptrs;
		r->n_report_uris = (uint16_t)s->n_report_uris;
	}
	if (d->n_anchors != 0) {
		cp_slice *sl = (cp_slice *)(void *)(block + off_slices);
		uint8_t *der = (uint8_t *)(block + off_der);
		for (size_t i = 0; i < d->n_anchors; i++) {
			memcpy(der, d->anchors[i]->der, d->anchors[i]->der_len);
			sl[i].p = der;
			sl[i].n = d->anchors[i]->der_len;
			der += d->anchors[i]->der_len;
		}
		r->anchors = sl;
		r->n_anchors = (uint16_t)d->n_anchors;
	}
	size_t roots = 0;
	for (size_t i = 0; i < d->any.n; i++)
		roots += d->root_only[i];
	r->n_root_pins = (uint16_t)roots;
	return CERTPIN_OK;
}

static certpin_err add_rule(certpin_builder *b, const certpin_rule_spec *s, draft *d,
                            certpin_error *err)
{
	CP_GUARD(check_shape(s, err));
	certpin_err rc = cp_host_pattern_parse(s->host, strlen(s->host), s->include_subdomains != 0,
	                                       &d->pat, err);
	if (rc != CERTPIN_OK) {
		if (err != NULL)
			err->path[0] = '\0';
		cp_err_prefix_path(err, "host");
		return rc;
	}
	d->host_len = cp_host_pattern_text(&d->pat, d->host_text, sizeof d->host_text);
	if (d->host_len == 0 || d->host_len >= sizeof d->host_text) {
		cp_err_set(err, CERTPIN_E_INTERNAL, "cannot format the host pattern");
		cp_err_prefix_path(err, "host");
		return CERTPIN_E_INTERNAL;
	}
	CP_GUARD(parse_pin_list(d, &d->any, s->pins, s->n_pins, "pins", err));
	CP_GUARD(parse_pin_list(d, &d->leaf, s->leaf_pins, s->n_leaf_pins, "leaf_pins", err));
	CP_GUARD(parse_pin_list(d, &d->ca, s->ca_pins, s->n_ca_pins, "ca_pins", err));
	size_t uri_bytes = 0;
	CP_GUARD(check_report_uris(s, &uri_bytes, err));
	for (size_t i = 0; i < s->n_pin_files; i++)
		CP_GUARD(load_pin_file(b, s, d, i, err));
	if (s->trust_anchors == CERTPIN_ANCHORS_PINNED && d->n_anchors == 0) {
		cp_err_set(err, CERTPIN_E_SCHEMA,
		           "trust_anchors \"pinned\" needs CA certificates in pin_files");
		cp_err_prefix_path(err, "trust_anchors");
		return CERTPIN_E_SCHEMA;
	}
	if (grow_rules(b) != CERTPIN_OK)
		return cp_err_set(err, CERTPIN_E_NOMEM, "out of memory");
	struct certpin_rule *r = &b->rules[b->n_rules];
	certpin_err rc2 = commit(s, d, uri_bytes, r);
	if (rc2 != CERTPIN_OK)
		return cp_err_set(err, rc2, "%s",
		                  rc2 == CERTPIN_E_NOMEM ? "out of memory"
		                                         : "trust anchor too large");
	r->spec_index = (uint32_t)b->n_rules;
	b->n_rules++;
	b->pin_file_reads += d->n_lists;
	b->pin_file_objects += d->pin_file_objects;
	return CERTPIN_OK;
}

certpin_err certpin_builder_add_rule(certpin_builder *b, const certpin_rule_spec *spec,
                                     certpin_error *err)
{
	if (b == NULL || spec == NULL)
		return cp_err_set(err, CERTPIN_E_INVALID_ARG, "NULL builder or rule");
	if (b->n_rules >= CERTPIN_MAX_DOMAINS)
		return cp_err_set(err, CERTPIN_E_TOO_LARGE, "more than %u domains",
		                  CERTPIN_MAX_DOMAINS);
	draft d;
	d.any.n = d.leaf.n = d.ca.n = 0;
	d.has_cert_pins = 0;
	d.n_lists = 0;
	d.n_anchors = 0;
	d.pin_file_objects = 0;
	memset(d.root_only, 0, sizeof d.root_only);
	certpin_err rc = add_rule(b, spec, &d, err);
	draft_release(&d);
	return rc;
}

/* ---- finish ------------------------------------------------------------ */

static certpin_err compute_warnings(const struct certpin_rule *rules, size_t n,
                                    struct certpin_warnings *w, int first_only)
{
	for (size_t i = 0; i < n; i++) {
		const struct certpin_rule *r = &rules[i];
		if (r->exclude)
			continue;
		size_t total = r->pins.n + r->leaf_pins.n + r->ca_pins.n;
		if (r->mode == CERTPIN_MODE_ENFORCE && total < 2) {
			const char *field = r->leaf_pins.n ? "leaf_pins"
			                    : r->ca_pins.n ? "ca_pins"
			                                   : "pins";
			CP_GUARD(cp_warnings_add(w, CERTPIN_W_FEW_PINS, i, field,
			                         "%zu pin and no backup pin: a key rotation will "
			                         "block clients",
			                         total));
		}
		if (r->mode == CERTPIN_MODE_ENFORCE && !r->has_expires)
			CP_GUARD(
			    cp_warnings_add(w, CERTPIN_W_NO_EXPIRY, i, "",
			                    "no \"expires\": if the pinned keys change, clients "
			                    "that are not updated stay blocked for good"));
		if (r->n_root_pins != 0 && r->n_root_pins == total)
			CP_GUARD(cp_warnings_add(w, CERTPIN_W_ROOT_ONLY, i, "pin_files",
			                         "pins only root CA certificates: any certificate "
			                         "that CA issues will pass"));
		if (first_only && w->n != 0)
			break;
	}
	return CERTPIN_OK;
}

static void policy_destroy(certpin_policy *p)
{
	cp_index_free(p->index);
	free_rules(p->rules, p->n_rules);
	free(p);
}

certpin_err certpin_builder_finish(certpin_builder *b, unsigned flags, certpin_policy **out,
                                   certpin_warnings **warnings, certpin_error *err)
{
	if (out != NULL)
		*out = NULL;
	if (warnings != NULL)
		*warnings = NULL;
	if (b == NULL || out == NULL || (flags & ~CERTPIN_LOAD_STRICT) != 0) {
		certpin_builder_free(b);
		return cp_err_set(err, CERTPIN_E_INVALID_ARG,
		                  b == NULL ? "NULL builder" : "invalid argument");
	}
	int strict = (flags & CERTPIN_LOAD_STRICT) != 0;

	for (size_t i = 0; i < b->n_rules; i++)
		if (b->rules[i].validation == CERTPIN_VALIDATION_DEFAULT)
			b->rules[i].validation = b->validation;
	/* Shrink before indexing: the index points into the array. */
	if (b->n_rules != 0 && b->n_rules < b->cap_rules) {
		struct certpin_rule *r = realloc(b->rules, b->n_rules * sizeof *r);
		if (r != NULL) {
			b->rules = r;
			b->cap_rules = b->n_rules;
		}
	}

	certpin_policy *p = calloc(1, sizeof *p);
	if (p == NULL) {
		certpin_builder_free(b);
		return cp_err_set(err, CERTPIN_E_NOMEM, "out of memory");
	}
	atomic_init(&p->refs, 1u);
	p->unlisted = b->unlisted;
	p->validation = b->validation;
	p->rules = b->rules;
	p->n_rules = b->n_rules;
	b->rules = NULL;
	b->n_rules = 0;
	certpin_builder_free(b);

	size_t dup_a = 0, dup_b = 0;
	certpin_err rc = cp_index_build(p->rules, p->n_rules, &p->index, &dup_a, &dup_b);
	if (rc == CERTPIN_E_DUPLICATE && dup_b < p->n_rules && dup_a < p->n_rules) {
		cp_err_set(err, rc, "duplicate rule for '%s' (also domains[%zu])",
		           p->rules[dup_b].host_text, (size_t)p->rules[dup_a].spec_index);
		cp_err_prefix_path(err, "domains[%zu].host", (size_t)p->rules[dup_b].spec_index);
		policy_destroy(p);
		return rc;
	}
	if (rc != CERTPIN_OK || p->index == NULL) {
		policy_destroy(p);
		if (rc == CERTPIN_OK || rc == CERTPIN_E_DUPLICATE)
			rc = CERTPIN_E_INTERNAL;
		return cp_err_set(err, rc, "cannot build the host index");
	}

	struct certpin_warnings *w = NULL;
	if (warnings != NULL || strict) {
		w = calloc(1, sizeof *w);
		if (w == NULL ||
		    compute_warnings(p->rules, p->n_rules, w, warnings == NULL) != CERTPIN_OK) {
			certpin_warnings_free(w);
			policy_destroy(p);
			return cp_err_set(err, CERTPIN_E_NOMEM, "out of memory");
		}
	}
	if (strict && w->n != 0) {
		const cp_warning *first = &w->v[0];
		cp_err_set(err, CERTPIN_E_STRICT, "%s", first->where.message);
		if (err != NULL)
			memcpy(err->path, first->where.path, sizeof err->path);
		cp_err_prefix_path(err, "domains[%zu]", (size_t)p->rules[first->rule].spec_index);
		certpin_warnings_free(w);
		policy_destroy(p);
		return CERTPIN_E_STRICT;
	}
	if (warnings != NULL)
		*warnings = w;
	else
		certpin_warnings_free(w);
	*out = p;
	return CERTPIN_OK;
}

/* ---- policy ------------------------------------------------------------ */

certpin_policy *certpin_policy_ref(certpin_policy *p)
{
	if (p != NULL)
		atomic_fetch_add_explicit(&p->refs, 1u, memory_order_relaxed);
	return p;
}

void certpin_policy_free(certpin_policy *p)
{
	if (p == NULL)
		return;
	if (atomic_fetch_sub_explicit(&p->refs, 1u, memory_order_acq_rel) != 1u)
		return;
	policy_destroy(p);
}

certpin_unlisted certpin_policy_unlisted(const certpin_policy *p)
{
	/* Fail closed: no policy means nothing is known to be allowed. */
	return p != NULL ? p->unlisted : CERTPIN_UNLISTED_DENY;
}

size_t certpin_policy_rule_count(const certpin_policy *p)
{
	return p != NULL ? p->n_rules : 0;
}

const certpin_rule *certpin_policy_rule(const certpin_policy *p, size_t i)
{
	if (p == NULL || i >= p->n_rules)
		return NULL;
	return &p->rules[i];
}

const certpin_rule *certpin_policy_lookup(const certpin_policy *p, const char *host)
{
	if (p == NULL || host == NULL || p->index == NULL)
		return NULL;
	char name[CERTPIN_HOST_MAX + 1];
	size_t len = 0;
	int is_ip = 0;
	if (cp_host_normalize(host, strlen(host), name, &len, &is_ip, NULL) != CERTPIN_OK)
		return NULL;
	return cp_index_lookup(p->index, name, len, is_ip);
}

/* ---- rule accessors ---------------------------------------------------- */

const char *certpin_rule_host(const certpin_rule *r)
{
	return r != NULL ? r->host_text : NULL;
}

int certpin_rule_is_exclude(const certpin_rule *r)
{
	return r != NULL && r->exclude;
}

certpin_mode certpin_rule_mode(const certpin_rule *r)
{
	return r != NULL ? r->mode : CERTPIN_MODE_ENFORCE;
}

certpin_on_expiry certpin_rule_on_expiry(const certpin_rule *r)
{
	return r != NULL ? r->on_expiry : CERTPIN_ON_EXPIRY_BLOCK;
}

certpin_trust_anchors certpin_rule_trust_anchors(const certpin_rule *r)
{
	return r != NULL ? r->trust_anchors : CERTPIN_ANCHORS_SYSTEM;
}

certpin_validation certpin_rule_validation(const certpin_rule *r)
{
	if (r == NULL || r->validation == CERTPIN_VALIDATION_DEFAULT)
		return CERTPIN_VALIDATION_WEBPKI;
	return r->validation;
}

int certpin_rule_expires(const certpin_rule *r, int64_t *t)
{
	if (r == NULL || !r->has_expires)
		return 0;
	if (t != NULL)
		*t = r->expires;
	return 1;
}

static const cp_pin_list *scope_list(const certpin_rule *r, certpin_pin_scope scope)
{
	if (r == NULL)
		return NULL;
	switch (scope) {
	case CERTPIN_SCOPE_ANY:
		return &r->pins;
	case CERTPIN_SCOPE_LEAF:
		return &r->leaf_pins;
	case CERTPIN_SCOPE_CA:
		return &r->ca_pins;
	default:
		return NULL;
	}
}

size_t certpin_rule_pin_count(const certpin_rule *r, certpin_pin_scope scope)
{
	const cp_pin_list *l = scope_list(r, scope);
	return l != NULL ? l->n : 0;
}

const certpin_pin *certpin_rule_pin(const certpin_rule *r, certpin_pin_scope scope, size_t i)
{
	const cp_pin_list *l = scope_list(r, scope);
	if (l == NULL || i >= l->n)
		return NULL;
	return &l->v[i];
}

size_t certpin_rule_report_uri_count(const certpin_rule *r)
{
	return r != NULL ? r->n_report_uris : 0;
}

const char *certpin_rule_report_uri(const certpin_rule *r, size_t i)
{
	if (r == NULL || i >= r->n_report_uris)
		return NULL;
	return r->report_uris[i];
}

size_t certpin_rule_anchor_count(const certpin_rule *r)
{
	return r != NULL ? r->n_anchors : 0;
}

const uint8_t *certpin_rule_anchor(const certpin_rule *r, size_t i, size_t *len)
{
	if (r == NULL || i >= r->n_anchors) {
		if (len != NULL)
			*len = 0;
		return NULL;
	}
	if (len != NULL)
		*len = r->anchors[i].n;
	return r->anchors[i].p;
}

/* ---- warnings ---------------------------------------------------------- */

const char *certpin_warning_name(certpin_warning_kind kind)
{
	switch (kind) {
	case CERTPIN_W_FEW_PINS:
		return "few-pins";
	case CERTPIN_W_NO_EXPIRY:
		return "no-expiry";
	case CERTPIN_W_ROOT_ONLY:
		return "root-only";
	default:
		return "unknown";
	}
}

size_t certpin_warnings_count(const certpin_warnings *w)
{
	return w != NULL ? w->n : 0;
}

const certpin_error *certpin_warnings_get(const certpin_warnings *w, size_t i,
                                          certpin_warning_kind *kind)
{
	if (w == NULL || i >= w->n)
		return NULL;
	if (kind != NULL)
		*kind = w->v[i].kind;
	return &w->v[i].where;
}

void certpin_warnings_free(certpin_warnings *w)
{
	if (w == NULL)
		return;
	free(w->v);
	free(w);
}

certpin_err cp_warnings_add(struct certpin_warnings *w, certpin_warning_kind kind, size_t rule,
                            const char *path, const char *fmt, ...)
{
	if (w == NULL || path == NULL || fmt == NULL)
		return CERTPIN_E_INVALID_ARG;
	if (w->n >= CP_MAX_WARNINGS)
		return CERTPIN_OK;
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 8;
		cp_warning *v = realloc(w->v, cap * sizeof *v);
		if (v == NULL)
			return CERTPIN_E_NOMEM;
		w->v = v;
		w->cap = cap;
	}
	cp_warning *x = &w->v[w->n];
	memset(x, 0, sizeof *x);
	x->kind = kind;
	x->rule = rule;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(x->where.message, sizeof x->where.message, fmt, ap);
	va_end(ap);
	x->where.code = CERTPIN_OK;
	cp_strlcpy(x->where.path, path, sizeof x->where.path);
	w->n++;
	return CERTPIN_OK;
}
