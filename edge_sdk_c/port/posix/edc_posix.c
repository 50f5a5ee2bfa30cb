/* POSIX reference port (see edc_posix.h). No allocation of its own; file and socket I/O. */
#define _POSIX_C_SOURCE 200809L
#include "edc_posix.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

uint32_t edc_crc32(const uint8_t *p, size_t n) {
    uint32_t c = 0xffffffffu;
    size_t i;
    int k;
    for (i = 0; i < n; i++) {
        c ^= p[i];
        for (k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

static void path_of(const edc_spool *s, uint64_t seq, char *out, size_t cap, const char *ext) {
    snprintf(out, cap, "%s/%020llu%s", s->dir, (unsigned long long)seq, ext);
}

static void save_state(const edc_spool *s) {
    char tmp[600], fin[600];
    FILE *f;
    snprintf(tmp, sizeof tmp, "%s/state.edc.tmp", s->dir);
    snprintf(fin, sizeof fin, "%s/state.edc", s->dir);
    f = fopen(tmp, "w");
    if (!f) return;
    fprintf(f, "%llu %llu %llu %llu\n", (unsigned long long)s->next_seq,
            (unsigned long long)s->dropped, (unsigned long long)s->corrupt,
            (unsigned long long)s->rejected);
    fflush(f);
    fsync(fileno(f));
    fclose(f);
    rename(tmp, fin);
}

int edc_spool_open(edc_spool *s, const char *dir, const char *model, uint64_t max_bytes,
                   uint32_t max_files, uint64_t now_ms) {
    char st[600];
    FILE *f;
    unsigned long long a, b, c, d;
    memset(s, 0, sizeof *s);
    if (snprintf(s->dir, sizeof s->dir, "%s", dir) >= (int)sizeof s->dir) return -1;
    mkdir(s->dir, 0700);
    if (snprintf(s->dir, sizeof s->dir, "%s/%s", dir, model) >= (int)sizeof s->dir) return -1;
    if (mkdir(s->dir, 0700) != 0 && errno != EEXIST) return -1;
    s->max_bytes = max_bytes;
    s->max_files = max_files;
    s->next_seq = now_ms;
    snprintf(st, sizeof st, "%s/state.edc", s->dir);
    f = fopen(st, "r");
    if (f) {
        if (fscanf(f, "%llu %llu %llu %llu", &a, &b, &c, &d) == 4) {
            if (a > s->next_seq) s->next_seq = a;
            s->dropped = b; s->corrupt = c; s->rejected = d;
        }
        fclose(f);
    }
    return 0;
}

uint64_t edc_spool_next_seq(edc_spool *s) {
    uint64_t seq = s->next_seq++;
    save_state(s);
    return seq;
}

/* Walks the spool: the count, bytes and the oldest / newest sequence numbers of .edw files. */
static void scan(const edc_spool *s, uint64_t *n, uint64_t *bytes, uint64_t *oldest) {
    DIR *d = opendir(s->dir);
    struct dirent *e;
    *n = *bytes = 0;
    *oldest = UINT64_MAX;
    if (!d) return;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        char full[1100];
        struct stat sb;
        if (len != 24 || strcmp(e->d_name + 20, ".edw") != 0) continue;
        snprintf(full, sizeof full, "%s/%s", s->dir, e->d_name);
        if (stat(full, &sb) != 0) continue;
        (*n)++;
        *bytes += (uint64_t)sb.st_size;
        {
            uint64_t seq = strtoull(e->d_name, NULL, 10);
            if (seq < *oldest) *oldest = seq;
        }
    }
    closedir(d);
}

int edc_spool_remove(edc_spool *s, uint64_t seq) {
    char p[600];
    path_of(s, seq, p, sizeof p, ".edw");
    return unlink(p);
}

int edc_spool_reject(edc_spool *s, uint64_t seq) {
    s->rejected++;
    save_state(s);
    return edc_spool_remove(s, seq);
}

int edc_spool_append(edc_spool *s, uint64_t seq, const uint8_t *body, size_t len) {
    char tmp[600], fin[600];
    uint8_t head[12];
    uint32_t crc = edc_crc32(body, len), L = (uint32_t)len;
    uint64_t n, bytes, oldest;
    int fd, i;
    memcpy(head, "EDW1", 4);
    for (i = 0; i < 4; i++) {
        head[4 + i] = (uint8_t)(L >> (8 * i));
        head[8 + i] = (uint8_t)(crc >> (8 * i));
    }
    path_of(s, seq, tmp, sizeof tmp, ".tmp");
    path_of(s, seq, fin, sizeof fin, ".edw");
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return -1;
    if (write(fd, head, 12) != 12 || write(fd, body, len) != (ssize_t)len || fsync(fd) != 0) {
        close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    if (rename(tmp, fin) != 0) return -1;
    fd = open(s->dir, O_RDONLY);
    if (fd >= 0) { fsync(fd); close(fd); }
    for (;;) {                                  /* drop the oldest while over the limits */
        scan(s, &n, &bytes, &oldest);
        if (n <= 1 || (n <= s->max_files && bytes <= s->max_bytes)) break;
        edc_spool_remove(s, oldest);
        s->dropped++;
    }
    save_state(s);
    return 0;
}

long edc_spool_oldest(edc_spool *s, uint64_t *seq, uint8_t *out, size_t cap) {
    for (;;) {
        uint64_t n, bytes, oldest;
        uint8_t head[12];
        char p[600];
        FILE *f;
        uint32_t L, crc;
        int ok;
        scan(s, &n, &bytes, &oldest);
        if (!n) return 0;
        path_of(s, oldest, p, sizeof p, ".edw");
        f = fopen(p, "rb");
        if (!f) return -1;
        ok = fread(head, 1, 12, f) == 12 && memcmp(head, "EDW1", 4) == 0;
        L = ok ? (uint32_t)head[4] | (uint32_t)head[5] << 8 | (uint32_t)head[6] << 16
                 | (uint32_t)head[7] << 24 : 0;
        crc = (uint32_t)head[8] | (uint32_t)head[9] << 8 | (uint32_t)head[10] << 16
            | (uint32_t)head[11] << 24;
        if (ok && L > cap) { fclose(f); return EDC_E_SPACE; }
        ok = ok && fread(out, 1, L, f) == L && fgetc(f) == EOF && edc_crc32(out, L) == crc;
        fclose(f);
        if (ok) { *seq = oldest; return (long)L; }
        unlink(p);                              /* torn, truncated or flipped: skip, count */
        s->corrupt++;
        save_state(s);
    }
}

void edc_spool_backlog(const edc_spool *s, uint64_t *windows, uint64_t *bytes) {
    uint64_t oldest;
    scan(s, windows, bytes, &oldest);
}

void edc_spool_health(const edc_spool *s, edc_health *h) {
    uint64_t bytes;
    memset(h, 0, sizeof *h);
    h->dropped = s->dropped;
    h->corrupt = s->corrupt;
    h->rejected = s->rejected;
    edc_spool_backlog(s, &h->backlog, &bytes);
}

int edc_http_post(const char *host, const char *port, const char *path, const char *key,
                  const char *device, uint64_t ts, const uint8_t *body, size_t len) {
    struct addrinfo hints, *res = NULL;
    char head[1024], sig[65], kid[33], resp[1024];
    int fd, n, status = -1;
    size_t sent = 0;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0) return -1;
    fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        if (fd >= 0) close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    edc_request_signature(key, device, ts, "identity", body, len, sig);
    edc_key_id(key, kid);
    n = snprintf(head, sizeof head,
                 "POST %s HTTP/1.1\r\nHost: %s:%s\r\n"
                 "Content-Type: application/vnd.edgedrift.v1+msgpack\r\n"
                 "Content-Length: %zu\r\nConnection: close\r\nUser-Agent: edgedrift-c/0.1\r\n"
                 "X-Edgedrift-Device: %s\r\nX-Edgedrift-Timestamp: %llu\r\n"
                 "X-Edgedrift-Signature: %s\r\n%s%s%s\r\n",
                 path, host, port, len, device, (unsigned long long)ts, sig,
                 kid[0] ? "X-Edgedrift-Key-Id: " : "", kid, kid[0] ? "\r\n" : "");
    if (n <= 0 || n >= (int)sizeof head || send(fd, head, (size_t)n, 0) != n) goto done;
    while (sent < len) {
        ssize_t k = send(fd, body + sent, len - sent, 0);
        if (k <= 0) goto done;
        sent += (size_t)k;
    }
    {
        size_t got = 0;
        while (got < sizeof resp - 1 && (n = (int)recv(fd, resp + got, sizeof resp - 1 - got, 0)) > 0)
            got += (size_t)n;
        resp[got] = 0;
        if (got > 12 && strncmp(resp, "HTTP/1.", 7) == 0) status = atoi(resp + 9);
        /* 401 timestamp_skew: the device clock is off; the window is kept (edge_sdk) */
        if (status == 401 && strstr(resp, "timestamp_skew")) status = EDC_HTTP_SKEW;
    }
done:
    close(fd);
    return status;
}
