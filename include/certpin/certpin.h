/*
 * certpin — TLS certificate and public-key pinning.
 *
 * Core API: pins, host names, policies (load, build, look up) and evaluation
 * of an already-validated certificate chain against a policy.
 *
 * Rules that hold for every function in this header unless its comment says
 * otherwise:
 *  - Pointer arguments MUST NOT be NULL. Functions that return a certpin_err
 *    return CERTPIN_E_INVALID_ARG if one is.
 *  - `_free(NULL)` is a no-op.
 *  - "copied" means certpin keeps its own copy and the caller may release the
 *    argument after the call; "borrowed" means the argument must outlive the
 *    call only, unless the comment says it must outlive an object.
 *  - A `certpin_error *err` argument may be NULL; when it is not, it receives
 *    the code, and where known the file, line:column, JSON path and a one-line
 *    message of the first error.
 *  - Policies are immutable once built and reference-counted: any number of
 *    threads may look up and evaluate on one policy at the same time, without
 *    locks. A verdict object belongs to one thread at a time.
 *  - Times are seconds since the Unix epoch, UTC.
 */
#ifndef CERTPIN_H
#define CERTPIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CERTPIN_STATIC)
#define CERTPIN_API
#elif defined(CERTPIN_BUILDING)
#define CERTPIN_API __attribute__((visibility("default")))
#else
#define CERTPIN_API
#endif

#define CERTPIN_VERSION_STRING "0.1.0"

/** Returns the library version, e.g. "0.1.0". */
CERTPIN_API const char *certpin_version(void);

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

/** Error codes. This enum only grows; values never change meaning. */
typedef enum certpin_err {
	CERTPIN_OK = 0,
	CERTPIN_E_INVALID_ARG = 1,   /* NULL or out-of-range argument */
	CERTPIN_E_NOMEM = 2,         /* allocation failed */
	CERTPIN_E_IO = 3,            /* a file could not be opened or read */
	CERTPIN_E_TOO_LARGE = 4,     /* input over a hard cap (size, count) */
	CERTPIN_E_JSON = 5,          /* JSON syntax error */
	CERTPIN_E_SCHEMA = 6,        /* unknown key, wrong type, bad value */
	CERTPIN_E_PIN_SYNTAX = 7,    /* malformed pin string */
	CERTPIN_E_PIN_ALGORITHM = 8, /* sha1/, md5/, sha512/ or unknown prefix */
	CERTPIN_E_HOST = 9,          /* malformed host name or pattern */
	CERTPIN_E_DUPLICATE = 10,    /* the same host rule twice */
	CERTPIN_E_DER = 11,          /* malformed DER certificate */
	CERTPIN_E_KEY_FILE = 12,     /* no usable object in a key/cert file */
	CERTPIN_E_STRICT = 13,       /* a warning made fatal by strict loading */
	CERTPIN_E_TIME = 14,         /* malformed date or time */
	CERTPIN_E_BUFFER = 15,       /* caller's buffer too small */
	CERTPIN_E_INTERNAL = 16,     /* internal or crypto library failure */
	CERTPIN_E_PASSWORD = 17,     /* encrypted input and no/wrong password */
	CERTPIN_E_BUNDLE = 18,       /* malformed pin bundle (JWS, header, claims) */
	CERTPIN_E_SIGNATURE = 19,    /* bundle signature: unknown key, wrong alg, invalid */
	CERTPIN_E_EXPIRED = 20,      /* bundle past its exp */
	CERTPIN_E_AUDIENCE = 21,     /* bundle for another application */
	CERTPIN_E_TIMEOUT = 22,      /* a deadline passed first (certpin_reporter_flush) */
} certpin_err;

/** Static English text for a code; never NULL. */
CERTPIN_API const char *certpin_strerror(certpin_err code);

/** Where and why something failed. Plain struct, caller-allocated. */
typedef struct certpin_error {
	certpin_err code;
	char file[256];    /* "" when not from a file ("<memory>" for strings) */
	unsigned line;     /* 1-based, 0 when unknown */
	unsigned column;   /* 1-based, 0 when unknown */
	char path[160];    /* JSON path such as "$.domains[2].pins[0]", or "" */
	char message[320]; /* one line, no trailing newline */
} certpin_error;

