/*
 * certpin — pin violation reports (RFC 7469 section 3 and TrustKit format).
 *
 * A reporter turns reportable verdicts (certpin_verdict_reportable(): pin
 * mismatch, enforced or report-only; expired pin set; failed validation of
 * a pinned host) into JSON reports, shows each one to the application's
 * callback, and POSTs it with libcurl to the rule's `report_uris` and the
 * application's default URI, on one background thread.
 *
 * Attach it to a policy holder (certpin_ctx_set_reporter) and the OpenSSL
 * and libcurl adapters submit by themselves; code that evaluates with
 * certpin_evaluate() or certpin_openssl_verify() calls
 * certpin_reporter_submit() itself.
 *
 * Never blocks a handshake: submitting copies what the report needs (the
 * chains' DER, the host, a reference to the policy) into a bounded queue
 * under a mutex held for that copy only; JSON, PEM and the network are the
 * reporter thread's. When the queue is full the newest report is dropped and
 * counted. A report identical to one accepted within the dedup window (same
 * host, rule, validated chain, known pins and verdict) is not queued again.
 *
 * The POST: HTTPS only (libcurl protocols restricted to https), the
 * server's certificate and name checked (against `cafile` if given), no
 * redirects followed at all, no cookies, no credentials (URIs with a user
 * name are refused, .netrc is ignored), a connect and a total time limit,
 * `Content-Type: application/json`. A 2xx answer counts as sent; anything
 * else as failed. No retries.
 *
 * The rules at the top of certpin.h apply. All functions are thread-safe.
 */
#ifndef CERTPIN_REPORT_H
#define CERTPIN_REPORT_H

#include "certpin.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct certpin_reporter certpin_reporter;
/** One report, as shown to the callback. */
typedef struct certpin_report certpin_report;

typedef enum certpin_report_action {
	CERTPIN_REPORT_SEND = 0, /* send it (to nowhere with CERTPIN_REPORTER_NO_SEND) */
	CERTPIN_REPORT_DROP = 1, /* veto: do not send; counted as vetoed */
} certpin_report_action;

/**
 * Called on the reporter thread, once per report before it is sent, never
 * for two reports at once. It may read the report, add or replace fields,
 * log it, and veto it. It must not call certpin_reporter_free() or
 * certpin_reporter_flush() on its own reporter. The report is valid for the
 * call only.
 */
typedef certpin_report_action (*certpin_report_cb)(certpin_report *report, void *arg);

/** Config flags. */
#define CERTPIN_REPORTER_NO_SEND 0x1u  /* never POST: the callback is the only consumer */
#define CERTPIN_REPORTER_NO_DEDUP 0x2u /* queue every violation (benchmarks, tests) */

/** Hard caps. */
#define CERTPIN_REPORT_QUEUE_MAX 4096u    /* queue_max */
#define CERTPIN_REPORT_URI_MAX 2048u      /* default_uri length */
#define CERTPIN_REPORT_DEDUP_ENTRIES 1024u /* remembered reports (oldest forgotten first) */

/**
 * Reporter settings. Zero-initialise and set what you need: zero means the
 * documented default. Strings are copied.
 */
typedef struct certpin_reporter_config {
	const char *app_id;      /* "app-id" of every report, or NULL (field left out) */
	const char *app_version; /* "app-version", or NULL */
	const char *default_uri; /* https:// URI every report also goes to, or NULL */
	const char *cafile;      /* PEM trust anchors for the POSTs; NULL: libcurl's default */
	unsigned dedup_window_s; /* default 86400 (24 h) */
	unsigned queue_max;      /* reports waiting to be sent; default 64, at most CERTPIN_REPORT_QUEUE_MAX */
	unsigned connect_timeout_ms; /* default 5000 */
	unsigned timeout_ms;         /* whole POST, default 10000 */
	unsigned flags;              /* CERTPIN_REPORTER_* */
	certpin_report_cb callback;  /* or NULL */
	void *callback_arg;
} certpin_reporter_config;

/**
 * Makes a reporter and starts its thread.
 * @param out receives the reporter (reference count 1)
 * @return CERTPIN_OK; CERTPIN_E_INVALID_ARG for a default_uri that is not
 *         https:// with a host and no user name, a cafile that cannot be
 *         read, or queue_max over the cap (err->message says which);
 *         CERTPIN_E_NOMEM; CERTPIN_E_INTERNAL when the thread or libcurl
 *         cannot be started.
 */
CERTPIN_API certpin_err certpin_reporter_new(const certpin_reporter_config *cfg,
                                             certpin_reporter **out, certpin_error *err);
/** Adds a reference; returns r. */
CERTPIN_API certpin_reporter *certpin_reporter_ref(certpin_reporter *r);
/**
 * Drops a reference. On the last one the thread is stopped: a POST in flight
 * is aborted and queued reports are discarded (call certpin_reporter_flush()
 * first to send them).
 */
CERTPIN_API void certpin_reporter_free(certpin_reporter *r);

/** What certpin_reporter_submit() did. */
typedef enum certpin_report_status {
	CERTPIN_REPORT_QUEUED = 0,
	CERTPIN_REPORT_NOT_REPORTABLE = 1, /* certpin_verdict_reportable() is 0 */
	CERTPIN_REPORT_DUPLICATE = 2,      /* the same report was queued within the window */
	CERTPIN_REPORT_DROPPED = 3,        /* the queue was full (counted) */
	CERTPIN_REPORT_NO_DESTINATION = 4, /* no URI and no callback: nobody to tell */
} certpin_report_status;

