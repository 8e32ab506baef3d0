/*
 * certpin attack: one scenario. A TLS server on 127.0.0.1 presents the
 * scenario's chain while the client under test runs as a child process (in
 * its own process group, under a time limit); the server records what it
 * saw. A client "accepted" the server when it completed the handshake and
 * then sent application data: a client that finishes the handshake and then
 * hangs up (curl checks --pinnedpubkey after the handshake) did not accept.
 *
 * One thread, non-blocking sockets and poll(): the client is a separate
 * process, so nothing here can block it, and a client that never connects,
 * hangs or floods is cut off at its time limit.
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attack.h"
#include "cli.h"

enum {
	MAX_CONNS = 32,         /* further connections are closed at once */
	IDLE_RESPOND_MS = 200,  /* non-HTTP data: answer after this pause */
	DRAIN_IDLE_MS = 150,    /* after the client exits: stop when idle this long */
	DRAIN_MAX_MS = 1000,
	MITM_DRAIN_MS = 600,    /* mitmdump relays and records after the client exits */
	MITM_START_S = 20,      /* mitmdump's start-up limit */
};

enum conn_state { C_HANDSHAKE, C_READ, C_WRITE, C_DONE };

struct conn {
	int fd;
	SSL *ssl;
	enum conn_state state;
	struct atk_observation *obs;
	int saw_data;
	char in[1024];
	size_t got;
	long respond_at; /* ms on the monotonic clock, 0 when not set */
	char out[256];
	int out_len, out_off;
};

volatile sig_atomic_t atk_interrupted;

static long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int atk_listen(int *port, char *why, size_t wn)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_in a;
	socklen_t al = sizeof a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = 0; /* the kernel picks */
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
		snprintf(why, wn, "cannot listen on 127.0.0.1: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

static void info_cb(const SSL *ssl, int where, int ret)
{
	if ((where & SSL_CB_READ_ALERT) != SSL_CB_READ_ALERT)
		return; /* alerts the server itself writes are not the client's */
	struct conn *c = SSL_get_app_data(ssl);
	if (c != NULL)
		snprintf(c->obs->alert, sizeof c->obs->alert, "%s", SSL_alert_desc_string_long(ret));
}

static SSL_CTX *server_ctx(const struct atk_chain *ch, char *why, size_t wn)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL)
		goto fail;
	/* The server must be able to present what the scenario needs (SHA-1,
	 * RSA-1024, TLS 1.0); judging it is the client's job. */
	SSL_CTX_set_security_level(ctx, 0);
	if (ch->legacy_tls &&
	    (SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION) != 1 ||
	     SSL_CTX_set_max_proto_version(ctx, TLS1_1_VERSION) != 1 ||
	     SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0") != 1))
		goto fail;
	SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN);
	SSL_CTX_set_num_tickets(ctx, 0);
	if (SSL_CTX_use_certificate(ctx, ch->certs[0]) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, ch->key) != 1)
		goto fail;
	for (int i = 1; i < ch->n; i++)
		if (SSL_CTX_add1_chain_cert(ctx, ch->certs[i]) != 1)
			goto fail;
	/* the chain applies to the certificate set last: set it again */
	if (ch->rsa_leaf != NULL) {
		if (SSL_CTX_use_certificate(ctx, ch->rsa_leaf) != 1 ||
		    SSL_CTX_use_PrivateKey(ctx, ch->rsa_key) != 1)
			goto fail;
		for (int i = 1; i < ch->n; i++)
			if (SSL_CTX_add1_chain_cert(ctx, ch->certs[i]) != 1)
				goto fail;
	}
	SSL_CTX_set_info_callback(ctx, info_cb);
	return ctx;
fail:
	cli_openssl_error(why, wn);
	SSL_CTX_free(ctx);
	return NULL;
}

static void conn_close(struct conn *c)
{
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	c->ssl = NULL;
	c->fd = -1;
	c->state = C_DONE;
}

static void record_error(struct conn *c)
{
	unsigned long e = ERR_peek_last_error();
	if (e != 0)
		ERR_error_string_n(e, c->obs->error, sizeof c->obs->error);
	ERR_clear_error();
}