/**
 * Formats err as one line: "FILE:LINE:COL: PATH: MESSAGE" (parts that are
 * unknown are left out). Always NUL-terminates when n > 0 (truncating).
 * @return the length the full text needs, excluding the NUL (snprintf-like).
 */
CERTPIN_API size_t certpin_error_format(const certpin_error *err, char *buf, size_t n);

/* ------------------------------------------------------------------------ */
/* Pins                                                                      */
/* ------------------------------------------------------------------------ */

#define CERTPIN_HASH_LEN 32
/** Longest formatted pin: "cert-sha256/" + 44 base64 chars, plus NUL. */
#define CERTPIN_PIN_STRLEN 57

typedef enum certpin_pin_type {
	CERTPIN_PIN_SPKI_SHA256 = 1, /* "sha256/": SHA-256 of the DER SubjectPublicKeyInfo */
	CERTPIN_PIN_CERT_SHA256 = 2, /* "cert-sha256/": SHA-256 of the whole DER certificate */
} certpin_pin_type;

typedef struct certpin_pin {
	certpin_pin_type type;
	uint8_t hash[CERTPIN_HASH_LEN];
} certpin_pin;

/**
 * Parses "sha256/<base64>" or "cert-sha256/<base64>" (s[0..len), not
 * NUL-terminated necessarily). Strict: standard base64 alphabet, canonical
 * padding, no whitespace, exactly 32 bytes after decoding.
 * @return CERTPIN_OK, CERTPIN_E_PIN_ALGORITHM for sha1/, md5/, sha512/, an
 *         unknown or a missing prefix, CERTPIN_E_PIN_SYNTAX otherwise (among
 *         them curl's "sha256//" and HPKP's pin-sha256="..." spellings, which
 *         the message names). err->message says which algorithms are accepted
 *         or what is wrong with the base64.
 */
CERTPIN_API certpin_err certpin_pin_parse(const char *s, size_t len, certpin_pin *out,
                                          certpin_error *err);

/**
 * Writes the pin's text form ("sha256/..." or "cert-sha256/...") and a NUL.
 * A buffer of CERTPIN_PIN_STRLEN bytes always suffices.
 * @return the text length (excluding NUL), or 0 when n is too small for this
 *         pin's text plus the NUL or the pin type is invalid.
 */
CERTPIN_API size_t certpin_pin_format(const certpin_pin *pin, char *buf, size_t n);

/** 1 when both pins have the same type and hash, else 0. */
CERTPIN_API int certpin_pin_equal(const certpin_pin *a, const certpin_pin *b);

/**
 * SPKI pin of a DER certificate. The SubjectPublicKeyInfo is located by
 * walking the DER (no X.509 object is built); any key type works.
 * The three functions below return CERTPIN_OK, CERTPIN_E_DER for input that
 * is not strict DER of the expected shape, CERTPIN_E_INVALID_ARG, or
 * CERTPIN_E_INTERNAL when hashing fails; on failure *out is zeroed.
 */
CERTPIN_API certpin_err certpin_pin_spki_from_cert_der(const uint8_t *der, size_t len,
                                                       certpin_pin *out);

/** Whole-certificate pin (SHA-256 of the DER certificate). Checks the outer DER. */
CERTPIN_API certpin_err certpin_pin_cert_from_cert_der(const uint8_t *der, size_t len,
                                                       certpin_pin *out);

/** SPKI pin of a DER SubjectPublicKeyInfo (e.g. `openssl pkey -pubout -outform DER`). */
CERTPIN_API certpin_err certpin_pin_spki_from_spki_der(const uint8_t *der, size_t len,
                                                       certpin_pin *out);

/* ------------------------------------------------------------------------ */
/* Certificates, keys and CSRs from files                                    */
/* ------------------------------------------------------------------------ */

