/*
 * The policy holder: the snapshot that checks start from, swapped by updates.
 *
 * Why a mutex and not an atomic pointer alone: a reader has to load the
 * pointer and then increment the policy's reference count, and a swap that
 * lands between the two may drop the last reference and free the policy the
 * reader is about to increment. Closing that window without a lock needs
 * hazard pointers or RCU; a mutex held for a load and an increment (or a
 * store) costs tens of nanoseconds uncontended and is obviously right. The
 * swapper drops the old policy's reference after unlocking, so freeing a
 * large policy never happens under the lock. Evaluation runs on the
 * reader's own reference, with no lock held.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "certpin/certpin_report.h"
#include "internal.h"

struct certpin_ctx {
	atomic_uint refs;
	pthread_mutex_t lock;
	certpin_policy *policy;      /* guarded by lock; never NULL */
	_Atomic uint64_t generation; /* written under lock, read lock-free */
	uint64_t id;
	certpin_reporter *reporter; /* guarded by lock; NULL when none */
};

static _Atomic uint64_t next_ctx_id = 1;

certpin_ctx *certpin_ctx_new(certpin_policy *p)
{
	if (p == NULL)
		return NULL;
	certpin_ctx *c = calloc(1, sizeof *c);
	if (c == NULL)
		return NULL;
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
		free(c);
		return NULL;
	}
	atomic_init(&c->refs, 1u);
	atomic_init(&c->generation, 1u);
	c->policy = certpin_policy_ref(p);
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
	pthread_mutex_destroy(&c->lock);
	certpin_policy_free(c->policy);
	certpin_reporter_free(c->reporter);
	free(c);
}

certpin_err certpin_ctx_set_policy(certpin_ctx *c, certpin_policy *p)
{
	if (c == NULL || p == NULL)
		return CERTPIN_E_INVALID_ARG;
	certpin_policy_ref(p);
	if (pthread_mutex_lock(&c->lock) != 0) {
		certpin_policy_free(p);
		return CERTPIN_E_INTERNAL;
	}
	certpin_policy *old = c->policy;
	c->policy = p;
	atomic_fetch_add_explicit(&c->generation, 1u, memory_order_release);
	pthread_mutex_unlock(&c->lock);
	certpin_policy_free(old);
	return CERTPIN_OK;
}

certpin_policy *cp_ctx_snapshot(certpin_ctx *c, uint64_t *generation)
{
	if (c == NULL)
		return NULL;
	/* A lock that cannot be taken (it never fails for a valid default
	 * mutex) gives no policy: callers block. */
	if (pthread_mutex_lock(&c->lock) != 0)
		return NULL;
	certpin_policy *p = certpin_policy_ref(c->policy);
	if (generation != NULL)
		*generation = atomic_load_explicit(&c->generation, memory_order_relaxed);
	pthread_mutex_unlock(&c->lock);
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

certpin_err certpin_ctx_set_reporter(certpin_ctx *c, certpin_reporter *r)
{
	if (c == NULL)
		return CERTPIN_E_INVALID_ARG;
	certpin_reporter_ref(r);
	if (pthread_mutex_lock(&c->lock) != 0) {
		certpin_reporter_free(r);
		return CERTPIN_E_INTERNAL;
	}
	certpin_reporter *old = c->reporter;
	c->reporter = r;
	pthread_mutex_unlock(&c->lock);
	certpin_reporter_free(old);
	return CERTPIN_OK;
}

/*
 * Read only when a verdict is reportable, so the allowed path takes no
 * lock and no reference for it.
 */
certpin_reporter *cp_ctx_reporter(certpin_ctx *c)
{
	if (c == NULL || pthread_mutex_lock(&c->lock) != 0)
		return NULL;
	certpin_reporter *r = certpin_reporter_ref(c->reporter);
	pthread_mutex_unlock(&c->lock);
	return r;
}
