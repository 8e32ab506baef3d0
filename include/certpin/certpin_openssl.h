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
 * against the subject CN); IP literals match IP SANs only.
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

#ifdef __cplusplus
}
#endif

#endif /* CERTPIN_OPENSSL_H */