typedef enum certpin_object_kind {
	CERTPIN_OBJ_CERT = 1,
	CERTPIN_OBJ_PUBKEY = 2,
	CERTPIN_OBJ_PRIVKEY = 3,
	CERTPIN_OBJ_CSR = 4,
} certpin_object_kind;

/** One certificate, key or CSR found in a file. All fields owned by the list. */
typedef struct certpin_object {
	certpin_object_kind kind;
	certpin_pin spki_pin;       /* always set */
	certpin_pin cert_pin;       /* certificates only (type 0 otherwise) */
	const char *subject;        /* certificates and CSRs: RFC 2253 text; else "" */
	const char *key_type;       /* "RSA-2048", "EC-P-256", "Ed25519", ... */
	const uint8_t *der;         /* certificates only: the DER; else NULL */
	size_t der_len;
	int is_ca;                  /* certificate with basicConstraints cA=TRUE */
	int self_signed;            /* certificate whose issuer is its subject and which verifies with its own key */
	unsigned line;              /* PEM: line of the BEGIN line; DER: 0 */
} certpin_object;

typedef struct certpin_object_list certpin_object_list;

/** Hard cap on input size for the readers below (1 MiB). */
#define CERTPIN_MAX_FILE_SIZE (1024u * 1024u)

/**
 * Reads every certificate, public key, private key, CSR and (with password)
 * PKCS#12 in a PEM or DER buffer. PEM blocks that carry no key material
 * (e.g. "EC PARAMETERS") are skipped; an unknown PEM block type is an error.
 * @param name      used in error messages as the file name (borrowed)
 * @param password  for encrypted private keys and PKCS#12, or NULL (borrowed)
 * @return CERTPIN_OK with at least one object, CERTPIN_E_KEY_FILE when the
 *         input holds nothing usable or a block is malformed (err names the
 *         line), CERTPIN_E_PASSWORD, CERTPIN_E_TOO_LARGE, CERTPIN_E_NOMEM.
 */
CERTPIN_API certpin_err certpin_objects_from_mem(const uint8_t *data, size_t len, const char *name,
                                                 const char *password, certpin_object_list **out,
                                                 certpin_error *err);

/** As certpin_objects_from_mem, from a file (at most CERTPIN_MAX_FILE_SIZE). */
CERTPIN_API certpin_err certpin_objects_from_file(const char *path, const char *password,
                                                  certpin_object_list **out, certpin_error *err);

CERTPIN_API size_t certpin_object_list_count(const certpin_object_list *list);
/** Borrowed from the list; NULL when i is out of range. */
CERTPIN_API const certpin_object *certpin_object_list_get(const certpin_object_list *list, size_t i);
CERTPIN_API void certpin_object_list_free(certpin_object_list *list);

/* ------------------------------------------------------------------------ */
/* Host names and times                                                      */
/* ------------------------------------------------------------------------ */

/** Longest host name (without the trailing dot), excluding the NUL. */
#define CERTPIN_HOST_MAX 253

/**
 * Normalises a host name for lookup: lower-case ASCII, one trailing dot
 * removed, IPv4/IPv6 literals in canonical inet_ntop form (IPv6 may be
 * given in brackets). Rejects empty labels, leading dots, labels over 63
 * bytes, names over 253 bytes, non-ASCII bytes (write IDNs as punycode) and
 * characters outside [a-z0-9-_].
 * @param out  at least CERTPIN_HOST_MAX + 1 bytes
 * @return CERTPIN_OK or CERTPIN_E_HOST (err->message says why).
 */
CERTPIN_API certpin_err certpin_host_normalize(const char *host, char *out, size_t n,
                                               certpin_error *err);

typedef enum certpin_time_flags {
	/* A clock reading (`--at`): a bare date means 00:00:00Z of that day and
	 * fractional seconds round down. */
	CERTPIN_TIME_DATE_START = 0,
	/* A deadline (`expires`): a bare date means the end of that day (the
	 * returned time is 00:00:00Z of the next day, the first second past it)
	 * and fractional seconds round up (the first whole second past it). */
	CERTPIN_TIME_DATE_END = 1,
} certpin_time_flags;

