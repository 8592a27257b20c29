/*
 * healthcheck: the image's HEALTHCHECK. Exits 0 when the shiftformer admin port answers
 * GET /health/ready with 200, else 1, printing the answer's first lines (docker keeps them in
 * `docker inspect --format '{{json .State.Health}}'`).
 *
 * The admin port is SHIFTFORMER_ADMIN_PORT if set, else the value of --admin-port on the server's
 * command line (/proc/1/cmdline: the server is the container's PID 1), else 7434. It connects to
 * 127.0.0.1 unless the server was given a --bind address other than 0.0.0.0 / :: (then that one).
 *
 * Built statically (gcc -static -Os) so the image needs no shell and no C library tools for it;
 * every call is bounded by a 3 s socket timeout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define DEFAULT_ADMIN_PORT 7434
#define TIMEOUT_S 3

/* Reads PID 1's NUL-separated command line and finds the value of --name (as "--name V" or "--name=V"). */
static int find_arg(const char *cmdline, size_t len, const char *name, char *out, size_t out_len) {
    size_t name_len = strlen(name);
    const char *p = cmdline, *end = cmdline + len;
    while (p < end) {
        size_t n = strnlen(p, (size_t)(end - p));
        if (n == name_len && strncmp(p, name, name_len) == 0 && p + n + 1 < end) {
            snprintf(out, out_len, "%s", p + n + 1);
            return 1;
        }
        if (n > name_len && strncmp(p, name, name_len) == 0 && p[name_len] == '=') {
            snprintf(out, out_len, "%s", p + name_len + 1);
            return 1;
        }
        p += n + 1;
    }
    return 0;
}

int main(void) {
    char cmdline[16384];
    size_t len = 0;
    int fd = open("/proc/1/cmdline", O_RDONLY);
    if (fd >= 0) {
        ssize_t r;
        while (len < sizeof cmdline - 1 && (r = read(fd, cmdline + len, sizeof cmdline - 1 - len)) > 0) {
            len += (size_t)r;
        }
        close(fd);
    }
    cmdline[len] = '\0';

    char value[256];
    long port = DEFAULT_ADMIN_PORT;
    const char *env = getenv("SHIFTFORMER_ADMIN_PORT");
    if (env != NULL && *env != '\0') {
        snprintf(value, sizeof value, "%s", env);
        port = strtol(value, NULL, 10);
    } else if (find_arg(cmdline, len, "--admin-port", value, sizeof value)) {
        port = strtol(value, NULL, 10);
    }
    if (port == -1) {
        printf("unhealthy: the admin port is disabled (--admin-port -1), so readiness cannot be asked\n");
        return 1;
    }
    if (port < 1 || port > 65535) {
        printf("unhealthy: admin port '%s' is not in [1, 65535]\n", value);
        return 1;
    }

    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char bind_addr[256];
    if (find_arg(cmdline, len, "--bind", bind_addr, sizeof bind_addr) && strcmp(bind_addr, "0.0.0.0") != 0
            && strcmp(bind_addr, "::") != 0 && inet_pton(AF_INET, bind_addr, &addr.sin_addr) != 1) {
        printf("unhealthy: --bind %s is not an IPv4 address this check can reach\n", bind_addr);
        return 1;
    }

    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) {
        printf("unhealthy: socket: %s\n", strerror(errno));
        return 1;
    }
    struct timeval tv = {TIMEOUT_S, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    char host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &addr.sin_addr, host, sizeof host);
    if (connect(s, (struct sockaddr *)&addr, sizeof addr) != 0) {
        printf("unhealthy: cannot connect to the admin port %s:%ld: %s\n", host, port, strerror(errno));
        return 1;
    }
    char req[256];
    int req_len = snprintf(req, sizeof req, "GET /health/ready HTTP/1.1\r\nHost: %s:%ld\r\nConnection: close\r\n\r\n",
                           host, port);
    if (write(s, req, (size_t)req_len) != req_len) {
        printf("unhealthy: cannot send to %s:%ld: %s\n", host, port, strerror(errno));
        return 1;
    }
    char resp[4096];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof resp - 1 && (r = read(s, resp + got, sizeof resp - 1 - got)) > 0) {
        got += (size_t)r;
    }
    close(s);
    resp[got] = '\0';
    const char *body = strstr(resp, "\r\n\r\n");
    body = body != NULL ? body + 4 : "";
    size_t body_len = strlen(body);
    while (body_len > 0 && (body[body_len - 1] == '\n' || body[body_len - 1] == '\r')) {
        body_len--;
    }
    if (strncmp(resp, "HTTP/1.1 200", 12) == 0 || strncmp(resp, "HTTP/1.0 200", 12) == 0) {
        printf("%.*s\n", (int)body_len, body);
        return 0;
    }
    char *eol = strstr(resp, "\r\n");
    if (eol != NULL) {
        *eol = '\0';
    }
    printf("unhealthy: %s: %.*s\n", got > 0 ? resp : "no answer", (int)body_len, body);
    return 1;
}
