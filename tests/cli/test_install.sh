#!/usr/bin/env bash
# Installs the build into a scratch prefix and builds a consumer against it
# three ways: pkg-config (shared), pkg-config --static, and CMake's
# find_package(certpin). Each consumer must run and evaluate a chain.
. "$(dirname "$0")/lib.sh"
: "${CERTPIN_BUILD:?}" "${CERTPIN_SRC:?}"
prefix="$T/prefix"
if cmake --install "$CERTPIN_BUILD" --prefix "$prefix" >"$T/install.log" 2>&1; then
	ok "cmake --install into a scratch prefix"
else
	not_ok "cmake --install"; cat "$T/install.log"; finish; exit 1
fi
for f in include/certpin/certpin.h include/certpin/certpin_openssl.h; do
	[ -f "$prefix/$f" ] && ok "installed $f" || not_ok "missing $f"
done
libdir=$(dirname "$(find "$prefix" -name certpin.pc | head -n1)")/..
[ -f "$libdir/pkgconfig/certpin.pc" ] && ok "installed certpin.pc" || not_ok "missing certpin.pc"
[ -n "$(find "$prefix" -name certpinConfig.cmake)" ] && ok "installed certpinConfig.cmake" || not_ok "missing certpinConfig.cmake"
[ -x "$prefix/bin/certpin" ] && ok "installed the certpin tool" || not_ok "missing bin/certpin"

make_pki
cd "$T"
policy int.json api.test "\"$INT_PIN\", \"$BACKUP_PIN\""
openssl x509 -in leaf.pem -outform DER -out leaf.der
openssl x509 -in int.pem -outform DER -out int.der
export PKG_CONFIG_PATH="$libdir/pkgconfig"
# The compiler and (for a sanitized build) the runtime flags the library was built with.
CC=${CERTPIN_CC:-cc}
read -r -a XFLAGS <<<"${CERTPIN_CONSUMER_FLAGS:-}"

# pkg-config, shared library
if "$CC" "${XFLAGS[@]}" -o consumer-shared "$CERTPIN_SRC/examples/der_chain.c" $(pkg-config --cflags --libs certpin) 2>"$T/cc.log"; then
	ok "pkg-config consumer builds"
	expect_exit 0 "pkg-config consumer pins a chain" -- env LD_LIBRARY_PATH="$libdir" ./consumer-shared int.json api.test leaf.der int.der
	if readelf -d ./consumer-shared | grep -q 'NEEDED.*libcertpin\.so'; then
		ok "consumer links libcertpin.so"
	else not_ok "consumer does not link libcertpin.so"; fi
else
	not_ok "pkg-config consumer build"; cat "$T/cc.log"
fi

# pkg-config, static library
if "$CC" "${XFLAGS[@]}" -DCERTPIN_STATIC -o consumer-static "$CERTPIN_SRC/examples/der_chain.c" $(pkg-config --cflags certpin) \
	"$libdir/libcertpin.a" $(pkg-config --libs --static certpin | sed 's/-lcertpin//') 2>"$T/cc.log"; then
	ok "static consumer builds"
	expect_exit 0 "static consumer pins a chain" -- ./consumer-static int.json api.test leaf.der int.der
else
	not_ok "static consumer build"; cat "$T/cc.log"
fi

# CMake package
mkdir -p cm
cat >cm/CMakeLists.txt <<EOC
cmake_minimum_required(VERSION 3.20)
project(consumer C)
find_package(certpin 0.1 REQUIRED)
add_executable(consumer $CERTPIN_SRC/examples/der_chain.c)
target_link_libraries(consumer PRIVATE certpin::certpin)
EOC
if cmake -S cm -B cm/build -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$CC" \
	-DCMAKE_C_FLAGS="${XFLAGS[*]}" -DCMAKE_EXE_LINKER_FLAGS="${XFLAGS[*]}" >"$T/cm.log" 2>&1 && cmake --build cm/build >>"$T/cm.log" 2>&1; then
	ok "find_package(certpin) consumer builds"
	expect_exit 0 "CMake consumer pins a chain" -- env LD_LIBRARY_PATH="$libdir" cm/build/consumer int.json api.test leaf.der int.der
else
	not_ok "find_package(certpin) consumer"; tail -20 "$T/cm.log"
fi

# Exported symbols: only the certpin_ API.
bad=$(nm -D --defined-only "$libdir/libcertpin.so" | awk '$2 ~ /^[TDBR]$/ {print $3}' | grep -v '^certpin_' || true)
if [ -z "$bad" ]; then ok "libcertpin.so exports only certpin_* symbols"; else not_ok "unexpected exports: $bad"; fi
finish
