/* A static network probe for the egress tests: the tests copy it into a
 * guest (whose busybox has no UDP client and no timing) and run it there.
 *   netprobe tcp HOST PORT [MSG]   connect (5 s), optionally echo a line
 *   netprobe udp HOST PORT MSG     one datagram, wait 2 s for the echo
 *   netprobe get HOST PORT         read to end of file, print the bytes
 *   netprobe resolve NAME [SERVER] A and AAAA through SERVER or resolv.conf
 *   netprobe flood HOST PORT N     N UDP datagrams as fast as they go
 *   netprobe rtt HOST PORT N       N connects, the mean connect time
 *   netprobe send HOST PORT BYTES  write BYTES, print the rate
 * HOST is an address or a name (looked up as with resolve). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int nameserver(struct sockaddr_storage *ss, socklen_t *len)
{
	FILE *f = fopen("/etc/resolv.conf", "r");
	char line[256], addr[64];
	struct sockaddr_in *s = (struct sockaddr_in *)ss;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "nameserver %63s", addr) == 1 &&
		    inet_pton(AF_INET, addr, &s->sin_addr) == 1) {
			s->sin_family = AF_INET;
			s->sin_port = htons(53);
			*len = sizeof(*s);
			fclose(f);
			return 0;
		}
	}
	fclose(f);
	return -1;
}

/* One query; returns the rcode (0..15), -1 on timeout.  Addresses of the
 * answer go to out (family-sized each), up to max. */
static int query(const char *name, int type, const char *server,
		 unsigned char out[][16], int *nout, int max)
{
	unsigned char q[512], a[1500], *p = q + 12;
	struct sockaddr_storage ss = { 0 };
	socklen_t sl = 0;
	int fd, n, qd, an, off;
	uint16_t id = getpid() ^ type;
	struct pollfd pfd;

	if (server) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(53);
		if (inet_pton(AF_INET, server, &s->sin_addr) != 1)
			return -2;
		sl = sizeof(*s);
	} else if (nameserver(&ss, &sl) < 0) {
		return -2;
	}
	memset(q, 0, 12);
	q[0] = id >> 8, q[1] = id, q[2] = 1, q[5] = 1;
	for (const char *l = name; *l;) {
		size_t k = strcspn(l, ".");

		*p++ = k;
		memcpy(p, l, k);
		p += k;
		l += k + (l[k] == '.');
	}
	*p++ = 0;
	*p++ = 0, *p++ = type, *p++ = 0, *p++ = 1;
	fd = socket(ss.ss_family, SOCK_DGRAM, 0);
	if (fd < 0 || sendto(fd, q, p - q, 0, (void *)&ss, sl) < 0)
		return -3;
	pfd = (struct pollfd){ fd, POLLIN, 0 };
	if (poll(&pfd, 1, 3000) <= 0)
		return -1;
	n = recv(fd, a, sizeof(a), 0);
	close(fd);
	if (n < 12)
		return -3;
	qd = a[4] << 8 | a[5];
	an = a[6] << 8 | a[7];
	off = 12;
	for (int i = 0; i < qd && off < n; i++) {
		while (off < n && a[off] && a[off] < 0xc0)
			off += a[off] + 1;
		off += off < n && a[off] >= 0xc0 ? 2 : 1;
		off += 4;
	}
	for (int i = 0; i < an && off + 10 <= n; i++) {
		int t, rl;

		while (off < n && a[off] && a[off] < 0xc0)
			off += a[off] + 1;
		off += off < n && a[off] >= 0xc0 ? 2 : 1;
		if (off + 10 > n)
			break;
		t = a[off] << 8 | a[off + 1];
		rl = a[off + 8] << 8 | a[off + 9];
		off += 10;
		if (off + rl > n)
			break;
		if (t == type && *nout < max &&
		    rl == (type == 1 ? 4 : 16))
			memcpy(out[(*nout)++], a + off, rl);
		off += rl;
	}
	return a[3] & 0xf;
}

static int lookup(const char *host, struct sockaddr_storage *ss,
		  socklen_t *len, int port)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	unsigned char addrs[8][16];
	int n = 0;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		*len = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		*len = sizeof(*s6);
		return 0;
	}
	if (query(host, 1, NULL, addrs, &n, 8) != 0 || n == 0)
		return -1;
	s4->sin_family = AF_INET;
	s4->sin_port = htons(port);
	memcpy(&s4->sin_addr, addrs[0], 4);
	*len = sizeof(*s4);
	return 0;
}

/* Returns the fd, or -1 with *why set. */
static int dial(const char *host, int port, int ms, const char **why,
		double *took)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct pollfd pfd;
	int fd, err = 0;
	socklen_t el = sizeof(err);
	double t0 = now_ms();

	*why = "unresolved";
	if (lookup(host, &ss, &len, port) < 0)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (void *)&ss, len) < 0 && errno != EINPROGRESS)
		err = errno;
	if (!err) {
		pfd = (struct pollfd){ fd, POLLOUT, 0 };
		if (poll(&pfd, 1, ms) <= 0)
			err = ETIMEDOUT;
		else
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
	}
	*took = now_ms() - t0;
	if (err) {
		*why = err == ECONNREFUSED ? "refused" :
		       err == ETIMEDOUT ? "timeout" : strerror(err);
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, 0);
	return fd;
}

