/*
 * peak.c: the machine's peak, the yardstick for "fraction of peak" in the bench report.
 *
 * 1. FMA throughput (GFLOP/s), AVX2: each thread keeps ACC independent 8-wide float accumulators
 *    and updates them with acc = fma(acc, a, b) in a loop. An FMA has a latency of about 4 cycles
 *    and two ports issue one each per cycle, so 8 chains are needed to keep both ports busy; ACC =
 *    12 leaves margin. FLOPs = iterations x ACC x 8 lanes x 2 (a multiply and an add).
 * 2. Copy bandwidth (GB/s): dst[i] = src[i] over 64 MiB arrays (far larger than the caches) with
 *    256-bit loads and stores, as STREAM's "copy"; bytes = 2 x array size per pass (read + write).
 *
 * Each figure is the best of many short runs (about 5 ms of FMAs, one 64 MiB copy pass), on one
 * thread and on all threads (pthreads): on a shared machine, the best short run is the one that
 * had the core to itself, and a peak is a best case by definition.
 * Output: one JSON object on stdout. Build: cc -O2 -mavx2 -mfma -pthread peak.c -o peak
 * Usage: peak [threads] [--quick]
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ACC 12
#define COPY_BYTES (64u << 20)

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static volatile float sink;
static long fma_iters = 2000000; /* per thread and run: 2M x 12 x 16 FLOPs = 0.384 GFLOP */

/*
 * The accumulators are named variables, not an array: GCC at -O2 keeps an array in memory and the
 * chains then run through store-to-load forwarding (about 5x slower). Named, they live in 12 ymm
 * registers and the loop body is 12 independent vfmadd instructions.
 */
#define FMA12(a, b)                                                                 \
  do {                                                                              \
    c0 = _mm256_fmadd_ps(c0, a, b); c1 = _mm256_fmadd_ps(c1, a, b);                 \
    c2 = _mm256_fmadd_ps(c2, a, b); c3 = _mm256_fmadd_ps(c3, a, b);                 \
    c4 = _mm256_fmadd_ps(c4, a, b); c5 = _mm256_fmadd_ps(c5, a, b);                 \
    c6 = _mm256_fmadd_ps(c6, a, b); c7 = _mm256_fmadd_ps(c7, a, b);                 \
    c8 = _mm256_fmadd_ps(c8, a, b); c9 = _mm256_fmadd_ps(c9, a, b);                 \
    c10 = _mm256_fmadd_ps(c10, a, b); c11 = _mm256_fmadd_ps(c11, a, b);             \
  } while (0)

static void *fma_worker(void *arg) {
  (void)arg;
  __m256 c0 = _mm256_set1_ps(0.0f), c1 = _mm256_set1_ps(0.001f), c2 = _mm256_set1_ps(0.002f), c3 = _mm256_set1_ps(0.003f);
  __m256 c4 = _mm256_set1_ps(0.004f), c5 = _mm256_set1_ps(0.005f), c6 = _mm256_set1_ps(0.006f), c7 = _mm256_set1_ps(0.007f);
  __m256 c8 = _mm256_set1_ps(0.008f), c9 = _mm256_set1_ps(0.009f), c10 = _mm256_set1_ps(0.010f), c11 = _mm256_set1_ps(0.011f);
  const __m256 a = _mm256_set1_ps(0.999999f);
  const __m256 b = _mm256_set1_ps(0.000001f);
  for (long it = 0; it < fma_iters; it++) FMA12(a, b);
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)), _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
  s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
  float out[8];
  _mm256_storeu_ps(out, s);
  sink = out[0];
  return NULL;
}

struct copy_job {
  float *src;
  float *dst;
  size_t n;
  int passes;
};

static void *copy_worker(void *arg) {
  struct copy_job *j = (struct copy_job *)arg;
  for (int p = 0; p < j->passes; p++) {
    for (size_t i = 0; i < j->n; i += 8) _mm256_store_ps(j->dst + i, _mm256_load_ps(j->src + i));
  }
  sink = j->dst[j->n / 2];
  return NULL;
}

/* Runs fn on `threads` threads at once and returns the wall time. */
static double run_threads(void *(*fn)(void *), void **args, int threads) {
  pthread_t tid[256];
  double t0 = now_s();
  for (int t = 0; t < threads; t++) pthread_create(&tid[t], NULL, fn, args[t]);
  for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
  return now_s() - t0;
}

static double fma_gflops(int threads, int reps) {
  void *args[256] = {0};
  double best = 0;
  for (int r = 0; r < reps; r++) {
    double s = run_threads(fma_worker, args, threads);
    double gf = (double)threads * (double)fma_iters * ACC * 8 * 2 / s / 1e9;
    if (gf > best) best = gf;
  }
  return best;
}

static double copy_gbs(int threads, int reps, int passes) {
  struct copy_job jobs[256];
  void *args[256];
  size_t per = COPY_BYTES / sizeof(float) / (size_t)threads;
  per -= per % 8;
  for (int t = 0; t < threads; t++) {
    jobs[t].src = aligned_alloc(32, per * sizeof(float));
    jobs[t].dst = aligned_alloc(32, per * sizeof(float));
    if (!jobs[t].src || !jobs[t].dst) {
      fprintf(stderr, "peak: out of memory\n");
      exit(1);
    }
    for (size_t i = 0; i < per; i++) jobs[t].src[i] = (float)i, jobs[t].dst[i] = 0;
    jobs[t].n = per;
    jobs[t].passes = passes;
    args[t] = &jobs[t];
  }
  double best = 0;
  for (int r = 0; r < reps; r++) {
    double s = run_threads(copy_worker, args, threads);
    double gbs = 2.0 * (double)per * sizeof(float) * threads * passes / s / 1e9;
    if (gbs > best) best = gbs;
  }
  for (int t = 0; t < threads; t++) free(jobs[t].src), free(jobs[t].dst);
  return best;
}

int main(int argc, char **argv) {
  int threads = 1, quick = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) quick = 1;
    else threads = atoi(argv[i]);
  }
  if (threads < 1 || threads > 256) {
    fprintf(stderr, "peak: expected a thread count in [1, 256], got %d\n", threads);
    return 2;
  }
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    printf("{\"skipped\": \"CPU without AVX2/FMA\"}\n");
    return 0;
  }
  int reps = quick ? 3 : 40;
  int passes = 1;
  double f1 = fma_gflops(1, reps);
  double fn = threads > 1 ? fma_gflops(threads, reps) : f1;
  double c1 = copy_gbs(1, reps, passes);
  double cn = threads > 1 ? copy_gbs(threads, reps, passes) : c1;
  printf("{\"threads\": %d, \"fmaGflops1t\": %.3f, \"fmaGflopsAll\": %.3f, \"copyGBs1t\": %.3f, \"copyGBsAll\": %.3f, \"accumulators\": %d, \"copyBytes\": %u, \"quick\": %s}\n",
         threads, f1, fn, c1, cn, ACC, COPY_BYTES, quick ? "true" : "false");
  return 0;
}