/* Client bytes go into UTF-8 reports: keep printable ASCII. */
static void printable(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

static void prepare_response(struct conn *c, const char *scenario)
{
	int head = strncmp(c->in, "HEAD ", 5) == 0;
	static const char body_fmt[] = "certpin attack: scenario %s\n";
	int body_len = (int)strlen(scenario) + (int)sizeof body_fmt - 3;
	int n = snprintf(c->out, sizeof c->out,
	                 "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
	                 "Connection: close\r\n\r\n",
	                 body_len);
	if (!head && n > 0 && (size_t)n < sizeof c->out)
		n += snprintf(c->out + n, sizeof c->out - (size_t)n, body_fmt, scenario);
	c->out_len = n < (int)sizeof c->out ? n : (int)sizeof c->out - 1;
	c->out_off = 0;
	c->state = C_WRITE;
}

/* Advances one connection; returns the poll events it waits for (0: closed). */
static short conn_step(struct conn *c, const char *scenario)
{
	for (;;) {
		int r, e;
		switch (c->state) {
		case C_HANDSHAKE:
			r = SSL_accept(c->ssl);
			if (r == 1) {
				c->obs->handshakes++;
				c->state = C_READ;
				continue;
			}
			e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ)
				return POLLIN;
			if (e == SSL_ERROR_WANT_WRITE)
				return POLLOUT;
			record_error(c);
			conn_close(c);
			return 0;
		case C_READ:
			r = SSL_read(c->ssl, c->in + c->got, (int)(sizeof c->in - 1 - c->got));
			if (r > 0) {
				if (!c->saw_data) {
					c->saw_data = 1;
					c->obs->requests++;
				}
				c->got += (size_t)r;
				c->in[c->got] = '\0';
				if (c->obs->request[0] == '\0' && strchr(c->in, '\n') != NULL) {
					snprintf(c->obs->request, sizeof c->obs->request, "%.*s",
					         (int)strcspn(c->in, "\r\n"), c->in);
					printable(c->obs->request);
				}
				if (strstr(c->in, "\r\n\r\n") != NULL || strstr(c->in, "\n\n") != NULL ||
				    c->got >= sizeof c->in - 1)
					prepare_response(c, scenario);
				else if (c->respond_at == 0)
					c->respond_at = now_ms() + IDLE_RESPOND_MS;
				continue;
			}
			e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ) {
				if (c->respond_at != 0 && now_ms() >= c->respond_at) {
					prepare_response(c, scenario);
					continue;
				}
				return POLLIN;
			}
			if (e == SSL_ERROR_WANT_WRITE)
				return POLLOUT;
			ERR_clear_error(); /* the client hung up */
			conn_close(c);
			return 0;
		case C_WRITE:
			r = SSL_write(c->ssl, c->out + c->out_off, c->out_len - c->out_off);
			if (r > 0) {
				c->out_off += r;
				if (c->out_off < c->out_len)
					continue;
				(void)SSL_shutdown(c->ssl);
				ERR_clear_error();
				conn_close(c);
				return 0;
			}
			e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ)
				return POLLIN;
			if (e == SSL_ERROR_WANT_WRITE)
				return POLLOUT;
			ERR_clear_error();
			conn_close(c);
			return 0;
		case C_DONE:
		default:
			return 0;
		}
	}
}

static void accept_all(int lfd, SSL_CTX *ctx, struct conn *conns, struct atk_observation *obs)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		obs->connections++;
		struct conn *c = NULL;
		for (int i = 0; i < MAX_CONNS && c == NULL; i++)
			if (conns[i].fd < 0)
				c = &conns[i];
		SSL *ssl = c ? SSL_new(ctx) : NULL;
		if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
			SSL_free(ssl);
			close(fd);
			obs->dropped++; /* the scenario is then not conclusive */
			continue;
		}
		memset(c, 0, sizeof *c);
		c->fd = fd;
		c->ssl = ssl;
		c->obs = obs;
		c->state = C_HANDSHAKE;
		SSL_set_app_data(ssl, c);
	}
}

/* fork + exec argv in a new process group, output to log. The child dies
 * with us (PR_SET_PDEATHSIG): nothing outlives a killed certpin. */
