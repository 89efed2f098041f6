/* HYMOD (Boyle 2000) as in SPOTPY's example (spotpy/examples/hymod_python/hymod.py):
 *
 * Soil: a Pareto distribution of storage capacities with maximum cmax and shape bexp; the
 * state is the mean storage S (mm, 0 <= S <= Smax = cmax / (bexp + 1)), whose critical
 * capacity is C(S) = cmax (1 - (1 - S / Smax)^(1/(bexp+1))). Each day, with rain P:
 *   ER1 = max(P - cmax + C(S), 0)                 rain above the largest capacity
 *   S'  = Smax (1 - (1 - min((C(S) + P - ER1) / cmax, 1))^(bexp+1))
 *   ER2 = max(P - ER1 - (S' - S), 0)              rain not stored
 *   ET  = min(S' / Smax * PET, S')                actual ET, linear in the storage
 *   S   = S' - ET
 * Routing: alpha (ER1 + ER2) through three linear reservoirs in series (rate kq), the rest
 * through one (rate ks). A linear reservoir with store x, inflow u and rate k gives
 * outflow k (x + u) and keeps (1 - k)(x + u). Discharge = quick + slow outflow. */
#include <math.h>
#include <stdio.h>

#include "hymod.h"

static int fail(hymod_error *err, int status, int index, double value, const char *what)
{
    err->status = status;
    err->index = index;
    err->value = value;
    snprintf(err->message, HYMOD_MSG_LEN, "%s", what);
    return status;
}

static const char *check_params(const double *theta, int *bad)
{
    const double cmax = theta[0], bexp = theta[1], alpha = theta[2];
    const double ks = theta[3], kq = theta[4];
    *bad = 0;
    if (!(isfinite(cmax) && cmax > 0.0)) return "cmax must be a finite number > 0 (mm)";
    *bad = 1;
    if (!(isfinite(bexp) && bexp >= 0.0)) return "bexp must be a finite number >= 0";
    *bad = 2;
    if (!(alpha >= 0.0 && alpha <= 1.0)) return "alpha must be in [0, 1]";
    *bad = 3;
    if (!(ks > 0.0 && ks < 1.0)) return "ks must be in (0, 1) (1/day)";
    *bad = 4;
    if (!(kq > 0.0 && kq < 1.0)) return "kq must be in (0, 1) (1/day)";
    return NULL;
}

int hymod_run(int n, const double *precip, const double *pet, const double *theta,
              double *out, hymod_error *err)
{
    if (err == NULL) return HYMOD_ERR_SIZE;
    err->status = HYMOD_OK;
    err->index = -1;
    err->value = 0.0;
    err->message[0] = '\0';
    if (n < 1 || precip == NULL || pet == NULL || theta == NULL || out == NULL)
        return fail(err, HYMOD_ERR_SIZE, -1, (double)n,
                    "need n >= 1 days and non-NULL arrays");
    int bad;
    const char *why = check_params(theta, &bad);
    if (why != NULL) return fail(err, HYMOD_ERR_PARAM, bad, theta[bad], why);
    for (int t = 0; t < n; t++) {
        if (!(isfinite(precip[t]) && precip[t] >= 0.0))
            return fail(err, HYMOD_ERR_FORCING, t, precip[t],
                        "precipitation must be finite and >= 0 (mm/day)");
        if (!(isfinite(pet[t]) && pet[t] >= 0.0))
            return fail(err, HYMOD_ERR_FORCING, t, pet[t],
                        "potential ET must be finite and >= 0 (mm/day)");
    }

    const double cmax = theta[0], b1 = theta[1] + 1.0, alpha = theta[2];
    const double ks = theta[3], kq = theta[4];
    const double smax = cmax / b1;
    double s = 0.0, x_slow = 0.0, x_quick[3] = {0.0, 0.0, 0.0};

    for (int t = 0; t < n; t++) {
        /* soil: |.| guards round-off below zero, as SPOTPY does */
        const double c_prev = cmax * (1.0 - pow(fabs(1.0 - s / smax), 1.0 / b1));
        const double er1 = fmax(precip[t] - cmax + c_prev, 0.0);
        const double p = precip[t] - er1;
        const double fill = fmin((c_prev + p) / cmax, 1.0);
        const double s_new = smax * (1.0 - pow(fabs(1.0 - fill), b1));
        const double er2 = fmax(p - (s_new - s), 0.0);
        const double et = fmin(s_new / smax * pet[t], s_new);
        s = s_new - et;

        /* routing */
        const double effective = er1 + er2;
        double u = alpha * effective;
        for (int i = 0; i < 3; i++) {
            const double w = x_quick[i] + u;
            u = kq * w;
            x_quick[i] = (1.0 - kq) * w;
        }
        const double w = x_slow + (1.0 - alpha) * effective;
        const double q_slow = ks * w;
        x_slow = (1.0 - ks) * w;

        double *row = out + (long)t * HYMOD_NOUT;
        row[0] = u + q_slow;
        row[1] = s;
        row[2] = u;
        row[3] = q_slow;
        row[4] = et;
        row[5] = x_slow + x_quick[0] + x_quick[1] + x_quick[2];
    }
    return HYMOD_OK;
}
