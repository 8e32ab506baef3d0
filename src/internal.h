/*
 * Internal declarations shared by the library's source files. Nothing here
 * is exported; tests link the static library and may use it.
 */
#ifndef CERTPIN_INTERNAL_H
#define CERTPIN_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "certpin/certpin.h"
#include "certpin/certpin_bundle.h"

#define CP_WUR __attribute__((warn_unused_result))

/* GUARD: return the error of a failing call that returns certpin_err. */
#define CP_GUARD(x)                                                                                \
	do {                                                                                       \
		certpin_err cp_guard_rc_ = (x);                                                    \
		if (cp_guard_rc_ != CERTPIN_OK)                                                    \
			return cp_guard_rc_;                                                       \
	} while (0)

/* ENSURE: return `rc` when a condition does not hold. */
#define CP_ENSURE(cond, rc)                                                                        \
	do {                                                                                       \
		if (!(cond))                                                                       \
			return (rc);                                                               \
	} while (0)

/* ---- bounds-checked byte slices --------------------------------------- */

typedef struct cp_slice {
	const uint8_t *p;
	size_t n;
} cp_slice;

/* ---- errors (src/core/error.c) ----------------------------------------- */

/*
 * Sets err (if non-NULL) to code with a printf-style message; clears file,
 * position and path. Returns code so callers can `return cp_err_set(...)`.
 */