static int cmd_tcp(int argc, char **argv)
{
	const char *why;
	double took;
	int fd = dial(argv[2], atoi(argv[3]), 5000, &why, &took);
	char buf[256];
	struct pollfd pfd;
	ssize_t n;

	if (fd < 0) {
		printf("%s ms=%.0f\n", why, took);
		return 1;
	}
	printf("connected ms=%.0f\n", took);
	if (argc > 4) {
		dprintf(fd, "%s\n", argv[4]);
		pfd = (struct pollfd){ fd, POLLIN, 0 };
		n = poll(&pfd, 1, 3000) > 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		printf("reply=%s\n", buf);
	}
	close(fd);
	return 0;
}

static int cmd_udp(char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char buf[256];
	struct pollfd pfd;
	ssize_t n;
	int fd;

	if (lookup(argv[2], &ss, &len, atoi(argv[3])) < 0) {
		puts("unresolved");
		return 1;
	}
	fd = socket(ss.ss_family, SOCK_DGRAM, 0);
	if (fd < 0 || connect(fd, (void *)&ss, len) < 0 ||
	    send(fd, argv[4], strlen(argv[4]), 0) < 0) {
		printf("error %s\n", strerror(errno));
		return 1;
	}
	pfd = (struct pollfd){ fd, POLLIN, 0 };
	if (poll(&pfd, 1, 2000) <= 0 || (n = recv(fd, buf, sizeof(buf) - 1, 0)) <= 0) {
		/* An ICMP error comes back as ECONNREFUSED on a connected
		 * socket. */
		puts(errno == ECONNREFUSED ? "refused" :
		     errno == EHOSTUNREACH ? "unreachable" : "noreply");
		return 1;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	printf("reply=%s\n", buf);
	return 0;
}

static int cmd_get(char **argv)
{
	const char *why;
	double took, t0 = now_ms();
	int fd = dial(argv[2], atoi(argv[3]), 5000, &why, &took);
	static char buf[65536];
	unsigned long long total = 0;
	struct pollfd pfd;
	ssize_t n;

	if (fd < 0) {
		printf("%s bytes=0\n", why);
		return 1;
	}
	for (;;) {
		pfd = (struct pollfd){ fd, POLLIN, 0 };
		if (poll(&pfd, 1, 5000) <= 0) {
			printf("stalled bytes=%llu ms=%.0f\n", total, now_ms() - t0);
			return 2;
		}
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		total += n;
	}
	printf("%s bytes=%llu ms=%.0f\n", n == 0 ? "eof" : "error", total,
	       now_ms() - t0);
	return n == 0 ? 0 : 2;
}

static int cmd_resolve(int argc, char **argv)
{
	unsigned char a[8][16];
	char txt[INET6_ADDRSTRLEN];
	int n = 0, r = query(argv[2], 1, argc > 3 ? argv[3] : NULL, a, &n, 8);

	if (r < 0) {
		puts(r == -1 ? "timeout" : "error");
		return 1;
	}
	if (r) {
		puts(r == 3 ? "nxdomain" : r == 5 ? "refused" : "servfail");
		return 1;
	}
	for (int i = 0; i < n; i++)
		puts(inet_ntop(AF_INET, a[i], txt, sizeof(txt)));
	if (!n)
		puts("noaddress");
	return n ? 0 : 1;
}

static int cmd_flood(char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;
	long count = atol(argv[4]), sent = 0;
	int fd;

	if (lookup(argv[2], &ss, &len, atoi(argv[3])) < 0)
		return 1;
	fd = socket(ss.ss_family, SOCK_DGRAM, 0);
	for (long i = 0; fd >= 0 && i < count; i++)
		if (sendto(fd, "x", 1, 0, (void *)&ss, len) == 1)
			sent++;
	printf("sent=%ld\n", sent);
	return 0;
}

static int cmd_rtt(char **argv)
{
	int n = atoi(argv[4]), ok = 0;
	double sum = 0, took;
	const char *why;

	for (int i = 0; i < n; i++) {
		int fd = dial(argv[2], atoi(argv[3]), 5000, &why, &took);

		if (fd >= 0) {
			ok++;
			sum += took;
			close(fd);
		}
	}
	printf("connects=%d ms=%.3f\n", ok, ok ? sum / ok : 0);
	return ok == n ? 0 : 1;
}

static int cmd_send(char **argv)
{
	const char *why;
	double took, t0;
	int fd = dial(argv[2], atoi(argv[3]), 5000, &why, &took);
	static char buf[65536];
	long long left = atoll(argv[4]);

	if (fd < 0) {
		printf("%s\n", why);
		return 1;
	}
	t0 = now_ms();
	while (left > 0) {
		ssize_t n = write(fd, buf, left < (long long)sizeof(buf) ?
				  (size_t)left : sizeof(buf));

		if (n <= 0)
			return 1;
		left -= n;
	}
	shutdown(fd, SHUT_WR);
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	took = now_ms() - t0;
	printf("bytes=%s ms=%.0f mbit=%.2f\n", argv[4], took,
	       atoll(argv[4]) * 8 / (took * 1000));
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 4 && strcmp(argv[1], "tcp") == 0)
		return cmd_tcp(argc, argv);
	if (argc >= 5 && strcmp(argv[1], "udp") == 0)
		return cmd_udp(argv);
	if (argc >= 4 && strcmp(argv[1], "get") == 0)
		return cmd_get(argv);
	if (argc >= 3 && strcmp(argv[1], "resolve") == 0)
		return cmd_resolve(argc, argv);
	if (argc >= 5 && strcmp(argv[1], "flood") == 0)
		return cmd_flood(argv);
	if (argc >= 5 && strcmp(argv[1], "rtt") == 0)
		return cmd_rtt(argv);
	if (argc >= 5 && strcmp(argv[1], "send") == 0)
		return cmd_send(argv);
	fprintf(stderr, "usage: netprobe tcp|udp|get|resolve|flood|rtt|send ...\n");
	return 64;
}
