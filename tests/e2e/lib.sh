# Harness for end-to-end tests: real servers and real interception tools on
# 127.0.0.1. Source it from a tests/e2e/test_*.sh script (bash).
#
# Gives: ok/not_ok/expect_exit/expect_grep/finish and the pki_* helpers (from
# ../cli/lib.sh), $T (a private temp dir), need_tools, die, free_port,
# wait_port, start_nginx, start_s_server, start_mitm_reverse,
# start_mitm_regular, start_sslsplit, make_e2e_pki, served_certs, pem_pin,
# curl_e2e. Every server runs as `setsid timeout $E2E_SERVER_TIMEOUT CMD`
# (its own process group), its PID is recorded in E2E_PIDS, and one EXIT trap
# stops exactly those process groups and removes $T.
#
# Loopback only: servers listen on 127.0.0.1, clients connect to 127.0.0.1,
# names like api.test are never resolved (curl --connect-to / --resolve).
# shellcheck shell=bash disable=SC2034  # sets variables for the sourcing test

E2E_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_SRC=$(cd "$E2E_LIB_DIR/../.." && pwd)

# ../cli/lib.sh wants the CLI binary; e2e tests that do not use it still run
# outside CTest. Tests that need it call need_certpin.
: "${CERTPIN_BIN:=${CERTPIN_BUILD:-$E2E_SRC/build}/certpin}"
export CERTPIN_BIN
# shellcheck source=tests/cli/lib.sh
. "$E2E_LIB_DIR/../cli/lib.sh"

# Our own temp dir (cli/lib.sh made one and set a trap; replace both).
rmdir "$T"
T=$(mktemp -d /tmp/certpin-e2e.XXXXXX)
export T

# Never talk to a proxy from the environment.
unset http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY ALL_PROXY all_proxy
# Any server outlives its test by at most this many seconds, even if the test
# is SIGKILLed and the EXIT trap never runs.
E2E_SERVER_TIMEOUT=${E2E_SERVER_TIMEOUT:-120}
# Debian's python3 first: a pyenv shim earlier on PATH costs ~150 ms a call.
if [ -x /usr/bin/python3 ]; then E2E_PYTHON=/usr/bin/python3; else E2E_PYTHON=python3; fi

E2E_PIDS=()
LAUNCH_PID=

# ---- failing loudly ------------------------------------------------------

# die MESSAGE: one failed check, the summary, exit 1 (the trap cleans up).
die() {
	not_ok "$*"
	finish || true
	exit 1
}

# need_tools CMD...: every command must exist; a missing one is a failure.
need_tools() {
	local c missing=()
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || missing+=("$c")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		die "required tool(s) missing: ${missing[*]} (install with scripts/install-deps as root)"
	fi
}

need_certpin() {
	[ -x "$CERTPIN_BIN" ] || die "certpin binary not found at $CERTPIN_BIN (set CERTPIN_BIN or build first)"
}

# show_log FILE [LINES]: indented tail of a log, for failure messages.
show_log() {
	[ -s "$1" ] && tail -n "${2:-15}" "$1" | sed 's/^/    log: /'
	return 0
}

# ---- processes -----------------------------------------------------------

