/*
 * certpin_convert: import and export pinning configurations of other
 * platforms (Android network security config, iOS Info.plist, TrustKit,
 * OkHttp, curl, HPKP) to and from the certpin policy JSON.
 *
 * A static library of its own, apart from libcertpin: it needs libxml2 and
 * libplist, which the applications that embed libcertpin should not carry.
 * It uses only certpin's public API (certpin.h), so it links against the
 * shared or the static library alike. Used by the CLI (`certpin convert`),
 * the unit tests and the fuzz targets; not installed.
 *
 * Every conversion goes through one model, cv_policy: the fields of the
 * policy JSON plus what some platform needs to round-trip with itself (see
 * cv_rule). An importer fills a model and checks it with cv_validate; an
 * exporter writes a model and lists on a cv_log what the target cannot
 * express (losses). Without `lossy` an exporter that found a loss writes
 * nothing and fails with CERTPIN_E_SCHEMA.
 *
 * Errors go to a certpin_error: file, line:column where the parser gives
 * one, and a one-line message. Nothing partial is returned on failure.
 */
#ifndef CERTPIN_CONVERT_H
#define CERTPIN_CONVERT_H

#include <stddef.h>
#include <stdint.h>

#include "certpin/certpin.h"

typedef enum cv_format {
	CV_CERTPIN = 0,
	CV_ANDROID_NSC,
	CV_IOS_PLIST,
	CV_TRUSTKIT,
	CV_TRUSTKIT_SWIFT, /* export only */
	CV_OKHTTP,
	CV_CURL,
	CV_HPKP,
	CV_FORMAT_COUNT
} cv_format;

/* "certpin", "android-nsc", ... ; -1 for an unknown name. */
int cv_format_from_name(const char *name);
const char *cv_format_name(cv_format f);
int cv_format_can_import(cv_format f);

/* Hard caps on converter input. */
#define CV_MAX_INPUT (1024u * 1024u) /* bytes of one input file */
#define CV_MAX_DEPTH 16u             /* nesting of Android domain-configs, plist dicts */

/* A growable list of owned strings. */
typedef struct cv_strs {
	char **v;
	size_t n, cap;
} cv_strs;

/* Tri-state for optional booleans: unset, false, true. */
enum { CV_UNSET = -1 };

typedef struct cv_rule {
	char *host;       /* as the policy JSON takes it: "a.x", "*.x", "**.x", IP */
	int exclude;
	cv_strs pins;     /* canonical "sha256/..." / "cert-sha256/..." */
	cv_strs leaf_pins;
	cv_strs ca_pins;
	cv_strs pin_files;  /* as written (relative to the policy's directory) */
	cv_strs file_pins;  /* SPKI pins read from pin_files, not in `pins` */
	cv_strs report_uris;
	int has_expires;
	int64_t expires;    /* first expired second */
	certpin_on_expiry on_expiry;
	certpin_mode mode;
	certpin_trust_anchors trust_anchors;
	certpin_validation validation; /* DEFAULT: the policy's */
	/* Android only, so android-nsc -> android-nsc keeps them. */
	int cleartext;      /* cleartextTrafficPermitted: CV_UNSET, 0, 1 */
	/* Where the rule came from in its source, for messages (0 unknown). */
	unsigned line, column;
} cv_rule;

typedef struct cv_policy {
	certpin_unlisted unlisted;
	certpin_validation validation; /* DEFAULT: not written */
	cv_rule *rules;
	size_t n, cap;
	/* Android only: base-config cleartextTrafficPermitted and the
	 * debug-overrides element as XML text (kept verbatim). */
	int base_cleartext;
	char *debug_overrides;
	int oom; /* cv_normalise ran out of memory: compares unequal */
} cv_policy;

/* Messages for the user: notes (information) and losses. */
typedef enum cv_log_kind { CV_NOTE = 0, CV_LOSS = 1 } cv_log_kind;
typedef struct cv_log_entry {
	cv_log_kind kind;
	char text[400];
} cv_log_entry;
typedef struct cv_log {
	cv_log_entry *v;
	size_t n, cap;
	size_t losses;
	int oom;
} cv_log;

