/*
 * certpin — libcurl integration (OpenSSL-backed libcurl only).
 *
 * One call pins an easy handle: every TLS connection the handle makes, for
 * the first URL, each redirect, with CURLOPT_RESOLVE / CURLOPT_CONNECT_TO,
 * inside a multi handle, is checked by the OpenSSL adapter
 * (certpin_openssl_attach) for the host of that connection, and a reused
 * connection is checked again when the policy changed since its handshake.
 *
 * The rules at the top of certpin.h apply.
 */
#ifndef CERTPIN_CURL_H
#define CERTPIN_CURL_H

#include <curl/curl.h>

#include "certpin.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Pins every TLS connection of easy with the policy that c holds at the time
 * of each check.
 *
 * What it sets on easy (do not set these options afterwards, or pinning
 * stops or fails closed): CURLOPT_SSL_CTX_FUNCTION and CURLOPT_SSL_CTX_DATA,
 * CURLOPT_PREREQFUNCTION and CURLOPT_PREREQDATA. An application callback
 * already set for one of them is replaced.
 *
 *  - New connections. libcurl (7.88) makes one SSL_CTX per connection and
 *    calls the SSL_CTX function for it; certpin attaches c to it with
 *    certpin_openssl_attach(), so the handshake check, the
 *    SSL_VERIFY_NONE handling and the resumption re-check of
 *    certpin_openssl.h apply. The host checked is the connection's: libcurl
 *    never calls SSL_set1_host() but always sends the URL's host name as SNI
 *    (also with CURLOPT_SSL_VERIFYHOST or CURLOPT_SSL_VERIFYPEER 0, and with
 *    CURLOPT_CONNECT_TO / CURLOPT_RESOLVE, which change only the address),
 *    and the adapter takes the SNI name. For an IP-literal URL host libcurl
 *    sends no SNI; certpin then sets that address on the new SSL_CTX's
 *    X509_VERIFY_PARAM (taken from CURLINFO_EFFECTIVE_URL, which libcurl has
 *    already moved to the redirect target), so the IP is checked against IP
 *    SANs. No host at all blocks.
 *  - Reused connections (CURLOPT_PREREQFUNCTION runs before each request, on
 *    a new or reused connection): when the connection's last successful
 *    check was not made under c's current policy generation — or not by c
 *    at all, e.g. a connection an unpinned handle left in a shared pool —
 *    its peer chain is validated and evaluated again, now, under the current
 *    policy, for the request's host; a block aborts the transfer
 *    (CURLE_ABORTED_BY_CALLBACK). So after certpin_ctx_set_policy() no
 *    request goes over a connection checked under an older policy.
 *  - libcurl's TLS session cache is left on: the adapter re-checks every
 *    session at handshake start (policy generation, host, chain).
 *
 * CURLOPT_SSL_VERIFYPEER = 0 (invariant 4): pins are still enforced, and, as
 * with SSL_VERIFY_NONE in the OpenSSL adapter, the chain is still validated
 * (dates, host name without partial wildcards, trust): the option no longer
 * makes a transfer insecure. libcurl loads no CURLOPT_CAINFO / CAPATH when
 * VERIFYPEER is 0, so certpin then validates against OpenSSL's default store
 * (SSL_CTX_set_default_verify_paths) or, for a rule with
 * "trust_anchors": "pinned", the rule's pinned CA certificates; a server
 * whose CA is only in CURLOPT_CAINFO is then blocked (CHAIN_INVALID). CURLOPT_SSL_VERIFYHOST = 0 likewise does not turn off
 * the host-name check. A block fails the transfer, usually with
 * CURLE_PEER_FAILED_VERIFICATION ("application verification failure").
 *
 * Not supported: HTTPS proxies (libcurl may run the SSL_CTX function for the
 * proxy connection too; with an IP-literal URL host that proxy handshake is
 * checked against the URL's address and blocked), other TLS backends.
 *
 * Lifetime: certpin keeps per-handle state (a reference to c and the last
 * verdict), found by the handle's address. libcurl has no per-handle
 * destructor hook, so the application MUST call certpin_curl_unpin() before
 * curl_easy_cleanup(easy). curl_easy_duphandle() copies the callbacks but
 * not the registration: call certpin_curl_pin() on the copy; until then its
 * new TLS connections fail. curl_easy_reset() clears the options: call
 * certpin_curl_pin() again (allowed on a pinned handle).
 *
 * @param c a reference is taken (dropped by certpin_curl_unpin; SSL_CTXs of
 *          live connections hold their own)
 * @return CERTPIN_OK; CERTPIN_E_INVALID_ARG when libcurl is not built with
 *         OpenSSL (curl_version_info()->ssl_version does not start with
 *         "OpenSSL") or rejects an option (too old: 7.80 or later needed);
 *         CERTPIN_E_NOMEM; CERTPIN_E_INTERNAL. On failure the handle's
 *         options are as before the call, or unpinned.
 * Call it from the thread that owns easy, not during a transfer.
 */
CERTPIN_API certpin_err certpin_curl_pin(CURL *easy, certpin_ctx *c);

/**
 * Removes pinning from easy (resets the four options above to NULL) and
 * frees its state. Connections already checked stay in libcurl's pool.
 * No-op when easy is NULL or not pinned.
 */
CERTPIN_API void certpin_curl_unpin(CURL *easy);

/**
 * Code of the last certificate check made for easy's connections: a
 * handshake (allowed or blocked) or a re-check of a reused connection. Not
 * reset per transfer: compare with the transfer's CURLcode. 0 when no check
 * has run since certpin_curl_pin, or easy is not pinned.
 */
CERTPIN_API certpin_verdict_code certpin_curl_last_verdict_code(CURL *easy);

/**
 * Copies the message of that check (certpin_verdict_format(): for a block,
 * the multi-line failure message with the validated chain and the pins)
 * into buf and NUL-terminates it when n > 0, truncating. "" when there is
 * none. The text was formatted when the check ran (the SSL is gone by the
 * time a failed transfer returns).
 * @return the length of the full text, excluding the NUL (snprintf-like)
 */
CERTPIN_API size_t certpin_curl_last_message(CURL *easy, char *buf, size_t n);

/** As certpin_curl_last_message, for the normalised host that was checked. */
CERTPIN_API size_t certpin_curl_last_host(CURL *easy, char *buf, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* CERTPIN_CURL_H */
