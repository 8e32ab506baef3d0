/*
 * certpin — OpenSSL integration.
 *
 * certpin_openssl_verify() validates a chain with OpenSSL (trust anchors,
 * validity dates, host name with no partial wildcards, serverAuth purpose)
 * and then evaluates the policy on the chain OpenSSL built and validated.
 * The offline `certpin eval` command and the TLS adapter share it.
 *
 * The rules at the top of certpin.h apply.
 */
#ifndef CERTPIN_OPENSSL_H
#define CERTPIN_OPENSSL_H

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "certpin.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Pass as `now` to use the current time. */
#define CERTPIN_TIME_NOW INT64_MIN

/**
 * Validates leaf (plus untrusted intermediates) for host at time now against
 * trust, then evaluates policy on the validated chain.
 *
 * Trust anchors: `trust` (borrowed), unless the host's rule says
 * `"trust_anchors": "pinned"`, in which case only that rule's pinned CA
 * certificates are anchors. Host names are checked with
 * X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS (and, for the "webpki" profile, never
 * against the subject CN); IP literals match IP SANs only. Under "webpki"
 * the chain OpenSSL built must also pass the named rules of docs/webpki.md;
 * a failed rule's name ("webpki.eku-server-auth", ...) starts the verdict
 * reason. Path building considers at most 32 untrusted certificates, retries
 * at most 4 times without an intermediate where a path dead-ended, and keeps
 * a lower depth limit set on `trust` (X509_STORE_set_depth); it never allows
 * more than 14 intermediates.
 *
 * @param untrusted intermediates offered by the peer, or NULL (borrowed)
 * @param now       CERTPIN_TIME_NOW or the time for validity and expiry
 * @param verdict   as in certpin_evaluate()
 * @return as certpin_evaluate(): CERTPIN_OK whenever a verdict was produced;
 *         a validation failure is verdict CERTPIN_V_CHAIN_INVALID or
 *         CERTPIN_V_HOSTNAME_MISMATCH with OpenSSL's reason.
 */
CERTPIN_API certpin_err certpin_openssl_verify(const certpin_policy *policy, const char *host,
                                               X509 *leaf, STACK_OF(X509) *untrusted,
                                               X509_STORE *trust, int64_t now,
                                               certpin_verdict **verdict);


/* ------------------------------------------------------------------------ */
/* TLS adapter: pinning every client connection of an SSL_CTX                */
/* ------------------------------------------------------------------------ */

/**
 * The TLS extension type certpin registers on an attached SSL_CTX
 * (SSL_CTX_add_custom_ext) to get a hook into every ClientHello. It is from
 * the private-use range and is never sent. An application that registers
 * the same type on the same SSL_CTX cannot attach certpin.
 */
#define CERTPIN_OPENSSL_EXT_TYPE 0xFFCEu

