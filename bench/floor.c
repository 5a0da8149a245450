/* The physical floor: CPU time the kernel and libc need per write() of one small WebSocket-sized
 * frame to a loopback TCP socket, with a reader draining the other end. Nothing a chat server
 * does per delivered message can cost less than this, so Parley's CPU per delivered message is
 * reported as a multiple of it.
 *
 *   floor [frames] [frame_bytes]      prints one JSON object: {"writes":…, "ns_cpu_per_write":…}
 *
 * Only the writer's CPU (getrusage RUSAGE_THREAD, user + system) is counted: that is the side a
 * server pays for each delivered message. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char* what) {
  perror(what);
  exit(1);
}

static void* drain(void* arg) {
  int fd = *(int*)arg;
  char buf[1 << 16];
  while (read(fd, buf, sizeof buf) > 0) {
  }
  return NULL;
}

static double thread_cpu_ns(void) {
  struct rusage ru;
  getrusage(RUSAGE_THREAD, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3;
}

int main(int argc, char** argv) {
  long frames = argc > 1 ? atol(argv[1]) : 2000000;
  int frame_bytes = argc > 2 ? atoi(argv[2]) : 200;
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof addr;
  if (listener < 0 || bind(listener, (struct sockaddr*)&addr, sizeof addr) < 0 ||
      listen(listener, 1) < 0 || getsockname(listener, (struct sockaddr*)&addr, &len) < 0)
    die("listen");
  int writer = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(writer, (struct sockaddr*)&addr, sizeof addr) < 0) die("connect");
  int reader = accept(listener, NULL, NULL);
  if (reader < 0) die("accept");
  int one = 1;
  setsockopt(writer, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // as a chat server sets it
  pthread_t t;
  pthread_create(&t, NULL, drain, &reader);

  char* frame = malloc(frame_bytes);
  memset(frame, 'x', frame_bytes);
  frame[0] = (char)0x81;  /* a FIN text frame header, for realism only */
  double start = thread_cpu_ns();
  for (long i = 0; i < frames; ++i) {
    if (write(writer, frame, frame_bytes) != frame_bytes) die("write");
  }
  double spent = thread_cpu_ns() - start;
  shutdown(writer, SHUT_WR);
  pthread_join(t, NULL);
  printf("{\"writes\": %ld, \"frame_bytes\": %d, \"ns_cpu_per_write\": %.1f}\n", frames,
         frame_bytes, spent / frames);
  return 0;
}
