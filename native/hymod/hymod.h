/* HYMOD rainfall-runoff model (Boyle 2000), SPOTPY formulation: one call runs the whole
 * daily time loop. Pure: no globals, no I/O, no exit; bad input gives a status code and a
 * message in the error struct. */
#ifndef PDAFRAME_HYMOD_H
#define PDAFRAME_HYMOD_H

#define HYMOD_OK 0
#define HYMOD_ERR_SIZE 1       /* n < 1 or a NULL pointer */
#define HYMOD_ERR_FORCING 2    /* precipitation or PET negative or not finite */
#define HYMOD_ERR_PARAM 3      /* a parameter out of its valid range */

#define HYMOD_NPARAM 5         /* cmax, bexp, alpha, ks, kq */
#define HYMOD_NOUT 6           /* output columns, see hymod_run */
#define HYMOD_MSG_LEN 160

typedef struct {
    int status;                /* HYMOD_OK or an HYMOD_ERR_* code */
    int index;                 /* day (forcing) or parameter index of the error, else -1 */
    double value;              /* the offending value */
    char message[HYMOD_MSG_LEN];
} hymod_error;

/* Run HYMOD over n days.
 *   precip[n], pet[n]  forcing, mm/day (>= 0, finite)
 *   theta[5]           cmax (mm, > 0), bexp (>= 0), alpha ([0, 1]), ks, kq ((0, 1))
 *   out[n * 6]         row-major (day, column): discharge, soil moisture at the end of the
 *                      day, quick flow, slow flow, actual ET (mm/day or mm), and the water
 *                      in the routing reservoirs at the end of the day (mm)
 * Returns err->status. All stores start empty. */
int hymod_run(int n, const double *precip, const double *pet, const double *theta,
              double *out, hymod_error *err);

#endif
