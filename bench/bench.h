/* Benchmarks in other files of bench/, called from bench.c's main. */
#ifndef CERTPIN_BENCH_H
#define CERTPIN_BENCH_H

/*
 * Full TLS 1.3 handshakes per second on loopback (bench_handshake.c):
 * plain OpenSSL client vs the same client with certpin attached vs libcurl
 * with CURLOPT_PINNEDPUBLICKEY, P-256 and RSA-2048, A/B/C interleaved.
 * @return 0, or 1 when a handshake failed (the reason is on stderr).
 */
int bench_handshakes(void);

/*
 * `certpin_bench --callgrind-handshake`: a fixed number of handshakes of the
 * plain OpenSSL client and of the certpin client per key type, in the
 * functions cg_hs_openssl_loop and cg_hs_certpin_loop, for valgrind.
 */
int bench_handshakes_callgrind(void);

/*
 * Handshake latency while violation reports go to a broken collector (never
 * answers, down, answers 500) against no reporter, in one interleaved run
 * (bench_handshake.c). `certpin_bench --reports` runs only this.
 */
int bench_reports(void);

#endif
