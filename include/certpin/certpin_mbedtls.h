/*
 * certpin — mbedTLS integration (libcertpin built with -DCERTPIN_CRYPTO=mbedtls).
 *
 * Pinning a TLS client on mbedTLS takes three calls:
 *
 *   certpin_mbedtls_attach(&conf, ctx);              once per mbedtls_ssl_config
 *   conn = certpin_mbedtls_conn_new(ctx);            once per connection (allocates)
 *   mbedtls_ssl_setup(&ssl, &conf);
 *   mbedtls_ssl_set_hostname(&ssl, "api.example.com");
 *   certpin_mbedtls_setup(&ssl, conn);               before every handshake
 *   ... certpin_mbedtls_handshake(&ssl, conn) ...    in place of mbedtls_ssl_handshake
 *   certpin_mbedtls_conn_free(conn);                 after mbedtls_ssl_free
 *
 * The pin check runs inside mbedTLS's certificate verification, at depth 0,
 * on the chain mbedTLS built and validated (never the chain as sent), and a
 * blocked verdict fails the handshake before any application data.
 *
 * Fail closed:
 *  - A handshake that verifies no certificate runs no check: session
 *    resumption, or verification switched off for one handshake
 *    (mbedtls_ssl_set_hs_authmode NONE). setup() refuses a connection with a
 *    resumption or such an authmode pending, and certpin_mbedtls_handshake()
 *    refuses a handshake that completed without an allowing check of its
 *    own (for what is set after setup). Applications that call
 *    mbedtls_ssl_handshake() themselves MUST call certpin_mbedtls_check()
 *    when it returns 0, and close the connection unless it is CERTPIN_OK.
 *    Resumption is therefore not available with certpin on mbedTLS.
 *  - One setup() arms one handshake: a renegotiation, or a handshake after
 *    mbedtls_ssl_session_reset() without a new setup(), is blocked (its
 *    host, rule and anchors would be stale), and so is a host name changed
 *    after setup().
 *  - attach() installs a verify callback on the config (mbedtls_ssl_conf_verify)
 *    that blocks every connection of that config not set up with
 *    certpin_mbedtls_setup(): forgetting the per-connection call is a failed
 *    handshake, not an unpinned one.
 *  - No host name (mbedtls_ssl_set_hostname not called, or reset to NULL):
 *    setup() refuses and the verify callback blocks. mbedTLS itself skips the
 *    name check when no host name is set (the class of CVE-2015-5291-style
 *    mistakes); certpin never does.
 *  - authmode NONE would skip verification, and the pin check with it:
 *    attach() raises a NONE config to REQUIRED, and setup() refuses a
 *    connection whose config says NONE. With OPTIONAL, mbedTLS continues after
 *    a failed validation, so a blocked verdict returns
 *    MBEDTLS_ERR_X509_FATAL_ERROR from the callback, which mbedTLS does not
 *    forgive in OPTIONAL mode: the handshake fails either way.
 *  - "webpki" validation (the default) adds to mbedTLS's checks what the
 *    OpenSSL build enforces: the host name is matched against the
 *    subjectAltName only (no CN fallback), wildcards only as a whole
 *    left-most label over at least two labels, IP hosts against iPAddress
 *    entries, and a leaf with basicConstraints cA=TRUE is refused.
 *  - attach() sets the config's certificate profile to the key and
 *    signature rules of the OpenSSL build (SHA-2 signatures, RSA >= 2048,
 *    P-256/P-384/P-521) and, for webpki rules, an EKU must allow serverAuth.
 *  - attach() raises the config's minimum protocol version to TLS 1.2: the
 *    Debian build of mbedTLS 2.28 accepts a TLS 1.0-only server by default
 *    (found by `certpin attack`, scenario tls-legacy).
 *  - trust_anchors "pinned": the rule's CA certificates become the only
 *    anchors of that connection (mbedtls_ssl_set_hs_ca_chain), parsed in
 *    setup().
 *
 * Memory: certpin_mbedtls_conn_new() allocates everything the check needs
 * (20,736 bytes measured: 16 KiB for subject names, the rest the state, the
 * verdict and 16 chain slots; pinned anchors are parsed at setup),
 * so the verify callback allocates nothing for chains whose subject names
 * total at most 16 KiB (checked with gdb over real handshakes: no malloc,
 * calloc or realloc below the callback). Stack: about 3.5 KiB at the
 * deepest (gcc -fstack-usage: the callback 128 B, evaluation 80 + 96 + 720 B,
 * the host-index lookup 2,176 B, the verdict's host 800 B); the reason text
 * buffer is in the connection state.
 *
 * The policy the connection is checked against is the one in force when
 * certpin_mbedtls_setup() ran (a snapshot: a swap during the handshake does
 * not change it). The rules of certpin.h apply.
 */
