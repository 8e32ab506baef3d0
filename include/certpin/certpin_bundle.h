/*
 * certpin signed pin bundles and the updater.
 *
 * A pin bundle is a JWS (RFC 7515) in compact serialization:
 *   BASE64URL(header) "." BASE64URL(payload) "." BASE64URL(signature)
 * header  = {"alg": "ES256" | "EdDSA", "kid": THUMBPRINT, "typ": "certpin-bundle+jws"}
 *           and nothing else (no "jwk", "jku", "x5u", "crit", ...); kid is the
 *           RFC 7638 JWK SHA-256 thumbprint (base64url) of the signing key.
 * payload = a certpin policy (the JSON object of ../shared/ARCHITECTURE.md)
 *           with these claims beside "certpin" and "domains":
 *             "seq"  integer 1..2^53-1, strictly increasing per publisher
 *             "iat"  issued at, seconds since the epoch
 *             "exp"  the bundle's expiry, seconds since the epoch (> iat)
 *             "aud"  optional: the application the bundle is for
 *             "signers" optional: the public keys (JWKs) that may sign the
 *                    next bundles; accepted only inside a bundle signed by a
 *                    key trusted now (signing-key rotation)
 * ES256 is ECDSA P-256 with SHA-256 and the 64-byte R||S signature of RFC
 * 7518 3.4; EdDSA is Ed25519 (RFC 8037). Any other "alg" (none, HS256,
 * RS256, ...), a kid that names no trusted key, or an alg that does not
 * match the key the kid names is refused.
 *
 * The rules of certpin.h hold here (NULL arguments, _free(NULL), errors).
 */
#ifndef CERTPIN_BUNDLE_H
#define CERTPIN_BUNDLE_H

#include "certpin/certpin.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Hard cap on a bundle's size (the policy cap plus the JWS overhead). */
#define CERTPIN_BUNDLE_MAX (2u * 1024u * 1024u)
/** A kid: 43 base64url characters and a NUL. */
#define CERTPIN_KID_STRLEN 44

/* ------------------------------------------------------------------------ */
/* Keys                                                                      */
/* ------------------------------------------------------------------------ */

/** A set of public keys trusted to sign bundles (at most 16). */
typedef struct certpin_keyset certpin_keyset;

CERTPIN_API certpin_keyset *certpin_keyset_new(void);
CERTPIN_API void certpin_keyset_free(certpin_keyset *ks);
/**
 * Adds the public key in pem (a PEM "PUBLIC KEY", or a private key whose
 * public half is taken): P-256 or Ed25519 only.
 * @param pem copied; need not be NUL-terminated
 * @param kid when not NULL, receives the key's kid (CERTPIN_KID_STRLEN bytes)
 * @return CERTPIN_OK; CERTPIN_E_KEY_FILE (not a P-256/Ed25519 key, or no key);
 *         CERTPIN_E_TOO_LARGE (16 keys already); CERTPIN_E_DUPLICATE (that
 *         key is already in the set); CERTPIN_E_NOMEM.
 */
CERTPIN_API certpin_err certpin_keyset_add_pem(certpin_keyset *ks, const char *pem, size_t len,
                                               char *kid, certpin_error *err);
/** As certpin_keyset_add_pem, from a file (err names the file). */
CERTPIN_API certpin_err certpin_keyset_add_file(certpin_keyset *ks, const char *path, char *kid,
                                                certpin_error *err);
CERTPIN_API size_t certpin_keyset_count(const certpin_keyset *ks);

/* ------------------------------------------------------------------------ */
/* Bundles                                                                   */
/* ------------------------------------------------------------------------ */

/** Claims to sign. */
typedef struct certpin_bundle_claims {
	int64_t seq;       /* 1..2^53-1 */
	int64_t iat;       /* issued at */
	int64_t exp;       /* expiry, > iat */
	const char *aud;   /* NULL: none */
	/* the next signer set, or NULL: the public keys are written as JWKs
	 * under "signers" (borrowed) */
	const certpin_keyset *signers;
} certpin_bundle_claims;

