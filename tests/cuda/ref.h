// A double-precision model of one forward + backward of each adapter, written from the
// formulas (not from melora.h or melora_cuda.cu), for tests/cuda/test_cuda.cpp.
//
// Every quantity is computed twice: its value, and (ab = true) the same expression with
// every factor replaced by its absolute value: the sum of |terms| that each float32
// result accumulates, through the whole chain of products. A float32 result computed in
// any order is then within tol = (4 sqrt(K) + 8) * 2^-24 * |model| of the value, K being
// the total reduction length along the chain (the probabilistic bound of recursive
// summation, lambda sqrt(K) u, with lambda = 4, plus a few roundings per stage).
#ifndef MELORA_TEST_CUDA_REF_H
#define MELORA_TEST_CUDA_REF_H
#include <math.h>
#include <stddef.h>
#include <vector>

namespace ref {
typedef std::vector<double> dvec;
enum { LORA, BLOB, FLIP, MELORA };

struct Problem {
    int method, T, n, m, r, E, G;
    double s;
    // inputs (float values held in double); A is MA for BLoB and Flipout
    dvec x, A, B, GA, EA, M, H, EC, sa, sb, dz, z0, gx0, gA0, gG0, gB0, gM0, gH0;
};
struct Result {
    dvec z, u, v, As, C, gx, gA, gG, gB, gM, gH;
};

static inline double F(double v, bool ab) { return ab ? fabs(v) : v; }

// One forward and one backward; the gradients are added to g*0 as the library adds them.
static inline Result run(const Problem &p, bool ab) {
    const int T = p.T, n = p.n, m = p.m, r = p.r, E = p.E, G = p.G;
    const double s = F(p.s, ab);
    Result o;
    const bool blob = p.method == BLOB, flip = p.method == FLIP, mel = p.method == MELORA;
    // the weights the forward uses: As = MA + GA^2 EA (BLoB), dAn = GA^2 EA (Flipout)
    dvec W((size_t)r * n), dAn((size_t)r * n, 0.0);
    for (size_t i = 0; i < W.size(); i++) {
        double noise = (blob || flip) ? p.GA[i] * p.GA[i] * F(p.EA[i], ab) : 0.0;
        W[i] = F(p.A[i], ab) + (blob ? noise : 0.0);
        if (flip) dAn[i] = noise;
    }
    if (blob) o.As = W;
    // C_e = M + H^2 EC_e
    if (mel) {
        o.C.resize((size_t)E * r * r);
        for (int e = 0; e < E; e++)
            for (int q = 0; q < r * r; q++)
                o.C[(size_t)e * r * r + q] = F(p.M[q], ab) + p.H[q] * p.H[q] * F(p.EC[(size_t)e * r * r + q], ab);
    }
    auto sa = [&](int t, int j) { return F(p.sa[(size_t)(t / G) * n + j], ab); };
    auto sb = [&](int t, int k) { return F(p.sb[(size_t)(t / G) * r + k], ab); };
    auto Ce = [&](int t) { return &o.C[(size_t)(t / (T / E)) * r * r]; };
    // u = x W^T (+ ((x * sa) dAn^T) * sb); v = C_e u
    o.u.assign((size_t)T * r, 0.0);
    o.v.assign((size_t)T * r, 0.0);
    for (int t = 0; t < T; t++)
        for (int k = 0; k < r; k++) {
            double a1 = 0, a2 = 0;
            for (int j = 0; j < n; j++) {
                double xv = F(p.x[(size_t)t * n + j], ab);
                a1 += xv * W[(size_t)k * n + j];
                if (flip) a2 += xv * sa(t, j) * dAn[(size_t)k * n + j];
            }
            o.u[(size_t)t * r + k] = a1 + (flip ? a2 * sb(t, k) : 0.0);
        }
    const dvec *vB = &o.u;
    if (mel) {
        for (int t = 0; t < T; t++)
            for (int i = 0; i < r; i++) {
                double acc = 0;
                for (int k = 0; k < r; k++) acc += Ce(t)[i * r + k] * o.u[(size_t)t * r + k];
                o.v[(size_t)t * r + i] = acc;
            }
        vB = &o.v;
    }
    // z = z0 + s v B^T
    o.z.assign((size_t)T * m, 0.0);
    for (int t = 0; t < T; t++)
        for (int j = 0; j < m; j++) {
            double acc = 0;
            for (int k = 0; k < r; k++) acc += (*vB)[(size_t)t * r + k] * F(p.B[(size_t)j * r + k], ab);
            o.z[(size_t)t * m + j] = F(p.z0[(size_t)t * m + j], ab) + s * acc;
        }
    // backward: dv = s dz B; dB += s dz^T vB
    dvec dv((size_t)T * r, 0.0), du((size_t)T * r, 0.0), du2((size_t)T * r, 0.0);
    for (int t = 0; t < T; t++)
        for (int k = 0; k < r; k++) {
            double acc = 0;
            for (int j = 0; j < m; j++) acc += F(p.dz[(size_t)t * m + j], ab) * F(p.B[(size_t)j * r + k], ab);
            dv[(size_t)t * r + k] = s * acc;
        }
    o.gB.resize((size_t)m * r);
    for (int j = 0; j < m; j++)
        for (int k = 0; k < r; k++) {
            double acc = 0;
            for (int t = 0; t < T; t++) acc += F(p.dz[(size_t)t * m + j], ab) * (*vB)[(size_t)t * r + k];
            o.gB[(size_t)j * r + k] = F(p.gB0[(size_t)j * r + k], ab) + s * acc;
        }
    // du = dv (C_e^T dv for Me-LoRA); Flipout: du2 = du * sb
    for (int t = 0; t < T; t++)
        for (int k = 0; k < r; k++) {
            double acc = 0;
            if (mel)
                for (int i = 0; i < r; i++) acc += Ce(t)[i * r + k] * dv[(size_t)t * r + i];
            else
                acc = dv[(size_t)t * r + k];
            du[(size_t)t * r + k] = acc;
            if (flip) du2[(size_t)t * r + k] = acc * sb(t, k);
        }
    // dW = du^T x; d(dAn) = du2^T (x * sa)
    dvec dW((size_t)r * n, 0.0), dDn((size_t)r * n, 0.0);
    for (int k = 0; k < r; k++)
        for (int j = 0; j < n; j++) {
            double a1 = 0, a2 = 0;
            for (int t = 0; t < T; t++) {
                double xv = F(p.x[(size_t)t * n + j], ab);
                a1 += du[(size_t)t * r + k] * xv;
                if (flip) a2 += du2[(size_t)t * r + k] * xv * sa(t, j);
            }
            dW[(size_t)k * n + j] = a1;
            dDn[(size_t)k * n + j] = a2;
        }
    o.gA.resize((size_t)r * n);
    o.gG.resize((size_t)r * n);
    for (size_t i = 0; i < o.gA.size(); i++) {
        o.gA[i] = F(p.gA0[i], ab) + dW[i];
        double dn = blob ? dW[i] : flip ? dDn[i] : 0.0; // d(GA^2 EA) reaches GA through 2 GA EA
        o.gG[i] = F(p.gG0[i], ab) + dn * F(p.EA[i], ab) * 2.0 * F(p.GA[i], ab);
    }
    // dx += du W (+ (du2 dAn) * sa)
    o.gx.resize((size_t)T * n);
    for (int t = 0; t < T; t++)
        for (int j = 0; j < n; j++) {
            double a1 = 0, a2 = 0;
            for (int k = 0; k < r; k++) {
                a1 += du[(size_t)t * r + k] * W[(size_t)k * n + j];
                if (flip) a2 += du2[(size_t)t * r + k] * dAn[(size_t)k * n + j];
            }
            o.gx[(size_t)t * n + j] = F(p.gx0[(size_t)t * n + j], ab) + a1 + (flip ? a2 * sa(t, j) : 0.0);
        }
    // Me-LoRA: dC_e = sum over the example's rows of dv_t u_t^T; dM += sum_e dC_e;
    // dH += sum_e dC_e EC_e 2H
    o.gM.resize((size_t)r * r);
    o.gH.resize((size_t)r * r);
    for (int q = 0; q < r * r; q++) {
        int i = q / r, k = q % r;
        double gm = 0, gh = 0;
        if (mel)
            for (int e = 0; e < E; e++) {
                double dc = 0;
                for (int t = e * (T / E); t < (e + 1) * (T / E); t++) dc += dv[(size_t)t * r + i] * o.u[(size_t)t * r + k];
                gm += dc;
                gh += dc * F(p.EC[(size_t)e * r * r + q], ab) * 2.0 * F(p.H[q], ab);
            }
        o.gM[q] = F(p.gM0[q], ab) + gm;
        o.gH[q] = F(p.gH0[q], ab) + gh;
    }
    return o;
}

// The reduction length of the longest chain behind any output of the problem.
static inline double chain_k(const Problem &p) { return (double)p.n + p.m + p.T + 2.0 * p.r; }
static inline double tol(double K, double mag) { return (4.0 * sqrt(K) + 8.0) * 0x1p-24 * mag + 1e-36; }
} // namespace ref
#endif