/**
 * Parses an RFC 3339 time ("2027-06-01T12:00:00Z"; offsets and fractional
 * seconds allowed, rounded as the flag says) or a date "YYYY-MM-DD".
 * @return CERTPIN_OK or CERTPIN_E_TIME.
 */
CERTPIN_API certpin_err certpin_time_parse(const char *s, unsigned flags, int64_t *out,
                                           certpin_error *err);

/** Formats t as "YYYY-MM-DDTHH:MM:SSZ" (21 bytes with NUL). @return length or 0. */
CERTPIN_API size_t certpin_time_format(int64_t t, char *buf, size_t n);

/* ------------------------------------------------------------------------ */
/* Policies                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct certpin_policy certpin_policy;
typedef struct certpin_rule certpin_rule;
typedef struct certpin_builder certpin_builder;
typedef struct certpin_warnings certpin_warnings;

typedef enum certpin_unlisted {
	CERTPIN_UNLISTED_ALLOW = 0,
	CERTPIN_UNLISTED_DENY = 1,
} certpin_unlisted;

typedef enum certpin_on_expiry {
	CERTPIN_ON_EXPIRY_UNPINNED = 0,
	CERTPIN_ON_EXPIRY_BLOCK = 1,
} certpin_on_expiry;

typedef enum certpin_mode {
	CERTPIN_MODE_ENFORCE = 0,
	CERTPIN_MODE_REPORT = 1,
} certpin_mode;

typedef enum certpin_trust_anchors {
	CERTPIN_ANCHORS_SYSTEM = 0,
	CERTPIN_ANCHORS_PINNED = 1,
} certpin_trust_anchors;

typedef enum certpin_validation {
	CERTPIN_VALIDATION_DEFAULT = 0, /* in a rule spec: inherit the policy default */
	CERTPIN_VALIDATION_WEBPKI = 1,
	CERTPIN_VALIDATION_OPENSSL = 2,
} certpin_validation;

/** Hard caps on a policy. */
#define CERTPIN_MAX_DOMAINS 100000u
#define CERTPIN_MAX_PINS_PER_RULE 64u
#define CERTPIN_MAX_REPORT_URIS 8u
#define CERTPIN_MAX_PIN_FILES 16u

/** Load flags. */
#define CERTPIN_LOAD_STRICT 0x1u /* any warning fails the load with CERTPIN_E_STRICT */

/**
 * One host rule, as given to certpin_builder_add_rule. Strings are borrowed
 * for the call only (certpin copies what it keeps). Zero-initialise and set
 * what you need: zero means the documented default.
 */
typedef struct certpin_rule_spec {
	const char *host;            /* "api.example.com", "*.example.com", "**.example.com", IP */
	int include_subdomains;      /* on an exact name: same as "**." */
	int exclude;                 /* no pinning for this name (no pins allowed) */
	const char *const *pins;     /* "sha256/..." or "cert-sha256/...", any position */
	size_t n_pins;
	const char *const *leaf_pins; /* must match the leaf */
	size_t n_leaf_pins;
	const char *const *ca_pins;  /* must match a CA certificate of the chain */
	size_t n_ca_pins;
	const char *const *pin_files; /* certificate/key/CSR files; SPKI pins go to `pins` */
	size_t n_pin_files;
	int has_expires;
	int64_t expires;             /* first second at which the pin set is expired */
	certpin_on_expiry on_expiry;
	certpin_mode mode;
	certpin_trust_anchors trust_anchors;
	certpin_validation validation;
	const char *const *report_uris;
	size_t n_report_uris;
} certpin_rule_spec;

/**
 * Starts building a policy in code (for apps that embed their pins).
 * @param base_dir directory that relative pin_files are resolved against, or
 *        NULL for the current directory (copied).
 * @return NULL on allocation failure.
 */
CERTPIN_API certpin_builder *certpin_builder_new(const char *base_dir);
CERTPIN_API certpin_err certpin_builder_set_unlisted(certpin_builder *b, certpin_unlisted u);
/** Default validation profile of rules that leave it CERTPIN_VALIDATION_DEFAULT (webpki). */
CERTPIN_API certpin_err certpin_builder_set_validation(certpin_builder *b, certpin_validation v);