/**
 * Signs a policy into a bundle. The policy text must load as a certpin policy
 * (with pin_files refused: a bundle must be self-contained) and must not hold
 * the claim names already.
 * @param key_pem the private key (PKCS#8 or traditional PEM; P-256 -> ES256,
 *        Ed25519 -> EdDSA), borrowed
 * @param out receives the bundle, NUL-terminated, malloc'd (free() it)
 * @return CERTPIN_OK, CERTPIN_E_KEY_FILE, CERTPIN_E_JSON/SCHEMA/... for the
 *         policy (err names it), CERTPIN_E_INVALID_ARG for bad claims,
 *         CERTPIN_E_NOMEM, CERTPIN_E_INTERNAL.
 */
CERTPIN_API certpin_err certpin_bundle_sign(const char *policy_json, size_t policy_len,
                                            const char *key_pem, size_t key_len,
                                            const certpin_bundle_claims *claims, char **out,
                                            certpin_error *err);

/** A verified bundle. */
typedef struct certpin_bundle certpin_bundle;

/**
 * Parses and verifies a bundle: the JWS structure and header, the signature
 * with the key of keys whose kid the header names, the claims, then the
 * policy. Expiry: exp <= now is refused (CERTPIN_E_EXPIRED). When aud is not
 * NULL the bundle must carry exactly that "aud". Nothing partial is returned.
 * @param name for messages (a file name or URL), copied
 * @return CERTPIN_OK; CERTPIN_E_TOO_LARGE (over CERTPIN_BUNDLE_MAX);
 *         CERTPIN_E_BUNDLE (malformed JWS, header or claims; err says which);
 *         CERTPIN_E_SIGNATURE (unknown kid, alg/key mismatch, bad signature);
 *         CERTPIN_E_EXPIRED; CERTPIN_E_AUDIENCE; policy errors; CERTPIN_E_NOMEM.
 */
CERTPIN_API certpin_err certpin_bundle_verify(const char *jws, size_t len, const char *name,
                                              const certpin_keyset *keys, int64_t now,
                                              const char *aud, certpin_bundle **out,
                                              certpin_error *err);
CERTPIN_API void certpin_bundle_free(certpin_bundle *b);
/** The bundle's policy (borrowed: valid while b lives; certpin_policy_ref() to keep it). */
CERTPIN_API certpin_policy *certpin_bundle_policy(const certpin_bundle *b);
CERTPIN_API int64_t certpin_bundle_seq(const certpin_bundle *b);
CERTPIN_API int64_t certpin_bundle_iat(const certpin_bundle *b);
CERTPIN_API int64_t certpin_bundle_exp(const certpin_bundle *b);
/** "" when the bundle has no aud. */
CERTPIN_API const char *certpin_bundle_aud(const certpin_bundle *b);
CERTPIN_API const char *certpin_bundle_kid(const certpin_bundle *b);
/** "ES256" or "EdDSA". */
CERTPIN_API const char *certpin_bundle_alg(const certpin_bundle *b);
/** The "signers" key set, or NULL when the bundle has none (borrowed). */
CERTPIN_API const certpin_keyset *certpin_bundle_signers(const certpin_bundle *b);

/**
 * Decodes a bundle's header and payload WITHOUT verifying anything, for
 * inspection. *header and *payload receive NUL-terminated malloc'd JSON text.
 * @return CERTPIN_OK, CERTPIN_E_BUNDLE, CERTPIN_E_TOO_LARGE, CERTPIN_E_NOMEM.
 */
CERTPIN_API certpin_err certpin_bundle_decode_unverified(const char *jws, size_t len,
                                                         char **header, char **payload,
                                                         certpin_error *err);

/* ------------------------------------------------------------------------ */
/* Updater                                                                   */
/* ------------------------------------------------------------------------ */

