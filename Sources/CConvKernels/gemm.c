// The GEMM driver around the per-ISA microkernels: A packed once (weights), B read in place with a
// row stride, edges padded through a small scratch block.

#include "kp_conv_internal.h"

#include <stdlib.h>
#include <string.h>


void kp_pack_a(const float *a, size_t lda, size_t m, size_t k, int mr, float *out) {
    size_t panels = (m + (size_t)mr - 1) / (size_t)mr;
    for (size_t panel = 0; panel < panels; panel++) {
        for (size_t i = 0; i < k; i++) {
            for (int r = 0; r < mr; r++) {
                size_t row = panel * (size_t)mr + (size_t)r;
                out[(panel * k + i) * (size_t)mr + (size_t)r] = row < m ? a[row * lda + i] : 0;
            }
        }
    }
}

// Scratch: the last columns of B zero-padded (k x nr), a C block (mr x nr), and the k row
// pointers of the padded columns.
size_t kp_gemm_scratch_floats(const kp_isa_kernels *kernels, size_t k) {
    return ((size_t)kernels->mr + k) * (size_t)kernels->nr + kp_pointer_floats(k);
}

// Applies the epilogue to the valid part of a padded mr x nr block, then copies it into C. (In that
// order: the residual may be C itself, when a GEMM accumulates.)
static void kp_store_edge(float *block, size_t rows, size_t columns, int nr, float *c, size_t ldc,
                          const kp_epilogue *epilogue) {
    for (size_t r = 0; r < rows; r++) {
        if (epilogue != NULL) {
            kp_output_stage_row(block + r * (size_t)nr, columns, epilogue->bias ? epilogue->bias[r] : 0,
                                epilogue->residual ? epilogue->residual + r * ldc : NULL, epilogue->activation,
                                epilogue->slope);
        }
        memcpy(c + r * ldc, block + r * (size_t)nr, columns * sizeof(float));
    }
}