/**
 * Validates and adds a rule. On error err->path names the offending field
 * relative to the rule ("pins[3]", "host", ...), and the builder is unchanged.
 * @return CERTPIN_OK, CERTPIN_E_HOST, CERTPIN_E_PIN_*, CERTPIN_E_SCHEMA
 *         (inconsistent fields), CERTPIN_E_TOO_LARGE, CERTPIN_E_KEY_FILE,
 *         CERTPIN_E_IO, CERTPIN_E_DUPLICATE, CERTPIN_E_NOMEM.
 */
CERTPIN_API certpin_err certpin_builder_add_rule(certpin_builder *b, const certpin_rule_spec *spec,
                                                 certpin_error *err);

/**
 * Finishes the policy: builds the lookup index and computes warnings.
 * The builder is consumed (freed) whatever the result.
 * @param flags    CERTPIN_LOAD_STRICT or 0
 * @param out      receives the policy (reference count 1)
 * @param warnings receives the warning list, or NULL if not wanted
 */
CERTPIN_API certpin_err certpin_builder_finish(certpin_builder *b, unsigned flags,
                                               certpin_policy **out, certpin_warnings **warnings,
                                               certpin_error *err);
CERTPIN_API void certpin_builder_free(certpin_builder *b);

/**
 * Loads a policy JSON file (at most CERTPIN_MAX_FILE_SIZE). pin_files are
 * resolved relative to the file's directory. Errors name the file,
 * line:column and JSON path; nothing partial is ever returned.
 */
CERTPIN_API certpin_err certpin_policy_load_file(const char *path, unsigned flags,
                                                 certpin_policy **out, certpin_warnings **warnings,
                                                 certpin_error *err);

/**
 * Loads a policy from JSON text.
 * @param name     file name for messages, or NULL for "<memory>" (borrowed)
 * @param base_dir directory for relative pin_files, or NULL for "." (borrowed)
 */
CERTPIN_API certpin_err certpin_policy_load_mem(const char *json, size_t len, const char *name,
                                                const char *base_dir, unsigned flags,
                                                certpin_policy **out, certpin_warnings **warnings,
                                                certpin_error *err);

/** Adds a reference; returns p. Thread-safe. */
CERTPIN_API certpin_policy *certpin_policy_ref(certpin_policy *p);
/** Drops a reference; frees on the last one. Thread-safe. */
CERTPIN_API void certpin_policy_free(certpin_policy *p);

CERTPIN_API certpin_unlisted certpin_policy_unlisted(const certpin_policy *p);
CERTPIN_API size_t certpin_policy_rule_count(const certpin_policy *p);
/** Borrowed from the policy; NULL when out of range. Rules keep their load order. */
CERTPIN_API const certpin_rule *certpin_policy_rule(const certpin_policy *p, size_t i);

/**
 * The rule that applies to host (exact name beats patterns; the longest
 * pattern suffix wins; "*." beats "**." on the same suffix), or NULL when
 * none applies or host is not a valid name. host need not be normalised.
 * Constant time in the number of rules. Borrowed from the policy.
 * For inspection only: NULL does not mean "not pinned" (an invalid host also
 * gives NULL). To decide about a connection, use certpin_evaluate(), which
 * blocks invalid hosts.
 */
CERTPIN_API const certpin_rule *certpin_policy_lookup(const certpin_policy *p, const char *host);

/* Rule accessors: all borrowed from the policy. */
/** The rule's host as canonical text: "api.example.com", "*.example.com", "**.example.com". */
CERTPIN_API const char *certpin_rule_host(const certpin_rule *r);
CERTPIN_API int certpin_rule_is_exclude(const certpin_rule *r);
CERTPIN_API certpin_mode certpin_rule_mode(const certpin_rule *r);
CERTPIN_API certpin_on_expiry certpin_rule_on_expiry(const certpin_rule *r);
CERTPIN_API certpin_trust_anchors certpin_rule_trust_anchors(const certpin_rule *r);
/** Never CERTPIN_VALIDATION_DEFAULT: the policy default is applied. */
CERTPIN_API certpin_validation certpin_rule_validation(const certpin_rule *r);
/** 1 and *t set when the rule has an expiry (the first expired second). */
CERTPIN_API int certpin_rule_expires(const certpin_rule *r, int64_t *t);