/**
 * Queues a report of verdict v (made with policy, which must be the policy
 * the verdict's rule belongs to). Never blocks on the network.
 *
 * @param port      the server's TCP port for the "port" field (0: unknown)
 * @param served    the chain as the peer sent it (DER, leaf first), or NULL
 *                  to use the one the verdict kept (certpin_verdict_cert:
 *                  certpin_openssl_verify() and the adapters keep it;
 *                  certpin_evaluate() does not, so pass it here)
 * @param status    receives what happened, or NULL
 * Everything is copied; a reference to policy is held until the report is
 * sent. At most CERTPIN_MAX_CHAIN served certificates are kept.
 * @return CERTPIN_OK (see *status), CERTPIN_E_INVALID_ARG (NULL reporter,
 *         policy or verdict, or a verdict whose rule is not policy's),
 *         CERTPIN_E_NOMEM.
 */
CERTPIN_API certpin_err certpin_reporter_submit(certpin_reporter *r, const certpin_policy *policy,
                                                const certpin_verdict *v, unsigned port,
                                                const certpin_der *served, size_t n_served,
                                                certpin_report_status *status);

/**
 * Waits until every queued report has been handled (sent, failed, vetoed)
 * or timeout_ms milliseconds have passed, for applications about to exit.
 * @return CERTPIN_OK when the queue is empty and nothing is in flight,
 *         CERTPIN_E_TIMEOUT otherwise, CERTPIN_E_INVALID_ARG.
 */
CERTPIN_API certpin_err certpin_reporter_flush(certpin_reporter *r, unsigned timeout_ms);

typedef struct certpin_reporter_stats {
	uint64_t submitted;  /* reportable verdicts submitted */
	uint64_t duplicates; /* not queued: same report within the dedup window */
	uint64_t dropped;    /* not queued: the queue was full */
	uint64_t vetoed;     /* the callback said CERTPIN_REPORT_DROP */
	uint64_t sent;       /* POSTs answered 2xx (one per URI) */
	uint64_t failed;     /* POSTs that failed: network, TLS, time limit, non-2xx */
	uint64_t handled;    /* reports taken off the queue and finished */
	size_t queued;       /* waiting now */
	size_t queue_max;
} certpin_reporter_stats;

/** Counters since certpin_reporter_new. Zeroes for NULL. */
CERTPIN_API void certpin_reporter_get_stats(certpin_reporter *r, certpin_reporter_stats *out);
/** Reports dropped because the queue was full. 0 for NULL. */
CERTPIN_API uint64_t certpin_reporter_dropped(certpin_reporter *r);

/**
 * Makes r the reporter of c: the OpenSSL and libcurl adapters attached with
 * c submit every reportable verdict to it. NULL detaches. A reference is
 * taken (the caller keeps its own).
 * @return CERTPIN_OK, CERTPIN_E_INVALID_ARG (c NULL), CERTPIN_E_INTERNAL.
 */
CERTPIN_API certpin_err certpin_ctx_set_reporter(certpin_ctx *c, certpin_reporter *r);

/* ---- the report, inside the callback ---------------------------------- */

/**
 * The report as compact JSON text (one object). Borrowed: valid until the
 * report is changed or the callback returns. NULL on allocation failure.
 */
CERTPIN_API const char *certpin_report_json(certpin_report *report);
/** A top-level string field ("hostname", "certpin-verdict", ...), or NULL. */
CERTPIN_API const char *certpin_report_get_string(const certpin_report *report, const char *key);
/** The verdict the report is about. */
CERTPIN_API certpin_verdict_code certpin_report_verdict_code(const certpin_report *report);
/**
 * Adds or replaces a top-level string field (both copied). Keys of the
 * report format itself may be replaced too: the callback is trusted.
 * @return CERTPIN_OK, CERTPIN_E_INVALID_ARG (NULL, or value not UTF-8),
 *         CERTPIN_E_NOMEM.
 */
CERTPIN_API certpin_err certpin_report_set_string(certpin_report *report, const char *key,
                                                  const char *value);
/** As certpin_report_set_string, for an integer field. */
CERTPIN_API certpin_err certpin_report_set_integer(certpin_report *report, const char *key,
                                                   int64_t value);
/** Where the report will be POSTed: the rule's report_uris, then the default URI. */
CERTPIN_API size_t certpin_report_uri_count(const certpin_report *report);
CERTPIN_API const char *certpin_report_uri(const certpin_report *report, size_t i);

/**
 * TrustKit's numeric validation result for a verdict code ("validation-result"):
 * 1 no matching pin (PIN_MISMATCH, REPORT_ONLY_MISMATCH, EXPIRED_BLOCKED),
 * 2 invalid certificate chain (CHAIN_INVALID, HOSTNAME_MISMATCH),
 * 0 success (EXPIRED_UNPINNED: the connection went ahead unpinned, and
 * PINNED, NOT_PINNED), 3 invalid parameters (anything else).
 */
CERTPIN_API int certpin_report_trustkit_result(certpin_verdict_code code);

#ifdef __cplusplus
}
#endif

#endif /* CERTPIN_REPORT_H */
