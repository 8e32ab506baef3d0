/*
 * Target: certpin_objects_from_mem, the reader of certificates, public keys,
 * private keys, CSRs and PKCS#12 in PEM or DER (pin_files, `certpin pin`,
 * `certpin eval --chain`), with password "pw".
 * On success: at least one and at most 1000 objects, each with an SPKI pin,
 * a known kind, strings set, and for certificates a whole-certificate pin
 * and DER whose SPKI pin (by the DER walk the evaluator uses) equals the
 * object's, so pins printed from files are the pins evaluation computes.
 * On failure: no list, and a one-line message with the same code.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_object(const certpin_object *o, size_t size)
{
	if (o == NULL || o->spki_pin.type != CERTPIN_PIN_SPKI_SHA256 || o->subject == NULL ||
	    o->key_type == NULL || o->key_type[0] == '\0' || o->line > size + 1)
		abort();
	switch (o->kind) {
	case CERTPIN_OBJ_CERT: {
		if (o->cert_pin.type != CERTPIN_PIN_CERT_SHA256 || o->der == NULL ||
		    o->der_len == 0)
			abort();
		certpin_pin walked, whole;
		if (certpin_pin_spki_from_cert_der(o->der, o->der_len, &walked) != CERTPIN_OK ||
		    !certpin_pin_equal(&walked, &o->spki_pin))
			abort();
		if (certpin_pin_cert_from_cert_der(o->der, o->der_len, &whole) != CERTPIN_OK ||
		    !certpin_pin_equal(&whole, &o->cert_pin))
			abort();
		break;
	}
	case CERTPIN_OBJ_PUBKEY:
	case CERTPIN_OBJ_PRIVKEY:
	case CERTPIN_OBJ_CSR:
		if (o->cert_pin.type != 0 || o->der != NULL || o->der_len != 0 || o->is_ca ||
		    o->self_signed)
			abort();
		if (o->kind != CERTPIN_OBJ_CSR && o->subject[0] != '\0')
			abort();
		break;
	default:
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	certpin_object_list *list = NULL;
	certpin_error err;
	certpin_err rc = certpin_objects_from_mem(data, size, "fuzz", "pw", &list, &err);
	if (rc != CERTPIN_OK) {
		if (list != NULL || err.code != rc || err.message[0] == '\0' ||
		    memchr(err.message, '\0', sizeof err.message) == NULL ||
		    strchr(err.message, '\n') != NULL)
			abort();
		return 0;
	}
	size_t n = certpin_object_list_count(list);
	if (list == NULL || n == 0 || n > 1000 || certpin_object_list_get(list, n) != NULL)
		abort();
	for (size_t i = 0; i < n; i++)
		check_object(certpin_object_list_get(list, i), size);
	certpin_object_list_free(list);
	return 0;
}