typedef enum certpin_pin_scope {
	CERTPIN_SCOPE_ANY = 0,  /* "pins" (including those from pin_files) */
	CERTPIN_SCOPE_LEAF = 1, /* "leaf_pins" */
	CERTPIN_SCOPE_CA = 2,   /* "ca_pins" */
} certpin_pin_scope;

CERTPIN_API size_t certpin_rule_pin_count(const certpin_rule *r, certpin_pin_scope scope);
CERTPIN_API const certpin_pin *certpin_rule_pin(const certpin_rule *r, certpin_pin_scope scope, size_t i);
CERTPIN_API size_t certpin_rule_report_uri_count(const certpin_rule *r);
CERTPIN_API const char *certpin_rule_report_uri(const certpin_rule *r, size_t i);
/** DER certificates that are this rule's trust anchors (trust_anchors "pinned"). */
CERTPIN_API size_t certpin_rule_anchor_count(const certpin_rule *r);
CERTPIN_API const uint8_t *certpin_rule_anchor(const certpin_rule *r, size_t i, size_t *len);

/* Warnings produced while loading. */
typedef enum certpin_warning_kind {
	CERTPIN_W_FEW_PINS = 1,  /* an enforced rule with fewer than 2 pins: no backup pin */
	CERTPIN_W_NO_EXPIRY = 2, /* an enforced rule without "expires" */
	CERTPIN_W_ROOT_ONLY = 3, /* pins that only a root CA certificate matches */
} certpin_warning_kind;

/** Short stable name: "few-pins", "no-expiry", "root-only". */
CERTPIN_API const char *certpin_warning_name(certpin_warning_kind kind);
CERTPIN_API size_t certpin_warnings_count(const certpin_warnings *w);
/** Location and message of warning i (code is CERTPIN_OK); NULL when out of range. */
CERTPIN_API const certpin_error *certpin_warnings_get(const certpin_warnings *w, size_t i,
                                                      certpin_warning_kind *kind);
CERTPIN_API void certpin_warnings_free(certpin_warnings *w);

/* ------------------------------------------------------------------------ */
/* Policy holder                                                             */
/* ------------------------------------------------------------------------ */

/**
 * The policy an application enforces now, shared by its TLS adapters
 * (certpin_openssl_attach) and replaced atomically by updates.
 *
 * Every check takes a reference to the current policy (a snapshot) when it
 * starts and evaluates on it without any lock; certpin_ctx_set_policy()
 * swaps the pointer for later checks, and the old policy is freed when the
 * last check (or verdict) that uses it lets go. Taking a snapshot takes no
 * lock (a few atomic operations); a swap waits until no snapshot is between
 * reading the old pointer and taking its reference before it lets the old
 * policy go, so a reader can never take a reference to a freed policy.
 * Concurrent swaps are serialised among themselves.
 *
 * All functions are thread-safe. The holder is reference-counted: an
 * SSL_CTX it is attached to keeps it alive.
 */
typedef struct certpin_ctx certpin_ctx;

/**
 * @param p the first policy (a reference is taken; the caller keeps its own)
 * @return a holder with reference count 1 and generation 1, or NULL on
 *         allocation failure or when p is NULL.
 */
CERTPIN_API certpin_ctx *certpin_ctx_new(certpin_policy *p);
/** Adds a reference; returns c. */
CERTPIN_API certpin_ctx *certpin_ctx_ref(certpin_ctx *c);
/** Drops a reference; on the last one drops the holder's policy reference and frees it. */
CERTPIN_API void certpin_ctx_free(certpin_ctx *c);