/** Outcome of a start-up or a refresh. This enum only grows. */
typedef enum certpin_update_result {
	CERTPIN_UPDATE_UPDATED = 0,           /* a newer bundle is now enforced */
	CERTPIN_UPDATE_NOT_MODIFIED = 1,      /* 304, or the same seq as now */
	CERTPIN_UPDATE_SIGNATURE_INVALID = 2, /* unknown key, wrong alg, bad signature */
	CERTPIN_UPDATE_ROLLBACK = 3,          /* seq not above the highest seen */
	CERTPIN_UPDATE_EXPIRED = 4,           /* exp has passed */
	CERTPIN_UPDATE_TOO_LARGE = 5,         /* body over max_bundle_size */
	CERTPIN_UPDATE_NETWORK_ERROR = 6,     /* connect, TLS (pinning included), timeout, HTTP status */
	CERTPIN_UPDATE_CACHE_WRITE_FAILED = 7, /* verified, but not persisted: not applied */
	CERTPIN_UPDATE_INVALID = 8,           /* malformed bundle, claims, audience or policy */
	CERTPIN_UPDATE_CACHE_LOADED = 9,      /* start-up: the cached bundle is enforced */
	CERTPIN_UPDATE_BASELINE = 10,         /* start-up: no usable cache, the baseline is enforced */
} certpin_update_result;

/** "updated", "not-modified", ... ; never NULL. */
CERTPIN_API const char *certpin_update_result_name(certpin_update_result r);

/** Called for every outcome, on the thread that caused it (start-up or refresh). */
typedef void (*certpin_update_cb)(void *arg, certpin_update_result result, int64_t seq,
                                  const char *message);

typedef struct certpin_updater_config {
	/* the policy compiled into the app: used when no valid cache exists
	 * (borrowed; the updater takes its own reference) */
	certpin_policy *baseline;
	/* the signer keys the app ships (borrowed; copied) */
	const certpin_keyset *signers;
	/* https:// URL of the bundle */
	const char *url;
	/* a directory private to the app, created if missing (mode 0700) */
	const char *cache_dir;
	/* when not NULL: bundles must carry this "aud" */
	const char *audience;
	/* bundles with seq <= min_seq are refused even with no cache (the seq the
	 * app's release knew); 0 for none */
	int64_t min_seq;
	/* 0 for the defaults: 1 MiB, 10 s, 30 s */
	size_t max_bundle_size;
	long connect_timeout_ms;
	long total_timeout_ms;
	/* trust anchors for the fetch (PEM file) instead of the system store; NULL for the system */
	const char *cafile;
	/* curl CURLOPT_RESOLVE entries ("HOST:PORT:ADDR"), NULL-terminated, or NULL */
	const char *const *resolve;
	certpin_update_cb callback; /* may be NULL */
	void *callback_arg;
} certpin_updater_config;

typedef struct certpin_updater certpin_updater;

/**
 * Creates the updater and sets the start-up policy on ctx: the cached bundle
 * when its signature, seq and exp are valid, otherwise the baseline (the
 * callback hears which, and why the cache was not used). Never leaves ctx
 * without a policy. No network access.
 * @param ctx the holder the app's TLS adapters use (a reference is taken);
 *        bundle fetches are pinned through it too
 * @return the updater, or NULL with err (bad configuration, no memory).
 */
CERTPIN_API certpin_updater *certpin_updater_new(const certpin_updater_config *cfg,
                                                 certpin_ctx *ctx, certpin_error *err);
CERTPIN_API void certpin_updater_free(certpin_updater *u);

/**
 * Fetches the bundle (HTTPS, pinned by ctx's current policy, If-None-Match),
 * verifies it, refuses rollback and expiry, persists it atomically (temporary
 * file, fsync, rename, fsync of the directory) and only then swaps ctx's
 * policy. On any failure the policy in force stays. Blocks for at most the
 * configured timeouts; call it from the app's scheduler, not from a
 * handshake. Refreshes of one updater are serialised.
 * @return the outcome (also given to the callback).
 */
CERTPIN_API certpin_update_result certpin_updater_refresh(certpin_updater *u);

/** The seq in force (0 for the baseline). */
CERTPIN_API int64_t certpin_updater_seq(const certpin_updater *u);

#ifdef __cplusplus
}
#endif

#endif
