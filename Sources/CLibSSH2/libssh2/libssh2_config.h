/* mcp-tunnel: what libssh2's configure finds on Linux (glibc), for the OpenSSL back end, without
   zlib (mcp-tunnel never asks for compression). Written by hand once, from `./configure
   --with-crypto=openssl --without-libz` on Debian 12; see vendor/libssh2/README.md. */
#define LIBSSH2_OPENSSL 1
#define HAVE_ALLOCA 1
#define HAVE_ALLOCA_H 1
#define HAVE_ARPA_INET_H 1
#define HAVE_ERRNO_H 1
#define HAVE_EXPLICIT_BZERO 1
#define HAVE_FCNTL_H 1
#define HAVE_GETTIMEOFDAY 1
#define HAVE_INTTYPES_H 1
#define HAVE_NETINET_IN_H 1
#define HAVE_O_NONBLOCK 1
#define HAVE_POLL 1
#define HAVE_SELECT 1
#define HAVE_SNPRINTF 1
#define HAVE_STDINT_H 1
#define HAVE_STDIO_H 1
#define HAVE_STDLIB_H 1
#define HAVE_STRINGS_H 1
#define HAVE_STRING_H 1
#define HAVE_STRTOLL 1
#define HAVE_SYS_IOCTL_H 1
#define HAVE_SYS_SELECT_H 1
#define HAVE_SYS_SOCKET_H 1
#define HAVE_SYS_STAT_H 1
#define HAVE_SYS_TIME_H 1
#define HAVE_SYS_TYPES_H 1
#define HAVE_SYS_UIO_H 1
#define HAVE_SYS_UN_H 1
#define HAVE_UNISTD_H 1
#define STDC_HEADERS 1