/**
 * Makes p the policy of every check that starts from now on and adds one to
 * the generation. Checks already running finish on the policy they took.
 * @param p a reference is taken (the caller keeps its own)
 * @return CERTPIN_OK, CERTPIN_E_INVALID_ARG, or CERTPIN_E_INTERNAL when the
 *         swappers' mutex cannot be taken (the policy is then unchanged).
 */
CERTPIN_API certpin_err certpin_ctx_set_policy(certpin_ctx *c, certpin_policy *p);

/** The current policy as a new reference (free it with certpin_policy_free); NULL if c is NULL. */
CERTPIN_API certpin_policy *certpin_ctx_policy(certpin_ctx *c);

/**
 * How many policies the holder has had: 1 after certpin_ctx_new, one more
 * per certpin_ctx_set_policy. TLS sessions remember the generation they were
 * made under (see certpin_openssl.h). 0 if c is NULL.
 */
CERTPIN_API uint64_t certpin_ctx_generation(const certpin_ctx *c);

/* ------------------------------------------------------------------------ */
/* Evaluation                                                                */
/* ------------------------------------------------------------------------ */

/** Longest chain evaluated; a longer one is blocked (CERTPIN_V_INTERNAL_ERROR). */
#define CERTPIN_MAX_CHAIN 16u

typedef enum certpin_verdict_code {
	/* allowed */
	CERTPIN_V_PINNED = 1,               /* a pin matched */
	CERTPIN_V_NOT_PINNED = 2,           /* no rule, or an exclude rule */
	CERTPIN_V_EXPIRED_UNPINNED = 3,     /* pin set expired, on_expiry "unpinned" */
	CERTPIN_V_REPORT_ONLY_MISMATCH = 4, /* no pin matched, mode "report" */
	/* blocked */
	CERTPIN_V_PIN_MISMATCH = 16,
	CERTPIN_V_UNLISTED_HOST = 17,
	CERTPIN_V_EXPIRED_BLOCKED = 18,
	CERTPIN_V_CHAIN_INVALID = 19,
	CERTPIN_V_HOSTNAME_MISMATCH = 20,
	CERTPIN_V_INTERNAL_ERROR = 21,
} certpin_verdict_code;

/** "PINNED", "PIN_MISMATCH", ...; "UNKNOWN" for other values. */
CERTPIN_API const char *certpin_verdict_code_name(certpin_verdict_code code);
/** 1 for the four allowed codes, 0 for every other value (fail closed). */
CERTPIN_API int certpin_verdict_code_allowed(certpin_verdict_code code);

/** A DER certificate, borrowed. */
typedef struct certpin_der {
	const uint8_t *der;
	size_t len;
} certpin_der;

typedef struct certpin_verdict certpin_verdict;

/** A reusable verdict. NULL on allocation failure. */
CERTPIN_API certpin_verdict *certpin_verdict_new(void);
CERTPIN_API void certpin_verdict_free(certpin_verdict *v);

/**
 * Evaluates the policy for host on chain[0..n), an already-validated chain
 * of DER certificates, leaf first (invariant 1: pass the chain your TLS
 * library validated, never the one the peer sent).
 *
 * @param verdict if *verdict is NULL a new verdict is allocated (free it with
 *        certpin_verdict_free); otherwise it is reset and reused, which
 *        avoids allocation on a hot path.
 * @param now     the time for pin-set expiry
 * @return CERTPIN_OK when a verdict was produced (look at its code: it may
 *         block), or CERTPIN_E_NOMEM / CERTPIN_E_INVALID_ARG when no verdict
 *         object could be had at all, which the caller MUST treat as blocked.
 *         Malformed certificates, an invalid or missing host, n == 0 and
 *         n > CERTPIN_MAX_CHAIN give verdict CERTPIN_V_INTERNAL_ERROR.
 * Thread-safe on a shared policy; the chain is borrowed for the call only.
 */
CERTPIN_API certpin_err certpin_evaluate(const certpin_policy *policy, const char *host,
                                         const certpin_der *chain, size_t n, int64_t now,
                                         certpin_verdict **verdict);