# _e2e_stop PID: stop the process group PID leads (setsid made it a session
# and group leader): TERM, up to 5 s grace, then KILL; reap it.
_e2e_stop() {
	local pid=$1 i
	kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || pgrep -g "$pid" >/dev/null 2>&1 || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null || pgrep -g "$pid" >/dev/null 2>&1; then
		kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

_e2e_cleanup() {
	local rc=$? i
	set +e
	for ((i = ${#E2E_PIDS[@]} - 1; i >= 0; i--)); do
		_e2e_stop "${E2E_PIDS[$i]}"
	done
	E2E_PIDS=()
	if [ -n "${E2E_KEEP:-}" ]; then echo "# kept $T"; else rm -rf "$T"; fi
	exit "$rc"
}
trap _e2e_cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# _launch LOG CMD...: start CMD in its own session under timeout, output to
# LOG; sets LAUNCH_PID (also the process group id) and records it.
_launch() {
	local log=$1
	shift
	setsid timeout "$E2E_SERVER_TIMEOUT" "$@" </dev/null >"$log" 2>&1 &
	LAUNCH_PID=$!
	E2E_PIDS+=("$LAUNCH_PID")
}

# free_port: a port the kernel says is free on 127.0.0.1 right now.
free_port() {
	"$E2E_PYTHON" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# _listener_ours PORT PGID: a socket listening on 127.0.0.1:PORT belongs to a
# process of group PGID (and not to someone who grabbed the port first).
_listener_ours() {
	local p
	for p in $(ss -Hltnp "src 127.0.0.1:$1" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2); do
		[ "$(ps -o pgid= -p "$p" 2>/dev/null | tr -d ' ')" = "$2" ] && return 0
	done
	return 1
}

# wait_port PORT PID: until our process group PID listens on 127.0.0.1:PORT
# (returns 0), or PID died / 10 s passed (returns 1).
wait_port() {
	local port=$1 pid=$2 i
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || return 1
		_listener_ours "$port" "$pid" && return 0
		sleep 0.1
	done
	return 1
}

# _start NAME LOG CMD... : CMD with {PORT} replaced by a free port; up to 3
# attempts (another process may take the port between free_port and bind).
# Sets STARTED_PORT and STARTED_PID, or dies with the log.
_start() {
	local name=$1 log=$2 attempt port
	shift 2
	for attempt in 1 2 3; do
		port=$(free_port)
		[ -n "${E2E_PRE_START:-}" ] && "$E2E_PRE_START" "$port"
		_launch "$log" "${@//\{PORT\}/$port}"
		if wait_port "$port" "$LAUNCH_PID"; then
			STARTED_PORT=$port
			STARTED_PID=$LAUNCH_PID
			return 0
		fi
		echo "# $name did not come up on 127.0.0.1:$port (attempt $attempt)"
		show_log "$log"
		_e2e_stop "$LAUNCH_PID"
	done
	die "$name did not start: $*"
}

# ---- servers and attackers -----------------------------------------------

# start_nginx DIR CHAIN KEY: nginx serving CHAIN (leaf first) for api.test and
# localhost; GET / answers 200 with $NGINX_BODY. Sets NGINX_PORT, NGINX_PID.
start_nginx() {
	local dir=$1 chain=$2 key=$3
	need_tools nginx
	mkdir -p "$dir/tmp"
	NGINX_BODY=${NGINX_BODY:-"certpin-e2e nginx $$ $RANDOM"}
	_nginx_dir=$dir _nginx_chain=$chain _nginx_key=$key
	E2E_PRE_START=_nginx_conf _start nginx "$dir/stderr.log" \
		nginx -e "$dir/err.log" -p "$dir" -c "$dir/nginx.conf"
	NGINX_PORT=$STARTED_PORT NGINX_PID=$STARTED_PID
}
_nginx_conf() { # PORT (uses _nginx_dir/_nginx_chain/_nginx_key, _nginx_body if set)
	local d=$_nginx_dir body=${_nginx_body:-}
	if [ -z "$body" ]; then
		body="        location = / { default_type text/plain; return 200 \"$NGINX_BODY\\n\"; }
        location / { return 404; }"
	fi
	cat >"$d/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/err.log;
events { worker_connections 64; }
http {
    access_log $d/access.log;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    server {
        listen 127.0.0.1:$1 ssl;
        server_name api.test localhost;
        ssl_certificate $_nginx_chain;
        ssl_certificate_key $_nginx_key;
        ssl_protocols TLSv1.2 TLSv1.3;
$body
    }
}
EOF
}

# start_nginx_static DIR CHAIN KEY DOCROOT [SERVER_LINES]: as start_nginx, but
# serving the files of DOCROOT (with nginx's ETags), plus SERVER_LINES (more
# locations). Sets NGINX_PORT, NGINX_PID. nginx's workers may run as another
# user: DOCROOT and the directories above it must be readable by them.
start_nginx_static() {
	local dir=$1 chain=$2 key=$3
	need_tools nginx
	mkdir -p "$dir/tmp"
	_nginx_dir=$dir _nginx_chain=$chain _nginx_key=$key
	_nginx_body="        root $4;
        ${5:-}"
	E2E_PRE_START=_nginx_conf _start nginx "$dir/stderr.log" \
		nginx -e "$dir/err.log" -p "$dir" -c "$dir/nginx.conf"
	_nginx_body=
	NGINX_PORT=$STARTED_PORT NGINX_PID=$STARTED_PID
}

# start_s_server CERT KEY [CHAIN_FILE]: openssl s_server -www sending CERT
# then CHAIN_FILE exactly as given (any attacker chain). Sets S_PORT, S_PID.
start_s_server() {
	local cert=$1 key=$2 chain=${3:-} dir
	need_tools openssl
	dir=$(mktemp -d "$T/s_server.XXXX")
	_start s_server "$dir/s_server.log" \
		openssl s_server -quiet -accept "127.0.0.1:{PORT}" -cert "$cert" -key "$key" \
		${chain:+-cert_chain "$chain"} -www
	S_PORT=$STARTED_PORT S_PID=$STARTED_PID
}

# _mitm_trust [UPSTREAM_CA]: how mitmproxy checks the real server.
_mitm_trust() {
	local ca=${1:-${E2E_PKI:+$E2E_PKI/root.pem}}
	if [ -n "$ca" ]; then
		echo --set
		echo "ssl_verify_upstream_trusted_ca=$ca"
	else
		echo --ssl-insecure
	fi
}

# start_mitm_reverse UPSTREAM_PORT [UPSTREAM_CA]: mitmdump in reverse mode in
# front of https://127.0.0.1:UPSTREAM_PORT, checking it against UPSTREAM_CA
# (default: the e2e root). Sets MITM_PORT, MITM_PID, MITM_CA.
start_mitm_reverse() {
	local up=$1 trust
	need_tools mitmdump
	mapfile -t trust < <(_mitm_trust "${2:-}")
	_start "mitmdump reverse" "$T/mitm-reverse.log" \
		mitmdump -q --set "confdir=$T/mitm" --mode "reverse:https://127.0.0.1:$up" \
		--listen-host 127.0.0.1 --listen-port "{PORT}" "${trust[@]}"
	MITM_PORT=$STARTED_PORT MITM_PID=$STARTED_PID
	MITM_CA=$T/mitm/mitmproxy-ca-cert.pem
	[ -s "$MITM_CA" ] || die "mitmdump started but did not write $MITM_CA"
}

# start_mitm_regular [UPSTREAM_CA]: mitmdump as an explicit (CONNECT) proxy.
# Sets MITM_PROXY_PORT, MITM_PROXY_PID, MITM_CA. Clients must CONNECT to
# 127.0.0.1:PORT (curl --proxy ... --connect-to), never to a name the proxy
# would look up in DNS.
start_mitm_regular() {
	local trust
	need_tools mitmdump
	mapfile -t trust < <(_mitm_trust "${1:-}")
	_start "mitmdump regular" "$T/mitm-regular.log" \
		mitmdump -q --set "confdir=$T/mitm" --mode regular \
		--listen-host 127.0.0.1 --listen-port "{PORT}" "${trust[@]}"
	MITM_PROXY_PORT=$STARTED_PORT MITM_PROXY_PID=$STARTED_PID
	MITM_CA=$T/mitm/mitmproxy-ca-cert.pem
	[ -s "$MITM_CA" ] || die "mitmdump started but did not write $MITM_CA"
}

# start_sslsplit UPSTREAM_PORT EVIL_CA_CERT EVIL_CA_KEY: sslsplit forging
# certificates with the given CA in front of 127.0.0.1:UPSTREAM_PORT.
# Sets SSLSPLIT_PORT, SSLSPLIT_PID, SSLSPLIT_DIR (conn.log, sslsplit.log).
start_sslsplit() {
	local up=$1 cacert=$2 cakey=$3
	need_tools sslsplit
	SSLSPLIT_DIR=$(mktemp -d "$T/sslsplit.XXXX")
	_start sslsplit "$SSLSPLIT_DIR/sslsplit.log" \
		sslsplit -D -k "$cakey" -c "$cacert" -l "$SSLSPLIT_DIR/conn.log" \
		ssl 127.0.0.1 "{PORT}" 127.0.0.1 "$up"
	SSLSPLIT_PORT=$STARTED_PORT SSLSPLIT_PID=$STARTED_PID
}

# ---- PKI -----------------------------------------------------------------

# pem_pin FILE: sha256/ SPKI pin of a certificate, or of a key (private or
# public) when FILE holds no certificate.
pem_pin() {
	if grep -q 'BEGIN CERTIFICATE' "$1"; then
		spki_pin "$1"
	else
		echo "sha256/$(openssl pkey -in "$1" -pubout -outform DER 2>/dev/null |
			openssl dgst -sha256 -binary | openssl base64 -A)"
	fi
}

# make_e2e_pki: a fresh PKI in $E2E_PKI ($T/pki):
#   root.pem/key, int.pem/key (real CA), leaf.pem/key (api.test, localhost,
#   127.0.0.1, serverAuth), fullchain.pem (leaf+int, what nginx serves),
#   backup.key (no certificate), rogue.pem/key (rogue root CA),
#   evil.pem/key (api.test signed by the rogue CA), other-leaf.pem/key
#   (api.test signed by the real int, another key), other-fullchain.pem,
#   exp-leaf.pem / exp-fullchain.pem (the leaf key, certificate expired).
# Exports ROOT_PIN INT_PIN LEAF_PIN BACKUP_PIN EVIL_PIN OTHER_PIN ROGUE_PIN.
make_e2e_pki() {
	need_tools openssl
	E2E_PKI=$T/pki
	mkdir -p "$E2E_PKI"
	(
		cd "$E2E_PKI"
		pki_ca_ext >ca.ext
		pki_leaf_ext "DNS:api.test,DNS:localhost,IP:127.0.0.1" leaf.ext
		pki_key root.key && pki_root "certpin e2e Root CA" root.key root.pem
		pki_key int.key && pki_issue "certpin e2e Issuing CA" int.key root.pem root.key int.pem ca.ext
		pki_key leaf.key && pki_issue "api.test" leaf.key int.pem int.key leaf.pem leaf.ext
		pki_key backup.key
		pki_key rogue.key && pki_root "certpin e2e Rogue CA" rogue.key rogue.pem
		pki_key evil.key && pki_issue "api.test" evil.key rogue.pem rogue.key evil.pem leaf.ext
		pki_key other.key && pki_issue "api.test" other.key int.pem int.key other-leaf.pem leaf.ext
		cat leaf.pem int.pem >fullchain.pem
		cat other-leaf.pem int.pem >other-fullchain.pem
		# the real leaf's key in a certificate that expired yesterday
		openssl req -new -key leaf.key -subj /CN=api.test -out exp.csr 2>/dev/null &&
			openssl x509 -req -in exp.csr -CA int.pem -CAkey int.key -CAcreateserial -days -1 \
				-extfile leaf.ext -out exp-leaf.pem 2>/dev/null && cat exp-leaf.pem int.pem >exp-fullchain.pem
		openssl verify -CAfile root.pem -untrusted int.pem leaf.pem other-leaf.pem >/dev/null &&
			openssl verify -CAfile rogue.pem evil.pem >/dev/null
	) || die "make_e2e_pki: could not build the test PKI"
	ROOT_PIN=$(pem_pin "$E2E_PKI/root.pem")
	INT_PIN=$(pem_pin "$E2E_PKI/int.pem")
	LEAF_PIN=$(pem_pin "$E2E_PKI/leaf.pem")
	BACKUP_PIN=$(pem_pin "$E2E_PKI/backup.key")
	ROGUE_PIN=$(pem_pin "$E2E_PKI/rogue.pem")
	EVIL_PIN=$(pem_pin "$E2E_PKI/evil.pem")
	OTHER_PIN=$(pem_pin "$E2E_PKI/other-leaf.pem")
	export E2E_PKI ROOT_PIN INT_PIN LEAF_PIN BACKUP_PIN ROGUE_PIN EVIL_PIN OTHER_PIN
}

# ---- clients -------------------------------------------------------------

# served_certs PORT SNI PREFIX [S_CLIENT_ARGS...]: the chain a server on
# 127.0.0.1:PORT presents for SNI, as PREFIX.0.pem (leaf), PREFIX.1.pem, ...
# Prints the number of certificates. Extra args go to s_client (e.g.
# -proxy 127.0.0.1:P to go through a CONNECT proxy).
served_certs() {
	local port=$1 sni=$2 prefix=$3
	shift 3
	timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername "$sni" \
		-showcerts "$@" </dev/null >"$prefix.out" 2>"$prefix.err" || true
	awk -v p="$prefix" '
		/-----BEGIN CERTIFICATE-----/ { f = p "." (n + 0) ".pem"; n++; on = 1 }
		on { print > f }
		/-----END CERTIFICATE-----/ { on = 0; close(f) }
		END { print n + 0 }' "$prefix.out"
}

# curl_e2e OUT ARGS...: curl (no config file, 10 s limit), body to OUT,
# verbose log to OUT.log; sets CURL_RC and HTTP_CODE. Never fails itself.
curl_e2e() {
	local out=$1
	shift
	set +e
	HTTP_CODE=$(curl -q -sS -v --max-time 10 -o "$out" -w '%{http_code}' "$@" 2>"$out.log")
	CURL_RC=$?
	set -e
}

need_tools setsid timeout ss ps pgrep "$E2E_PYTHON" openssl

# ---- additions for the libcurl adapter test -----------------------------

# start_nginx_redirect DIR CHAIN KEY TARGET_HOST: as start_nginx, and GET
# /redir answers 302 to https://TARGET_HOST:<same port>/ (a redirect to
# another host name on the same server). Sets NGINX_PORT, NGINX_PID.
start_nginx_redirect() {
	local dir=$1 chain=$2 key=$3
	_nginx_redirect_host=$4
	need_tools nginx
	mkdir -p "$dir/tmp"
	NGINX_BODY=${NGINX_BODY:-"certpin-e2e nginx $$ $RANDOM"}
	_nginx_dir=$dir _nginx_chain=$chain _nginx_key=$key
	E2E_PRE_START=_nginx_conf_redirect _start nginx "$dir/stderr.log" \
		nginx -e "$dir/err.log" -p "$dir" -c "$dir/nginx.conf"
	NGINX_PORT=$STARTED_PORT NGINX_PID=$STARTED_PID
}
_nginx_conf_redirect() { # PORT
	_nginx_conf "$1"
	local loc="location = /redir { return 302 https://$_nginx_redirect_host:\$server_port/; }"
	sed -i "s|^\( *\)location / { return 404; }|\1$loc\n&|" "$_nginx_dir/nginx.conf"
	grep -qF "$loc" "$_nginx_dir/nginx.conf" || die "start_nginx_redirect: config not patched"
}