#ifndef CERTPIN_MBEDTLS_H
#define CERTPIN_MBEDTLS_H

#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "certpin.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Pass as `now` to use the current time. */
#define CERTPIN_MBEDTLS_TIME_NOW INT64_MIN

/** Per-connection state. */
typedef struct certpin_mbedtls_conn certpin_mbedtls_conn;

/**
 * Attaches certpin to a client configuration (see above). The holder c is
 * referenced by every connection state made with it, not by the config.
 * @return CERTPIN_OK, CERTPIN_E_INVALID_ARG.
 */
CERTPIN_API certpin_err certpin_mbedtls_attach(mbedtls_ssl_config *conf, certpin_ctx *c);

/** The state of one connection (a reference to c is taken), or NULL. */
CERTPIN_API certpin_mbedtls_conn *certpin_mbedtls_conn_new(certpin_ctx *c);
/** Frees the state; call after mbedtls_ssl_free() (or before reusing it). */
CERTPIN_API void certpin_mbedtls_conn_free(certpin_mbedtls_conn *conn);

/**
 * Binds conn to ssl for its next handshake: takes the policy snapshot,
 * installs the per-connection verify callback (mbedtls_ssl_set_verify) and,
 * for a "pinned" trust-anchor rule, the rule's anchors. Call after
 * mbedtls_ssl_setup() and mbedtls_ssl_set_hostname(), and again after
 * mbedtls_ssl_session_reset().
 * @return CERTPIN_OK; CERTPIN_E_INVALID_ARG when ssl has no host name, its
 *         config has authmode NONE, or a session resumption or a per-handshake
 *         authmode NONE is pending (nothing would be verified); CERTPIN_E_DER
 *         when a pinned anchor does not parse; CERTPIN_E_INTERNAL.
 */
CERTPIN_API certpin_err certpin_mbedtls_setup(mbedtls_ssl_context *ssl,
                                              certpin_mbedtls_conn *conn);

/**
 * mbedtls_ssl_handshake(), then: 0 only when certpin checked this handshake
 * and allowed it; MBEDTLS_ERR_X509_CERT_VERIFY_FAILED (after a close_notify)
 * when the handshake completed without that (resumed, or verification
 * turned off after setup). Other values as mbedtls_ssl_handshake(),
 * including MBEDTLS_ERR_SSL_WANT_READ/WRITE: call it again.
 */
CERTPIN_API int certpin_mbedtls_handshake(mbedtls_ssl_context *ssl, certpin_mbedtls_conn *conn);

/** The verdict of the last check on conn, or NULL when none ran (borrowed). */
CERTPIN_API const certpin_verdict *certpin_mbedtls_verdict(const certpin_mbedtls_conn *conn);

/**
 * After mbedtls_ssl_handshake() returned 0: CERTPIN_OK only when a check ran
 * and allowed the connection. A belt-and-braces test for applications that
 * want to assert it; CERTPIN_E_INTERNAL otherwise.
 */
CERTPIN_API certpin_err certpin_mbedtls_check(const certpin_mbedtls_conn *conn);

/**
 * Offline: validates chain (leaf first, then the intermediates offered) for
 * host against trust with mbedTLS (the profile and webpki rules above), then evaluates policy on the chain mbedTLS built. now
 * sets the time for validity dates and pin expiry (mbedTLS's own date checks
 * are replaced by checks against now). The same verdicts as
 * certpin_openssl_verify() in the OpenSSL build, used by the differential
 * tests.
 * @param chain borrowed; chain->next ... are the intermediates
 * @param trust borrowed; anchors (unless the rule pins its own)
 * @return CERTPIN_OK whenever a verdict was produced (see certpin_evaluate()).
 */
CERTPIN_API certpin_err certpin_mbedtls_verify(const certpin_policy *policy, const char *host,
                                               mbedtls_x509_crt *chain, mbedtls_x509_crt *trust,
                                               int64_t now, certpin_verdict **verdict);

#ifdef __cplusplus
}
#endif

#endif