void cv_log_add(cv_log *log, cv_log_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void cv_log_free(cv_log *log);

/* A growable output text. */
typedef struct cv_buf {
	char *p;
	size_t n, cap;
	int oom;
} cv_buf;
void cv_buf_add(cv_buf *b, const char *s, size_t n);
void cv_buf_puts(cv_buf *b, const char *s);
void cv_buf_printf(cv_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cv_buf_free(cv_buf *b);

typedef struct cv_opts {
	int lossy;            /* write what can be written, listing each loss */
	const char *host;     /* curl, hpkp: the host (import: the rule's host) */
	int64_t now;          /* hpkp: max-age is counted from here */
	const char *name;     /* input name for messages */
	const char *base_dir; /* directory of the input (pin_files, @raw/) or NULL */
} cv_opts;

/* ---- model ---- */
cv_policy *cv_policy_new(void);
void cv_policy_free(cv_policy *p);
/* Appends a zeroed rule (defaults set) and returns it; NULL on OOM. host copied. */
cv_rule *cv_policy_add_rule(cv_policy *p, const char *host, unsigned line, unsigned column);
/* The rule with this exact host text, or NULL. */
cv_rule *cv_policy_find(cv_policy *p, const char *host);
int cv_strs_add(cv_strs *s, const char *str);     /* 0 or -1 (OOM) */
int cv_strs_has(const cv_strs *s, const char *str);
void cv_strs_free(cv_strs *s);

/*
 * Builds the model into a certpin policy with the public builder (pin_files
 * resolved against opts->base_dir), so every importer's output obeys the
 * policy rules. On error err names opts->name and the rule's source
 * position, and says which rule. *out may be NULL when not wanted.
 */
certpin_err cv_validate(const cv_policy *p, const cv_opts *o, certpin_policy **out,
                        certpin_error *err);

/*
 * Normal form for comparing: rules sorted by host, every list sorted,
 * file_pins merged into pins, pin_files reduced to their file names,
 * validation defaults folded. Two models that pin the same things compare
 * equal with cv_equal (Android-only extras are not compared).
 */
void cv_normalise(cv_policy *p);
int cv_equal(const cv_policy *a, const cv_policy *b);

/* Sets err: code, file, position, printf message. Returns code. */
certpin_err cv_err(certpin_error *err, certpin_err code, const char *file, unsigned line,
                   unsigned column, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Canonical "sha256/..." for a pin text; 0 ok, -1 invalid (err set, no position). */
int cv_pin_canon(const char *in, size_t len, char out[CERTPIN_PIN_STRLEN], certpin_error *err);

/* "YYYY-MM-DD" of an expiry that falls on a day boundary (the day it ends);
 * 0 when expires is not at 00:00:00Z. */
int cv_expiry_date(int64_t expires, char out[11]);

/* ---- conversions ---- */
/*
 * Reads data[0..len) in format f into a new model (validated).
 * Notes (things kept only for some targets, things ignored) go to log.
 */
certpin_err cv_import(cv_format f, const char *data, size_t len, const cv_opts *o,
                      cv_policy **out, cv_log *log, certpin_error *err);
/*
 * Writes p in format f to out (appended). Losses go to log; without o->lossy
 * any loss fails with CERTPIN_E_SCHEMA and out is left empty.
 */
certpin_err cv_export(cv_format f, const cv_policy *p, const cv_opts *o, cv_buf *out,
                      cv_log *log, certpin_error *err);

/* Per format (src/convert/<format>.c). */
certpin_err cv_import_certpin(const char *data, size_t len, const cv_opts *o, cv_policy *p,
                              cv_log *log, certpin_error *err);
certpin_err cv_export_certpin(const cv_policy *p, const cv_opts *o, cv_buf *out, cv_log *log,
                              certpin_error *err);
certpin_err cv_import_android(const char *data, size_t len, const cv_opts *o, cv_policy *p,
                              cv_log *log, certpin_error *err);
certpin_err cv_export_android(const cv_policy *p, const cv_opts *o, cv_buf *out, cv_log *log,
                              certpin_error *err);
certpin_err cv_import_plist(const char *data, size_t len, const cv_opts *o, cv_policy *p,
                            cv_log *log, certpin_error *err);
certpin_err cv_export_plist(const cv_policy *p, const cv_opts *o, cv_buf *out, cv_log *log,
                            certpin_error *err);
certpin_err cv_import_trustkit(const char *data, size_t len, const cv_opts *o, cv_policy *p,
                               cv_log *log, certpin_error *err);
certpin_err cv_export_trustkit(const cv_policy *p, const cv_opts *o, int swift, cv_buf *out,
                               cv_log *log, certpin_error *err);
certpin_err cv_import_okhttp(const char *data, size_t len, const cv_opts *o, cv_policy *p,
                             cv_log *log, certpin_error *err);
certpin_err cv_export_okhttp(const cv_policy *p, const cv_opts *o, cv_buf *out, cv_log *log,
                             certpin_error *err);
certpin_err cv_import_curl(const char *data, size_t len, const cv_opts *o, cv_policy *p,
                           cv_log *log, certpin_error *err);
certpin_err cv_export_curl(const cv_policy *p, const cv_opts *o, cv_buf *out, cv_log *log,
                           certpin_error *err);
certpin_err cv_import_hpkp(const char *data, size_t len, const cv_opts *o, cv_policy *p,
                           cv_log *log, certpin_error *err);
certpin_err cv_export_hpkp(const cv_policy *p, const cv_opts *o, cv_buf *out, cv_log *log,
                           certpin_error *err);

/* ---- helpers shared by the exporters (src/convert/model.c) ---- */
/*
 * The losses every platform format shares: unlisted "deny", a non-default
 * validation profile, report URIs (unless report_ok), report mode (unless
 * report_ok), on_expiry "block", trust_anchors "pinned" (unless anchors_ok),
 * cert-sha256 pins. `fmt` names the target in the messages. Each loss goes
 * to log; returns the number found.
 */
#define CV_OK_REPORT 0x1u
#define CV_OK_ANCHORS 0x2u
#define CV_OK_EXPIRY 0x4u
#define CV_OK_SCOPES 0x8u
#define CV_OK_REPORT_URIS 0x10u
size_t cv_common_losses(const cv_policy *p, const char *fmt, unsigned ok, cv_log *log);
/* Any-position pins a platform writes for r: pins + file_pins, SPKI only
 * (cert-sha256 pins are a loss of cv_common_losses). */
void cv_rule_spki_pins(const cv_rule *r, cv_strs *out);
/* Looks up the rule that applies to host, as certpin would (exact beats
 * patterns, longest suffix, "*." before "**."); NULL when none. */
const cv_rule *cv_policy_lookup(const cv_policy *p, const char *host);
/* 1 when every host that pattern `inner` matches is matched by `outer`. */
int cv_host_covers(const char *outer, const char *inner);
/* 1 when host (a name) is matched by pattern. */
int cv_host_matches(const char *pattern, const char *host);

#endif
