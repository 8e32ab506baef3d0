/*
 * certpin_objects_*: the list of certificates, keys and CSRs read from a
 * PEM or DER input, errors, limits and the entry points. The parsing is the
 * crypto backend's (objects_openssl.c, objects_mbedtls.c: cp_objects_read).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "objects.h"

/* ---- errors -------------------------------------------------------------- */

certpin_err cp_obj_fail(cp_reader *r, certpin_err code, const char *fmt, ...)
{
	char msg[sizeof r->err->message];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (r->line != 0)
		return cp_err_set(r->err, code, "%s:%u: %s", r->name, r->line, msg);
	return cp_err_set(r->err, code, "%s: %s", r->name, msg);
}

certpin_err cp_obj_fail_nomem(cp_reader *r)
{
	return cp_obj_fail(r, CERTPIN_E_NOMEM, "out of memory");
}

/* ---- the list ------------------------------------------------------------- */

static void obj_clear(cp_obj *o)
{
	free(o->subject);
	free(o->der);
	memset(o, 0, sizeof *o);
}

void certpin_object_list_free(certpin_object_list *list)
{
	if (list == NULL)
		return;
	for (size_t i = 0; i < list->n; i++)
		obj_clear(&list->v[i]);
	free(list->v);
	free(list);
}

size_t certpin_object_list_count(const certpin_object_list *list)
{
	return list == NULL ? 0 : list->n;
}

const certpin_object *certpin_object_list_get(const certpin_object_list *list, size_t i)
{
	if (list == NULL || i >= list->n)
		return NULL;
	return &list->v[i].pub;
}

/* A new zeroed slot at the end of the list. */
certpin_err cp_obj_list_push(cp_reader *r, cp_obj **out)
{
	struct certpin_object_list *l = r->list;
	if (l->n >= CP_MAX_OBJECTS)
		return cp_obj_fail(r, CERTPIN_E_TOO_LARGE, "more than %u objects", CP_MAX_OBJECTS);
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 4;
		if (ncap > CP_MAX_OBJECTS)
			ncap = CP_MAX_OBJECTS;
		cp_obj *nv = realloc(l->v, ncap * sizeof *nv);
		if (nv == NULL)
			return cp_obj_fail_nomem(r);
		l->v = nv;
		l->cap = ncap;
	}
	*out = &l->v[l->n++];
	memset(*out, 0, sizeof **out);
	return CERTPIN_OK;
}

/* Drops the last slot (used when filling it failed). */
void cp_obj_list_pop(struct certpin_object_list *l)
{
	if (l->n > 0)
		obj_clear(&l->v[--l->n]);
}

/* Points each public view at its storage, once no realloc can move it. */
static void list_finish(struct certpin_object_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		cp_obj *o = &l->v[i];
		o->pub.subject = o->subject != NULL ? o->subject : "";
		o->pub.key_type = o->key_type;
		o->pub.der = o->der;
	}
}

/* ---- entry points --------------------------------------------------------- */

int cp_obj_contains(const uint8_t *data, size_t len, const char *needle)
{
	size_t k = strlen(needle);
	for (size_t i = 0; i + k <= len; i++) {
		const uint8_t *hit = memchr(data + i, needle[0], len - i - k + 1);
		if (hit == NULL)
			return 0;
		i = (size_t)(hit - data);
		if (memcmp(hit, needle, k) == 0)
			return 1;
	}
	return 0;
}

certpin_err certpin_objects_from_mem(const uint8_t *data, size_t len, const char *name,
                                     const char *password, certpin_object_list **out,
                                     certpin_error *err)
{
	if (out != NULL)
		*out = NULL;
	if (data == NULL || name == NULL || out == NULL)
		return cp_err_set(err, CERTPIN_E_INVALID_ARG, "invalid argument");
	cp_reader r = {name, password, NULL, err, 0};
	if (len > CERTPIN_MAX_FILE_SIZE)
		return cp_obj_fail(&r, CERTPIN_E_TOO_LARGE, "input is larger than %u bytes",
		            CERTPIN_MAX_FILE_SIZE);
	if (password != NULL && strlen(password) > CP_MAX_PASSWORD)
		return cp_obj_fail(&r, CERTPIN_E_INVALID_ARG, "password is longer than %u bytes",
		            CP_MAX_PASSWORD);
	if (len == 0)
		return cp_obj_fail(&r, CERTPIN_E_KEY_FILE, "empty input");

	r.list = calloc(1, sizeof *r.list);
	if (r.list == NULL)
		return cp_obj_fail_nomem(&r);

	certpin_err rc = cp_objects_read(&r, data, len);
	if (rc == CERTPIN_OK && r.list->n == 0)
		rc = cp_obj_fail(&r, CERTPIN_E_KEY_FILE, "no certificate, key or CSR found");

	if (rc != CERTPIN_OK) {
		certpin_object_list_free(r.list);
		return rc;
	}
	list_finish(r.list);
	*out = r.list;
	return CERTPIN_OK;
}

certpin_err certpin_objects_from_file(const char *path, const char *password,
                                      certpin_object_list **out, certpin_error *err)
{
	if (out != NULL)
		*out = NULL;
	if (path == NULL || out == NULL)
		return cp_err_set(err, CERTPIN_E_INVALID_ARG, "invalid argument");
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return cp_err_set(err, CERTPIN_E_IO, "%s: %s", path, strerror(errno));
	/* one read of up to the cap plus a byte tells "too large" apart */
	uint8_t *buf = malloc(CERTPIN_MAX_FILE_SIZE + 1);
	if (buf == NULL) {
		fclose(f);
		return cp_err_set(err, CERTPIN_E_NOMEM, "%s: out of memory", path);
	}
	errno = 0;
	size_t n = fread(buf, 1, CERTPIN_MAX_FILE_SIZE + 1, f);
	int read_errno = errno;
	int bad = ferror(f);
	fclose(f);
	certpin_err rc;
	if (bad)
		rc = cp_err_set(err, CERTPIN_E_IO, "%s: %s", path,
		                strerror(read_errno != 0 ? read_errno : EIO));
	else if (n > CERTPIN_MAX_FILE_SIZE)
		rc = cp_err_set(err, CERTPIN_E_TOO_LARGE, "%s: file is larger than %u bytes", path,
		                CERTPIN_MAX_FILE_SIZE);
	else
		rc = certpin_objects_from_mem(buf, n, path, password, out, err);
	/* the file may have held a private key */
	cp_memzero(buf, n);
	free(buf);
	return rc;
}