void kp_gemm(const kp_isa_kernels *kernels, size_t m, size_t n, size_t k, const float *a_packed,
             const float *const *rows, size_t first, float *c, size_t ldc, const float *bias,
             const float *residual, int activation, float slope, float *scratch) {
    const size_t mr = (size_t)kernels->mr, nr = (size_t)kernels->nr;
    float *b_edge = scratch;                                 // k x nr: the last columns of B, zero-padded
    float *c_edge = scratch + k * nr;                        // mr x nr
    const float **edge_rows = (const float **)(c_edge + mr * nr); // the rows of b_edge
    const size_t full_columns = n / nr * nr;
    // Half a block of leftover columns goes through the narrow kernel, if the ISA has one; the
    // rest through a zero-padded copy of B.
    const size_t narrow_columns =
        kernels->gemm_narrow != NULL && n - full_columns >= nr / 2 ? full_columns + nr / 2 : full_columns;
    if (narrow_columns < n) {
        for (size_t i = 0; i < k; i++) {
            memcpy(b_edge + i * nr, rows[i] + first + narrow_columns, (n - narrow_columns) * sizeof(float));
            memset(b_edge + i * nr + (n - narrow_columns), 0, (nr - (n - narrow_columns)) * sizeof(float));
            edge_rows[i] = b_edge + i * nr;
        }
    }
    for (size_t row = 0; row < m; row += mr) {
        const float *a = a_packed + row * k;
        const size_t panel_rows = m - row < mr ? m - row : mr;
        kp_epilogue epilogue = {bias ? bias + row : NULL, NULL, activation, slope};
        const int plain = bias == NULL && residual == NULL && activation == KP_ACTIVATION_NONE;
        for (size_t column = 0; column < full_columns; column += nr) {
            epilogue.residual = residual ? residual + row * ldc + column : NULL;
            if (panel_rows == mr) {
                kernels->gemm(k, a, rows, first + column, c + row * ldc + column, ldc,
                              plain ? NULL : &epilogue);
            } else if (kernels->gemm_partial != NULL) {
                kernels->gemm_partial(panel_rows, k, a, rows, first + column, c + row * ldc + column, ldc,
                                      plain ? NULL : &epilogue);
            } else {
                kernels->gemm(k, a, rows, first + column, c_edge, nr, NULL);
                kp_store_edge(c_edge, panel_rows, nr, (int)nr, c + row * ldc + column, ldc, plain ? NULL : &epilogue);
            }
        }
        if (narrow_columns > full_columns) {
            epilogue.residual = residual ? residual + row * ldc + full_columns : NULL;
            if (panel_rows == mr) {
                kernels->gemm_narrow(k, a, rows, first + full_columns, c + row * ldc + full_columns, ldc,
                                     plain ? NULL : &epilogue);
            } else {
                kernels->gemm_narrow(k, a, rows, first + full_columns, c_edge, nr, NULL);
                kp_store_edge(c_edge, panel_rows, nr / 2, (int)nr, c + row * ldc + full_columns, ldc,
                              plain ? NULL : &epilogue);
            }
        }
        if (narrow_columns < n) {
            epilogue.residual = residual ? residual + row * ldc + narrow_columns : NULL;
            // At most half a block left: the narrow kernel does it in half the work.
            const kp_gemm_fn edge_kernel =
                kernels->gemm_narrow != NULL && n - narrow_columns <= nr / 2 ? kernels->gemm_narrow : kernels->gemm;
            edge_kernel(k, a, edge_rows, 0, c_edge, nr, NULL);
            kp_store_edge(c_edge, panel_rows, n - narrow_columns, (int)nr, c + row * ldc + narrow_columns, ldc,
                          plain ? NULL : &epilogue);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// kp_sgemm: a general GEMM for training on the same microkernels. A is packed into MR-row panels
// (transposed on the way if asked); B is read through row pointers, transposed into a scratch
// matrix first if asked; accumulation uses the epilogue's residual add with C itself. Packing,
// transposing and the products are all split over the pool: the products by bands of A's panels
// and blocks of columns, so that a tall narrow product (training's dW^T = columns x dY^T: a few
// hundred rows, a few dozen columns) still uses every thread. Each element of C is computed the
// same way whatever the split, so results do not depend on the thread count.

typedef struct {
    const kp_isa_kernels *kernels;
    size_t m, n, k, ldc, block_columns, column_blocks, band_panels;
    int transpose_a;
    const float *a;
    size_t lda;
    const float *b;
    size_t ldb;
    float *packed;
    float *transposed;
    const float *const *rows;
    float *c;
    int accumulate;
    float *scratch; // per thread
    size_t scratch_floats;
} kp_sgemm_job;

// One MR-row panel of op(A), k-major: out[i * mr + r] = op(A)[panel * mr + r][i], rows past m zero.
// op(A)'s row is a row of `a` (the panel's rows read side by side), or, transposed, a column of
// `a` (the panel's rows lie next to each other in each row of `a`).
static void kp_sgemm_pack_item(void *context, size_t panel, int thread) {
    (void)thread;
    const kp_sgemm_job *job = context;
    const size_t mr = (size_t)job->kernels->mr, first = panel * mr;
    const size_t rows = job->m - first < mr ? job->m - first : mr;
    float *out = job->packed + panel * job->k * mr;
    if (job->transpose_a) {
        for (size_t i = 0; i < job->k; i++) {
            memcpy(out + i * mr, job->a + i * job->lda + first, rows * sizeof(float));
            memset(out + i * mr + rows, 0, (mr - rows) * sizeof(float));
        }
        return;
    }
    for (size_t r = 0; r < mr; r++) {
        const float *source = job->a + (first + r) * job->lda;
        for (size_t i = 0; i < job->k; i++) out[i * mr + r] = r < rows ? source[i] : 0;
    }
}

// Row i of B = op(b) when b is transposed: b's column i.
static void kp_sgemm_transpose_item(void *context, size_t i, int thread) {
    (void)thread;
    const kp_sgemm_job *job = context;
    float *row = job->transposed + i * job->n;
    for (size_t j = 0; j < job->n; j++) row[j] = job->b[j * job->ldb + i];
}

static void kp_sgemm_item(void *context, size_t item, int thread) {
    const kp_sgemm_job *job = context;
    const size_t mr = (size_t)job->kernels->mr;
    const size_t first_row = item / job->column_blocks * job->band_panels * mr;
    const size_t rows_here = job->m - first_row < job->band_panels * mr ? job->m - first_row : job->band_panels * mr;
    const size_t first = item % job->column_blocks * job->block_columns;
    const size_t count = job->n - first < job->block_columns ? job->n - first : job->block_columns;
    float *scratch = job->scratch + (size_t)thread * job->scratch_floats;
    float *c = job->c + first_row * job->ldc + first;
    kp_gemm(job->kernels, rows_here, count, job->k, job->packed + first_row * job->k, job->rows, first, c,
            job->ldc, NULL, job->accumulate ? c : NULL, KP_ACTIVATION_NONE, 0, scratch);
}

int kp_sgemm(kp_isa isa, int transpose_a, int transpose_b, size_t m, size_t n, size_t k, const float *a, size_t lda,
             const float *b, size_t ldb, float *c, size_t ldc, int accumulate, kp_threadpool *pool) {
    const kp_isa_kernels *kernels = kp_kernels_for(isa);
    if (kernels == NULL) kernels = kp_kernels_for(KP_ISA_SCALAR);
    if (m == 0 || n == 0) return 0;
    if (k == 0) {
        if (!accumulate) {
            for (size_t i = 0; i < m; i++) memset(c + i * ldc, 0, n * sizeof(float));
        }
        return 0;
    }
    const size_t mr = (size_t)kernels->mr, nr = (size_t)kernels->nr;
    const size_t panels = (m + mr - 1) / mr;
    float *packed = malloc(panels * mr * k * sizeof(float));
    float *transposed = transpose_b ? malloc(k * n * sizeof(float)) : NULL;
    const float **rows = malloc(k * sizeof(float *));
    const int threads = kp_threadpool_threads(pool);
    const size_t scratch_floats = kp_align_floats(kp_gemm_scratch_floats(kernels, k));
    float *scratch = aligned_alloc(64, (size_t)threads * scratch_floats * sizeof(float));
    if (packed == NULL || rows == NULL || scratch == NULL || (transpose_b && transposed == NULL)) {
        free(packed);
        free(transposed);
        free(rows);
        free(scratch);
        return -1;
    }
    size_t block = 512 / nr * nr;
    if (block < nr) block = nr;
    const size_t column_blocks = (n + block - 1) / block;
    // Bands of panels: enough items for four per thread, when the columns alone do not give them.
    const size_t wanted_bands = column_blocks >= 4 * (size_t)threads ? 1 : (4 * (size_t)threads + column_blocks - 1) / column_blocks;
    const size_t band_panels = (panels + wanted_bands - 1) / wanted_bands;
    kp_sgemm_job job = {kernels, m, n, k, ldc, block, column_blocks, band_panels, transpose_a, a, lda, b, ldb,
                        packed, transposed, rows, c, accumulate, scratch, scratch_floats};
    kp_parallel_for(pool, panels, kp_sgemm_pack_item, &job);
    if (transpose_b) kp_parallel_for(pool, k, kp_sgemm_transpose_item, &job);
    for (size_t i = 0; i < k; i++) rows[i] = transpose_b ? transposed + i * n : b + i * ldb;
    const size_t bands = (panels + band_panels - 1) / band_panels;
    kp_parallel_for(pool, bands * column_blocks, kp_sgemm_item, &job);
    free(packed);
    free(transposed);
    free(rows);
    free(scratch);
    return 0;
}
