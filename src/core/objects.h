/*
 * Shared between objects.c and the crypto backends' readers
 * (objects_openssl.c, objects_mbedtls.c).
 */
#ifndef CERTPIN_OBJECTS_H
#define CERTPIN_OBJECTS_H

#include "internal.h"

/* Most objects one input may hold. */
#define CP_MAX_OBJECTS 1000u
/* Most PEM blocks (skipped ones included) one input may hold. */
#define CP_MAX_PEM_BLOCKS 4000u
/* Longest password accepted (OpenSSL's PEM callback buffer is 1024 bytes). */
#define CP_MAX_PASSWORD 1023u
/* One object and the storage its public view points into. */
typedef struct cp_obj {
	certpin_object pub;
	char *subject; /* owned, NULL means "" */
	uint8_t *der;  /* owned, certificates only */
	char key_type[48];
} cp_obj;

struct certpin_object_list {
	cp_obj *v;
	size_t n;
	size_t cap;
};

/* State of one read: where we are, for messages, and what we found. */
typedef struct cp_reader {
	const char *name;
	const char *password; /* NULL when none was given */
	struct certpin_object_list *list;
	certpin_error *err;
	unsigned line; /* BEGIN line of the current PEM block; 0 for DER */
} cp_reader;

/* Sets the error with "NAME:LINE: " (or "NAME: ") before the message. */
certpin_err cp_obj_fail(cp_reader *r, certpin_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
certpin_err cp_obj_fail_nomem(cp_reader *r);
/* A new zeroed slot at the end of the list. */
certpin_err cp_obj_list_push(cp_reader *r, cp_obj **out) CP_WUR;
/* Drops the last slot (used when filling it failed). */
void cp_obj_list_pop(struct certpin_object_list *l);
/* Whether needle occurs in data[0..len). */
int cp_obj_contains(const uint8_t *data, size_t len, const char *needle);

/* The backend: every object of the PEM or DER input into r->list. */
certpin_err cp_objects_read(cp_reader *r, const uint8_t *data, size_t len) CP_WUR;

#endif
