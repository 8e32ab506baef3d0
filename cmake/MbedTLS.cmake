# libcertpin on mbedTLS (-DCERTPIN_CRYPTO=mbedtls): the core (pins, hosts,
# policies, evaluation) with mbedTLS for SHA-256 and certificate parsing, and
# the mbedTLS adapter. No OpenSSL and no libcurl in the library: the OpenSSL
# and libcurl adapters, signed bundles and their updater, and violation
# reports are OpenSSL-build features. Included from CMakeLists.txt, which
# returns after it.
find_path(MBEDTLS_INCLUDE_DIR mbedtls/ssl.h REQUIRED)
find_library(MBEDTLS_LIBRARY mbedtls REQUIRED)
find_library(MBEDX509_LIBRARY mbedx509 REQUIRED)
find_library(MBEDCRYPTO_LIBRARY mbedcrypto REQUIRED)
set(CERTPIN_MBEDTLS_LIBS ${MBEDTLS_LIBRARY} ${MBEDX509_LIBRARY} ${MBEDCRYPTO_LIBRARY})

list(FILTER CERTPIN_SOURCES EXCLUDE REGEX
     "(_openssl|/tls/openssl|/tls/curl|/core/updater|/formats/bundle|/report/[^/]*)\\.c$")

add_library(certpin_objs OBJECT ${CERTPIN_SOURCES})
target_include_directories(certpin_objs PUBLIC
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> ${MBEDTLS_INCLUDE_DIR}
  PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_compile_definitions(certpin_objs PRIVATE CERTPIN_BUILDING CERTPIN_CRYPTO_MBEDTLS)
target_compile_options(certpin_objs PRIVATE -fvisibility=hidden)
target_link_libraries(certpin_objs PUBLIC ${CERTPIN_MBEDTLS_LIBS} PkgConfig::JANSSON PkgConfig::LIBPSL
                      Threads::Threads)
certpin_warnings(certpin_objs)

add_library(certpin SHARED $<TARGET_OBJECTS:certpin_objs>)
target_link_libraries(certpin PUBLIC ${CERTPIN_MBEDTLS_LIBS}
                      PRIVATE PkgConfig::JANSSON PkgConfig::LIBPSL Threads::Threads)
target_include_directories(certpin PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>)
set_target_properties(certpin PROPERTIES VERSION ${PROJECT_VERSION}
                      SOVERSION ${PROJECT_VERSION_MAJOR})
add_library(certpin_static STATIC $<TARGET_OBJECTS:certpin_objs>)
set_target_properties(certpin_static PROPERTIES OUTPUT_NAME certpin)
target_link_libraries(certpin_static PUBLIC ${CERTPIN_MBEDTLS_LIBS} PkgConfig::JANSSON PkgConfig::LIBPSL
                      Threads::Threads)
target_include_directories(certpin_static PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>)
target_compile_definitions(certpin_static INTERFACE CERTPIN_STATIC)
install(DIRECTORY include/certpin DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS certpin certpin_static LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})

add_executable(mbedtls_client examples/mbedtls_client.c)
target_link_libraries(mbedtls_client PRIVATE certpin)
certpin_warnings(mbedtls_client)

# make bench: the pin check inside an mbedTLS handshake (bench/mbedtls/run)
add_executable(certpin_mbedtls_bench bench/mbedtls/handshake.c)
target_link_libraries(certpin_mbedtls_bench PRIVATE certpin_static)
certpin_warnings(certpin_mbedtls_bench)

if(CERTPIN_TESTS)
  enable_testing()
  add_subdirectory(tests/mbedtls)
endif()
