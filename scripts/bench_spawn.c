/*
 * bench_spawn: run one program and report its wall time and peak RSS.
 *
 *     bench_spawn RESULT_FILE PROGRAM [ARG...]
 *
 * Forks, execs PROGRAM (stdin, stdout and stderr inherited), waits with
 * wait4(2) and writes one line to RESULT_FILE:
 *
 *     exit=<code or -signal> wall_ns=<n> maxrss_kb=<n> utime_us=<n> stime_us=<n>
 *
 * Why not wait4 from the Python harness directly: on Linux a process's
 * ru_maxrss keeps the high-water mark of the address space it had before
 * exec, i.e. of the process that forked it. A child forked by the Python
 * harness reports at least the harness's own RSS (a 200 MB harness makes
 * /bin/true "use" 200 MB). Forking from this small program keeps that floor
 * near 1 MB.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_spawn RESULT_FILE PROGRAM [ARG...]\n");
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        perror("bench_spawn: fork");
        return 1;
    }
    if (pid == 0) {
        execv(argv[2], argv + 2);
        perror("bench_spawn: exec");
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) {
        perror("bench_spawn: wait4");
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long long wall = (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    FILE *f = fopen(argv[1], "w");
    if (!f) {
        perror("bench_spawn: result file");
        return 1;
    }
    fprintf(f, "exit=%d wall_ns=%lld maxrss_kb=%ld utime_us=%lld stime_us=%lld\n", code, wall,
            ru.ru_maxrss,
            (long long)ru.ru_utime.tv_sec * 1000000LL + ru.ru_utime.tv_usec,
            (long long)ru.ru_stime.tv_sec * 1000000LL + ru.ru_stime.tv_usec);
    fclose(f);
    return 0;
}
