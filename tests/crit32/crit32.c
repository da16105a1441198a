/* The runner behind tests/crit32/criterion/criterion.h: runs every registered test, in
   suite/name order, each in a forked child (as Criterion does), and exits 1 when any test
   fails, crashes or times out.
     --filter PATTERN   run only the tests whose "suite/name" matches a glob; Criterion's
                        "@(a|b)" (any of a, b) and "!(a|b)" (none of them) work too
     --list             print the tests' names
   Criterion's -jN and --verbose[=N] are accepted and ignored: tests run one at a time. */
#define _POSIX_C_SOURCE 200809L
#include "criterion/criterion.h"
#include <fnmatch.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

enum { CR32_PASS = 0, CR32_FAILED = 1, CR32_SKIPPED = 3 };

static struct cr32_test *cr32_head;

void cr32_register(struct cr32_test *t) {
    struct cr32_test **p = &cr32_head;
    while (*p && (strcmp((*p)->suite, t->suite) < 0 ||
                  (strcmp((*p)->suite, t->suite) == 0 && strcmp((*p)->name, t->name) < 0)))
        p = &(*p)->next;
    t->next = *p;
    *p = t;
}

void cr32_fail(const char *file, int line, const char *what, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "%s:%d: assertion failed: %s", file, line, what);
    if (fmt[0]) {
        fputs(": ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
    }
    fputc('\n', stderr);
    fflush(NULL);
    _exit(CR32_FAILED);
}

void cr32_skip(const char *fmt, ...) {
    va_list ap;
    fputs("  skipped: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(NULL);
    _exit(CR32_SKIPPED);
}

/* One glob, or "a|b|c" (any of them), "@(...)" (any of them) or "!(...)" (none of them). */
static int cr32_match(const char *pat, const char *full) {
    size_t len = strlen(pat);
    if (len >= 3 && (pat[0] == '!' || pat[0] == '@') && pat[1] == '(' && pat[len - 1] == ')') {
        char *inner = strdup(pat + 2);
        int hit;
        if (!inner) return 0;
        inner[len - 3] = '\0';
        hit = cr32_match(inner, full);
        free(inner);
        return pat[0] == '!' ? !hit : hit;
    } else {
        char *alts = strdup(pat), *save = NULL, *a;
        int hit = 0;
        if (!alts) return 0;
        for (a = strtok_r(alts, "|", &save); a && !hit; a = strtok_r(NULL, "|", &save))
            hit = fnmatch(a, full, 0) == 0;
        free(alts);
        return hit;
    }
}

static int cr32_run(const struct cr32_test *t) {
    pid_t pid;
    int status;
    fflush(NULL);
    pid = fork();
    if (pid < 0) { perror("fork"); return -1; }
    if (pid == 0) {
        if (t->timeout > 0) alarm((unsigned)t->timeout + 1u);
        if (t->init) t->init();
        t->fn();
        if (t->fini) t->fini();
        fflush(NULL);
        _exit(CR32_PASS);
    }
    while (waitpid(pid, &status, 0) < 0) {}
    return status;
}

int main(int argc, char **argv) {
    const char *filter = NULL;
    int list = 0, i, tested = 0, passed = 0, failed = 0, skipped = 0;
    const struct cr32_test *t;
    char full[512];
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc) filter = argv[++i];
        else if (strncmp(argv[i], "--filter=", 9) == 0) filter = argv[i] + 9;
        else if (strcmp(argv[i], "--list") == 0) list = 1;
        else if (strcmp(argv[i], "-j") == 0 && i + 1 < argc) i++;
        else if (strncmp(argv[i], "-j", 2) == 0 || strncmp(argv[i], "--verbose", 9) == 0) {}
        else { fprintf(stderr, "%s: unknown option %s\n", argv[0], argv[i]); return 2; }
    }
    for (t = cr32_head; t; t = t->next) {
        int st;
        snprintf(full, sizeof full, "%s/%s", t->suite, t->name);
        if (filter && !cr32_match(filter, full)) continue;
        if (list) { printf("%s\n", full); continue; }
        tested++;
        if (t->disabled) { printf("[SKIP] %s (disabled)\n", full); skipped++; continue; }
        st = cr32_run(t);
        if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == CR32_PASS) {
            passed++;
        } else if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == CR32_SKIPPED) {
            printf("[SKIP] %s\n", full);
            skipped++;
        } else {
            if (st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
                printf("[FAIL] %s: timed out after %g s\n", full, t->timeout);
            else if (st != -1 && WIFSIGNALED(st))
                printf("[FAIL] %s: crashed (signal %d)\n", full, WTERMSIG(st));
            else
                printf("[FAIL] %s\n", full);
            failed++;
        }
        fflush(stdout);
    }
    if (list) return 0;
    printf("[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Skipped: %d\n", tested,
           passed, failed, skipped);
    return failed ? 1 : 0;
}