/**
 * Pins every client connection (SSL) made from sctx with the policy that c
 * holds at the time of each handshake. Call it once per SSL_CTX, before the
 * SSL_CTX is shared between threads and before SSL_new(): an SSL made
 * earlier does not get the resumption hook. To change the policy later, use
 * certpin_ctx_set_policy() on c.
 *
 * What it installs:
 *  - A reference to c in the SSL_CTX's ex_data, dropped when the SSL_CTX is
 *    freed.
 *  - SSL_CTX_set_cert_verify_callback(): for each server certificate chain
 *    it takes the host name of the connection — the host set with
 *    SSL_set1_host() (the first one; an IP address set that way counts),
 *    else the SNI name (SSL_set_tlsext_host_name()); none blocks with
 *    CERTPIN_V_INTERNAL_ERROR "no host name" — takes a snapshot of c's
 *    policy and calls certpin_openssl_verify() with the peer's chain and the
 *    SSL's verify store. Validation (trust, dates, host name without
 *    partial wildcards, purpose) and pinning both run on the chain that
 *    validation built. A blocked verdict fails the handshake with verify
 *    result X509_V_ERR_APPLICATION_VERIFICATION (for every kind of block:
 *    the verdict says which); an allowed one sets X509_V_OK.
 *  - SSL_CTX_set_info_callback(), chained to the callback that was set
 *    before (if any), and the ClientHello hook of CERTPIN_OPENSSL_EXT_TYPE,
 *    for resumption (below).
 *
 * Ordinary validation when the application asked for less (invariant 4):
 * certpin validates every chain itself, because a pin means nothing on an
 * unvalidated chain. So with certpin attached, SSL_VERIFY_NONE does NOT turn
 * validation off: a client that set SSL_VERIFY_NONE gets full validation for
 * every host, pinned or not, and an invalid chain fails the handshake. When
 * the check blocks on a connection whose verify mode is SSL_VERIFY_NONE,
 * certpin switches that SSL to SSL_VERIFY_PEER before returning failure,
 * since OpenSSL ignores a failed certificate check in SSL_VERIFY_NONE mode
 * (the SSL keeps that mode afterwards).
 * Likewise the application's verify callback (SSL_CTX_set_verify()) is not
 * consulted and cannot turn a failure into success, and settings made on
 * the SSL's or SSL_CTX's X509_VERIFY_PARAM other than the host (flags,
 * depth, purpose) are not applied; those of the verify store are, except
 * for the ones that would weaken validation (see certpin_openssl_verify).
 * SSL_get0_verified_chain() is NULL after a check: certpin's validated
 * chain is in the verdict (pins and subjects).
 *
 * Session resumption (invariant 5). OpenSSL skips certificate verification
 * when a client resumes a session, so certpin checks the session before it
 * is offered:
 *  - When a handshake passes the check, certpin tags the SSL_SESSION (its
 *    ex_data, copied into TLS 1.3 ticket sessions) with c's identity, the
 *    policy generation and the host name.
 *  - At the start of every client handshake (SSL_CB_HANDSHAKE_START) a
 *    session about to be offered is re-checked: its tag must name c, the
 *    current generation and this connection's host, and its peer chain is
 *    validated again and evaluated under the current policy now. A session
 *    that fails is dropped (SSL_set_session(ssl, NULL)) and a full handshake
 *    with the full check follows; so after certpin_ctx_set_policy(), no
 *    session made under an earlier policy is resumed. A session that passes
 *    is offered, and if the server resumes it the re-check's verdict is the
 *    connection's verdict.
 *  - The ClientHello hook repeats the re-check if the info callback did not
 *    run (the application replaced it): a session that fails then aborts
 *    the handshake (fail closed) instead of being dropped.
 *  - At SSL_CB_HANDSHAKE_DONE, a client handshake that finished without any
 *    certificate check (a replaced cert verify callback, an external PSK)
 *    is made unusable: the verdict becomes CERTPIN_V_INTERNAL_ERROR, the
 *    verify result X509_V_ERR_APPLICATION_VERIFICATION, and the connection
 *    is marked shut down, so SSL_write fails and SSL_read returns 0.
 * Sessions read back with d2i_SSL_SESSION carry no tag and are never
 * resumed. Do not replace the cert verify or info callback after attaching.
 *
 * Server-side SSLs made from sctx are not pinned: for client certificates
 * the callback runs OpenSSL's X509_verify_cert() unchanged.
 *
 * @param c a reference is taken
 * @return CERTPIN_OK; CERTPIN_E_INVALID_ARG when sctx is already attached;
 *         CERTPIN_E_NOMEM; CERTPIN_E_INTERNAL when OpenSSL refuses an index
 *         or the extension hook.
 */
CERTPIN_API certpin_err certpin_openssl_attach(SSL_CTX *sctx, certpin_ctx *c);

/**
 * The verdict of the last certificate check of ssl's current handshake,
 * allowed or blocked, or NULL when no check has run (yet) in it. Borrowed
 * from ssl: valid until the next handshake on ssl or SSL_free(); the SSL
 * keeps a reference to the policy the verdict was made with, so its rule
 * and certpin_verdict_format() stay valid across policy swaps.
 */
CERTPIN_API const certpin_verdict *certpin_openssl_get_verdict(const SSL *ssl);

#ifdef __cplusplus
}
#endif

#endif /* CERTPIN_OPENSSL_H */