certpin_err cp_err_set(certpin_error *err, certpin_err code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prefixes err->path with prefix ("domains[3]" + "." + old path). */
void cp_err_prefix_path(certpin_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Length of the longest prefix of s[0..n) that does not end inside a UTF-8
 * sequence (for cutting text to a buffer). */
size_t cp_utf8_cut(const char *s, size_t n);
/* Wipes n bytes at p in a way the compiler cannot remove. */
void cp_memzero(void *p, size_t n);
/* Bounded string copy that always NUL-terminates (n > 0). */
void cp_strlcpy(char *dst, const char *src, size_t n);

/* ---- crypto (src/core/crypto_openssl.c; an mbedTLS file may replace it) - */

/* SHA-256 of p[0..n). Returns 0 on success, -1 on a crypto library failure. */
int cp_sha256(const uint8_t *p, size_t n, uint8_t out[CERTPIN_HASH_LEN]) CP_WUR;

/*
 * For a caller that hashes several things in a row: the calling thread's
 * SHA-256 context, looked up once (cp_sha256 looks it up per hash). Owned by
 * the thread, freed at its exit: use it only on that thread and do not keep
 * it. NULL on a crypto library failure.
 */
typedef struct cp_sha256_ctx cp_sha256_ctx;
cp_sha256_ctx *cp_sha256_ctx_get(void) CP_WUR;
/* cp_sha256 on ctx from cp_sha256_ctx_get; a NULL ctx fails (-1, out zeroed). */
int cp_sha256_with(cp_sha256_ctx *ctx, const uint8_t *p, size_t n,
                   uint8_t out[CERTPIN_HASH_LEN]) CP_WUR;

/* ---- base64 (src/core/pin.c) ------------------------------------------- */

/* Standard base64 with padding. out must hold 4*ceil(n/3)+1 bytes. Returns length. */
size_t cp_b64_encode(const uint8_t *in, size_t n, char *out);
/*
 * Strict decode: standard alphabet, canonical padding (unused bits zero),
 * no whitespace. Returns the decoded length or (size_t)-1 on any error or if
 * the result would exceed cap. *why gets a static reason on error.
 */
size_t cp_b64_decode_strict(const char *in, size_t n, uint8_t *out, size_t cap, const char **why);

/* ---- JWS keys (crypto backend: src/core/jwk_openssl.c) ------------------ */

enum cp_jws_alg { CP_ALG_ES256 = 1, CP_ALG_EDDSA = 2 };
/* A P-256 or Ed25519 key: public, or private (then it can sign). */
typedef struct cp_jkey cp_jkey;
/* From PEM (public key, or a private key). CERTPIN_E_KEY_FILE when there is
 * no P-256/Ed25519 key. */
certpin_err cp_jkey_from_pem(const char *pem, size_t len, cp_jkey **out, certpin_error *err) CP_WUR;
/* From JWK members: x (and y for EC), raw bytes; the point is checked. */
certpin_err cp_jkey_from_raw(enum cp_jws_alg alg, const uint8_t *x, size_t xl, const uint8_t *y,
                             size_t yl, cp_jkey **out) CP_WUR;
void cp_jkey_free(cp_jkey *k);
enum cp_jws_alg cp_jkey_alg(const cp_jkey *k);
int cp_jkey_is_private(const cp_jkey *k);
/* Raw public coordinates: x (32 bytes) and, for EC, y (32 bytes; NULL for Ed25519). */
const uint8_t *cp_jkey_x(const cp_jkey *k);
const uint8_t *cp_jkey_y(const cp_jkey *k);
/* 1 when sig is a valid signature of msg by k (ES256: 64-byte R||S). */
int cp_jkey_verify(const cp_jkey *k, const uint8_t *msg, size_t n, const uint8_t *sig, size_t sl);
/* Signs msg with a private key: 64 bytes into sig. 0 or -1. */
int cp_jkey_sign(const cp_jkey *k, const uint8_t *msg, size_t n, uint8_t sig[64]) CP_WUR;
/* A PEM "PUBLIC KEY" of k into buf (NUL-terminated); length or 0. */
size_t cp_jkey_public_pem(const cp_jkey *k, char *buf, size_t n);

/* ---- key sets for the updater's cache (src/formats/bundle.c) ------------- */

struct json_t;
/* The keys as an array of JWKs (a new jansson reference), or NULL. */
struct json_t *cp_keyset_to_json(const certpin_keyset *ks);
/* An array of 1..16 JWKs into a new key set; CERTPIN_E_BUNDLE when malformed. */
certpin_err cp_keyset_from_json(struct json_t *arr, certpin_keyset **out) CP_WUR;
/* A new set with the keys of a and b (either may be NULL), or NULL. */
certpin_keyset *cp_keyset_union(const certpin_keyset *a, const certpin_keyset *b);

/* The payload of a bundle whose signature was verified: claims (exp against
 * now, aud when not NULL), then the policy (named name). For the fuzz target
 * as well as certpin_bundle_verify. */
certpin_err cp_bundle_parse_payload(const uint8_t *payload, size_t len, const char *name,
                                    int64_t now, const char *aud, certpin_bundle **out,
                                    certpin_error *err) CP_WUR;

/* ---- base64url (src/formats/bundle.c) ----------------------------------- */

/* Unpadded base64url; out must hold 4*ceil(n/3)+1 bytes. Returns length. */
size_t cp_b64url_encode(const uint8_t *in, size_t n, char *out);
/* Strict: base64url alphabet, no padding, canonical (unused bits zero).
 * Decoded length, or (size_t)-1 (bad input, or more than cap bytes). */
size_t cp_b64url_decode(const char *in, size_t n, uint8_t *out, size_t cap);

/* ---- DER walking (src/core/der.c) -------------------------------------- */

/* Slices of a certificate, located without building an X509 object. */
typedef struct cp_cert_view {
	cp_slice whole;   /* the outer Certificate SEQUENCE, tag and length included */
	cp_slice tbs;     /* TBSCertificate, tag and length included */
	cp_slice issuer;  /* Name, tag and length included */
	cp_slice subject; /* Name, tag and length included */
	cp_slice spki;    /* SubjectPublicKeyInfo, tag and length included */
} cp_cert_view;

/*
 * Walks a DER certificate: Certificate ::= SEQUENCE { tbs, sigAlg, sig }, and
 * within tbs the optional [0] version, serial, signature, issuer, validity,
 * subject, subjectPublicKeyInfo. Strict DER lengths (definite, minimal), the
 * outer SEQUENCE must span exactly len bytes. Returns CERTPIN_OK or
 * CERTPIN_E_DER.
 */
certpin_err cp_der_cert_view(const uint8_t *der, size_t len, cp_cert_view *out) CP_WUR;

/*
 * Reads one DER TLV at in[0..n): tag (single-byte tags only), definite
 * minimal length. On success *hdr is the header length and *vlen the value
 * length, with hdr + vlen <= n. Returns 0 or -1.
 */
int cp_der_tlv(const uint8_t *in, size_t n, uint8_t *tag, size_t *hdr, size_t *vlen) CP_WUR;

/*
 * Checks that der[0..len) is exactly one DER SubjectPublicKeyInfo:
 * SEQUENCE { SEQUENCE { OID, [NULL | OID | SEQUENCE] }, BIT STRING } with
 * strict lengths and zero unused bits. Returns 0 or -1.
 */
int cp_der_spki_check(const uint8_t *der, size_t len) CP_WUR;

/* ---- host names and patterns (src/core/host.c) ------------------------- */

typedef enum cp_host_kind {
	CP_HOST_EXACT = 0,    /* "api.example.com" or an IP literal */
	CP_HOST_WILDCARD = 1, /* "*.example.com": exactly one label below `name` */
	CP_HOST_SUBTREE = 2,  /* "**.example.com" or include_subdomains: name and below */
} cp_host_kind;

typedef struct cp_host_pattern {
	cp_host_kind kind;
	int is_ip;
	size_t len;                         /* strlen(name) */
	char name[CERTPIN_HOST_MAX + 1];    /* normalised, without "*." / "**." */
} cp_host_pattern;

/*
 * Parses a policy host (exact name, IP literal, "*.name", "**.name"), with
 * include_subdomains turning an exact name into CP_HOST_SUBTREE. Rejects
 * patterns on IP literals, include_subdomains on IPs or patterns, '*'
 * anywhere but a whole leftmost "*" / "**" label, U-labels (error says to
 * use punycode), and everything certpin_host_normalize rejects.
 * Returns CERTPIN_OK or CERTPIN_E_HOST with err->message set.
 */
certpin_err cp_host_pattern_parse(const char *s, size_t n, int include_subdomains,
                                  cp_host_pattern *out, certpin_error *err) CP_WUR;

/*
 * Lookup-side normalisation into out[CERTPIN_HOST_MAX + 1] (see
 * certpin_host_normalize). Returns CERTPIN_OK or CERTPIN_E_HOST.
 */
certpin_err cp_host_normalize(const char *s, size_t n, char *out, size_t *outlen, int *is_ip,
                              certpin_error *err) CP_WUR;

/* Canonical text of a pattern ("*.x", "**.x", "x") into out; returns length. */
size_t cp_host_pattern_text(const cp_host_pattern *pat, char *out, size_t n);

/*
 * What a rule keeps of its pattern: the index key. 16 bytes where a
 * cp_host_pattern takes 272, as a policy holds up to CERTPIN_MAX_DOMAINS.
 */
typedef struct cp_host_key {
	uint8_t kind;     /* cp_host_kind */
	uint8_t is_ip;    /* 0 or 1 */
	uint16_t len;     /* strlen(name), at most CERTPIN_HOST_MAX */
	const char *name; /* normalised, NUL-terminated; borrowed (see below) */
} cp_host_key;

/*
 * The key of pat, naming `name` (borrowed, must outlive the key): a copy of
 * pat->name, NUL-terminated, such as the tail of the rule's host_text after
 * its "*." / "**." prefix, or pat->name itself while pat lives.
 */
cp_host_key cp_host_key_make(const cp_host_pattern *pat, const char *name);

/* ---- rules and policy -------------------------------------------------- */

typedef struct cp_pin_list {
	certpin_pin *v;
	size_t n;
} cp_pin_list;

/*
 * A policy holds up to CERTPIN_MAX_DOMAINS of these, so they are kept small
 * (128 bytes on LP64): fields in decreasing alignment so none pads the next,
 * and counts, bounded by the CERTPIN_MAX_* caps, in narrow types.
 */
struct certpin_rule {
	char *host_text;  /* canonical pattern text; the rule's one block, owned */
	cp_host_key key;  /* key.name points into host_text */
	cp_pin_list pins; /* any position (includes pin_files pins) */
	cp_pin_list leaf_pins;
	cp_pin_list ca_pins;
	int64_t expires; /* first expired second */
	char **report_uris;
	cp_slice *anchors; /* owned DER copies of pinned CA certificates */
	certpin_on_expiry on_expiry;
	certpin_mode mode;
	certpin_trust_anchors trust_anchors;
	certpin_validation validation; /* never DEFAULT once in a policy */
	uint32_t spec_index;           /* position in load order (domains[i]) */
	uint16_t n_report_uris;
	uint16_t n_anchors;
	/*
	 * Pins from pin_files that came from self-signed CA certificates (roots):
	 * when every pin of the rule is one of these, the loader warns root-only.
	 */
	uint16_t n_root_pins;
	uint8_t exclude; /* flags: 0 or 1 */
	uint8_t include_subdomains;
	uint8_t has_cert_pins; /* any CERTPIN_PIN_CERT_SHA256 in the three lists */
	uint8_t has_expires;
};

/* Frees what a rule owns (not the rule struct itself). */
void cp_rule_clear(struct certpin_rule *r);

/* Lookup index (src/core/index.c): open-addressing hash of exact names and
 * pattern suffixes, answered by walking the host's parent domains. */
typedef struct cp_index cp_index;

/*
 * Builds an index over rules[0..n) (borrowed: must outlive the index).
 * On a duplicate (same kind and name) returns CERTPIN_E_DUPLICATE with
 * *dup_a < *dup_b the two rule positions. CERTPIN_E_NOMEM otherwise.
 */
certpin_err cp_index_build(const struct certpin_rule *rules, size_t n, cp_index **out,
                           size_t *dup_a, size_t *dup_b) CP_WUR;
/* host must be normalised (cp_host_normalize). NULL when no rule applies. */
const struct certpin_rule *cp_index_lookup(const cp_index *idx, const char *host, size_t len,
                                           int is_ip);
void cp_index_free(cp_index *idx);
/* Bytes allocated by the index (for the benchmark's memory figure). */
size_t cp_index_memory(const cp_index *idx);

struct certpin_policy {
	atomic_uint refs;
	certpin_unlisted unlisted;
	certpin_validation validation; /* policy default, never DEFAULT */
	struct certpin_rule *rules;
	size_t n_rules;
	cp_index *index;
};

/* ---- warnings ---------------------------------------------------------- */

typedef struct cp_warning {
	certpin_warning_kind kind;
	size_t rule;           /* index of the rule the warning is about */
	certpin_error where;   /* path relative to the rule; message */
} cp_warning;

struct certpin_warnings {
	cp_warning *v;
	size_t n;
	size_t cap;
};

certpin_err cp_warnings_add(struct certpin_warnings *w, certpin_warning_kind kind, size_t rule,
                            const char *path, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ---- time (src/core/time.c) -------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (no range checks). */
int64_t cp_days_from_civil(int64_t y, unsigned m, unsigned d);

/* ---- verdicts (src/core/verdict.c, src/core/evaluate.c) ----------------- */

/* Subject text of a DER Name (RFC 2253), for messages; crypto-backend file. */
certpin_err cp_name_to_text(const uint8_t *der, size_t len, char *buf, size_t n);

/* ---- policy JSON (src/formats/policy_json.c) -------------------------- */

/*
 * certpin_policy_load_mem with a switch for the fuzz target: jansson_only
 * turns off the loader's fast path for plain domain objects, so both ways
 * can be compared (src/formats/policy_json.c).
 */
certpin_err cp_policy_load_mem_ex(const char *json, size_t len, const char *name,
                                  const char *base_dir, unsigned flags, int jansson_only,
                                  certpin_policy **out, certpin_warnings **warnings,
                                  certpin_error *err);

/* ---- policy holder (src/core/ctx.c) ------------------------------------ */

/*
 * The current policy (a new reference; the caller frees it) and a generation
 * no newer than the policy's. Lock-free (src/core/ctx.c). NULL when c is
 * NULL: callers block.
 */
certpin_policy *cp_ctx_snapshot(certpin_ctx *c, uint64_t *generation) CP_WUR;
/* A number that identifies c in this process and is never reused. */
uint64_t cp_ctx_id(const certpin_ctx *c);

/* ---- evaluation on located slices (src/core/evaluate.c) --------------- */

/*
 * One certificate of a chain as slices its TLS library already located (all
 * borrowed, must outlive the call): the DER SubjectPublicKeyInfo and subject
 * Name, tag and length included, and the whole DER certificate, which may be
 * {NULL, 0} unless the host's rule has cert-sha256 pins (has_cert_pins).
 */
typedef struct cp_chain_slices {
	cp_slice spki;
	cp_slice subject;
	cp_slice whole;
} cp_chain_slices;

/*
 * certpin_evaluate on chain[0..n) given as slices (leaf first, the validated
 * chain), for adapters that must not re-encode what they parsed. Same
 * verdict; a missing spki or subject, or a missing whole certificate when the
 * rule needs it, fails closed with INTERNAL_ERROR.
 */
certpin_err cp_evaluate_slices(const certpin_policy *policy, const char *host,
                               const cp_chain_slices *chain, size_t n, int64_t now,
                               certpin_verdict **verdict) CP_WUR;

/* Grows v's subject buffer to subject_bytes now, so that evaluations of
 * chains whose subjects fit allocate nothing (the mbedTLS adapter). */
certpin_err cp_verdict_reserve(certpin_verdict *v, size_t subject_bytes) CP_WUR;

/* ---- chains kept by reportable verdicts (src/core/evaluate.c) ---------- */

/* certpin_verdict_reportable(): a verdict a violation report is made for. */
int cp_verdict_reportable(const certpin_verdict *v);
/*
 * Appends a copy of one DER certificate to the verdict's served or validated
 * chain (at most CERTPIN_MAX_CHAIN each, 512 KiB for both). Cleared when the
 * verdict is reset. CERTPIN_E_TOO_LARGE past a cap, CERTPIN_E_NOMEM.
 */
certpin_err cp_verdict_add_cert(certpin_verdict *v, certpin_chain_kind which, const uint8_t *der,
                                size_t len) CP_WUR;

/* ---- reports (src/report/reporter.c) ----------------------------------- */

typedef struct certpin_reporter certpin_reporter;
/* The holder's reporter as a new reference (certpin_reporter_free), or NULL. */
certpin_reporter *cp_ctx_reporter(certpin_ctx *c);
/*
 * The adapters' hook: when v is reportable and c has a reporter, submits v
 * (made with policy p; the served chain is the verdict's) with port.
 * Costs one switch on the verdict code otherwise.
 */
void cp_report_verdict(certpin_ctx *c, const certpin_policy *p, const certpin_verdict *v,
                       unsigned port);
/*
 * The port reports of sctx's connections name when an SSL has no socket to
 * ask (libcurl's BIO): set by the libcurl adapter right after attaching.
 * CERTPIN_E_INVALID_ARG when sctx is not attached.
 */
typedef struct ssl_ctx_st SSL_CTX;
certpin_err cp_openssl_set_port_hint(SSL_CTX *sctx, unsigned port);
/* Tests: the reporter's clock (seconds) for dedup windows and "date-time". */
void cp_reporter_set_clock(certpin_reporter *r, int64_t (*now)(void));

/* ---- webpki profile, backend-neutral parts (src/tls/webpki_names.c) ---- */

/*
 * A DNS name in preferred name syntax (RFC 1034 3.5 as RFC 5280 4.2.1.6
 * requires): LDH labels of 1..63 octets, no hyphen at either end, at most
 * 253 octets. With allow_wildcard, the leftmost label may be exactly "*".
 */
int cp_webpki_dns_syntax_ok(const unsigned char *s, size_t len, int allow_wildcard);
/*
 * webpki.public-suffix-wildcard, for a host that is not itself a dNSName of
 * the leaf (so it matched through "*.<parent of host>"): 1 when that parent
 * is a public suffix (libpsl's compiled-in list, ICANN and private
 * sections), or no list is available (fail closed); 0 otherwise.
 */
int cp_webpki_wildcard_over_public_suffix(const char *host);

#endif /* CERTPIN_INTERNAL_H */
