/*
 * The policy holder: the snapshot that checks start from, swapped by updates.
 *
 * A reader (a handshake) takes no lock. The hazard is the window between
 * loading the policy pointer and incrementing that policy's reference count:
 * a swap landing there could drop the last reference and free the policy the
 * reader is about to increment. Readers therefore announce themselves in an
 * in-flight counter around that window (two atomic operations), and a swap,
 * after publishing the new pointer, waits until the counter has been zero
 * once before it drops the old policy's reference:
 *
 *   reader:  in_flight++ ; g = generation ; p = policy ; ref(p) ; in_flight--
 *   swap:    policy = new ; generation++ ; wait in_flight == 0 ; unref(old)
 *
 * All four of policy/in_flight operations are sequentially consistent: a
 * reader that loaded the old pointer incremented in_flight before the swap's
 * exchange, so the swap sees it until that reader holds its reference.
 * Readers never wait. A swap waits for readers already inside the window,
 * which lasts a few nanoseconds; swappers are serialised by a mutex that no
 * reader touches. The generation is read before the pointer and written
 * after it, so a reader can pair a new policy with the old generation (the
 * session cache then distrusts its session: safe) but never an old policy
 * with the new generation.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#ifndef CERTPIN_CRYPTO_MBEDTLS
#include "certpin/certpin_report.h"
#endif
#include "internal.h"

struct certpin_ctx {
	atomic_uint refs;
	pthread_mutex_t swap_lock;           /* serialises swaps only */
	_Atomic(certpin_policy *) policy;    /* never NULL */
	atomic_uint in_flight;               /* readers between load and reference */
	_Atomic uint64_t generation;
	uint64_t id;
#ifndef CERTPIN_CRYPTO_MBEDTLS
	certpin_reporter *reporter; /* guarded by swap_lock; NULL when none */
#endif
};

static _Atomic uint64_t next_ctx_id = 1;

certpin_ctx *certpin_ctx_new(certpin_policy *p)
{
	if (p == NULL)
		return NULL;
	certpin_ctx *c = calloc(1, sizeof *c);
	if (c == NULL)
		return NULL;
	if (pthread_mutex_init(&c->swap_lock, NULL) != 0) {
		free(c);
		return NULL;
	}
	atomic_init(&c->refs, 1u);
	atomic_init(&c->generation, 1u);
	atomic_init(&c->in_flight, 0u);
	atomic_init(&c->policy, certpin_policy_ref(p));
	c->id = atomic_fetch_add_explicit(&next_ctx_id, 1u, memory_order_relaxed);
	return c;
}

certpin_ctx *certpin_ctx_ref(certpin_ctx *c)
{
	if (c != NULL)
		atomic_fetch_add_explicit(&c->refs, 1u, memory_order_relaxed);
	return c;
}

void certpin_ctx_free(certpin_ctx *c)
{
	if (c == NULL)
		return;
	if (atomic_fetch_sub_explicit(&c->refs, 1u, memory_order_acq_rel) != 1u)
		return;
	pthread_mutex_destroy(&c->swap_lock);
	certpin_policy_free(atomic_load(&c->policy));
#ifndef CERTPIN_CRYPTO_MBEDTLS
	certpin_reporter_free(c->reporter);
#endif
	free(c);
}

certpin_err certpin_ctx_set_policy(certpin_ctx *c, certpin_policy *p)
{
	if (c == NULL || p == NULL)
		return CERTPIN_E_INVALID_ARG;
	certpin_policy_ref(p);
	if (pthread_mutex_lock(&c->swap_lock) != 0) {
		certpin_policy_free(p);
		return CERTPIN_E_INTERNAL;
	}
	certpin_policy *old = atomic_exchange(&c->policy, p);
	atomic_fetch_add_explicit(&c->generation, 1u, memory_order_release);
	/* readers that may have loaded old hold their reference once this is 0 */
	while (atomic_load(&c->in_flight) != 0u)
		sched_yield();
	pthread_mutex_unlock(&c->swap_lock);
	certpin_policy_free(old);
	return CERTPIN_OK;
}

certpin_policy *cp_ctx_snapshot(certpin_ctx *c, uint64_t *generation)
{
	if (c == NULL)
		return NULL;
	atomic_fetch_add(&c->in_flight, 1u);
	uint64_t g = atomic_load_explicit(&c->generation, memory_order_acquire);
	certpin_policy *p = certpin_policy_ref(atomic_load(&c->policy));
	atomic_fetch_sub(&c->in_flight, 1u);
	if (generation != NULL)
		*generation = g;
	return p;
}

certpin_policy *certpin_ctx_policy(certpin_ctx *c)
{
	return cp_ctx_snapshot(c, NULL);
}

uint64_t certpin_ctx_generation(const certpin_ctx *c)
{
	return c != NULL ? atomic_load_explicit(&c->generation, memory_order_acquire) : 0u;
}

uint64_t cp_ctx_id(const certpin_ctx *c)
{
	return c != NULL ? c->id : 0u;
}

#ifndef CERTPIN_CRYPTO_MBEDTLS /* reports need libcurl: OpenSSL build only */
certpin_err certpin_ctx_set_reporter(certpin_ctx *c, certpin_reporter *r)
{
	if (c == NULL)
		return CERTPIN_E_INVALID_ARG;
	certpin_reporter_ref(r);
	if (pthread_mutex_lock(&c->swap_lock) != 0) {
		certpin_reporter_free(r);
		return CERTPIN_E_INTERNAL;
	}
	certpin_reporter *old = c->reporter;
	c->reporter = r;
	pthread_mutex_unlock(&c->swap_lock);
	certpin_reporter_free(old);
	return CERTPIN_OK;
}

/*
 * Read only when a verdict is reportable, so the allowed path takes no
 * lock and no reference for it.
 */
certpin_reporter *cp_ctx_reporter(certpin_ctx *c)
{
	if (c == NULL || pthread_mutex_lock(&c->swap_lock) != 0)
		return NULL;
	certpin_reporter *r = certpin_reporter_ref(c->reporter);
	pthread_mutex_unlock(&c->swap_lock);
	return r;
}
#endif
