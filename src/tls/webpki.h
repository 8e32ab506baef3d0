/*
 * The web-PKI rules certpin adds to OpenSSL's validation (validation
 * "webpki"). Internal to the OpenSSL backend; docs/webpki.md lists the rules.
 */
#ifndef CERTPIN_WEBPKI_H
#define CERTPIN_WEBPKI_H

#include <openssl/x509.h>
#include <stddef.h>

/*
 * Checks the chain OpenSSL built and validated (leaf first, the trust anchor
 * last; borrowed) for host (normalised, as OpenSSL matched it; is_ip for
 * an IP literal). Returns NULL when every rule passes; otherwise the failed
 * rule's stable name ("webpki.eku-server-auth", ...) and a one-line
 * explanation in why (always terminated). Fails closed: a certificate the
 * rules cannot read fails the rule that reads it.
 */
const char *cp_webpki_chain_problem(STACK_OF(X509) *chain, const char *host, int is_ip,
                                    char *why, size_t n);

/*
 * After OpenSSL refused the host name: names the rule behind it when the
 * leaf has no subjectAltName (webpki.san-present) or is not v3 (webpki.v3),
 * since the profile never falls back to the subject CN. NULL otherwise.
 */
const char *cp_webpki_hostname_problem(X509 *leaf, char *why, size_t n);

#endif