static pid_t spawn(const char *const argv[], const char *log_path, const char *scenario,
                   int port, const char *mitm_events)
{
	int log = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (log < 0)
		return -1;
	pid_t parent = getpid();
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		(void)setpgid(0, 0);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
			_exit(127);
		if (null < 0 || dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
			_exit(127);
		if (null > 2)
			close(null);
		signal(SIGPIPE, SIG_DFL);
		if (scenario == NULL) {
			setenv("PYTHONUNBUFFERED", "1", 1); /* mitmdump's log as it happens */
			if (mitm_events != NULL)
				setenv("CERTPIN_ATTACK_MITM_EVENTS", mitm_events, 1);
		} else {
			char p[16];
			snprintf(p, sizeof p, "%d", port);
			setenv("CERTPIN_ATTACK_SCENARIO", scenario, 1);
			setenv("CERTPIN_ATTACK_PORT", p, 1);
		}
		execvp(argv[0], (char *const *)(uintptr_t)argv);
		dprintf(2, "certpin attack: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (pid > 0)
		(void)setpgid(pid, pid);
	close(log);
	return pid;
}

static pid_t wait_pid(pid_t pid, int *st, int flags)
{
	pid_t w;
	do
		w = waitpid(pid, st, flags);
	while (w < 0 && errno == EINTR);
	return w;
}

void atk_reap_strays(void)
{
	/* certpin is a child subreaper (cmd_attack.c): whatever the client left
	 * running, even in another process group or session, is our child now */
	for (int round = 0; round < 20; round++) {
		DIR *d = opendir("/proc");
		struct dirent *e;
		int found = 0;
		if (d == NULL)
			return;
		while ((e = readdir(d)) != NULL) {
			char path[64], buf[512];
			if (e->d_name[0] < '0' || e->d_name[0] > '9')
				continue;
			snprintf(path, sizeof path, "/proc/%.20s/stat", e->d_name);
			FILE *f = fopen(path, "r");
			if (f == NULL)
				continue;
			size_t n = fread(buf, 1, sizeof buf - 1, f);
			fclose(f);
			buf[n] = '\0';
			const char *rp = strrchr(buf, ')'); /* after "pid (comm)" */
			long ppid = 0;
			char state = 0;
			if (rp == NULL || sscanf(rp + 1, " %c %ld", &state, &ppid) != 2 ||
			    ppid != (long)getpid())
				continue;
			pid_t pid = (pid_t)strtol(e->d_name, NULL, 10);
			(void)kill(pid, SIGKILL);
			(void)wait_pid(pid, NULL, 0);
			found = 1;
		}
		closedir(d);
		if (!found)
			return;
	}
}

/* Stops the process group pid leads: TERM, up to grace_ms, then KILL; reaps
 * pid and returns its wait status (or -1). */
static int stop_group(pid_t pid, int grace_ms)
{
	int st = 0;
	(void)kill(-pid, SIGTERM);
	long end = now_ms() + grace_ms;
	for (;;) {
		pid_t w = wait_pid(pid, &st, WNOHANG);
		if (w == pid)
			break;
		if (w < 0)
			return -1;
		if (now_ms() >= end) {
			(void)kill(-pid, SIGKILL);
			if (wait_pid(pid, &st, 0) != pid)
				return -1;
			break;
		}
		struct timespec ts = {0, 20 * 1000000L};
		nanosleep(&ts, NULL);
	}
	(void)kill(-pid, SIGKILL); /* anything the process left behind in its group */
	return st;
}

static int exit_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

/* The port mitmdump prints ("Proxy server listening at 127.0.0.1:PORT"), or 0. */
static int mitm_port(const char *log)
{
	FILE *f = fopen(log, "r");
	char line[512];
	int port = 0;
	if (f == NULL)
		return 0;
	while (port == 0 && fgets(line, sizeof line, f) != NULL) {
		const char *k = strstr(line, "listening at 127.0.0.1:");
		if (k != NULL)
			port = atoi(k + strlen("listening at 127.0.0.1:"));
	}
	fclose(f);
	return port > 0 && port < 65536 ? port : 0;
}

/* mitmdump in reverse mode in front of 127.0.0.1:upstream, on a port the
 * kernel picks, with the addon that records what the client did. */
static pid_t start_mitm(const struct atk_run *run, int upstream, int *port, char *why, size_t wn)
{
	char mode[64], confdir[4200], addon[4200];
	snprintf(mode, sizeof mode, "reverse:https://127.0.0.1:%d", upstream);
	snprintf(confdir, sizeof confdir, "confdir=%s", run->mitm_confdir);
	snprintf(addon, sizeof addon, "%s", run->mitm_addon);
	const char *argv[] = {run->mitmdump, "--set", confdir, "--mode", mode, "--listen-host",
	                      "127.0.0.1", "--listen-port", "0", "--ssl-insecure", "-s", addon,
	                      NULL};
	pid_t pid = spawn(argv, run->mitm_log, NULL, 0, run->mitm_events);
	if (pid < 0) {
		snprintf(why, wn, "cannot start mitmdump: %s", strerror(errno));
		return -1;
	}
	long end = now_ms() + MITM_START_S * 1000L;
	int st;
	while (now_ms() < end && !atk_interrupted && wait_pid(pid, &st, WNOHANG) == 0) {
		int p = mitm_port(run->mitm_log);
		if (p != 0) {
			*port = p;
			return pid;
		}
		struct timespec ts = {0, 50 * 1000000L};
		nanosleep(&ts, NULL);
	}
	(void)stop_group(pid, 1000);
	snprintf(why, wn, "mitmdump did not start (see %.300s)", run->mitm_log);
	return -1;
}

/* What the addon recorded: connections, handshakes, requests. */
static void read_mitm_events(const struct atk_run *run, struct atk_observation *obs)
{
	FILE *f = fopen(run->mitm_events, "r");
	char line[512];
	if (f != NULL) {
		while (fgets(line, sizeof line, f) != NULL) {
			if (strncmp(line, "connect", 7) == 0)
				obs->mitm_connections++;
			else if (strncmp(line, "tls-ok", 6) == 0)
				obs->mitm_handshakes++;
			else if (strncmp(line, "request ", 8) == 0) {
				obs->mitm_requests++;
				if (obs->request[0] == '\0') {
					snprintf(obs->request, sizeof obs->request, "%.*s",
					         (int)strcspn(line + 8, "\r\n"), line + 8);
					printable(obs->request);
				}
			}
		}
		fclose(f);
	}
	/* data that never became a request (not HTTP, or cut short) is data too */
	f = fopen(run->mitm_log, "r");
	if (f != NULL) {
		while (fgets(line, sizeof line, f) != NULL) {
			const char *k = strstr(line, "before completing request headers: b");
			if (k != NULL && strncmp(k + strlen("before completing request headers: b"), "''", 2) != 0 &&
			    strncmp(k + strlen("before completing request headers: b"), "\"\"", 2) != 0)
				obs->mitm_requests++;
		}
		fclose(f);
	}
}

int atk_run_scenario(const struct atk_run *run, char *(*fill)(void *arg, int port), void *arg,
                     struct atk_observation *obs, char *why, size_t wn)
{
	memset(obs, 0, sizeof *obs);
	obs->client_exit = -1;
	/* a new port per scenario: a straggler from the last one cannot land here */
	int lport = 0, lfd = atk_listen(&lport, why, wn);
	if (lfd < 0)
		return -1;
	obs->port = lport;
	SSL_CTX *ctx = server_ctx(run->chain, why, wn);
	if (ctx == NULL) {
		close(lfd);
		return -1;
	}
	struct conn conns[MAX_CONNS];
	for (int i = 0; i < MAX_CONNS; i++)
		conns[i].fd = -1, conns[i].ssl = NULL, conns[i].state = C_DONE;

	int rc = -1, client_port = lport;
	pid_t mitm = -1, client = -1;
	char *cmd = NULL;
	if (run->mitmdump != NULL) {
		mitm = start_mitm(run, lport, &client_port, why, wn);
		if (mitm < 0)
			goto out;
	}
	cmd = fill(arg, client_port);
	if (cmd == NULL) {
		snprintf(why, wn, "out of memory");
		goto out;
	}
	const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
	client = spawn(argv, run->log_path, run->scenario, client_port, NULL);
	if (client < 0) {
		snprintf(why, wn, "cannot start the client: %s", strerror(errno));
		goto out;
	}

	long deadline = now_ms() + run->client_timeout * 1000L, drain_end = 0, idle_since = 0;
	int exited = 0;
	for (;;) {
		struct pollfd pfd[MAX_CONNS + 1];
		int n = 0;
		pfd[n].fd = lfd, pfd[n].events = POLLIN, pfd[n].revents = 0;
		n++;
		for (int i = 0; i < MAX_CONNS; i++) {
			if (conns[i].fd < 0)
				continue;
			short ev = conn_step(&conns[i], run->scenario);
			if (ev == 0)
				continue;
			pfd[n].fd = conns[i].fd, pfd[n].events = ev, pfd[n].revents = 0;
			n++;
		}
		int ready = poll(pfd, (nfds_t)n, 20);
		if (ready > 0 && (pfd[0].revents & POLLIN))
			accept_all(lfd, ctx, conns, obs);
		/* the connections are stepped at the top of the next round */

		long t = now_ms();
		if (!exited) {
			int st;
			pid_t w = waitpid(client, &st, WNOHANG);
			if (w == client) {
				exited = 1;
				obs->client_exit = exit_code(st);
				(void)kill(-client, SIGKILL);
				client = -1;
				drain_end = t + (run->mitmdump ? MITM_DRAIN_MS : DRAIN_MAX_MS);
				idle_since = t;
			} else if (t >= deadline || atk_interrupted) {
				obs->timed_out = 1;
				/* a connection still open without a request: the client
				 * neither accepted nor visibly rejected */
				for (int i = 0; i < MAX_CONNS; i++)
					if (conns[i].fd >= 0 && !conns[i].saw_data)
						obs->open_at_kill++;
				(void)stop_group(client, 1000);
				client = -1;
				exited = 1;
				drain_end = t + 200;
				idle_since = t;
			}
			continue;
		}
		/* the client is gone: finish what it already sent */
		if (ready > 0)
			idle_since = t;
		if (t >= drain_end || (run->mitmdump == NULL && t - idle_since >= DRAIN_IDLE_MS))
			break;
	}
	rc = 0;
out:
	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i].fd >= 0)
			conn_close(&conns[i]);
	if (client > 0)
		(void)stop_group(client, 1000);
	if (mitm > 0) {
		(void)stop_group(mitm, 3000);
		read_mitm_events(run, obs);
	}
	close(lfd);
	free(cmd);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}