/**
 * Records that validation failed before pinning could run (adapters use it):
 * sets code (CERTPIN_V_CHAIN_INVALID, CERTPIN_V_HOSTNAME_MISMATCH or
 * CERTPIN_V_INTERNAL_ERROR), the host and a reason (copied, truncated to
 * one line). The policy's rule for host, if any, is recorded too.
 */
CERTPIN_API certpin_err certpin_verdict_set_failure(certpin_verdict *v, const certpin_policy *policy,
                                                    const char *host, certpin_verdict_code code,
                                                    const char *reason);

CERTPIN_API certpin_verdict_code certpin_verdict_get_code(const certpin_verdict *v);
CERTPIN_API int certpin_verdict_allowed(const certpin_verdict *v);
/** The normalised host ("" when it was invalid). */
CERTPIN_API const char *certpin_verdict_host(const certpin_verdict *v);
/**
 * The matched rule, or NULL. Borrowed from the policy the verdict was made
 * with: valid while that policy lives (hold a reference if the verdict may
 * outlive it). certpin_verdict_format() reads the rule too.
 */
CERTPIN_API const certpin_rule *certpin_verdict_rule(const certpin_verdict *v);
/** Why validation failed or the verdict is INTERNAL_ERROR; "" otherwise. */
CERTPIN_API const char *certpin_verdict_reason(const certpin_verdict *v);
CERTPIN_API size_t certpin_verdict_chain_len(const certpin_verdict *v);
/** SPKI pin of chain certificate i; NULL when out of range. */
CERTPIN_API const certpin_pin *certpin_verdict_chain_pin(const certpin_verdict *v, size_t i);
/**
 * Subject of chain certificate i as RFC 2253 text ("CN=api.example.com,O=...").
 * Computed on demand (not on the evaluation path).
 * @return CERTPIN_OK, CERTPIN_E_BUFFER (truncated), CERTPIN_E_INVALID_ARG.
 */
CERTPIN_API certpin_err certpin_verdict_chain_subject(const certpin_verdict *v, size_t i,
                                                      char *buf, size_t n);
/**
 * 1 when a violation report is made for v (see certpin_report.h): a pin
 * mismatch (enforced or report-only), an expired pin set (either on_expiry),
 * or a failed validation (CHAIN_INVALID, HOSTNAME_MISMATCH) of a host that a
 * non-exclude rule pins. 0 for every other verdict, and for NULL.
 */
CERTPIN_API int certpin_verdict_reportable(const certpin_verdict *v);

typedef enum certpin_chain_kind {
	CERTPIN_CHAIN_SERVED = 0,    /* as the peer sent it, leaf first */
	CERTPIN_CHAIN_VALIDATED = 1, /* as validation built it (partial when validation failed) */
} certpin_chain_kind;

/**
 * The DER certificates a reportable verdict keeps for its report: the
 * served chain (filled by certpin_openssl_verify() and the TLS adapters;
 * certpin_evaluate() does not know it) and the validated chain (filled by
 * certpin_evaluate() and certpin_openssl_verify(); after a validation
 * failure, what OpenSSL had built). Empty for verdicts that are not
 * reportable: the allowed path copies nothing. At most CERTPIN_MAX_CHAIN
 * each (a longer served chain is cut).
 */
CERTPIN_API size_t certpin_verdict_cert_count(const certpin_verdict *v, certpin_chain_kind which);
/** Certificate i of that chain, borrowed from v (until its next reset); NULL out of range. */
CERTPIN_API const uint8_t *certpin_verdict_cert(const certpin_verdict *v, certpin_chain_kind which,
                                                size_t i, size_t *len);

/**
 * The human-readable message: for blocked, report-only and expired verdicts
 * the multi-line failure message of ARCHITECTURE.md (validated chain with
 * pins and subjects, then the rule's pins); for other verdicts one line.
 * Ends with a newline. @return the length the full text needs (snprintf-like).
 */
CERTPIN_API size_t certpin_verdict_format(const certpin_verdict *v, char *buf, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* CERTPIN_H */
